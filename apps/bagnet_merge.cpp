// bagnet-merge: combines the output directories of bagnet-eval shards (--shard i/n) into the
// results and summary an unsharded run gives. Refuses shards of different models, weights,
// datasets or options, and incomplete, missing or duplicate shards.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/tool_main.h"
#include "evaluation/evaluate.h"
#include "lib/error.h"
#include "lib/provenance.h"
#include "reports/evaluation_report.h"

namespace ev = bagnet::evaluation;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Merge bagnet-eval shard outputs into one result."};
  std::vector<std::string> shards;
  std::string output_dir, format = "text";
  bool html = false;
  app.add_option("shards", shards, "Shard output directories (each with results.jsonl)")->required();
  app.add_option("-o,--output-dir", output_dir, "Output directory of the merged result")->required();
  app.add_option("-f,--format", format, "Summary on stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--html", html, "Also write OUTPUT_DIR/index.html: the merged run's report");
  CLI11_PARSE(app, argc, argv);
  return bagnet::cli::guarded_main("bagnet-merge", [&]() -> int {
    const auto result = ev::merge_runs(shards, output_dir);
    std::cout << (format == "json" ? result.summary.dump(2) + "\n" : ev::format_summary(result.summary));
    for (const auto& f : result.files) std::cerr << "wrote " << f << "\n";
    if (html) std::cerr << "wrote " << bagnet::reports::write_evaluation_report(output_dir).path << "\n";
    return 0;
  });
}
