// The summaries of the image experiments, from records.jsonl's header and records alone (so a
// whole run, a resumed run and merged shards give the same numbers), and their text form.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <sstream>

#include "experiments/experiment.h"
#include "experiments/ops.h"
#include "lib/error.h"

namespace bagnet::experiments {

namespace {

nlohmann::json number_or_null(double v) {
  return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr);
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? std::nan("") : s / static_cast<double>(v.size());
}

// Linear interpolation between order statistics (numpy's default percentile).
double quantile(std::vector<double> v, double q) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const double at = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(at)), hi = std::min(v.size() - 1, lo + 1);
  return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

nlohmann::json numbers(const std::vector<double>& v) {
  nlohmann::json a = nlohmann::json::array();
  for (double x : v) a.push_back(number_or_null(x));
  return a;
}

double at(const nlohmann::json& values, const char* field, size_t v) {
  return values.at(field).at(v).get<double>();
}

nlohmann::json masking_model(const std::vector<const nlohmann::json*>& values, int k) {
  const size_t K = static_cast<size_t>(k);
  nlohmann::json m = {{"k", nlohmann::json::array()}, {"images", values.size()}};
  for (size_t i = 0; i <= K; ++i) m["k"].push_back(i);
  std::map<std::string, std::vector<double>> area;
  for (const char* field : {"logit", "probability", "correct"}) {
    const std::string name = std::string(field) == "correct" ? "top1" : field;
    std::vector<double> guided(K + 1), random(K + 1), diff(K + 1);
    for (size_t i = 0; i <= K; ++i) {
      std::vector<double> g, r;
      for (const auto* v : values) {
        g.push_back(at(*v, field, i));
        r.push_back(at(*v, field, i == 0 ? 0 : K + i));
      }
      guided[i] = mean(g);
      random[i] = mean(r);
      diff[i] = random[i] - guided[i];
    }
    m["guided"][name] = numbers(guided);
    m["random"][name] = numbers(random);
    m["area_random_minus_guided"][name] = number_or_null(trapezoid_area(diff));
  }
  return m;
}

nlohmann::json interactions_model(const std::vector<const nlohmann::json*>& values, int pairs) {
  std::vector<double> joint, sum, diff, abs_joint, abs_sum, abs_diff;
  for (const auto* v : values)
    for (int p = 0; p < pairs; ++p) {
      const size_t a = 1 + 3 * static_cast<size_t>(p);
      const double l0 = at(*v, "logit", 0);
      const double da = at(*v, "logit", a) - l0, db = at(*v, "logit", a + 1) - l0,
                   dab = at(*v, "logit", a + 2) - l0;
      joint.push_back(dab);
      sum.push_back(da + db);
      diff.push_back(dab - (da + db));
      abs_joint.push_back(std::abs(dab));
      abs_sum.push_back(std::abs(da + db));
      abs_diff.push_back(std::abs(dab - (da + db)));
    }
  const double mj = mean(abs_joint);
  return {
      {"images", values.size()},
      {"pairs", joint.size()},
      {"pearson", number_or_null(pearson(joint, sum))},
      {"spearman", number_or_null(spearman(joint, sum))},
      {"mean_joint_change", number_or_null(mean(joint))},
      {"mean_sum_of_changes", number_or_null(mean(sum))},
      {"mean_abs_joint_change", number_or_null(mj)},
      {"mean_abs_difference", number_or_null(mean(abs_diff))},
      {"max_abs_difference",
       number_or_null(abs_diff.empty() ? std::nan("") : *std::max_element(abs_diff.begin(), abs_diff.end()))},
      {"relative_difference", number_or_null(mean(abs_diff) / mj)},
      {"difference_quantiles",
       {{"p05", number_or_null(quantile(diff, 0.05))},
        {"p25", number_or_null(quantile(diff, 0.25))},
        {"p50", number_or_null(quantile(diff, 0.5))},
        {"p75", number_or_null(quantile(diff, 0.75))},
        {"p95", number_or_null(quantile(diff, 0.95))}}}};
}

nlohmann::json scrambling_model(const std::vector<const nlohmann::json*>& values,
                                const nlohmann::json& grids) {
  nlohmann::json m = {{"grids", grids}, {"images", values.size()}};
  std::vector<double> top1, logit, change, relative, scale;
  for (const auto* v : values) scale.push_back(v->at("mean_abs_logit").get<double>());
  std::vector<double> orig;
  for (const auto* v : values) orig.push_back(at(*v, "correct", 0));
  for (size_t g = 0; g < grids.size(); ++g) {
    std::vector<double> c, l, ch;
    for (const auto* v : values) {
      c.push_back(at(*v, "correct", g + 1));
      l.push_back(at(*v, "logit", g + 1));
      ch.push_back(at(*v, "change", g + 1));
    }
    top1.push_back(mean(c));
    logit.push_back(mean(l));
    change.push_back(mean(ch));
    relative.push_back(mean(ch) / mean(scale));
  }
  m["top1_original"] = number_or_null(mean(orig));
  m["mean_abs_logit"] = number_or_null(mean(scale));
  m["top1"] = numbers(top1);
  m["mean_true_logit"] = numbers(logit);
  m["mean_abs_logit_change"] = numbers(change);
  m["relative_logit_change"] = numbers(relative);
  return m;
}

std::string fixed(const nlohmann::json& v, int decimals = 4) {
  if (!v.is_number()) return "n/a";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", decimals, v.get<double>());
  return b;
}

