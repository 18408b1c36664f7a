#pragma once
// Command-line options shared by the tools (CLI11), so that every tool spells them alike.
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "apps/tool_main.h"
#include "inference/classify.h"
#include "lib/error.h"
#include "lib/interrupt.h"

namespace bagnet::cli {

// --model, --weights, --device, --threads.
inline void add_model_options(CLI::App& app, ModelRequest& request, int& threads, const std::string& what) {
  app.add_option("-m,--model", request.model, what + " (see bagnet-models)")->capture_default_str();
  app.add_option("-w,--weights", request.weights,
                 "Weights file (default: the registry's file in $BAGNET_WEIGHTS or ~/.cache/bagnet)");
  app.add_option("-d,--device", request.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  app.add_option("-t,--threads", threads, "Intra-op threads (0 = all cores)")->capture_default_str();
}

// --engine (bagnet-classify, bagnet-eval, bagnet-shape-bias).
inline void add_engine_option(CLI::App& app, ModelRequest& request) {
  app.add_option("--engine", request.engine,
                 "CPU forward pass: auto (onednn for BagNets and ResNets, else eager), onednn, eager or "
                 "torchscript (see README Speed)")
      ->capture_default_str();
}

// --precision (the tools that take --engine).
inline void add_precision_option(CLI::App& app, ModelRequest& request) {
  app.add_option("--precision", request.precision,
                 "fp32, or bf16 on the oneDNN engine: faster where the CPU has AMX, not exact (logits "
                 "and maps off by up to ~1% of their scale; README Speed)")
      ->check(CLI::IsMember({"fp32", "bf16"}))
      ->capture_default_str();
}

// --no-resize, --max-pixels.
inline void add_image_options(CLI::App& app, bool& no_resize, long long& max_pixels) {
  app.add_flag("--no-resize", no_resize,
               "Feed images at their own size: no resize, no crop (e.g. 224x224 stimuli)");
  app.add_option("--max-pixels", max_pixels,
                 "Refuse images with more pixels than this (decompression-bomb guard)")
      ->capture_default_str();
}

// The end of a per-image run (bagnet-heatmap, bagnet-attribute): on SIGINT/SIGTERM what was kept
// and exit code 130/143; else the number of failed inputs and exit code 1, or 0.
template <class Counts>
int finish_image_run(const std::string& tool, const Counts& counts) {
  if (counts.interrupted) {
    std::cerr << tool << ": stopped by " << interrupt_name() << ": " << counts.done
              << " images done and kept, " << counts.left << " left; run the same command to resume\n";
    return interrupted_exit_code();
  }
  if (counts.failed) std::cerr << tool << ": " << counts.failed << " inputs failed\n";
  return counts.failed ? 1 : 0;
}

}  // namespace bagnet::cli
