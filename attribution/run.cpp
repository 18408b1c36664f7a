#include "attribution/run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "datasets/loader.h"
#include "figures/map_figure.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/npy.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"

namespace bagnet::attribution {
namespace {

namespace fs = std::filesystem;

nlohmann::json class_json(const Labels& labels, int c) {
  return {{"index", c}, {"name", labels.name(c)}, {"wnid", labels.wnid(c)}};
}

struct RunContext {
  AttributionModel& model;
  const RunOptions& o;
  Preprocessing prep;
  nlohmann::json provenance, model_json;
  fs::path root;
};

std::vector<int> target_classes(RunContext& ctx, const LoadedImage& item, const std::vector<float>& logits,
                                int& target) {
  const RunOptions& o = ctx.o;
  return heatmaps::classes_for_image(o.classes, o.targets, o.targets_file, item.path, ctx.root.string(),
                                     o.top > 0 ? heatmaps::top_classes(logits, o.top) : std::vector<int>{},
                                     target);
}

// Sum over channels of one class's map, for the renderings.
std::vector<float> channel_sum(const AttributionMap& m) {
  const size_t plane = static_cast<size_t>(m.rows) * m.cols;
  std::vector<float> out(plane, 0.0f);
  for (int c = 0; c < m.channels; ++c)
    for (size_t i = 0; i < plane; ++i) out[i] += m.data[c * plane + i];
  return out;
}

void write_outputs(RunContext& ctx, const LoadedImage& item, const fs::path& stem,
                   std::vector<std::string>& written) {
  auto write = [&](const std::string& file, const std::string& bytes) {
    written.push_back(file);
    atomic_write(file, bytes);
  };
  const RunOptions& o = ctx.o;
  const Labels& labels = ctx.model.labels();
  const std::vector<float> logits = ctx.model.classify(item.chw, item.height, item.width);
  int target = -1;
  const std::vector<int> classes = target_classes(ctx, item, logits, target);
  const bool figures = !o.no_png;
  const Image image = denormalise(item, ctx.prep);
  heatmaps::RenderOptions pixels = o.render;
  pixels.colorbar = false;

  nlohmann::json methods = nlohmann::json::object();
  std::vector<std::pair<std::string, std::vector<float>>> first_class_maps;  // for the panel
  for (const auto& method : o.methods) {
    std::vector<float> all;
    std::vector<int64_t> shape;
    nlohmann::json per_class = nlohmann::json::array(), renders = nlohmann::json::array();
    for (int c : classes) {
      const AttributionMap m = ctx.model.attribute(item.chw, item.height, item.width, c, method, o.method);
      all.insert(all.end(), m.data.begin(), m.data.end());
      if (shape.empty()) {
        shape = {m.rows, m.cols};
        if (m.channels > 1 || o.method.channels) shape.insert(shape.begin(), m.channels);
      }
      nlohmann::json cj = class_json(labels, c);
      cj["logit"] = logits[c];
      if (!m.details.is_null()) cj["details"] = m.details;
      per_class.push_back(cj);
      const auto summed = channel_sum(m);
      if (c == classes.front()) first_class_maps.emplace_back(method, summed);
      if (figures) {
        const double clip = figures::abs_percentile(summed.data(), summed.size(), o.render.percentile);
        figures::MapFigure f;
        f.panels.push_back({heatmaps::render_figure(nullptr, image, {summed.data()}, m.rows, m.cols, 1,
                                                    std::max(clip, 1e-30), pixels),
                            {method, labels.name(c)}});
        f.colorbar = o.render.colorbar;
        f.colormap = o.render.colormap;
        f.clip = std::max(clip, 1e-30);
        f.bar_label = "attribution";
        const std::string file = stem.string() + "_" + method + "_" + std::to_string(c) + ".png";
        write(file, figures::map_figure_png(f, file));
        renders.push_back({{"file", fs::path(file).filename()}, {"class", c}, {"clip", clip}});
      }
    }
    if (classes.size() != 1) shape.insert(shape.begin(), static_cast<int64_t>(classes.size()));
    const std::string npy = stem.string() + "_" + method + ".npy";
    write(npy, npy_bytes(all.data(), shape));
    std::string axes = "row, column";
    if (o.method.channels) axes = "channel, " + axes;
    if (classes.size() != 1) axes = "class, " + axes;
    methods[method] = {
        {"captum", captum_name(method)},
        {"parameters", ctx.model.parameters(method, o.method)},
        {"map",
         {{"file", fs::path(npy).filename()},
          {"dtype", "float32"},
          {"shape", shape},
          {"axes", axes},
          {"values", "raw attributions, not normalised"}}},
        {"classes", per_class},
        {"renderings", renders},
    };
  }
  nlohmann::json panel_json = nullptr;
  if (figures && o.panel && !first_class_maps.empty()) {
    std::vector<figures::FigurePanel> panels;
    panels.push_back({heatmaps::render_figure(&image, image, {}, item.height, item.width, 1, 1, pixels),
                      {fs::path(item.path).filename().string(), labels.name(classes.front())}});
    double clip = 0;
    for (auto& [method, map] : first_class_maps) {
      // Each method on its own scale: their units differ (gradients, logits per pixel, CAM).
      const double c = std::max(figures::abs_percentile(map.data(), map.size(), o.render.percentile), 1e-30);
      panels.push_back(
          {heatmaps::render_figure(nullptr, image, {map.data()}, item.height, item.width, 1, c, pixels),
           {method, "\u00b1" + std::to_string(c).substr(0, 8)}});
      clip = std::max(clip, c);
    }
    figures::MapFigure f;
    f.panels = std::move(panels);
    f.colorbar = false;  // per-panel limits are in the titles
    f.colormap = o.render.colormap;
    f.clip = clip;
    const std::string file = stem.string() + "_panel.png";
    write(file, figures::map_figure_png(f, file));
    panel_json = {{"file", fs::path(file).filename()}, {"class", classes.front()}};
  }
  nlohmann::json side = {
      {"image", item.path},
      {"source_size", {item.source_height, item.source_width}},
      {"input_size", {item.height, item.width}},
      {"model", ctx.model_json},
      {"methods", methods},
      {"coordinates",
       "map[..., y, x] is the attribution of pixel (y, x) of the preprocessed image (input_size, row 0 at "
       "the "
       "top), taken with respect to the normalised input; without --channels the signed sum over channels"},
      {"rendering",
       {{"colormap", o.render.colormap},
        {"percentile", o.render.percentile},
        {"limits", "symmetric: +-clip, per map"},
        {"panel", panel_json}}},
      {"provenance", ctx.provenance},
  };
  if (!item.conversion.empty()) side["conversion"] = item.conversion;
  if (target >= 0) side["target"] = class_json(labels, target);
  write(stem.string() + ".json", side.dump(2) + "\n");
}

}  // namespace

heatmaps::RunCounts run_attribution(AttributionModel& model, const std::vector<std::string>& inputs,
                                    const RunOptions& o) {
  for (const auto& m : o.methods) model.check(m, o.method);
  RunContext ctx{model,
                 o,
                 model.preprocessing(o.no_resize),
                 provenance_json("bagnet-attribute", model.device(), runtime_threads()),
                 model.model_json(o.no_resize),
                 {}};
  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(o.output_dir, "bagnet-attribute", lock_options);
  install_interrupt_handlers();
  heatmaps::RunCounts counts;
  const auto list = expand_inputs(inputs);
  counts.failed = list.failures.size();
  for (const auto& [in, why] : list.failures) std::cerr << in << ": " << why << "\n";
  ctx.root = common_folder(list.files);
  std::vector<std::string> todo;
  std::map<std::string, fs::path> out_stem;
  std::map<fs::path, std::string> owner;
  for (size_t k = 0; k < list.files.size(); ++k) {
    if (k % o.shard_count != o.shard_index) continue;
    const auto& f = list.files[k];
    const fs::path rel = fs::absolute(f).lexically_normal().lexically_relative(ctx.root);
    const fs::path stem = fs::path(o.output_dir) / rel.parent_path() / rel.stem();
    if (auto [it, fresh] = owner.emplace(stem, f); !fresh) {
      std::cerr << f << ": output name " << stem.string() << " is taken by " << it->second << "\n";
      ++counts.failed;
      continue;
    }
    out_stem[f] = stem;
    if (!o.overwrite && fs::exists(stem.string() + ".json")) {
      ++counts.skipped;
      continue;
    }
    todo.push_back(f);
  }
  std::string names;
  for (const auto& m : o.methods) names += (names.empty() ? "" : ", ") + m;
  std::cerr << "bagnet-attribute: " << ctx.model_json.value("name", "") << " on " << model.device() << ", "
            << runtime_threads() << " threads, " << names << ", " << todo.size() << " images"
            << (counts.skipped ? ", " + std::to_string(counts.skipped) + " already done" : "") << "\n";

  const size_t failed_before = counts.failed;
  ImageLoader loader(todo, ctx.prep, o.max_pixels, 2, 8);
  Progress progress("attribute", todo.size(), o.progress && todo.size() > 1);
  LoadedImage item;
  while (!interrupted() && loader.next(item)) {
    std::vector<std::string> written;
    try {
      if (!item.error.empty()) throw Error(item.path, item.error);
      const fs::path stem = out_stem.at(item.path);
      fs::create_directories(stem.parent_path());
      write_outputs(ctx, item, stem, written);
      ++counts.done;
    } catch (const OutputError&) {
      for (const auto& f : written) {
        std::error_code ec;
        fs::remove(f, ec);
      }
      progress.finish();
      std::cerr << "bagnet-attribute: stopped: " << counts.done
                << " images done and kept; free space and run the same command to resume\n";
      throw;
    } catch (const Error& e) {
      for (const auto& f : written) {
        std::error_code ec;
        fs::remove(f, ec);
      }
      std::cerr << (e.path() == item.path ? std::string(e.what()) : item.path + ": " + e.what()) << "\n";
      ++counts.failed;
    }
    progress.advance();
  }
  progress.finish();
  if (interrupted()) {
    counts.interrupted = true;
    counts.left = todo.size() - counts.done - (counts.failed - failed_before);
  }
  return counts;
}

}  // namespace bagnet::attribution
