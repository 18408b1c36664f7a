#include "heatmaps/run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
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

namespace bagnet::heatmaps {
namespace {

namespace fs = std::filesystem;

// Removes an incomplete image's files (best effort: the error being reported matters more).
void remove_files(const std::vector<std::string>& files) {
  std::error_code ec;
  for (const auto& f : files) fs::remove(f, ec);
}

// Probability (softmax over all classes, in double) and rank of each class's pooled logit.
class ClassScores {
 public:
  explicit ClassScores(const std::vector<float>& logits) : logits_(logits) {
    if (logits.empty()) return;
    const double top = *std::max_element(logits.begin(), logits.end());
    for (float l : logits) sum_ += std::exp(static_cast<double>(l) - top);
    top_ = top;
  }
  double probability(int c) const { return std::exp(static_cast<double>(logits_[c]) - top_) / sum_; }
  // 1 for the largest logit; ties share the better rank.
  int rank(int c) const {
    return 1 + static_cast<int>(
                   std::count_if(logits_.begin(), logits_.end(), [&](float l) { return l > logits_[c]; }));
  }
  bool empty() const { return logits_.empty(); }
  float logit(int c) const { return logits_[c]; }

 private:
  const std::vector<float>& logits_;
  double top_ = 0, sum_ = 0;
};

// "golden retriever (n02099601)" / "logit 3.21, p = 0.842, rank 1".
std::vector<std::string> class_title(const Labels& labels, int c, const ClassScores& scores) {
  const std::string wnid = labels.wnid(c);
  std::vector<std::string> lines{labels.name(c) + (wnid.empty() ? "" : " (" + wnid + ")")};
  if (!scores.empty()) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "logit %.3g, p = %.3g, rank %d", scores.logit(c), scores.probability(c),
                  scores.rank(c));
    lines.push_back(buf);
  }
  return lines;
}

nlohmann::json class_json(const Labels& labels, int c) {
  return {{"index", c}, {"name", labels.name(c)}, {"wnid", labels.wnid(c)}};
}

// Everything one image's outputs need besides the image itself.
struct RunContext {
  HeatmapModel& model;
  const RunOptions& o;
  Preprocessing prep;
  nlohmann::json provenance, model_json;
  fs::path root;
  std::string caption;  // small print of every figure (--caption)
};

// The classes an image's maps are rendered for: explicit, target, top-K, without repeats.
// `top_json` gets the top-K pooled logits; `logits` are the image's pooled logits (empty if
// neither the top-K nor the figures' titles need them). `target` gets the --targets class (or -1).
std::vector<int> shown_classes(RunContext& ctx, const LoadedImage& item, const std::vector<float>& logits,
                               nlohmann::json& top_json, int& target) {
  const RunOptions& o = ctx.o;
  const std::vector<int> top = o.top > 0 ? top_classes(logits, o.top) : std::vector<int>{};
  for (int c : top) top_json.push_back({{"index", c}, {"logit", logits[c]}});
  return classes_for_image(o.classes, o.targets, o.targets_file, item.path, ctx.root.string(), top, target);
}

// What one image's outputs are made of, computed for a batch of images at once.
struct ImageResult {
  std::vector<float> logits;  // pooled logits; empty when neither --top nor the figures need them
  std::vector<int> shown;     // classes rendered (explicit, target, top-K)
  nlohmann::json top_json;    // the top-K pooled logits
  int target = -1;            // the --targets class
  ClassMaps maps;
  std::string error;  // set when the image's classes cannot be found (it gets no maps)
};

// Logits, classes and maps of a batch of images of one size (one forward pass each).
std::vector<ImageResult> compute_batch(RunContext& ctx, const std::vector<const LoadedImage*>& batch) {
  const RunOptions& o = ctx.o;
  const int h = batch[0]->height, w = batch[0]->width;
  std::vector<const std::vector<float>*> chws;
  for (const auto* item : batch) chws.push_back(&item->chw);
  std::vector<ImageResult> results(batch.size());
  if (o.top > 0 || !o.no_png) {
    auto logits = ctx.model.classify(chws, h, w);
    for (size_t i = 0; i < batch.size(); ++i) results[i].logits = std::move(logits[i]);
  }
  std::vector<const std::vector<float>*> mapped;
  std::vector<std::vector<int>> classes;
  for (size_t i = 0; i < batch.size(); ++i) {
    ImageResult& r = results[i];
    try {
      r.shown = shown_classes(ctx, *batch[i], r.logits, r.top_json, r.target);
    } catch (const Error& e) {
      r.error = e.path() == batch[i]->path ? std::string(e.what()) : batch[i]->path + ": " + e.what();
      continue;
    }
    mapped.push_back(chws[i]);
    classes.push_back(o.all ? std::vector<int>{} : r.shown);
  }
  if (mapped.empty()) return results;
  auto maps = ctx.model.maps(mapped, h, w, classes, o.map);
  size_t next = 0;
  for (auto& r : results)
    if (r.error.empty()) r.maps = std::move(maps[next++]);
  return results;
}

