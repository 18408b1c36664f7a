// bagnet-bench: times forward passes of a registered network (benchmark, not a test).
// Prints one JSON object per configuration on stdout; scripts/bench_forward.py compares the
// figures with PyTorch on the same weights.
//
// --mode dense times stride-s class-evidence maps (heatmaps/dense.h) of BagNets.
// --parity-device D runs the same network (same weights: loaded, or seeded random ones copied
// from the CPU network) on the CPU and on D, and prints the largest differences of the outputs
// instead of timings (scripts/gpu_check.sh: CPU vs CUDA, TF32 off).
#include <ATen/Context.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>

#include "apps/tool_main.h"
#include "heatmaps/dense.h"
#include "inference/onednn.h"
#include "inference/torchscript.h"
#include "lib/error.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "networks/bagnet.h"
#include "networks/model.h"

namespace {

struct Options {
  std::string model = "bagnet33", weights, device = "cpu", mode = "pooled", parity_device;
  std::vector<int> batches{1, 8};
  int size = 224, iters = 10, warmup = 2, threads = 0, classes = 1, seed = 0;
  bool contiguous = false, default_malloc = false, no_fold = false;
  // eager, torchscript (pooled mode; inference/torchscript.h) or onednn (pooled and dense atrous;
  // inference/onednn.h)
  std::string engine = "eager";
  std::string precision = "fp32";  // onednn engine: fp32 or bf16
  double tolerance = 1e-4;
  bagnet::heatmaps::DenseOptions dense;
};

// The network on `dev`: loaded from --weights, or a copy of `init` (an unfolded network built
// once on the CPU with a fixed seed, so that every device runs the same weights), or a fresh
// random initialisation.
std::shared_ptr<bagnet::NetworkImpl> make_network(const bagnet::ModelSpec& spec, const Options& o,
                                                  c10::Device dev,
                                                  const std::shared_ptr<bagnet::NetworkImpl>& init) {
  std::shared_ptr<bagnet::NetworkImpl> net;
  if (!o.weights.empty()) {
    net = bagnet::load_model(spec, o.weights, dev, !o.no_fold).net;
  } else {
    net = init ? bagnet::copy_network(spec, *init) : bagnet::build_network(spec);
    net->eval();
    net->to(dev);
    if (!o.no_fold) net->fold_batchnorm();
  }
  net->eval();
  net->set_channels_last(!o.contiguous);
  return net;
}

torch::Tensor run(bagnet::NetworkImpl& net, const torch::Tensor& x, const Options& o,
                  bagnet::TorchScriptForward* torchscript = nullptr,
                  bagnet::OneDnnForward* onednn = nullptr) {
  if (o.mode == "map") return net.logit_map(x);
  if (o.mode == "dense") {
    auto* bagnet = dynamic_cast<bagnet::BagNetImpl*>(&net);
    if (!bagnet) throw bagnet::Error("--mode dense", "needs a BagNet (patch logits), not " + o.model);
    auto dense = o.dense;
    dense.engine = onednn;
    return bagnet::heatmaps::dense_logit_maps(*bagnet, x, dense, torch::arange(o.classes));
  }
  if (onednn) return onednn->forward(x);
  return torchscript ? torchscript->forward(x) : net.forward(x);
}

nlohmann::json row_base(const Options& o, int batch, const c10::Device& dev) {
  nlohmann::json row = {{"model", o.model},
                        {"batch", batch},
                        {"size", o.size},
                        {"mode", o.mode},
                        {"threads", bagnet::runtime_threads()},
                        {"device", dev.str()},
                        {"channels_last", !o.contiguous},
                        {"batchnorm_folded", !o.no_fold},
                        {"engine", o.engine},
                        {"precision", o.precision}};
  if (o.mode == "dense") {
    row["stride"] = o.dense.stride;
    row["classes"] = o.classes;
    row["dense_algorithm"] = o.dense.algorithm;
    row["tile"] = o.dense.tile;
  }
  return row;
}

// CPU against o.parity_device on the same weights and inputs; returns the exit code.
int parity(const bagnet::ModelSpec& spec, const Options& o) {
  const auto cpu = c10::Device(c10::kCPU), dev = bagnet::resolve_device(o.parity_device);
  // Random weights: one unfolded initialisation, copied into both networks before each folds.
  std::shared_ptr<bagnet::NetworkImpl> init;
  if (o.weights.empty()) {
    torch::manual_seed(o.seed);
    init = bagnet::build_network(spec);
  }
  auto ref = make_network(spec, o, cpu, init);
  auto other = make_network(spec, o, dev, init);
  torch::NoGradGuard ng;
  bool ok = true;
  for (int b : o.batches) {
    torch::manual_seed(o.seed + b);
    const auto x = torch::randn({b, spec.in_channels, o.size, o.size});
    const auto a = run(*ref, x, o).to(torch::kDouble);
    const auto y = run(*other, x.to(dev), o).cpu().to(torch::kDouble);
    const double max_abs = (a - y).abs().max().item<double>(), scale = a.abs().max().item<double>();
    // Of the largest |output|, as tests/test_networks.cpp's kParityTolerance.
    const double rel = max_abs / std::max(scale, 1e-30);
    const bool within = rel <= o.tolerance && std::isfinite(rel);
    ok = ok && within;
    auto row = row_base(o, b, dev);
    row.update({{"parity", true},
                {"reference_device", "cpu"},
                {"shape", a.sizes().vec()},
                {"max_abs_diff", max_abs},
                {"reference_max_abs", scale},
                {"max_rel_diff", rel},
                {"tolerance", o.tolerance},
                {"within_tolerance", within},
                {"tf32_cublas", at::globalContext().allowTF32CuBLAS()},
                {"tf32_cudnn", at::globalContext().allowTF32CuDNN()},
                {"weights", o.weights.empty() ? "random (seed " + std::to_string(o.seed) + ")" : o.weights}});
    std::cout << row.dump() << std::endl;
    if (!within)
      std::cerr << "bagnet-bench: " << o.model << " " << o.mode << " batch " << b << ": " << dev.str()
                << " differs from the CPU by " << rel << " of the largest |output| (tolerance " << o.tolerance
                << ")\n";
  }
  return ok ? 0 : 2;
}

int timing(const bagnet::ModelSpec& spec, const Options& o) {
  const auto dev = bagnet::resolve_device(o.device);
  torch::manual_seed(o.seed);
  auto net = make_network(spec, o, dev, nullptr);
  std::unique_ptr<bagnet::TorchScriptForward> torchscript;
  if (o.engine == "torchscript") {
    if (o.mode != "pooled" || !dev.is_cpu())
      throw bagnet::Error("--engine torchscript", "times the pooled CPU forward pass only");
    torchscript = std::make_unique<bagnet::TorchScriptForward>(net);
  }
  std::unique_ptr<bagnet::OneDnnForward> onednn;
  if (o.precision != "fp32" && o.engine != "onednn")
    throw bagnet::Error("--precision " + o.precision, "times the oneDNN engine only (--engine onednn)");
  if (o.engine == "onednn") {
    if (o.mode == "map" || (o.mode == "dense" && o.dense.algorithm != "atrous") || !dev.is_cpu())
      throw bagnet::Error("--engine onednn", "times the pooled CPU forward pass and dense atrous maps only");
    onednn = std::make_unique<bagnet::OneDnnForward>(net, bagnet::parse_precision(o.precision));
  }
  torch::NoGradGuard ng;
  for (int b : o.batches) {
    auto x = torch::randn({b, spec.in_channels, o.size, o.size}).to(dev);
    std::vector<double> ms;
    // Never time the compilation (TorchScript) or planning (oneDNN) of a shape.
    const int warmup = torchscript || onednn ? std::max(1, o.warmup) : o.warmup;
    for (int i = 0; i < warmup + o.iters; ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      auto y = run(*net, x, o, torchscript.get(), onednn.get());  // a shape's first call compiles
      if (dev.is_cuda()) y = y.cpu();
      const auto t1 = std::chrono::steady_clock::now();
      if (i >= warmup) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    auto row = row_base(o, b, dev);
    row.update({{"ms_median", ms[ms.size() / 2]},
                {"ms_min", ms.front()},
                {"images_per_s", b * 1000.0 / ms[ms.size() / 2]},
                {"default_malloc", o.default_malloc}});
    if (o.mode == "dense") {
      auto& bagnet = dynamic_cast<bagnet::BagNetImpl&>(*net);
      const double macs =
          o.dense.algorithm == "atrous"
              ? bagnet::heatmaps::atrous_macs(bagnet, b, o.size, o.size, o.dense.stride, o.classes)
              : bagnet::heatmaps::dense_macs(bagnet, b, o.size, o.size, o.dense, o.classes);
      row["macs"] = macs;
      row["gmac_per_s"] = macs / ms[ms.size() / 2] / 1e6;
    }
    std::cout << row.dump() << std::endl;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "Time forward passes (median of --iters after --warmup), or compare devices (--parity-device)."};
  Options o;
  app.add_option("-m,--model", o.model)->capture_default_str();
  app.add_option("-w,--weights", o.weights, "Weights file (default: random initialisation)");
  app.add_option("-b,--batch", o.batches, "Batch sizes")->capture_default_str();
  app.add_option("-s,--size", o.size, "Input height and width")->capture_default_str();
  app.add_option("--iters", o.iters)->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup)->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", o.threads, "0 = all cores")->capture_default_str();
  app.add_option("-d,--device", o.device)->capture_default_str();
  app.add_option("--mode", o.mode, "pooled logits, the logit map, or dense stride-s maps (BagNets)")
      ->capture_default_str()
      ->check(CLI::IsMember({"pooled", "map", "dense"}));
  app.add_option("--stride", o.dense.stride, "--mode dense: map stride")->capture_default_str();
  app.add_option("--dense-algorithm", o.dense.algorithm, "--mode dense: phases or atrous")
      ->capture_default_str()
      ->check(CLI::IsMember({"phases", "atrous"}));
  app.add_option("--tile", o.dense.tile, "--mode dense: tile side in map positions (0 = one tile)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--classes", o.classes, "--mode dense: maps for classes 0..K-1")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  app.add_option(
      "--parity-device", o.parity_device,
      "Compare the outputs on this device with the CPU's (same weights and inputs) instead of timing");
  app.add_option("--tolerance", o.tolerance,
                 "--parity-device: largest difference allowed, of the largest |output|")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "Random weights and inputs")->capture_default_str();
  app.add_option("--engine", o.engine,
                 "eager, torchscript (pooled: traced, frozen, optimised) or onednn (pooled, dense atrous: "
                 "inference/onednn.h)")
      ->capture_default_str()
      ->check(CLI::IsMember({"eager", "torchscript", "onednn"}));
  app.add_option("--precision", o.precision, "--engine onednn: fp32, or bf16 (inference/onednn.h)")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "bf16"}));
  app.add_flag("--contiguous", o.contiguous, "NCHW memory format (the tools use NHWC, channels-last)");
  app.add_flag("--no-fold", o.no_fold, "Keep BatchNorm separate (the tools fold it into the convolutions)");
  app.add_flag("--default-malloc", o.default_malloc,
               "Keep glibc's default mmap threshold (to measure its cost)");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(o.threads, /*tune_malloc=*/!o.default_malloc);
  return bagnet::cli::guarded_main("bagnet-bench", [&]() -> int {
    const auto& spec = bagnet::find_model(o.model);
    return o.parity_device.empty() ? timing(spec, o) : parity(spec, o);
  });
}
