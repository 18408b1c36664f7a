#include "evaluation/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "evaluation/metrics.h"
#include "evaluation/shape_bias.h"
#include "evaluation/trials_csv.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/json_read.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"
#include "networks/registry.h"

namespace fs = std::filesystem;

namespace bagnet::evaluation {

namespace {

nlohmann::json ratio(long num, long den) {
  return den ? nlohmann::json(static_cast<double>(num) / static_cast<double>(den)) : nlohmann::json(nullptr);
}

// What makes two runs comparable: model, weights, preprocessing, dataset content, options.
nlohmann::json run_identity(const nlohmann::json& model, const EvalDataset& d, const CategoryMapping* mapping,
                            const EvalOptions& o) {
  nlohmann::json run = {
      {"model", model.at("name")},
      {"architecture", model.at("architecture")},
      {"weights_sha256", model.at("weights").at("sha256")},
      {"preprocessing", model.at("preprocessing")},
      {"dataset",
       {{"name", d.name},
        {"kind", to_string(d.kind)},
        {"categorical", d.categorical},
        {"fingerprint", d.fingerprint},
        {"images", d.items.size()},
        {"classes", d.classes}}},
      {"topk", o.topk},
  };
  if (mapping) {
    run["mapping"] = {{"name", mapping->name}, {"aggregation", to_string(o.aggregation)}};
    run["categories"] = mapping->categories;
  }
  return run;
}

std::string file_name_of(const std::string& key) { return fs::path(key).filename().string(); }

std::string summary_text(const nlohmann::json& s) { return s.dump(2) + "\n"; }

// Accuracies, per class, shape bias and failures from the records of a run.
nlohmann::json summarize(const nlohmann::json& header, const std::vector<Record>& records) {
  const nlohmann::json& run = header.at("run");
  const bool categorical = run.at("dataset").at("categorical").get<bool>();
  const auto categories = categories_of(run);
  const int k = run.at("topk").get<int>();
  const std::string topk_name = "top" + std::to_string(k);
  struct Tally {
    long images = 0, correct1 = 0, correctk = 0;
  };
  Tally all;
  std::map<std::string, Tally> per;
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& r : records) {
    if (!r.ok()) {
      failures.push_back({{"key", r.key}, {"error", r.error}});
      continue;
    }
    for (Tally* t : {&all, &per[r.label]}) {
      ++t->images;
      t->correct1 += r.correct1;
      t->correctk += r.correctk;
    }
  }
  nlohmann::json s = {
      {"images", records.size()},
      {"evaluated", all.images},
      {"failed", failures.size()},
  };
  auto& pc = s["per_class"] = nlohmann::json::object();
  if (categorical) {
    s["accuracy"] = ratio(all.correct1, all.images);
    for (const auto& [label, t] : per)
      pc[label] = {{"images", t.images}, {"accuracy", ratio(t.correct1, t.images)}};
  } else {
    s["top1"] = ratio(all.correct1, all.images);
    s[topk_name] = ratio(all.correctk, all.images);
    for (const auto& [label, t] : per)
      pc[label] = {{"images", t.images},
                   {"top1", ratio(t.correct1, t.images)},
                   {topk_name, ratio(t.correctk, t.images)}};
  }
  if (run.at("dataset").at("kind") == "cue-conflict")
    s["shape_bias"] =
        shape_bias_json(shape_bias(cue_conflict_trials(records, categories), categories), categories);
  s["failures"] = failures;
  return s;
}

// model-vs-human raw-data rows: trial = 1-based position in the whole dataset, so that merged
// shards give the rows of an unsharded run.
std::string trials_csv(const nlohmann::json& run, const std::vector<Record>& records) {
  const auto categories = categories_of(run);
  std::vector<TrialRow> rows;
  for (const auto& r : records) {
    if (!r.ok() || r.decision < 0) continue;
    TrialRow row;
    row.subj = run.at("model").get<std::string>();
    row.trial = std::to_string(r.position + 1);
    row.object_response = categories.at(static_cast<size_t>(r.decision));
    row.category = r.label;
    row.imagename = file_name_of(r.key);
    rows.push_back(std::move(row));
  }
  return format_trials_csv(rows);
}

// summary.json, the CSV (category datasets) and the records file when `records_text` is given.
std::vector<std::string> write_outputs(const std::string& dir, nlohmann::json header,
                                       const std::vector<Record>& records, const nlohmann::json& extra,
                                       RunOutput& out) {
  std::vector<std::string> files;
  const nlohmann::json& run = header.at("run");
  nlohmann::json s = {{"tool", header.value("tool", "bagnet-eval")},
                      {"model", header.at("model")},
                      {"dataset", run.at("dataset")},
                      {"shard", header.at("shard")},
                      {"topk", run.at("topk")}};
  s["dataset"]["source"] = header.value("source", "");
  s["dataset"].erase("classes");
  if (run.contains("mapping")) s["mapping"] = run["mapping"];
  s.update(summarize(header, records));
  s.update(extra);
  s["provenance"] = header.at("provenance");
  s["complete"] = records.size() == header.at("shard").at("images").get<size_t>();
  const fs::path d(dir);
  if (run.at("dataset").at("categorical").get<bool>()) {
    const std::string name = trials_csv_name(run.at("dataset").at("name"), run.at("model"));
    atomic_write((d / name).string(), trials_csv(run, records));
    s["trials_csv"] = name;
    files.push_back((d / name).string());
  }
  s["results"] = "results.jsonl";
  atomic_write((d / "summary.json").string(), summary_text(s));
  files.push_back((d / "summary.json").string());
  out.summary = s;
  out.failed = s["failed"].get<size_t>();
  return files;
}

}  // namespace