// One image: the .npy, the renderings, and the sidecar last (its existence marks the image done).
// `written` collects the files, so that a failure can remove an incomplete image's outputs.
void write_outputs(RunContext& ctx, const LoadedImage& item, const fs::path& stem, const ImageResult& result,
                   std::vector<std::string>& written) {
  auto write = [&](const std::string& file, const std::string& bytes) {
    written.push_back(file);
    atomic_write(file, bytes);
  };
  const RunOptions& o = ctx.o;
  const bool figures = !o.no_png;
  const std::vector<float>& logits = result.logits;
  const std::vector<int>& shown = result.shown;
  const int target = result.target;
  const ClassScores scores(logits);
  const ClassMaps& maps = result.maps;
  const size_t plane = static_cast<size_t>(maps.rows) * maps.cols;
  auto map_of = [&](int c) {
    const auto at = std::find(maps.classes.begin(), maps.classes.end(), c) - maps.classes.begin();
    return maps.data.data() + at * plane;
  };

  const int kk = static_cast<int>(maps.classes.size());
  std::vector<int64_t> shape{maps.rows, maps.cols};
  if (kk != 1) shape.insert(shape.begin(), kk);
  write(stem.string() + ".npy", npy_bytes(maps.data.data(), shape));

  const Labels& labels = ctx.model.labels();
  nlohmann::json renders = nlohmann::json::array();
  if (figures && !shown.empty()) {
    const auto image = denormalise(item, ctx.prep);
    RenderOptions pixels = o.render;
    pixels.colorbar = false;
    auto map_panel = [&](int c, double clip) {
      return figures::FigurePanel{
          render_figure(nullptr, image, {map_of(c)}, maps.rows, maps.cols, o.map.stride, clip, pixels),
          class_title(labels, c, scores)};
    };
    auto figure = [&](std::vector<figures::FigurePanel> panels, double clip) {
      figures::MapFigure f;
      f.panels = std::move(panels);
      f.colorbar = o.render.colorbar;
      f.colormap = o.render.colormap;
      f.clip = clip;
      if (o.render.caption) f.caption = ctx.caption;
      return f;
    };
    for (int c : shown) {
      const double clip = figures::abs_percentile(map_of(c), plane, o.render.percentile);
      const std::string file = stem.string() + "_" + std::to_string(c) + ".png";
      write(file, figures::map_figure_png(figure({map_panel(c, clip)}, clip), file));
      renders.push_back({{"file", fs::path(file).filename()}, {"classes", {c}}, {"clip", clip}});
    }
    if (o.panel) {
      std::vector<int> panel_classes{shown[0]};
      if (shown.size() > 1) panel_classes.push_back(shown[1]);
      double clip = 0;  // one scale for both maps, so colours compare
      for (int c : panel_classes)
        clip = std::max(clip, figures::abs_percentile(map_of(c), plane, o.render.percentile));
      std::vector<figures::FigurePanel> panels;
      panels.push_back({render_figure(&image, image, {}, maps.rows, maps.cols, o.map.stride, clip, pixels),
                        {fs::path(item.path).filename().string(),
                         std::to_string(item.source_width) + "x" + std::to_string(item.source_height) +
                             " -> " + std::to_string(item.width) + "x" + std::to_string(item.height)}});
      for (int c : panel_classes) panels.push_back(map_panel(c, clip));
      const std::string file = stem.string() + "_panel.png";
      write(file, figures::map_figure_png(figure(std::move(panels), clip), file));
      renders.push_back({{"file", fs::path(file).filename()}, {"classes", panel_classes}, {"clip", clip}});
    }
  }

  nlohmann::json classes = nlohmann::json::array();
  for (int c : maps.classes) {
    nlohmann::json j = class_json(labels, c);
    if (!logits.empty()) {
      j["pooled_logit"] = logits[c];
      j["probability"] = scores.probability(c);
      j["rank"] = scores.rank(c);
    }
    classes.push_back(std::move(j));
  }
  const int q = ctx.model.patch_size();
  const std::string s = std::to_string(o.map.stride);
  nlohmann::json side = {
      {"image", item.path},
      {"source_size", {item.source_height, item.source_width}},
      {"input_size", {item.height, item.width}},
      {"model", ctx.model_json},
      {"method", o.map.method},
      {"dense_algorithm", o.map.method == "dense" ? ctx.model.dense_algorithm(o.map) : ""},
      {"stride", o.map.stride},
      {"map",
       {{"file", fs::path(stem.string() + ".npy").filename()},
        {"dtype", "float32"},
        {"shape", shape},
        {"axes", kk != 1 ? "class, row, column" : "row, column"},
        {"values", "raw logits, not normalised"},
        {"coordinates", "map[i][j] is the logit of the " + std::to_string(q) + "x" + std::to_string(q) +
                            " patch centred on pixel (y, x) = (" + s + "*i, " + s +
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
        {"colorbar", o.render.colorbar ? "patch logit, +-clip" : "none"},
        {"caption", o.render.caption ? nlohmann::json(ctx.caption) : nlohmann::json(nullptr)},
        {"files", renders}}},
      {"provenance", ctx.provenance},
  };
  if (!item.conversion.empty()) side["conversion"] = item.conversion;
  if (!result.top_json.is_null()) side["top"] = result.top_json;
  if (target >= 0) side["target"] = class_json(labels, target);  // the true class, for reports
  write(stem.string() + ".json", side.dump(2) + "\n");
}

}  // namespace

