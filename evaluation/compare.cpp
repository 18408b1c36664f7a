#include "evaluation/compare.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "evaluation/evaluate.h"
#include "evaluation/metrics.h"
#include "evaluation/trials_csv.h"
#include "lib/error.h"

namespace fs = std::filesystem;

namespace bagnet::evaluation {

namespace {

std::string image_id(const std::string& name) { return stimulus_name(fs::path(name).filename().string()); }

void add(DecisionMaker& m, const std::string& image, bool correct, const std::string& where) {
  if (!m.correct.emplace(image_id(image), correct).second)
    throw Error(where, "image " + image_id(image) + " appears twice for " + m.name);
}

// The same reader as resume and bagnet-merge: every field is checked, errors name file:line.
std::vector<DecisionMaker> from_results(const std::string& path) {
  const ResultsFile f = read_results(path);
  DecisionMaker m;
  m.name = f.header["run"]["model"].get<std::string>();
  m.source = path;
  for (size_t i = 0; i < f.records.size(); ++i) {
    const Record& r = f.records[i];
    // Unreadable images have no decision. Records are lines 2, 3, ... of the file.
    if (r.ok()) add(m, r.key, r.correct1, path + ":" + std::to_string(i + 2));
  }
  return {m};
}

std::vector<DecisionMaker> from_csv(const std::string& path) {
  std::vector<DecisionMaker> out;
  std::map<std::string, size_t> index;
  for (const auto& row : read_trials_csv(path)) {
    auto it = index.find(row.subj);
    if (it == index.end()) {
      it = index.emplace(row.subj, out.size()).first;
      out.push_back({row.subj, path, {}});
    }
    add(out[it->second], row.imagename, row.object_response == row.category, row.origin);
  }
  if (out.empty()) throw Error(path, "no trials");
  return out;
}

nlohmann::json number_or_null(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

}  // namespace

std::vector<DecisionMaker> load_decision_makers(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const auto results = fs::path(path) / "results.jsonl";
    if (!fs::exists(results)) throw Error(path, "directory without results.jsonl (not a bagnet-eval output)");
    return from_results(results.string());
  }
  if (!fs::exists(path, ec)) throw Error(path, "no such file");
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".jsonl" || ext == ".json") return from_results(path);
  if (ext == ".csv") return from_csv(path);
  throw Error(path, "expected a bagnet-eval results.jsonl (or its directory) or a model-vs-human .csv");
}

nlohmann::json compare(const std::vector<DecisionMaker>& makers) {
  nlohmann::json out = {{"decision_makers", nlohmann::json::array()}, {"pairs", nlohmann::json::array()}};
  for (const auto& m : makers) {
    long right = 0;
    for (const auto& [image, c] : m.correct) right += c;
    out["decision_makers"].push_back(
        {{"name", m.name},
         {"source", m.source},
         {"trials", m.correct.size()},
         {"accuracy", m.correct.empty() ? 0.0 : double(right) / m.correct.size()}});
  }
  for (size_t a = 0; a < makers.size(); ++a)
    for (size_t b = a + 1; b < makers.size(); ++b) {
      std::vector<bool> ca, cb;
      for (const auto& [image, c] : makers[a].correct) {
        const auto it = makers[b].correct.find(image);
        if (it == makers[b].correct.end()) continue;
        ca.push_back(c);
        cb.push_back(it->second);
      }
      if (ca.empty())
        throw Error(makers[b].source,
                    makers[a].name + " (" + makers[a].source + ") and " + makers[b].name + " share no image");
      const ErrorConsistency e = error_consistency(ca, cb);
      out["pairs"].push_back({{"a", a},
                              {"b", b},
                              {"name_a", makers[a].name},
                              {"name_b", makers[b].name},
                              {"trials", e.trials},
                              {"accuracy_a", e.accuracy1},
                              {"accuracy_b", e.accuracy2},
                              {"observed_agreement", e.observed},
                              {"expected_agreement", e.expected},
                              {"kappa", number_or_null(e.kappa)}});
    }
  return out;
}

figures::MatrixFigure kappa_matrix(const nlohmann::json& comparison) {
  figures::MatrixFigure f;
  f.title = "error consistency (Cohen's kappa)";
  for (const auto& m : comparison.at("decision_makers")) f.names.push_back(m.at("name").get<std::string>());
  const size_t n = f.names.size();
  f.values.assign(n, std::vector<double>(n, std::numeric_limits<double>::quiet_NaN()));
  for (const auto& p : comparison.at("pairs")) {
    const size_t a = p.at("a"), b = p.at("b");
    const double k =
        p.at("kappa").is_null() ? std::numeric_limits<double>::quiet_NaN() : p["kappa"].get<double>();
    f.values[a][b] = f.values[b][a] = k;
  }
  return f;
}

}  // namespace bagnet::evaluation
