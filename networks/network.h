#pragma once
// The networks as LibTorch modules. Module names equal the PyTorch state_dict keys
// (conv1, bn1, layer1.0.conv1, layer1.0.downsample.0, fc, ...), so a checkpoint maps one-to-one.
#include <torch/torch.h>

#include <string>
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

// A classification network: features (convolutional trunk), then a head. The default head is
// the mean over all positions followed by the Linear `fc` (BagNets, ResNets, DenseNet,
// GoogLeNet, the global-pool CNNs); AlexNet/VGG override head() with their own MLP.
class NetworkImpl : public torch::nn::Module {
 public:
  // Feature map before the head, [N, C_feat, h, w] (GoogLeNet's transform_input included).
  virtual torch::Tensor features(const torch::Tensor& x) = 0;
  // Logits [N, classes] from a features() output. Default: mean over positions (the op of
  // torchvision's AdaptiveAvgPool2d(1)), then fc.
  virtual torch::Tensor head(const torch::Tensor& f);
  // head(features(x)): the network's logits, as its PyTorch forward in eval mode.
  torch::Tensor forward(const torch::Tensor& x);

  // True when the head is "mean over positions, then a Linear": the logits are then exactly the
  // mean of per-position logits and logit_map() is defined. For a BagNet these are the patch
  // logits; for the others a position's "logit" sees the whole image (no locality).
  virtual bool has_patch_logits() const { return true; }
  // Logits at every position [N, classes, h, w]: fc applied to each feature vector. For a
  // BagNet, entry (i, j) is the logit vector of the input patch at (stride*i, stride*j).
  // Throws bagnet::Error for networks without patch logits (AlexNet, VGG).
  torch::Tensor logit_map(const torch::Tensor& x);
  // The state_dict prefix of the final Linear layer ("fc", "classifier", "classifier.6"):
  // what fine-tuning with a new head re-initialises.
  virtual std::string head_layer() const { return "fc"; }

  // The architecture's class name without namespace and "Impl" ("BagNet", "VGG"), for messages.
  std::string display_name() const;

  // --- For attribution methods (Grad-CAM and friends) ---
  // The layers whose outputs can be captured, by their state_dict prefix ("layer1".."layer4",
  // "features.N", "features", "inception4e", ...), in forward order. A layer's captured output is
  // what a PyTorch forward hook on the module of that name sees.
  virtual std::vector<std::string> layer_names() const = 0;
  // Grad-CAM's default layer, as pytorch-grad-cam's README chooses it (ResNet: layer4;
  // VGG/AlexNet/DenseNet: features[-1]; GoogLeNet: inception5b).
  virtual std::string default_cam_layer() const = 0;
  // From now on every forward records `layer`'s output ("" stops capturing). Throws
  // bagnet::Error listing the valid names for an unknown one.
  void set_capture(const std::string& layer);
  const std::string& capture_layer() const { return capture_; }
  // The output of the captured layer in the last forward (undefined before). It stays in the
  // autograd graph (when grad mode is on), so torch::autograd::grad(logit, captured()) works;
  // no in-place op touches it after capture.
  torch::Tensor captured() const { return captured_; }

  // --- Checkpoint keys ---
  // A key of an older file format mapped to the current one (DenseNet's "norm.1" -> "norm1").
  virtual std::string remap_key(const std::string& key) const { return key; }
  // Keys that a checkpoint may hold but inference does not use (GoogLeNet's aux1./aux2.):
  // accepted and ignored by load_weights.
  virtual bool ignored_key(const std::string& /*key*/) const { return false; }
  // Why they are ignored, for the model's JSON ("" when the network ignores none).
  virtual std::string ignored_keys_reason() const { return ""; }

  // NHWC layout for convolution weights and inputs: 10-20% faster on CPU here for BagNets
  // and ResNet-50 alike (scripts/bench_forward.py). Call after moving to the device.
  void set_channels_last(bool on);
  bool channels_last() const { return channels_last_; }

  // Inference only: folds every BatchNorm (eval mode, running statistics) into the convolution
  // before it, w' = w * g / sqrt(v + eps), b' = b - m * g / sqrt(v + eps) (the formula of
  // torch.nn.utils.fusion.fuse_conv_bn_weights), and skips the BatchNorms from then on: one
  // pass over each activation less. Logits change by float rounding only (tests/test_networks).
  // Training never folds. Call after moving the network to its device: the folded biases of
  // bias-free convolutions are not registered parameters (see fold_conv_bn) and would not move.
  // A no-op for networks where supports_folding() is false (DenseNet: its BatchNorms come before
  // a ReLU and then the convolution, so there is nothing to fold them into).
  void fold_batchnorm();
  bool folded() const { return folded_; }
  virtual bool supports_folding() const { return true; }

  // The final Linear of a mean-pool + Linear head (its state_dict name is head_layer());
  // null for networks with another head.
  torch::nn::Linear fc{nullptr};

 protected:
  torch::Tensor prepare_input(const torch::Tensor& x) const;
  // The folding of everything but the Bottleneck blocks (which fold_batchnorm folds itself):
  // BagNet: conv2/bn1; ResNet: conv1/bn1; the others: all their conv/BN pairs.
  virtual void fold_stem() = 0;
  // conv, then bn unless folded.
  torch::Tensor conv_bn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn, const torch::Tensor& x) const;
  // Records x as captured() when `name` is the capture layer; returns x. Cheap when not capturing.
  const torch::Tensor& tap(const std::string& name, const torch::Tensor& x) {
    if (!capture_.empty() && capture_ == name) captured_ = x;
    return x;
  }
  bool capturing() const { return !capture_.empty(); }

 private:
  bool channels_last_ = false;
  bool folded_ = false;
  std::string capture_;
  torch::Tensor captured_;
};

// Folds `bn` into `conv` (see NetworkImpl::fold_batchnorm).
void fold_conv_bn(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn);

// Conv2d without bias, as every convolution of the ResNets and BagNets.
torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding);

}  // namespace bagnet
