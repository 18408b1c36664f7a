#include "evaluation/metrics.h"

#include <algorithm>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace bagnet::evaluation {

TrialScore score_trial(const std::vector<float>& p, int target, int k, const CategoryMapping* mapping,
                       Aggregation aggregation) {
  TrialScore s;
  k = std::clamp(k, 1, static_cast<int>(p.size()));
  std::vector<int> order(p.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int a, int b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  s.top.assign(order.begin(), order.begin() + k);
  for (int i : s.top) s.top_probability.push_back(p[i]);
  if (target >= 0) {
    s.correct1 = s.top[0] == target;
    s.correctk = std::find(s.top.begin(), s.top.end(), target) != s.top.end();
  }
  if (mapping) {
    if (static_cast<int>(p.size()) != mapping->num_classes)
      throw std::invalid_argument("the category mapping expects " + std::to_string(mapping->num_classes) +
                                  " classes, the model has " + std::to_string(p.size()));
    s.category_scores = mapping->scores(p.data(), aggregation);
    s.category = static_cast<int>(std::max_element(s.category_scores.begin(), s.category_scores.end()) -
                                  s.category_scores.begin());
  }
  return s;
}

ErrorConsistency error_consistency(const std::vector<bool>& a, const std::vector<bool>& b) {
  if (a.size() != b.size() || a.empty())
    throw std::invalid_argument("error consistency needs two equally long, non-empty trial lists");
  ErrorConsistency e;
  e.trials = a.size();
  size_t right1 = 0, right2 = 0, agree = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    right1 += a[i];
    right2 += b[i];
    agree += a[i] == b[i];
  }
  const double n = static_cast<double>(e.trials);
  e.accuracy1 = right1 / n;
  e.accuracy2 = right2 / n;
  e.observed = agree / n;
  e.expected = e.accuracy1 * e.accuracy2 + (1 - e.accuracy1) * (1 - e.accuracy2);
  e.kappa = e.expected >= 1.0 ? std::numeric_limits<double>::quiet_NaN()
                              : (e.observed - e.expected) / (1 - e.expected);
  return e;
}

}  // namespace bagnet::evaluation
