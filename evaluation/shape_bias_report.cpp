#include "evaluation/shape_bias_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "evaluation/trials_csv.h"
#include "figures/plots.h"

namespace fs = std::filesystem;

namespace bagnet::evaluation {

bool is_human_observer(const std::string& subj) { return subj.rfind("subject-", 0) == 0; }

std::vector<ShapeBiasEntry> entries_from_csv(const std::vector<std::string>& files,
                                             const std::vector<std::string>& categories,
                                             std::vector<ShapeBiasEntry>& observers) {
  std::map<std::string, std::vector<CueConflictTrial>> trials;
  std::map<std::string, std::vector<std::string>> sources;
  std::vector<std::string> order;
  for (const auto& f : files) {
    const auto rows = read_trials_csv(f);
    const auto parsed = cue_conflict_trials(rows, categories);
    for (size_t i = 0; i < rows.size(); ++i) {
      const std::string& subj = rows[i].subj;
      if (!trials.count(subj)) order.push_back(subj);
      trials[subj].push_back(parsed[i]);
      auto& s = sources[subj];
      if (s.empty() || s.back() != f) s.push_back(f);
    }
  }
  std::vector<ShapeBiasEntry> out;
  ShapeBiasEntry humans;
  humans.name = humans.kind = "humans";
  std::vector<CueConflictTrial> pooled;
  for (const auto& subj : order) {
    ShapeBiasEntry e;
    e.name = subj;
    e.kind = "csv";
    e.sources = sources[subj];
    e.result = shape_bias(trials[subj], categories);
    if (is_human_observer(subj)) {
      pooled.insert(pooled.end(), trials[subj].begin(), trials[subj].end());
      humans.sources.insert(humans.sources.end(), sources[subj].begin(), sources[subj].end());
      e.kind = "observer";
      observers.push_back(std::move(e));
    } else {
      out.push_back(std::move(e));
    }
  }
  if (!observers.empty()) {
    humans.result = shape_bias(pooled, categories);
    humans.extra["observers"] = observers.size();
    out.insert(out.begin(), std::move(humans));
  }
  return out;
}

ShapeBiasEntry entry_from_run(const std::string& name, const std::vector<Record>& records,
                              const std::vector<std::string>& categories) {
  ShapeBiasEntry e;
  e.name = name;
  e.kind = "model";
  e.result = shape_bias(cue_conflict_trials(records, categories), categories);
  return e;
}

std::vector<std::string> figure_order(const std::vector<ShapeBiasEntry>& entries,
                                      const std::vector<std::string>& categories) {
  std::vector<size_t> idx(categories.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  const auto humans = std::find_if(entries.begin(), entries.end(),
                                   [](const ShapeBiasEntry& e) { return e.kind == "humans"; });
  if (humans != entries.end()) {
    auto key = [&](size_t c) {
      const double v = humans->result.per_category[c].shape_bias();
      return std::isnan(v) ? -1.0 : v;
    };
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return key(a) > key(b); });
  }
  std::vector<std::string> out;
  for (size_t i : idx) out.push_back(categories[i]);
  return out;
}

nlohmann::json report_json(const std::vector<ShapeBiasEntry>& entries,
                           const std::vector<ShapeBiasEntry>& observers,
                           const std::vector<std::string>& categories) {
  nlohmann::json j = {{"categories", categories}, {"decision_makers", nlohmann::json::array()}};
  auto entry = [&](const ShapeBiasEntry& e) {
    nlohmann::json x = {{"name", e.name}, {"kind", e.kind}, {"sources", e.sources}};
    x["shape_bias"] = shape_bias_json(e.result, categories);
    x.update(e.extra);
    return x;
  };
  for (const auto& e : entries) j["decision_makers"].push_back(entry(e));
  if (!observers.empty()) {
    auto& o = j["human_observers"] = nlohmann::json::array();
    for (const auto& e : observers) o.push_back(entry(e));
  }
  return j;
}

std::string report_text(const std::vector<ShapeBiasEntry>& entries,
                        const std::vector<ShapeBiasEntry>& observers) {
  std::string out;
  char line[256];
  auto row = [&](const ShapeBiasEntry& e, const std::string& indent) {
    const auto& c = e.result.overall;
    std::string acc;
    for (const char* k : {"edge_accuracy", "silhouette_accuracy"})
      if (e.extra.contains(k) && e.extra[k].is_number()) {
        char b[48];
        std::snprintf(b, sizeof b, "  %s %.4f", k, e.extra[k].get<double>());
        acc += b;
      }
    std::snprintf(line, sizeof line, "%s%-26s shape bias %.4f  (shape %.4f, texture %.4f of %ld trials)",
                  indent.c_str(), e.name.c_str(), c.shape_bias(), c.shape_fraction(), c.texture_fraction(),
                  c.trials);
    out += line + acc + "\n";
  };
  for (const auto& e : entries) {
    row(e, "");
    if (e.kind == "humans")
      for (const auto& o : observers) row(o, "  ");
  }
  return out;
}

std::vector<std::string> write_shape_bias_figures(const std::string& dir,
                                                  const std::vector<ShapeBiasEntry>& entries,
                                                  const std::vector<std::string>& categories) {
  const auto order = figure_order(entries, categories);
  std::vector<figures::ShapeBiasSeries> series;
  for (const auto& e : entries) {
    figures::ShapeBiasSeries s;
    s.name = e.name;
    s.human = e.kind == "humans" || e.kind == "observer";
    for (const auto& c : order) {
      const size_t i =
          static_cast<size_t>(std::find(categories.begin(), categories.end(), c) - categories.begin());
      s.per_category.push_back(e.result.per_category[i].shape_bias());
    }
    s.overall = e.result.overall.shape_bias();
    if (std::isnan(s.overall)) continue;  // no shape or texture decision at all: nothing to draw
    series.push_back(std::move(s));
  }
  std::vector<std::string> files;
  for (const char* ext : {".svg", ".pdf", ".png"}) {
    files.push_back((fs::path(dir) / (std::string("shape_bias") + ext)).string());
    figures::write_shape_bias_figure(files.back(), order, series);
  }
  return files;
}

}  // namespace bagnet::evaluation
