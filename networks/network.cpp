#include "networks/network.h"

#include <algorithm>

#include "lib/error.h"

namespace bagnet {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

BottleneckImpl::BottleneckImpl(const BottleneckOptions& o) {
  const int64_t out = o.width * o.expansion;
  auto bn = [&](int64_t c) {
    return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(c).momentum(o.bn_momentum));
  };
  conv1 = register_module("conv1", make_conv(o.in_channels, o.width, 1, 1, 0));
  bn1 = register_module("bn1", bn(o.width));
  conv2 = register_module("conv2", make_conv(o.width, o.width, o.kernel, o.stride, o.padding));
  bn2 = register_module("bn2", bn(o.width));
  conv3 = register_module("conv3", make_conv(o.width, out, 1, 1, 0));
  bn3 = register_module("bn3", bn(out));
  if (o.stride != 1 || o.in_channels != out) {
    // Both references use BatchNorm's default momentum in the projection branch.
    downsample = register_module(
        "downsample",
        torch::nn::Sequential(make_conv(o.in_channels, out, 1, o.stride, 0), torch::nn::BatchNorm2d(out)));
  }
}

void fold_conv_bn(torch::nn::Conv2dImpl& conv, const torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  const auto rsqrt = torch::rsqrt(bn.running_var + bn.options.eps());
  const auto scale = bn.weight * rsqrt;
  const auto w = conv.weight * scale.reshape({-1, 1, 1, 1});
  conv.weight.set_data(w.contiguous(conv.weight.suggest_memory_format()));
  if (conv.bias.defined()) {  // VGG: the convolutions have biases; they stay registered
    conv.bias.set_data((conv.bias - bn.running_mean) * rsqrt * bn.weight + bn.bias);
    return;
  }
  // The ResNets' convolutions have no bias: LibTorch registers an undefined "bias" that cannot
  // be redefined, but Conv2dImpl::forward reads the member. So the folded bias is the member
  // only: on the network's device (fold after moving), not in state_dict().
  conv.bias = (torch::zeros_like(bn.running_mean) - bn.running_mean) * rsqrt * bn.weight + bn.bias;
}

void BottleneckImpl::fold_batchnorm() {
  if (folded_) return;
  fold_conv_bn(*conv1, *bn1);
  fold_conv_bn(*conv2, *bn2);
  fold_conv_bn(*conv3, *bn3);
  if (downsample)
    fold_conv_bn(*downsample->ptr<torch::nn::Conv2dImpl>(0),
                 *std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(downsample->ptr(1)));
  folded_ = true;
}

torch::Tensor BottleneckImpl::forward_dilated(const torch::Tensor& x, int64_t stride, int64_t dilation) {
  auto bn_or_folded = [&](torch::nn::BatchNorm2d& bn, const torch::Tensor& y) { return folded_ ? y : bn(y); };
  // conv2 with its own padding scaled by the dilation (0 for BagNets; a dilated 3x3 keeps its size).
  const int64_t padding = (**c10::get_if<torch::ExpandingArray<2>>(&conv2->options.padding()))[0] * dilation;
  auto out = bn_or_folded(bn1, conv1(x)).relu_();
  out =
      bn_or_folded(bn2, torch::conv2d(out, conv2->weight, conv2->bias, at::IntArrayRef{stride, stride},
                                      at::IntArrayRef{padding, padding}, at::IntArrayRef{dilation, dilation}))
          .relu_();
  out = bn_or_folded(bn3, conv3(out));
  torch::Tensor residual = x;
  if (downsample) {
    auto& proj = *downsample->ptr<torch::nn::Conv2dImpl>(0);
    residual = torch::conv2d(x, proj.weight, proj.bias, at::IntArrayRef{stride, stride});
    if (!folded_)
      residual = std::dynamic_pointer_cast<torch::nn::BatchNorm2dImpl>(downsample->ptr(1))->forward(residual);
  }
  // With unpadded 3x3 convolutions (BagNet) the block output is smaller than its input;
  // the reference crops the residual at the bottom and right, residual[:, :, :-d, :-d],
  // which keeps patch (i, j) aligned with input pixel (stride*i, stride*j).
  if (residual.size(2) != out.size(2) || residual.size(3) != out.size(3))
    residual = residual.slice(2, 0, out.size(2)).slice(3, 0, out.size(3));
  out += residual;
  return out.relu_();
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  return forward_dilated(x, (*conv2->options.stride())[0], 1);
}

void NetworkImpl::set_channels_last(bool on) {
  channels_last_ = on;
  const auto fmt = on ? c10::MemoryFormat::ChannelsLast : c10::MemoryFormat::Contiguous;
  torch::NoGradGuard no_grad;
  for (auto& p : parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
}

void NetworkImpl::fold_batchnorm() {
  if (folded_ || !supports_folding()) return;
  fold_stem();
  for (const auto& m : modules(/*include_self=*/false))
    if (auto block = std::dynamic_pointer_cast<BottleneckImpl>(m)) block->fold_batchnorm();
  folded_ = true;
}

torch::Tensor NetworkImpl::conv_bn(torch::nn::Conv2d& conv, torch::nn::BatchNorm2d& bn,
                                   const torch::Tensor& x) const {
  return folded_ ? conv(x) : bn(conv(x));
}

torch::Tensor NetworkImpl::prepare_input(const torch::Tensor& x) const {
  return channels_last_ && x.dim() == 4 ? x.contiguous(c10::MemoryFormat::ChannelsLast) : x;
}

torch::Tensor NetworkImpl::head(const torch::Tensor& f) {
  // Same op as torchvision's AdaptiveAvgPool2d(1); the BagNet reference's AvgPool2d over the
  // whole (square) map averages the same numbers.
  return fc(torch::adaptive_avg_pool2d(f, {1, 1}).flatten(1));
}

torch::Tensor NetworkImpl::forward(const torch::Tensor& x) { return head(features(prepare_input(x))); }

torch::Tensor NetworkImpl::logit_map(const torch::Tensor& x) {
  if (!has_patch_logits() || !fc)
    throw Error(display_name(),
                "has no per-position (patch) logits: its head is not a mean over positions followed "
                "by a linear layer");
  auto f = features(prepare_input(x));
  return fc(f.permute({0, 2, 3, 1})).permute({0, 3, 1, 2}).contiguous();
}

std::string NetworkImpl::display_name() const {
  std::string n = name();  // the C++ class: "bagnet::VGGImpl"
  if (const auto colon = n.rfind("::"); colon != std::string::npos) n = n.substr(colon + 2);
  if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
  return n;
}

void NetworkImpl::set_capture(const std::string& layer) {
  if (!layer.empty()) {
    const auto names = layer_names();
    if (std::find(names.begin(), names.end(), layer) == names.end()) {
      std::string list;
      for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
      throw Error(layer, "no such layer in " + display_name() + "; the layers are: " + list);
    }
  }
  capture_ = layer;
  captured_ = torch::Tensor();
}

}  // namespace bagnet
