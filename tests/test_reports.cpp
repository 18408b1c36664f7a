// The --html reports (reports/), checked the way a person sees them: headless Chromium loads each
// index.html from disk, and the dumped DOM is compared with the run's own result files: the number
// of cards, images that loaded, filters given in the URL hash, no script errors. Without chromium
// these tests fail and say so (scripts/setup.sh installs it).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "evaluation/results_file.h"
#include "lib/error.h"
#include "reports/evaluation_report.h"
#include "reports/heatmap_report.h"
#include "reports/html.h"
#include "tool_helpers.h"

namespace fs = std::filesystem;
using bagnet::test::read_file;
using bagnet::test::run_command;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;

namespace {

const std::string kExamples = std::string(BAGNET_SOURCE_DIR) + "/examples/fashion-mnist";

std::string chromium() {
  const auto r = run_command("command -v chromium");
  if (r.status != 0)
    FAIL(
        "chromium is not installed: the reports are tested in a real browser (apt-get install chromium; "
        "scripts/setup.sh installs it)");
  std::string path = r.out;
  while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
  return path;
}

struct Dom {
  std::string html, log;
  std::map<std::string, std::string> root;  // attributes of <html>
  std::map<std::string, std::string> grid;  // attributes of the (first) gallery grid
  int cards = 0;
  std::vector<std::string> titles;  // card titles, in page order
};

std::map<std::string, std::string> attributes(const std::string& tag) {
  std::map<std::string, std::string> out;
  static const std::regex attr(R"re(([a-zA-Z-]+)="([^"]*)")re");
  for (auto it = std::sregex_iterator(tag.begin(), tag.end(), attr); it != std::sregex_iterator(); ++it)
    out[(*it)[1]] = (*it)[2];
  return out;
}

// Loads `page` (+ `hash`) in headless Chromium and returns the DOM after its scripts ran.
Dom load(const fs::path& page, const std::string& hash = "", const std::string& screenshot = "") {
  const std::string browser = chromium();
  const fs::path profile = scratch_dir("chromium_profile");
  const std::string url = "file://" + fs::absolute(page).string() + hash;
  // --virtual-time-budget: the page's timers and image loads run to completion before the dump.
  const std::string cmd = "'" + browser + "' --headless --no-sandbox --disable-gpu --no-first-run " +
                          "--user-data-dir='" + profile.string() + "' --enable-logging=stderr --v=0 " +
                          "--virtual-time-budget=10000 --window-size=1280,1000 " +
                          (screenshot.empty() ? "--dump-dom" : "--screenshot='" + screenshot + "'") + " '" +
                          url + "'";
  const auto r = run_command(cmd);
  fs::remove_all(profile);
  INFO(cmd << "\n" << r.err);
  REQUIRE(r.status == 0);
  Dom d;
  d.log = r.err;
  if (!screenshot.empty()) return d;
  // The embedded data (megabytes for 10,000 cards) is not what the page shows: leave it out.
  for (size_t at = 0;;) {
    const size_t from = r.out.find("<script type=\"application/json\"", at);
    d.html += r.out.substr(at, from == std::string::npos ? std::string::npos : from - at);
    if (from == std::string::npos) break;
    const size_t end = r.out.find("</script>", from);
    if (end == std::string::npos) break;
    at = end + 9;
  }
  std::smatch m;
  REQUIRE(std::regex_search(d.html, m, std::regex("<html[^>]*>")));
  d.root = attributes(m.str());
  if (std::regex_search(d.html, m, std::regex("<div class=\"grid\"[^>]*>"))) d.grid = attributes(m.str());
  static const std::regex card(R"re(<a class="card[^"]*"[^>]*>.*?<div class="title"[^>]*>([^<]*)</div>)re");
  for (auto it = std::sregex_iterator(d.html.begin(), d.html.end(), card); it != std::sregex_iterator();
       ++it) {
    ++d.cards;
    d.titles.push_back((*it)[1]);
  }
  return d;
}

// Drives `page` through tests/reports/interact.html (search, class select, a card's overlay, a
// table's column, the next page) and returns what that saw. `query`: "q=...&class=...".
nlohmann::json interact(const fs::path& page, const std::string& query = "") {
  const std::string browser = chromium();
  const fs::path profile = scratch_dir("chromium_interact");
  const std::string url = "file://" + std::string(TEST_SOURCE_DIR) + "/reports/interact.html?page=file://" +
                          fs::absolute(page).string() + (query.empty() ? "" : "&" + query);
  // --allow-file-access-from-files: the harness page may reach into the report's frame.
  const auto r =
      run_command("'" + browser + "' --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir='" +
                  profile.string() + "' --allow-file-access-from-files --virtual-time-budget=10000 " +
                  "--window-size=1300,1000 --dump-dom '" + url + "'");
  fs::remove_all(profile);
  REQUIRE(r.status == 0);
  std::smatch m;
  INFO(r.out.substr(0, 2000));
  REQUIRE(std::regex_search(r.out, m, std::regex("data-result=\"([^\"]*)\"")));
  std::string text = m[1];
  for (const auto& [from, to] :
       {std::pair<std::string, std::string>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}})
    for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
      text.replace(at, from.size(), to);
  auto result = nlohmann::json::parse(text);
  INFO(result.dump());
  CHECK_FALSE(result.contains("exception"));
  CHECK(result.value("errors_after", "") == "0");
  return result;
}

// No uncaught error, no console.error, no failed image; the page's script ran to the end.
void check_clean(const Dom& d) {
  INFO(d.log.substr(0, 4000));
  CHECK(d.root.count("data-ready"));
  CHECK(d.root.at("data-errors") == "0");
  CHECK_FALSE(d.root.count("data-error-log"));
  CHECK(d.root.at("data-images-failed") == "0");
  CHECK(d.log.find("Uncaught") == std::string::npos);
  CHECK(d.log.find(":CONSOLE") == std::string::npos);
}

// Nothing fetched from outside the folder: no remote URL, no external script or stylesheet.
void check_self_contained(const std::string& html) {
  CHECK(html.find("http://") == std::string::npos);
  CHECK(html.find("https://") == std::string::npos);
  CHECK(html.find("<script src") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(read_file(p)); }

std::string folder_class(const std::string& folder) {
  static const std::map<std::string, std::string> names = {{"tshirt_top", "T-shirt/top"},
                                                           {"trouser", "Trouser"},
                                                           {"pullover", "Pullover"},
                                                           {"dress", "Dress"},
                                                           {"coat", "Coat"},
                                                           {"sandal", "Sandal"},
                                                           {"shirt", "Shirt"},
                                                           {"sneaker", "Sneaker"},
                                                           {"bag", "Bag"},
                                                           {"ankle_boot", "Ankle boot"}};
  return names.at(folder);
}

}  // namespace

TEST_CASE("html: escaping, embedded JSON, relative links", "[reports]") {
  using namespace bagnet::reports;
  CHECK(escape_html("<a href=\"x\">Tom & 'Jerry'</a>") ==
        "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;");
  // A value cannot end the <script> element it is embedded in, and the text stays JSON.
  const nlohmann::json hostile = {{"t", "</script><script>alert(1)</script><!-- \u2028"}};
  const std::string embedded = script_json(hostile);
  CHECK(embedded.find("</") == std::string::npos);
  CHECK(embedded.find("<!--") == std::string::npos);
  CHECK(embedded.find("\xE2\x80\xA8") == std::string::npos);
  CHECK(nlohmann::json::parse(embedded) == hostile);
  CHECK(relative_url("/data/run/a b/x#1.png", "/data/run") == "a%20b/x%231.png");
  CHECK(relative_url("/data/images/cat.png", "/data/run/out") == "../../images/cat.png");
}

TEST_CASE("bagnet-heatmap --html: cards, images, filters, sort in a real browser", "[reports]") {
  chromium();
  const fs::path dir = scratch_dir("report_heatmap");
  const fs::path out = dir / "maps";
  // The true classes, by path below the input root.
  std::string csv = "path,label\n";
  std::map<std::string, std::string> truth;  // card title -> true class
  size_t images = 0;
  for (const auto& e : fs::recursive_directory_iterator(kExamples))
    if (e.is_regular_file()) {
      const std::string rel = fs::relative(e.path(), kExamples).generic_string();
      const std::string label = folder_class(e.path().parent_path().filename().string());
      csv += rel + "," + label + "\n";
      truth[rel] = label;
      ++images;
    }
  REQUIRE(images == 30);
  bagnet::test::write_bytes(dir / "targets.csv", csv);

  // Two shards into one folder, each with --html: the second report holds both shards' images.
  const std::string args =
      "bagnet-heatmap -q --model bagnet11_fashion_mnist --top 2 --panel --html --targets '" +
      (dir / "targets.csv").string() + "' -o '" + out.string() + "' '" + kExamples + "'";
  auto r = run_tool(args + " --shard 0/2");
  INFO(r.err);
  REQUIRE(r.status == 0);
  REQUIRE(fs::exists(out / "index.html"));
  CHECK(load(out / "index.html").cards == 15);
  r = run_tool(args + " --shard 1/2");
  REQUIRE(r.status == 0);
  CHECK(r.err.find("wrote " + (out / "index.html").string()) != std::string::npos);

  // What the page should show, from the sidecars.
  size_t wrong = 0, bags = 0;
  std::string best;
  double best_logit = -1e30;
  for (const auto& [title, label] : truth) {
    const fs::path stem = out / fs::path(title).replace_extension("");
    const auto side = read_json(stem.string() + ".json");
    REQUIRE(side.at("target").at("name") == label);  // heatmaps/run.cpp records the true class
    std::string top1;
    double logit = 0;
    for (const auto& c : side.at("classes"))
      if (c.at("index") == side.at("top").at(0).at("index")) {
        top1 = c.at("name");
        logit = c.at("pooled_logit");
      }
    wrong += top1 != label;
    bags += top1 == "Bag" || label == "Bag";
    if (logit > best_logit) best_logit = logit, best = title;
  }

  const std::string html = read_file(out / "index.html");
  check_self_contained(html);

  const Dom all = load(out / "index.html");
  check_clean(all);
  CHECK(all.cards == 30);
  CHECK(all.grid.at("data-total") == "30");
  CHECK(all.grid.at("data-shown") == "30");
  CHECK(std::set<std::string>(all.titles.begin(), all.titles.end()).size() == 30);
  for (const auto& t : all.titles) CHECK(truth.count(t));
  CHECK(all.html.find("_panel.png\"") != std::string::npos);  // cards show the panels

  // Every card's image loads (lazy loading off, so that all of them load now).
  const Dom eager = load(out / "index.html", "#eager=1");
  check_clean(eager);
  CHECK(eager.root.at("data-images-loaded") == "30");

  const Dom bag = load(out / "index.html", "#class=Bag");
  check_clean(bag);
  CHECK(bags >= 3);
  CHECK(bag.cards == static_cast<int>(bags));
  CHECK(bag.grid.at("data-matching") == std::to_string(bags));

  const Dom wrong_only = load(out / "index.html", "#correct=wrong");
  check_clean(wrong_only);
  CHECK(wrong_only.cards == static_cast<int>(wrong));
  const Dom right_only = load(out / "index.html", "#correct=correct");
  CHECK(right_only.cards == static_cast<int>(30 - wrong));

  const Dom search = load(out / "index.html", "#q=bag%2F");  // file names (and class names)
  check_clean(search);
  CHECK(search.cards == 3);
  for (const auto& t : search.titles) CHECK(t.rfind("bag/", 0) == 0);

  const Dom sorted = load(out / "index.html", "#sort=logit");
  check_clean(sorted);
  REQUIRE_FALSE(sorted.titles.empty());
  CHECK(sorted.titles.front() == best);

  // The same by hand: typing, picking a class, opening a card's full-size panel and closing it.
  const auto by_hand = interact(out / "index.html", "q=bag%2F&class=Bag");
  CHECK(by_hand.at("cards_q") == 3);
  CHECK(by_hand.at("hash_q").get<std::string>().find("q=bag") != std::string::npos);
  CHECK(by_hand.at("cards_class") == bags);
  CHECK(by_hand.at("overlay_open") == true);
  CHECK(by_hand.at("overlay_src") == by_hand.at("card_href"));
  CHECK(by_hand.at("overlay_src").get<std::string>().find("_panel.png") != std::string::npos);
  CHECK(by_hand.at("overlay_closed") == true);

  // A screenshot renders (docs/report-heatmaps.png is made this way).
  const fs::path shot = dir / "shot.png";
  load(out / "index.html", "", shot.string());
  CHECK(fs::file_size(shot) > 10000);
}

TEST_CASE("heatmap report: 10,000 images are paged, and a broken sidecar is named and left out",
          "[reports]") {
  chromium();
  const fs::path dir = scratch_dir("report_many");
  auto r = run_tool("bagnet-heatmap -q --model bagnet11_fashion_mnist --top 2 --panel -o '" +
                    (dir / "one").string() + "' '" + kExamples + "/bag/test00018.png'");
  REQUIRE(r.status == 0);
  auto side = read_json(dir / "one" / "test00018.json");
  const fs::path out = dir / "many";
  // 10,000 sidecars in 100 folders, each pointing at the one rendering (copied beside it).
  for (int f = 0; f < 100; ++f) {
    const fs::path sub = out / ("d" + std::to_string(f));
    fs::create_directories(sub);
    fs::copy_file(dir / "one" / "test00018_panel.png", sub / "test00018_panel.png");
    for (int i = 0; i < 100; ++i) {
      side["image"] = "img" + std::to_string(f * 100 + i) + ".png";
      side["rendering"]["files"] = nlohmann::json::array({{{"file", "test00018_panel.png"}}});
      bagnet::test::write_bytes(sub / ("img" + std::to_string(i) + ".json"), side.dump());
    }
  }
  bagnet::test::write_bytes(out / "broken.json", "{\"map\": ");
  const auto report = bagnet::reports::write_heatmap_report(out.string());
  CHECK(report.items == 10000);
  CHECK(report.skipped == 1);

  const Dom first = load(out / "index.html");
  check_clean(first);
  CHECK(first.cards == 100);  // one page of cards, not 10,000 nodes
  CHECK(first.grid.at("data-total") == "10000");
  CHECK(first.grid.at("data-pages") == "100");
  const Dom last = load(out / "index.html", "#page=100");
  check_clean(last);
  CHECK(last.cards == 100);
  CHECK(last.grid.at("data-page") == "100");
  CHECK(last.titles.front() == "d99/img9900.png");
  const auto next = interact(out / "index.html");
  CHECK(next.at("page_after_next") == "2");
  CHECK(next.at("first_title_after_next") == "d1/img100.png");
}

namespace {

// The text of the first element that starts with `open` (up to its `close`).
std::string element(const std::string& html, const std::string& open, const std::string& close) {
  const size_t from = html.find(open);
  if (from == std::string::npos) return "";
  const size_t to = html.find(close, from);
  return html.substr(from, to == std::string::npos ? std::string::npos : to + close.size() - from);
}

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// a and b equal, but numbers only within 1e-5 of each other (probabilities in [0, 1]).
bool same_up_to_rounding(const nlohmann::json& a, const nlohmann::json& b) {
  if (a.is_number() && b.is_number()) return std::abs(a.get<double>() - b.get<double>()) <= 1e-5;
  if (a.type() != b.type()) return false;
  if (a.is_array()) {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k)
      if (!same_up_to_rounding(a[k], b[k])) return false;
    return true;
  }
  if (a.is_object()) {
    if (a.size() != b.size()) return false;
    for (const auto& item : a.items())
      if (!b.contains(item.key()) || !same_up_to_rounding(item.value(), b.at(item.key()))) return false;
    return true;
  }
  return a == b;
}

}  // namespace

TEST_CASE("bagnet-eval --html and bagnet-merge --html: accuracies, errors, misclassified images",
          "[reports]") {
  chromium();
  const fs::path dir = scratch_dir("report_eval");
  const std::string eval =
      "bagnet-eval -q --model bagnet11_fashion_mnist --data '" + kExamples + "' --html -o ";
  auto r = run_tool(eval + "'" + (dir / "whole").string() + "'");
  INFO(r.err);
  REQUIRE(r.status == 0);
  for (int i = 0; i < 2; ++i)
    REQUIRE(run_tool(eval + "'" + (dir / ("shard-" + std::to_string(i))).string() + "' --shard " +
                     std::to_string(i) + "/2")
                .status == 0);
  r = run_tool("bagnet-merge --html -o '" + (dir / "merged").string() + "' '" + (dir / "shard-0").string() +
               "' '" + (dir / "shard-1").string() + "'");
  REQUIRE(r.status == 0);
  CHECK(r.err.find("wrote " + (dir / "merged" / "index.html").string()) != std::string::npos);

  // Expected, from the results file: the misclassified images and those about shirts.
  const auto results = bagnet::evaluation::read_results((dir / "whole" / "results.jsonl").string());
  REQUIRE(results.records.size() == 30);
  size_t wrong = 0, shirts = 0;
  for (size_t i = 0; i < results.lines.size(); ++i) {
    const auto j = nlohmann::json::parse(results.lines[i]);
    if (j.at("correct")) continue;
    ++wrong;
    shirts += j.at("top").at(0).at("name") == "Shirt" || j.at("label") == "shirt";
  }
  REQUIRE(wrong > 0);  // the page has errors to show (90% on these 30 images)

  const fs::path page = dir / "whole" / "index.html";
  check_self_contained(read_file(page));
  const Dom d = load(page, "#eager=1");
  check_clean(d);
  CHECK(d.cards == static_cast<int>(wrong));
  CHECK(d.root.at("data-images-loaded") == std::to_string(wrong));  // thumbnails of the dataset's images
  const std::string table = element(d.html, "<table class=\"data sortable\" id=\"per-class\"", "</table>");
  CHECK(count(table, "<tr>") == 11);                      // header + 10 classes
  CHECK(table.find("T-shirt/top") != std::string::npos);  // class names, not only folder names
  const std::string confusions = element(d.html, "<table class=\"data\" id=\"confusions\"", "</table>");
  CHECK(count(confusions, "<tr>") >= 2);
  // Sorting the table by a click on its top-1 column: lowest first, then highest first.
  const auto sorted = interact(page, "table=per-class&col=2");
  CHECK(sorted.at("sorted_up") == "2:1");
  double low = 2, high = -1;
  const auto summary = read_json(dir / "whole" / "summary.json");
  for (const auto& c : summary.at("per_class")) {
    low = std::min(low, c.at("top1").get<double>());
    high = std::max(high, c.at("top1").get<double>());
  }
  char buf[2][32];
  std::snprintf(buf[0], sizeof buf[0], "%.6f", low);
  std::snprintf(buf[1], sizeof buf[1], "%.6f", high);
  CHECK(sorted.at("first_up") == buf[0]);
  CHECK(sorted.at("sorted_down") == "2:-1");
  CHECK(sorted.at("first_down") == buf[1]);
  const Dom shirt = load(page, "#class=Shirt");
  check_clean(shirt);
  CHECK(shirt.cards == static_cast<int>(shirts));

  // The merged run's report is the unsharded run's: same tables (decisions only), same cards.
  // The cards' probabilities agree up to float rounding, not bitwise: a shard (every n-th image)
  // batches other images together than the whole run, and the convolutions' summation order
  // depends on the batch (tests/test_evaluation compares sharded runs by decisions likewise).
  const std::string whole = read_file(page), merged = read_file(dir / "merged" / "index.html");
  for (const auto& [open, close] :
       {std::pair<std::string, std::string>{"<table class=\"data sortable\" id=\"per-class\"", "</table>"},
        {"<table class=\"data\" id=\"confusions\"", "</table>"}}) {
    INFO(open);
    CHECK_FALSE(element(whole, open, close).empty());
    CHECK(element(whole, open, close) == element(merged, open, close));
  }
  const std::string items_open = "<script type=\"application/json\" class=\"items\">";
  auto items = [&](const std::string& html) {
    const std::string e = element(html, items_open, "</script>");
    REQUIRE(e.size() > items_open.size());
    return nlohmann::json::parse(e.substr(items_open.size(), e.size() - items_open.size() - 9));
  };
  const auto whole_items = items(whole), merged_items = items(merged);
  CHECK_FALSE(whole_items.empty());
  INFO(whole_items.dump() << "\n" << merged_items.dump());
  CHECK(same_up_to_rounding(whole_items, merged_items));
  check_clean(load(dir / "merged" / "index.html"));

  // A run without a summary (interrupted) gets a one-line refusal, not a page.
  fs::remove(dir / "shard-0" / "summary.json");
  try {
    bagnet::reports::write_evaluation_report((dir / "shard-0").string());
    FAIL("no error");
  } catch (const bagnet::Error& e) {
    CHECK(std::string(e.what()).find("summary.json") != std::string::npos);
  }
}

TEST_CASE("bagnet-shape-bias --html: figure, decision makers, stimuli by category", "[reports]") {
  chromium();
  const fs::path data(SHARED_DATA_DIR), weights = fs::path(FIXTURE_DIR) / "bagnet9.pt";
  if (!fs::is_directory(data / "stimuli" / "cue-conflict") || !fs::is_directory(data / "human-raw-data"))
    FAIL("no stimuli in " << data << " (scripts/get-stimuli.sh DIR fetches them)");
  REQUIRE(fs::exists(weights));  // random weights (make_fixtures): fast, and the page shows any decisions
  const fs::path dir = scratch_dir("report_shape_bias");
  // Two stimuli per category keep the run short.
  size_t stimuli = 0;
  for (const auto& cat : fs::directory_iterator(data / "stimuli" / "cue-conflict")) {
    if (!cat.is_directory()) continue;
    std::vector<fs::path> files;
    for (const auto& f : fs::directory_iterator(cat.path())) files.push_back(f.path());
    std::sort(files.begin(), files.end());
    fs::create_directories(dir / "stimuli" / cat.path().filename());
    for (size_t i = 0; i < 2 && i < files.size(); ++i, ++stimuli)
      fs::copy_file(files[i], dir / "stimuli" / cat.path().filename() / files[i].filename());
  }
  REQUIRE(stimuli == 32);
  std::string csvs;
  for (const auto& f : fs::directory_iterator(data / "human-raw-data" / "cue-conflict"))
    csvs += " '" + f.path().string() + "'";
  const fs::path out = dir / "out";
  const auto r = run_tool("bagnet-shape-bias -q --model bagnet9 --weights '" + weights.string() +
                          "' --stimuli '" + (dir / "stimuli").string() + "' --cue-conflict-only --html -o '" +
                          out.string() + "' --from-csv" + csvs);
  INFO(r.err);
  REQUIRE(r.status == 0);

  const auto report = read_json(out / "shape_bias.json");
  const size_t makers =
      report.at("decision_makers").size() + report.value("human_observers", nlohmann::json::array()).size();
  const auto results =
      bagnet::evaluation::read_results((out / "bagnet9" / "cue-conflict" / "results.jsonl").string());
  const auto categories = bagnet::evaluation::categories_of(results.header.at("run"));
  size_t shape = 0, bears = 0;
  for (const auto& rec : results.records) {
    shape += rec.decision >= 0 && categories.at(rec.decision) == rec.label && rec.label != rec.texture;
    bears += rec.label == "bear";
  }

  const fs::path page = out / "index.html";
  check_self_contained(read_file(page));
  const Dom d = load(page, "#eager=1");
  check_clean(d);
  CHECK(d.html.find("<img src=\"shape_bias.svg\"") != std::string::npos);
  CHECK(d.root.at("data-images-loaded") == std::to_string(stimuli + 1));  // the stimuli and the figure
  CHECK(d.cards == static_cast<int>(stimuli));
  const std::string table =
      element(d.html, "<table class=\"data sortable\" id=\"decision-makers\"", "</table>");
  CHECK(count(table, "<tr>") == makers + 1);
  CHECK(table.find("bagnet9") != std::string::npos);
  CHECK(table.find("subject-01") != std::string::npos);
  const Dom bear = load(page, "#class=bear");
  check_clean(bear);
  CHECK(bear.cards == static_cast<int>(bears));
  for (const auto& t : bear.titles) CHECK(t.rfind("bear/", 0) == 0);
  const Dom by_shape = load(page, "#correct=correct");
  CHECK(by_shape.cards == static_cast<int>(shape));
}

TEST_CASE("bagnet-experiment --html: the figure and every model's numbers", "[reports][experiments]") {
  chromium();
  const fs::path dir = scratch_dir("report_experiment");
  // Two copies of the embedded model (keys bagnet11_fashion_mnist and bagnet11_fashion_mnist#2).
  const auto r = run_tool(
      "bagnet-experiment scramble -q --threads 2 -m bagnet11_fashion_mnist -m "
      "bagnet11_fashion_mnist -g 1 -g 2 --data '" +
      kExamples + "' --html -o '" + (dir / "run").string() + "'");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const fs::path page = dir / "run" / "index.html";
  CHECK(r.err.find("wrote " + page.string()) != std::string::npos);
  check_self_contained(read_file(page));
  const Dom d = load(page);
  check_clean(d);
  CHECK(d.root.at("data-images-loaded") == "1");  // the figure
  const auto s = nlohmann::json::parse(read_file(dir / "run" / "summary.json"));
  // One table row per model, each with its original top-1 as the summary has it.
  size_t rows = 0;
  for (const auto& key : {"bagnet11_fashion_mnist", "bagnet11_fashion_mnist#2"}) {
    const std::string cell = "\">" + std::string(key) + "</td>";
    rows += d.html.find(cell) != std::string::npos;
    CHECK(d.html.find(bagnet::reports::format_number(s["models"][key]["top1_original"], 4)) !=
          std::string::npos);
  }
  CHECK(rows == 2);
  CHECK(d.html.find("Experiment: scrambling") != std::string::npos);
}
