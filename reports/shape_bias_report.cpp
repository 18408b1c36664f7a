#include "reports/shape_bias_report.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"
#include "reports/eval_run.h"
#include "reports/html.h"

namespace bagnet::reports {
namespace {

namespace fs = std::filesystem;

nlohmann::json number_at(const nlohmann::json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key] : nlohmann::json();
}

std::pair<std::string, std::string> number_cell(const nlohmann::json& v, int decimals) {
  return {format_number(v, decimals), v.is_number() ? format_number(v, 6) : "-1"};
}

// Every finished cue-conflict run below `dir` (bagnet-shape-bias puts them in MODEL/cue-conflict).
std::vector<std::string> cue_conflict_runs(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (it->path().filename() != "summary.json") continue;
    const fs::path run = it->path().parent_path();
    if (fs::exists(run / "results.jsonl")) out.push_back(run.string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

ReportOutput write_shape_bias_report(const std::string& output_dir) {
  const fs::path dir(output_dir);
  const fs::path report_path = dir / "shape_bias.json";
  const nlohmann::json report = parse_json(
      read_file(report_path.string(), "cannot read (run bagnet-shape-bias first)"), report_path.string());
  if (!report.is_object() || !report.contains("decision_makers") || !report["decision_makers"].is_array())
    throw Error(report_path.string(), "not a bagnet-shape-bias report (no 'decision_makers')");
  const std::vector<std::string> categories = report.value("categories", std::vector<std::string>{});

  // The figure and the decision makers side by side (below each other on narrow screens).
  std::string body = "<div class=\"side\">\n";
  // The figure: SVG when written (sharp at any size), else PNG.
  std::string figure;
  for (const char* name : {"shape_bias.svg", "shape_bias.png"})
    if (figure.empty() && fs::exists(dir / name)) figure = name;
  if (!figure.empty())
    body += "<figure><img src=\"" + escape_html(figure) +
            "\" alt=\"Shape bias per category\" style=\"width:520px\"><figcaption class=\"note\">Also as <a "
            "href=\"shape_bias.pdf\">PDF</a> and <a href=\"shape_bias.png\">PNG</a>.</figcaption></figure>\n";

  // Decision makers: one row each, human observers below the pooled humans.
  Table makers;
  makers.head = {"decision maker",        "kind",          "shape bias",         "shape", "texture", "trials",
                 "cue-conflict accuracy", "edge accuracy", "silhouette accuracy"};
  makers.numeric = {false, false, true, true, true, true, true, true, true};
  nlohmann::json all = report["decision_makers"];
  for (const auto& o : report.value("human_observers", nlohmann::json::array())) {
    nlohmann::json x = o;
    x["kind"] = "observer";
    all.push_back(x);
  }
  for (const auto& m : all) {
    const nlohmann::json sb = m.value("shape_bias", nlohmann::json::object());
    const std::string name = m.value("name", std::string()), kind = m.value("kind", std::string());
    const std::string trials = sb.contains("trials") ? sb["trials"].dump() : "-";
    makers.rows.push_back({{escape_html(name), name},
                           {escape_html(kind), kind},
                           number_cell(number_at(sb, "shape_bias"), 3),
                           number_cell(number_at(sb, "shape_fraction"), 3),
                           number_cell(number_at(sb, "texture_fraction"), 3),
                           {trials, trials},
                           number_cell(number_at(m, "cue_conflict_accuracy"), 3),
                           number_cell(number_at(m, "edge_accuracy"), 3),
                           number_cell(number_at(m, "silhouette_accuracy"), 3)});
  }
  body +=
      "<div><h2>Decision makers</h2>\n<p class=\"note\">Shape bias = shape decisions / (shape + texture "
      "decisions) on the cue-conflict stimuli whose shape and texture differ (Geirhos et al., ICLR "
      "2019). Click a column to sort.</p>\n" +
      sortable_table("decision-makers", makers) + "</div></div>\n";

  // Shape bias per category, one column per decision maker of the figure.
  Table per;
  per.head = {"category"};
  per.numeric = {false};
  for (const auto& m : report["decision_makers"]) {
    per.head.push_back(m.value("name", std::string()));
    per.numeric.push_back(true);
  }
  for (const auto& c : categories) {
    std::vector<std::pair<std::string, std::string>> row = {{escape_html(c), c}};
    for (const auto& m : report["decision_makers"]) {
      const nlohmann::json pc =
          m.value("shape_bias", nlohmann::json::object()).value("per_category", nlohmann::json::object());
      row.push_back(number_cell(number_at(pc.value(c, nlohmann::json::object()), "shape_bias"), 3));
    }
    per.rows.push_back(std::move(row));
  }
  body += "<h2>Shape bias per category</h2>\n" + sortable_table("per-category", per);

  // The stimuli, with each model's decision.
  nlohmann::json items = nlohmann::json::array();
  std::set<std::string> shapes;
  size_t shape_n = 0, texture_n = 0;
  for (const auto& run_dir : cue_conflict_runs(dir)) {
    const EvalRun run = read_eval_run(run_dir);
    if (run.kind != "cue-conflict") continue;
    const std::string model = run.summary.contains("model") && run.summary["model"].is_object()
                                  ? run.summary["model"].value("name", std::string())
                                  : std::string();
    for (size_t i = 0; i < run.results.records.size(); ++i) {
      const auto& r = run.results.records[i];
      if (!r.ok()) continue;
      nlohmann::json c = record_card(run, i, output_dir);
      const std::string decision = predicted_name(run, r);
      const std::string shape = r.label;
      const bool is_shape = decision == shape, is_texture = !is_shape && decision == r.texture;
      c.erase("ok");
      if (shape != r.texture && (is_shape || is_texture)) c["ok"] = is_shape;  // shape: "ok", texture: not
      c["notes"] = {"shape: " + shape + ", texture: " + r.texture, "decision: " + decision +
                                                                       (is_shape     ? " (shape)"
                                                                        : is_texture ? " (texture)"
                                                                                     : " (other)")};
      if (!model.empty()) c["notes"].push_back("model: " + model);
      c["cls"] = {shape};
      shapes.insert(shape);
      shape_n += is_shape && shape != r.texture;
      texture_n += is_texture;
      items.push_back(std::move(c));
    }
  }
  if (!items.empty()) {
    const nlohmann::json config = {
        {"sorts",
         {{{"key", "name"}, {"label", "Sort: category, file name"}, {"dir", 1}},
          {{"key", "conf"}, {"label", "Sort: top-1 probability, highest first"}, {"dir", -1}}}},
        {"class_label", "shape categories"},
        {"classes", shapes},
        {"correct", true},
        {"correct_labels", {"Shape and texture decisions", "Shape decisions", "Texture decisions"}},
        {"per_page", 96},
        {"empty", "No stimulus matches."}};
    body += "<h2>Stimuli (" + std::to_string(items.size()) + ": " + std::to_string(shape_n) + " shape, " +
            std::to_string(texture_n) +
            " texture decisions)</h2>\n<p class=\"note\">Green: decided by shape; red: by texture; grey: "
            "neither (or shape and texture of one category). Pick a category to see its stimuli.</p>\n" +
            gallery("stimuli", items, config);
  }

  Page page;
  page.title = "Shape bias: " + fs::absolute(dir).lexically_normal().filename().string();
  std::string names;
  for (const auto& m : report["decision_makers"])
    names += (names.empty() ? "" : ", ") + m.value("name", std::string());
  page.subtitle = names + (report.contains("mapping") && report["mapping"].is_object()
                               ? "; " + report["mapping"].value("name", std::string()) + " mapping, " +
                                     report["mapping"].value("aggregation", std::string()) + " aggregation"
                               : std::string());
  page.body = body;
  if (report.contains("provenance")) page.footer = provenance_footer(report["provenance"]);
  ReportOutput out;
  out.items = items.size();
  out.path = write_page(output_dir, page);
  return out;
}

}  // namespace bagnet::reports
