#pragma once
// Command-line options of the tools that run evaluations (bagnet-eval, bagnet-shape-bias),
// so that both spell them alike (CLI11).
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "evaluation/evaluate.h"
#include "lib/interrupt.h"

namespace bagnet::evaluation {

// --mapping, --aggregation, --batch-size, --overwrite.
inline void add_evaluation_options(CLI::App& app, EvalOptions& opt, std::string& mapping_path) {
  app.add_option("--mapping", mapping_path,
                 "Category mapping JSON (default for ImageNet models: configs/sixteen_class.json)");
  app.add_option_function<std::string>(
         "--aggregation", [&opt](const std::string& name) { opt.aggregation = parse_aggregation(name); },
         "Category score from class probabilities: mean, sum or max")
      ->check(CLI::IsMember({"mean", "sum", "max"}))
      ->default_str(to_string(opt.aggregation));
  app.add_option("-b,--batch-size", opt.classify.batch_size, "Images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_flag("--overwrite", opt.overwrite,
               "Discard earlier results in the output directory instead of resuming");
}

// A run stopped by SIGINT/SIGTERM: says what was kept, returns the exit code (130/143).
inline int report_interrupted(const std::string& tool, const RunOutput& out, const std::string& dir) {
  std::cerr << tool << ": stopped by " << interrupt_name() << ": " << out.records.size() << " of "
            << out.images << " images done and kept in " << dir << "; run the same command to resume\n";
  return interrupted_exit_code();
}

}  // namespace bagnet::evaluation
