#include "reports/evaluation_report.h"

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "reports/eval_run.h"
#include "reports/html.h"

namespace bagnet::reports {
namespace {

namespace fs = std::filesystem;

// The confusion view lists the most frequent (true, predicted) pairs, not a full matrix: with
// 1000 classes only a list of the largest entries is readable.
constexpr size_t kConfusions = 30;

std::string meter(double fraction) {
  return "<span class=\"meter\"><i style=\"width:" +
         format_number(100.0 * std::clamp(fraction, 0.0, 1.0), 1) + "%\"></i></span>";
}

// A fraction cell: "91.9%" with a bar, sorting by value.
std::pair<std::string, std::string> fraction_cell(const nlohmann::json& v) {
  if (!v.is_number()) return {"-", "-1"};
  return {percent(v) + meter(v.get<double>()), format_number(v, 6)};
}

std::string accuracy_stats(const EvalRun& run) {
  const nlohmann::json& s = run.summary;
  std::string out = "<div class=\"stats\">";
  const int k = s.value("topk", 5);
  if (s.contains("accuracy")) {
    out += stat_box(percent(s["accuracy"]), "16-class accuracy");
  } else {
    out += stat_box(percent(s.value("top1", nlohmann::json())), "top-1 accuracy");
    out += stat_box(percent(s.value("top" + std::to_string(k), nlohmann::json())),
                    "top-" + std::to_string(k) + " accuracy");
  }
  if (s.contains("shape_bias") && s["shape_bias"].is_object() && s["shape_bias"].contains("shape_bias"))
    out += stat_box(format_number(s["shape_bias"]["shape_bias"], 3), "shape bias");
  out += stat_box(std::to_string(s.value("evaluated", 0)), "images evaluated");
  if (s.value("failed", 0) > 0)
    out += stat_box(std::to_string(s.value("failed", 0)), "unreadable (excluded)");
  if (s.contains("merged_shards"))
    out += stat_box(std::to_string(s.value("merged_shards", 0)), "shards merged");
  return out + "</div>\n";
}

std::string subtitle(const EvalRun& run) {
  const nlohmann::json& s = run.summary;
  std::string model = s.contains("model") && s["model"].is_object() ? s["model"].value("name", "") : "";
  if (s.contains("model") && s["model"].is_object() && s["model"].contains("weights")) {
    const std::string sha = s["model"]["weights"].value("sha256", "");
    if (!sha.empty()) model += ", weights " + sha.substr(0, 8);
  }
  const nlohmann::json d = s.value("dataset", nlohmann::json::object());
  return model + " on " + d.value("name", std::string("?")) + " (" + d.value("kind", std::string()) + ", " +
         d.value("source", std::string()) + ")";
}

}  // namespace

ReportOutput write_evaluation_report(const std::string& run_dir) {
  const EvalRun run = read_eval_run(run_dir);
  const auto& records = run.results.records;
  const nlohmann::json& s = run.summary;
  const bool categorical = s.contains("accuracy");
  const int k = s.value("topk", 5);

  // Per class: the summary's numbers, named as the cards name them.
  std::map<std::string, std::string> display;  // label -> shown name
  std::map<std::string, size_t> errors_of;     // label -> wrong
  std::map<std::pair<std::string, std::string>, size_t> confusion;
  std::vector<size_t> wrong;
  size_t with_image = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    if (!r.ok()) continue;
    display.emplace(r.label, true_name(run, r));
    if (r.correct1) continue;
    wrong.push_back(i);
    ++errors_of[r.label];
    ++confusion[{true_name(run, r), predicted_name(run, r)}];
  }
  Table per_class;
  per_class.head = {"class", "images", categorical ? "accuracy" : "top-1",
                    categorical ? "errors" : "top-" + std::to_string(k), "errors"};
  per_class.numeric = {false, true, true, true, true};
  if (categorical) {  // one accuracy column
    per_class.head.pop_back();
    per_class.numeric.pop_back();
  }
  const nlohmann::json pc = s.value("per_class", nlohmann::json::object());
  for (auto it = pc.begin(); it != pc.end(); ++it) {
    const std::string shown = display.count(it.key()) ? display[it.key()] : it.key();
    const std::string images = std::to_string(it->value("images", 0));
    const std::string errs = std::to_string(errors_of[it.key()]);
    std::vector<std::pair<std::string, std::string>> row = {{escape_html(shown), shown}, {images, images}};
    if (categorical) {
      row.push_back(fraction_cell(it->value("accuracy", nlohmann::json())));
    } else {
      row.push_back(fraction_cell(it->value("top1", nlohmann::json())));
      row.push_back(fraction_cell(it->value("top" + std::to_string(k), nlohmann::json())));
    }
    row.push_back({errs, errs});
    per_class.rows.push_back(std::move(row));
  }

