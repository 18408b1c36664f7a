#pragma once
// AdaIN style transfer (Huang & Belongie, "Arbitrary Style Transfer in Real-time with Adaptive
// Instance Normalization", ICCV 2017) with the networks of naoto0804/pytorch-AdaIN, as
// Stylized-ImageNet (Geirhos et al., ICLR 2019) and bethgelab/stylize-datasets use them:
//  - encoder: the "normalised VGG-19" up to relu4_1 (a 1x1 convolution 3->3, then VGG-19's 3x3
//    convolutions, each after a reflection padding of 1, with ReLU; 2x2 max pooling, stride 2,
//    ceil_mode);
//  - decoder: its mirror image, with nearest-neighbour upsampling x2 at three places and no ReLU
//    after the last convolution. Its output is 8x the encoder's grid: ceil(H/8)*8 by ceil(W/8)*8
//    (97x131 in, 104x136 out), as the reference does;
//  - AdaIN: content features normalised per channel and given the style features' mean and std,
//    std = sqrt(unbiased variance + 1e-5) (function.py calc_mean_std).
// The weights are the Sequentials' state dicts (keys "0.weight", "2.weight", ...), read with the
// toolkit's checkpoint reader in either torch.save format.
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include <string>
#include <utility>
#include <vector>

#include "lib/image.h"

namespace bagnet::stylize {

// calc_mean_std's epsilon, added to the variance.
constexpr double kEpsilon = 1e-5;
// Three ceil-mode poolings leave ceil(side / 8) rows; reflection padding by 1 needs at least 2.
constexpr int kMinSide = 9;

struct WeightsInfo {
  std::string path, sha256, format;  // format: "zip" or "legacy" (lib/checkpoint.h)
};

class AdainNet {
 public:
  // Reads and checks both files (every key, every shape); throws bagnet::Error naming the file and
  // the reason (a swapped pair is recognised and said so).
  AdainNet(const std::string& vgg_path, const std::string& decoder_path, c10::Device device);

  // [N,3,H,W] RGB in [0,1] -> relu4_1 features [N,512,ceil(H/8),ceil(W/8)].
  at::Tensor encode(const at::Tensor& images) const;
  // [N,512,h,w] -> images [N,3,8h,8w] (not clamped).
  at::Tensor decode(const at::Tensor& features) const;

  // The reference's layer order, op by op (reference = true), or the fast path (default): the
  // 1x1 convolution folded into the next one (both linear; padding commutes with a pointwise
  // map), and each "upsample x2, reflection-pad, 3x3 conv" computed at the low resolution as four
  // 2x2 convolutions, one per output phase (2.25x fewer multiply-adds; see decode()).
  void set_reference_ops(bool reference) { reference_ = reference; }
  // Activations in channels-last layout (faster with oneDNN on some CPUs).
  void set_channels_last(bool on) { channels_last_ = on; }

  const WeightsInfo& vgg() const { return vgg_; }
  const WeightsInfo& decoder() const { return decoder_; }
  c10::Device device() const { return device_; }

 private:
  struct Conv {
    int index = 0;  // position in the Sequential (the checkpoint key's number)
    at::Tensor weight, bias;
    at::Tensor phase_weight, phase_bias;  // decoder convolutions after an upsampling (fast path)
  };
  std::vector<Conv> encoder_, decoder_layers_;
  at::Tensor folded_weight_, folded_bias_;  // encoder 0 (1x1) folded into encoder 2
  WeightsInfo vgg_, decoder_;
  c10::Device device_{c10::kCPU};
  bool reference_ = false, channels_last_ = false;
};

// Per sample and channel over the spatial axes: mean and sqrt(unbiased var + eps), [N,C,1,1].
std::pair<at::Tensor, at::Tensor> mean_std(const at::Tensor& features, double eps = kEpsilon);

// (content - its mean) / its std * style_std + style_mean, per sample and channel.
at::Tensor adaptive_instance_normalization(const at::Tensor& content, const at::Tensor& style_mean,
                                           const at::Tensor& style_std);

// The decoder's input: alpha * adain + (1 - alpha) * content features (stylize-datasets' order).
at::Tensor blend(const at::Tensor& adain, const at::Tensor& content, double alpha);

// torchvision's ToTensor: [1,3,H,W] float in [0,1].
at::Tensor to_tensor(const Image& image);

// torchvision's save_image conversion of one [3,H,W] image: x*255 + 0.5, clamped to [0,255],
// truncated to uint8 (in float32, as torchvision computes it).
Image to_image(const at::Tensor& chw);

// Refuses an input whose side is below kMinSide: bagnet::Error(path, reason).
void check_size(int width, int height, const std::string& path, const std::string& what);

}  // namespace bagnet::stylize
