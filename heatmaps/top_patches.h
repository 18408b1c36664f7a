#pragma once
// The most informative patches of a class across a dataset (the BagNet paper's figures of the
// most predictive patches per class): the highest patch logits, the patches themselves, and a
// grid image of them. No torch here.
#include <string>
#include <vector>

#include "heatmaps/heatmap.h"
#include "lib/image.h"

namespace bagnet::heatmaps {

struct TopPatch {
  std::string image;     // path
  int row = 0, col = 0;  // map entry
  int y = 0, x = 0;      // patch centre in the preprocessed image
  float logit = 0;
  Image pixels;  // q x q crop of the preprocessed image (mean colour outside, as the network saw it)
};

struct TopPatchOptions {
  int count = 64;     // patches in all
  int per_image = 1;  // at most this many from one image (the top entries of its map)
  MapOptions map;     // stride, method
};

class TopPatchCollector {
 public:
  TopPatchCollector(int class_index, int patch_size, const Preprocessing& prep, TopPatchOptions options);
  // Adds one image's candidates from its map for the class (1 x rows x cols).
  void add(const std::string& path, const std::vector<float>& chw, int height, int width,
           const ClassMaps& map);
  // Best first; ties broken by image path then position, so the result does not depend on order.
  std::vector<TopPatch> result() const;

 private:
  int class_index_, q_;
  Preprocessing prep_;
  TopPatchOptions options_;
  std::vector<TopPatch> best_;
};

// A grid of the patches, row-major in rank order, each enlarged by an integer factor to at
// least `min_tile` pixels, 2-pixel white gaps.
Image patch_grid(const std::vector<TopPatch>& patches, int min_tile = 64);

// The grid as a figure (PNG bytes): `title` over it, each tile titled with its rank, patch
// logit and image file name, `caption` in small print ("" = none).
std::string patch_grid_figure(const std::vector<TopPatch>& patches, const std::string& title,
                              const std::string& caption, int min_tile = 64);

}  // namespace bagnet::heatmaps
