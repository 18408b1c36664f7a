// Error distribution (Brendel & Bethge, ICLR 2019, section 5): do two models find the same
// classes hard? Per-class accuracies of bagnet-eval runs on the same data, correlated between
// models (Pearson, Spearman), beside the trial-by-trial error consistency (Cohen's kappa) that
// bagnet-compare computes (evaluation/compare.h).
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>

#include "evaluation/compare.h"
#include "evaluation/results_file.h"
#include "experiments/experiment.h"
#include "experiments/ops.h"
#include "figures/plots.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"

namespace fs = std::filesystem;

namespace bagnet::experiments {

namespace {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

struct EvalRunData {
  std::string key, path;
  nlohmann::json header;
  std::map<std::string, std::pair<long, long>> per_class;  // label -> (correct, images)
  long correct = 0, images = 0;
};

std::string results_path(const std::string& run) {
  std::error_code ec;
  return fs::is_directory(run, ec) ? (fs::path(run) / "results.jsonl").string() : run;
}

}  // namespace

ExperimentOutput correlate_errors(const std::vector<std::string>& runs, const std::string& output_dir,
                                  const std::string& figure) {
  if (runs.size() < 2) throw Error("errors", "give two or more bagnet-eval run folders");
  std::vector<EvalRunData> data;
  std::map<std::string, int> copies;
  std::vector<evaluation::DecisionMaker> makers;
  for (const auto& run : runs) {
    EvalRunData e;
    e.path = results_path(run);
    if (!fs::exists(e.path)) throw Error(run, "no results.jsonl: not a bagnet-eval output folder");
    const evaluation::ResultsFile f = evaluation::read_results(e.path);
    e.header = f.header;
    const size_t expected = f.header["shard"]["images"].get<size_t>();
    if (f.header["shard"]["count"].get<size_t>() != 1)
      throw Error(e.path, "is one shard of a run: merge the shards first (bagnet-merge)");
    if (f.records.size() != expected)
      throw Error(e.path, "incomplete: " + std::to_string(f.records.size()) + " of " +
                              std::to_string(expected) + " images (resume the run first)");
    const std::string model = f.header["run"]["model"].get<std::string>();
    const int n = ++copies[model];
    e.key = n == 1 ? model : model + "#" + std::to_string(n);
    for (const auto& r : f.records) {
      if (!r.ok()) continue;
      auto& c = e.per_class[r.label];
      c.first += r.correct1;
      ++c.second;
      e.correct += r.correct1;
      ++e.images;
    }
    if (!data.empty() &&
        f.header["run"]["dataset"]["fingerprint"] != data[0].header["run"]["dataset"]["fingerprint"])
      throw Error(e.path,
                  "is a run on other data than " + data[0].path + " (the dataset fingerprints differ)");
    auto m = evaluation::load_decision_makers(e.path);
    m[0].name = e.key;
    makers.push_back(std::move(m[0]));
    data.push_back(std::move(e));
  }
  const nlohmann::json comparison = evaluation::compare(makers);

  // Classes every run has, in the dataset's order.
  std::vector<std::string> classes;
  for (const auto& [label, c] : data[0].per_class) {
    bool everywhere = true;
    for (const auto& e : data) everywhere = everywhere && e.per_class.count(label);
    if (everywhere) classes.push_back(label);
  }
  auto accuracies = [&](const EvalRunData& e) {
    std::vector<double> v;
    for (const auto& c : classes) {
      const auto& t = e.per_class.at(c);
      v.push_back(static_cast<double>(t.first) / static_cast<double>(t.second));
    }
    return v;
  };

  nlohmann::json s = {{"experiment", "errors"},
                      {"tool", "bagnet-experiment"},
                      {"dataset", data[0].header["run"]["dataset"]},
                      {"classes", classes.size()},
                      {"models", nlohmann::json::object()},
                      {"pairs", nlohmann::json::array()}};
  s["dataset"].erase("classes");
  s["dataset"]["source"] = data[0].header.value("source", "");
  for (const auto& e : data) {
    nlohmann::json pc = nlohmann::json::object();
    for (const auto& [label, t] : e.per_class)
      pc[label] = static_cast<double>(t.first) / static_cast<double>(t.second);
    s["models"][e.key] = {{"accuracy", e.images ? static_cast<double>(e.correct) / e.images : 0.0},
                          {"images", e.images},
                          {"per_class", pc},
                          {"results", e.path},
                          {"model", e.header["model"]}};
  }
  figures::MatrixFigure fig;
  fig.title = "per-class accuracy Pearson r (upper) / Cohen's kappa (lower)";
  for (const auto& e : data) fig.names.push_back(e.key);
  fig.values.assign(data.size(), std::vector<double>(data.size(), std::numeric_limits<double>::quiet_NaN()));
  const auto& kappas = comparison["pairs"];
  size_t pair = 0;
  for (size_t a = 0; a < data.size(); ++a)
    for (size_t b = a + 1; b < data.size(); ++b, ++pair) {
      const auto xa = accuracies(data[a]), xb = accuracies(data[b]);
      const double r = pearson(xa, xb), rho = spearman(xa, xb);
      nlohmann::json p = {{"a", a},
                          {"b", b},
                          {"name_a", data[a].key},
                          {"name_b", data[b].key},
                          {"classes", classes.size()},
                          {"pearson", number_or_null(r)},
                          {"spearman", number_or_null(rho)}};
      const auto& k = kappas.at(pair);
      for (const char* field : {"trials", "observed_agreement", "expected_agreement", "kappa"})
        p[field] = k.at(field);
      s["pairs"].push_back(p);
      fig.values[a][b] = r;
      fig.values[b][a] =
          k.at("kappa").is_null() ? std::numeric_limits<double>::quiet_NaN() : k["kappa"].get<double>();
    }
  s["provenance"] = provenance_json("bagnet-experiment", "", 0);

  const RunLock lock(output_dir, "bagnet-experiment errors");
  ExperimentOutput out;
  const fs::path dir(output_dir);
  std::string lines = nlohmann::json{{"format", "bagnet-experiment classes"},
                                     {"version", 1},
                                     {"runs", runs},
                                     {"provenance", s["provenance"]}}
                          .dump() +
                      "\n";
  for (size_t c = 0; c < classes.size(); ++c) {
    nlohmann::json line = {
        {"class", classes[c]}, {"accuracy", nlohmann::json::object()}, {"images", nlohmann::json::object()}};
    for (const auto& e : data) {
      const auto& t = e.per_class.at(classes[c]);
      line["accuracy"][e.key] = static_cast<double>(t.first) / static_cast<double>(t.second);
      line["images"][e.key] = t.second;
    }
    lines += line.dump() + "\n";
  }
  const std::string classes_path = (dir / "classes.jsonl").string();
  atomic_write(classes_path, lines);
  const std::string fig_path = figure.empty() ? (dir / "errors.svg").string() : figure;
  figures::write_matrix_figure(fig_path, fig);
  s["figure"] = fs::path(fig_path).filename().string();
  s["figure_path"] = fig_path;
  s["records"] = "classes.jsonl";
  s["complete"] = true;
  const std::string summary_path = (dir / "summary.json").string();
  atomic_write(summary_path, s.dump(2) + "\n");
  out.summary = s;
  out.images = out.done = classes.size();
  out.files = {classes_path, summary_path, fig_path};
  return out;
}

}  // namespace bagnet::experiments
