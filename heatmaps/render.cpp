#include "heatmaps/render.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "lib/error.h"

namespace bagnet::heatmaps {
namespace {

using Rgb = std::array<double, 3>;

// numpy.linspace(0, 1, n): i * (1 / (n - 1)), the last point exactly 1.
std::vector<double> linspace01(int n) {
  std::vector<double> v(n);
  const double step = 1.0 / (n - 1);
  for (int i = 0; i < n; ++i) v[i] = i * step;
  v[n - 1] = 1.0;
  return v;
}

// matplotlib 3.6's LinearSegmentedColormap._create_lookup_table(N=256) for segment data
// (x, y) per channel, followed by Colormap.__call__(bytes=True): uint8 = trunc(255 * v).
// The arithmetic follows matplotlib's order exactly, so the bytes are identical (checked
// against matplotlib for all four colormaps).
Colormap lookup_table(const std::string& name, std::vector<double> x, const std::vector<Rgb>& y) {
  Colormap cm;
  cm.name = name;
  // matplotlib scales both grids by N - 1 before interpolating.
  std::vector<double> xind = linspace01(256);
  for (auto& v : xind) v *= 255;
  for (auto& v : x) v *= 255;
  const int n = static_cast<int>(x.size());
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 256; ++i) {
      double v;
      if (i == 0) {
        v = y[0][c];
      } else if (i == 255) {
        v = y[n - 1][c];
      } else {
        const int ind = static_cast<int>(std::lower_bound(x.begin(), x.end(), xind[i]) - x.begin());
        const double distance = (xind[i] - x[ind - 1]) / (x[ind] - x[ind - 1]);
        v = distance * (y[ind][c] - y[ind - 1][c]) + y[ind - 1][c];
      }
      cm.lut[i][c] = static_cast<std::uint8_t>(std::clamp(v, 0.0, 1.0) * 255.0);
    }
  }
  return cm;
}

// LinearSegmentedColormap.from_list(name, colors): control points at linspace(0, 1, n).
Colormap from_list(const std::string& name, const std::vector<Rgb>& colors) {
  return lookup_table(name, linspace01(static_cast<int>(colors.size())), colors);
}

// Colormap.reversed(): the segment data mirrored, x -> 1 - x, and the table computed anew
// (not the table reversed: the two differ by one in a few entries).
Colormap reversed_from_list(const std::string& name, const std::vector<Rgb>& colors) {
  const std::vector<double> x = linspace01(static_cast<int>(colors.size()));
  std::vector<double> xr;
  std::vector<Rgb> yr;
  for (int k = static_cast<int>(colors.size()) - 1; k >= 0; --k) {
    xr.push_back(1.0 - x[k]);
    yr.push_back(colors[k]);
  }
  return lookup_table(name, xr, yr);
}

Rgb hex(unsigned v) { return {((v >> 16) & 255) / 255.0, ((v >> 8) & 255) / 255.0, (v & 255) / 255.0}; }

const std::map<std::string, Colormap>& colormaps() {
  static const std::map<std::string, Colormap> maps = [] {
    std::map<std::string, Colormap> m;
    // ColorBrewer's 11-class RdBu (Brewer, colorbrewer2.org), the control points of
    // matplotlib's RdBu (_cm.py: _RdBu_data).
    const std::vector<Rgb> rdbu = {hex(0x67001f), hex(0xb2182b), hex(0xd6604d), hex(0xf4a582),
                                   hex(0xfddbc7), hex(0xf7f7f7), hex(0xd1e5f0), hex(0x92c5de),
                                   hex(0x4393c3), hex(0x2166ac), hex(0x053061)};
    m.emplace("RdBu", from_list("RdBu", rdbu));
    m.emplace("RdBu_r", reversed_from_list("RdBu_r", rdbu));
    m.emplace("bwr", from_list("bwr", {{0, 0, 1}, {1, 1, 1}, {1, 0, 0}}));
    m.emplace("seismic", from_list("seismic", {{0, 0, 0.3}, {0, 0, 1}, {1, 1, 1}, {1, 0, 0}, {0.5, 0, 0}}));
    return m;
  }();
  return maps;
}

cv::Mat to_mat(const Image& img) {
  return cv::Mat(img.height, img.width, CV_8UC3, const_cast<std::uint8_t*>(img.rgb.data()));
}

Image from_mat(const cv::Mat& m) {
  Image img;
  img.width = m.cols;
  img.height = m.rows;
  const cv::Mat c = m.isContinuous() ? m : m.clone();
  img.rgb.assign(c.data, c.data + static_cast<size_t>(c.rows) * c.cols * 3);
  return img;
}

std::string label(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.3g", v);
  return v == 0 ? "0" : buf;
}

}  // namespace

const std::array<std::uint8_t, 3>& Colormap::color(float value, double clip) const {
  if (std::isnan(value)) return lut[128];
  const double x = (value + clip) / (2 * clip);
  const double idx = std::floor(x * 256.0);
  return lut[static_cast<int>(std::clamp(idx, 0.0, 255.0))];
}