std::vector<CueConflictTrial> cue_conflict_trials(const std::vector<Record>& records,
                                                  const std::vector<std::string>& categories) {
  std::vector<CueConflictTrial> trials;
  for (const auto& r : records)
    if (r.ok() && !r.texture.empty() && r.decision >= 0)
      trials.push_back({r.label, r.texture, categories.at(static_cast<size_t>(r.decision))});
  return trials;
}

const CategoryMapping* mapping_for(const std::string& labels_key, int num_classes, const std::string& path,
                                   CategoryMapping& storage) {
  const CategoryMapping* m = nullptr;
  if (!path.empty()) {
    storage = load_category_mapping(path);
    m = &storage;
  } else if (labels_key == "imagenet") {
    m = &sixteen_class_mapping();
  }
  if (m && m->num_classes != num_classes)
    throw Error(m->path, "the mapping is for " + std::to_string(m->num_classes) + " classes, the model has " +
                             std::to_string(num_classes));
  return m;
}

RunOutput run_evaluation(Classifier& classifier, const std::string& model_name, const EvalDataset& d,
                         const CategoryMapping* mapping, const EvalOptions& o,
                         const std::string& output_dir) {
  if (d.categorical && !mapping)
    throw Error(d.source, "the dataset is labelled by categories, but model " + model_name +
                              " has no category mapping (give one with --mapping)");
  const Labels& labels = load_labels(find_model(model_name).labels);
  const nlohmann::json model = classifier.model_json(o.classify.no_resize);
  const auto positions = shard_positions(d.items.size(), o.shard_index, o.shard_count);
  const size_t batch = static_cast<size_t>(std::max(1, o.classify.batch_size));
  nlohmann::json header = {
      {"format", kResultsFormat},
      {"version", kResultsFormatVersion},
      {"tool", o.tool},
      {"run", run_identity(model, d, mapping, o)},
      {"shard", {{"index", o.shard_index}, {"count", o.shard_count}, {"images", positions.size()}}},
      {"batch_size", batch},
      {"source", d.source},
      {"model", model},
      {"provenance", provenance_json(o.tool, classifier.device(), runtime_threads())},
  };

  // One run per output folder and shard; then the folder exists and is writable.
  RunLockOptions lock_options;
  lock_options.shard_index = o.shard_index;
  lock_options.shard_count = o.shard_count;
  const RunLock lock(output_dir, o.tool, lock_options);
  install_interrupt_handlers();
  const std::string results_path = (fs::path(output_dir) / "results.jsonl").string();
  std::map<size_t, Record> done;
  if (fs::exists(results_path) && !o.overwrite) {
    ResultsFile previous = read_results(results_path);
    for (const char* field : {"run", "shard", "batch_size"}) {
      const auto diff = first_difference(previous.header.value(field, nlohmann::json()), header[field],
                                         std::string(field) + ".");
      if (!diff.empty())
        throw Error(results_path, "holds results of a different run (" + diff +
                                      " differs); use --overwrite to replace them, or another --output-dir");
    }
    header["provenance"] = previous.header["provenance"];  // the run started then
    header["resumed"] = previous.header.value("resumed", 0) + 1;
    const std::set<size_t> mine(positions.begin(), positions.end());
    for (auto& r : previous.records) {
      if (!mine.count(r.position) || d.items[r.position].key != r.key)
        throw Error(results_path, "record " + r.key + " does not belong to this shard of the dataset");
      if (!done.emplace(r.position, r).second)
        throw Error(results_path, "record " + r.key + " appears twice");
    }
    if (!done.empty())
      std::cerr << o.tool << ": resuming " << output_dir << ": " << done.size() << " of " << positions.size()
                << " images done\n";
    // The new header (resumed count) over the records as read; a torn last line is gone.
    std::string text = header.dump() + "\n";
    for (const auto& line : previous.lines) text += line + "\n";
    atomic_write(results_path, text);
  } else {
    atomic_write(results_path, header.dump() + "\n");
  }

  // Batches are fixed blocks of the shard (entries s with the same s / batch), and a block with
  // any image missing is run again in full: a resumed run computes every image in the same
  // batch as an uninterrupted one, so the numbers agree to the last bit.
  std::vector<size_t> todo;  // indices into `positions`
  for (size_t s = 0; s < positions.size(); s += batch) {
    const size_t end = std::min(positions.size(), s + batch);
    bool complete = true;
    for (size_t t = s; t < end; ++t) complete = complete && done.count(positions[t]);
    if (!complete)
      for (size_t t = s; t < end; ++t) todo.push_back(t);
  }

  ClassifyOptions copt = o.classify;
  copt.keep_probabilities = true;
  copt.progress_label = o.tool == "bagnet-eval" ? "eval " + d.name : d.name;
  copt.batch_group = [&](size_t i) { return todo[i] / batch; };
  const Preprocessing prep = classifier.preprocessing(o.classify.no_resize);
  const long long max_pixels = o.classify.max_pixels;
  copt.stop = [] { return interrupted(); };
  LineAppender out(results_path);  // disk full: the torn line is cut, OutputError ends the run
  classifier.classify(
      todo.size(), [&](size_t i) { return load_eval_item(d, d.items[positions[todo[i]]], prep, max_pixels); },
      copt,
      [&](const ImageResult& res) {
        const size_t position = positions[todo[res.index]];
        if (done.count(position)) return;  // recomputed only to keep its block's batch intact
        const EvalItem& item = d.items[position];
        Record r;
        r.position = position;
        r.key = item.key;
        r.label = item.label;
        r.target = item.target;
        r.category = item.category;
        r.texture = item.texture;
        r.error = res.error;
        if (res.ok()) {
          const TrialScore t = score_trial(res.probabilities, item.target, o.topk, mapping, o.aggregation);
          r.top = t.top;
          r.top_probability = t.top_probability;
          r.decision = t.category;
          r.category_scores = t.category_scores;
          r.correct1 = d.categorical ? t.category == item.category : t.correct1;
          r.correctk = d.categorical ? r.correct1 : t.correctk;
        } else {
          std::cerr << item.path << ": " << res.error << "\n";
        }
        out.append(record_json(r, labels, mapping).dump());
        done.emplace(position, std::move(r));
      });

  RunOutput result;
  if (interrupted()) {  // results.jsonl holds every finished image; no summary until complete
    result.interrupted = true;
    result.images = positions.size();
    for (auto& [p, r] : done) result.records.push_back(std::move(r));
    result.files.push_back(results_path);
    return result;
  }
  for (auto& [p, r] : done) result.records.push_back(std::move(r));
  result.files = write_outputs(output_dir, header, result.records, nlohmann::json::object(), result);
  result.files.insert(result.files.begin(), results_path);
  return result;
}

