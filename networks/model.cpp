#include "networks/model.h"

#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <future>
#include <map>
#include <set>

#include "lib/error.h"
#include "lib/sha256.h"
#include "lib/timing.h"
#include "networks/bagnet.h"
#include "networks/densenet.h"
#include "networks/googlenet.h"
#include "networks/resnet.h"
#include "networks/vgg.h"

namespace bagnet {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "," : "") + std::to_string(s[i]);
  return out + "]";
}

std::string join_limited(const std::vector<std::string>& items, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size() - limit) + " more)";
  return out;
}

std::vector<int64_t> json_list(const nlohmann::json& row, const char* key, std::vector<int64_t> fallback) {
  return row.contains(key) ? row.at(key).get<std::vector<int64_t>>() : fallback;
}

const char* batchnorm_text(const LoadedModel& m) {
  bool any = false;
  for (const auto& mod : m.net->modules(false))
    any |= dynamic_cast<torch::nn::BatchNorm2dImpl*>(mod.get()) != nullptr;
  if (!any) return "none in this architecture";
  if (m.batchnorm_folded) return "folded into the convolutions";
  return m.net->supports_folding() ? "separate" : "separate (folding not implemented for this architecture)";
}

// What NetworkImpl::logit_map gives for this network.
const char* logit_map_text(const NetworkImpl& net) {
  if (!net.has_patch_logits())
    return "none: the head is not a mean over positions followed by a linear layer";
  if (dynamic_cast<const BagNetImpl*>(&net)) return "patch logits: each position sees one q x q patch";
  return "per-position logits that average to the logits, but each sees most of the image: no patch logits";
}

// LibTorch's modules fill their weights with random numbers in their constructors (Conv2d and
// Linear: kaiming_uniform_, serial: 0.1-0.2 s for BagNet-33's 25M parameters, a tenth of a
// single-image run), and its C++ API has no way to skip that (Python has
// torch.nn.utils.skip_init, through the meta device). DispatchKey::DeferredInit is LibTorch's
// key for out-of-tree deferred module initialisation (torchdistx): while it is switched on for
// this thread, the random fills do nothing and every other operator falls through to its
// usual kernel. Only for networks whose every parameter is overwritten right after.
at::Tensor& skip_random_fill(at::Tensor& self, double, double, c10::optional<at::Generator>) { return self; }

TORCH_LIBRARY_IMPL(_, DeferredInit, m) { m.fallback(torch::CppFunction::makeFallthrough()); }

TORCH_LIBRARY_IMPL(aten, DeferredInit, m) {
  m.impl("uniform_", TORCH_FN(skip_random_fill));
  m.impl("normal_", TORCH_FN(skip_random_fill));
}

}  // namespace

std::shared_ptr<NetworkImpl> build_network(const ModelSpec& spec, bool random_init) {
  if (!random_init) {
    c10::impl::IncludeDispatchKeyGuard skip(c10::DispatchKey::DeferredInit);
    return build_network(spec, true);
  }
  if (spec.architecture == "bagnet") {
    BagNetConfig c;
    const auto& row = spec.raw;
    if (row.contains("config")) {
      // A custom BagNet (e.g. a small one for 28x28 images): every field optional.
      const auto& cfg = row.at("config");
      c.in_channels = cfg.value("in_channels", c.in_channels);
      c.stem_width = cfg.value("stem_width", c.stem_width);
      c.widths = json_list(cfg, "widths", c.widths);
      c.blocks = json_list(cfg, "blocks", c.blocks);
      c.kernel3 = json_list(cfg, "kernel3", c.kernel3);
      c.strides = json_list(cfg, "strides", c.strides);
      c.expansion = cfg.value("expansion", c.expansion);
    } else {
      c = BagNetConfig::imagenet(spec.patch_size);
    }
    c.num_classes = spec.num_classes;
    try {
      c.validate();
    } catch (const std::invalid_argument& e) {
      throw Error(spec.name, e.what());
    }
    return std::make_shared<BagNetImpl>(c);
  }
  if (spec.architecture == "resnet50")
    return std::make_shared<ResNetImpl>(spec.num_classes, spec.in_channels);
  if (spec.architecture == "resnet152")
    return std::make_shared<ResNetImpl>(spec.num_classes, spec.in_channels,
                                        std::vector<int64_t>{3, 8, 36, 3});
  auto rgb_only = [&] {
    if (spec.in_channels != 3)
      throw Error(spec.name, spec.architecture + " takes 3-channel (RGB) input only");
  };
  if (spec.architecture == "alexnet" || spec.architecture == "vgg16" || spec.architecture == "vgg16_bn") {
    rgb_only();
    PlainCNNConfig c = spec.architecture == "alexnet"
                           ? PlainCNNConfig::alexnet()
                           : PlainCNNConfig::vgg16(spec.architecture == "vgg16_bn");
    c.num_classes = spec.num_classes;
    return std::make_shared<PlainCNNImpl>(c);
  }
  if (spec.architecture == "vgg") {
    // A configurable VGG-like CNN with a global-pool head: "config": {"channels": [32, 32, "M",
    // 64, ...], "batch_norm": true, "in_channels": 1}; "M" (or 0) is a 2x2 max-pool.
    const auto& row = spec.raw;
    if (!row.contains("config") || !row.at("config").contains("channels"))
      throw Error(spec.name, "architecture 'vgg' needs config.channels (e.g. [32, 32, \"M\", 64, 64])");
    const auto& cfg = row.at("config");
    std::vector<int64_t> channels;
    for (const auto& v : cfg.at("channels")) {
      if (v.is_string() && v.get<std::string>() == "M")
        channels.push_back(0);
      else if (v.is_number_integer() && v.get<int64_t>() >= 0 && v.get<int64_t>() <= (1 << 16))
        channels.push_back(v.get<int64_t>());
      else
        throw Error(spec.name, "config.channels: each entry is a channel count or \"M\"");
    }
    if (channels.empty() || channels.front() == 0)
      throw Error(spec.name, "config.channels must start with a convolution");
    PlainCNNConfig c = PlainCNNConfig::vgg_like(channels, cfg.value("batch_norm", true));
    c.in_channels = cfg.value("in_channels", static_cast<int64_t>(spec.in_channels));
    c.num_classes = spec.num_classes;
    return std::make_shared<PlainCNNImpl>(c);
  }
  if (spec.architecture == "googlenet") {
    rgb_only();
    // torchvision sets transform_input for its ImageNet weights (googlenet(weights=...)).
    return std::make_shared<GoogLeNetImpl>(spec.num_classes, spec.raw.value("transform_input", true));
  }
  if (spec.architecture == "densenet169") {
    rgb_only();
    DenseNetConfig c;
    c.num_classes = spec.num_classes;
    return std::make_shared<DenseNetImpl>(c);
  }
  throw Error(spec.name, "unknown architecture '" + spec.architecture + "' in the registry");
}

