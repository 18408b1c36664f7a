#pragma once
// ResNet-50 with torchvision's layout and numerics (stride on the 3x3 conv, "ResNet v1.5").
#include "networks/network.h"

namespace bagnet {

class ResNet50Impl : public NetworkImpl {
 public:
  explicit ResNet50Impl(int64_t num_classes = 1000, int64_t in_channels = 3);
  torch::Tensor features(const torch::Tensor& x) override;

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;  // layer1..layer4

 protected:
  void fold_stem() override;
};
TORCH_MODULE(ResNet50);

}  // namespace bagnet
