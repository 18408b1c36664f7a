#include "figures/colormap.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "lib/error.h"

namespace bagnet::figures {
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

}  // namespace bagnet::figures
