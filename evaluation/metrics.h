#pragma once
// Scoring of single trials and agreement between decision makers. No torch here.
#include <cstddef>
#include <vector>

#include "evaluation/categories.h"

namespace bagnet::evaluation {

// One image's scores from its full probability vector (softmax over the model's classes).
struct TrialScore {
  std::vector<int> top;  // the k most probable classes, most probable first (ties: lower index)
  std::vector<float> top_probability;
  bool correct1 = false, correctk = false;  // target class at rank 1 / within the top k
  int category = -1;                        // decision among the mapping's categories (-1: no mapping)
  std::vector<double> category_scores;      // per category
};

// `target`: the true class (-1 when the label lives in the mapping's categories instead);
// `mapping` may be null.
TrialScore score_trial(const std::vector<float>& probabilities, int target, int k,
                       const CategoryMapping* mapping, Aggregation aggregation);

// Error consistency (Geirhos, Meding & Wichmann, NeurIPS 2020, "Beyond accuracy: quantifying
// trial-by-trial behaviour of CNNs and humans by measuring error consistency"): observed
// agreement c_obs (both right or both wrong), agreement expected from the accuracies alone
// c_exp = p1 p2 + (1 - p1)(1 - p2), and Cohen's kappa = (c_obs - c_exp) / (1 - c_exp).
// kappa is undefined (NaN) when c_exp = 1, i.e. both accuracies are 0 or both are 1.
struct ErrorConsistency {
  size_t trials = 0;
  double accuracy1 = 0, accuracy2 = 0, observed = 0, expected = 0, kappa = 0;
};
// Throws std::invalid_argument when the lengths differ or are 0.
ErrorConsistency error_consistency(const std::vector<bool>& correct1, const std::vector<bool>& correct2);

}  // namespace bagnet::evaluation
