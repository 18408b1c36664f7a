#include "figures/plots.h"

#include <cairo.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include "figures/canvas.h"
#include "figures/colormap.h"
#include "lib/error.h"

namespace bagnet::figures {
namespace {

namespace fs = std::filesystem;
using namespace canvas;
using detail::MarkerShape;
using detail::MarkerStyle;
using detail::Rgb;

void set_color(cairo_t* cr, const Rgb& c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

// ---------------------------------------------------------------------------------------------
// Shape-bias figure

constexpr double kMargin = 10;
constexpr double kCategoryFont = kLabelFont, kAxisTitleFont = kLabelFont, kLegendFont = kTickFont;
constexpr double kRowHeight = 24;
constexpr double kPlotWidth = 250;
constexpr double kAxisBand = 38;  // above and below the frame: ticks, tick labels, axis title
constexpr double kPlotPad = 8;    // inside the frame, left of 0 and right of 1, so markers fit
constexpr double kMarkerRadius = 4.5;
constexpr double kLegendRow = 16;

Rgb hex(unsigned v) { return {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0}; }

std::string legend_label(const ShapeBiasSeries& s) {
  return std::isfinite(s.overall) ? s.name + " (" + format_fixed(s.overall, 2) + ")" : s.name;
}

void marker_path(cairo_t* cr, MarkerShape shape, double x, double y, double r) {
  switch (shape) {
    case MarkerShape::circle:
      cairo_new_sub_path(cr);
      cairo_arc(cr, x, y, r, 0, 2 * kPi);
      break;
    case MarkerShape::square: {
      const double h = 0.88 * r;  // about the circle's area
      cairo_rectangle(cr, x - h, y - h, 2 * h, 2 * h);
      break;
    }
    case MarkerShape::diamond: {
      const double d = 1.25 * r;
      cairo_move_to(cr, x, y - d);
      cairo_line_to(cr, x + d, y);
      cairo_line_to(cr, x, y + d);
      cairo_line_to(cr, x - d, y);
      cairo_close_path(cr);
      break;
    }
    case MarkerShape::triangle_up:
    case MarkerShape::triangle_down: {
      const double R = 1.35 * r, s = shape == MarkerShape::triangle_up ? 1 : -1;  // centroid at (x, y)
      cairo_move_to(cr, x, y - s * R);
      cairo_line_to(cr, x + R * std::sqrt(3.0) / 2, y + s * R / 2);
      cairo_line_to(cr, x - R * std::sqrt(3.0) / 2, y + s * R / 2);
      cairo_close_path(cr);
      break;
    }
  }
}

// Filled, with a thin white edge that keeps overlapping markers apart.
void draw_marker(cairo_t* cr, const MarkerStyle& style, double x, double y) {
  marker_path(cr, style.shape, x, y, kMarkerRadius);
  set_color(cr, style.color);
  cairo_fill_preserve(cr);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_set_line_width(cr, 0.6);
  cairo_stroke(cr);
}

void validate(const std::string& path, const std::vector<std::string>& categories,
              const std::vector<ShapeBiasSeries>& series) {
  if (categories.empty()) throw Error(path, "shape-bias figure without categories");
  for (const auto& s : series) {
    if (s.per_category.size() != categories.size())
      throw Error(path, "series '" + s.name + "' has " + std::to_string(s.per_category.size()) +
                            " values for " + std::to_string(categories.size()) + " categories");
    for (std::size_t i = 0; i < categories.size(); ++i) {
      const double v = s.per_category[i];
      if (!std::isnan(v) && !(v >= 0 && v <= 1))
        throw Error(path, "series '" + s.name + "': fraction of shape decisions " + std::to_string(v) +
                              " for category '" + categories[i] + "' is not in [0, 1]");
    }
    if (!std::isnan(s.overall) && !(s.overall >= 0 && s.overall <= 1))
      throw Error(path, "series '" + s.name + "': overall fraction " + std::to_string(s.overall) +
                            " is not in [0, 1]");
  }
}

// ---------------------------------------------------------------------------------------------
// Matrix figure

constexpr double kNameFont = kLabelFont, kBarFont = kTickFont;
constexpr double kTitleBand = 24;

double value_font(double cell) { return std::min(10.0, 0.32 * cell); }

std::vector<std::string> bar_labels(double vmin, double vmax) {
  return {format_fixed(vmin, 2), format_fixed((vmin + vmax) / 2, 2), format_fixed(vmax, 2)};
}

void validate(const std::string& path, const MatrixFigure& f) {
  const std::size_t n = f.names.size();
  if (n == 0) throw Error(path, "matrix figure without names");
  if (f.values.size() != n)
    throw Error(path, "matrix figure has " + std::to_string(f.values.size()) + " rows for " +
                          std::to_string(n) + " names");
  for (std::size_t i = 0; i < n; ++i)
    if (f.values[i].size() != n)
      throw Error(path, "matrix figure row " + std::to_string(i) + " ('" + f.names[i] + "') has " +
                            std::to_string(f.values[i].size()) + " values for " + std::to_string(n) +
                            " names");
  if (!std::isfinite(f.vmin) || !std::isfinite(f.vmax) || !(f.vmin < f.vmax))
    throw Error(path, "matrix figure needs finite vmin < vmax (got " + std::to_string(f.vmin) + ", " +
                          std::to_string(f.vmax) + ")");
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// detail: layouts and styles

namespace detail {

MarkerStyle series_style(const std::vector<ShapeBiasSeries>& series, std::size_t index) {
  // tab10 (matplotlib's default cycle) without its red, which marks humans (Geirhos et al.).
  static const Rgb kModelColors[] = {hex(0x1f77b4), hex(0xff7f0e), hex(0x2ca02c),
                                     hex(0x9467bd), hex(0x8c564b), hex(0xe377c2),
                                     hex(0x7f7f7f), hex(0xbcbd22), hex(0x17becf)};
  static const MarkerShape kModelShapes[] = {MarkerShape::circle, MarkerShape::square,
                                             MarkerShape::triangle_up, MarkerShape::triangle_down};
  static const MarkerShape kHumanShapes[] = {MarkerShape::diamond, MarkerShape::circle, MarkerShape::square,
                                             MarkerShape::triangle_up, MarkerShape::triangle_down};
  const bool human = series.at(index).human;
  std::size_t k = 0;  // among the series of the same kind
  for (std::size_t i = 0; i < index; ++i)
    if (series[i].human == human) ++k;
  if (human) return {hex(0xd62728), kHumanShapes[k % 5]};
  return {kModelColors[k % 9], kModelShapes[k % 4]};
}

double ShapeBiasLayout::x(double shape_fraction) const {
  return plot_left + kPlotPad + shape_fraction * (plot_right - plot_left - 2 * kPlotPad);
}

double ShapeBiasLayout::row_y(std::size_t row) const { return plot_top + (row + 0.5) * row_height; }

ShapeBiasLayout shape_bias_layout(const std::vector<std::string>& categories,
                                  const std::vector<ShapeBiasSeries>& series) {
  Measure m;
  ShapeBiasLayout L;
  L.plot_left = kMargin + m.max_width(categories, kCategoryFont) + 8;
  L.plot_right = L.plot_left + kPlotWidth;
  L.plot_top = kMargin + kAxisBand;
  L.row_height = kRowHeight;
  L.marker_radius = kMarkerRadius;
  L.plot_bottom = L.plot_top + categories.size() * kRowHeight;
  L.legend_left = L.plot_right + 16;
  L.legend_top = L.plot_top;
  L.legend_row_height = kLegendRow;
  double legend_width = 0;
  for (const auto& s : series)
    legend_width = std::max(legend_width, 2 * kMarkerRadius + 6 + m.width(legend_label(s), kLegendFont));
  // The axis titles are centred over the frame and may be wider than it.
  const double title_overhang =
      std::max(0.0, m.width("Fraction of 'texture' decisions", kAxisTitleFont) - kPlotWidth) / 2;
  L.width = (series.empty() ? L.plot_right + title_overhang : L.legend_left + legend_width) + kMargin;
  L.height =
      std::max(L.plot_bottom + kAxisBand + kMargin, L.legend_top + series.size() * kLegendRow + kMargin);
  return L;
}

MatrixLayout matrix_layout(const MatrixFigure& figure) {
  Measure m;
  MatrixLayout L;
  const std::size_t n = figure.names.size();
  L.cell = std::clamp(360.0 / std::max<std::size_t>(n, 1), 28.0, 48.0);
  const double name_width = m.max_width(figure.names, kNameFont);
  L.left = kMargin + name_width + 6;
  L.top = kMargin + (figure.title.empty() ? 0 : kTitleBand);
  const double size = n * L.cell;
  L.colorbar_left = L.left + size + 14;
  L.colorbar_width = 12;
  const double bar_label_width = m.max_width(bar_labels(figure.vmin, figure.vmax), kBarFont);
  L.width = L.colorbar_left + L.colorbar_width + 7 + bar_label_width + kMargin;
  L.width = std::max(L.width, 2 * kMargin + m.width(figure.title, kTitleFont));
  L.height = L.top + size + 6 + name_width + kMargin;
  return L;
}

Rgb matrix_color(double value, double vmin, double vmax) {
  if (std::isnan(value)) return {0.8, 0.8, 0.8};
  const auto& lut = colormap("RdBu_r").lut;
  const double x = (value - vmin) / (vmax - vmin);
  const int i = static_cast<int>(std::clamp(std::floor(x * 256.0), 0.0, 255.0));
  return {lut[i][0] / 255.0, lut[i][1] / 255.0, lut[i][2] / 255.0};
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------

void write_shape_bias_figure(const std::string& path, const std::vector<std::string>& categories,
                             const std::vector<ShapeBiasSeries>& series) {
  const Format format = format_of(path);
  validate(path, categories, series);
  const detail::ShapeBiasLayout L = detail::shape_bias_layout(categories, series);
  const double mid_x = (L.plot_left + L.plot_right) / 2;

  const std::string bytes = render(path, format, L.width, L.height, [&](cairo_t* cr) {
    // Light grid: every 0.1 and every row.
    cairo_set_line_width(cr, 0.5);
    cairo_set_source_rgb(cr, 0.88, 0.88, 0.88);
    for (int t = 0; t <= 10; ++t) {
      cairo_move_to(cr, L.x(t / 10.0), L.plot_top);
      cairo_line_to(cr, L.x(t / 10.0), L.plot_bottom);
    }
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.93, 0.93, 0.93);
    for (std::size_t i = 0; i < categories.size(); ++i) {
      cairo_move_to(cr, L.plot_left, L.row_y(i));
      cairo_line_to(cr, L.plot_right, L.row_y(i));
    }
    cairo_stroke(cr);

    // Frame and ticks: shape fraction on top (0 -> 1), texture fraction = 1 - shape below.
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.8);
    cairo_rectangle(cr, L.plot_left, L.plot_top, L.plot_right - L.plot_left, L.plot_bottom - L.plot_top);
    for (int t = 0; t <= 10; ++t) {
      const double len = t % 2 == 0 ? 4 : 2;
      cairo_move_to(cr, L.x(t / 10.0), L.plot_top);
      cairo_line_to(cr, L.x(t / 10.0), L.plot_top - len);
      cairo_move_to(cr, L.x(t / 10.0), L.plot_bottom);
      cairo_line_to(cr, L.x(t / 10.0), L.plot_bottom + len);
    }
    cairo_stroke(cr);
    cairo_set_font_size(cr, kTickFont);
    for (int t = 0; t <= 10; t += 2) {
      draw_text(cr, format_fixed(t / 10.0, 1), L.x(t / 10.0), L.plot_top - 13, Align::center);
      draw_text(cr, format_fixed(1 - t / 10.0, 1), L.x(t / 10.0), L.plot_bottom + 13, Align::center);
    }
    cairo_set_font_size(cr, kAxisTitleFont);
    draw_text(cr, "Fraction of 'shape' decisions", mid_x, L.plot_top - 29, Align::center);
    draw_text(cr, "Fraction of 'texture' decisions", mid_x, L.plot_bottom + 29, Align::center);

    cairo_set_font_size(cr, kCategoryFont);
    for (std::size_t i = 0; i < categories.size(); ++i)
      draw_text(cr, categories[i], L.plot_left - 6, L.row_y(i), Align::right);

    // Each series' overall fraction: a dashed vertical line under the markers.
    const double dash[] = {4, 2};
    cairo_set_line_width(cr, 1);
    for (std::size_t k = 0; k < series.size(); ++k) {
      if (std::isnan(series[k].overall)) continue;
      set_color(cr, detail::series_style(series, k).color);
      cairo_set_dash(cr, dash, 2, 0);
      cairo_move_to(cr, L.x(series[k].overall), L.plot_top);
      cairo_line_to(cr, L.x(series[k].overall), L.plot_bottom);
      cairo_stroke(cr);
    }
    cairo_set_dash(cr, nullptr, 0, 0);

    // Markers: models in the given order, then humans, the reference, on top.
    for (const bool humans : {false, true})
      for (std::size_t k = 0; k < series.size(); ++k) {
        if (series[k].human != humans) continue;
        const MarkerStyle style = detail::series_style(series, k);
        for (std::size_t i = 0; i < categories.size(); ++i)
          if (!std::isnan(series[k].per_category[i]))
            draw_marker(cr, style, L.x(series[k].per_category[i]), L.row_y(i));
      }

    // Legend, in the given order.
    cairo_set_font_size(cr, kLegendFont);
    for (std::size_t k = 0; k < series.size(); ++k) {
      const double y = L.legend_top + (k + 0.5) * L.legend_row_height;
      draw_marker(cr, detail::series_style(series, k), L.legend_left + kMarkerRadius, y);
      cairo_set_source_rgb(cr, 0, 0, 0);
      draw_text(cr, legend_label(series[k]), L.legend_left + 2 * kMarkerRadius + 6, y, Align::left);
    }
  });
  write_atomically(path, bytes);
}

void write_matrix_figure(const std::string& path, const MatrixFigure& figure) {
  const Format format = format_of(path);
  validate(path, figure);
  const detail::MatrixLayout L = detail::matrix_layout(figure);
  const std::size_t n = figure.names.size();
  const double size = n * L.cell;

  const std::string bytes = render(path, format, L.width, L.height, [&](cairo_t* cr) {
    if (!figure.title.empty()) {
      cairo_set_font_size(cr, kTitleFont);
      const double w = text_width(cr, figure.title);
      const double x = std::clamp(L.left + size / 2 - w / 2, kMargin, L.width - kMargin - w);
      cairo_set_source_rgb(cr, 0, 0, 0);
      draw_text(cr, figure.title, x, kMargin + kTitleBand / 2 - 2, Align::left);
    }

    // Cells, then white separators, then the values.
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        set_color(cr, detail::matrix_color(figure.values[i][j], figure.vmin, figure.vmax));
        cairo_rectangle(cr, L.left + j * L.cell, L.top + i * L.cell, L.cell, L.cell);
        cairo_fill(cr);
      }
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_set_line_width(cr, 1);
    for (std::size_t k = 1; k < n; ++k) {
      cairo_move_to(cr, L.left + k * L.cell, L.top);
      cairo_line_to(cr, L.left + k * L.cell, L.top + size);
      cairo_move_to(cr, L.left, L.top + k * L.cell);
      cairo_line_to(cr, L.left + size, L.top + k * L.cell);
    }
    cairo_stroke(cr);
    cairo_set_font_size(cr, value_font(L.cell));
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t j = 0; j < n; ++j) {
        const double v = figure.values[i][j];
        if (std::isnan(v)) continue;
        const Rgb c = detail::matrix_color(v, figure.vmin, figure.vmax);
        const double luminance = 0.299 * c.r + 0.587 * c.g + 0.114 * c.b;
        const double ink = luminance < 0.5 ? 1 : 0;
        cairo_set_source_rgb(cr, ink, ink, ink);
        draw_text(cr, format_fixed(v, 2), L.left + (j + 0.5) * L.cell, L.top + (i + 0.5) * L.cell,
                  Align::center);
      }

    // Names: rows on the left, columns below, rotated to read upwards and ending at the matrix.
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, kNameFont);
    for (std::size_t i = 0; i < n; ++i)
      draw_text(cr, figure.names[i], L.left - 6, L.top + (i + 0.5) * L.cell, Align::right);
    for (std::size_t j = 0; j < n; ++j) {
      cairo_save(cr);
      cairo_translate(cr, L.left + (j + 0.5) * L.cell, L.top + size + 6);
      cairo_rotate(cr, -kPi / 2);
      draw_text(cr, figure.names[j], 0, 0, Align::right);
      cairo_restore(cr);
    }

    // Colour bar: vmax at the top, the 256 colours of the lookup table.
    cairo_pattern_t* gradient = cairo_pattern_create_linear(0, L.top + size, 0, L.top);
    for (int k = 0; k < 256; ++k) {
      const double v = figure.vmin + (k + 0.5) / 256.0 * (figure.vmax - figure.vmin);
      const Rgb c = detail::matrix_color(v, figure.vmin, figure.vmax);
      cairo_pattern_add_color_stop_rgb(gradient, (k + 0.5) / 256.0, c.r, c.g, c.b);
    }
    cairo_rectangle(cr, L.colorbar_left, L.top, L.colorbar_width, size);
    cairo_set_source(cr, gradient);
    cairo_fill(cr);
    cairo_pattern_destroy(gradient);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_line_width(cr, 0.6);
    cairo_rectangle(cr, L.colorbar_left, L.top, L.colorbar_width, size);
    const std::vector<std::string> labels = bar_labels(figure.vmin, figure.vmax);
    const double right = L.colorbar_left + L.colorbar_width;
    for (int k = 0; k < 3; ++k) {
      const double y = L.top + size - k * size / 2;
      cairo_move_to(cr, right, y);
      cairo_line_to(cr, right + 3, y);
    }
    cairo_stroke(cr);
    cairo_set_font_size(cr, kBarFont);
    for (int k = 0; k < 3; ++k) draw_text(cr, labels[k], right + 5, L.top + size - k * size / 2, Align::left);
  });
  write_atomically(path, bytes);
}

}  // namespace bagnet::figures
