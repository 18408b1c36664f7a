#include "networks/resnet.h"

namespace bagnet {

ResNetImpl::ResNetImpl(int64_t num_classes, int64_t in_channels, std::vector<int64_t> blocks) {
  conv1 = register_module("conv1", make_conv(in_channels, 64, 7, 2, 3));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
  const int64_t widths[] = {64, 128, 256, 512};
  int64_t in = 64;
  for (int s = 0; s < 4; ++s) {
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < blocks.at(s); ++b) {
      BottleneckOptions o;
      o.in_channels = in;
      o.width = widths[s];
      o.kernel = 3;
      o.padding = 1;
      o.stride = (b == 0 && s > 0) ? 2 : 1;
      stage->push_back(Bottleneck(o));
      in = o.width * o.expansion;
    }
    layers.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = register_module("fc", torch::nn::Linear(in, num_classes));
}

void ResNetImpl::fold_stem() { fold_conv_bn(*conv1, *bn1); }

torch::Tensor ResNetImpl::features(const torch::Tensor& x) {
  auto y = conv_bn(conv1, bn1, x).relu_();
  y = torch::max_pool2d(y, 3, 2, 1);
  for (size_t s = 0; s < layers.size(); ++s) y = tap("layer" + std::to_string(s + 1), layers[s]->forward(y));
  return y;
}

}  // namespace bagnet
