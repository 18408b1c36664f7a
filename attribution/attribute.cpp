#include "attribution/attribute.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "attribution/methods.h"
#include "heatmaps/dense.h"
#include "inference/onednn.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "networks/bagnet.h"
#include "networks/model.h"

namespace bagnet::attribution {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names{"saliency",   "input_x_gradient", "integrated_gradients",
                                              "smoothgrad", "grad_cam",         "occlusion"};
  return names;
}

std::string captum_name(const std::string& method) {
  if (method == "saliency") return "Saliency(abs=False)";
  if (method == "input_x_gradient") return "InputXGradient";
  if (method == "integrated_gradients") return "IntegratedGradients";
  if (method == "smoothgrad") return "NoiseTunnel(Saliency(abs=False), nt_type='smoothgrad')";
  if (method == "grad_cam")
    return "LayerGradCam + bilinear upsampling (pytorch-grad-cam's GradCAM, unscaled)";
  if (method == "occlusion") return "Occlusion / window area";
  return "";
}

struct AttributionModel::Impl {
  LoadedModel model;
  const Labels* labels = nullptr;

  torch::Tensor input(const std::vector<float>& chw, int h, int w) const {
    const int64_t c = model.spec.in_channels;
    if (chw.size() != static_cast<size_t>(c) * h * w)
      throw Error(model.spec.name, "image has the wrong number of channels for this model");
    return torch::from_blob(const_cast<float*>(chw.data()), {1, c, h, w}, torch::kFloat32)
        .clone()
        .to(model.device);
  }
  BagNetImpl* bagnet() const { return dynamic_cast<BagNetImpl*>(model.net.get()); }

  // Exact maps (BagNets) on the CPU run a-trous on the oneDNN engine, on a BatchNorm-folded copy
  // of the network (the methods keep differentiating the unfolded one); else eager phases.
  bool exact_on_onednn = false;
  std::shared_ptr<NetworkImpl> folded;
  std::unique_ptr<OneDnnForward> onednn;

  OneDnnForward& engine() {
    if (!onednn) {
      folded = copy_network(model.spec, *model.net);
      folded->eval();
      folded->fold_batchnorm();
      folded->set_channels_last(true);
      onednn = std::make_unique<OneDnnForward>(folded);
    }
    return *onednn;
  }
};

AttributionModel::AttributionModel(const ModelRequest& request) : impl_(std::make_unique<Impl>()) {
  const ModelSpec& spec = find_model(request.model);
  // Not folded: folding is exact in eval mode, but the gradients then flow through different
  // (folded) arithmetic; the unmodified modules are what captum and PyTorch users differentiate.
  impl_->model = load_model(spec, request.weights, resolve_device(request.device), /*fold_batchnorm=*/false);
  impl_->labels = &model_labels(spec);
  for (auto& p : impl_->model.net->parameters()) p.set_requires_grad(false);  // input gradients only
  impl_->exact_on_onednn =
      heatmaps::maps_on_onednn(request.engine, impl_->model.device) && impl_->bagnet() != nullptr;
}

AttributionModel::~AttributionModel() = default;

const Labels& AttributionModel::labels() const { return *impl_->labels; }
int AttributionModel::num_classes() const { return impl_->model.spec.num_classes; }
int AttributionModel::in_channels() const { return impl_->model.spec.in_channels; }
bool AttributionModel::is_bagnet() const { return impl_->bagnet() != nullptr; }
int AttributionModel::patch_size() const {
  return is_bagnet() ? static_cast<int>(impl_->bagnet()->config().receptive_field()) : 0;
}
std::string AttributionModel::device() const { return describe_device(impl_->model.device); }
Preprocessing AttributionModel::preprocessing(bool no_resize) const {
  return effective_preprocessing(impl_->model.spec, no_resize);
}
nlohmann::json AttributionModel::model_json(bool no_resize) const {
  auto j = bagnet::model_json(impl_->model, no_resize);
  j["batchnorm_folded"] = false;
  if (is_bagnet())
    j["exact_maps"] = impl_->exact_on_onednn ? "atrous on the oneDNN engine, BatchNorm folded"
                                             : "phases on the LibTorch modules, BatchNorm not folded";
  return j;
}
std::vector<std::string> AttributionModel::cam_layers() const {
  return attribution::cam_layers(*impl_->model.net);
}
std::string AttributionModel::default_cam_layer() const {
  return attribution::default_cam_layer(*impl_->model.net);
}

