#pragma once
// The bottleneck networks (BagNet-9/17/33 and the other BagNets, ResNet-50/152) run directly on
// oneDNN, the convolution library LibTorch itself calls on the CPU, for inference:
//  - activations stay in the layout oneDNN's kernels choose (blocked nChw8c with AVX2, plain NHWC
//    for the brgconv kernels it picks with AVX-512) from the first convolution to the last, with
//    no reorder in between;
//  - weights are reordered ("prepacked") into the layout each convolution wants once, not on
//    every call as LibTorch's eager convolution does;
//  - each ReLU, and each block's residual add + ReLU, is a post-op of the convolution before it
//    (oneDNN's sum and eltwise post-ops), so no separate pass over the activations remains;
//  - activation buffers are planned once per input shape and reused across blocks and calls;
//  - BagNet's stem (a 1x1 convolution 3->64 straight into a 3x3 one 64->64) runs as the single
//    3x3 convolution 3->64 the two compose to, a twentieth of the stem's multiply-adds;
//  - a stride-1 1x1 projection whose residual is cropped (BagNet's unpadded blocks) runs on the
//    cropped corner of its input rather than cropping its output.
// The numbers are the eager network's up to float summation order (tests/test_networks.cpp).
// Opt-in, Precision::bf16 keeps activations and weights in bfloat16 (accumulating in fp32), for
// CPUs whose oneDNN has bf16 kernels (AMX, AVX512-BF16, or AVX-512 emulating them): about 3x
// faster than fp32 with AMX, slower without (README Speed), and no longer exact (8-bit mantissas:
// tests/test_networks.cpp bounds the error).
// BatchNorm must already be folded (NetworkImpl::fold_batchnorm). CPU only; input and output fp32.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "lib/error.h"
#include "networks/network.h"

namespace bagnet {

// One bottleneck block's geometry, in forward order over all blocks: the stride of conv2 and of
// the projection, and conv2's dilation (its padding scaled by it). The dense "a trous" BagNet map
// replaces the network's own (heatmaps/dense.cpp).
struct BlockGeometry {
  int64_t stride = 1;
  int64_t dilation = 1;
  bool operator<(const BlockGeometry& o) const {
    return std::tie(stride, dilation) < std::tie(o.stride, o.dilation);
  }
};

enum class Precision { fp32, bf16 };
// "fp32" or "bf16" (the tools' --precision); throws bagnet::Error otherwise.
inline Precision parse_precision(const std::string& name) {
  if (name == "fp32") return Precision::fp32;
  if (name == "bf16") return Precision::bf16;
  throw Error("--precision " + name, "must be fp32 or bf16");
}
inline const char* precision_name(Precision p) { return p == Precision::bf16 ? "bf16" : "fp32"; }

class OneDnnForward {
 public:
  // `net`: a BagNet or ResNet (supports() true) on the CPU, in eval mode, BatchNorm folded.
  // Throws bagnet::Error otherwise. Keeps a reference: later weight changes are not seen.
  // With Precision::bf16 it throws bagnet::Error where this CPU's oneDNN has no bf16
  // convolution or only its reference (slow) one, and warns on stderr where it has no AMX.
  explicit OneDnnForward(std::shared_ptr<NetworkImpl> net, Precision precision = Precision::fp32);
  ~OneDnnForward();
  OneDnnForward(const OneDnnForward&) = delete;
  OneDnnForward& operator=(const OneDnnForward&) = delete;

  // Whether the network is one this engine runs (BagNet, ResNet).
  static bool supports(const NetworkImpl& net);

  // net->forward(x): logits [N, classes] for a float CPU input [N, C, H, W].
  torch::Tensor forward(const torch::Tensor& x);
  // net->features(x) [N, C, h, w] (channels-last memory), with every block's geometry replaced
  // by `geometry` (one entry per block) when it is not empty.
  torch::Tensor features(const torch::Tensor& x, const std::vector<BlockGeometry>& geometry = {});
  // The blocks' own geometry (what features() uses without `geometry`), one entry per block.
  std::vector<BlockGeometry> block_geometry() const;

  Precision precision() const { return precision_; }

  // Plans built so far (one per input shape, layout and geometry; for tests).
  size_t compiled_shapes() const;
  // Activation bytes the last plan built needs (its buffers are shared with the other plans).
  int64_t last_plan_bytes() const { return last_plan_bytes_; }

  // Implementation types (public so that the builder in the .cpp can name them).
  struct Network;
  struct Plan;

 private:
  using Key = std::tuple<std::vector<int64_t>, bool, std::vector<BlockGeometry>>;
  std::shared_ptr<NetworkImpl> net_;
  Precision precision_;
  std::unique_ptr<Network> spec_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  std::vector<torch::Tensor> arena_;  // activation buffers, shared by the plans
  int64_t last_plan_bytes_ = 0;
};

}  // namespace bagnet
