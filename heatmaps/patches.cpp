#include "heatmaps/patches.h"

#include <algorithm>

#include "heatmaps/dense.h"

namespace bagnet::heatmaps {

torch::Tensor patch_logit_maps(BagNetImpl& net, const torch::Tensor& x, int64_t stride,
                               const torch::Tensor& classes, int64_t batch) {
  torch::NoGradGuard no_grad;
  const int64_t q = net.config().receptive_field();
  const int64_t n = x.size(0), c = x.size(1);
  const int64_t rows = map_extent(x.size(2), stride), cols = map_extent(x.size(3), stride);
  const auto padded = pad_for_patches(x, q);
  // Patch (i, j) = padded[:, :, s*i : s*i+q, s*j : s*j+q], centred on pixel (s*i, s*j).
  const auto patches = padded.unfold(2, q, stride).unfold(3, q, stride);  // [N, C, rows, cols, q, q]
  const auto flat = patches.permute({0, 2, 3, 1, 4, 5}).reshape({n * rows * cols, c, q, q});
  std::vector<torch::Tensor> logits;
  for (int64_t start = 0; start < flat.size(0); start += batch) {
    auto chunk = flat.slice(0, start, std::min(start + batch, flat.size(0))).contiguous();
    // The unmodified pooled network: on a q x q input the feature map has one position.
    auto y = net.forward(chunk);
    if (classes.defined()) y = y.index_select(1, classes.to(y.device(), torch::kLong));
    logits.push_back(y);
  }
  const auto all = torch::cat(logits, 0);  // [N*rows*cols, K]
  return all.view({n, rows, cols, all.size(1)}).permute({0, 3, 1, 2}).contiguous();
}

}  // namespace bagnet::heatmaps
