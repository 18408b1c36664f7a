#pragma once
// Colour maps for figures: matplotlib's diverging maps as exact 256-entry tables, and the
// percentile that sets symmetric colour limits. No torch, no drawing library.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet::figures {

// 256-entry lookup table, byte-identical to matplotlib 3.6's (tests/test_heatmaps.cpp checks it)
// (LinearSegmentedColormap.from_list with N = 256: piecewise linear between evenly spaced
// control points, then bytes = trunc(255 * value)).
struct Colormap {
  std::string name;
  std::array<std::array<std::uint8_t, 3>, 256> lut;
  // matplotlib's Normalize(-clip, clip) then lookup: index = clamp(floor(256 * x), 0, 255).
  const std::array<std::uint8_t, 3>& color(float value, double clip) const;
};

// "RdBu_r" (default), "RdBu", "bwr", "seismic". Throws bagnet::Error naming the known ones.
const Colormap& colormap(const std::string& name);
std::vector<std::string> colormap_names();

// numpy.percentile(abs(values), percentile) (linear interpolation between order statistics).
double abs_percentile(const float* values, std::size_t n, double percentile);

}  // namespace bagnet::figures
