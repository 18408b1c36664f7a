#include "evaluation/results_file.h"

#include <algorithm>
#include <cfloat>
#include <climits>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"

namespace bagnet::evaluation {

namespace {

// An optional field of an object, or null when absent.
const nlohmann::json* optional_field(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

std::vector<std::string> string_array(const nlohmann::json& v, const std::string& where,
                                      const std::string& field) {
  if (!v.is_array())
    throw Error(where, "'" + field + "' is a " + std::string(v.type_name()) + ", not an array");
  std::vector<std::string> out;
  for (size_t i = 0; i < v.size(); ++i)
    out.push_back(json_string(v[i], where, field + "[" + std::to_string(i) + "]"));
  return out;
}

}  // namespace

nlohmann::json record_json(const Record& r, const Labels& labels, const CategoryMapping* mapping) {
  nlohmann::json j = {{"position", r.position}, {"key", r.key}, {"label", r.label}};
  if (r.target >= 0) j["target"] = r.target;
  if (!r.texture.empty()) j["texture"] = r.texture;
  if (!r.ok()) {
    j["error"] = r.error;
    return j;
  }
  auto& top = j["top"] = nlohmann::json::array();
  for (size_t i = 0; i < r.top.size(); ++i) {
    nlohmann::json p = {
        {"index", r.top[i]}, {"name", labels.name(r.top[i])}, {"probability", r.top_probability[i]}};
    if (!labels.wnid(r.top[i]).empty()) p["wnid"] = labels.wnid(r.top[i]);
    top.push_back(std::move(p));
  }
  if (mapping && r.decision >= 0) {
    j["decision"] = mapping->categories[static_cast<size_t>(r.decision)];
    j["category_probabilities"] = r.category_scores;
  }
  j["correct"] = r.correct1;
  if (r.target >= 0) j["topk_correct"] = r.correctk;
  return j;
}

Record record_from_json(const nlohmann::json& j, const std::vector<std::string>& categories,
                        const std::string& where) {
  if (!j.is_object()) throw Error(where, "a record is a JSON object, not a " + std::string(j.type_name()));
  Record r;
  r.position = json_integer<size_t>(json_field(j, "position", where), where, "position");
  r.key = json_string(json_field(j, "key", where), where, "key");
  r.label = json_string(json_field(j, "label", where), where, "label");
  if (const auto* t = optional_field(j, "target"))
    r.target = json_integer<int>(*t, where, "target", -1, INT_MAX);
  if (const auto* t = optional_field(j, "texture")) r.texture = json_string(*t, where, "texture");
  if (const auto* e = optional_field(j, "error")) {
    r.error = json_string(*e, where, "error");
    if (r.error.empty()) r.error = "unknown error";
    return r;
  }
  const nlohmann::json& top = json_field(j, "top", where);
  if (!top.is_array()) throw Error(where, "'top' is not an array");
  for (size_t i = 0; i < top.size(); ++i) {
    const std::string field = "top[" + std::to_string(i) + "]";
    r.top.push_back(
        json_integer<int>(json_field(top[i], "index", where, field), where, field + ".index", 0, INT_MAX));
    r.top_probability.push_back(static_cast<float>(json_number(
        json_field(top[i], "probability", where, field), where, field + ".probability", -FLT_MAX, FLT_MAX)));
  }
  if (const auto* d = optional_field(j, "decision")) {
    const std::string decision = json_string(*d, where, "decision");
    const auto it = std::find(categories.begin(), categories.end(), decision);
    if (it == categories.end())
      throw Error(where, "unknown decision " + d->dump() + " (not a category of the run)");
    r.decision = static_cast<int>(it - categories.begin());
  }
  if (const auto* c = optional_field(j, "category_probabilities")) {
    if (!c->is_array()) throw Error(where, "'category_probabilities' is not an array");
    for (size_t i = 0; i < c->size(); ++i)
      r.category_scores.push_back(
          json_number((*c)[i], where, "category_probabilities[" + std::to_string(i) + "]"));
  }
  r.correct1 = json_bool(json_field(j, "correct", where), where, "correct");
  r.correctk = r.correct1;
  if (const auto* k = optional_field(j, "topk_correct")) r.correctk = json_bool(*k, where, "topk_correct");
  return r;
}

void check_results_header(const nlohmann::json& h, const std::string& where) {
  const nlohmann::json* format = h.is_object() ? optional_field(h, "format") : nullptr;
  if (!format || !format->is_string() || *format != kResultsFormat)
    throw Error(where, "not a bagnet-eval results file (its first line has no \"format\": \"" +
                           std::string(kResultsFormat) + "\")");
  const nlohmann::json& run = json_field(h, "run", where);
  json_string(json_field(run, "model", where, "run"), where, "run.model");
  const nlohmann::json& dataset = json_field(run, "dataset", where, "run");
  json_string(json_field(dataset, "name", where, "run.dataset"), where, "run.dataset.name");
  json_string(json_field(dataset, "kind", where, "run.dataset"), where, "run.dataset.kind");
  json_bool(json_field(dataset, "categorical", where, "run.dataset"), where, "run.dataset.categorical");
  const auto images =
      json_integer<size_t>(json_field(dataset, "images", where, "run.dataset"), where, "run.dataset.images");
  json_integer<int>(json_field(run, "topk", where, "run"), where, "run.topk", 1, INT_MAX);
  if (const auto* c = optional_field(run, "categories")) string_array(*c, where, "run.categories");
  const nlohmann::json& shard = json_field(h, "shard", where);
  const auto count =
      json_integer<size_t>(json_field(shard, "count", where, "shard"), where, "shard.count", 1, kMaxShards);
  json_integer<size_t>(json_field(shard, "index", where, "shard"), where, "shard.index", 0, count - 1);
  json_integer<size_t>(json_field(shard, "images", where, "shard"), where, "shard.images", 0, images);
  json_string(json_field(json_field(h, "model", where), "name", where, "model"), where, "model.name");
  const nlohmann::json& provenance = json_field(h, "provenance", where);
  if (!provenance.is_object()) throw Error(where, "'provenance' is not an object");
  if (const auto* d = optional_field(provenance, "device")) json_string(*d, where, "provenance.device");
  if (const auto* t = optional_field(provenance, "threads"))
    json_integer<int>(*t, where, "provenance.threads");
  if (const auto* t = optional_field(h, "tool")) json_string(*t, where, "tool");
  if (const auto* s = optional_field(h, "source")) json_string(*s, where, "source");
  if (const auto* r = optional_field(h, "resumed")) json_integer<int>(*r, where, "resumed", 0, INT_MAX - 1);
}

std::vector<std::string> categories_of(const nlohmann::json& run) {
  const auto it = run.find("categories");
  return it == run.end() ? std::vector<std::string>{} : it->get<std::vector<std::string>>();
}

ResultsFile parse_results(const std::string& text, const std::string& path) {
  ResultsFile f;
  std::vector<std::string> categories;
  size_t images = 0;
  size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    const size_t nl = text.find('\n', pos);
    const bool complete = nl != std::string::npos;
    const std::string line = text.substr(pos, complete ? nl - pos : std::string::npos);
    ++lineno;
    const std::string where = path + ":" + std::to_string(lineno);
    nlohmann::json j;
    bool parsed = complete;
    if (complete) {
      try {
        j = parse_json(line, where);
      } catch (const Error&) {
        parsed = false;
      }
    }
    if (!parsed) {
      if (!complete || nl + 1 >= text.size()) break;  // an interrupted last write
      throw Error(where, "not a JSON line");
    }
    if (lineno == 1) {
      check_results_header(j, where);
      f.header = std::move(j);
      categories = categories_of(f.header["run"]);
      images = f.header["run"]["dataset"]["images"].get<size_t>();
    } else {
      Record r = record_from_json(j, categories, where);
      if (r.position >= images)
        throw Error(where, "position " + std::to_string(r.position) + " is outside the run's " +
                               std::to_string(images) + " images");
      f.records.push_back(std::move(r));
      f.lines.push_back(line);
    }
    pos = nl + 1;
  }
  if (f.header.is_null()) throw Error(path, "no header line");
  return f;
}

ResultsFile read_results(const std::string& path) { return parse_results(read_file(path), path); }

}  // namespace bagnet::evaluation
