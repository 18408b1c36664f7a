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
  // conv1 (1x1), conv2 (3x3, unpadded), bn1, ReLU: the input of layer1.
  torch::Tensor stem(const torch::Tensor& x);
  const BagNetConfig& config() const { return config_; }
  std::vector<std::string> layer_names() const override;
  std::string default_cam_layer() const override { return "layer" + std::to_string(layers.size()); }

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;  // layer1..layer4

 protected:
  void fold_stem() override;

 private:
  BagNetConfig config_;
};
TORCH_MODULE(BagNet);

}  // namespace bagnet
