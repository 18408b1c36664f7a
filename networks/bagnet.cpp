#include "networks/bagnet.h"

#include <stdexcept>

namespace bagnet {

int64_t BagNetConfig::receptive_field() const {
  int64_t rf = 3, jump = 1;  // stem: 1x1 conv, then one unpadded 3x3 conv
  for (size_t s = 0; s < blocks.size(); ++s) {
    for (int64_t b = 0; b < blocks[s]; ++b) {
      if (b < kernel3[s]) rf += 2 * jump;
      if (b == 0) jump *= strides[s];
    }
  }
  return rf;
}

int64_t BagNetConfig::total_stride() const {
  int64_t stride = 1;
  for (auto s : strides) stride *= s;
  return stride;
}

void BagNetConfig::validate() const {
  const size_t n = widths.size();
  if (n == 0 || blocks.size() != n || kernel3.size() != n || strides.size() != n)
    throw std::invalid_argument(
        "BagNet config: widths, blocks, kernel3 and strides need one entry per stage");
  for (size_t s = 0; s < n; ++s) {
    if (widths[s] <= 0 || blocks[s] <= 0 || strides[s] <= 0 || kernel3[s] < 0 || kernel3[s] > blocks[s])
      throw std::invalid_argument("BagNet config: stage " + std::to_string(s + 1) + " is invalid");
  }
  if (in_channels <= 0 || stem_width <= 0 || expansion <= 0 || num_classes <= 0)
    throw std::invalid_argument("BagNet config: channel and class counts must be positive");
}

BagNetConfig BagNetConfig::imagenet(int patch_size) {
  BagNetConfig c;
  switch (patch_size) {
    case 9:
      c.kernel3 = {1, 1, 0, 0};
      break;
    case 17:
      c.kernel3 = {1, 1, 1, 0};
      break;
    case 33:
      c.kernel3 = {1, 1, 1, 1};
      break;
    default:
      throw std::invalid_argument("BagNet patch size must be 9, 17 or 33");
  }
  return c;
}

BagNetImpl::BagNetImpl(const BagNetConfig& config) : config_(config) {
  config_.validate();
  conv1 = register_module("conv1", make_conv(config_.in_channels, config_.stem_width, 1, 1, 0));
  conv2 = register_module("conv2", make_conv(config_.stem_width, config_.stem_width, 3, 1, 0));
  bn1 = register_module(
      "bn1", torch::nn::BatchNorm2d(
                 torch::nn::BatchNorm2dOptions(config_.stem_width).momentum(config_.stem_bn_momentum)));
  int64_t in = config_.stem_width;
  for (size_t s = 0; s < config_.widths.size(); ++s) {
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < config_.blocks[s]; ++b) {
      BottleneckOptions o;
      o.in_channels = in;
      o.width = config_.widths[s];
      o.expansion = config_.expansion;
      o.kernel = b < config_.kernel3[s] ? 3 : 1;
      o.stride = b == 0 ? config_.strides[s] : 1;
      o.padding = 0;
      stage->push_back(Bottleneck(o));
      in = o.width * o.expansion;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = register_module("fc", torch::nn::Linear(in, config_.num_classes));
}

torch::Tensor BagNetImpl::stem(const torch::Tensor& x) { return conv_bn(conv2, bn1, conv1(x)).relu_(); }

void BagNetImpl::fold_stem() { fold_conv_bn(*conv2, *bn1); }

torch::Tensor BagNetImpl::features(const torch::Tensor& x) {
  auto y = stem(x);
  for (size_t s = 0; s < layers.size(); ++s) y = tap("layer" + std::to_string(s + 1), layers[s]->forward(y));
  return y;
}

std::vector<std::string> BagNetImpl::layer_names() const {
  std::vector<std::string> names;
  for (size_t s = 0; s < layers.size(); ++s) names.push_back("layer" + std::to_string(s + 1));
  return names;
}

}  // namespace bagnet
