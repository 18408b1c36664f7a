// Figures of evaluation results (evaluation/plots): formats by extension, atomic writes, and the
// pixels of rendered PNGs at the positions the layout promises (markers, cells, NaN gaps).
#include <cairo.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "figures/colormap.h"
#include "figures/map_figure.h"
#include "figures/plots.h"
#include "heatmaps/render.h"
#include "lib/error.h"

namespace {
struct Rgb8 {
  int r, g, b;
};
}  // namespace

namespace Catch {
template <>
struct StringMaker<Rgb8> {
  static std::string convert(const Rgb8& c) {
    return "(" + std::to_string(c.r) + ", " + std::to_string(c.g) + ", " + std::to_string(c.b) + ")";
  }
};
}  // namespace Catch

using namespace bagnet;
using namespace bagnet::figures;
namespace fs = std::filesystem;

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() / ("bagnet_plots_" + name + "_" + std::to_string(getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // Every file name in the directory (temporary files would show up here).
  std::set<std::string> listing() const {
    std::set<std::string> names;
    for (const auto& e : fs::directory_iterator(path_)) names.insert(e.path().filename().string());
    return names;
  }

 private:
  fs::path path_;
};

std::string read_prefix(const std::string& path, std::size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string s(n, '\0');
  in.read(s.data(), static_cast<std::streamsize>(n));
  s.resize(static_cast<std::size_t>(in.gcount()));
  return s;
}

Rgb8 to8(const detail::Rgb& c) {
  return {static_cast<int>(std::lround(c.r * 255)), static_cast<int>(std::lround(c.g * 255)),
          static_cast<int>(std::lround(c.b * 255))};
}

Rgb8 hex(unsigned v) {
  return {static_cast<int>((v >> 16) & 255), static_cast<int>((v >> 8) & 255), static_cast<int>(v & 255)};
}

bool near(const Rgb8& a, const Rgb8& b, int tolerance = 2) {
  return std::abs(a.r - b.r) <= tolerance && std::abs(a.g - b.g) <= tolerance &&
         std::abs(a.b - b.b) <= tolerance;
}

// Colours compared with a tolerance (antialiasing, 8-bit rounding), printed when they differ.
class IsColor : public Catch::MatcherBase<Rgb8> {
 public:
  explicit IsColor(Rgb8 expected, int tolerance = 2) : expected_(expected), tolerance_(tolerance) {}
  bool match(const Rgb8& c) const override { return near(c, expected_, tolerance_); }
  std::string describe() const override {
    return "is within " + std::to_string(tolerance_) + " of (" + std::to_string(expected_.r) + ", " +
           std::to_string(expected_.g) + ", " + std::to_string(expected_.b) + ")";
  }

 private:
  Rgb8 expected_;
  int tolerance_;
};

// A PNG read back with cairo; pixels addressed in the figure's points.
class Png {
 public:
  explicit Png(const std::string& path) : surface_(cairo_image_surface_create_from_png(path.c_str())) {
    REQUIRE(cairo_surface_status(surface_) == CAIRO_STATUS_SUCCESS);
  }
  ~Png() { cairo_surface_destroy(surface_); }
  Png(const Png&) = delete;
  Png& operator=(const Png&) = delete;
  int width() const { return cairo_image_surface_get_width(surface_); }
  int height() const { return cairo_image_surface_get_height(surface_); }
  Rgb8 pixel(int x, int y) const {
    if (x < 0 || y < 0 || x >= width() || y >= height())
      FAIL("pixel (" << x << ", " << y << ") outside the " << width() << " x " << height() << " image");
    const unsigned char* row =
        cairo_image_surface_get_data(surface_) + y * cairo_image_surface_get_stride(surface_);
    const std::uint32_t p = reinterpret_cast<const std::uint32_t*>(row)[x];
    return {static_cast<int>((p >> 16) & 255), static_cast<int>((p >> 8) & 255), static_cast<int>(p & 255)};
  }
  // The pixel containing the point (x, y), in points.
  Rgb8 at(double x, double y) const {
    return pixel(static_cast<int>(std::floor(x * detail::kPngPixelsPerPoint)),
                 static_cast<int>(std::floor(y * detail::kPngPixelsPerPoint)));
  }
  static int px(double points) { return static_cast<int>(std::floor(points * detail::kPngPixelsPerPoint)); }

 private:
  cairo_surface_t* surface_;
};

ShapeBiasSeries series(const std::string& name, bool human, std::vector<double> values, double overall) {
  ShapeBiasSeries s;
  s.name = name;
  s.human = human;
  s.per_category = std::move(values);
  s.overall = overall;
  return s;
}

MatrixFigure small_matrix() {
  MatrixFigure f;
  f.title = "error consistency (Cohen's kappa)";
  f.names = {"bagnet33", "resnet50", "humans"};
  f.values = {{1.0, -1.0, 0.0}, {kNaN, 2.0, -0.5}, {0.25, 0.5, 0.75}};
  return f;
}

const std::vector<std::string> kCategories = {"knife", "bottle", "cat"};

std::vector<ShapeBiasSeries> small_series() {
  return {series("bagnet33", false, {0.2, kNaN, 0.9}, 0.55), series("humans", true, {0.8, 0.6, kNaN}, 0.7)};
}

void require_error_naming(const std::function<void()>& f, const std::string& path,
                          const std::string& fragment) {
  try {
    f();
    FAIL("no bagnet::Error thrown for " << path);
  } catch (const Error& e) {
    CHECK(e.path() == path);
    CHECK_THAT(e.what(), Catch::Contains(path));
    CHECK_THAT(e.what(), Catch::Contains(fragment));
  }
}

}  // namespace

