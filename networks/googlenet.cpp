#include "networks/googlenet.h"

namespace bagnet {
namespace {

torch::Tensor max_pool_ceil(const torch::Tensor& x, int64_t kernel, int64_t stride, int64_t padding = 0) {
  return torch::max_pool2d(x, kernel, stride, padding, /*dilation=*/1, /*ceil_mode=*/true);
}

// torchvision's MaxPool2d(3, stride=1, padding=1, ceil_mode=True) before branch4's 1x1 conv.
class PoolImpl : public torch::nn::Module {
 public:
  torch::Tensor forward(const torch::Tensor& x) { return max_pool_ceil(x, 3, 1, 1); }
};
TORCH_MODULE(Pool);

}  // namespace

BasicConv2dImpl::BasicConv2dImpl(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  conv = register_module("conv", make_conv(in, out, kernel, stride, padding));
  bn = register_module("bn", torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(out).eps(0.001)));
}

torch::Tensor BasicConv2dImpl::forward(const torch::Tensor& x) {
  auto y = conv(x);
  return (folded_ ? y : bn(y)).relu_();
}

void BasicConv2dImpl::fold_batchnorm() {
  if (folded_) return;
  fold_conv_bn(*conv, *bn);
  folded_ = true;
}

InceptionImpl::InceptionImpl(int64_t in, int64_t ch1x1, int64_t ch3x3red, int64_t ch3x3, int64_t ch5x5red,
                             int64_t ch5x5, int64_t pool_proj) {
  branch1 = register_module("branch1", BasicConv2d(in, ch1x1, 1));
  branch2 = register_module(
      "branch2", torch::nn::Sequential(BasicConv2d(in, ch3x3red, 1), BasicConv2d(ch3x3red, ch3x3, 3, 1, 1)));
  // kernel 3, not 5: torchvision's known deviation, which its weights were trained with.
  branch3 = register_module(
      "branch3", torch::nn::Sequential(BasicConv2d(in, ch5x5red, 1), BasicConv2d(ch5x5red, ch5x5, 3, 1, 1)));
  branch4 = register_module("branch4", torch::nn::Sequential(Pool(), BasicConv2d(in, pool_proj, 1)));
}

torch::Tensor InceptionImpl::forward(const torch::Tensor& x) {
  return torch::cat({branch1(x), branch2->forward(x), branch3->forward(x), branch4->forward(x)}, 1);
}

GoogLeNetImpl::GoogLeNetImpl(int64_t num_classes, bool transform_input) : transform_input_(transform_input) {
  conv1 = register_module("conv1", BasicConv2d(3, 64, 7, 2, 3));
  conv2 = register_module("conv2", BasicConv2d(64, 64, 1));
  conv3 = register_module("conv3", BasicConv2d(64, 192, 3, 1, 1));
  inception3a = register_module("inception3a", Inception(192, 64, 96, 128, 16, 32, 32));
  inception3b = register_module("inception3b", Inception(256, 128, 128, 192, 32, 96, 64));
  inception4a = register_module("inception4a", Inception(480, 192, 96, 208, 16, 48, 64));
  inception4b = register_module("inception4b", Inception(512, 160, 112, 224, 24, 64, 64));
  inception4c = register_module("inception4c", Inception(512, 128, 128, 256, 24, 64, 64));
  inception4d = register_module("inception4d", Inception(512, 112, 144, 288, 32, 64, 64));
  inception4e = register_module("inception4e", Inception(528, 256, 160, 320, 32, 128, 128));
  inception5a = register_module("inception5a", Inception(832, 256, 160, 320, 32, 128, 128));
  inception5b = register_module("inception5b", Inception(832, 384, 192, 384, 48, 128, 128));
  fc = register_module("fc", torch::nn::Linear(1024, num_classes));
}

torch::Tensor GoogLeNetImpl::features(const torch::Tensor& input) {
  torch::Tensor x = input;
  if (transform_input_) {
    // torchvision's _transform_input: from ImageNet normalisation to (x - 0.5) / 0.5, per channel.
    auto c0 = x.select(1, 0).unsqueeze(1) * (0.229 / 0.5) + (0.485 - 0.5) / 0.5;
    auto c1 = x.select(1, 1).unsqueeze(1) * (0.224 / 0.5) + (0.456 - 0.5) / 0.5;
    auto c2 = x.select(1, 2).unsqueeze(1) * (0.225 / 0.5) + (0.406 - 0.5) / 0.5;
    x = torch::cat({c0, c1, c2}, 1);
    if (channels_last()) x = x.contiguous(c10::MemoryFormat::ChannelsLast);
  }
  x = tap("conv1", conv1(x));
  x = tap("maxpool1", max_pool_ceil(x, 3, 2));
  x = tap("conv2", conv2(x));
  x = tap("conv3", conv3(x));
  x = tap("maxpool2", max_pool_ceil(x, 3, 2));
  x = tap("inception3a", inception3a(x));
  x = tap("inception3b", inception3b(x));
  x = tap("maxpool3", max_pool_ceil(x, 3, 2));
  x = tap("inception4a", inception4a(x));
  x = tap("inception4b", inception4b(x));
  x = tap("inception4c", inception4c(x));
  x = tap("inception4d", inception4d(x));
  x = tap("inception4e", inception4e(x));
  x = tap("maxpool4", max_pool_ceil(x, 2, 2));
  x = tap("inception5a", inception5a(x));
  return tap("inception5b", inception5b(x));
}

torch::Tensor GoogLeNetImpl::head(const torch::Tensor& f) {
  auto pooled = torch::adaptive_avg_pool2d(f, {1, 1}).flatten(1);
  return fc(torch::dropout(pooled, 0.2, is_training()));  // torchvision: Dropout(p=0.2)
}

std::vector<std::string> GoogLeNetImpl::layer_names() const {
  return {"conv1",       "maxpool1", "conv2",       "conv3",       "maxpool2",    "inception3a",
          "inception3b", "maxpool3", "inception4a", "inception4b", "inception4c", "inception4d",
          "inception4e", "maxpool4", "inception5a", "inception5b"};
}

bool GoogLeNetImpl::ignored_key(const std::string& key) const {
  return key.rfind("aux1.", 0) == 0 || key.rfind("aux2.", 0) == 0;
}

std::string GoogLeNetImpl::ignored_keys_reason() const {
  return "GoogLeNet's auxiliary classifiers (aux1., aux2.): in the file, unused at inference (torchvision "
         "drops "
         "them after loading)";
}

void GoogLeNetImpl::fold_stem() {
  for (const auto& m : modules(/*include_self=*/false))
    if (auto c = std::dynamic_pointer_cast<BasicConv2dImpl>(m)) c->fold_batchnorm();
}

}  // namespace bagnet