RunOutput merge_runs(const std::vector<std::string>& dirs, const std::string& output_dir) {
  if (dirs.empty()) throw Error("bagnet-merge", "no shard directories given");
  std::vector<ResultsFile> shards;
  std::vector<std::string> paths;
  for (const auto& dir : dirs) {
    paths.push_back((fs::path(dir) / "results.jsonl").string());
    if (!fs::exists(paths.back())) throw Error(dir, "no results.jsonl: not a bagnet-eval output directory");
    shards.push_back(read_results(paths.back()));
  }
  // read_results checked every header (index < count <= kMaxShards); the count is still not
  // trusted to size anything before the shards given are known to be that many.
  const nlohmann::json& run = shards[0].header["run"];
  const size_t count = shards[0].header["shard"]["count"].get<size_t>();
  auto shard_of = [&](size_t i, const char* field) { return shards[i].header["shard"][field].get<size_t>(); };
  std::map<size_t, size_t> seen;  // shard index -> position in `shards`
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto& h = shards[i].header;
    const auto diff = first_difference(run, h["run"], "run.");
    if (!diff.empty())
      throw Error(paths[i], "is not a shard of the same run as " + paths[0] + " (" + diff + " differs)");
    const size_t n = shard_of(i, "count"), index = shard_of(i, "index");
    if (n != count)
      throw Error(paths[i], "is shard " + std::to_string(index) + "/" + std::to_string(n) +
                                ", the others are of " + std::to_string(count));
    if (const auto it = seen.find(index); it != seen.end())
      throw Error(paths[i], "shard " + std::to_string(index) + " is also in " + paths[it->second]);
    seen.emplace(index, i);
    const size_t expected = shard_of(i, "images");
    if (shards[i].records.size() != expected)
      throw Error(paths[i], "incomplete: " + std::to_string(shards[i].records.size()) + " of " +
                                std::to_string(expected) + " images (resume that shard first)");
  }
  if (seen.size() != count) {
    // Name the first few missing shards; the count may be large.
    std::string missing;
    size_t listed = 0;
    for (size_t i = 0; i < count && listed < 10; ++i)
      if (!seen.count(i)) {
        missing += (missing.empty() ? "" : ", ") + std::to_string(i) + "/" + std::to_string(count);
        ++listed;
      }
    if (count - seen.size() > listed)
      missing += " and " + std::to_string(count - seen.size() - listed) + " more";
    throw Error("bagnet-merge", "missing shard(s) " + missing);
  }

  std::vector<std::pair<Record, std::string>> all;
  for (auto& s : shards)
    for (size_t i = 0; i < s.records.size(); ++i)
      all.emplace_back(std::move(s.records[i]), std::move(s.lines[i]));
  std::sort(all.begin(), all.end(),
            [](const auto& a, const auto& b) { return a.first.position < b.first.position; });
  for (size_t i = 1; i < all.size(); ++i)
    if (all[i].first.position == all[i - 1].first.position)
      throw Error("bagnet-merge", "image " + all[i].first.key + " is in two shards");

  nlohmann::json header = shards[0].header;
  header["shard"] = {{"index", 0}, {"count", 1}, {"images", all.size()}};
  header["merged_from"] = nlohmann::json::array();
  for (const auto& [index, i] : seen) {
    const auto& h = shards[i].header;
    header["merged_from"].push_back(
        {{"dir", dirs[i]}, {"shard", h["shard"]}, {"provenance", h["provenance"]}});
  }
  header["provenance"] = provenance_json("bagnet-merge", header["provenance"].value("device", ""),
                                         header["provenance"].value("threads", 0));
  header.erase("batch_size");
  const RunLock lock(output_dir, "bagnet-merge");
  std::string text = header.dump() + "\n";
  RunOutput result;
  for (auto& [r, line] : all) {
    text += line + "\n";
    result.records.push_back(std::move(r));
  }
  const std::string results_path = (fs::path(output_dir) / "results.jsonl").string();
  atomic_write(results_path, text);
  result.files = write_outputs(output_dir, header, result.records, {{"merged_shards", count}}, result);
  result.files.insert(result.files.begin(), results_path);
  return result;
}

}  // namespace bagnet::evaluation

