// bagnet-heatmap: class-evidence maps of a BagNet for images, directories and globs: raw
// float32 maps (.npy), a JSON sidecar with everything needed to reproduce and read them, and
// PNG renderings in the style of the BagNet paper (Brendel & Bethge, ICLR 2019).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include "datasets/eval_dataset.h"
#include "datasets/loader.h"
#include "heatmaps/heatmap.h"
#include "heatmaps/npy.h"
#include "heatmaps/render.h"
#include "lib/cli.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/runtime.h"

namespace fs = std::filesystem;
namespace hm = bagnet::heatmaps;

namespace {

struct Options {
  std::vector<std::string> inputs, class_refs;
  bagnet::ModelRequest request;
  hm::MapOptions map;
  hm::RenderOptions render;
  int top = 0, threads = 0;
  bool all = false, no_resize = false, overwrite = false, panel = false, no_png = false, quiet = false;
  long long max_pixels = bagnet::kDefaultMaxPixels;
  std::string targets_csv, output_dir, shard;
};

// A usage error: reported as "bagnet-heatmap: what: why", exit code 2.
struct UsageError : bagnet::Error {
  using bagnet::Error::Error;
};

// --shard i/n (0 <= i < n): image k of the sorted list belongs to shard k mod n, as in bagnet-eval.
std::pair<size_t, size_t> parse_shard(const std::string& s) {
  try {
    return bagnet::parse_shard(s);
  } catch (const bagnet::Error& e) {
    throw UsageError(e.path(), e.reason());
  }
}

// The targets CSV: "path,label" per line (a header line is allowed), label = index, WordNet id
// or name. Keys are matched against the image path as given, relative to the input root, or
// the file name.
std::map<std::string, int> read_targets(const std::string& path, const bagnet::Labels& labels) {
  std::ifstream in(path);
  if (!in) throw UsageError(path, "cannot open the targets CSV");
  std::map<std::string, int> out;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    const auto comma = line.rfind(',');
    if (comma == std::string::npos)
      throw UsageError(path + ":" + std::to_string(lineno), "expected path,label");
    const std::string key = line.substr(0, comma), label = line.substr(comma + 1);
    try {
      out[key] = labels.resolve(label);
    } catch (const bagnet::Error& e) {
      if (lineno == 1) continue;  // a header line ("path,label")
      throw UsageError(path + ":" + std::to_string(lineno), e.what());
    }
  }
  return out;
}

// Deepest directory containing every file: outputs mirror the tree below it.
fs::path common_root(const std::vector<std::string>& files) {
  if (files.empty()) return {};
  std::vector<fs::path> parts;
  for (const auto& p : fs::absolute(files[0]).lexically_normal().parent_path()) parts.push_back(p);
  for (const auto& f : files) {
    size_t k = 0;
    for (const auto& p : fs::absolute(f).lexically_normal().parent_path()) {
      if (k >= parts.size() || parts[k] != p) break;
      ++k;
    }
    parts.resize(k);
  }
  fs::path root;
  for (const auto& p : parts) root /= p;
  return root;
}

bagnet::Image denormalise(const bagnet::LoadedImage& item, const bagnet::Preprocessing& p) {
  // The preprocessed image back in 8 bits (for the panel and the edges): x * std + mean.
  bagnet::Image img;
  img.width = item.width;
  img.height = item.height;
  img.rgb.resize(static_cast<size_t>(item.width) * item.height * 3);
  const size_t plane = static_cast<size_t>(item.width) * item.height;
  const size_t channels = item.chw.size() / plane;
  for (size_t i = 0; i < plane; ++i)
    for (size_t c = 0; c < 3; ++c) {
      const size_t src = channels == 1 ? 0 : c;
      const float v = (item.chw[src * plane + i] * p.std[src] + p.mean[src]) * 255.0f;
      img.rgb[i * 3 + c] = static_cast<std::uint8_t>(std::clamp(std::lround(v), 0L, 255L));
    }
  return img;
}

nlohmann::json class_json(const bagnet::Labels& labels, int c) {
  return {{"index", c}, {"name", labels.name(c)}, {"wnid", labels.wnid(c)}};
}

}  // namespace