const Colormap& colormap(const std::string& name) {
  const auto& maps = colormaps();
  auto it = maps.find(name);
  if (it == maps.end()) {
    std::string known;
    for (const auto& n : colormap_names()) known += (known.empty() ? "" : ", ") + n;
    throw Error("--colormap " + name, "unknown colormap (known: " + known + ")");
  }
  return it->second;
}

std::vector<std::string> colormap_names() {
  std::vector<std::string> names;
  for (const auto& [n, _] : colormaps()) names.push_back(n);
  return names;
}

double abs_percentile(const float* values, std::size_t n, double percentile) {
  if (n == 0) return 0;
  std::vector<double> a(values, values + n);
  for (auto& v : a) v = std::fabs(v);
  std::sort(a.begin(), a.end());
  // numpy's default method ('linear'): position p/100 * (n-1) between order statistics.
  const double pos = std::clamp(percentile, 0.0, 100.0) / 100.0 * static_cast<double>(n - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, n - 1);
  return a[lo] + (pos - static_cast<double>(lo)) * (a[hi] - a[lo]);
}

Image render_figure(const Image* image, const Image& edges_source, const std::vector<const float*>& maps,
                    int rows, int cols, int stride, double clip, const RenderOptions& o) {
  const Colormap& cm = colormap(o.colormap);
  // Small images (28x28 Fashion-MNIST) are enlarged by an integer factor, pixels as blocks.
  const int scale = o.min_height > edges_source.height
                        ? (o.min_height + edges_source.height - 1) / std::max(1, edges_source.height)
                        : 1;
  const int h = edges_source.height * scale, w = edges_source.width * scale, gap = 4;
  auto enlarge = [&](const cv::Mat& m) {
    cv::Mat out;
    cv::resize(m, out, cv::Size(), scale, scale, cv::INTER_NEAREST);
    return out;
  };
  if (clip <= 0 || !std::isfinite(clip)) clip = 1;  // an all-zero map: any limit shows it white
  cv::Mat edges;
  if (o.edges) {
    cv::Mat gray;
    cv::cvtColor(to_mat(edges_source), gray, cv::COLOR_RGB2GRAY);
    cv::Canny(gray, edges, 50, 150);
    if (scale > 1) edges = enlarge(edges);
  }
  // Colour bar: 12 px of colours and room for "+1.23" labels; only when tall enough to read.
  const bool bar = o.colorbar && h >= 48;
  const int bar_w = bar ? gap + 12 + 52 : 0;
  const int panels = static_cast<int>(maps.size()) + (image ? 1 : 0);
  cv::Mat fig(h, panels * w + (panels - 1) * gap + bar_w, CV_8UC3, cv::Scalar(255, 255, 255));
  int x0 = 0;
  if (image) {
    (scale > 1 ? enlarge(to_mat(*image)) : to_mat(*image)).copyTo(fig(cv::Rect(0, 0, w, h)));
    x0 += w + gap;
  }
  // Pixel y shows map row round(y / stride): the patch centred nearest to it.
  std::vector<int> row_of(h), col_of(w);
  for (int y = 0; y < h; ++y) row_of[y] = std::min(rows - 1, (2 * (y / scale) + stride) / (2 * stride));
  for (int x = 0; x < w; ++x) col_of[x] = std::min(cols - 1, (2 * (x / scale) + stride) / (2 * stride));
  for (const float* map : maps) {
    for (int y = 0; y < h; ++y) {
      auto* px = fig.ptr<cv::Vec3b>(y) + x0;
      for (int x = 0; x < w; ++x) {
        const auto& c = cm.color(map[static_cast<size_t>(row_of[y]) * cols + col_of[x]], clip);
        px[x] = o.edges && edges.at<std::uint8_t>(y, x) ? cv::Vec3b(40, 40, 40) : cv::Vec3b(c[0], c[1], c[2]);
      }
    }
    x0 += w + gap;
  }
  if (bar) {
    const int bx = x0, top = 6, bottom = h - 6;
    for (int y = top; y < bottom; ++y) {
      // Top = +clip, bottom = -clip.
      const double v = clip * (1.0 - 2.0 * (y - top) / std::max(1, bottom - top - 1));
      const auto& c = cm.color(static_cast<float>(v), clip);
      fig(cv::Rect(bx, y, 12, 1)).setTo(cv::Scalar(c[0], c[1], c[2]));
    }
    const cv::Scalar ink(0, 0, 0);
    const double scale = 0.35;
    cv::putText(fig, label(clip), {bx + 15, top + 8}, cv::FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv::LINE_AA);
    cv::putText(fig, "0", {bx + 15, (top + bottom) / 2 + 4}, cv::FONT_HERSHEY_SIMPLEX, scale, ink, 1,
                cv::LINE_AA);
    cv::putText(fig, label(-clip), {bx + 15, bottom}, cv::FONT_HERSHEY_SIMPLEX, scale, ink, 1, cv::LINE_AA);
  }
  return from_mat(fig);
}

std::string encode_png(const Image& image) {
  cv::Mat bgr;
  cv::cvtColor(to_mat(image), bgr, cv::COLOR_RGB2BGR);
  std::vector<std::uint8_t> buf;
  if (!cv::imencode(".png", bgr, buf)) throw Error("png", "OpenCV could not encode the image");
  return std::string(buf.begin(), buf.end());
}

}  // namespace bagnet::heatmaps