TEST_CASE("figures are written in the format of their extension, atomically") {
  TempDir dir("formats");
  const std::vector<std::pair<std::string, std::string>> magic = {
      {"svg", "<?xml"}, {"pdf", "%PDF-"}, {"png", "\x89PNG\r\n\x1a\n"}, {"PNG", "\x89PNG\r\n\x1a\n"}};
  std::set<std::string> expected;
  for (const auto& [ext, head] : magic) {
    const std::string shape = dir.file("shape_bias." + ext), matrix = dir.file("matrix." + ext);
    write_shape_bias_figure(shape, kCategories, small_series());
    write_matrix_figure(matrix, small_matrix());
    expected.insert("shape_bias." + ext);
    expected.insert("matrix." + ext);
    for (const auto& path : {shape, matrix}) {
      INFO(path);
      CHECK(read_prefix(path, head.size()) == head);
      CHECK(fs::file_size(path) > 500);
    }
    if (ext == "svg") {
      const std::string text = read_prefix(shape, 1000);
      CHECK_THAT(text, Catch::Contains("<svg"));
      CHECK_THAT(text, Catch::Contains("pt\""));  // physical size in points
    }
  }
  // No temporary files left behind.
  CHECK(dir.listing() == expected);

  // The PNG has kPngPixelsPerPoint pixels per point of the layout.
  const auto layout = detail::shape_bias_layout(kCategories, small_series());
  Png png(dir.file("shape_bias.png"));
  CHECK(png.width() == static_cast<int>(std::ceil(layout.width * detail::kPngPixelsPerPoint)));
  CHECK(png.height() == static_cast<int>(std::ceil(layout.height * detail::kPngPixelsPerPoint)));
}

TEST_CASE("an existing figure is replaced") {
  TempDir dir("replace");
  const std::string path = dir.file("fig.png");
  write_matrix_figure(path, small_matrix());
  const auto first = fs::file_size(path);
  MatrixFigure bigger = small_matrix();
  bigger.names.push_back("resnet50_trained_on_SIN");
  for (auto& row : bigger.values) row.push_back(0.1);
  bigger.values.push_back({0.1, 0.2, 0.3, 0.4});
  write_matrix_figure(path, bigger);
  CHECK(fs::file_size(path) != first);
  CHECK(Png(path).width() ==
        static_cast<int>(std::ceil(detail::matrix_layout(bigger).width * detail::kPngPixelsPerPoint)));
  CHECK(dir.listing() == std::set<std::string>{"fig.png"});
}

