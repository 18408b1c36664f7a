#pragma once
// Renderings of class-evidence maps in the style of the BagNet paper's figures: a diverging
// red-blue colormap (matplotlib's RdBu_r: red = evidence for the class, blue = against), limits
// symmetric about 0 at +-(a percentile of |map|), optionally the image's edges on top, a colour
// bar with the logit scale. Rendering policy is explicit and recorded in the JSON sidecar; the
// .npy files keep the raw numbers. No torch here.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/image.h"

namespace bagnet::heatmaps {

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

struct RenderOptions {
  std::string colormap = "RdBu_r";
  double percentile = 99;  // limits at +-(this percentile of |map|)
  bool edges = false;      // draw the image's edges (Canny) over the maps
  bool colorbar = true;    // drawn when the figure is tall enough for its labels
  int min_height = 224;    // enlarge smaller images by an integer factor (nearest) to at least this
};

// One figure: [image] | map | [map ...] | [colour bar], all at the image's size (H x W). A map
// has rows x cols entries at `stride`; pixel (y, x) shows the entry whose patch centre
// (stride*i, stride*j) is nearest. `clip` is the symmetric limit used for every map.
Image render_figure(const Image* image, const Image& edges_source, const std::vector<const float*>& maps,
                    int rows, int cols, int stride, double clip, const RenderOptions& options);

// PNG bytes (OpenCV's encoder; the same image gives the same bytes).
std::string encode_png(const Image& image);

}  // namespace bagnet::heatmaps
