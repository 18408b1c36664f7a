// bagnet-experiment: the BagNet paper's similarity experiments (Brendel & Bethge, ICLR 2019) for
// any registered models: masking, interactions, scrambling (per image, resumable, shardable),
// errors (from bagnet-eval runs), and merge (of an experiment's shards).
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli.h"
#include "experiments/experiment.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "reports/experiment_report.h"

namespace ex = bagnet::experiments;

namespace {

struct Common {
  std::vector<std::string> models, weights;
  std::string device = "auto", data, output_dir, shard, format = "text", figure;
  int threads = 0;
  bool quiet = false, html = false;
};

void add_output_options(CLI::App* sub, Common& c) {
  sub->add_option("-o,--output-dir", c.output_dir, "Output folder (records, summary.json, figure)")
      ->required();
  sub->add_option("--figure", c.figure,
                  "Figure path: .svg, .pdf or .png (default OUTPUT_DIR/<experiment>.svg)");
  sub->add_option("-f,--format", c.format, "Summary on stdout: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  sub->add_flag("--html", c.html, "Also write OUTPUT_DIR/index.html: the figure and every model's numbers");
  sub->add_option("-t,--threads", c.threads, "Intra-op threads (0 = all cores)")->capture_default_str();
  sub->add_flag("-q,--quiet", c.quiet, "No progress bar");
}

void add_image_experiment(CLI::App* sub, Common& c, ex::ExperimentOptions& o) {
  sub->add_option("-m,--model", c.models, "Registered model to test, repeatable (see bagnet-models)")
      ->required();
  sub->add_option(
      "-w,--weights", c.weights,
      "Weights file of the i-th --model, repeatable in the same order (default: the registry's file)");
  sub->add_option("-d,--device", c.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  sub->add_option("--data", c.data,
                  "Dataset, as bagnet-eval reads it (class folders, list file, idx directory)")
      ->required();
  sub->add_option("--data-kind", o.dataset.kind, "auto, class-folders, list, idx")->capture_default_str();
  sub->add_option("--name", o.dataset.name, "Dataset name in output files");
  sub->add_option("--split", o.dataset.split, "idx datasets: train or test")->capture_default_str();
  sub->add_option("--shard", c.shard, "Run shard i of n (every n-th image from the i-th), e.g. 3/8");
  sub->add_option("-b,--batch-size", o.batch_size, "Variants of one image per forward pass")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sub->add_option("--workers", o.workers, "Image preparation threads (0 = automatic)")->capture_default_str();
  sub->add_option("--seed", o.seed, "Seed of the random choices (per image: seed, dataset position)")
      ->capture_default_str();
  bagnet::cli::add_image_options(*sub, o.no_resize, o.max_pixels);
  sub->add_flag("--overwrite", o.overwrite,
                "Discard earlier records in the output folder instead of resuming");
  add_output_options(sub, c);
}

int finish(const ex::ExperimentOutput& r, const Common& c) {
  if (r.interrupted) {
    std::cerr << "bagnet-experiment: stopped by " << bagnet::interrupt_name() << ": " << r.done << " of "
              << r.images << " images done and kept in " << c.output_dir
              << "; run the same command to resume\n";
    return bagnet::interrupted_exit_code();
  }
  std::cout << (c.format == "json" ? r.summary.dump(2) + "\n" : ex::format_summary(r.summary));
  for (const auto& f : r.files) std::cerr << "wrote " << f << "\n";
  if (c.html) std::cerr << "wrote " << bagnet::reports::write_experiment_report(c.output_dir).path << "\n";
  return r.failed ? 3 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "The BagNet paper's similarity experiments for any registered models (Brendel & Bethge, ICLR 2019).\n"
      "Exit codes: 0 done, 1 error, 3 finished with images that could not be used (listed), 130/143 "
      "stopped."};
  app.require_subcommand(1);
  Common c;
  ex::ExperimentOptions o;
  std::string map_model, map_weights;
  std::vector<std::string> runs, shards;

  auto* mask = app.add_subcommand(
      "mask", "Mask the k most predictive patches of a BagNet's exact map, and random ones");
  add_image_experiment(mask, c, o);
  mask->add_option("--map-model", map_model, "The BagNet whose exact map (true class) picks the patches")
      ->required();
  mask->add_option("--map-weights", map_weights, "Its weights file (default: the registry's file)");
  mask->add_option("-k,--k", o.k, "Masked patches: k = 0..K")->capture_default_str();
  mask->add_option("--patch", o.patch, "Patch side q (default: the map model's receptive field)");

  auto* inter =
      app.add_subcommand("interactions", "Mask pairs of patches: joint change vs sum of single changes");
  add_image_experiment(inter, c, o);
  inter->add_option("--pairs", o.pairs, "Pairs of patches per image")->capture_default_str();
  inter->add_option(
      "--distance", o.distance,
      "Chebyshev distance of the pair's centres in pixels (default 2q - 1: no q x q patch sees both)");
  inter->add_option("--patch", o.patch, "Patch side q (default: the first BagNet's receptive field)");

  auto* scramble = app.add_subcommand("scramble", "Shuffle g x g tiles of each image: accuracy vs g");
  add_image_experiment(scramble, c, o);
  scramble->add_option("-g,--grid", o.grids, "Grid sizes g, repeatable")->capture_default_str();
  scramble->add_option("--patch", o.patch,
                       "Patch side q recorded with the results (default: the first BagNet's)");

  auto* errors =
      app.add_subcommand("errors", "Correlate per-class accuracies of bagnet-eval runs on the same data");
  errors->add_option("runs", runs, "bagnet-eval output folders (or results.jsonl files), two or more")
      ->required();
  add_output_options(errors, c);

  auto* merge = app.add_subcommand("merge", "Combine the shard folders of one experiment run");
  merge->add_option("shards", shards, "Shard output folders")->required();
  add_output_options(merge, c);

  std::string figure_dir, figure_path;
  auto* redraw = app.add_subcommand("figure", "Draw a finished run's figure again (e.g. as .png or .pdf)");
  redraw->add_option("dir", figure_dir, "The run's output folder")->required();
  redraw->add_option("figure", figure_path, "Figure path: .svg, .pdf or .png")->required();

  CLI11_PARSE(app, argc, argv);
  return bagnet::cli::guarded_main("bagnet-experiment", [&]() -> int {
    if (errors->parsed()) return finish(ex::correlate_errors(runs, c.output_dir, c.figure), c);
    if (merge->parsed()) return finish(ex::merge_experiment(shards, c.output_dir, c.figure), c);
    if (redraw->parsed()) {
      std::cerr << "wrote " << ex::redraw_figure(figure_dir, figure_path) << "\n";
      return 0;
    }
    bagnet::init_runtime(c.threads);
    o.experiment = mask->parsed() ? "masking" : inter->parsed() ? "interactions" : "scrambling";
    if (c.weights.size() > c.models.size())
      throw bagnet::Error("--weights", "more weights files than models (one per --model, in order)");
    for (size_t i = 0; i < c.models.size(); ++i)
      o.models.push_back({c.models[i], i < c.weights.size() ? c.weights[i] : "", c.device});
    o.map_model = {map_model, map_weights, c.device};
    if (!c.shard.empty()) std::tie(o.shard_index, o.shard_count) = bagnet::parse_shard(c.shard);
    o.progress = !c.quiet;
    o.figure = c.figure;
    return finish(ex::run_experiment(c.data, o, c.output_dir), c);
  });
}