TEST_CASE("unknown extensions and missing directories are errors naming the path") {
  TempDir dir("errors");
  for (const std::string name : {"fig.jpg", "fig", "fig.svg.txt"}) {
    const std::string path = dir.file(name);
    require_error_naming([&] { write_shape_bias_figure(path, kCategories, small_series()); }, path,
                         "unsupported figure format");
    require_error_naming([&] { write_matrix_figure(path, small_matrix()); }, path,
                         "unsupported figure format");
  }
  const std::string missing = dir.file("missing/fig.svg");
  require_error_naming([&] { write_shape_bias_figure(missing, kCategories, small_series()); }, missing,
                       "does not exist");
  require_error_naming([&] { write_matrix_figure(missing, small_matrix()); }, missing, "does not exist");
  CHECK_FALSE(fs::exists(dir.file("missing")));
  CHECK(dir.listing().empty());
}

TEST_CASE("inconsistent inputs are errors naming the path") {
  TempDir dir("inputs");
  const std::string path = dir.file("fig.svg");
  auto s = small_series();
  s[0].per_category.pop_back();
  require_error_naming([&] { write_shape_bias_figure(path, kCategories, s); }, path,
                       "'bagnet33' has 2 values");
  s = small_series();
  s[1].per_category[0] = 1.5;
  require_error_naming([&] { write_shape_bias_figure(path, kCategories, s); }, path, "'knife'");
  require_error_naming([&] { write_shape_bias_figure(path, {}, {}); }, path, "without categories");

  MatrixFigure m = small_matrix();
  m.values[2].pop_back();
  require_error_naming([&] { write_matrix_figure(path, m); }, path, "row 2");
  m = small_matrix();
  m.vmin = m.vmax = 0;
  require_error_naming([&] { write_matrix_figure(path, m); }, path, "vmin < vmax");
  m = MatrixFigure{};
  require_error_naming([&] { write_matrix_figure(path, m); }, path, "without names");
  CHECK(dir.listing().empty());
}

TEST_CASE("series styles: humans red, models distinct") {
  std::vector<ShapeBiasSeries> s;
  s.push_back(series("humans", true, {}, 0));
  for (int k = 0; k < 12; ++k) s.push_back(series("model" + std::to_string(k), false, {}, 0));
  const Rgb8 red = to8(detail::series_style(s, 0).color);
  CHECK_THAT(red, IsColor(hex(0xd62728), 0));
  CHECK(detail::series_style(s, 0).shape == detail::MarkerShape::diamond);
  std::set<std::tuple<int, int, int, int>> seen;
  for (std::size_t k = 1; k < s.size(); ++k) {
    const auto style = detail::series_style(s, k);
    const Rgb8 c = to8(style.color);
    CHECK_FALSE(near(c, red, 40));
    seen.insert({c.r, c.g, c.b, static_cast<int>(style.shape)});
  }
  CHECK(seen.size() == 12);
  // A model's style does not depend on where the human series is listed.
  const auto first_model = detail::series_style(s, 1);
  std::swap(s[0], s[1]);
  CHECK_THAT(to8(detail::series_style(s, 0).color), IsColor(to8(first_model.color), 0));
  CHECK(detail::series_style(s, 0).shape == first_model.shape);
}

