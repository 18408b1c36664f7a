#include "figures/canvas.h"

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "lib/error.h"
#include "lib/files.h"

namespace bagnet::figures::canvas {

namespace fs = std::filesystem;

Format format_of(const std::string& path) {
  std::string ext = fs::path(path).extension().string();
  std::string lower = ext;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (lower == ".svg") return Format::svg;
  if (lower == ".pdf") return Format::pdf;
  if (lower == ".png") return Format::png;
  throw Error(path, "unsupported figure format " +
                        (ext.empty() ? std::string("(no extension)") : "'" + ext + "'") +
                        ": use .svg, .pdf or .png");
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

void check(cairo_status_t status, const std::string& path, const char* stage) {
  if (status != CAIRO_STATUS_SUCCESS)
    throw Error(path, std::string("cannot draw the figure (cairo, ") + stage +
                          "): " + cairo_status_to_string(status));
}

// The same text metrics on every surface (and in the layout functions): no hinted advances.
void prepare_text(cairo_t* cr) {
  cairo_select_font_face(cr, kFontFace, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_font_options_t* options = cairo_font_options_create();
  cairo_font_options_set_hint_metrics(options, CAIRO_HINT_METRICS_OFF);
  cairo_set_font_options(cr, options);
  cairo_font_options_destroy(options);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

// Draws `s` at the current font, horizontally aligned at x and vertically centred on y (on the
// height of a digit, so that labels line up with ticks and rows).
void draw_text(cairo_t* cr, const std::string& s, double x, double y, Align align) {
  cairo_text_extents_t digit;
  cairo_text_extents(cr, "0", &digit);
  const double w = text_width(cr, s);
  const double x0 = align == Align::left ? x : align == Align::center ? x - w / 2 : x - w;
  cairo_move_to(cr, x0, y - digit.y_bearing / 2);
  cairo_show_text(cr, s.c_str());
}

// Renders draw(cr) on a white width x height pt page into the bytes of `format`.
std::string render(const std::string& path, Format format, double width, double height,
                   const std::function<void(cairo_t*)>& draw, double pixels_per_point) {
  std::string bytes;
  Surface surface;
  switch (format) {
    case Format::svg:
      surface.reset(cairo_svg_surface_create_for_stream(append_bytes, &bytes, width, height));
      cairo_svg_surface_set_document_unit(surface.get(), CAIRO_SVG_UNIT_PT);
      break;
    case Format::pdf:
      surface.reset(cairo_pdf_surface_create_for_stream(append_bytes, &bytes, width, height));
      cairo_pdf_surface_set_metadata(surface.get(), CAIRO_PDF_METADATA_CREATOR, "bagnet-toolkit");
      break;
    case Format::png:
      surface.reset(cairo_image_surface_create(CAIRO_FORMAT_RGB24,
                                               static_cast<int>(std::ceil(width * pixels_per_point)),
                                               static_cast<int>(std::ceil(height * pixels_per_point))));
      break;
  }
  check(cairo_surface_status(surface.get()), path, "surface");
  {
    Context cr(cairo_create(surface.get()));
    if (format == Format::png) cairo_scale(cr.get(), pixels_per_point, pixels_per_point);
    cairo_set_source_rgb(cr.get(), 1, 1, 1);
    cairo_paint(cr.get());
    prepare_text(cr.get());
    draw(cr.get());
    check(cairo_status(cr.get()), path, "drawing");
  }
  if (format == Format::png) {
    cairo_surface_flush(surface.get());
    check(cairo_surface_write_to_png_stream(surface.get(), append_bytes, &bytes), path, "PNG encoding");
  }
  cairo_surface_finish(surface.get());
  check(cairo_surface_status(surface.get()), path, "finishing");
  return bytes;
}

// A temporary file in the target's directory, then a rename: readers never see half a figure.
// The directory must exist (a typo in an output path should fail, not create directories).
void write_atomically(const std::string& path, const std::string& bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error(path, "cannot write the figure: directory " + dir.string() + " does not exist");
  atomic_write(path, bytes);
}

std::string format_fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  // No "-0.00": a value that rounds to zero is printed as zero.
  if (s[0] == '-' && s.find_first_not_of("-0.") == std::string::npos) s.erase(0, 1);
  return s;
}

Measure::Measure()
    : surface_(cairo_image_surface_create(CAIRO_FORMAT_ARGB32, 1, 1)), cr_(cairo_create(surface_.get())) {
  prepare_text(cr_.get());
}

double Measure::width(const std::string& s, double font_size) {
  cairo_set_font_size(cr_.get(), font_size);
  return text_width(cr_.get(), s);
}

double Measure::max_width(const std::vector<std::string>& strings, double font_size) {
  double w = 0;
  for (const auto& s : strings) w = std::max(w, width(s, font_size));
  return w;
}

}  // namespace bagnet::figures::canvas