int main(int argc, char** argv) {
  bagnet::set_command_line(argc, argv);
  CLI::App app{"Class-evidence maps of a BagNet: per-patch logits as .npy, JSON sidecars and PNG figures."};
  Options o;
  o.request.model = "bagnet33";
  bool benchmark = false;
  int bench_size = 224, bench_iters = 3, bench_patch_rows = 8;
  app.add_option("inputs", o.inputs, "Image files, directories (recursive) and globs");
  bagnet::cli::add_model_options(app, o.request, o.threads, "Registered BagNet");
  app.add_option("-s,--stride", o.map.stride,
                 "Map stride in pixels: 1 = full resolution, 8 = the network's own map")
      ->check(CLI::IsMember({8, 4, 2, 1}))
      ->capture_default_str();
  app.add_option("--method", o.map.method, "dense, or patches (the per-patch reference; slow)")
      ->check(CLI::IsMember({"dense", "patches"}))
      ->capture_default_str();
  app.add_option("--tile", o.map.tile,
                 "Dense method: tile side in map positions, bounds memory (0 = no tiling)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1 << 20));
  app.add_option("-c,--class", o.class_refs, "Class: index, WordNet id or name (repeatable)");
  app.add_option("-k,--top", o.top, "Maps for the K top-predicted classes")->check(CLI::Range(0, 100000));
  app.add_flag("--all", o.all, "Maps for all classes in the .npy (PNGs only for --class/--top/--targets)");
  app.add_option("--targets", o.targets_csv, "CSV of path,label: a map for each image's target class");
  app.add_option("-o,--output-dir", o.output_dir, "Output directory (mirrors the input tree)");
  bagnet::cli::add_image_options(app, o.no_resize, o.max_pixels);
  app.add_flag("--overwrite", o.overwrite,
               "Recompute images whose outputs exist (default: skip them, i.e. resume)");
  app.add_option("--shard", o.shard, "i/n: process only images k with k mod n = i of the sorted list");
  app.add_option("--colormap", o.render.colormap, "RdBu_r, RdBu, bwr, seismic")->capture_default_str();
  app.add_option("--percentile", o.render.percentile, "Colour limits at +-(this percentile of |map|)")
      ->check(CLI::Range(0.0, 100.0))
      ->capture_default_str();
  app.add_flag("--edges", o.render.edges, "Draw the image's edges over the maps");
  app.add_option("--min-height", o.render.min_height,
                 "Enlarge figures of smaller images by an integer factor to at least this height")
      ->capture_default_str();
  app.add_flag("--panel", o.panel, "Also a figure panel: image | map | second class's map");
  app.add_flag("--no-png", o.no_png, "Maps and sidecars only");
  app.add_flag("-q,--quiet", o.quiet, "No progress bar");
  app.add_flag("--benchmark", benchmark,
               "Time maps against classification on a random image (JSON on stdout)");
  app.add_option("--bench-size", bench_size)->capture_default_str();
  app.add_option("--bench-iters", bench_iters)->capture_default_str();
  app.add_option("--bench-patch-rows", bench_patch_rows, "Rows of positions the per-patch timing runs on")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  bagnet::init_runtime(o.threads);
  try {
    hm::HeatmapModel model(o.request);
    if (benchmark) {
      std::cout << model.benchmark(bench_size, bench_iters, bench_patch_rows, o.map.tile).dump() << std::endl;
      return 0;
    }
    if (o.inputs.empty()) throw UsageError("inputs", "no images given");
    if (o.output_dir.empty()) throw UsageError("--output-dir", "required");
    model.check(o.map);
    hm::colormap(o.render.colormap);  // unknown names fail before any work
    const auto& labels = model.labels();
    std::vector<int> explicit_classes;
    for (const auto& ref : o.class_refs) {
      try {
        explicit_classes.push_back(labels.resolve(ref));
      } catch (const bagnet::Error& e) {
        throw UsageError("--class " + ref, e.reason());
      }
    }
    const auto targets =
        o.targets_csv.empty() ? std::map<std::string, int>{} : read_targets(o.targets_csv, labels);
    if (explicit_classes.empty() && o.top == 0 && o.targets_csv.empty() && !o.all) o.top = 1;
    const auto [shard_i, shard_n] = o.shard.empty() ? std::pair<size_t, size_t>{0, 1} : parse_shard(o.shard);

    const auto list = bagnet::expand_inputs(o.inputs);
    size_t failed = list.failures.size();
    for (const auto& [in, why] : list.failures) std::cerr << in << ": " << why << "\n";
    const fs::path root = common_root(list.files);
    std::vector<std::string> todo;
    std::map<std::string, fs::path> out_stem;  // file -> output path without extension
    std::map<fs::path, std::string> owner;
    size_t skipped = 0;
    for (size_t k = 0; k < list.files.size(); ++k) {
      if (k % shard_n != shard_i) continue;
      const auto& f = list.files[k];
      const fs::path rel = fs::absolute(f).lexically_normal().lexically_relative(root);
      const fs::path stem = fs::path(o.output_dir) / rel.parent_path() / rel.stem();
      if (auto [it, fresh] = owner.emplace(stem, f); !fresh) {
        std::cerr << f << ": output name " << stem.string() << " is taken by " << it->second << "\n";
        ++failed;
        continue;
      }
      out_stem[f] = stem;
      // The sidecar is written last: when it exists, the image is complete.
      if (!o.overwrite && fs::exists(stem.string() + ".json")) {
        ++skipped;
        continue;
      }
      todo.push_back(f);
    }
    std::cerr << "bagnet-heatmap: " << o.request.model << " on " << model.device() << ", "
              << bagnet::runtime_threads() << " threads, stride " << o.map.stride << " (" << o.map.method
              << "), " << todo.size() << " images"
              << (skipped ? ", " + std::to_string(skipped) + " already done" : "") << "\n";

    const auto prep = model.preprocessing(o.no_resize);
    bagnet::ImageLoader loader(todo, prep, o.max_pixels, 2, 8);
    bagnet::Progress progress("heatmap", todo.size(), !o.quiet && todo.size() > 1);
    const auto provenance =
        bagnet::provenance_json("bagnet-heatmap", model.device(), bagnet::runtime_threads());
    const auto model_json = model.model_json(o.no_resize);
    bagnet::LoadedImage item;
    while (loader.next(item)) {
      try {
        if (!item.error.empty()) throw bagnet::Error(item.path, item.error);
        // Classes to render (explicit, target, top-K, without repeats) and to store.
        std::vector<int> shown = explicit_classes;
        nlohmann::json pooled_json;
        if (!o.targets_csv.empty()) {
          const fs::path p(item.path);
          auto it = targets.find(item.path);
          if (it == targets.end())
            it = targets.find(fs::absolute(p).lexically_normal().lexically_relative(root).string());
          if (it == targets.end()) it = targets.find(p.filename().string());
          if (it == targets.end()) throw bagnet::Error(item.path, "no target class in " + o.targets_csv);
          shown.push_back(it->second);
        }
        if (o.top > 0) {
          const auto logits = model.classify(item.chw, item.height, item.width);
          std::vector<int> order(logits.size());
          for (size_t c = 0; c < order.size(); ++c) order[c] = static_cast<int>(c);
          const int k = std::min<int>(o.top, static_cast<int>(order.size()));
          std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int a, int b) {
            return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
          });
          for (int i = 0; i < k; ++i) {
            shown.push_back(order[i]);
            pooled_json.push_back({{"index", order[i]}, {"logit", logits[order[i]]}});
          }
        }
        std::vector<int> unique;
        for (int c : shown)
          if (std::find(unique.begin(), unique.end(), c) == unique.end()) unique.push_back(c);
        shown = unique;
        const auto maps =
            model.maps(item.chw, item.height, item.width, o.all ? std::vector<int>{} : shown, o.map);
        const size_t plane = static_cast<size_t>(maps.rows) * maps.cols;
        auto map_of = [&](int c) {
          const auto at = std::find(maps.classes.begin(), maps.classes.end(), c) - maps.classes.begin();
          return maps.data.data() + at * plane;
        };

        const fs::path stem = out_stem.at(item.path);
        const int kk = static_cast<int>(maps.classes.size());
        std::vector<int64_t> shape{maps.rows, maps.cols};
        if (kk != 1) shape.insert(shape.begin(), kk);
        hm::write_npy(stem.string() + ".npy", maps.data.data(), shape);

        nlohmann::json renders = nlohmann::json::array();
        if (!o.no_png && !shown.empty()) {
          const auto image = denormalise(item, prep);
          for (int c : shown) {
            const double clip = hm::abs_percentile(map_of(c), plane, o.render.percentile);
            const std::string file = stem.string() + "_" + std::to_string(c) + ".png";
            bagnet::atomic_write(
                file, hm::encode_png(hm::render_figure(nullptr, image, {map_of(c)}, maps.rows, maps.cols,
                                                       o.map.stride, clip, o.render)));
            renders.push_back({{"file", fs::path(file).filename()}, {"classes", {c}}, {"clip", clip}});
          }
          if (o.panel) {
            std::vector<const float*> panel_maps{map_of(shown[0])};
            std::vector<int> panel_classes{shown[0]};
            if (shown.size() > 1) {
              panel_maps.push_back(map_of(shown[1]));
              panel_classes.push_back(shown[1]);
            }
            double clip = 0;  // one scale for both maps, so colours compare
            for (const float* m : panel_maps)
              clip = std::max(clip, hm::abs_percentile(m, plane, o.render.percentile));
            const std::string file = stem.string() + "_panel.png";
            bagnet::atomic_write(
                file, hm::encode_png(hm::render_figure(&image, image, panel_maps, maps.rows, maps.cols,
                                                       o.map.stride, clip, o.render)));
            renders.push_back(
                {{"file", fs::path(file).filename()}, {"classes", panel_classes}, {"clip", clip}});
          }
        }

        nlohmann::json classes = nlohmann::json::array();
        for (int c : maps.classes) classes.push_back(class_json(labels, c));
        const int q = model.patch_size();
        nlohmann::json side = {
            {"image", item.path},
            {"source_size", {item.source_height, item.source_width}},
            {"input_size", {item.height, item.width}},
            {"model", model_json},
            {"method", o.map.method},
            {"stride", o.map.stride},
            {"map",
             {{"file", fs::path(stem.string() + ".npy").filename()},
              {"dtype", "float32"},
              {"shape", shape},
              {"axes", kk != 1 ? "class, row, column" : "row, column"},
              {"values", "raw logits, not normalised"},
              {"coordinates", "map[i][j] is the logit of the " + std::to_string(q) + "x" + std::to_string(q) +
                                  " patch centred on pixel (y, x) = (" + std::to_string(o.map.stride) +
                                  "*i, " + std::to_string(o.map.stride) +
                                  "*j) of the preprocessed image (input_size, row 0 at the top), "
                                  "normalised and zero-padded by " +
                                  std::to_string((q - 1) / 2) + " pixels on every side"}}},
            {"classes", classes},
            {"rendering",
             {{"colormap", o.render.colormap},
              {"percentile", o.render.percentile},
              {"limits", "symmetric: +-clip"},
              {"edges", o.render.edges},
              {"min_height", o.render.min_height},
              {"files", renders}}},
            {"provenance", provenance},
        };
        if (!item.conversion.empty()) side["conversion"] = item.conversion;
        if (!pooled_json.is_null()) side["top"] = pooled_json;
        bagnet::atomic_write(stem.string() + ".json", side.dump(2) + "\n");
      } catch (const bagnet::Error& e) {
        std::cerr << (e.path() == item.path ? std::string(e.what()) : item.path + ": " + e.what()) << "\n";
        ++failed;
      }
      progress.advance();
    }
    progress.finish();
    if (failed) std::cerr << "bagnet-heatmap: " << failed << " inputs failed\n";
    return failed ? 1 : 0;
  } catch (const UsageError& e) {
    std::cerr << "bagnet-heatmap: " << e.what() << "\n";
    return 2;
  } catch (const bagnet::Error& e) {
    std::cerr << "bagnet-heatmap: " << e.what() << "\n";
    return 1;
  }
}
