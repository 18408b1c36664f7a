#include "experiments/experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "experiments/ops.h"
#include "experiments/plots.h"
#include "heatmaps/heatmap.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/json_read.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"
#include "networks/registry.h"

namespace fs = std::filesystem;

namespace bagnet::experiments {

namespace {

// Images whose variants are computed between two appends to records.jsonl (and between two
// checks for SIGINT/SIGTERM).
constexpr size_t kChunk = 64;

// One input of the networks made from an image: patches masked, or tiles scrambled.
struct Variant {
  std::vector<Patch> mask;
  int grid = 0;  // > 0: tiles shuffled by perm
  std::vector<int> perm;
};

struct Plan {
  nlohmann::json meta = nlohmann::json::object();
  std::vector<Variant> variants;  // variants[0]: the image itself
  std::string error;
};

struct Model {
  std::string key;  // in "models": the registry name, "#2" etc. for a second copy
  ModelSpec spec;
  std::unique_ptr<Classifier> classifier;
  Preprocessing prep;
  nlohmann::json json;
};

std::vector<float> apply_variant(const Variant& v, const LoadedImage& img, int q) {
  const int c = static_cast<int>(img.chw.size() / (static_cast<size_t>(img.height) * img.width));
  std::vector<float> x =
      v.grid > 0 ? scramble_tiles(img.chw, c, img.height, img.width, v.grid, v.perm) : img.chw;
  if (!v.mask.empty()) mask_patches(x, c, img.height, img.width, v.mask, q);
  return x;
}

nlohmann::json patches_json(const std::vector<Patch>& ps) {
  nlohmann::json a = nlohmann::json::array();
  for (const auto& p : ps) a.push_back({p.y, p.x});
  return a;
}

size_t masked_pixels(int h, int w, const std::vector<Patch>& ps, int q) {
  std::vector<float> one(static_cast<size_t>(h) * w, 1.f);
  return mask_patches(one, 1, h, w, ps, q);
}

struct RecordsFile {
  nlohmann::json header;
  std::vector<nlohmann::json> records;
  std::vector<std::string> lines;
};

// records.jsonl: the header, then records. A last line cut short by an interruption is dropped;
// any other malformed line is an Error naming file:line.
RecordsFile read_records(const std::string& path) {
  const std::string text = read_file(path, "cannot open (not an experiment output folder?)");
  RecordsFile f;
  std::istringstream in(text);
  std::string line;
  size_t number = 0;
  const bool complete_last = !text.empty() && text.back() == '\n';
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  for (const auto& l : lines) {
    ++number;
    const bool last = number == lines.size();
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(l);
    } catch (const nlohmann::json::exception&) {
      if (last && !complete_last && number > 1) break;  // torn by an interruption
      throw Error(path + ":" + std::to_string(number), "not a JSON line");
    }
    if (number == 1) {
      if (!j.is_object() || j.value("format", "") != kRecordsFormat || !j.contains("run") ||
          !j.contains("shard") || !j["shard"].is_object())
        throw Error(path, "not a bagnet-experiment records file (header line)");
      if (j.value("version", 0) != kRecordsFormatVersion)
        throw Error(path, "records format version " + std::to_string(j.value("version", 0)) + ", expected " +
                              std::to_string(kRecordsFormatVersion));
      f.header = j;
      continue;
    }
    if (!j.is_object() || !j.contains("position") || !j["position"].is_number_unsigned() ||
        !j.contains("key") || !j["key"].is_string())
      throw Error(path + ":" + std::to_string(number), "not an experiment record");
    f.records.push_back(std::move(j));
    f.lines.push_back(l);
  }
  if (f.header.is_null()) throw Error(path, "empty records file");
  return f;
}

// Per model and variant: the true-class logit, its probability, top-1, and the mean absolute
// change of all logits from the image's own (variant 0).
nlohmann::json model_values(const std::vector<std::vector<float>>& logits,
                            const std::vector<std::vector<float>>& probs, const std::vector<int>& top1,
                            int target) {
  nlohmann::json m = {{"logit", nlohmann::json::array()},
                      {"probability", nlohmann::json::array()},
                      {"correct", nlohmann::json::array()},
                      {"change", nlohmann::json::array()}};
  double scale = 0;
  for (float v : logits[0]) scale += std::abs(v);
  m["mean_abs_logit"] = scale / static_cast<double>(logits[0].size());
  for (size_t v = 0; v < logits.size(); ++v) {
    m["logit"].push_back(logits[v][static_cast<size_t>(target)]);
    m["probability"].push_back(probs[v][static_cast<size_t>(target)]);
    m["correct"].push_back(top1[v] == target ? 1 : 0);
    double change = 0;
    for (size_t c = 0; c < logits[v].size(); ++c) change += std::abs(double(logits[v][c]) - logits[0][c]);
    m["change"].push_back(change / static_cast<double>(logits[v].size()));
  }
  return m;
}

int patch_side(const ExperimentOptions& o, const std::vector<Model>& models, int map_q) {
  if (o.patch > 0) return o.patch;
  if (map_q > 0) return map_q;
  for (const auto& m : models)
    if (m.spec.architecture == "bagnet" && m.spec.patch_size > 0) return m.spec.patch_size;
  throw Error("--patch", "no BagNet among the models to take the patch size from: give --patch Q");
}

std::string summary_text(const nlohmann::json& s) { return s.dump(2) + "\n"; }

// summary.json and the figure of a complete (or merged) run.
std::vector<std::string> write_outputs(const std::string& dir, const nlohmann::json& header,
                                       const std::vector<nlohmann::json>& records, const std::string& figure,
                                       ExperimentOutput& out) {
  nlohmann::json s = summarize(header, records);
  const std::string experiment = header["run"]["experiment"];
  const std::string fig = figure.empty() ? (fs::path(dir) / (experiment + ".svg")).string() : figure;
  s["figure"] = fs::path(fig).filename().string();
  s["figure_path"] = fig;
  s["records"] = "records.jsonl";
  const std::string path = (fs::path(dir) / "summary.json").string();
  write_experiment_figure(fig, s, records);
  atomic_write(path, summary_text(s));
  out.summary = s;
  out.failed = s.value("failed", size_t{0});
  return {path, fig};
}

}  // namespace