std::string row(const nlohmann::json& a, int decimals = 4) {
  std::string s;
  for (const auto& v : a) s += (s.empty() ? "" : " ") + fixed(v, decimals);
  return s;
}

}  // namespace

nlohmann::json summarize(const nlohmann::json& header, const std::vector<nlohmann::json>& records) {
  try {
    const nlohmann::json& run = header.at("run");
    const std::string ex = run.at("experiment");
    const nlohmann::json& params = run.at("parameters");
    nlohmann::json s = {{"experiment", ex},
                        {"tool", header.value("tool", "bagnet-experiment")},
                        {"parameters", params},
                        {"dataset", run.at("dataset")},
                        {"shard", header.at("shard")},
                        {"images", records.size()}};
    s["dataset"]["source"] = header.value("source", "");
    if (header.contains("map_model")) s["map_model"] = header["map_model"];
    nlohmann::json failures = nlohmann::json::array();
    std::vector<const nlohmann::json*> ok;
    for (const auto& r : records) {
      if (r.contains("error"))
        failures.push_back({{"key", r.at("key")}, {"error", r.at("error")}});
      else
        ok.push_back(&r);
    }
    s["evaluated"] = ok.size();
    s["failed"] = failures.size();
    s["models"] = nlohmann::json::object();
    const auto& models = run.at("models");
    for (size_t mi = 0; mi < models.size(); ++mi) {
      const std::string key = models[mi].at("key");
      std::vector<const nlohmann::json*> values;
      for (const auto* r : ok) values.push_back(&r->at("models").at(key));
      nlohmann::json m;
      if (ex == "masking")
        m = masking_model(values, params.at("k").get<int>());
      else if (ex == "interactions")
        m = interactions_model(values, params.at("pairs").get<int>());
      else
        m = scrambling_model(values, params.at("grids"));
      m["model"] = header.at("models").at(mi);
      s["models"][key] = m;
    }
    if (ex == "masking") {
      const int k = params.at("k").get<int>();
      for (const char* kind : {"guided", "random"}) {
        std::vector<double> f;
        for (int i = 0; i <= k; ++i) {
          std::vector<double> v;
          for (const auto* r : ok)
            v.push_back(r->at("masked_pixels").at(kind).at(i).get<double>() / r->at("pixels").get<double>());
          f.push_back(mean(v));
        }
        s["masked_fraction"][kind] = numbers(f);
      }
    }
    s["failures"] = failures;
    if (header.contains("merged_from")) s["merged_shards"] = header["merged_from"].size();
    s["provenance"] = header.at("provenance");
    s["complete"] = records.size() == header.at("shard").at("images").get<size_t>();
    return s;
  } catch (const nlohmann::json::exception& e) {
    throw Error("records.jsonl", std::string("malformed records: ") + e.what());
  }
}

std::string format_summary(const nlohmann::json& s) {
  std::ostringstream out;
  const std::string ex = s.at("experiment");
  out << ex;
  if (s.contains("dataset")) {
    const auto& d = s["dataset"];
    out << " on " << d.value("name", std::string("?"));
  }
  if (s.contains("evaluated")) out << " (" << s["evaluated"] << " of " << s["images"] << " images)";
  out << "\n";
  for (auto it = s.at("models").begin(); it != s.at("models").end(); ++it) {
    const auto& m = *it;
    out << "  " << it.key() << ":";
    if (ex == "masking") {
      out << "\n    guided top-1 " << row(m["guided"]["top1"]) << "\n    random top-1 "
          << row(m["random"]["top1"]) << "\n    guided logit " << row(m["guided"]["logit"])
          << "\n    random logit " << row(m["random"]["logit"]) << "\n    area random - guided: logit "
          << fixed(m["area_random_minus_guided"]["logit"]) << ", probability "
          << fixed(m["area_random_minus_guided"]["probability"]) << ", top-1 "
          << fixed(m["area_random_minus_guided"]["top1"]) << "\n";
    } else if (ex == "interactions") {
      out << " " << m["pairs"] << " pairs, Pearson " << fixed(m["pearson"]) << ", mean |joint - sum| "
          << fixed(m["mean_abs_difference"], 6) << " (max " << fixed(m["max_abs_difference"], 6)
          << "), mean |joint| " << fixed(m["mean_abs_joint_change"]) << "\n";
    } else if (ex == "scrambling") {
      out << " original top-1 " << fixed(m["top1_original"]) << "\n    grids " << row(m["grids"], 0)
          << "\n    top-1 " << row(m["top1"]) << "\n    relative logit change "
          << row(m["relative_logit_change"]) << "\n";
    } else if (ex == "errors") {
      out << " accuracy " << fixed(m["accuracy"]) << " on " << m["images"] << " images\n";
    }
  }
  if (ex == "errors")
    for (const auto& p : s.at("pairs"))
      out << "  " << p["name_a"].get<std::string>() << " vs " << p["name_b"].get<std::string>()
          << ": per-class accuracy Pearson " << fixed(p["pearson"]) << ", Spearman " << fixed(p["spearman"])
          << " (" << p["classes"] << " classes); Cohen's kappa " << fixed(p["kappa"]) << "\n";
  if (s.value("failed", 0) > 0) {
    out << "  " << s["failed"] << " images failed:\n";
    for (const auto& f : s["failures"])
      out << "    " << f["key"].get<std::string>() << ": " << f["error"].get<std::string>() << "\n";
  }
  if (!s.value("complete", true)) out << "  INCOMPLETE: not every image has a record\n";
  return out.str();
}

}  // namespace bagnet::experiments