void AttributionModel::check(const std::string& method, const MethodOptions& o) const {
  const auto& names = method_names();
  if (std::find(names.begin(), names.end(), method) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("--method " + method, "unknown method; known: " + list);
  }
  if (o.batch < 1) throw Error("--batch " + std::to_string(o.batch), "must be at least 1");
  if (method == "integrated_gradients") {
    if (o.steps < 1) throw Error("--steps " + std::to_string(o.steps), "must be at least 1");
    if (o.baseline != "black" && o.baseline != "mean")
      throw Error("--baseline " + o.baseline, "must be black or mean");
    quadrature(o.ig_rule, 1);
  }
  if (method == "smoothgrad") {
    if (o.samples < 1) throw Error("--samples " + std::to_string(o.samples), "must be at least 1");
    if (!(o.noise_sigma >= 0)) throw Error("--noise-sigma", "must be at least 0");
  }
  if (method == "grad_cam") {
    const auto layers = cam_layers();
    const std::string layer = o.layer.empty() ? default_cam_layer() : o.layer;
    if (std::find(layers.begin(), layers.end(), layer) == layers.end()) {
      std::string list;
      for (const auto& n : layers) list += (list.empty() ? "" : ", ") + n;
      throw Error("--layer " + layer, "unknown layer; valid layers: " + list);
    }
  }
  if (method == "occlusion") {
    if (o.window < 1) throw Error("--window " + std::to_string(o.window), "must be at least 1");
    if (o.stride < 1) throw Error("--stride " + std::to_string(o.stride), "must be at least 1");
    if (o.occlusion_algorithm != "auto" && o.occlusion_algorithm != "full" &&
        o.occlusion_algorithm != "local")
      throw Error("--occlusion-algorithm " + o.occlusion_algorithm, "must be auto, full or local");
    if (o.occlusion_algorithm == "local" && !is_bagnet())
      throw Error("--occlusion-algorithm local", "needs a BagNet (patch logits); use full");
  }
  if (o.channels && (method == "grad_cam" || method == "occlusion"))
    throw Error("--channels", "applies to the gradient methods only (" + method + " gives one map)");
}

nlohmann::json AttributionModel::parameters(const std::string& method, const MethodOptions& o) const {
  nlohmann::json p = {{"channels", o.channels ? "kept (C x H x W)" : "summed (signed)"}};
  if (method == "integrated_gradients") {
    p["steps"] = o.steps;
    p["rule"] = o.ig_rule;
    p["baseline"] = o.baseline;
    p["baseline_definition"] = o.baseline == "black" ? "pixel value 0 in every channel, normalised"
                                                     : "the normalisation mean (0 after normalisation)";
    p["completeness_tolerance"] = o.completeness_tolerance;
    p["internal_batch"] = o.batch;
  } else if (method == "smoothgrad") {
    p["samples"] = o.samples;
    p["noise_sigma"] = o.noise_sigma;
    p["noise_sigma_definition"] = "fraction of the normalised input's range (max - min)";
    p["seed"] = o.seed;
  } else if (method == "grad_cam") {
    p["layer"] = o.layer.empty() ? default_cam_layer() : o.layer;
    p["upsampling"] = "bilinear, half-pixel centres (align_corners=False)";
  } else if (method == "occlusion") {
    p["window"] = o.window;
    p["stride"] = o.stride;
    p["occluder"] = "mean colour (0 after normalisation), all channels";
    p["algorithm"] =
        o.occlusion_algorithm == "auto" ? (is_bagnet() ? "local" : "full") : o.occlusion_algorithm;
    p["convention"] = "pixel = mean over the windows covering it of (f(x) - f(x occluded)) / window area";
  }
  return p;
}

