#pragma once
// The networks as LibTorch modules. Module names equal the PyTorch state_dict keys
// (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc, ...), so a checkpoint maps one-to-one.
#include <torch/torch.h>

#include <vector>

namespace bagnet {

// Shared by BagNet and ResNet-50: a ResNet bottleneck block (He et al., CVPR 2016) whose
// middle convolution's kernel, stride and padding are options.
struct BottleneckOptions {
  int64_t in_channels = 64;
  int64_t width = 64;     // channels of the inner 1x1 / kxk convolutions
  int64_t expansion = 4;  // output channels = width * expansion
  int64_t kernel = 3;     // middle convolution (conv2)
  int64_t stride = 1;     // sits on conv2, as in torchvision >= 0.2 and the BagNet code
  int64_t padding = 1;    // ResNet: 1; BagNet: 0
  double bn_momentum = 0.1;
};

class BottleneckImpl : public torch::nn::Module {
 public:
  explicit BottleneckImpl(const BottleneckOptions& o);
  torch::Tensor forward(const torch::Tensor& x);

  // The block run "a trous" (for dense BagNet maps): conv2 with `stride` and `dilation` in place
  // of its own stride (its padding scaled by the dilation), the projection with `stride`, the
  // residual cropped at the bottom/right. forward(x) is forward_dilated(x, conv2's stride, 1).
  torch::Tensor forward_dilated(const torch::Tensor& x, int64_t stride, int64_t dilation);

  // Inference only: each BatchNorm folded into the convolution before it (see fold_batchnorm).
  void fold_batchnorm();

  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr}, conv3{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, bn3{nullptr};
  torch::nn::Sequential downsample{nullptr};  // empty when the residual needs no projection

 private:
  bool folded_ = false;
};
TORCH_MODULE(Bottleneck);

// A classification network whose head is a Linear layer on the last feature map.
class NetworkImpl : public torch::nn::Module {
 public:
  // Feature map before the head, [N, C_feat, h, w].
  virtual torch::Tensor features(const torch::Tensor& x) = 0;
  // Pooled logits [N, classes]: mean of the features over all positions, then fc.
  torch::Tensor forward(const torch::Tensor& x);
  // Logits at every position [N, classes, h, w]: fc applied to each feature vector. For a
  // BagNet, entry (i, j) is the logit vector of the input patch at (stride*i, stride*j).
  torch::Tensor logit_map(const torch::Tensor& x);

  // NHWC layout for convolution weights and inputs: 10-20% faster on CPU here for BagNets
  // and ResNet-50 alike (scripts/bench_forward.py). Call after moving to the device.
  void set_channels_last(bool on);
  bool channels_last() const { return channels_last_; }

  // Inference only: folds every BatchNorm (eval mode, running statistics) into the convolution
  // before it, w' = w * g / sqrt(v + eps), b' = b - m * g / sqrt(v + eps) (the formula of
  // torch.nn.utils.fusion.fuse_conv_bn_weights), and skips the BatchNorms from then on: one
  // pass over each activation less. Logits change by float rounding only (tests/test_networks).
  // Training never folds. Call after moving the network to its device: the folded biases are
  // not registered parameters (see fold_conv_bn) and would not move with it.
  void fold_batchnorm();
  bool folded() const { return folded_; }

  torch::nn::Linear fc{nullptr};

 protected:
  torch::Tensor prepare_input(const torch::Tensor& x) const;
  // The stem's convolution and BatchNorm pair (BagNet: conv2/bn1; ResNet: conv1/bn1).
  virtual void fold_stem() = 0;
  // conv, then bn unless folded.
  torch::Tensor conv_bn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const torch::Tensor& x) const;

 private:
  bool channels_last_ = false;
  bool folded_ = false;
};

// Folds `bn` into `conv` (see NetworkImpl::fold_batchnorm).
void fold_conv_bn(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

// Conv2d without bias, as every convolution of both architectures.
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding);

}  // namespace bagnet
