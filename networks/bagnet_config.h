#pragma once
// The shape of a BagNet, without torch: read by the registry, the trainer and the network.
#include <cstdint>
#include <vector>

namespace bagnet {

struct BagNetConfig {
  int64_t in_channels = 3;
  int64_t stem_width = 64;
  std::vector<int64_t> widths{64, 128, 256, 512};
  std::vector<int64_t> blocks{3, 4, 6, 3};
  // Number of blocks at the start of each stage whose middle conv is 3x3 (the rest are 1x1).
  std::vector<int64_t> kernel3{1, 1, 1, 1};
  std::vector<int64_t> strides{2, 2, 2, 1};
  int64_t expansion = 4;
  int64_t num_classes = 1000;
  // The reference uses 0.001 for the stem's BatchNorm (PyTorch convention: weight of the new
  // batch); training small BagNets from scratch for few steps wants the usual 0.1.
  double stem_bn_momentum = 0.001;

  // Patch size q: stem 3x3 plus 2 * (current stride) for every 3x3 convolution.
  int64_t receptive_field() const;
  // Product of the stage strides: the logit map's step in input pixels.
  int64_t total_stride() const;
  // Throws std::invalid_argument on inconsistent lists.
  void validate() const;

  // The three published variants; patch_size is 9, 17 or 33.
  static BagNetConfig imagenet(int patch_size);
};

}  // namespace bagnet
