#pragma once
// BagNet (Brendel & Bethge, ICLR 2019): a ResNet-50 whose receptive field is limited to
// q x q pixels (q = 9, 17, 33), so the class logits are the mean of per-patch logits.
// Follows the reference implementation (github.com/wielandbrendel/bag-of-local-features-models).
#include "networks/bagnet_config.h"
#include "networks/network.h"

namespace bagnet {

class BagNetImpl : public NetworkImpl {
 public:
  explicit BagNetImpl(const BagNetConfig& config);
  torch::Tensor features(const torch::Tensor& x) override;
  const BagNetConfig& config() const { return config_; }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;  // layer1..layer4

 private:
  BagNetConfig config_;
};
TORCH_MODULE(BagNet);

}  // namespace bagnet