namespace bagnet::evaluation {

std::string format_summary(const nlohmann::json& s) {
  auto num = [](const nlohmann::json& v) {
    if (!v.is_number()) return std::string("n/a");
    char b[32];
    std::snprintf(b, sizeof b, "%.4f", v.get<double>());
    return std::string(b);
  };
  std::ostringstream out;
  const auto& d = s.at("dataset");
  out << s.at("model").at("name").get<std::string>() << " on " << d.at("name").get<std::string>() << " ("
      << d.at("kind").get<std::string>() << ", " << s.at("evaluated") << " of " << s.at("images")
      << " images evaluated";
  if (s.at("shard").at("count").get<int>() > 1)
    out << ", shard " << s["shard"]["index"] << "/" << s["shard"]["count"];
  out << ")\n";
  if (s.contains("accuracy")) {
    out << "  16-class accuracy " << num(s["accuracy"]) << "\n";
  } else {
    out << "  top-1 " << num(s["top1"]);
    for (auto it = s.begin(); it != s.end(); ++it)
      if (it.key() != "top1" && it.key().rfind("top", 0) == 0 && it.key() != "topk" && it->is_number())
        out << "  " << it.key().substr(0, 3) << "-" << it.key().substr(3) << " " << num(*it);
    out << "\n";
  }
  if (s.contains("shape_bias")) {
    const auto& b = s["shape_bias"];
    out << "  shape bias " << num(b["shape_bias"]) << " (shape decisions " << num(b["shape_fraction"])
        << ", texture decisions " << num(b["texture_fraction"]) << " of " << b["trials"] << " trials; "
        << b["excluded_same_category"] << " same-category stimuli excluded)\n";
  }
  if (s.at("failed").get<size_t>() > 0) {
    out << "  " << s["failed"] << " unreadable images excluded:\n";
    for (const auto& f : s["failures"])
      out << "    " << f["key"].get<std::string>() << ": " << f["error"].get<std::string>() << "\n";
  }
  if (!s.value("complete", true)) out << "  INCOMPLETE: not every image has a result\n";
  return out.str();
}

}  // namespace bagnet::evaluation
