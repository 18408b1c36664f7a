#pragma once
// The reference method for class-evidence maps, as in the BagNet paper's code: cut every q x q
// patch (centred on the map's pixels) out of the normalised, zero-padded image and run each
// through the network, which pools over its single position. Slow, and kept for that reason:
// it is the definition that heatmaps/dense.h must reproduce, and `--method patches`.
#include <torch/torch.h>

#include "networks/bagnet.h"

namespace bagnet::heatmaps {

// Maps [N, K, ceil(H/s), ceil(W/s)] for `classes` (int64 indices; undefined = all), with
// `batch` patches per forward pass.
torch::Tensor patch_logit_maps(BagNetImpl& net, const torch::Tensor& x, int64_t stride,
                               const torch::Tensor& classes = {}, int64_t batch = 256);

}  // namespace bagnet::heatmaps
