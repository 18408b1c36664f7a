// bagnet-eval: accuracy of a model on a dataset (ImageNet-style WordNet-id folders, 16-class
// category folders, cue-conflict stimuli, path,label lists, (Fashion-)MNIST idx files), with
// per-image results, sharding across machines and resumable runs.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli.h"
#include "apps/evaluation_cli.h"
#include "datasets/eval_dataset.h"
#include "evaluation/evaluate.h"
#include "lib/error.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "networks/registry.h"
#include "reports/evaluation_report.h"

namespace ev = bagnet::evaluation;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "Evaluate a model on a dataset: top-1/top-5 or 16-class accuracy, per class, per image.\n"
      "Exit codes: 0 all images evaluated, 1 error, 3 finished with unreadable images excluded."};
  bagnet::ModelRequest req;
  req.model = "bagnet33";
  bagnet::DatasetOptions data_opt;
  ev::EvalOptions opt;
  opt.classify.batch_size = 16;
  std::string data, output_dir, mapping_path, shard, format = "text";
  int threads = 0;
  bool quiet = false, force_resize = false, html = false;
  bagnet::cli::add_model_options(app, req, threads, "Registered model");
  bagnet::cli::add_engine_option(app, req);
  bagnet::cli::add_precision_option(app, req);
  app.add_option("--data", data,
                 "Dataset: a folder of class folders (WordNet ids, class names) or of category folders "
                 "(16-class sets, cue-conflict stimuli), a path,label list file, or an idx directory")
      ->required();
  app.add_option("--data-kind", data_opt.kind,
                 "auto, class-folders, category-folders, cue-conflict, list, idx")
      ->capture_default_str();
  app.add_option("--name", data_opt.name,
                 "Dataset name in output files (default: from the folder; edges -> edge)");
  app.add_option("--split", data_opt.split, "idx datasets: train or test")->capture_default_str();
  app.add_option("-o,--output-dir", output_dir, "Output directory (results.jsonl, summary.json, CSV)")
      ->required();
  ev::add_evaluation_options(app, opt, mapping_path);
  app.add_option("-k,--topk", opt.topk, "k of the top-k accuracy")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  app.add_option("--workers", opt.classify.workers, "Image decoding threads (0 = automatic)")
      ->capture_default_str();
  app.add_option("--shard", shard, "Evaluate shard i of n (every n-th image from the i-th), e.g. 3/8");
  bagnet::cli::add_image_options(app, opt.classify.no_resize, opt.classify.max_pixels);
  app.add_flag("--resize", force_resize,
               "Resize and crop category-labelled stimuli too (by default they are fed as they are)")
      ->excludes("--no-resize");
  app.add_option("-f,--format", format, "Summary on stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_flag("--html", html, "Also write OUTPUT_DIR/index.html: accuracies, errors, misclassified images");
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  opt.classify.progress = !quiet;
  return bagnet::cli::guarded_main("bagnet-eval", [&]() -> int {
    if (!shard.empty()) std::tie(opt.shard_index, opt.shard_count) = bagnet::parse_shard(shard);
    const bagnet::ModelSpec& spec = bagnet::find_model(req.model);
    ev::CategoryMapping storage;
    const ev::CategoryMapping* mapping =
        ev::mapping_for(spec.labels, spec.num_classes, mapping_path, storage);
    const auto dataset =
        bagnet::open_eval_dataset(data, data_opt, bagnet::load_labels(spec.labels),
                                  mapping ? mapping->categories : std::vector<std::string>{});
    // 16-class stimulus sets (edge, silhouette, cue-conflict, ...) are 224x224 and are fed as
    // they are, like in Geirhos et al.; resizing them changes the numbers.
    if (dataset.categorical && !force_resize) opt.classify.no_resize = true;
    bagnet::Classifier classifier(req);
    std::cerr << "bagnet-eval: " << spec.name << " on " << classifier.device() << ", "
              << bagnet::runtime_threads() << " threads; " << dataset.name << ": "
              << bagnet::to_string(dataset.kind) << ", " << dataset.items.size() << " images, "
              << dataset.classes.size() << " classes\n";
    const auto result = ev::run_evaluation(classifier, spec.name, dataset, mapping, opt, output_dir);
    if (result.interrupted) return ev::report_interrupted("bagnet-eval", result, output_dir);
    std::cout << (format == "json" ? result.summary.dump(2) + "\n" : ev::format_summary(result.summary));
    for (const auto& f : result.files) std::cerr << "wrote " << f << "\n";
    if (html) std::cerr << "wrote " << bagnet::reports::write_evaluation_report(output_dir).path << "\n";
    return result.failed ? 3 : 0;
  });
}
