#include "evaluation/categories.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/json_read.h"
#include "networks/registry.h"

namespace bagnet::evaluation {

Aggregation parse_aggregation(const std::string& name) {
  if (name == "mean") return Aggregation::Mean;
  if (name == "sum") return Aggregation::Sum;
  if (name == "max") return Aggregation::Max;
  throw Error("--aggregation " + name, "expected mean, sum or max");
}

std::string to_string(Aggregation a) {
  switch (a) {
    case Aggregation::Mean:
      return "mean";
    case Aggregation::Sum:
      return "sum";
    case Aggregation::Max:
      return "max";
  }
  return "mean";
}

int CategoryMapping::category_index(const std::string& category) const {
  const auto it = std::find(categories.begin(), categories.end(), category);
  return it == categories.end() ? -1 : static_cast<int>(it - categories.begin());
}

std::vector<double> CategoryMapping::scores(const float* p, Aggregation aggregation) const {
  std::vector<double> out(categories.size());
  for (size_t c = 0; c < categories.size(); ++c) {
    double s = 0, m = -1;
    for (int i : indices[c]) {
      s += p[i];
      m = std::max(m, static_cast<double>(p[i]));
    }
    out[c] = aggregation == Aggregation::Max   ? m
             : aggregation == Aggregation::Sum ? s
                                               : s / static_cast<double>(indices[c].size());
  }
  return out;
}

int CategoryMapping::decide(const float* p, Aggregation aggregation) const {
  const auto s = scores(p, aggregation);
  return static_cast<int>(std::max_element(s.begin(), s.end()) - s.begin());
}

CategoryMapping parse_category_mapping(const std::string& text, const std::string& path) {
  const nlohmann::json j = parse_json(text, path);
  if (!j.is_object() || !j.contains("num_classes") || !j.contains("categories"))
    throw Error(path, "expected {\"num_classes\", \"categories\": [{\"category\", \"indices\"}]}");
  CategoryMapping m;
  m.path = path;
  if (const auto it = j.find("name"); it != j.end()) m.name = json_string(*it, path, "name");
  // Class indices must fit an int; a bigger label space than this is not a classifier.
  constexpr int kMaxClasses = 1 << 24;
  m.num_classes = json_integer<int>(json_field(j, "num_classes", path), path, "num_classes", 1, kMaxClasses);
  const nlohmann::json& categories = json_field(j, "categories", path);
  if (!categories.is_array()) throw Error(path, "'categories' is not an array");
  std::set<int> seen;
  for (size_t k = 0; k < categories.size(); ++k) {
    const nlohmann::json& c = categories[k];
    const std::string where = "categories[" + std::to_string(k) + "]";
    const std::string name = json_string(json_field(c, "category", path, where), path, where + ".category");
    if (m.category_index(name) >= 0) throw Error(path, "category '" + name + "' is listed twice");
    const nlohmann::json& list = json_field(c, "indices", path, where);
    if (!list.is_array()) throw Error(path, "'" + where + ".indices' is not an array");
    if (list.empty()) throw Error(path, "category '" + name + "' has no class indices");
    std::vector<int> idx;
    for (size_t n = 0; n < list.size(); ++n) {
      const std::string field = where + ".indices[" + std::to_string(n) + "]";
      if (!list[n].is_number()) throw Error(path, "'" + field + "' is not a number");
      // Range message in the mapping's own terms, after the type and integer checks.
      const auto i = json_integer<long long>(list[n], path, field);
      if (i < 0 || i >= m.num_classes)
        throw Error(path, "category '" + name + "': index " + std::to_string(i) + " is outside [0, " +
                              std::to_string(m.num_classes) + ")");
      if (!seen.insert(static_cast<int>(i)).second)
        throw Error(path, "class " + std::to_string(i) + " belongs to two categories");
      idx.push_back(static_cast<int>(i));
    }
    m.categories.push_back(name);
    m.indices.push_back(std::move(idx));
  }
  if (m.categories.empty()) throw Error(path, "no categories");
  return m;
}

CategoryMapping load_category_mapping(const std::string& path) {
  return parse_category_mapping(read_file(path, "cannot open the category mapping"), path);
}

const CategoryMapping& sixteen_class_mapping() {
  static const CategoryMapping m = load_category_mapping(config_dir() + "/sixteen_class.json");
  return m;
}

}  // namespace bagnet::evaluation