std::vector<std::string> load_weights(NetworkImpl& net, const StateDict& sd, const std::string& path,
                                      const std::string& model, bool adopt) {
  std::map<std::string, at::Tensor> targets;
  for (auto& p : net.named_parameters(true)) targets[p.key()] = p.value();
  for (auto& b : net.named_buffers(true)) targets[b.key()] = b.value();

  std::vector<std::string> missing, unexpected, mismatched, ignored;
  std::set<std::string> seen;
  std::vector<std::pair<std::string, at::Tensor>> used;  // (network key, tensor)
  for (const auto& [file_key, tensor] : sd.tensors) {
    const std::string key = net.remap_key(file_key);
    if (net.ignored_key(key)) {
      ignored.push_back(file_key);
      continue;
    }
    used.emplace_back(key, tensor);
    auto it = targets.find(key);
    if (it == targets.end()) {
      unexpected.push_back(key);
      continue;
    }
    seen.insert(key);
    if (!tensor.sizes().equals(it->second.sizes()))
      mismatched.push_back(key + " (file " + shape_str(tensor.sizes()) + ", " + model + " " +
                           shape_str(it->second.sizes()) + ")");
  }
  for (const auto& [key, _] : targets) {
    const bool optional = key.size() > 20 && key.compare(key.size() - 20, 20, "num_batches_tracked") == 0;
    if (!seen.count(key) && !optional) missing.push_back(key);
  }
  if (!missing.empty() || !unexpected.empty() || !mismatched.empty()) {
    std::string msg = "checkpoint does not fit " + model + ":";
    if (!missing.empty())
      msg += " " + std::to_string(missing.size()) + " missing keys (" + join_limited(missing) + ");";
    if (!unexpected.empty())
      msg += " " + std::to_string(unexpected.size()) + " unexpected keys (" + join_limited(unexpected) + ");";
    if (!mismatched.empty())
      msg +=
          " " + std::to_string(mismatched.size()) + " shape mismatches (" + join_limited(mismatched) + ");";
    msg.pop_back();
    throw Error(path, msg);
  }
  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : used) {
    auto& target = targets.at(key);
    // Inference adopts the checkpoint's own tensor when it fits as it is (no second 100 MB copy
    // at start-up); training copies, so that no two parameters can share memory.
    if (adopt && tensor.dtype() == target.dtype() && tensor.device() == target.device() &&
        tensor.is_contiguous() && target.is_contiguous())
      target.set_data(tensor);
    else
      target.copy_(tensor.to(target.dtype()));
  }
  return ignored;
}