TEST_CASE("shape-bias figure: markers where the layout puts them, none for NaN") {
  TempDir dir("shape_bias");
  const auto s = small_series();
  const std::string path = dir.file("shape_bias.png");
  write_shape_bias_figure(path, kCategories, s);
  const auto L = detail::shape_bias_layout(kCategories, s);
  const Rgb8 blue = to8(detail::series_style(s, 0).color), red = to8(detail::series_style(s, 1).color);
  CHECK_THAT(blue, IsColor(hex(0x1f77b4), 0));

  // Layout: shape fraction 0 -> 1 from left to right inside the frame, rows from the top.
  CHECK(L.plot_left < L.x(0));
  CHECK(L.x(0) < L.x(0.5));
  CHECK(L.x(1) < L.plot_right);
  CHECK(L.plot_top < L.row_y(0));
  CHECK(L.row_y(0) < L.row_y(1));
  CHECK(L.row_y(2) < L.plot_bottom);
  CHECK(L.legend_left > L.plot_right);
  CHECK(L.width >= L.legend_left);
  CHECK(L.height >= L.plot_bottom);

  Png png(path);
  // Markers: model at 0.2 (knife) and 0.9 (cat), humans at 0.8 (knife) and 0.6 (bottle).
  CHECK_THAT(png.at(L.x(0.2), L.row_y(0)), IsColor(blue));
  CHECK_THAT(png.at(L.x(0.9), L.row_y(2)), IsColor(blue));
  CHECK_THAT(png.at(L.x(0.8), L.row_y(0)), IsColor(red));
  CHECK_THAT(png.at(L.x(0.6), L.row_y(1)), IsColor(red));
  // Away from markers and lines, the plot is white.
  CHECK_THAT(png.at(L.x(0.35), L.row_y(1) - L.row_height / 4), IsColor(hex(0xffffff)));

  // NaN: no model marker on the bottle row (only its dashed overall line at 0.55 crosses it),
  // no human marker on the cat row (its line at 0.7 crosses it).
  auto count_along_row = [&](std::size_t row, const Rgb8& color, double skip_at) {
    int n = 0;
    const int y = Png::px(L.row_y(row));
    for (int x = Png::px(L.plot_left) + 1; x < Png::px(L.plot_right) - 1; ++x) {
      if (std::abs(x - Png::px(L.x(skip_at))) <= 3) continue;
      for (int dy = -4; dy <= 4; ++dy) n += near(png.pixel(x, y + dy), color, 60);
    }
    return n;
  };
  CHECK(count_along_row(1, blue, 0.55) == 0);
  CHECK(count_along_row(2, red, 0.7) == 0);
  // ... whereas the same scan finds the markers on the other rows.
  CHECK(count_along_row(0, blue, 0.55) > 0);
  CHECK(count_along_row(0, red, 0.7) > 0);

  // The overall lines: dashes of the series colour down the plot at x(overall).
  auto count_down_column = [&](double value, const Rgb8& color) {
    int n = 0;
    const int x = Png::px(L.x(value));
    for (int y = Png::px(L.plot_top) + 2; y < Png::px(L.plot_bottom) - 2; ++y)
      n += near(png.pixel(x, y), color, 30);
    return n;
  };
  const int plot_pixels = Png::px(L.plot_bottom) - Png::px(L.plot_top);
  CHECK(count_down_column(0.55, blue) > plot_pixels / 3);
  CHECK(count_down_column(0.7, red) > plot_pixels / 3);
  CHECK(count_down_column(0.45, blue) == 0);

  // Legend: one marker per series, in order.
  CHECK_THAT(png.at(L.legend_left + L.marker_radius, L.legend_top + 0.5 * L.legend_row_height),
             IsColor(blue));
  CHECK_THAT(png.at(L.legend_left + L.marker_radius, L.legend_top + 1.5 * L.legend_row_height), IsColor(red));
}

TEST_CASE("shape-bias figure: humans are drawn over models, the legend keeps the given order") {
  TempDir dir("order");
  const std::vector<ShapeBiasSeries> s = {series("humans", true, {0.5}, 0.9),
                                          series("bagnet33", false, {0.5}, 0.1)};
  const std::string path = dir.file("order.png");
  write_shape_bias_figure(path, {"cat"}, s);
  const auto L = detail::shape_bias_layout({"cat"}, s);
  Png png(path);
  CHECK_THAT(png.at(L.x(0.5), L.row_y(0)), IsColor(to8(detail::series_style(s, 0).color)));
  CHECK_THAT(png.at(L.legend_left + L.marker_radius, L.legend_top + 0.5 * L.legend_row_height),
             IsColor(to8(detail::series_style(s, 0).color)));
  CHECK_THAT(png.at(L.legend_left + L.marker_radius, L.legend_top + 1.5 * L.legend_row_height),
             IsColor(to8(detail::series_style(s, 1).color)));
}

