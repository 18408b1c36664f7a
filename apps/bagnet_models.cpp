// bagnet-models: the registered models and whether their weights are found.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "apps/tool_main.h"
#include "lib/error.h"
#include "networks/registry.h"

int main(int argc, char** argv) {
  CLI::App app{"List the registered models and where their weights are (or where to get them)."};
  bool json = false;
  app.add_flag("--json", json, "Machine-readable output");
  CLI11_PARSE(app, argc, argv);
  return bagnet::cli::guarded_main("bagnet-models", [&]() -> int {
    const auto& specs = bagnet::model_registry();
    if (json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& s : specs) {
        nlohmann::json row = s.raw;
        row["weights_found"] = bagnet::find_weights(s);
        out.push_back(row);
      }
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    std::printf("%-52s %-9s %5s %8s  %s\n", "model", "arch", "patch", "classes", "weights");
    for (const auto& s : specs) {
      const std::string found = bagnet::find_weights(s);
      std::printf("%-52s %-9s %5s %8d  %s\n", s.name.c_str(), s.architecture.c_str(),
                  s.patch_size ? std::to_string(s.patch_size).c_str() : "-", s.num_classes,
                  found.empty() ? ("missing: " + s.weights_file).c_str() : found.c_str());
    }
    std::cout << "\nWeights are looked up in $BAGNET_WEIGHTS, then ~/.cache/bagnet; download URLs: "
                 "bagnet-models --json\n";
    return 0;
  });
}
