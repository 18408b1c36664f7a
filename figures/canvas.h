#pragma once
// The one drawing stack of the toolkit's figures: cairo surfaces chosen by file extension (SVG,
// PDF, PNG), text with the same metrics on every surface, the shared font sizes, atomic writes.
// Pixels (maps to colours, edges, resizing) are made elsewhere (OpenCV); figures place them.
#include <cairo.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bagnet::figures::canvas {

enum class Format { svg, pdf, png };

// By extension (case-insensitive); throws bagnet::Error for anything but .svg, .pdf, .png.
Format format_of(const std::string& path);

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using Surface = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using Context = std::unique_ptr<cairo_t, ContextDeleter>;

constexpr const char* kFontFace = "sans-serif";
constexpr double kPi = 3.14159265358979323846;
// Font sizes (points) shared by every figure, so that they look alike side by side.
constexpr double kTitleFont = 12, kLabelFont = 10, kTickFont = 9, kSmallFont = 8;

// cairo_write_func_t appending to a std::string (the closure).
cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length);
// Throws bagnet::Error "path: cannot draw the figure (cairo, stage): why" unless success.
void check(cairo_status_t status, const std::string& path, const char* stage);

// The same text metrics on every surface (and in layout functions): no hinted advances.
void prepare_text(cairo_t* cr);
double text_width(cairo_t* cr, const std::string& s);

enum class Align { left, center, right };
// Draws `s` at the current font, horizontally aligned at x and vertically centred on y (on the
// height of a digit, so that labels line up with ticks and rows).
void draw_text(cairo_t* cr, const std::string& s, double x, double y, Align align);

// Text widths for layouts, measured on a scratch surface.
class Measure {
 public:
  Measure();
  double width(const std::string& s, double font_size);
  double max_width(const std::vector<std::string>& strings, double font_size);

 private:
  Surface surface_;
  Context cr_;
};

// Renders draw(cr) on a white width x height pt page into the bytes of `format`; PNGs have
// `pixels_per_point` pixels per point. `path` names the figure in errors.
std::string render(const std::string& path, Format format, double width, double height,
                   const std::function<void(cairo_t*)>& draw, double pixels_per_point = 2);

// Atomic write (lib/files.h); the directory must exist (a typo in an output path should fail,
// not create directories).
void write_atomically(const std::string& path, const std::string& bytes);

// printf("%.*f") without "-0.00".
std::string format_fixed(double v, int decimals);

}  // namespace bagnet::figures::canvas
