#include "networks/vgg.h"

namespace bagnet {
namespace {

PlainLayer conv(int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return {PlainLayer::Conv, out, kernel, stride, padding};
}
PlainLayer simple(PlainLayer::Kind kind) { return {kind, 0, 0, 1, 0}; }
PlainLayer maxpool(int64_t kernel, int64_t stride) { return {PlainLayer::MaxPool, 0, kernel, stride, 0}; }
PlainLayer linear(int64_t out) { return {PlainLayer::Linear, out, 0, 1, 0}; }

}  // namespace

PlainCNNConfig PlainCNNConfig::alexnet() {
  PlainCNNConfig c;
  const auto relu = simple(PlainLayer::ReLU), drop = simple(PlainLayer::Dropout);
  c.features = {conv(64, 11, 4, 2),
                relu,
                maxpool(3, 2),
                conv(192, 5, 1, 2),
                relu,
                maxpool(3, 2),
                conv(384, 3, 1, 1),
                relu,
                conv(256, 3, 1, 1),
                relu,
                conv(256, 3, 1, 1),
                relu,
                maxpool(3, 2)};
  c.pool = 6;
  c.classifier = {drop, linear(4096), relu, drop, linear(4096), relu, linear(0)};
  return c;
}

PlainCNNConfig PlainCNNConfig::vgg_like(const std::vector<int64_t>& channels, bool batch_norm) {
  PlainCNNConfig c;
  for (int64_t ch : channels) {
    if (ch == 0) {
      c.features.push_back(maxpool(2, 2));
      continue;
    }
    c.features.push_back(conv(ch, 3, 1, 1));
    if (batch_norm) c.features.push_back(simple(PlainLayer::BatchNorm));
    c.features.push_back(simple(PlainLayer::ReLU));
  }
  return c;
}

PlainCNNConfig PlainCNNConfig::vgg16(bool batch_norm) {
  // torchvision's cfgs["D"]
  PlainCNNConfig c =
      vgg_like({64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}, batch_norm);
  const auto relu = simple(PlainLayer::ReLU), drop = simple(PlainLayer::Dropout);
  c.pool = 7;
  c.classifier = {linear(4096), relu, drop, linear(4096), relu, drop, linear(0)};
  return c;
}

PlainCNNImpl::PlainCNNImpl(const PlainCNNConfig& config) : config_(config) {
  // Not a Sequential (BatchNorm2d does not fit its AnyModule in LibTorch 1.13): a holder whose
  // children are named by index as torch.nn.Sequential's, so "features.0.weight" etc. match.
  auto holder = register_module("features", std::make_shared<torch::nn::Module>("Features"));
  int64_t ch = config_.in_channels;
  convs_.resize(config_.features.size(), nullptr);
  norms_.resize(config_.features.size(), nullptr);
  for (size_t i = 0; i < config_.features.size(); ++i) {
    const auto& l = config_.features[i];
    const std::string index = std::to_string(i);
    switch (l.kind) {
      case PlainLayer::Conv:
        convs_[i] = holder->register_module(
            index, torch::nn::Conv2d(
                       torch::nn::Conv2dOptions(ch, l.out, l.kernel).stride(l.stride).padding(l.padding)));
        ch = l.out;
        break;
      case PlainLayer::BatchNorm:
        norms_[i] = holder->register_module(index, torch::nn::BatchNorm2d(ch));
        break;
      case PlainLayer::ReLU:
      case PlainLayer::MaxPool:
        break;  // functional: no parameters, no keys
      default:
        throw std::invalid_argument("PlainCNN: only Conv, BatchNorm, ReLU and MaxPool belong in features");
    }
  }
  if (config_.pool == 0) {
    fc = register_module("fc", torch::nn::Linear(ch, config_.num_classes));
  } else {
    classifier = torch::nn::Sequential();
    int64_t in = ch * config_.pool * config_.pool;
    for (size_t i = 0; i < config_.classifier.size(); ++i) {
      const auto& l = config_.classifier[i];
      if (l.kind == PlainLayer::Linear) {
        const int64_t out = i + 1 == config_.classifier.size() ? config_.num_classes : l.out;
        classifier->push_back(torch::nn::Linear(in, out));
        in = out;
      } else if (l.kind == PlainLayer::ReLU) {
        classifier->push_back(torch::nn::ReLU());
      } else if (l.kind == PlainLayer::Dropout) {
        classifier->push_back(torch::nn::Dropout(0.5));  // torchvision's AlexNet and VGG: p = 0.5
      } else {
        throw std::invalid_argument("PlainCNN: the classifier holds Linear, ReLU and Dropout only");
      }
    }
    register_module("classifier", classifier);
  }
  // torchvision's VGG initialisation (AlexNet keeps PyTorch's defaults there; only training
  // from scratch sees the difference).
  torch::NoGradGuard ng;
  for (auto& m : modules(false)) {
    if (auto* c = dynamic_cast<torch::nn::Conv2dImpl*>(m.get())) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      torch::nn::init::zeros_(c->bias);
    } else if (auto* l = dynamic_cast<torch::nn::LinearImpl*>(m.get())) {
      torch::nn::init::normal_(l->weight, 0, 0.01);
      torch::nn::init::zeros_(l->bias);
    }
  }
}

torch::Tensor PlainCNNImpl::features(const torch::Tensor& input) {
  torch::Tensor x = input;
  const bool cap = capturing();
  for (size_t i = 0; i < config_.features.size(); ++i) {
    switch (config_.features[i].kind) {
      case PlainLayer::Conv:
        x = convs_[i]->forward(x);
        break;
      case PlainLayer::BatchNorm:
        // Folded: the convolution before already applies it (its captured output included).
        if (!folded()) x = norms_[i]->forward(x);
        break;
      case PlainLayer::ReLU:
        // In place unless a captured tensor could be the one overwritten.
        x = cap ? torch::relu(x) : x.relu_();
        break;
      case PlainLayer::MaxPool: {
        const auto& l = config_.features[i];
        x = torch::max_pool2d(x, l.kernel, l.stride);
        break;
      }
      default:
        break;
    }
    if (cap) tap("features." + std::to_string(i), x);
  }
  return tap("features", x);
}

torch::Tensor PlainCNNImpl::head(const torch::Tensor& f) {
  if (config_.pool == 0) return NetworkImpl::head(f);
  auto x = torch::adaptive_avg_pool2d(f, {config_.pool, config_.pool}).flatten(1);
  return classifier->forward(x);
}

std::string PlainCNNImpl::head_layer() const {
  return config_.pool == 0 ? "fc" : "classifier." + std::to_string(config_.classifier.size() - 1);
}

std::vector<std::string> PlainCNNImpl::layer_names() const {
  std::vector<std::string> names;
  for (size_t i = 0; i < config_.features.size(); ++i) names.push_back("features." + std::to_string(i));
  names.push_back("features");
  return names;
}

std::string PlainCNNImpl::default_cam_layer() const {
  // pytorch-grad-cam's README: VGG -> model.features[-1].
  if (!config_.grad_cam_layer.empty()) return config_.grad_cam_layer;
  return "features." + std::to_string(config_.features.size() - 1);
}

void PlainCNNImpl::fold_stem() {
  for (size_t i = 0; i + 1 < config_.features.size(); ++i)
    if (config_.features[i].kind == PlainLayer::Conv && config_.features[i + 1].kind == PlainLayer::BatchNorm)
      fold_conv_bn(*convs_[i], *norms_[i + 1]);
}

}  // namespace bagnet
