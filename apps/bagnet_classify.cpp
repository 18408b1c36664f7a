// bagnet-classify: top-k ImageNet (or other registered label space) predictions for images.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "apps/cli.h"
#include "inference/classify.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"
#include "lib/runtime.h"

namespace {

nlohmann::json result_json(const bagnet::ImageResult& r) {
  nlohmann::json j = {{"path", r.path}};
  if (!r.ok()) {
    j["error"] = r.error;
    return j;
  }
  if (!r.conversion.empty()) j["conversion"] = r.conversion;
  j["input_size"] = {r.height, r.width};
  auto& top = j["top"] = nlohmann::json::array();
  for (const auto& p : r.top)
    top.push_back({{"index", p.index},
                   {"name", p.name},
                   {"wnid", p.wnid},
                   {"probability", p.probability},
                   {"logit", p.logit}});
  return j;
}

std::string result_text(const bagnet::ImageResult& r) {
  std::ostringstream out;
  if (!r.ok()) {
    out << r.path << ": ERROR " << r.error << "\n";
    return out.str();
  }
  out << r.path << "\n";
  char line[512];
  for (size_t k = 0; k < r.top.size(); ++k) {
    const auto& p = r.top[k];
    std::snprintf(line, sizeof line, "  %zu. %7.4f  %s%s%s (%d)\n", k + 1, p.probability, p.name.c_str(),
                  p.wnid.empty() ? "" : "  ", p.wnid.c_str(), p.index);
    out << line;
  }
  return out.str();
}

}  // namespace

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Classify images with a BagNet or ResNet-50 (top-k classes with probabilities)."};
  std::vector<std::string> inputs;
  bagnet::ModelRequest req;
  req.model = "bagnet33";
  bagnet::ClassifyOptions opt;
  std::string format = "text", output;
  int threads = 0;
  bool quiet = false;
  app.add_option("inputs", inputs, "Image files, directories (recursive) and globs")->required();
  bagnet::cli::add_model_options(app, req, threads, "Registered model");
  bagnet::cli::add_engine_option(app, req);
  bagnet::cli::add_precision_option(app, req);
  app.add_option("-k,--topk", opt.topk, "Number of classes per image")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  app.add_option("-b,--batch-size", opt.batch_size, "Images per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  app.add_option("-f,--format", format, "Output format")
      ->check(CLI::IsMember({"text", "json", "jsonl"}))
      ->capture_default_str();
  app.add_option("-o,--output", output, "Write results to this file (atomically) instead of stdout");
  bagnet::cli::add_image_options(app, opt.no_resize, opt.max_pixels);
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  opt.progress = !quiet;
  return bagnet::cli::guarded_main("bagnet-classify", [&]() -> int {
    const auto list = bagnet::expand_inputs(inputs);
    for (const auto& [in, why] : list.failures) std::cerr << in << ": " << why << "\n";
    bagnet::Classifier classifier(req);
    std::cerr << "bagnet-classify: " << req.model << " on " << classifier.device() << ", "
              << bagnet::runtime_threads() << " threads, " << list.files.size() << " images\n";

    // Text and JSONL stream as results arrive when writing to stdout; JSON is one document.
    const bool stream = output.empty() && format != "json";
    std::string body;
    auto emit = [&](const std::string& s) {
      if (stream) {
        std::cout << s << std::flush;
      } else {
        body += s;
      }
    };
    if (format == "jsonl") {
      nlohmann::json header = {{"provenance", bagnet::provenance_json("bagnet-classify", classifier.device(),
                                                                      bagnet::runtime_threads())},
                               {"model", classifier.model_json(opt.no_resize)}};
      emit(header.dump() + "\n");
    }
    auto results = classifier.classify(list.files, opt, [&](const bagnet::ImageResult& r) {
      if (!r.ok()) std::cerr << r.path << ": " << r.error << "\n";
      if (format == "text") emit(result_text(r));
      if (format == "jsonl") emit(result_json(r).dump() + "\n");
    });

    size_t failed = list.failures.size();
    for (const auto& r : results) failed += r.ok() ? 0 : 1;
    if (format == "json") {
      nlohmann::json doc = {{"provenance", bagnet::provenance_json("bagnet-classify", classifier.device(),
                                                                   bagnet::runtime_threads())},
                            {"model", classifier.model_json(opt.no_resize)},
                            {"results", nlohmann::json::array()},
                            {"failures", nlohmann::json::array()}};
      for (const auto& r : results) {
        doc["results"].push_back(result_json(r));
        if (!r.ok()) doc["failures"].push_back({{"path", r.path}, {"error", r.error}});
      }
      for (const auto& [in, why] : list.failures) doc["failures"].push_back({{"path", in}, {"error", why}});
      emit(doc.dump(2) + "\n");
    }
    if (!output.empty()) {
      bagnet::atomic_write(output, body);
    } else if (!stream) {
      std::cout << body << std::flush;
    }
    if (failed)
      std::cerr << "bagnet-classify: " << failed << " of " << results.size() + list.failures.size()
                << " inputs failed\n";
    return failed ? 1 : 0;
  });
}
