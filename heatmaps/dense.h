#pragma once
// Exact dense class-evidence maps of a BagNet (Brendel & Bethge, ICLR 2019).
//
// Definition (the reference, heatmaps/patches.h): the value at pixel (y, x) for class c is the
// class-c logit of the q x q patch centred on (y, x) of the normalised image zero-padded by
// (q-1)/2 on every side. At stride s the map is sampled at y = s*i, x = s*j, so an H x W image
// gives a ceil(H/s) x ceil(W/s) map.
//
// A BagNet's own logit map on the padded image is the stride-8 map: its entry (i, j) is the
// patch at (8i, 8j) of the padded image, i.e. the patch centred on (8i, 8j) of the image. For
// s < 8 the network is evaluated at all input offsets (shift and stitch), but hierarchically:
// each stage whose stride would take the map beyond s gets its input split into its stride^2
// phases (crops starting at (a, b), a, b < stride), stacked along the batch. This is the
// a-trous computation (every layer evaluated once at the resolution it needs, nothing twice)
// run through the network's own, unmodified modules, so the blocks' bottom/right residual crop
// (residual[:, :, :-d, :-d]) is applied exactly as in classification.
#include <torch/torch.h>

#include <string>

#include "inference/onednn.h"
#include "networks/bagnet.h"

namespace bagnet::heatmaps {

// ceil(n / stride): the number of map positions along a side of n pixels.
int64_t map_extent(int64_t n, int64_t stride);

// x [N, C, H, W] zero-padded by (q-1)/2 on every side, so that the patch at (y, x) of the
// result is the patch centred on pixel (y, x) of x. The padding is 0 after normalisation, i.e.
// the dataset's mean colour, as in the reference code.
torch::Tensor pad_for_patches(const torch::Tensor& x, int64_t q);

// The map tools' --engine: true when dense maps run a-trous on the oneDNN engine ("auto" or
// "onednn" on the CPU), false for LibTorch's modules ("eager", or any GPU). Throws
// bagnet::Error for another name.
bool maps_on_onednn(const std::string& engine, const c10::Device& device);

// Throws bagnet::Error unless the network's stage strides allow maps at `stride` (for the
// published BagNets: 8, 4, 2, 1).
void check_stride(const BagNetImpl& net, int64_t stride);

struct DenseOptions {
  int64_t stride = 1;
  // Tile side in map positions (rounded up to a multiple of 8/stride, so tiles start on the
  // network's own grid): bounds memory on large images. 0 = one tile. Tiles overlap by q-1
  // input pixels; every map entry still sees exactly its own patch, so tiling changes nothing.
  int64_t tile = 256;
  // How the positions between the network's own 8-pixel grid are computed: "phases" (each
  // stage that would coarsen the map gets its input split into stride^2 phase crops stacked
  // along the batch, run through the unmodified modules) or "atrous" (those stages' strides
  // removed and every later convolution dilated by them, one large image per layer; Holschneider
  // et al. 1989, as in DeepLab). Both give every entry its own patch's logit.
  std::string algorithm = "phases";
  // With "atrous": run the a-trous network on this oneDNN engine (built on the same network;
  // oneDNN's layouts, prepacked weights, fused ReLU and residual) instead of LibTorch's eager ops.
  OneDnnForward* engine = nullptr;
};

// Maps [N, K, ceil(H/s), ceil(W/s)] (float32, on the network's device) for the classes in
// `classes` (int64 indices; undefined = all classes, in index order). Features are computed
// once per tile; only the requested rows of the fc layer are applied.
torch::Tensor dense_logit_maps(BagNetImpl& net, const torch::Tensor& x, const DenseOptions& options,
                               const torch::Tensor& classes = {});

// Multiply-accumulates that dense_logit_maps performs on an [N, C, H, W] input with K classes
// (convolutions and the fc rows), for the benchmark's throughput figure.
double dense_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width, const DenseOptions& options,
                  int64_t num_classes);

// The same for the atrous algorithm, untiled (every layer once at full resolution).
double atrous_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width, int64_t stride,
                   int64_t num_classes);

// Multiply-accumulates of net.forward on an [N, C, H, W] input (convolutions and fc).
double forward_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width);

}  // namespace bagnet::heatmaps
