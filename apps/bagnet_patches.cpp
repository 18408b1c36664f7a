// bagnet-patches: across a dataset, the patches with the highest logits for a class, tiled into
// one image, with a JSON list of (image, position, logit).
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/cli.h"
#include "datasets/loader.h"
#include "heatmaps/render.h"
#include "heatmaps/top_patches.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/runtime.h"

namespace hm = bagnet::heatmaps;

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{
      "The most informative patches of a class across images (highest patch logits), as a grid and JSON."};
  std::vector<std::string> inputs;
  bagnet::ModelRequest req;
  req.model = "bagnet33";
  std::string class_ref, output_dir;
  hm::TopPatchOptions opt;
  opt.map.stride = 8;
  bool no_resize = false, quiet = false;
  long long max_pixels = bagnet::kDefaultMaxPixels;
  int threads = 0;
  app.add_option("inputs", inputs, "Image files, directories (recursive) and globs")->required();
  bagnet::cli::add_model_options(app, req, threads, "Registered BagNet");
  app.add_option("-c,--class", class_ref, "Class: index, WordNet id or name")->required();
  app.add_option("-n,--top", opt.count, "Number of patches")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--per-image", opt.per_image, "At most this many patches from one image")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("-s,--stride", opt.map.stride, "Patch positions every s pixels (8: the network's own grid)")
      ->check(CLI::IsMember({8, 4, 2, 1}))
      ->capture_default_str();
  app.add_option("-o,--output-dir", output_dir, "Writes patches_<class>.png and patches_<class>.json here")
      ->required();
  bagnet::cli::add_image_options(app, no_resize, max_pixels);
  app.add_flag("-q,--quiet", quiet, "No progress bar");
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(threads);
  return bagnet::cli::guarded_main("bagnet-patches", [&]() -> int {
    hm::HeatmapModel model(req);
    int class_index;
    try {
      class_index = model.labels().resolve(class_ref);
    } catch (const bagnet::Error& e) {
      std::cerr << "bagnet-patches: " << e.what() << "\n";
      return 2;
    }
    model.check(opt.map);
    const auto list = bagnet::expand_inputs(inputs);
    nlohmann::json failures = nlohmann::json::array();
    for (const auto& [in, why] : list.failures) {
      std::cerr << in << ": " << why << "\n";
      failures.push_back({{"path", in}, {"error", why}});
    }
    const bagnet::Preprocessing prep = model.preprocessing(no_resize);
    hm::TopPatchCollector collector(class_index, model.patch_size(), prep, opt);
    bagnet::ImageLoader loader(list.files, prep, max_pixels, 2);
    bagnet::Progress progress("patches", list.files.size(), !quiet);
    bagnet::LoadedImage item;
    while (loader.next(item)) {
      progress.advance();
      if (!item.error.empty()) {
        std::cerr << item.path << ": " << item.error << "\n";
        failures.push_back({{"path", item.path}, {"error", item.error}});
        continue;
      }
      collector.add(item.path, item.chw, item.height, item.width,
                    model.maps(item.chw, item.height, item.width, {class_index}, opt.map));
    }
    progress.finish();

    const auto patches = collector.result();
    const std::string stem = output_dir + "/patches_" + std::to_string(class_index);
    nlohmann::json doc = {
        {"provenance", bagnet::provenance_json("bagnet-patches", model.device(), bagnet::runtime_threads())},
        {"model", model.model_json(no_resize)},
        {"class",
         {{"index", class_index},
          {"name", model.labels().name(class_index)},
          {"wnid", model.labels().wnid(class_index)}}},
        {"stride", opt.map.stride},
        {"method", opt.map.method},
        {"per_image", opt.per_image},
        {"images", list.files.size()},
        {"grid", "row-major in rank order, " + std::to_string(model.patch_size()) +
                     " px patches centred on (y, x) of the preprocessed image"},
        {"patches", nlohmann::json::array()},
        {"failures", failures}};
    for (size_t k = 0; k < patches.size(); ++k)
      doc["patches"].push_back({{"rank", k + 1},
                                {"image", patches[k].image},
                                {"y", patches[k].y},
                                {"x", patches[k].x},
                                {"map_index", {patches[k].row, patches[k].col}},
                                {"logit", patches[k].logit}});
    if (!patches.empty()) {
      const auto& labels = model.labels();
      const std::string wnid = labels.wnid(class_index);
      const std::string title = "Most predictive patches of " + labels.name(class_index) +
                                (wnid.empty() ? "" : " (" + wnid + ")") + ", " + req.model;
      bagnet::atomic_write(stem + ".png", hm::patch_grid_figure(patches, title, ""));
    }
    bagnet::atomic_write(stem + ".json", doc.dump(2) + "\n");
    std::cerr << "bagnet-patches: " << patches.size() << " patches from " << list.files.size()
              << " images -> " << stem << ".{png,json}\n";
    return failures.empty() ? 0 : 1;
  });
}