std::shared_ptr<NetworkImpl> copy_network(const ModelSpec& spec, const NetworkImpl& from) {
  auto net = build_network(spec, /*random_init=*/false);  // every tensor copied below
  torch::NoGradGuard no_grad;
  const auto params = from.named_parameters(true), buffers = from.named_buffers(true);
  for (auto& p : net->named_parameters(true)) p.value().copy_(params[p.key()]);
  for (auto& b : net->named_buffers(true)) b.value().copy_(buffers[b.key()]);
  return net;
}

// "-<8 to 64 lowercase hex digits>." in the file name (the regex -([0-9a-f]{8,64})\.[^/]*$, by
// hand: std::regex backtracks recursively and overflows the stack on long paths).
std::string hash_prefix_in_name(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  const size_t base = slash == std::string::npos ? 0 : slash + 1;
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  for (size_t dash = path.find('-', base); dash != std::string::npos; dash = path.find('-', dash + 1)) {
    size_t end = dash + 1;
    while (end < path.size() && hex(path[end])) ++end;
    const size_t digits = end - dash - 1;
    if (digits >= 8 && digits <= 64 && end < path.size() && path[end] == '.')
      return path.substr(dash + 1, digits);
  }
  return "";
}

void check_hash_prefix(const std::string& path, const std::string& sha256) {
  const std::string prefix = hash_prefix_in_name(path);
  if (!prefix.empty() && sha256.compare(0, prefix.size(), prefix) != 0)
    throw Error(path, "SHA-256 is " + sha256.substr(0, 16) + "..., but the file name says it starts with " +
                          prefix + " (corrupt or incomplete download?)");
}

Preprocessing effective_preprocessing(const ModelSpec& spec, bool no_resize) {
  Preprocessing p = spec.preprocessing;
  if (no_resize) p.resize = p.crop = 0;
  return p;
}

nlohmann::json model_json(const LoadedModel& m, bool no_resize) {
  const Preprocessing p = effective_preprocessing(m.spec, no_resize);
  nlohmann::json j = {
      {"name", m.spec.name},
      {"architecture", m.spec.architecture},
      {"num_classes", m.spec.num_classes},
      {"weights", {{"path", m.weights_path}, {"sha256", m.weights_sha256}, {"format", m.checkpoint_format}}},
      {"batchnorm", batchnorm_text(m)},
      {"logit_map", logit_map_text(*m.net)},
      {"preprocessing",
       {{"resize_shorter", p.resize},
        {"center_crop", p.crop},
        {"interpolation", p.interpolation},
        {"mean", p.mean},
        {"std", p.std},
        {"grayscale", p.grayscale},
        {"no_resize", no_resize}}},
  };
  if (auto* b = dynamic_cast<const BagNetImpl*>(m.net.get())) j["patch_size"] = b->config().receptive_field();
  if (!m.ignored_keys.empty())
    j["ignored_checkpoint_keys"] = {{"count", m.ignored_keys.size()},
                                    {"reason", m.net->ignored_keys_reason()}};
  return j;
}

const Labels& model_labels(const ModelSpec& spec) {
  const Labels& labels = load_labels(spec.labels);
  if (labels.size() != static_cast<size_t>(spec.num_classes))
    throw Error(spec.name, "label set '" + spec.labels + "' has " + std::to_string(labels.size()) +
                               " names for " + std::to_string(spec.num_classes) + " classes");
  return labels;
}

LoadedModel load_model(const ModelSpec& spec, const std::string& weights_path, c10::Device device,
                       bool fold_batchnorm) {
  LoadedModel m;
  m.spec = spec;
  m.device = device;
  m.weights_path = find_weights(spec, weights_path);
  if (m.weights_path.empty()) throw Error(spec.name, missing_weights_message(spec));
  // Hashing (~0.05 s per 100 MB with OpenSSL) runs beside the checkpoint's parsing; a wrong
  // hash prefix is still reported before any parse error, as it explains one.
  PhaseTimer timer;
  auto hash = std::async(std::launch::async, [&] { return sha256_file(m.weights_path); });
  StateDict sd;
  try {
    sd = load_state_dict(m.weights_path);
  } catch (...) {
    check_hash_prefix(m.weights_path, hash.get());
    throw;
  }
  timer.mark("read checkpoint");
  m.weights_sha256 = hash.get();
  timer.mark("SHA-256 (rest of)");
  check_hash_prefix(m.weights_path, m.weights_sha256);
  m.checkpoint_format = sd.format;
  m.net = build_network(spec, /*random_init=*/false);  // load_weights overwrites every parameter
  timer.mark("build network");
  m.ignored_keys = load_weights(*m.net, sd, m.weights_path, spec.name, /*adopt=*/fold_batchnorm);
  timer.mark("copy weights");
  m.net->eval();
  m.net->to(device);
  if (fold_batchnorm) {
    m.net->fold_batchnorm();
    m.batchnorm_folded = m.net->folded();
  }
  m.net->set_channels_last(true);
  timer.mark("fold, channels-last");
  return m;
}

}  // namespace bagnet