ExperimentOutput run_experiment(const std::string& data, const ExperimentOptions& o,
                                const std::string& output_dir) {
  const std::string& ex = o.experiment;
  if (ex != "masking" && ex != "interactions" && ex != "scrambling")
    throw Error(ex, "unknown experiment (masking, interactions, scrambling)");
  if (o.models.empty()) throw Error("--model", "no model given");
  // Names first: an unknown model is refused before anything is loaded.
  std::vector<Model> models;
  std::map<std::string, int> copies;
  for (const auto& r : o.models) {
    Model m;
    m.spec = find_model(r.model);
    const int n = ++copies[m.spec.name];
    m.key = n == 1 ? m.spec.name : m.spec.name + "#" + std::to_string(n);
    models.push_back(std::move(m));
  }
  for (const auto& m : models)
    if (m.spec.labels != models[0].spec.labels || m.spec.num_classes != models[0].spec.num_classes)
      throw Error(m.spec.name, "has the labels " + m.spec.labels + " (" + std::to_string(m.spec.num_classes) +
                                   " classes), " + models[0].spec.name + " has " + models[0].spec.labels +
                                   ": the models must share one label set");
  std::unique_ptr<heatmaps::HeatmapModel> map_model;
  int map_q = 0;
  if (ex == "masking") {
    if (o.map_model.model.empty()) throw Error("--map-model", "masking needs a BagNet to pick the patches");
    const ModelSpec& ms = find_model(o.map_model.model);
    if (ms.architecture != "bagnet")
      throw Error(ms.name,
                  "the map model must be a BagNet (its exact patch-logit map picks the patches); this is a " +
                      ms.architecture);
    if (ms.labels != models[0].spec.labels)
      throw Error(ms.name, "the map model's labels (" + ms.labels + ") differ from the models' (" +
                               models[0].spec.labels + ")");
    map_model = std::make_unique<heatmaps::HeatmapModel>(o.map_model);
    map_q = map_model->patch_size();
  }
  const int q = patch_side(o, models, map_q);
  if (q < 1) throw Error("--patch", "must be at least 1");
  const int distance = o.distance > 0 ? o.distance : 2 * q - 1;
  if (ex == "masking" && o.k < 1) throw Error("--k", "must be at least 1");
  if (ex == "interactions" && distance < q)
    throw Error("--distance", std::to_string(distance) + " is less than the patch side " + std::to_string(q) +
                                  ": the two patches would overlap");
  if (ex == "interactions" && o.pairs < 1) throw Error("--pairs", "must be at least 1");
  if (ex == "scrambling" && (o.grids.empty() || *std::min_element(o.grids.begin(), o.grids.end()) < 1))
    throw Error("--grid", "give grid sizes of at least 1");

  const Labels& labels = load_labels(models[0].spec.labels);
  const EvalDataset d = open_eval_dataset(data, o.dataset, labels, {});
  if (d.categorical)
    throw Error(d.source, "the experiments need images labelled by class in the models' label space");
  const long long max_pixels = o.max_pixels > 0 ? o.max_pixels : kDefaultMaxPixels;
  for (auto& m : models) {
    ModelRequest r = o.models[static_cast<size_t>(&m - &models[0])];
    m.classifier = std::make_unique<Classifier>(r);
    m.prep = m.classifier->preprocessing(o.no_resize);
    m.json = m.classifier->model_json(o.no_resize);
  }
  const auto positions = shard_positions(d.items.size(), o.shard_index, o.shard_count);

  // K against the images' size, before anything is written: one clear line.
  if (ex == "masking" && !positions.empty()) {
    const LoadedImage probe =
        load_eval_item(d, d.items[positions[0]], map_model->preprocessing(o.no_resize), max_pixels);
    if (probe.error.empty() && o.k > patch_capacity(probe.height, probe.width, q))
      throw Error("--k " + std::to_string(o.k),
                  "more patches than the image holds: a " + std::to_string(probe.height) + "x" +
                      std::to_string(probe.width) + " input has room for at most " +
                      std::to_string(patch_capacity(probe.height, probe.width, q)) + " non-overlapping " +
                      std::to_string(q) + "x" + std::to_string(q) + " patches");
  }
  if (ex == "scrambling" && !positions.empty()) {
    const LoadedImage probe = load_eval_item(d, d.items[positions[0]], models[0].prep, max_pixels);
    for (int g : o.grids)
      if (probe.error.empty() && (g > probe.height || g > probe.width))
        throw Error("--grid " + std::to_string(g), "more tiles than pixels along a side of the " +
                                                       std::to_string(probe.height) + "x" +
                                                       std::to_string(probe.width) + " input");
  }

  nlohmann::json params = {{"seed", o.seed}, {"patch", q}, {"no_resize", o.no_resize}};
  if (ex == "masking") params["k"] = o.k;
  if (ex == "interactions") {
    params["pairs"] = o.pairs;
    params["distance"] = distance;
  }
  if (ex == "scrambling") params["grids"] = o.grids;
  nlohmann::json run = {{"experiment", ex},
                        {"parameters", params},
                        {"models", nlohmann::json::array()},
                        {"dataset",
                         {{"name", d.name},
                          {"kind", to_string(d.kind)},
                          {"fingerprint", d.fingerprint},
                          {"images", d.items.size()}}}};
  nlohmann::json header = {{"format", kRecordsFormat},
                           {"version", kRecordsFormatVersion},
                           {"tool", o.tool},
                           {"models", nlohmann::json::array()},
                           {"source", d.source}};
  for (const auto& m : models) {
    run["models"].push_back({{"key", m.key},
                             {"model", m.spec.name},
                             {"weights_sha256", m.json.at("weights").at("sha256")},
                             {"preprocessing", m.json.at("preprocessing")}});
    header["models"].push_back(m.json);
  }
  if (map_model) {
    const nlohmann::json mj = map_model->model_json(o.no_resize);
    run["map_model"] = {{"model", mj.at("name")},
                        {"weights_sha256", mj.at("weights").at("sha256")},
                        {"preprocessing", mj.at("preprocessing")}};
    header["map_model"] = mj;
  }
  header["run"] = run;
  header["shard"] = {{"index", o.shard_index}, {"count", o.shard_count}, {"images", positions.size()}};
  header["provenance"] = provenance_json(o.tool, models[0].classifier->device(), runtime_threads());

  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(output_dir, o.tool, lock_options);
  install_interrupt_handlers();
  const std::string records_path = (fs::path(output_dir) / "records.jsonl").string();
  std::map<size_t, nlohmann::json> done;
  if (fs::exists(records_path) && !o.overwrite) {
    const RecordsFile previous = read_records(records_path);
    for (const char* field : {"run", "shard"}) {
      const auto diff = first_difference(previous.header.value(field, nlohmann::json()), header[field],
                                         std::string(field) + ".");
      if (!diff.empty())
        throw Error(records_path, "holds records of a different run (" + diff +
                                      " differs); use --overwrite to replace them, or another --output-dir");
    }
    header["provenance"] = previous.header["provenance"];
    header["resumed"] = previous.header.value("resumed", 0) + 1;
    const std::set<size_t> mine(positions.begin(), positions.end());
    std::string text = header.dump() + "\n";
    for (size_t i = 0; i < previous.records.size(); ++i) {
      const auto& r = previous.records[i];
      const size_t p = r["position"].get<size_t>();
      if (!mine.count(p) || d.items[p].key != r["key"].get<std::string>())
        throw Error(records_path, "record " + r["key"].get<std::string>() + " does not belong to this shard");
      if (!done.emplace(p, r).second)
        throw Error(records_path, "record " + r["key"].get<std::string>() + " appears twice");
      text += previous.lines[i] + "\n";
    }
    if (!done.empty())
      std::cerr << o.tool << ": resuming " << output_dir << ": " << done.size() << " of " << positions.size()
                << " images done\n";
    atomic_write(records_path, text);
  } else {
    atomic_write(records_path, header.dump() + "\n");
  }

  std::vector<size_t> todo;
  for (size_t p : positions)
    if (!done.count(p)) todo.push_back(p);
  LineAppender out(records_path);
  Progress progress(o.tool + " " + ex, todo.size(), o.progress);
  heatmaps::MapOptions map_options;
  map_options.stride = 1;
  ExperimentOutput result;
  for (size_t start = 0; start < todo.size() && !interrupted(); start += kChunk) {
    const size_t n = std::min(kChunk, todo.size() - start);
    // Each model's view of the chunk's images.
    std::vector<std::vector<LoadedImage>> base(models.size(), std::vector<LoadedImage>(n));
    for (size_t mi = 0; mi < models.size(); ++mi)
      for (size_t i = 0; i < n; ++i)
        base[mi][i] = load_eval_item(d, d.items[todo[start + i]], models[mi].prep, max_pixels);
    std::vector<Plan> plans(n);
    for (size_t i = 0; i < n; ++i) {
      const size_t pos = todo[start + i];
      const EvalItem& item = d.items[pos];
      Plan& plan = plans[i];
      for (size_t mi = 0; mi < models.size() && plan.error.empty(); ++mi) {
        if (!base[mi][i].error.empty())
          plan.error = base[mi][i].error;
        else if (base[mi][i].height != base[0][i].height || base[mi][i].width != base[0][i].width)
          plan.error = models[mi].key + " sees a " + std::to_string(base[mi][i].height) + "x" +
                       std::to_string(base[mi][i].width) + " input, " + models[0].key + " a " +
                       std::to_string(base[0][i].height) + "x" + std::to_string(base[0][i].width) +
                       " one: the models' preprocessing must give the same pixels";
      }
      if (plan.error.empty() && item.target < 0)
        plan.error = "label " + item.label + " is not a class of the models";
      if (!plan.error.empty()) continue;
      const int h = base[0][i].height, w = base[0][i].width;
      plan.variants.push_back({});
      if (ex == "masking") {
        const LoadedImage mi = load_eval_item(d, item, map_model->preprocessing(o.no_resize), max_pixels);
        if (!mi.error.empty() || mi.height != h || mi.width != w) {
          plan.error = mi.error.empty() ? "the map model sees a different input size" : mi.error;
          continue;
        }
        const heatmaps::ClassMaps maps = map_model->maps(mi.chw, h, w, {item.target}, map_options);
        const auto guided = greedy_patches(maps.data, maps.rows, maps.cols, q, o.k);
        auto rng = image_rng(o.seed, pos, 1);
        const auto random = random_patches(rng, h, w, q, o.k);
        if (static_cast<int>(guided.size()) < o.k || static_cast<int>(random.size()) < o.k) {
          plan.error = "only " + std::to_string(std::min(guided.size(), random.size())) +
                       " non-overlapping " + std::to_string(q) + "x" + std::to_string(q) +
                       " patches fit (--k " + std::to_string(o.k) + ")";
          continue;
        }
        nlohmann::json values = nlohmann::json::array(), gm = nlohmann::json::array(),
                       rm = nlohmann::json::array();
        for (const auto& p : guided) values.push_back(maps.data[static_cast<size_t>(p.y) * maps.cols + p.x]);
        gm.push_back(0);
        rm.push_back(0);
        for (int k = 1; k <= o.k; ++k) {
          const std::vector<Patch> g(guided.begin(), guided.begin() + k),
              r(random.begin(), random.begin() + k);
          gm.push_back(masked_pixels(h, w, g, q));
          rm.push_back(masked_pixels(h, w, r, q));
        }
        for (int k = 1; k <= o.k; ++k) plan.variants.push_back({{guided.begin(), guided.begin() + k}, 0, {}});
        for (int k = 1; k <= o.k; ++k) plan.variants.push_back({{random.begin(), random.begin() + k}, 0, {}});
        plan.meta = {{"guided", patches_json(guided)},
                     {"guided_map_logit", values},
                     {"random", patches_json(random)},
                     {"masked_pixels", {{"guided", gm}, {"random", rm}}},
                     {"pixels", h * w}};
      } else if (ex == "interactions") {
        auto rng = image_rng(o.seed, pos, 2);
        nlohmann::json pairs = nlohmann::json::array();
        for (int p = 0; p < o.pairs; ++p) {
          Patch a, b;
          if (!random_pair(rng, h, w, q, distance, &a, &b)) {
            plan.error = "no two " + std::to_string(q) + "x" + std::to_string(q) + " patches " +
                         std::to_string(distance) + " pixels apart fit in a " + std::to_string(h) + "x" +
                         std::to_string(w) + " input";
            break;
          }
          plan.variants.push_back({{a}, 0, {}});
          plan.variants.push_back({{b}, 0, {}});
          plan.variants.push_back({{a, b}, 0, {}});
          pairs.push_back({{a.y, a.x}, {b.y, b.x}});
        }
        plan.meta = {{"pairs", pairs}};
      } else {
        nlohmann::json perms = nlohmann::json::object();
        for (int g : o.grids) {
          auto rng = image_rng(o.seed, pos, 100 + static_cast<uint64_t>(g));
          Variant v;
          v.grid = g;
          v.perm = tile_permutation(rng, g);
          perms[std::to_string(g)] = v.perm;
          plan.variants.push_back(v);
        }
        plan.meta = {{"permutations", perms}};
      }
    }

    // Every model on every variant; one image's variants never share a batch with another's.
    std::vector<std::pair<size_t, size_t>> jobs;  // (image in chunk, variant)
    for (size_t i = 0; i < n; ++i)
      if (plans[i].error.empty())
        for (size_t v = 0; v < plans[i].variants.size(); ++v) jobs.emplace_back(i, v);
    std::vector<nlohmann::json> values(n, nlohmann::json::object());
    for (size_t mi = 0; mi < models.size(); ++mi) {
      Model& m = models[mi];
      const size_t classes = static_cast<size_t>(m.classifier->num_classes());
      std::vector<std::vector<float>> logits(jobs.size()), probs(jobs.size());
      std::vector<int> top1(jobs.size(), -1);
      ClassifyOptions copt;
      copt.topk = static_cast<int>(classes);
      copt.batch_size = std::max(1, o.batch_size);
      copt.progress = false;
      copt.workers = o.workers;
      copt.batch_group = [&](size_t j) { return jobs[j].first; };
      m.classifier->classify(
          jobs.size(),
          [&](size_t j) {
            const LoadedImage& b = base[mi][jobs[j].first];
            LoadedImage r;
            r.index = j;
            r.path = b.path;
            r.height = b.height;
            r.width = b.width;
            r.source_height = b.source_height;
            r.source_width = b.source_width;
            r.chw = apply_variant(plans[jobs[j].first].variants[jobs[j].second], b, q);
            return r;
          },
          copt,
          [&](const ImageResult& res) {
            if (!res.ok()) {
              plans[jobs[res.index].first].error = res.error;
              return;
            }
            auto& l = logits[res.index];
            auto& p = probs[res.index];
            l.assign(classes, 0.f);
            p.assign(classes, 0.f);
            for (const auto& t : res.top) {
              l[static_cast<size_t>(t.index)] = t.logit;
              p[static_cast<size_t>(t.index)] = t.probability;
            }
            top1[res.index] = res.top.empty() ? -1 : res.top[0].index;
          });
      for (size_t j0 = 0; j0 < jobs.size();) {
        const size_t i = jobs[j0].first;
        size_t j1 = j0;
        while (j1 < jobs.size() && jobs[j1].first == i) ++j1;
        if (plans[i].error.empty()) {
          const std::vector<std::vector<float>> il(logits.begin() + j0, logits.begin() + j1),
              ip(probs.begin() + j0, probs.begin() + j1);
          const std::vector<int> it(top1.begin() + j0, top1.begin() + j1);
          values[i][m.key] = model_values(il, ip, it, d.items[todo[start + i]].target);
        }
        j0 = j1;
      }
    }
    for (size_t i = 0; i < n; ++i) {
      const size_t pos = todo[start + i];
      const EvalItem& item = d.items[pos];
      nlohmann::json r = {
          {"position", pos}, {"key", item.key}, {"label", item.label}, {"target", item.target}};
      if (!plans[i].error.empty()) {
        r["error"] = plans[i].error;
        std::cerr << (item.path.empty() ? item.key : item.path) << ": " << plans[i].error << "\n";
      } else {
        r.update(plans[i].meta);
        r["models"] = values[i];
      }
      out.append(r.dump());
      done.emplace(pos, std::move(r));
    }
    progress.advance(n);
  }
  progress.finish();
  result.images = positions.size();
  result.done = done.size();
  if (interrupted()) {
    result.interrupted = true;
    result.files.push_back(records_path);
    return result;
  }
  std::vector<nlohmann::json> records;
  for (auto& [p, r] : done) records.push_back(std::move(r));
  result.files = write_outputs(output_dir, header, records, o.figure, result);
  result.files.insert(result.files.begin(), records_path);
  return result;
}