std::vector<float> AttributionModel::classify(const std::vector<float>& chw, int h, int w) {
  torch::NoGradGuard no_grad;
  auto logits = impl_->model.net->forward(impl_->input(chw, h, w)).to(torch::kCPU).contiguous();
  return std::vector<float>(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
}

AttributionMap AttributionModel::attribute(const std::vector<float>& chw, int h, int w, int target,
                                           const std::string& method, const MethodOptions& o) {
  check(method, o);
  if (target < 0 || target >= num_classes())
    throw Error("class " + std::to_string(target),
                "outside the model's " + std::to_string(num_classes()) + " classes");
  auto& net = *impl_->model.net;
  const auto x = impl_->input(chw, h, w);
  AttributionMap out;
  torch::Tensor a;  // [1, C or 1, H, W]
  if (method == "saliency") {
    a = saliency(net, x, target);
  } else if (method == "input_x_gradient") {
    a = input_x_gradient(net, x, target);
  } else if (method == "integrated_gradients") {
    torch::Tensor baseline = torch::zeros_like(x);
    if (o.baseline == "black") {
      const Preprocessing p = impl_->model.spec.preprocessing;
      for (int64_t c = 0; c < x.size(1); ++c) baseline[0][c].fill_(-p.mean[c] / p.std[c]);
    }
    const auto r = integrated_gradients(net, x, baseline, target, o.steps, o.ig_rule, o.batch);
    a = r.attributions;
    const double expected = r.logit - r.baseline_logit;
    out.details["completeness"] = {
        {"sum_of_attributions", r.sum},
        {"logit", r.logit},
        {"baseline_logit", r.baseline_logit},
        {"delta", r.delta()},
        {"tolerance", o.completeness_tolerance * std::max(1.0, std::abs(expected))},
        {"holds", std::abs(r.delta()) <= o.completeness_tolerance * std::max(1.0, std::abs(expected))},
    };
  } else if (method == "smoothgrad") {
    const double range = (x.max() - x.min()).item<double>();
    const double sigma = o.noise_sigma * range;
    a = smoothgrad(net, x, target, o.samples, sigma, o.seed, o.batch);
    out.details["noise_std"] = sigma;
  } else if (method == "grad_cam") {
    const std::string layer = o.layer.empty() ? default_cam_layer() : o.layer;
    a = grad_cam(net, x, target, layer);
    out.details["layer"] = layer;
  } else {
    OcclusionOptions oo;
    oo.window = o.window;
    oo.stride = o.stride;
    oo.algorithm = o.occlusion_algorithm;
    a = occlusion(net, x, target, oo);
  }
  if (!o.channels) a = a.sum(1, true);
  a = a[0].to(torch::kCPU).to(torch::kFloat).contiguous();
  out.channels = static_cast<int>(a.size(0));
  out.rows = static_cast<int>(a.size(1));
  out.cols = static_cast<int>(a.size(2));
  out.data.assign(a.data_ptr<float>(), a.data_ptr<float>() + a.numel());
  return out;
}

std::vector<float> AttributionModel::exact_map(const std::vector<float>& chw, int h, int w, int target) {
  auto* b = impl_->bagnet();
  if (!b) throw Error(impl_->model.spec.name, "exact evidence maps need a BagNet");
  torch::NoGradGuard no_grad;
  heatmaps::DenseOptions d;
  d.stride = 1;
  if (impl_->exact_on_onednn) {
    d.algorithm = "atrous";
    d.engine = &impl_->engine();
    b = dynamic_cast<BagNetImpl*>(impl_->folded.get());
  }
  const auto m =
      heatmaps::dense_logit_maps(*b, impl_->input(chw, h, w), d, torch::tensor({int64_t{target}}))[0][0]
          .to(torch::kCPU)
          .contiguous();
  return std::vector<float>(m.data_ptr<float>(), m.data_ptr<float>() + m.numel());
}

std::vector<float> AttributionModel::masked_logits(const std::vector<float>& chw, int h, int w, int target,
                                                   const std::vector<std::vector<std::uint8_t>>& masks) {
  auto m = torch::empty({static_cast<int64_t>(masks.size()), 1, h, w}, torch::kFloat);
  for (size_t k = 0; k < masks.size(); ++k) {
    if (masks[k].size() != static_cast<size_t>(h) * w) throw std::logic_error("masked_logits: mask size");
    m[k][0].copy_(torch::from_blob(const_cast<std::uint8_t*>(masks[k].data()), {h, w}, torch::kUInt8)
                      .to(torch::kFloat));
  }
  const auto y = attribution::masked_logits(*impl_->model.net, impl_->input(chw, h, w), m, target)
                     .to(torch::kCPU)
                     .contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

nlohmann::json AttributionModel::benchmark(int size, int iters, const std::vector<std::string>& methods,
                                           const MethodOptions& o) {
  torch::manual_seed(0);
  const int c = in_channels();
  const auto x = torch::randn({c, size, size});
  const std::vector<float> chw(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  // One warm-up (a saliency map: forward and backward, allocator and thread pool primed), then
  // each method `iters` times, median.
  attribute(chw, size, size, 0, "saliency", MethodOptions{});
  auto time_s = [&](const std::function<void()>& f) {
    std::vector<double> s;
    for (int i = 0; i < std::max(1, iters); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      const auto t1 = std::chrono::steady_clock::now();
      s.push_back(std::chrono::duration<double>(t1 - t0).count());
    }
    std::sort(s.begin(), s.end());
    return s[s.size() / 2];
  };
  std::vector<std::string> todo = methods.empty() ? method_names() : methods;
  nlohmann::json times;
  for (const auto& m : todo) {
    if (m == "occlusion" && is_bagnet() && o.occlusion_algorithm == "auto") {
      for (const std::string alg : {"full", "local"}) {
        MethodOptions oo = o;
        oo.occlusion_algorithm = alg;
        times["occlusion_" + alg] = time_s([&] { attribute(chw, size, size, 0, m, oo); });
      }
      continue;
    }
    times[m] = time_s([&] { attribute(chw, size, size, 0, m, o); });
  }
  return {{"model", impl_->model.spec.name},
          {"size", size},
          {"device", device()},
          {"threads", runtime_threads()},
          {"iters", iters},
          {"seconds", times},
          {"options",
           {{"steps", o.steps},
            {"ig_rule", o.ig_rule},
            {"samples", o.samples},
            {"window", o.window},
            {"stride", o.stride},
            {"batch", o.batch}}}};
}

}  // namespace bagnet::attribution
