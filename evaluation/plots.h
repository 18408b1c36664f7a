#pragma once
// Paper-ready figures of evaluation results, drawn with cairo: vector (.svg, .pdf) and raster
// (.png), chosen by the file extension. No torch here.
#include <string>
#include <vector>

namespace bagnet::evaluation {

// One decision maker (a model, or the pooled human observers) in the shape-bias figure.
struct ShapeBiasSeries {
  std::string name;  // legend entry, e.g. "bagnet33" or "humans"
  bool human = false;
  // Fraction of shape decisions, shape / (shape + texture), per category, in the order of the
  // `categories` argument; NaN where the category has no shape or texture decision.
  std::vector<double> per_category;
  double overall = 0;  // over all categories: the vertical line
};

// The cue-conflict figure of Geirhos et al. (ICLR 2019, Fig. 4): one row per category (in the
// given order, top to bottom), horizontal axis the fraction of shape decisions (top axis,
// 0 -> 1) and of texture decisions (bottom axis, 1 -> 0), one marker per category and
// decision maker, a vertical line at each one's overall value, a legend.
// Throws bagnet::Error (path: reason) for an unknown extension or a write failure.
void write_shape_bias_figure(const std::string& path, const std::vector<std::string>& categories,
                             const std::vector<ShapeBiasSeries>& series);

// A square matrix of values between vmin and vmax (e.g. error consistency, Cohen's kappa,
// between decision makers), colour-coded with the value printed in each cell, names on both axes.
struct MatrixFigure {
  std::string title;                       // e.g. "error consistency (Cohen's kappa)"
  std::vector<std::string> names;          // rows and columns
  std::vector<std::vector<double>> values; // names.size() x names.size(); NaN = no value
  double vmin = -1, vmax = 1;
};
void write_matrix_figure(const std::string& path, const MatrixFigure& figure);

}  // namespace bagnet::evaluation
