#include "evaluation/categories.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "lib/error.h"
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

CategoryMapping load_category_mapping(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(path, "cannot open the category mapping");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw Error(path, std::string("not valid JSON: ") + e.what());
  }
  CategoryMapping m;
  m.path = path;
  try {
    m.name = j.value("name", "");
    m.num_classes = j.at("num_classes").get<int>();
    if (m.num_classes <= 0) throw Error(path, "num_classes must be positive");
    std::set<int> seen;
    for (const auto& c : j.at("categories")) {
      const std::string name = c.at("category").get<std::string>();
      if (m.category_index(name) >= 0) throw Error(path, "category '" + name + "' is listed twice");
      auto idx = c.at("indices").get<std::vector<int>>();
      if (idx.empty()) throw Error(path, "category '" + name + "' has no class indices");
      for (int i : idx) {
        if (i < 0 || i >= m.num_classes)
          throw Error(path, "category '" + name + "': index " + std::to_string(i) + " is outside [0, " +
                                std::to_string(m.num_classes) + ")");
        if (!seen.insert(i).second)
          throw Error(path, "class " + std::to_string(i) + " belongs to two categories");
      }
      m.categories.push_back(name);
      m.indices.push_back(std::move(idx));
    }
  } catch (const nlohmann::json::exception& e) {
    throw Error(path,
                std::string("expected {\"num_classes\", \"categories\": [{\"category\", \"indices\"}]}: ") +
                    e.what());
  }
  if (m.categories.empty()) throw Error(path, "no categories");
  return m;
}

const CategoryMapping& sixteen_class_mapping() {
  static const CategoryMapping m = load_category_mapping(config_dir() + "/sixteen_class.json");
  return m;
}

}  // namespace bagnet::evaluation
