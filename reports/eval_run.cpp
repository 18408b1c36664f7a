#include "reports/eval_run.h"

#include <cctype>
#include <filesystem>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"
#include "reports/html.h"

namespace bagnet::reports {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "Ankle boot" and the folder "ankle_boot" name the same class.
std::string alnum_lower(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
  return out;
}

}  // namespace

EvalRun read_eval_run(const std::string& dir) {
  EvalRun run;
  run.dir = dir;
  const fs::path summary_path = fs::path(dir) / "summary.json";
  run.summary = parse_json(read_file(summary_path.string(),
                                     "no summary: the run is not complete (interrupted, or a shard still "
                                     "running); finish it, or merge the shards, first"),
                           summary_path.string());
  if (!run.summary.is_object()) throw Error(summary_path.string(), "not a JSON object");
  run.results = evaluation::read_results((fs::path(dir) / "results.jsonl").string());
  const nlohmann::json& header = run.results.header;
  run.categories = evaluation::categories_of(header["run"]);
  run.kind = header["run"]["dataset"].value("kind", std::string());
  // The stored lines passed the reader's checks; they also carry the class names.
  for (size_t i = 0; i < run.results.lines.size(); ++i) {
    const nlohmann::json j = parse_json(run.results.lines[i], "results.jsonl");
    nlohmann::json top = j.value("top", nlohmann::json::array());
    for (const auto& t : top)
      if (t.is_object() && t.contains("index") && t["index"].is_number_integer() && t.contains("name") &&
          t["name"].is_string())
        run.class_names.emplace(t["index"].get<int>(), t["name"].get<std::string>());
    run.tops.push_back(std::move(top));
  }
  const std::string source = header.value("source", std::string());
  if (!source.empty() && run.kind != "idx") {
    const fs::path s = fs::absolute(source).lexically_normal();
    run.image_root = (run.kind == "list" ? s.parent_path() : s).string();
  }
  return run;
}

std::string image_path(const EvalRun& run, const evaluation::Record& r) {
  if (run.image_root.empty() || r.key.empty()) return "";
  const fs::path key(r.key);
  const fs::path p = key.is_absolute() ? key : fs::path(run.image_root) / key;
  std::error_code ec;
  return fs::is_regular_file(p, ec) ? p.lexically_normal().string() : "";
}

std::string true_name(const EvalRun& run, const evaluation::Record& r) {
  if (r.target < 0) return r.label;
  const auto it = run.class_names.find(r.target);
  if (it == run.class_names.end()) return r.label;
  if (alnum_lower(it->second) == alnum_lower(r.label)) return it->second;
  return it->second + " (" + r.label + ")";
}

std::string predicted_name(const EvalRun& run, const evaluation::Record& r) {
  if (!run.categories.empty() && r.decision >= 0 && static_cast<size_t>(r.decision) < run.categories.size())
    return run.categories[static_cast<size_t>(r.decision)];
  if (r.top.empty()) return "-";
  const auto it = run.class_names.find(r.top[0]);
  return it == run.class_names.end() ? std::to_string(r.top[0]) : it->second;
}

nlohmann::json record_card(const EvalRun& run, size_t i, const std::string& page_dir) {
  const evaluation::Record& r = run.results.records[i];
  const nlohmann::json& top = run.tops[i];
  nlohmann::json rows = nlohmann::json::array();
  std::string search = lower(r.key);
  for (const auto& t : top) {
    const std::string name = t.value("name", std::string());
    const int index = t.value("index", -1);
    rows.push_back({name, t.contains("probability") ? t["probability"] : nlohmann::json(nullptr),
                    index >= 0 && index == r.target ? "target" : ""});
    search += "\n" + lower(name);
  }
  const std::string truth = true_name(run, r), predicted = predicted_name(run, r);
  nlohmann::json notes = {"true: " + truth};
  const bool categorical = !run.categories.empty() && r.decision >= 0;
  if (categorical) notes.push_back("decision: " + predicted);
  if (!r.texture.empty()) notes.push_back("texture: " + r.texture);
  search += "\n" + lower(truth) + "\n" + lower(predicted);
  nlohmann::json card = {
      {"t", r.key},
      {"rows", rows},
      {"notes", notes},
      {"ok", r.correct1},
      {"cls", truth == predicted ? nlohmann::json{truth} : nlohmann::json{truth, predicted}},
      {"s", search},
      {"v", nlohmann::json::object()}};
  if (!r.top_probability.empty()) card["v"]["conf"] = r.top_probability[0];
  card["v"]["conf_low"] = card["v"].value("conf", 0.0);
  if (const std::string file = image_path(run, r); !file.empty()) {
    card["img"] = relative_url(file, page_dir);
    card["href"] = card["img"];
  }
  return card;
}

}  // namespace bagnet::reports