std::vector<int> classes_for_image(const std::vector<int>& classes, const std::map<std::string, int>& targets,
                                   const std::string& targets_file, const std::string& path,
                                   const std::string& root, const std::vector<int>& top, int& target) {
  std::vector<int> shown = classes;
  if (!targets_file.empty()) {
    const fs::path p(path);
    auto it = targets.find(path);
    if (it == targets.end())
      it = targets.find(fs::absolute(p).lexically_normal().lexically_relative(root).string());
    if (it == targets.end()) it = targets.find(p.filename().string());
    if (it == targets.end()) throw Error(path, "no target class in " + targets_file);
    shown.push_back(target = it->second);
  }
  shown.insert(shown.end(), top.begin(), top.end());
  std::vector<int> unique;
  for (int c : shown)
    if (std::find(unique.begin(), unique.end(), c) == unique.end()) unique.push_back(c);
  return unique;
}

std::vector<int> top_classes(const std::vector<float>& logits, int k) {
  std::vector<int> order(logits.size());
  for (size_t c = 0; c < order.size(); ++c) order[c] = static_cast<int>(c);
  k = std::min<int>(k, static_cast<int>(order.size()));
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
  order.resize(k);
  return order;
}

std::map<std::string, int> read_targets(const std::string& path, const Labels& labels) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the targets CSV");
  std::map<std::string, int> out;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    const auto comma = line.rfind(',');
    if (comma == std::string::npos) throw Error(path + ":" + std::to_string(lineno), "expected path,label");
    const std::string key = line.substr(0, comma), label = line.substr(comma + 1);
    try {
      out[key] = labels.resolve(label);
    } catch (const Error& e) {
      if (lineno == 1) continue;  // a header line ("path,label")
      throw Error(path + ":" + std::to_string(lineno), e.what());
    }
  }
  return out;
}