TEST_CASE("shape-bias figure: many series and categories") {
  TempDir dir("many");
  std::vector<std::string> categories;
  for (int i = 0; i < 16; ++i) categories.push_back("category" + std::to_string(i));
  std::vector<ShapeBiasSeries> s;
  for (int k = 0; k < 40; ++k) {
    std::vector<double> v;
    for (int i = 0; i < 16; ++i) v.push_back(std::fmod(0.05 * i + 0.13 * k, 1.0));
    s.push_back(series("model" + std::to_string(k), k == 0, v, 0.5));
  }
  const auto L = detail::shape_bias_layout(categories, s);
  // The legend grows the figure rather than leaving it.
  CHECK(L.height >= L.legend_top + 40 * L.legend_row_height);
  write_shape_bias_figure(dir.file("many.svg"), categories, s);
  write_shape_bias_figure(dir.file("many.png"), categories, s);
  Png png(dir.file("many.png"));
  const auto last = detail::series_style(s, 39);
  CHECK_THAT(png.at(L.legend_left + L.marker_radius, L.legend_top + 39.5 * L.legend_row_height),
             IsColor(to8(last.color)));
  // A series without any value draws no marker and still gets its legend entry.
  s.resize(1);
  s[0].per_category.assign(16, kNaN);
  s[0].overall = kNaN;
  write_shape_bias_figure(dir.file("empty.png"), categories, s);
}

TEST_CASE("matrix colours: RdBu_r between vmin and vmax, grey for NaN") {
  // matplotlib's RdBu_r ends at ColorBrewer's darkest blue and darkest red.
  CHECK_THAT(to8(detail::matrix_color(-1, -1, 1)), IsColor(hex(0x053061), 0));
  CHECK_THAT(to8(detail::matrix_color(1, -1, 1)), IsColor(hex(0x67001f), 0));
  CHECK_THAT(to8(detail::matrix_color(0, 0, 1)), IsColor(hex(0x053061), 0));
  CHECK_THAT(to8(detail::matrix_color(1, 0, 1)), IsColor(hex(0x67001f), 0));
  CHECK_THAT(to8(detail::matrix_color(-5, -1, 1)), IsColor(hex(0x053061), 0));  // clipped
  CHECK_THAT(to8(detail::matrix_color(5, -1, 1)), IsColor(hex(0x67001f), 0));
  const Rgb8 middle = to8(detail::matrix_color(0, -1, 1));
  const auto& lut = figures::colormap("RdBu_r").lut;
  CHECK_THAT(middle, IsColor({lut[128][0], lut[128][1], lut[128][2]}, 0));  // Normalize: 0.5 -> entry 128
  CHECK_THAT(middle, IsColor(hex(0xf7f7f7), 12));                           // near white
  CHECK_THAT(to8(detail::matrix_color(kNaN, -1, 1)), IsColor({204, 204, 204}, 0));
}

TEST_CASE("matrix figure: cell colours and values at the layout's cells") {
  TempDir dir("matrix");
  const MatrixFigure f = small_matrix();
  const std::string path = dir.file("matrix.png");
  write_matrix_figure(path, f);
  const auto L = detail::matrix_layout(f);
  CHECK(L.cell >= 28);
  CHECK(L.left > 10);
  CHECK(L.top > 10);
  CHECK(L.colorbar_left > L.left + 3 * L.cell);
  CHECK(L.width > L.colorbar_left + L.colorbar_width);
  Png png(path);
  // Sample away from the printed value (which is centred) and the white separators.
  auto cell = [&](int i, int j) { return png.at(L.left + (j + 0.2) * L.cell, L.top + (i + 0.2) * L.cell); };
  CHECK_THAT(cell(0, 0), IsColor(hex(0x67001f)));  // vmax
  CHECK_THAT(cell(0, 1), IsColor(hex(0x053061)));  // vmin
  CHECK_THAT(cell(0, 2), IsColor(to8(detail::matrix_color(0, -1, 1))));
  CHECK_THAT(cell(1, 0), IsColor({204, 204, 204}));  // NaN
  CHECK_THAT(cell(1, 1), IsColor(hex(0x67001f)));    // 2, clipped at vmax
  CHECK_THAT(cell(2, 1), IsColor(to8(detail::matrix_color(0.5, -1, 1))));

  // The value in each cell: light text on dark cells, dark text on light ones, none for NaN.
  auto count_in_centre = [&](int i, int j, auto predicate) {
    int n = 0;
    for (int y = Png::px(L.top + (i + 0.35) * L.cell); y < Png::px(L.top + (i + 0.65) * L.cell); ++y)
      for (int x = Png::px(L.left + (j + 0.2) * L.cell); x < Png::px(L.left + (j + 0.8) * L.cell); ++x)
        n += predicate(png.pixel(x, y));
    return n;
  };
  auto light = [](const Rgb8& c) { return c.r > 200 && c.g > 200 && c.b > 200; };
  auto dark = [](const Rgb8& c) { return c.r < 80 && c.g < 80 && c.b < 80; };
  auto not_grey = [](const Rgb8& c) { return !near(c, {204, 204, 204}, 3); };
  CHECK(count_in_centre(0, 0, light) > 20);
  CHECK(count_in_centre(0, 1, light) > 20);
  CHECK(count_in_centre(0, 2, dark) > 20);
  CHECK(count_in_centre(1, 0, not_grey) == 0);

  // Colour bar: vmax at the top, vmin at the bottom.
  const double bar_x = L.colorbar_left + L.colorbar_width / 2;
  const Rgb8 top = png.at(bar_x, L.top + 2), bottom = png.at(bar_x, L.top + 3 * L.cell - 2);
  CHECK_THAT(top, IsColor(hex(0x67001f), 20));
  CHECK_THAT(bottom, IsColor(hex(0x053061), 20));
}

