// bagnet-heatmap: class-evidence maps of a BagNet for images, directories and globs: raw
// float32 maps (.npy), a JSON sidecar with everything needed to reproduce and read them, and
// PNG renderings in the style of the BagNet paper (Brendel & Bethge, ICLR 2019).
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli.h"
#include "datasets/eval_dataset.h"
#include "heatmaps/run.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/provenance.h"
#include "lib/runtime.h"
#include "reports/heatmap_report.h"

namespace hm = bagnet::heatmaps;

using bagnet::cli::as_usage_error;
using bagnet::cli::UsageError;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Class-evidence maps of a BagNet: per-patch logits as .npy, JSON sidecars and PNG figures."};
  bagnet::ModelRequest request;
  request.model = "bagnet33";
  hm::RunOptions o;
  std::vector<std::string> inputs, class_refs;
  std::string targets_csv, shard;
  int threads = 0;
  bool quiet = false, benchmark = false, html = false;
  int bench_size = 224, bench_iters = 3, bench_patch_rows = 8;
  app.add_option("inputs", inputs, "Image files, directories (recursive) and globs");
  bagnet::cli::add_model_options(app, request, threads, "Registered BagNet");
  app.add_option("--engine", request.engine,
                 "CPU network: auto or onednn (inference/onednn.h: pooled logits and atrous maps), or eager")
      ->check(CLI::IsMember({"auto", "onednn", "eager"}))
      ->capture_default_str();
  bagnet::cli::add_precision_option(app, request);
  app.add_option("-s,--stride", o.map.stride,
                 "Map stride in pixels: 1 = full resolution, 8 = the network's own map")
      ->check(CLI::IsMember({8, 4, 2, 1}))
      ->capture_default_str();
  app.add_option("--method", o.map.method, "dense, or patches (the per-patch reference; slow)")
      ->check(CLI::IsMember({"dense", "patches"}))
      ->capture_default_str();
  app.add_option("--dense-algorithm", o.map.dense_algorithm,
                 "Dense method: phases (phase crops stacked in the batch), atrous (dilated convolutions), or "
                 "auto (atrous on the oneDNN engine on the CPU, else phases)")
      ->check(CLI::IsMember({"auto", "phases", "atrous"}))
      ->capture_default_str();
  app.add_option("--tile", o.map.tile,
                 "Dense method: tile side in map positions, bounds memory (0 = no tiling)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-c,--class", class_refs, "Class: index, WordNet id or name (repeatable)");
  app.add_option("-k,--top", o.top, "Maps for the K top-predicted classes")->check(CLI::Range(0, 100000));
  app.add_flag("--all", o.all, "Maps for all classes in the .npy (PNGs only for --class/--top/--targets)");
  app.add_option("--targets", targets_csv, "CSV of path,label: a map for each image's target class");
  app.add_option("-o,--output-dir", o.output_dir, "Output directory (mirrors the input tree)");
  bagnet::cli::add_image_options(app, o.no_resize, o.max_pixels);
  app.add_flag("--overwrite", o.overwrite,
               "Recompute images whose outputs exist (default: skip them, i.e. resume)");
  app.add_option("--shard", shard,
                 "i/n: process only images k with k/B mod n = i of the sorted list (B = --batch-size)");
  app.add_option("-b,--batch-size", o.batch_size,
                 "Images per forward pass, for many small images: blocks of B consecutive images share "
                 "passes (images of one size, at most 65536 pixels together)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--colormap", o.render.colormap, "RdBu_r, RdBu, bwr, seismic")->capture_default_str();
  app.add_option("--percentile", o.render.percentile, "Colour limits at +-(this percentile of |map|)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_flag("--edges", o.render.edges, "Draw the image's edges over the maps");
  app.add_option("--min-height", o.render.min_height,
                 "Enlarge figures of smaller images by an integer factor to at least this height")
      ->capture_default_str();
  app.add_flag("--panel", o.panel, "Also a figure panel: image | map | second class's map");
  app.add_flag("--caption", o.render.caption,
               "Small print under each figure: model, weights hash, stride, limits");
  app.add_flag(
      "--no-colorbar", [&o](std::int64_t) { o.render.colorbar = false; }, "Figures without the colour bar");
  app.add_flag("--no-png", o.no_png, "Maps and sidecars only");
  app.add_flag("--html", html, "Also write OUTPUT_DIR/index.html: a report of every image's maps there");
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  app.add_flag("--benchmark", benchmark,
               "Time maps against classification on a random image (JSON on stdout)");
  app.add_option("--bench-size", bench_size)->capture_default_str();
  app.add_option("--bench-iters", bench_iters)->capture_default_str();
  app.add_option("--bench-patch-rows", bench_patch_rows, "Rows of positions the per-patch timing runs on")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  return bagnet::cli::guarded_main("bagnet-heatmap", [&]() -> int {
    hm::HeatmapModel model(request);
    if (benchmark) {
      std::cout << model.benchmark(bench_size, bench_iters, bench_patch_rows, o.map.tile).dump() << std::endl;
      return 0;
    }
    if (inputs.empty()) throw UsageError("inputs", "no images given");
    if (o.output_dir.empty()) throw UsageError("--output-dir", "required");
    model.check(o.map);
    as_usage_error([&] { return bagnet::figures::colormap(o.render.colormap); });  // before any work
    for (const auto& ref : class_refs) {
      try {
        o.classes.push_back(model.labels().resolve(ref));
      } catch (const bagnet::Error& e) {
        throw UsageError("--class " + ref, e.reason());
      }
    }
    if (!targets_csv.empty()) {
      o.targets = as_usage_error([&] { return hm::read_targets(targets_csv, model.labels()); });
      o.targets_file = targets_csv;
    }
    if (o.classes.empty() && o.top == 0 && targets_csv.empty() && !o.all) o.top = 1;
    if (!shard.empty())
      std::tie(o.shard_index, o.shard_count) = as_usage_error([&] { return bagnet::parse_shard(shard); });
    o.progress = !quiet;

    const auto counts = hm::run_heatmaps(model, inputs, o);
    if (html && !counts.interrupted)
      std::cerr << "wrote " << bagnet::reports::write_heatmap_report(o.output_dir).path << "\n";
    return bagnet::cli::finish_image_run("bagnet-heatmap", counts);
  });
}
