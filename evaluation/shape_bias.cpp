#include "evaluation/shape_bias.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "datasets/eval_dataset.h"
#include "lib/error.h"

namespace bagnet::evaluation {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool known(const std::vector<std::string>& categories, const std::string& c) {
  return std::find(categories.begin(), categories.end(), c) != categories.end();
}

nlohmann::json number_or_null(double v) {
  return std::isnan(v) ? nlohmann::json(nullptr) : nlohmann::json(v);
}

nlohmann::json counts_json(const DecisionCounts& c) {
  return {{"shape_bias", number_or_null(c.shape_bias())},
          {"shape_fraction", number_or_null(c.shape_fraction())},
          {"texture_fraction", number_or_null(c.texture_fraction())},
          {"trials", c.trials},
          {"shape_decisions", c.shape},
          {"texture_decisions", c.texture},
          {"other_decisions", c.trials - c.shape - c.texture}};
}

}  // namespace

CueConflictName parse_cue_conflict_name(const std::string& name, const std::vector<std::string>& categories,
                                        const std::string& where) {
  const std::string file = stimulus_name(name.substr(name.find_last_of('/') + 1));
  CueConflictName out;
  if (!split_cue_conflict_name(file, &out.shape, &out.texture))
    throw Error(where, "stimulus name '" + (file.size() > 200 ? file.substr(0, 200) + "..." : file) +
                           "' does not parse as <shape><i>-<texture><j>.png");
  for (const auto& c : {out.shape, out.texture})
    if (!known(categories, c))
      throw Error(where, "unknown category '" + c + "' in stimulus name '" + file + "'");
  return out;
}

double DecisionCounts::shape_bias() const {
  return shape + texture ? static_cast<double>(shape) / static_cast<double>(shape + texture) : kNaN;
}
double DecisionCounts::shape_fraction() const {
  return trials ? static_cast<double>(shape) / static_cast<double>(trials) : kNaN;
}
double DecisionCounts::texture_fraction() const {
  return trials ? static_cast<double>(texture) / static_cast<double>(trials) : kNaN;
}

ShapeBias shape_bias(const std::vector<CueConflictTrial>& trials,
                     const std::vector<std::string>& categories) {
  ShapeBias r;
  r.per_category.resize(categories.size());
  for (const auto& t : trials) {
    if (t.shape == t.texture) {
      ++r.excluded;
      continue;
    }
    const auto it = std::find(categories.begin(), categories.end(), t.shape);
    for (DecisionCounts* c :
         {&r.overall, it == categories.end() ? nullptr : &r.per_category[it - categories.begin()]}) {
      if (!c) continue;
      ++c->trials;
      if (t.response == t.shape) ++c->shape;
      if (t.response == t.texture) ++c->texture;
    }
  }
  return r;
}

std::vector<CueConflictTrial> cue_conflict_trials(const std::vector<TrialRow>& rows,
                                                  const std::vector<std::string>& categories) {
  std::vector<CueConflictTrial> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    const auto name = parse_cue_conflict_name(row.imagename, categories, row.origin);
    if (row.category != name.shape)
      throw Error(row.origin, "category '" + row.category + "' differs from the shape category '" +
                                  name.shape + "' of " + row.imagename);
    if (row.object_response != "na" && !known(categories, row.object_response))
      throw Error(row.origin, "unknown response '" + row.object_response + "' (expected a category or na)");
    out.push_back({name.shape, name.texture, row.object_response});
  }
  return out;
}

nlohmann::json shape_bias_json(const ShapeBias& r, const std::vector<std::string>& categories) {
  nlohmann::json j = counts_json(r.overall);
  j["excluded_same_category"] = r.excluded;
  auto& per = j["per_category"] = nlohmann::json::object();
  for (size_t c = 0; c < categories.size(); ++c) per[categories[c]] = counts_json(r.per_category[c]);
  return j;
}

}  // namespace bagnet::evaluation
