#pragma once
// Paper-ready figures of evaluation results, drawn with cairo: vector (.svg, .pdf) and raster
// (.png), chosen by the file extension. No torch here.
#include <cstddef>
#include <string>
#include <vector>

namespace bagnet::figures {

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
// decision maker (NaN: none; humans drawn over models), a dashed vertical line at each one's
// overall value, a legend "name (overall)" in the given order.
// Throws bagnet::Error (path: reason) for an unknown extension, per_category sizes that differ
// from categories.size(), fractions outside [0, 1], no categories, or a write failure.
void write_shape_bias_figure(const std::string& path, const std::vector<std::string>& categories,
                             const std::vector<ShapeBiasSeries>& series);

// A square matrix of values between vmin and vmax (e.g. error consistency, Cohen's kappa,
// between decision makers), colour-coded with the value printed in each cell, names on both axes.
struct MatrixFigure {
  std::string title;                        // e.g. "error consistency (Cohen's kappa)"
  std::vector<std::string> names;           // rows and columns
  std::vector<std::vector<double>> values;  // names.size() x names.size(); NaN = no value
  double vmin = -1, vmax = 1;
};
// Cell colours from matplotlib's RdBu_r between vmin (blue) and vmax (red), white in the
// middle, values outside clipped; NaN cells grey, no text. Throws bagnet::Error for an unknown
// extension, values that are not names.size() x names.size(), vmin >= vmax or a write failure.
void write_matrix_figure(const std::string& path, const MatrixFigure& figure);

// The layout of both figures, in points (1/72 inch; PNGs have kPngPixelsPerPoint pixels per
// point), for tests and for placing annotations. Text widths are measured with cairo.
namespace detail {

constexpr double kPngPixelsPerPoint = 2;

struct Rgb {
  double r = 0, g = 0, b = 0;  // 0..1
};

enum class MarkerShape { circle, square, diamond, triangle_up, triangle_down };

struct MarkerStyle {
  Rgb color;
  MarkerShape shape = MarkerShape::circle;
};

// Humans: red (tab10's d62728), diamonds first; models: tab10 without red (9 colours) crossed
// with circle, square, triangle up and down, so the first 36 models all look different.
MarkerStyle series_style(const std::vector<ShapeBiasSeries>& series, std::size_t index);

struct ShapeBiasLayout {
  double width = 0, height = 0;                                         // the figure
  double plot_left = 0, plot_right = 0, plot_top = 0, plot_bottom = 0;  // the axes' frame
  double row_height = 0;
  double marker_radius = 0;  // circles; the other shapes have about the same area
  double legend_left = 0, legend_top = 0, legend_row_height = 0;
  double x(double shape_fraction) const;  // 0 at the left, 1 at the right (inside the frame)
  double row_y(std::size_t row) const;    // the centre of category row `row`, from the top
};
ShapeBiasLayout shape_bias_layout(const std::vector<std::string>& categories,
                                  const std::vector<ShapeBiasSeries>& series);

struct MatrixLayout {
  double width = 0, height = 0;
  double left = 0, top = 0, cell = 0;  // cell (i, j) spans [left + j cell, +cell) x [top + i cell, +cell)
  double colorbar_left = 0, colorbar_width = 0;  // the colour bar spans the matrix's height
};
MatrixLayout matrix_layout(const MatrixFigure& figure);

// The cell colour: matplotlib's Normalize(vmin, vmax) then the RdBu_r lookup table (256
// entries); grey for NaN.
Rgb matrix_color(double value, double vmin, double vmax);

}  // namespace detail

}  // namespace bagnet::figures
