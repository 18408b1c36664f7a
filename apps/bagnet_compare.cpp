// bagnet-compare: trial-by-trial agreement of decision makers on the same images: accuracy,
// observed agreement and error consistency (Cohen's kappa), as JSON and as a matrix figure.
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "apps/tool_main.h"
#include "evaluation/compare.h"
#include "figures/plots.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"

namespace ev = bagnet::evaluation;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Compare decision makers trial by trial: accuracy, agreement, error consistency (kappa)."};
  std::vector<std::string> inputs;
  std::string output_dir, format = "text";
  app.add_option("inputs", inputs,
                 "bagnet-eval results (results.jsonl or its directory) and model-vs-human CSVs (one decision "
                 "maker per subj)")
      ->required();
  app.add_option("-o,--output-dir", output_dir,
                 "Write compare.json and error_consistency.{svg,pdf,png} here");
  app.add_option("-f,--format", format, "stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  return bagnet::cli::guarded_main("bagnet-compare", [&]() -> int {
    std::vector<ev::DecisionMaker> makers;
    for (const auto& in : inputs)
      for (auto& m : ev::load_decision_makers(in)) makers.push_back(std::move(m));
    if (makers.size() < 2) throw bagnet::Error(inputs[0], "need at least two decision makers to compare");
    nlohmann::json result = ev::compare(makers);
    result["provenance"] = bagnet::provenance_json("bagnet-compare", "", 0);
    if (!output_dir.empty()) {
      namespace fs = std::filesystem;
      fs::create_directories(output_dir);
      const auto json_path = (fs::path(output_dir) / "compare.json").string();
      bagnet::atomic_write(json_path, result.dump(2) + "\n");
      std::cerr << "wrote " << json_path << "\n";
      for (const char* ext : {".svg", ".pdf", ".png"}) {
        const auto fig = (fs::path(output_dir) / (std::string("error_consistency") + ext)).string();
        bagnet::figures::write_matrix_figure(fig, ev::kappa_matrix(result));
        std::cerr << "wrote " << fig << "\n";
      }
    }
    if (format == "json") {
      std::cout << result.dump(2) << "\n";
      return 0;
    }
    char line[512];
    std::printf("%-28s %8s %9s\n", "decision maker", "trials", "accuracy");
    for (const auto& m : result["decision_makers"]) {
      std::snprintf(line, sizeof line, "%-28s %8zu %9.4f\n", m["name"].get<std::string>().c_str(),
                    m["trials"].get<size_t>(), m["accuracy"].get<double>());
      std::cout << line;
    }
    std::printf("\n%-24s %-24s %7s %9s %9s %8s\n", "a", "b", "trials", "observed", "expected", "kappa");
    for (const auto& p : result["pairs"]) {
      const double k = p["kappa"].is_null() ? NAN : p["kappa"].get<double>();
      std::snprintf(line, sizeof line, "%-24s %-24s %7zu %9.4f %9.4f %8.4f\n",
                    p["name_a"].get<std::string>().c_str(), p["name_b"].get<std::string>().c_str(),
                    p["trials"].get<size_t>(), p["observed_agreement"].get<double>(),
                    p["expected_agreement"].get<double>(), k);
      std::cout << line;
    }
    return 0;
  });
}
