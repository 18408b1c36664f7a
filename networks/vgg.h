#pragma once
// Plain convolutional networks: a `features` stack of convolutions, BatchNorms, ReLUs and
// max-pools, then a head. With torchvision's layouts (module names = state_dict keys) this is
// AlexNet (Krizhevsky 2014, "one weird trick" variant, torchvision's alexnet) and VGG-16 with
// and without BatchNorm (Simonyan & Zisserman, ICLR 2015); with a global-pool head and a layer
// list from the registry it is a small configurable VGG-like CNN (cnn_fashion_mnist).
#include "networks/network.h"

namespace bagnet {

struct PlainLayer {
  enum Kind { Conv, BatchNorm, ReLU, MaxPool, Dropout, Linear } kind;
  int64_t out = 0;  // Conv, Linear: output channels/features
  int64_t kernel = 0, stride = 1, padding = 0;
};

struct PlainCNNConfig {
  int64_t in_channels = 3;
  int64_t num_classes = 1000;
  std::vector<PlainLayer> features;
  // > 0: adaptive average pooling to pool x pool, flatten, then `classifier` (torchvision's
  // AlexNet/VGG head). 0: mean over positions, then the Linear `fc` (exact patch logits).
  int64_t pool = 0;
  std::vector<PlainLayer> classifier;  // Linear, ReLU, Dropout; the last Linear gets num_classes
  std::string grad_cam_layer;          // "" = the last of features

  static PlainCNNConfig alexnet();
  static PlainCNNConfig vgg16(bool batch_norm);
  // VGG-style features from a channel list (0 = 2x2 max-pool), each 3x3 convolution (padding 1)
  // followed by an optional BatchNorm and a ReLU; global-pool head.
  static PlainCNNConfig vgg_like(const std::vector<int64_t>& channels, bool batch_norm);
};

class PlainCNNImpl : public NetworkImpl {
 public:
  explicit PlainCNNImpl(const PlainCNNConfig& config);
  torch::Tensor features(const torch::Tensor& x) override;
  torch::Tensor head(const torch::Tensor& f) override;
  bool has_patch_logits() const override { return config_.pool == 0; }
  std::string head_layer() const override;
  std::vector<std::string> layer_names() const override;
  std::string default_cam_layer() const override;
  const PlainCNNConfig& config() const { return config_; }

  torch::nn::Sequential classifier{nullptr};  // null with a global-pool head

 protected:
  void fold_stem() override;

 private:
  PlainCNNConfig config_;
  // features.i's modules by index (null where layer i is of another kind or has no module).
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> norms_;
};
TORCH_MODULE(PlainCNN);

}  // namespace bagnet
