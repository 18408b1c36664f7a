#pragma once
// GoogLeNet (Szegedy et al., CVPR 2015) with torchvision's layout and numerics: BatchNorm after
// every convolution (eps 0.001), the 3x3 "5x5" branch of torchvision (vision issue #906),
// ceil-mode max-pools, and transform_input, which torchvision's ImageNet weights need (they were
// ported from TensorFlow and expect inputs scaled to [-1, 1]). The auxiliary classifiers are
// not built: their keys (aux1., aux2.) are accepted and ignored on loading.
#include "networks/network.h"

namespace bagnet {

// Conv (no bias), BatchNorm (eps 0.001), ReLU: torchvision's BasicConv2d.
class BasicConv2dImpl : public torch::nn::Module {
 public:
  BasicConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride = 1, int64_t padding = 0);
  torch::Tensor forward(const torch::Tensor& x);
  void fold_batchnorm();

  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};

 private:
  bool folded_ = false;
};
TORCH_MODULE(BasicConv2d);

class InceptionImpl : public torch::nn::Module {
 public:
  InceptionImpl(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red, int64_t ch5x5,
                int64_t pool_proj);
  torch::Tensor forward(const torch::Tensor& x);

  BasicConv2d branch1{nullptr};
  torch::nn::Sequential branch2{nullptr}, branch3{nullptr}, branch4{nullptr};
};
TORCH_MODULE(Inception);

class GoogLeNetImpl : public NetworkImpl {
 public:
  GoogLeNetImpl(int64_t num_classes = 1000, bool transform_input = true);
  torch::Tensor features(const torch::Tensor& x) override;
  torch::Tensor head(const torch::Tensor& f) override;
  std::vector<std::string> layer_names() const override;
  std::string default_cam_layer() const override { return "inception5b"; }
  bool ignored_key(const std::string& key) const override;
  std::string ignored_keys_reason() const override;
  bool transform_input() const { return transform_input_; }

  BasicConv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  Inception inception3a{nullptr}, inception3b{nullptr}, inception4a{nullptr}, inception4b{nullptr},
      inception4c{nullptr}, inception4d{nullptr}, inception4e{nullptr}, inception5a{nullptr},
      inception5b{nullptr};

 protected:
  void fold_stem() override;

 private:
  bool transform_input_;
};
TORCH_MODULE(GoogLeNet);

}  // namespace bagnet
