#include "networks/densenet.h"

#include <cctype>

namespace bagnet {

DenseLayerImpl::DenseLayerImpl(int64_t in, int64_t growth_rate, int64_t bn_size) {
  norm1 = register_module("norm1", torch::nn::BatchNorm2d(in));
  conv1 = register_module("conv1", make_conv(in, bn_size * growth_rate, 1, 1, 0));
  norm2 = register_module("norm2", torch::nn::BatchNorm2d(bn_size * growth_rate));
  conv2 = register_module("conv2", make_conv(bn_size * growth_rate, growth_rate, 3, 1, 1));
}

torch::Tensor DenseLayerImpl::forward(const torch::Tensor& x) {
  // Not in place: x is the shared concatenation that later layers read too.
  auto y = conv1(torch::relu(norm1(x)));
  return conv2(norm2(y).relu_());
}

DenseNetImpl::DenseNetImpl(const DenseNetConfig& config) : config_(config) {
  // The features holder exists only for the names: "features.conv0", ...
  auto holder = register_module("features", std::make_shared<torch::nn::Module>("DenseNetFeatures"));
  conv0 = holder->register_module("conv0", make_conv(3, config_.num_init_features, 7, 2, 3));
  norm0 = holder->register_module("norm0", torch::nn::BatchNorm2d(config_.num_init_features));
  int64_t ch = config_.num_init_features;
  for (size_t b = 0; b < config_.block_config.size(); ++b) {
    auto block = holder->register_module("denseblock" + std::to_string(b + 1),
                                         std::make_shared<torch::nn::Module>("DenseBlock"));
    std::vector<DenseLayer> layers;
    for (int64_t l = 0; l < config_.block_config[b]; ++l) {
      layers.push_back(block->register_module(
          "denselayer" + std::to_string(l + 1),
          DenseLayer(ch + l * config_.growth_rate, config_.growth_rate, config_.bn_size)));
    }
    blocks_.push_back(layers);
    ch += config_.block_config[b] * config_.growth_rate;
    if (b + 1 != config_.block_config.size()) {
      auto t = holder->register_module("transition" + std::to_string(b + 1),
                                       std::make_shared<torch::nn::Module>("Transition"));
      auto norm = t->register_module("norm", torch::nn::BatchNorm2d(ch));
      auto conv = t->register_module("conv", make_conv(ch, ch / 2, 1, 1, 0));
      transitions_.emplace_back(norm, conv);
      ch /= 2;
    }
  }
  norm5 = holder->register_module("norm5", torch::nn::BatchNorm2d(ch));
  fc = register_module("classifier", torch::nn::Linear(ch, config_.num_classes));
  torch::NoGradGuard ng;
  torch::nn::init::zeros_(fc->bias);  // as torchvision
}

torch::Tensor DenseNetImpl::features(const torch::Tensor& input) {
  auto x = tap("features.conv0", conv0(input));
  x = tap("features.norm0", norm0(x));
  x = tap("features.relu0", torch::relu(x));
  x = tap("features.pool0", torch::max_pool2d(x, 3, 2, 1));
  for (size_t b = 0; b < blocks_.size(); ++b) {
    // torchvision's _DenseBlock: each layer sees the concatenation of the block input and all
    // earlier layers' outputs; the block returns the concatenation of all.
    std::vector<torch::Tensor> parts{x};
    for (auto& layer : blocks_[b]) parts.push_back(layer(parts.size() == 1 ? x : torch::cat(parts, 1)));
    x = tap("features.denseblock" + std::to_string(b + 1), torch::cat(parts, 1));
    if (b < transitions_.size()) {
      auto& [norm, conv] = transitions_[b];
      x = torch::avg_pool2d(conv(torch::relu(norm(x))), 2, 2);
      x = tap("features.transition" + std::to_string(b + 1), x);
    }
  }
  x = tap("features.norm5", norm5(x));
  tap("features", x);
  return torch::relu(x);  // the head's F.relu (not in place: x may be captured)
}

std::vector<std::string> DenseNetImpl::layer_names() const {
  std::vector<std::string> names{"features.conv0", "features.norm0", "features.relu0", "features.pool0"};
  for (size_t b = 0; b < blocks_.size(); ++b) {
    names.push_back("features.denseblock" + std::to_string(b + 1));
    if (b < transitions_.size()) names.push_back("features.transition" + std::to_string(b + 1));
  }
  names.push_back("features.norm5");
  names.push_back("features");
  return names;
}

// torchvision's _load_state_dict: the regex
// ^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$
// maps e.g. "features.denseblock1.denselayer1.norm.1.weight" to "...denselayer1.norm1.weight".
std::string DenseNetImpl::remap_key(const std::string& key) const {
  for (const char* param : {"weight", "bias", "running_mean", "running_var"}) {
    const std::string suffix = std::string(".") + param;
    if (key.size() < suffix.size() + 2 || key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const size_t digit = key.size() - suffix.size() - 1;  // the "1" or "2"
    if ((key[digit] != '1' && key[digit] != '2') || key[digit - 1] != '.') continue;
    const size_t dot = digit - 1;  // ".1": what is dropped
    for (const char* part : {"norm", "relu", "conv"}) {
      const std::string p = part;
      if (dot < p.size() + 1 || key.compare(dot - p.size(), p.size(), p) != 0 ||
          key[dot - p.size() - 1] != '.')
        continue;
      // Before ".norm": "denselayer" followed by at least one digit.
      size_t i = dot - p.size() - 1;
      size_t digits = 0;
      while (i > 0 && std::isdigit(static_cast<unsigned char>(key[i - 1]))) --i, ++digits;
      const std::string layer = "denselayer";
      if (digits == 0 || i < layer.size() || key.compare(i - layer.size(), layer.size(), layer) != 0)
        continue;
      return key.substr(0, dot) + key.substr(digit);
    }
  }
  return key;
}

}  // namespace bagnet
