#pragma once
// An inference network's forward pass run through TorchScript's CPU inference passes: the
// network (BatchNorm already folded) is traced once per input shape, frozen and passed through
// torch::jit::optimize_for_inference, which turns the convolutions into oneDNN ones with
// prepacked weights in its blocked layout and fuses each residual add and ReLU into the
// convolution before it (the C++ equivalent of torch.jit.freeze + optimize_for_inference).
// Measured per model (scripts/bench_forward.py): it pays for ResNet-style networks with small late
// feature maps; the BagNets are faster in eager mode. Inference only: no autograd through it.
#include <torch/torch.h>

#include <map>
#include <memory>
#include <vector>

#include "networks/network.h"

namespace bagnet {

class TorchScriptForward {
 public:
  // `net` in eval mode on the CPU, BatchNorm folded; its parameters stop requiring gradients
  // (the tracer can keep only constants that do not).
  explicit TorchScriptForward(std::shared_ptr<NetworkImpl> net);
  ~TorchScriptForward();
  // net->forward(x), through the module compiled for x's shape (compiled on first use).
  torch::Tensor forward(const torch::Tensor& x);
  // How many shapes have been compiled (for tests).
  size_t compiled_shapes() const;

 private:
  struct Compiled;
  std::shared_ptr<NetworkImpl> net_;
  std::map<std::vector<int64_t>, std::unique_ptr<Compiled>> modules_;
};

}  // namespace bagnet
