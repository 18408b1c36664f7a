#include "reports/experiment_report.h"

#include <filesystem>

#include "lib/error.h"
#include "lib/files.h"
#include "reports/html.h"

namespace fs = std::filesystem;

namespace bagnet::reports {

namespace {

using Cell = std::pair<std::string, std::string>;

Cell number_cell(const nlohmann::json& v, int decimals = 4) {
  return {format_number(v, decimals), v.is_number() ? format_number(v, 9) : "-1e300"};
}

Cell text_cell(const std::string& s) { return {escape_html(s), s}; }

// "0.91 0.80 0.62": a curve in one cell, sorting by its last value.
Cell curve_cell(const nlohmann::json& a, int decimals = 3) {
  std::string s;
  for (const auto& v : a) s += (s.empty() ? "" : " ") + format_number(v, decimals);
  const nlohmann::json last = a.is_array() && !a.empty() ? a.back() : nlohmann::json();
  return {"<span class=\"curve\">" + escape_html(s) + "</span>",
          last.is_number() ? format_number(last, 9) : "-1e300"};
}

Table models_table(const std::string& ex, const nlohmann::json& models) {
  Table t;
  if (ex == "masking") {
    t.head = {"model",        "images",     "top-1 guided (k = 0..K)", "top-1 random", "logit guided",
              "logit random", "area top-1", "area probability",        "area logit"};
    t.numeric = {false, true, true, true, true, true, true, true, true};
  } else if (ex == "interactions") {
    t.head = {"model",
              "pairs",
              "Pearson r",
              "Spearman",
              "mean |joint|",
              "mean |joint - sum|",
              "max |joint - sum|",
              "relative difference"};
    t.numeric = {false, true, true, true, true, true, true, true};
  } else if (ex == "scrambling") {
    t.head = {"model", "images", "top-1 original", "grids g", "top-1 per g", "relative logit change per g"};
    t.numeric = {false, true, true, false, true, true};
  } else {
    t.head = {"model", "images", "accuracy"};
    t.numeric = {false, true, true};
  }
  for (auto it = models.begin(); it != models.end(); ++it) {
    const nlohmann::json& m = *it;
    std::vector<Cell> row = {text_cell(it.key())};
    if (ex == "masking") {
      const auto area = m.value("area_random_minus_guided", nlohmann::json::object());
      row.push_back(number_cell(m.value("images", nlohmann::json()), 0));
      row.push_back(curve_cell(m["guided"]["top1"]));
      row.push_back(curve_cell(m["random"]["top1"]));
      row.push_back(curve_cell(m["guided"]["logit"], 2));
      row.push_back(curve_cell(m["random"]["logit"], 2));
      row.push_back(number_cell(area.value("top1", nlohmann::json())));
      row.push_back(number_cell(area.value("probability", nlohmann::json())));
      row.push_back(number_cell(area.value("logit", nlohmann::json())));
    } else if (ex == "interactions") {
      row.push_back(number_cell(m.value("pairs", nlohmann::json()), 0));
      for (const char* f : {"pearson", "spearman", "mean_abs_joint_change"})
        row.push_back(number_cell(m.value(f, nlohmann::json())));
      for (const char* f : {"mean_abs_difference", "max_abs_difference"})
        row.push_back(number_cell(m.value(f, nlohmann::json()), 6));
      row.push_back(number_cell(m.value("relative_difference", nlohmann::json())));
    } else if (ex == "scrambling") {
      row.push_back(number_cell(m.value("images", nlohmann::json()), 0));
      row.push_back(number_cell(m.value("top1_original", nlohmann::json())));
      row.push_back(curve_cell(m.value("grids", nlohmann::json::array()), 0));
      row.push_back(curve_cell(m.value("top1", nlohmann::json::array())));
      row.push_back(curve_cell(m.value("relative_logit_change", nlohmann::json::array())));
    } else {
      row.push_back(number_cell(m.value("images", nlohmann::json()), 0));
      row.push_back(number_cell(m.value("accuracy", nlohmann::json())));
    }
    t.rows.push_back(row);
  }
  return t;
}

// The errors experiment: one table of model pairs, one of per-class accuracies.
std::string errors_tables(const nlohmann::json& s) {
  Table pairs;
  pairs.head = {"model A",  "model B", "classes",       "Pearson r",
                "Spearman", "images",  "Cohen's kappa", "observed agreement"};
  pairs.numeric = {false, false, true, true, true, true, true, true};
  for (const auto& p : s.value("pairs", nlohmann::json::array()))
    pairs.rows.push_back({text_cell(p.value("name_a", "")), text_cell(p.value("name_b", "")),
                          number_cell(p.value("classes", nlohmann::json()), 0),
                          number_cell(p.value("pearson", nlohmann::json())),
                          number_cell(p.value("spearman", nlohmann::json())),
                          number_cell(p.value("trials", nlohmann::json()), 0),
                          number_cell(p.value("kappa", nlohmann::json())),
                          number_cell(p.value("observed_agreement", nlohmann::json()))});
  Table classes;
  classes.head = {"class"};
  classes.numeric = {false};
  const auto& models = s.at("models");
  for (auto it = models.begin(); it != models.end(); ++it) {
    classes.head.push_back(it.key());
    classes.numeric.push_back(true);
  }
  if (!models.empty())
    for (auto c = models.begin()->at("per_class").begin(); c != models.begin()->at("per_class").end(); ++c) {
      std::vector<Cell> row = {text_cell(c.key())};
      for (auto it = models.begin(); it != models.end(); ++it)
        row.push_back(number_cell(it->at("per_class").value(c.key(), nlohmann::json())));
      classes.rows.push_back(row);
    }
  return "<h2>Pairs of models</h2>\n" + sortable_table("pairs", pairs) + "<h2>Accuracy per class</h2>\n" +
         sortable_table("per-class", classes);
}

}  // namespace

ReportOutput write_experiment_report(const std::string& output_dir) {
  const fs::path dir(output_dir);
  const std::string path = (dir / "summary.json").string();
  nlohmann::json s;
  try {
    s = nlohmann::json::parse(read_file(path, "cannot open (the run is not complete: resume it first)"));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, std::string("not JSON: ") + e.what());
  }
  if (!s.is_object() || !s.contains("experiment") || !s.contains("models") || !s["models"].is_object())
    throw Error(path, "not a bagnet-experiment summary (no experiment or models)");
  const std::string ex = s["experiment"].get<std::string>();

