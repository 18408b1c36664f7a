#pragma once
// ResNet-50 and ResNet-152 with torchvision's layout and numerics (stride on the 3x3 conv,
// "ResNet v1.5").
#include "networks/network.h"

namespace bagnet {

class ResNetImpl : public NetworkImpl {
 public:
  // Bottleneck blocks per stage: ResNet-50 {3, 4, 6, 3}, ResNet-152 {3, 8, 36, 3}.
  explicit ResNetImpl(int64_t num_classes = 1000, int64_t in_channels = 3,
                      std::vector<int64_t> blocks = {3, 4, 6, 3});
  torch::Tensor features(const torch::Tensor& x) override;
  std::vector<std::string> layer_names() const override { return {"layer1", "layer2", "layer3", "layer4"}; }
  std::string default_cam_layer() const override { return "layer4"; }

  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};
  std::vector<torch::nn::Sequential> layers;  // layer1..layer4

 protected:
  void fold_stem() override;
};
TORCH_MODULE(ResNet);

}  // namespace bagnet