  std::vector<std::pair<std::pair<std::string, std::string>, size_t>> pairs(confusion.begin(),
                                                                            confusion.end());
  std::stable_sort(pairs.begin(), pairs.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::string errors_html;
  if (pairs.empty()) {
    errors_html = "<p>No errors.</p>\n";
  } else {
    errors_html =
        "<table class=\"data\" id=\"confusions\"><thead><tr><th>true</th><th>predicted</th><th "
        "class=\"n\">images</th><th class=\"n\">share of the true class</th></tr></thead><tbody>\n";
    std::map<std::string, size_t> class_images;
    for (const auto& r : records)
      if (r.ok()) ++class_images[true_name(run, r)];
    for (size_t i = 0; i < pairs.size() && i < kConfusions; ++i) {
      const auto& [p, n] = pairs[i];
      const double share = static_cast<double>(n) / std::max<size_t>(1, class_images[p.first]);
      errors_html += "<tr><td>" + escape_html(p.first) + "</td><td>\u2192 " + escape_html(p.second) +
                     "</td><td class=\"n\">" + std::to_string(n) +
                     meter(static_cast<double>(n) / pairs[0].second) + "</td><td class=\"n\">" +
                     percent(share) + "</td></tr>\n";
    }
    errors_html += "</tbody></table>\n";
    if (pairs.size() > kConfusions)
      errors_html += "<p class=\"note\">The " + std::to_string(kConfusions) + " most frequent of " +
                     std::to_string(pairs.size()) + " kinds of error.</p>\n";
  }

  nlohmann::json items = nlohmann::json::array();
  std::set<std::string> names;
  for (size_t i : wrong) {
    nlohmann::json c = record_card(run, i, run_dir);
    with_image += c.contains("img");
    for (const auto& n : c["cls"]) names.insert(n.get<std::string>());
    items.push_back(std::move(c));
  }
  const nlohmann::json config = {
      {"sorts",
       {{{"key", "name"}, {"label", "Sort: file name"}, {"dir", 1}},
        {{"key", "conf"}, {"label", "Sort: most confident first"}, {"dir", -1}},
        {{"key", "conf_low"}, {"label", "Sort: least confident first"}, {"dir", 1}}}},
      {"class_label", "classes (true or predicted)"},
      {"classes", names},
      {"correct", false},
      {"per_page", 100},
      {"empty", "No misclassified image matches."}};

  Page page;
  page.title = "Evaluation: " + fs::absolute(run_dir).lexically_normal().filename().string();
  page.subtitle = subtitle(run);
  std::string body = accuracy_stats(run);
  body += "<h2>Per class</h2>\n<p class=\"note\">Click a column to sort.</p>\n" +
          sortable_table("per-class", per_class);
  body += "<h2>Most frequent errors</h2>\n" + errors_html;
  body += "<h2>Misclassified images (" + std::to_string(wrong.size()) + ")</h2>\n";
  if (!wrong.empty() && with_image == 0)
    body += "<p class=\"note\">No thumbnails: " +
            (run.image_root.empty() ? std::string("the dataset has no image files (idx)")
                                    : "the images were not found below " + escape_html(run.image_root)) +
            ".</p>\n";
  body += gallery("misclassified", items, config);
  const auto failures = s.value("failures", nlohmann::json::array());
  if (!failures.empty()) {
    body += "<h2>Unreadable images (" + std::to_string(failures.size()) +
            ")</h2>\n<table class=\"data\"><thead><tr><th>image</th><th>error</th></tr></thead><tbody>\n";
    for (const auto& f : failures)
      body += "<tr><td>" + escape_html(f.value("key", "")) + "</td><td>" + escape_html(f.value("error", "")) +
              "</td></tr>\n";
    body += "</tbody></table>\n";
  }
  page.body = body;
  if (s.contains("provenance")) page.footer = provenance_footer(s["provenance"]);
  ReportOutput out;
  out.items = items.size();
  out.path = write_page(run_dir, page);
  return out;
}

}  // namespace bagnet::reports