  Page page;
  page.title = "Experiment: " + ex;
  const nlohmann::json d = s.value("dataset", nlohmann::json::object());
  page.subtitle = std::to_string(s["models"].size()) + " model(s) on " + d.value("name", std::string("?")) +
                  " (" + d.value("kind", std::string()) + ", " + d.value("source", std::string()) + ")";
  std::string body = "<div class=\"stats\">";
  body += stat_box(std::to_string(s["models"].size()), "models");
  if (ex == "errors")
    body += stat_box(std::to_string(s.value("classes", 0)), "classes");
  else
    body += stat_box(std::to_string(s.value("evaluated", 0)), "images");
  if (s.value("failed", 0) > 0) body += stat_box(std::to_string(s.value("failed", 0)), "could not be used");
  if (s.contains("merged_shards"))
    body += stat_box(std::to_string(s.value("merged_shards", 0)), "shards merged");
  body += "</div>\n";
  const std::string figure = s.value("figure_path", std::string());
  if (!figure.empty() && fs::exists(figure))
    body += "<figure><img class=\"experiment-figure\" alt=\"" + escape_html(ex) + " figure\" src=\"" +
            escape_html(relative_url(figure, dir.string())) + "\"></figure>\n";
  if (ex == "errors") {
    body += errors_tables(s);
  } else {
    body += "<h2>Models</h2>\n<p class=\"note\">Click a column to sort.</p>\n" +
            sortable_table("models", models_table(ex, s["models"]));
  }
  body += "<h2>Parameters</h2>\n<pre>" +
          escape_html(s.value("parameters", nlohmann::json::object()).dump(2)) + "</pre>\n";
  const auto failures = s.value("failures", nlohmann::json::array());
  if (!failures.empty()) {
    body += "<h2>Images that could not be used (" + std::to_string(failures.size()) +
            ")</h2>\n<table class=\"data\"><thead><tr><th>image</th><th>reason</th></tr></thead><tbody>\n";
    for (const auto& f : failures)
      body += "<tr><td>" + escape_html(f.value("key", "")) + "</td><td>" + escape_html(f.value("error", "")) +
              "</td></tr>\n";
    body += "</tbody></table>\n";
  }
  page.body = body;
  page.css =
      "img.experiment-figure{max-width:100%;height:auto}.curve{font-family:monospace;white-space:nowrap}";
  if (s.contains("provenance")) page.footer = provenance_footer(s["provenance"]);
  ReportOutput out;
  out.items = s["models"].size();
  out.path = write_page(output_dir, page);
  return out;
}

}  // namespace bagnet::reports
