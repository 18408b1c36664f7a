#include "attribution/scores.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace bagnet::attribution {

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("pearson: samples of different lengths");
  const double n = static_cast<double>(a.size());
  if (a.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double ma = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mb = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

std::vector<double> average_ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t i, size_t j) { return v[i] < v[j]; });
  std::vector<double> ranks(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double r = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;  // mean of ranks i+1..j+1
    for (size_t k = i; k <= j; ++k) ranks[order[k]] = r;
    i = j + 1;
  }
  return ranks;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson(average_ranks(a), average_ranks(b));
}

std::vector<double> cell_sums(const float* map, int rows, int cols, int cell) {
  if (cell < 1) throw std::invalid_argument("cell_sums: cell < 1");
  const int cr = (rows + cell - 1) / cell, cc = (cols + cell - 1) / cell;
  std::vector<double> out(static_cast<size_t>(cr) * cc, 0.0);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < cols; ++x) out[static_cast<size_t>(y / cell) * cc + x / cell] += map[y * cols + x];
  return out;
}

std::vector<int> ranking(const std::vector<double>& scores) {
  std::vector<int> order(scores.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int i, int j) { return scores[i] > scores[j]; });
  return order;
}

double top_k_overlap(const std::vector<double>& a, const std::vector<double>& b, int k) {
  if (a.size() != b.size()) throw std::invalid_argument("top_k_overlap: maps of different sizes");
  k = std::clamp<int>(k, 1, static_cast<int>(a.size()));
  auto ra = ranking(a), rb = ranking(b);
  ra.resize(k);
  rb.resize(k);
  std::sort(ra.begin(), ra.end());
  std::sort(rb.begin(), rb.end());
  std::vector<int> both;
  std::set_intersection(ra.begin(), ra.end(), rb.begin(), rb.end(), std::back_inserter(both));
  return static_cast<double>(both.size()) / k;
}

double area_under_curve(const std::vector<double>& x, const std::vector<double>& y) {
  double area = 0;
  for (size_t i = 1; i < x.size(); ++i) area += (x[i] - x[i - 1]) * (y[i] + y[i - 1]) / 2;
  return area;
}

std::vector<int> deletion_counts(int cells, int points) {
  std::vector<int> counts;
  if (points <= 1 || points > cells + 1) {
    for (int k = 0; k <= cells; ++k) counts.push_back(k);
    return counts;
  }
  for (int p = 0; p < points; ++p) {
    const int k = static_cast<int>(std::lround(static_cast<double>(p) * cells / (points - 1)));
    if (counts.empty() || counts.back() != k) counts.push_back(k);
  }
  return counts;
}

std::vector<std::vector<std::uint8_t>> deletion_masks(const std::vector<int>& order,
                                                      const std::vector<int>& counts, int rows, int cols,
                                                      int cell) {
  const int cc = (cols + cell - 1) / cell;
  std::vector<std::vector<std::uint8_t>> masks;
  std::vector<std::uint8_t> mask(static_cast<size_t>(rows) * cols, 0);
  int done = 0;
  for (int k : counts) {
    for (; done < k; ++done) {
      const int r = order[done] / cc, c = order[done] % cc;
      for (int y = r * cell; y < std::min(rows, (r + 1) * cell); ++y)
        for (int x = c * cell; x < std::min(cols, (c + 1) * cell); ++x)
          mask[static_cast<size_t>(y) * cols + x] = 1;
    }
    masks.push_back(mask);
  }
  return masks;
}

Summary summarise(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  Summary s;
  s.n = v.size();
  if (v.empty()) {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    s.mean = s.std = s.median = s.q1 = s.q3 = s.min = s.max = nan;
    return s;
  }
  std::sort(v.begin(), v.end());
  s.mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / (v.size() - 1)) : 0;
  auto pct = [&](double p) {
    const double pos = p / 100 * (v.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(v.size() - 1, lo + 1);
    return v[lo] + (pos - lo) * (v[hi] - v[lo]);
  };
  s.median = pct(50);
  s.q1 = pct(25);
  s.q3 = pct(75);
  s.min = v.front();
  s.max = v.back();
  return s;
}

}  // namespace bagnet::attribution
