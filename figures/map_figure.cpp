#include "figures/map_figure.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "figures/canvas.h"
#include "figures/colormap.h"
#include "lib/error.h"

namespace bagnet::figures {
namespace {

using namespace canvas;

// Pixels: the PNG has one per point, so these are also font sizes in pixels.
constexpr int kMargin = 8, kGap = 6, kBarGap = 10, kBarWidth = 12, kTickGap = 4;
constexpr int kTitleLine = 14, kCaptionLine = 12;

std::string tick_label(double v) {
  if (v == 0) return "0";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.3g", v);
  return buf;
}

std::vector<std::string> tick_labels(double clip) { return {tick_label(clip), "0", tick_label(-clip)}; }

// The longest prefix of `s` (whole UTF-8 characters) that fits `width` at `font`, with "..." if cut.
std::string fit(Measure& m, const std::string& s, double font, double width) {
  if (m.width(s, font) <= width) return s;
  std::string cut = s;
  while (!cut.empty()) {
    do cut.pop_back();
    while (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0x80);
    if (!cut.empty() && (static_cast<unsigned char>(cut.back()) & 0xC0) == 0xC0) cut.pop_back();
    if (m.width(cut + "...", font) <= width) return cut + "...";
  }
  return "";
}

}  // namespace

double colorbar_value(int y, int h, double clip) { return clip * (1.0 - 2.0 * y / std::max(1, h - 1)); }

MapFigureLayout map_figure_layout(const MapFigure& f) {
  MapFigureLayout L;
  Measure m;
  size_t lines = 0;
  for (const auto& p : f.panels) lines = std::max(lines, p.title.size());
  const int n = static_cast<int>(f.panels.size());
  const int columns = f.columns > 0 ? std::min(f.columns, std::max(n, 1)) : std::max(n, 1);
  int top = kMargin;
  if (!f.title.empty()) {
    L.figure_title_y = top + kTitleLine / 2 + 1;
    top += kTitleLine + 6;
  }
  const int title_band = static_cast<int>(lines) * kTitleLine + (lines ? 4 : 0);
  L.title_line = kTitleLine;
  L.title_top = top + kTitleLine / 2;
  L.panels_top = top + title_band;
  L.panel_height = f.panels.empty() ? 0 : f.panels[0].image.height;
  L.row_pitch = title_band + L.panel_height + kGap;
  int x = kMargin, right = kMargin;
  for (int k = 0; k < n; ++k) {
    if (k % columns == 0) x = kMargin;
    L.panel_left.push_back(x);
    L.panel_top.push_back(L.panels_top + (k / columns) * L.row_pitch);
    x += f.panels[k].image.width;
    right = std::max(right, x);
    x += kGap;
  }
  x = right;
  const int rows = (n + columns - 1) / columns;
  int bottom = L.panels_top + std::max(0, rows - 1) * L.row_pitch + L.panel_height;
  if (f.colorbar) {
    L.bar_left = x + kBarGap;
    L.bar_width = kBarWidth;
    const double labels = m.max_width(tick_labels(f.clip), kTickFont);
    // Tick labels, then the bar's label turned by 90 degrees.
    x = L.bar_left + kBarWidth + kTickGap + static_cast<int>(std::ceil(labels)) + kTickGap +
        static_cast<int>(kLabelFont) + 2;
  }
  if (!f.caption.empty()) {
    L.caption_y = bottom + 4 + kCaptionLine / 2;
    bottom += 4 + kCaptionLine;
    x = std::max(x, kMargin + static_cast<int>(std::ceil(m.width(f.caption, kSmallFont))));
  }
  if (!f.title.empty()) x = std::max(x, kMargin + static_cast<int>(std::ceil(m.width(f.title, kTitleFont))));
  L.width = x + kMargin;
  L.height = bottom + kMargin;
  return L;
}

std::string map_figure_png(const MapFigure& f, const std::string& name) {
  if (f.panels.empty()) throw Error(name, "a map figure needs at least one panel");
  for (const auto& p : f.panels) {
    if (p.image.height != f.panels[0].image.height ||
        (f.columns > 0 && f.columns < static_cast<int>(f.panels.size()) &&
         p.image.width != f.panels[0].image.width))
      throw Error(name, "the panels of a map figure must have one height (and one width in a grid)");
    if (p.image.rgb.size() != static_cast<size_t>(p.image.width) * p.image.height * 3)
      throw Error(name, "a panel's pixels do not match its size");
  }
  const Colormap& cm = colormap(f.colormap);
  const MapFigureLayout L = map_figure_layout(f);
  const double clip = f.clip > 0 && std::isfinite(f.clip) ? f.clip : 1;
  return render(
      name, Format::png, L.width, L.height,
      [&](cairo_t* cr) {
        Measure m;
        // Panels, pixel for pixel (cairo's RGB24: one 32-bit word per pixel, 0x00RRGGBB).
        for (size_t k = 0; k < f.panels.size(); ++k) {
          const Image& img = f.panels[k].image;
          Surface s(cairo_image_surface_create(CAIRO_FORMAT_RGB24, img.width, img.height));
          cairo_surface_flush(s.get());
          unsigned char* data = cairo_image_surface_get_data(s.get());
          const int stride = cairo_image_surface_get_stride(s.get());
          for (int y = 0; y < img.height; ++y) {
            auto* row = reinterpret_cast<std::uint32_t*>(data + static_cast<size_t>(y) * stride);
            const std::uint8_t* px = img.rgb.data() + static_cast<size_t>(y) * img.width * 3;
            for (int x = 0; x < img.width; ++x)
              row[x] = (std::uint32_t{px[3 * x]} << 16) | (std::uint32_t{px[3 * x + 1]} << 8) | px[3 * x + 2];
          }
          cairo_surface_mark_dirty(s.get());
          cairo_set_source_surface(cr, s.get(), L.panel_left[k], L.panel_top[k]);
          cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
          cairo_paint(cr);
          // Titles, centred over the panel, cut to its width.
          cairo_set_source_rgb(cr, 0, 0, 0);
          const double cx = L.panel_left[k] + img.width / 2.0;
          const double room = img.width + kGap - 2;
          for (size_t i = 0; i < f.panels[k].title.size(); ++i) {
            const double font = i == 0 ? kLabelFont : kTickFont;
            cairo_set_font_size(cr, font);
            draw_text(cr, fit(m, f.panels[k].title[i], font, room), cx,
                      L.panel_top[k] - L.panels_top + L.title_top + static_cast<double>(i) * L.title_line,
                      Align::center);
          }
        }
        if (f.colorbar) {
          const int h = L.panel_height;
          for (int y = 0; y < h; ++y) {
            const auto& c = cm.color(static_cast<float>(colorbar_value(y, h, clip)), clip);
            cairo_set_source_rgb(cr, c[0] / 255.0, c[1] / 255.0, c[2] / 255.0);
            cairo_rectangle(cr, L.bar_left, L.panels_top + y, L.bar_width, 1);
            cairo_fill(cr);
          }
          cairo_set_source_rgb(cr, 0, 0, 0);
          cairo_set_line_width(cr, 1);
          cairo_rectangle(cr, L.bar_left + 0.5, L.panels_top + 0.5, L.bar_width - 1, h - 1);
          cairo_stroke(cr);
          cairo_set_font_size(cr, kTickFont);
          const auto labels = tick_labels(clip);
          const double lx = L.bar_left + L.bar_width + kTickGap;
          const double ys[3] = {L.panels_top + 5.0, L.panels_top + h / 2.0, L.panels_top + h - 5.0};
          for (int i = 0; i < 3; ++i) draw_text(cr, labels[i], lx, ys[i], Align::left);
          // The label, read bottom to top, centred on the bar.
          cairo_save(cr);
          cairo_set_font_size(cr, kLabelFont);
          cairo_translate(cr, L.width - kMargin - 2, L.panels_top + h / 2.0);
          cairo_rotate(cr, -kPi / 2);
          draw_text(cr, f.bar_label, 0, 0, Align::center);
          cairo_restore(cr);
        }
        if (!f.title.empty()) {
          cairo_set_source_rgb(cr, 0, 0, 0);
          cairo_set_font_size(cr, kTitleFont);
          draw_text(cr, f.title, kMargin, L.figure_title_y, Align::left);
        }
        if (!f.caption.empty()) {
          cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
          cairo_set_font_size(cr, kSmallFont);
          draw_text(cr, f.caption, kMargin, L.caption_y, Align::left);
        }
      },
      1.0);
}

}  // namespace bagnet::figures