ExperimentOutput merge_experiment(const std::vector<std::string>& dirs, const std::string& output_dir,
                                  const std::string& figure) {
  if (dirs.empty()) throw Error("merge", "no shard folders given");
  std::vector<RecordsFile> shards;
  std::vector<std::string> paths;
  for (const auto& dir : dirs) {
    paths.push_back((fs::path(dir) / "records.jsonl").string());
    if (!fs::exists(paths.back()))
      throw Error(dir, "no records.jsonl: not a bagnet-experiment output folder");
    shards.push_back(read_records(paths.back()));
  }
  const nlohmann::json& run = shards[0].header["run"];
  auto shard_field = [&](size_t i, const char* f) {
    const auto& v = shards[i].header["shard"].value(f, nlohmann::json());
    if (!v.is_number_unsigned()) throw Error(paths[i], std::string("header: shard.") + f + " is not a count");
    return v.get<size_t>();
  };
  const size_t count = shard_field(0, "count");
  std::map<size_t, size_t> seen;
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto diff = first_difference(run, shards[i].header["run"], "run.");
    if (!diff.empty())
      throw Error(paths[i], "is not a shard of the same run as " + paths[0] + " (" + diff + " differs)");
    const size_t c = shard_field(i, "count"), index = shard_field(i, "index");
    if (c != count)
      throw Error(paths[i], "is shard " + std::to_string(index) + "/" + std::to_string(c) +
                                ", the others are of " + std::to_string(count));
    if (const auto it = seen.find(index); it != seen.end())
      throw Error(paths[i], "shard " + std::to_string(index) + " is also in " + paths[it->second]);
    seen.emplace(index, i);
    if (shards[i].records.size() != shard_field(i, "images"))
      throw Error(paths[i], "incomplete: " + std::to_string(shards[i].records.size()) + " of " +
                                std::to_string(shard_field(i, "images")) +
                                " images (resume that shard first)");
  }
  if (seen.size() != count) {
    std::string missing;
    for (size_t i = 0; i < count && missing.size() < 200; ++i)
      if (!seen.count(i))
        missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(count);
    throw Error("merge", "missing shard(s) " + missing);
  }
  std::vector<std::pair<const nlohmann::json*, const std::string*>> all;
  for (auto& s : shards)
    for (size_t i = 0; i < s.records.size(); ++i) all.emplace_back(&s.records[i], &s.lines[i]);
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return (*a.first)["position"].template get<size_t>() < (*b.first)["position"].template get<size_t>();
  });
  for (size_t i = 1; i < all.size(); ++i)
    if ((*all[i].first)["position"] == (*all[i - 1].first)["position"])
      throw Error("merge", "image " + (*all[i].first)["key"].get<std::string>() + " is in two shards");
  nlohmann::json header = shards[0].header;
  header["shard"] = {{"index", 0}, {"count", 1}, {"images", all.size()}};
  header["merged_from"] = nlohmann::json::array();
  for (const auto& [index, i] : seen)
    header["merged_from"].push_back({{"dir", dirs[i]},
                                     {"shard", shards[i].header["shard"]},
                                     {"provenance", shards[i].header["provenance"]}});
  header["provenance"] = provenance_json("bagnet-experiment merge", header["provenance"].value("device", ""),
                                         header["provenance"].value("threads", 0));
  header.erase("resumed");
  const RunLock lock(output_dir, "bagnet-experiment merge");
  std::string text = header.dump() + "\n";
  std::vector<nlohmann::json> records;
  for (const auto& [r, line] : all) {
    text += *line + "\n";
    records.push_back(*r);
  }
  const std::string records_path = (fs::path(output_dir) / "records.jsonl").string();
  atomic_write(records_path, text);
  ExperimentOutput result;
  result.images = result.done = records.size();
  result.files = write_outputs(output_dir, header, records, figure, result);
  result.files.insert(result.files.begin(), records_path);
  return result;
}

std::string redraw_figure(const std::string& dir, const std::string& figure) {
  const std::string path = (fs::path(dir) / "records.jsonl").string();
  if (!fs::exists(path)) throw Error(dir, "no records.jsonl: not a bagnet-experiment output folder");
  const RecordsFile f = read_records(path);
  const nlohmann::json& images = f.header["shard"].value("images", nlohmann::json());
  if (!images.is_number_unsigned() || f.records.size() != images.get<size_t>())
    throw Error(path, "incomplete: " + std::to_string(f.records.size()) + " records (resume the run first)");
  write_experiment_figure(figure, summarize(f.header, f.records), f.records);
  return figure;
}

}  // namespace bagnet::experiments
