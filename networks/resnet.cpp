#include "networks/resnet.h"

namespace bagnet {

ResNet50Impl::ResNet50Impl(int64_t num_classes, int64_t in_channels) {
  conv1 = register_module("conv1", make_conv(in_channels, 64, 7, 2, 3));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(64));
  const int64_t widths[] = {64, 128, 256, 512};
  const int64_t blocks[] = {3, 4, 6, 3};
  int64_t in = 64;
  for (int s = 0; s < 4; ++s) {
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < blocks[s]; ++b) {
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

void ResNet50Impl::fold_stem() { fold_conv_bn(*conv1, *bn1); }

torch::Tensor ResNet50Impl::features(const torch::Tensor& x) {
  auto y = conv_bn(conv1, bn1, x).relu_();
  y = torch::max_pool2d(y, 3, 2, 1);
  for (auto& stage : layers) y = stage->forward(y);
  return y;
}

}  // namespace bagnet