RunCounts run_heatmaps(HeatmapModel& model, const std::vector<std::string>& inputs, const RunOptions& o) {
  RunContext ctx{model,
                 o,
                 model.preprocessing(o.no_resize),
                 provenance_json("bagnet-heatmap", model.device(), runtime_threads()),
                 model.model_json(o.no_resize),
                 {},
                 {}};
  // One run per output folder and shard (disjoint shards share a folder).
  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(o.output_dir, "bagnet-heatmap", lock_options);
  install_interrupt_handlers();
  {
    const std::string sha = ctx.model_json["weights"].value("sha256", "");
    char pct[32];
    std::snprintf(pct, sizeof pct, "%g", o.render.percentile);
    ctx.caption = ctx.model_json.value("name", "") + ", weights " +
                  (sha.empty() ? "random" : sha.substr(0, 8)) + ", stride " + std::to_string(o.map.stride) +
                  ", colours at \u00b1p" + pct + " of |map|";
  }
  RunCounts counts;
  const auto list = expand_inputs(inputs);
  counts.failed = list.failures.size();
  for (const auto& [in, why] : list.failures) std::cerr << in << ": " << why << "\n";
  ctx.root = common_folder(list.files);  // outputs mirror the tree below it
  // This shard's images in list order. With batches, blocks of B consecutive images of the
  // sorted list share forward passes and a shard takes whole blocks: an image's batch, and so
  // the float rounding of its maps, is the same in a whole, sharded or resumed run.
  const size_t block_size = std::max<size_t>(1, o.batch_size);
  struct Entry {
    std::string file;
    fs::path stem;  // output path without extension
    size_t block;
    bool done;
  };
  std::vector<Entry> entries;
  std::map<fs::path, std::string> owner;
  size_t todo = 0;
  for (size_t k = 0; k < list.files.size(); ++k) {
    if (k / block_size % o.shard_count != o.shard_index) continue;
    const auto& f = list.files[k];
    const fs::path rel = fs::absolute(f).lexically_normal().lexically_relative(ctx.root);
    const fs::path stem = fs::path(o.output_dir) / rel.parent_path() / rel.stem();
    if (auto [it, fresh] = owner.emplace(stem, f); !fresh) {
      std::cerr << f << ": output name " << stem.string() << " is taken by " << it->second << "\n";
      ++counts.failed;
      continue;
    }
    // The sidecar is written last: when it exists, the image is complete.
    const bool done = !o.overwrite && fs::exists(stem.string() + ".json");
    entries.push_back({f, stem, k / block_size, done});
    done ? ++counts.skipped : ++todo;
  }
  // Blocks with work to do; a resumed block recomputes its finished images (without writing
  // them) so that its batches are the same as in an uninterrupted run.
  std::vector<std::vector<size_t>> blocks;  // indices into entries
  std::vector<std::string> load;
  for (size_t e = 0; e < entries.size();) {
    size_t end = e;
    bool work = false;
    for (; end < entries.size() && entries[end].block == entries[e].block; ++end)
      work = work || !entries[end].done;
    if (work) {
      blocks.emplace_back();
      for (; e < end; ++e) {
        blocks.back().push_back(e);
        load.push_back(entries[e].file);
      }
    }
    e = end;
  }
  std::cerr << "bagnet-heatmap: " << ctx.model_json.value("name", "") << " on " << model.device() << ", "
            << runtime_threads() << " threads, stride " << o.map.stride << " (" << o.map.method << "), "
            << todo << " images"
            << (counts.skipped ? ", " + std::to_string(counts.skipped) + " already done" : "")
            << (block_size > 1 ? ", batches of up to " + std::to_string(block_size) : "") << "\n";

  const size_t failed_before = counts.failed;
  ImageLoader loader(load, ctx.prep, o.max_pixels, 2, std::max<size_t>(8, block_size));
  Progress progress("heatmap", todo, o.progress && todo > 1);
  // An image that fails: its files removed, one line on stderr, counted.
  auto fail = [&](const std::string& message, const std::vector<std::string>& written) {
    remove_files(written);
    std::cerr << message << "\n";
    ++counts.failed;
    progress.advance();
  };
  for (const auto& block : blocks) {
    if (interrupted()) break;
    std::vector<LoadedImage> items(block.size());
    for (auto& item : items) loader.next(item);
    // Batches: the block's images of one size, in order, at most kBatchPixels pixels together.
    std::vector<std::vector<const LoadedImage*>> batches;
    std::map<std::pair<int, int>, size_t> open;  // size -> batch being filled
    for (size_t i = 0; i < items.size(); ++i) {
      const LoadedImage& item = items[i];
      if (!item.error.empty()) {
        if (!entries[block[i]].done) fail(item.path + ": " + item.error, {});
        continue;
      }
      const std::pair<int, int> size{item.height, item.width};
      const size_t cap = std::max<size_t>(1, kBatchPixels / (static_cast<size_t>(item.height) * item.width));
      auto it = open.find(size);
      if (it == open.end() || batches[it->second].size() >= cap) {
        batches.emplace_back();
        it = open.insert_or_assign(size, batches.size() - 1).first;
      }
      batches[it->second].push_back(&item);
    }
    for (const auto& batch : batches) {
      if (interrupted()) break;
      std::vector<ImageResult> results;
      try {
        results = compute_batch(ctx, batch);
      } catch (const Error& e) {
        for (const auto* item : batch)
          if (!entries[block[item - items.data()]].done)
            fail(e.path() == item->path ? std::string(e.what()) : item->path + ": " + e.what(), {});
        continue;
      }
      for (size_t i = 0; i < batch.size(); ++i) {
        const LoadedImage& item = *batch[i];
        const Entry& entry = entries[block[&item - items.data()]];
        if (entry.done) continue;
        if (!results[i].error.empty()) {
          fail(results[i].error, {});
          continue;
        }
        std::vector<std::string> written;
        try {
          write_outputs(ctx, item, entry.stem, results[i], written);
          ++counts.done;
          progress.advance();
        } catch (const OutputError&) {
          // Disk full, permission: every later image would fail too. Keep what is complete.
          remove_files(written);
          progress.finish();
          std::cerr << "bagnet-heatmap: stopped: " << counts.done
                    << " images done and kept; free space and run the same command to resume\n";
          throw;
        } catch (const Error& e) {
          fail(e.path() == item.path ? std::string(e.what()) : item.path + ": " + e.what(), written);
        }
      }
    }
  }
  progress.finish();
  if (interrupted()) {
    counts.interrupted = true;
    counts.left = todo - counts.done - (counts.failed - failed_before);
  }
  return counts;
}

}  // namespace bagnet::heatmaps