TEST_CASE("matrix figure: 1 and 20 names") {
  TempDir dir("sizes");
  for (int n : {1, 20}) {
    MatrixFigure f;
    f.title = "error consistency";
    for (int i = 0; i < n; ++i) f.names.push_back("resnet50_trained_on_SIN_" + std::to_string(i));
    f.values.assign(n, std::vector<double>(n, 0.0));
    for (int i = 0; i < n; ++i)
      for (int j = 0; j < n; ++j) f.values[i][j] = i == j ? kNaN : std::sin(i * 7.0 + j);
    const auto L = detail::matrix_layout(f);
    CHECK(L.cell >= 28);
    CHECK(L.cell <= 48);
    const std::string path = dir.file("m" + std::to_string(n) + ".png");
    write_matrix_figure(path, f);
    write_matrix_figure(dir.file("m" + std::to_string(n) + ".pdf"), f);
    Png png(path);
    CHECK_THAT(png.at(L.left + (n - 1 + 0.2) * L.cell, L.top + (n - 1 + 0.2) * L.cell),
               IsColor({204, 204, 204}));
  }
}

namespace {

// A test pattern: pixel (y, x) of panel k has colour (k*40 + y, 2x, 255 - y) (mod 256).
Image pattern(int k, int h, int w) {
  Image img;
  img.height = h;
  img.width = w;
  img.rgb.resize(static_cast<size_t>(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      auto* p = &img.rgb[(static_cast<size_t>(y) * w + x) * 3];
      p[0] = static_cast<std::uint8_t>(k * 40 + y);
      p[1] = static_cast<std::uint8_t>(2 * x);
      p[2] = static_cast<std::uint8_t>(255 - y);
    }
  return img;
}

// Pixels darker than light grey within a rectangle: text was drawn there.
int ink(const cairo_surface_t* s, int x0, int y0, int x1, int y1) {
  auto* surface = const_cast<cairo_surface_t*>(s);
  const unsigned char* data = cairo_image_surface_get_data(surface);
  const int stride = cairo_image_surface_get_stride(surface);
  int n = 0;
  for (int y = std::max(0, y0); y < std::min(y1, cairo_image_surface_get_height(surface)); ++y)
    for (int x = std::max(0, x0); x < std::min(x1, cairo_image_surface_get_width(surface)); ++x) {
      const std::uint32_t p = reinterpret_cast<const std::uint32_t*>(data + y * stride)[x];
      if (((p >> 16) & 255) < 160 && ((p >> 8) & 255) < 160 && (p & 255) < 160) ++n;
    }
  return n;
}

}  // namespace

TEST_CASE("Map figures: panels pixel for pixel, titles above, a labelled colour bar, optional caption",
          "[plots][heatmaps]") {
  TempDir dir("map_figure");
  MapFigure f;
  f.panels = {{pattern(0, 60, 50), {"image.png", "60x50"}},
              {pattern(1, 60, 50), {"golden retriever (n02099601)", "logit 3.21, p = 0.842, rank 1"}}};
  f.clip = 2.5;
  const auto L = map_figure_layout(f);
  REQUIRE(L.panel_left.size() == 2);
  CHECK(L.panel_left[1] >= L.panel_left[0] + 50);
  CHECK(L.panels_top >= 2 * L.title_line);  // two title lines fit above the panels
  CHECK(L.bar_left >= L.panel_left[1] + 50);
  CHECK(L.caption_y == 0);

  const std::string path = dir.file("fig.png");
  std::ofstream(path, std::ios::binary) << map_figure_png(f, path);
  cairo_surface_t* s = cairo_image_surface_create_from_png(path.c_str());
  REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
  CHECK(cairo_image_surface_get_width(s) == L.width);
  CHECK(cairo_image_surface_get_height(s) == L.height);
  const unsigned char* data = cairo_image_surface_get_data(s);
  const int stride = cairo_image_surface_get_stride(s);
  auto pixel = [&](int x, int y) {
    const std::uint32_t p = reinterpret_cast<const std::uint32_t*>(data + y * stride)[x];
    return std::array<int, 3>{static_cast<int>((p >> 16) & 255), static_cast<int>((p >> 8) & 255),
                              static_cast<int>(p & 255)};
  };
  // Every panel pixel is the input pixel, exactly.
  size_t wrong = 0;
  for (int k = 0; k < 2; ++k)
    for (int y = 0; y < 60; ++y)
      for (int x = 0; x < 50; ++x) {
        const auto* p = &f.panels[k].image.rgb[(static_cast<size_t>(y) * 50 + x) * 3];
        if (pixel(L.panel_left[k] + x, L.panels_top + y) != std::array<int, 3>{p[0], p[1], p[2]}) ++wrong;
      }
  CHECK(wrong == 0);
  // The bar (inside its 1-pixel frame) shows the colormap from +clip (top) to -clip (bottom).
  const auto& cm = colormap("RdBu_r");
  wrong = 0;
  for (int y = 1; y < 59; ++y) {
    const auto& c = cm.color(static_cast<float>(colorbar_value(y, 60, 2.5)), 2.5);
    if (pixel(L.bar_left + L.bar_width / 2, L.panels_top + y) != std::array<int, 3>{c[0], c[1], c[2]})
      ++wrong;
  }
  CHECK(wrong == 0);
  CHECK(colorbar_value(0, 60, 2.5) == 2.5);
  CHECK(colorbar_value(59, 60, 2.5) == -2.5);
  // Text: the titles above each panel, tick labels and "patch logit" right of the bar.
  for (int k = 0; k < 2; ++k) CHECK(ink(s, L.panel_left[k], 0, L.panel_left[k] + 50, L.panels_top) > 20);
  CHECK(ink(s, L.bar_left + L.bar_width + 1, L.panels_top, L.width, L.panels_top + 60) > 40);
  CHECK(ink(s, 0, L.panels_top + 60, L.width, L.height) == 0);  // no caption, nothing below
  cairo_surface_destroy(s);

  // A caption adds a line of small print below the panels, widening the figure if it must.
  f.caption = "bagnet33, weights 2ddd53ed, stride 1, colours at \u00b1p99 of |map| -- a long caption line";
  const auto C = map_figure_layout(f);
  CHECK(C.height > L.height);
  CHECK(C.caption_y > C.panels_top + 60);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << map_figure_png(f, path);
  s = cairo_image_surface_create_from_png(path.c_str());
  REQUIRE(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
  CHECK(ink(s, 0, C.panels_top + 60, C.width, C.height) > 20);
  cairo_surface_destroy(s);

  // Without the bar the figure ends after the panels.
  f.colorbar = false;
  f.caption.clear();
  CHECK(map_figure_layout(f).width < L.bar_left);
  // Same input, same bytes.
  CHECK(map_figure_png(f) == map_figure_png(f));
}

TEST_CASE("Map figures refuse what they cannot draw", "[plots][heatmaps][errors]") {
  MapFigure f;
  CHECK_THROWS_WITH(map_figure_png(f, "x.png"),
                    Catch::Contains("x.png: a map figure needs at least one panel"));
  f.panels = {{pattern(0, 20, 10), {}}, {pattern(1, 21, 10), {}}};
  CHECK_THROWS_WITH(map_figure_png(f, "x.png"), Catch::Contains("one height"));
  f.panels.pop_back();
  f.colormap = "jet";
  CHECK_THROWS_AS(map_figure_png(f, "x.png"), Error);
}
