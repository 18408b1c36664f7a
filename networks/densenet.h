#pragma once
// DenseNet-BC (Huang et al., CVPR 2017) with torchvision's layout: features.conv0/norm0/pool0,
// features.denseblockN.denselayerM.{norm1,conv1,norm2,conv2}, features.transitionN.{norm,conv},
// features.norm5, then ReLU, mean over positions and `classifier`. Checkpoints with the old
// keys (denselayer1.norm.1) load through remap_key, as torchvision's _load_state_dict does.
// BatchNorm folding is not implemented: the BatchNorms sit before ReLU and convolution
// (pre-activation), so there is no convolution to fold them into.
#include "networks/network.h"

namespace bagnet {

struct DenseNetConfig {
  int64_t growth_rate = 32;
  std::vector<int64_t> block_config{6, 12, 32, 32};  // DenseNet-169
  int64_t num_init_features = 64;
  int64_t bn_size = 4;
  int64_t num_classes = 1000;
};

class DenseLayerImpl : public torch::nn::Module {
 public:
  DenseLayerImpl(int64_t in, int64_t growth_rate, int64_t bn_size);
  torch::Tensor forward(const torch::Tensor& x);  // x: the concatenation of all earlier outputs

  torch::nn::BatchNorm2d norm1{nullptr}, norm2{nullptr};
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
};
TORCH_MODULE(DenseLayer);

class DenseNetImpl : public NetworkImpl {
 public:
  explicit DenseNetImpl(const DenseNetConfig& config = {});
  // features (ending with norm5), then the head's ReLU: mean and classifier follow.
  torch::Tensor features(const torch::Tensor& x) override;
  std::string head_layer() const override { return "classifier"; }
  std::vector<std::string> layer_names() const override;
  // pytorch-grad-cam's README: densenet -> model.features[-1], i.e. norm5.
  std::string default_cam_layer() const override { return "features.norm5"; }
  std::string remap_key(const std::string& key) const override;
  bool supports_folding() const override { return false; }

 protected:
  void fold_stem() override {}

 private:
  DenseNetConfig config_;
  torch::nn::Conv2d conv0{nullptr};
  torch::nn::BatchNorm2d norm0{nullptr}, norm5{nullptr};
  std::vector<std::vector<DenseLayer>> blocks_;
  std::vector<std::pair<torch::nn::BatchNorm2d, torch::nn::Conv2d>> transitions_;
};
TORCH_MODULE(DenseNet);

}  // namespace bagnet
