#pragma once
// Self-contained HTML pages for the reports (--html): one index.html beside the run's files,
// with its CSS and JavaScript inline, opened from disk (no server, no CDN, nothing fetched);
// images are relative links to files in or beside the output folder.
//
// Large sets of items (10,000 heatmap cards) go into the page as one JSON array that a small
// inline script renders a page at a time (the "gallery"), rather than as 10,000 DOM nodes.
// The page state (filters, sort, page) lives in the URL hash, so a filtered view can be
// bookmarked, and a test can load a filtered view in a headless browser.
//
// Every page records, on <html>, what a test needs to see without a console: data-errors
// (uncaught script errors and console.error calls, with data-error-log), data-images-loaded
// and data-images-failed. Torch-free.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bagnet::reports {

// Text for HTML element content and attribute values: & < > " ' escaped.
std::string escape_html(std::string_view text);

// JSON to embed in a <script> element: '<', '>', '&' and U+2028/U+2029 escaped as \uXXXX, so
// that no value can close the element or open a comment, and the text is still valid JSON.
std::string script_json(const nlohmann::json& value);

// `target` as a link from a page in `page_dir`: relative when both are on one file system tree
// (both made absolute first), each path segment percent-encoded ("a b#1.png" -> "a%20b%231.png").
std::string relative_url(const std::string& target, const std::string& page_dir);

// A formatted number: fixed with `decimals` digits ("91.9"), or "-" for a null/non-number.
std::string format_number(const nlohmann::json& value, int decimals);
std::string percent(const nlohmann::json& fraction, int decimals = 1);  // 0.919 -> "91.9%"

struct Page {
  std::string title;
  std::string subtitle;  // a line under the title (model, dataset)
  std::string body;      // HTML, already escaped
  std::string css;       // page-specific rules, after the shared ones
  std::string script;    // page-specific JavaScript, run after the shared code
  std::string footer;    // HTML, already escaped
};

// The <script type="application/json"> element with id `id` holding `value`.
std::string json_element(const std::string& id, const nlohmann::json& value);

// The gallery: a filter bar, a grid of cards, pagination. `items` is an array of cards:
//   t     title (file name)                     img   thumbnail URL (relative), or absent
//   href  full-size image URL (the overlay)     links [[text, URL], ...] shown in the overlay
//   rows  [[class name, probability, mark]]     mark: "target" (the true class) or ""
//   notes ["true: Bag", ...] small lines        ok    true (correct) / false (wrong) / absent
//   cls   class names the class filter matches  s     text the search box matches (lowercase)
//   v     {sort key: number}
// `config`: {"sorts": [{"key", "label", "dir": 1|-1}], "class_label": "Class",
// "classes": [names for the class select], "correct": bool (show the correct/wrong filter),
// "correct_labels": [3 option texts of that filter], "per_page": 100, "empty": "text when nothing
// matches"}. Hash keys: q, class, correct
// (correct|wrong), sort, page, eager (1: no lazy loading, so every card's image loads now).
std::string gallery(const std::string& id, const nlohmann::json& items, const nlohmann::json& config);

// A table whose header cells sort it when clicked (numbers by value: cells carry data-v).
// `head`: column titles; `numeric`: per column, whether it sorts as a number.
struct Table {
  std::vector<std::string> head;
  std::vector<bool> numeric;
  std::vector<std::vector<std::pair<std::string, std::string>>> rows;  // (HTML, sort value)
};
std::string sortable_table(const std::string& id, const Table& table);

// "<div class=stat>" boxes: a big value over a small key.
std::string stat_box(const std::string& value, const std::string& key);

// A footer line from a run's provenance JSON: tool, version, git commit, UTC time, host.
std::string provenance_footer(const nlohmann::json& provenance);

// The whole document.
std::string render_page(const Page& page);

// Writes `dir`/index.html atomically (lib/files.h) and returns its path. Throws
// bagnet::OutputError when it cannot be written.
std::string write_page(const std::string& dir, const Page& page);

}  // namespace bagnet::reports
