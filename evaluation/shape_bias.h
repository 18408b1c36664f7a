#pragma once
// Shape vs texture decisions on cue-conflict stimuli (Geirhos et al., ICLR 2019, "ImageNet-trained
// CNNs are biased towards texture; increasing shape bias improves accuracy and robustness"):
// stimuli whose shape and texture categories agree are excluded; among the rest, a decision
// equal to the shape category is a shape decision, one equal to the texture category a texture
// decision; shape bias = shape / (shape + texture). No torch here.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluation/trials_csv.h"

namespace bagnet::evaluation {

struct CueConflictName {
  std::string shape, texture;
};

// "<shape><i>-<texture><j>.png" (e.g. "airplane1-bicycle2.png"), also inside model-vs-human's
// experiment names ("0001_s5n_s01_0_airplane_00_airplane1-bicycle2.png"). Both categories must
// be in `categories`. Throws bagnet::Error(where, reason) when the name does not parse or names an
// unknown category.
CueConflictName parse_cue_conflict_name(const std::string& name, const std::vector<std::string>& categories,
                                        const std::string& where);

struct DecisionCounts {
  long trials = 0;                  // cue-conflict trials counted (shape != texture), any response
  long shape = 0;                   // response == shape category
  long texture = 0;                 // response == texture category
  double shape_bias() const;        // shape / (shape + texture); NaN when both are 0
  double shape_fraction() const;    // shape / trials; NaN when no trials
  double texture_fraction() const;  // texture / trials
};

struct ShapeBias {
  DecisionCounts overall;
  std::vector<DecisionCounts> per_category;  // by shape category, in the order of `categories`
  long excluded = 0;                         // trials with shape == texture
};

struct CueConflictTrial {
  std::string shape, texture, response;  // response: a category, or anything else (e.g. "na")
};

ShapeBias shape_bias(const std::vector<CueConflictTrial>& trials, const std::vector<std::string>& categories);

// Rows of one decision maker (model-vs-human CSV) as cue-conflict trials: the shape category
// is taken from the image name and checked against the `category` column; `object_response`
// must be a category or "na". Throws bagnet::Error naming file:line otherwise.
std::vector<CueConflictTrial> cue_conflict_trials(const std::vector<TrialRow>& rows,
                                                  const std::vector<std::string>& categories);

// {"shape_bias", "shape_fraction", "texture_fraction", "counts", "excluded", "per_category": {...}};
// NaN values are written as null.
nlohmann::json shape_bias_json(const ShapeBias& result, const std::vector<std::string>& categories);

}  // namespace bagnet::evaluation
