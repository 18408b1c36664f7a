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

#include "figures/colormap.h"
#include "lib/image.h"

namespace bagnet::heatmaps {

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
