// bagnet-attribute: attribution maps (gradient, gradient x input, Integrated Gradients,
// SmoothGrad, Grad-CAM, occlusion) of any registered network for images, directories and globs,
// written as bagnet-heatmap writes its maps (.npy, JSON sidecar, PNG); and --benchmark, which
// scores every method on a dataset against a BagNet's exact evidence maps.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli.h"
#include "attribution/benchmark.h"
#include "attribution/run.h"
#include "datasets/eval_dataset.h"
#include "lib/error.h"
#include "lib/interrupt.h"
#include "lib/provenance.h"
#include "lib/runtime.h"

namespace attr = bagnet::attribution;

using bagnet::cli::as_usage_error;
using bagnet::cli::UsageError;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "Attribution maps of any registered network (captum's methods), and their benchmark against a "
      "BagNet's exact evidence maps."};
  bagnet::ModelRequest request;
  request.model = "bagnet33";
  attr::RunOptions o;
  attr::BenchmarkOptions b;
  std::vector<std::string> inputs, class_refs, methods;
  std::string targets_csv, shard, data;
  bagnet::DatasetOptions data_opt;
  int threads = 0, bench_size = 224, bench_iters = 1;
  bool quiet = false, benchmark = false, speed = false, list_layers = false, summary_only = false;
  app.add_option("inputs", inputs, "Image files, directories (recursive) and globs");
  bagnet::cli::add_model_options(app, request, threads, "Registered model");
  app.add_option(
         "--engine", request.engine,
         "Exact maps of --benchmark: auto or onednn (a-trous on the oneDNN engine on the CPU), or eager "
         "(phase crops through the LibTorch modules); the methods' gradients always run eager")
      ->check(CLI::IsMember({"auto", "onednn", "eager"}))
      ->capture_default_str();
  app.add_option(
      "--method", methods,
      "saliency, input_x_gradient, integrated_gradients, smoothgrad, grad_cam, occlusion (repeatable; "
      "default saliency; --benchmark: all)");
  app.add_flag("--channels", o.method.channels,
               "Keep C x H x W (gradient methods) instead of the signed channel sum");
  app.add_option("--steps", o.method.steps, "Integrated Gradients: path points")->capture_default_str();
  app.add_option("--baseline", o.method.baseline, "Integrated Gradients: black or mean (colour)")
      ->capture_default_str();
  app.add_option("--ig-rule", o.method.ig_rule, "Integrated Gradients: gausslegendre or riemann_trapezoid")
      ->capture_default_str();
  app.add_option("--tolerance", o.method.completeness_tolerance,
                 "Integrated Gradients: completeness holds when |sum - (f(x) - f(b))| <= this * max(1, |f(x) "
                 "- f(b)|)")
      ->capture_default_str();
  app.add_option("--samples", o.method.samples, "SmoothGrad: noisy samples")->capture_default_str();
  app.add_option("--noise-sigma", o.method.noise_sigma,
                 "SmoothGrad: noise std as a fraction of the input's range")
      ->capture_default_str();
  app.add_option("--seed", o.method.seed, "SmoothGrad: noise seed")->capture_default_str();
  app.add_option("--layer", o.method.layer,
                 "Grad-CAM: layer (default: the architecture's last stage; --list-layers)");
  app.add_flag("--list-layers", list_layers, "Print the model's Grad-CAM layers and exit");
  app.add_option("--window", o.method.window, "Occlusion: window side in pixels")->capture_default_str();
  app.add_option("--stride", o.method.stride, "Occlusion: window step in pixels")->capture_default_str();
  app.add_option("--occlusion-algorithm", o.method.occlusion_algorithm,
                 "Occlusion: full (re-run the network per window), local (BagNets: re-run only the touched "
                 "patches), auto")
      ->capture_default_str();
  app.add_option("--batch", o.method.batch, "Path points / samples / occluded images per forward pass")
      ->capture_default_str();
  app.add_option("-c,--class", class_refs, "Class: index, WordNet id or name (repeatable)");
  app.add_option("-k,--top", o.top, "Maps for the K top-predicted classes")->check(CLI::Range(0, 100000));
  app.add_option("--targets", targets_csv, "CSV of path,label: a map for each image's target class");
  app.add_option("-o,--output-dir", o.output_dir, "Output directory (mirrors the input tree)");
  bagnet::cli::add_image_options(app, o.no_resize, o.max_pixels);
  app.add_flag("--overwrite", o.overwrite,
               "Recompute images whose outputs exist (default: skip them, i.e. resume)");
  app.add_option("--shard", shard, "i/n: process only images k with k mod n = i of the sorted list");
  app.add_option("--colormap", o.render.colormap, "RdBu_r, RdBu, bwr, seismic")->capture_default_str();
  app.add_option("--percentile", o.render.percentile, "Colour limits at +-(this percentile of |map|)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_option("--min-height", o.render.min_height,
                 "Enlarge figures of smaller images by an integer factor to at least this height")
      ->capture_default_str();
  app.add_flag("--panel", o.panel, "Also a panel: image | each method's map of the first class");
  app.add_flag("--no-png", o.no_png, "Maps and sidecars only");
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  app.add_flag("--benchmark", benchmark, "Score the methods against the exact maps of a BagNet on --data");
  app.add_option("--data", data,
                 "--benchmark: dataset (idx folder, class folders, list file; see bagnet-eval)");
  app.add_option("--data-kind", data_opt.kind,
                 "--benchmark: dataset kind (auto, idx, class-folders, list, ...)")
      ->capture_default_str();
  app.add_option("--split", data_opt.split, "--benchmark, idx datasets: train or test")
      ->capture_default_str();
  app.add_option("--limit", b.limit, "--benchmark: a seeded random subset of this many images (0 = all)");
  app.add_option("--subset-seed", b.subset_seed, "--benchmark: seed of the subset")->capture_default_str();
  app.add_option("--cell", b.cell, "--benchmark: deletion / top-k cell side in pixels")
      ->capture_default_str();
  app.add_option("--top-k", b.top_k, "--benchmark: cells in the top-k overlap (0 = a tenth)")
      ->capture_default_str();
  app.add_option("--curve-points", b.curve_points,
                 "--benchmark: deletion curve points (0 = every cell count)")
      ->capture_default_str();
  app.add_flag("--summary-only", summary_only,
               "--benchmark: only (re)write the summary and figure from the scores in --output-dir");
  app.add_option("--benchmark-target", b.target, "--benchmark: label or predicted")->capture_default_str();
  app.add_flag("--speed", speed, "Time each method on a random image (JSON on stdout)");
  app.add_option("--bench-size", bench_size, "--speed: image side")->capture_default_str();
  app.add_option("--bench-iters", bench_iters, "--speed: timed runs after one warm-up")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  return bagnet::cli::guarded_main("bagnet-attribute", [&]() -> int {
    attr::AttributionModel model(request);
    if (list_layers) {
      for (const auto& l : model.cam_layers())
        std::cout << l << (l == model.default_cam_layer() ? " (default)" : "") << "\n";
      return 0;
    }
    for (const auto& m : methods) as_usage_error([&] { model.check(m, o.method); });
    if (speed) {
      std::cout << model.benchmark(bench_size, bench_iters, methods, o.method).dump() << std::endl;
      return 0;
    }
    if (!shard.empty())
      std::tie(o.shard_index, o.shard_count) = as_usage_error([&] { return bagnet::parse_shard(shard); });
    if (o.output_dir.empty()) throw UsageError("--output-dir", "required");
    if (benchmark && summary_only) {
      std::cout << attr::format_benchmark(attr::summarise_benchmark(o.output_dir));
      std::cerr << "wrote " << o.output_dir << "/summary.json, summary.csv, benchmark.png\n";
      return 0;
    }
    if (benchmark) {
      if (data.empty()) throw UsageError("--data", "required with --benchmark");
      const auto dataset = bagnet::open_eval_dataset(data, data_opt, model.labels(), {});
      b.methods = methods;
      b.method = o.method;
      b.shard_index = o.shard_index;
      b.shard_count = o.shard_count;
      b.overwrite = o.overwrite;
      b.progress = !quiet;
      b.no_resize = o.no_resize;
      b.max_pixels = o.max_pixels;
      const auto counts = attr::run_benchmark(model, dataset, b, o.output_dir);
      if (counts.interrupted) {
        std::cerr << "bagnet-attribute: stopped by " << bagnet::interrupt_name() << ": " << counts.done
                  << " images done and kept, " << counts.left << " left; run the same command to resume\n";
        return bagnet::interrupted_exit_code();
      }
      const auto summary = attr::summarise_benchmark(o.output_dir);
      std::cout << attr::format_benchmark(summary);
      std::cerr << "wrote " << o.output_dir << "/summary.json, summary.csv, benchmark.png\n";
      if (counts.failed) std::cerr << "bagnet-attribute: " << counts.failed << " images failed\n";
      return counts.failed ? 1 : 0;
    }
    if (inputs.empty()) throw UsageError("inputs", "no images given");
    as_usage_error([&] { return bagnet::figures::colormap(o.render.colormap); });
    if (!methods.empty()) o.methods = methods;
    for (const auto& ref : class_refs) {
      try {
        o.classes.push_back(model.labels().resolve(ref));
      } catch (const bagnet::Error& e) {
        throw UsageError("--class " + ref, e.reason());
      }
    }
    if (!targets_csv.empty()) {
      o.targets = as_usage_error([&] { return bagnet::heatmaps::read_targets(targets_csv, model.labels()); });
      o.targets_file = targets_csv;
    }
    if (o.classes.empty() && o.top == 0 && targets_csv.empty()) o.top = 1;
    o.progress = !quiet;
    const auto counts = attr::run_attribution(model, inputs, o);
    return bagnet::cli::finish_image_run("bagnet-attribute", counts);
  });
}
