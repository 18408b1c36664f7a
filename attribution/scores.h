#pragma once
// Scoring an attribution map against a BagNet's exact evidence map: correlations, top-k patch
// overlap, deletion curves (Petsiuk et al., RISE, BMVC 2018), and summaries. No torch here.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet::attribution {

// Pearson's r of two equally long samples; NaN when either is constant.
double pearson(const std::vector<double>& a, const std::vector<double>& b);
// Ranks 1..n, ties sharing the mean of their ranks (scipy.stats.rankdata "average").
std::vector<double> average_ranks(const std::vector<double>& v);
// Spearman's rho: Pearson's r of the average ranks (scipy.stats.spearmanr).
double spearman(const std::vector<double>& a, const std::vector<double>& b);

// The map (rows x cols) summed over cells of cell x cell pixels (the last row/column of cells
// smaller when the side is not a multiple): ceil(rows/cell) x ceil(cols/cell), row-major.
std::vector<double> cell_sums(const float* map, int rows, int cols, int cell);

// Cell indices by descending score; ties by index (deterministic).
std::vector<int> ranking(const std::vector<double>& scores);

// |top-k of a  intersect  top-k of b| / k, cells ranked by descending score.
double top_k_overlap(const std::vector<double>& a, const std::vector<double>& b, int k);

// Trapezoidal area under y over x (x ascending).
double area_under_curve(const std::vector<double>& x, const std::vector<double>& y);

// How many cells are masked at each point of a deletion curve of `points` points (0 and all
// included; points <= 0 or > cells + 1: every count 0..cells).
std::vector<int> deletion_counts(int cells, int points);

// Pixel masks (rows x cols, 1 = masked) with the first counts[k] cells of `order` masked.
std::vector<std::vector<std::uint8_t>> deletion_masks(const std::vector<int>& order,
                                                      const std::vector<int>& counts, int rows, int cols,
                                                      int cell);

struct Summary {
  std::size_t n = 0;  // values that are not NaN
  double mean = 0, std = 0, median = 0, q1 = 0, q3 = 0, min = 0, max = 0;
};
// NaNs skipped; std with n - 1 (sample standard deviation); quartiles as numpy.percentile (linear).
Summary summarise(std::vector<double> values);

}  // namespace bagnet::attribution
