// bagnet-shape-bias: texture vs shape decisions on the cue-conflict stimuli of Geirhos et al.
// (ICLR 2019) for a model (run here) and for any model-vs-human CSVs (human observers, other
// models), with accuracy on the edge and silhouette sets, a JSON/text report and the paper's figure.
#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "apps/cli.h"
#include "apps/evaluation_cli.h"
#include "datasets/eval_dataset.h"
#include "evaluation/evaluate.h"
#include "evaluation/shape_bias_report.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "networks/registry.h"
#include "reports/shape_bias_report.h"

namespace ev = bagnet::evaluation;
namespace fs = std::filesystem;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "Shape bias on cue-conflict stimuli (Geirhos et al., ICLR 2019): run a model and/or analyse\n"
      "model-vs-human CSVs; report (JSON, text) and figure (SVG, PDF, PNG)."};
  bagnet::ModelRequest req;
  req.model = "bagnet33";
  ev::EvalOptions opt;
  opt.tool = "bagnet-shape-bias";
  opt.classify.batch_size = 16;
  opt.classify.no_resize = true;  // the stimuli are 224x224 and are fed as they are
  std::string stimuli, edges, silhouettes, output_dir, mapping_path, format = "text";
  std::vector<std::string> csvs;
  int threads = 0;
  bool quiet = false, no_figure = false, no_extra = false, html = false;
  bagnet::cli::add_model_options(app, req, threads, "Registered model (used with --stimuli)");
  bagnet::cli::add_engine_option(app, req);
  bagnet::cli::add_precision_option(app, req);
  app.add_option("--stimuli", stimuli, "Cue-conflict stimuli: DIR/<shape>/<shape><i>-<texture><j>.png");
  app.add_option("--edges", edges, "Edge stimuli (category folders; default: 'edges' beside --stimuli)");
  app.add_option("--silhouettes", silhouettes,
                 "Filled-silhouette stimuli (default: 'filled-silhouettes' beside --stimuli)");
  app.add_flag("--cue-conflict-only", no_extra, "Skip the edge and silhouette accuracies");
  app.add_option("--from-csv", csvs,
                 "model-vs-human cue-conflict CSVs to analyse (human observers, other models)");
  app.add_option("-o,--output-dir", output_dir, "Output directory")->required();
  ev::add_evaluation_options(app, opt, mapping_path);
  app.add_flag("--no-figure", no_figure, "Do not draw the figure");
  app.add_option("-f,--format", format, "Report on stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--html", html, "Also write OUTPUT_DIR/index.html: figure, decision makers, stimuli");
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  opt.classify.progress = !quiet;
  return bagnet::cli::guarded_main("bagnet-shape-bias", [&]() -> int {
    if (stimuli.empty() && csvs.empty())
      throw bagnet::Error("bagnet-shape-bias",
                          "nothing to analyse: give --stimuli (with --model) and/or --from-csv");
    ev::CategoryMapping storage;
    const ev::CategoryMapping* mapping = &ev::sixteen_class_mapping();
    if (!mapping_path.empty()) mapping = &(storage = ev::load_category_mapping(mapping_path));
    const auto& categories = mapping->categories;
    std::vector<ev::ShapeBiasEntry> observers;
    std::vector<ev::ShapeBiasEntry> entries = ev::entries_from_csv(csvs, categories, observers);
    nlohmann::json runs = nlohmann::json::object();
    std::string device;
    if (!stimuli.empty()) {
      const bagnet::ModelSpec& spec = bagnet::find_model(req.model);
      if (spec.num_classes != mapping->num_classes)
        throw bagnet::Error(mapping->path, "the mapping is for " + std::to_string(mapping->num_classes) +
                                               " classes; " + spec.name + " has " +
                                               std::to_string(spec.num_classes));
      const bagnet::Labels& labels = bagnet::load_labels(spec.labels);
      bagnet::Classifier classifier(req);
      device = classifier.device();
      std::cerr << "bagnet-shape-bias: " << spec.name << " on " << device << ", " << bagnet::runtime_threads()
                << " threads\n";
      auto run = [&](const std::string& dir, const std::string& kind, const std::string& name) {
        bagnet::DatasetOptions d;
        d.kind = kind;
        d.name = name;
        const auto dataset = bagnet::open_eval_dataset(dir, d, labels, categories);
        const std::string run_dir = (fs::path(output_dir) / spec.name / name).string();
        auto out = ev::run_evaluation(classifier, spec.name, dataset, mapping, opt, run_dir);
        if (out.interrupted)
          throw bagnet::cli::ExitWith{ev::report_interrupted("bagnet-shape-bias", out, run_dir)};
        for (const auto& f : out.files) std::cerr << "wrote " << f << "\n";
        runs[name] = out.summary;
        return out;
      };
      auto cue = run(stimuli, "cue-conflict", "cue-conflict");
      ev::ShapeBiasEntry entry = ev::entry_from_run(spec.name, cue.records, categories);
      entry.sources.push_back(stimuli);
      entry.extra["model"] = cue.summary["model"];
      entry.extra["cue_conflict_accuracy"] = cue.summary["accuracy"];
      if (!no_extra) {
        const fs::path parent = fs::path(stimuli).lexically_normal().parent_path();
        for (auto [dir, name, fallback, flag] :
             {std::tuple{edges, "edge", "edges", "--edges"},
              std::tuple{silhouettes, "silhouette", "filled-silhouettes", "--silhouettes"}}) {
          if (dir.empty() && fs::is_directory(parent / fallback)) dir = (parent / fallback).string();
          if (dir.empty()) {
            std::cerr << "bagnet-shape-bias: no " << name << " stimuli (give " << flag
                      << " DIR); skipping its accuracy\n";
            continue;
          }
          entry.extra[std::string(name) + "_accuracy"] =
              run(dir, "category-folders", name).summary["accuracy"];
          entry.sources.push_back(dir);
        }
      }
      entries.push_back(std::move(entry));
    }
    nlohmann::json report = ev::report_json(entries, observers, categories);
    report["mapping"] = {{"name", mapping->name}, {"aggregation", ev::to_string(opt.aggregation)}};
    report["runs"] = runs;
    std::vector<std::string> files;
    if (!no_figure) files = ev::write_shape_bias_figures(output_dir, entries, categories);
    report["figures"] = files;
    report["provenance"] = bagnet::provenance_json("bagnet-shape-bias", device, bagnet::runtime_threads());
    const auto report_path = (fs::path(output_dir) / "shape_bias.json").string();
    bagnet::atomic_write(report_path, report.dump(2) + "\n");
    files.insert(files.begin(), report_path);
    if (html) files.push_back(bagnet::reports::write_shape_bias_report(output_dir).path);
    for (const auto& f : files) std::cerr << "wrote " << f << "\n";
    std::cout << (format == "json" ? report.dump(2) + "\n" : ev::report_text(entries, observers));
    return 0;
  });
}
