#pragma once
// The pixels of class-evidence maps in the style of the BagNet paper's figures: a diverging
// red-blue colormap (matplotlib's RdBu_r: red = evidence for the class, blue = against), limits
// symmetric about 0 at +-(a percentile of |map|), optionally the image's edges on top. The
// figures around them (titles, colour bar, caption) are drawn by figures/map_figure. Rendering
// policy is explicit and recorded in the JSON sidecar; the .npy files keep the raw numbers.
// No torch here.
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
  bool colorbar = true;    // a colour bar labelled "patch logit" beside the maps
  bool caption = false;    // small print: model, weights' SHA-256 prefix, stride, colour limits
  int min_height = 224;    // enlarge smaller images by an integer factor (nearest) to at least this
};

// Pixels of [image] | map | [map ...], each at the image's size (H x W, enlarged by an integer
// factor to at least min_height), 4 px apart. A map
// has rows x cols entries at `stride`; pixel (y, x) shows the entry whose patch centre
// (stride*i, stride*j) is nearest. `clip` is the symmetric limit used for every map.
Image render_figure(const Image* image, const Image& edges_source, const std::vector<const float*>& maps,
                    int rows, int cols, int stride, double clip, const RenderOptions& options);

// PNG bytes of bare pixels (OpenCV's encoder; the same image gives the same bytes).
std::string encode_png(const Image& image);

}  // namespace bagnet::heatmaps
