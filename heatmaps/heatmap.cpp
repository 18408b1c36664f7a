#include "heatmaps/heatmap.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <functional>

#include "heatmaps/dense.h"
#include "heatmaps/patches.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "networks/bagnet.h"
#include "networks/model.h"

namespace bagnet::heatmaps {

struct HeatmapModel::Impl {
  LoadedModel model;
  BagNetImpl* net = nullptr;
  const Labels* labels = nullptr;
  std::unique_ptr<OneDnnForward> onednn;  // null: eager

  // [N, C, h, w] on the model's device from N normalised CHW images of one size.
  torch::Tensor input(const std::vector<const std::vector<float>*>& chws, int h, int w) const {
    const int64_t c = model.spec.in_channels, n = static_cast<int64_t>(chws.size());
    const size_t numel = static_cast<size_t>(c) * h * w;
    for (const auto* chw : chws)
      if (chw->size() != numel)
        throw Error(model.spec.name, "image has the wrong number of channels for this model");
    if (n == 1)
      return torch::from_blob(const_cast<float*>(chws[0]->data()), {1, c, h, w}, torch::kFloat32)
          .to(model.device);
    auto x = torch::empty({n, c, h, w}, torch::kFloat32);
    for (int64_t i = 0; i < n; ++i) std::copy(chws[i]->begin(), chws[i]->end(), x[i].data_ptr<float>());
    return x.to(model.device);
  }
};

HeatmapModel::HeatmapModel(const ModelRequest& request) : impl_(std::make_unique<Impl>()) {
  const ModelSpec& spec = find_model(request.model);
  if (spec.architecture != "bagnet")
    throw Error(spec.name,
                "bagnet-heatmap needs a BagNet (exact patch logits); this is a " + spec.architecture +
                    ": use bagnet-attribute (Grad-CAM and other attribution maps) for other networks");
  impl_->model = load_model(spec, request.weights, resolve_device(request.device), /*fold_batchnorm=*/true);
  impl_->net = dynamic_cast<BagNetImpl*>(impl_->model.net.get());
  impl_->labels = &model_labels(spec);
  const Precision precision = parse_precision(request.precision);
  if (maps_on_onednn(request.engine, impl_->model.device))
    impl_->onednn = std::make_unique<OneDnnForward>(impl_->model.net, precision);
  else if (precision != Precision::fp32)
    throw Error("--precision " + request.precision,
                "runs on the oneDNN engine only (the CPU, --engine auto or onednn)");
}

std::string HeatmapModel::engine() const { return impl_->onednn ? "onednn" : "eager"; }

std::string HeatmapModel::precision() const {
  return precision_name(impl_->onednn ? impl_->onednn->precision() : Precision::fp32);
}

std::string HeatmapModel::dense_algorithm(const MapOptions& o) const {
  if (o.dense_algorithm != "auto") return o.dense_algorithm;
  return impl_->onednn ? "atrous" : "phases";
}

HeatmapModel::~HeatmapModel() = default;

const Labels& HeatmapModel::labels() const { return *impl_->labels; }
int HeatmapModel::patch_size() const { return static_cast<int>(impl_->net->config().receptive_field()); }
int HeatmapModel::num_classes() const { return impl_->model.spec.num_classes; }
int HeatmapModel::in_channels() const { return impl_->model.spec.in_channels; }
std::string HeatmapModel::device() const { return describe_device(impl_->model.device); }

Preprocessing HeatmapModel::preprocessing(bool no_resize) const {
  return effective_preprocessing(impl_->model.spec, no_resize);
}

nlohmann::json HeatmapModel::model_json(bool no_resize) const {
  auto j = bagnet::model_json(impl_->model, no_resize);
  j["engine"] = engine();
  j["precision"] = precision();
  return j;
}

void HeatmapModel::check(const MapOptions& o) const {
  check_stride(*impl_->net, o.stride);
  if (o.method != "dense" && o.method != "patches")
    throw Error("--method " + o.method, "must be dense or patches");
  if (o.dense_algorithm != "auto" && o.dense_algorithm != "phases" && o.dense_algorithm != "atrous")
    throw Error("--dense-algorithm " + o.dense_algorithm, "must be auto, phases or atrous");
}

std::vector<float> HeatmapModel::classify(const std::vector<float>& chw, int h, int w) {
  return classify(std::vector<const std::vector<float>*>{&chw}, h, w)[0];
}

std::vector<std::vector<float>> HeatmapModel::classify(const std::vector<const std::vector<float>*>& chws,
                                                       int h, int w) {
  torch::NoGradGuard no_grad;
  const int q = patch_size();
  if (h < q || w < q)
    throw Error(std::to_string(h) + "x" + std::to_string(w), "image smaller than the " + std::to_string(q) +
                                                                 "x" + std::to_string(q) +
                                                                 " patch: the network cannot classify it");
  const auto x = impl_->input(chws, h, w);
  const auto logits =
      (impl_->onednn ? impl_->onednn->forward(x) : impl_->model.net->forward(x)).to(torch::kCPU).contiguous();
  std::vector<std::vector<float>> out;
  const int64_t k = logits.size(1);
  for (int64_t i = 0; i < logits.size(0); ++i)
    out.emplace_back(logits.data_ptr<float>() + i * k, logits.data_ptr<float>() + (i + 1) * k);
  return out;
}

ClassMaps HeatmapModel::maps(const std::vector<float>& chw, int h, int w, const std::vector<int>& classes,
                             const MapOptions& o) {
  return std::move(maps(std::vector<const std::vector<float>*>{&chw}, h, w, {classes}, o)[0]);
}

std::vector<ClassMaps> HeatmapModel::maps(const std::vector<const std::vector<float>*>& chws, int h, int w,
                                          const std::vector<std::vector<int>>& classes, const MapOptions& o) {
  check(o);
  if (classes.size() != chws.size()) throw Error("maps", "one class list per image is needed");
  torch::NoGradGuard no_grad;
  const auto x = impl_->input(chws, h, w);
  // The union of the images' classes, in first-seen order (one image: its own order); empty
  // when any image wants all classes.
  std::vector<int> all_classes;
  bool every = false;
  for (const auto& cs : classes) {
    every = every || cs.empty();
    for (int c : cs)
      if (std::find(all_classes.begin(), all_classes.end(), c) == all_classes.end()) all_classes.push_back(c);
  }
  if (every) all_classes.clear();
  torch::Tensor idx;
  if (!all_classes.empty())
    idx = torch::tensor(std::vector<int64_t>(all_classes.begin(), all_classes.end()), torch::kLong);
  torch::Tensor m;
  if (o.method == "patches") {
    m = patch_logit_maps(*impl_->net, x, o.stride, idx, o.patch_batch);
  } else {
    DenseOptions d;
    d.stride = o.stride;
    d.tile = o.tile;
    d.algorithm = dense_algorithm(o);
    if (d.algorithm == "atrous") d.engine = impl_->onednn.get();
    m = dense_logit_maps(*impl_->net, x, d, idx);
  }
  m = m.to(torch::kCPU).contiguous();
  const int rows = static_cast<int>(m.size(2)), cols = static_cast<int>(m.size(3));
  const size_t plane = static_cast<size_t>(rows) * cols;
  // Row of class c in m.
  auto row_of = [&](int c) {
    return every
               ? c
               : static_cast<int>(std::find(all_classes.begin(), all_classes.end(), c) - all_classes.begin());
  };
  std::vector<ClassMaps> out(chws.size());
  for (size_t i = 0; i < chws.size(); ++i) {
    ClassMaps& r = out[i];
    r.rows = rows;
    r.cols = cols;
    if (classes[i].empty()) {
      for (int c = 0; c < num_classes(); ++c) r.classes.push_back(c);
    } else {
      r.classes = classes[i];
    }
    r.data.resize(r.classes.size() * plane);
    const float* base = m.data_ptr<float>() + static_cast<int64_t>(i) * m.size(1) * plane;
    for (size_t j = 0; j < r.classes.size(); ++j) {
      const float* src = base + static_cast<size_t>(row_of(r.classes[j])) * plane;
      std::copy(src, src + plane, r.data.begin() + j * plane);
    }
  }
  return out;
}

nlohmann::json HeatmapModel::benchmark(int size, int iters, int patch_rows, int tile) {
  torch::NoGradGuard no_grad;
  auto& net = *impl_->net;
  const auto dev = impl_->model.device;
  torch::manual_seed(0);
  const auto x = torch::randn({1, in_channels(), size, size}).to(dev);
  auto time_ms = [&](const std::function<torch::Tensor()>& f) {
    std::vector<double> ms;
    for (int i = 0; i < 1 + iters; ++i) {  // one warm-up
      const auto t0 = std::chrono::steady_clock::now();
      auto y = f();
      if (dev.is_cuda()) y = y.cpu();
      const auto t1 = std::chrono::steady_clock::now();
      if (i > 0) ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
  };
  const auto one = torch::tensor({0}, torch::kLong);
  DenseOptions d8, d1;
  d8.stride = 8;
  d8.tile = tile;
  d1.stride = 1;
  d1.tile = tile;
  const double classify_ms = time_ms([&] { return net.forward(x); });
  const double map8_ms = time_ms([&] { return dense_logit_maps(net, x, d8, one); });
  const double map8_all_ms = time_ms([&] { return dense_logit_maps(net, x, d8); });
  const double dense1_ms = time_ms([&] { return dense_logit_maps(net, x, d1, one); });
  DenseOptions a1 = d1;
  a1.algorithm = "atrous";
  const double atrous1_ms = time_ms([&] { return dense_logit_maps(net, x, a1, one); });
  const double atrous1_10_ms = time_ms([&] { return dense_logit_maps(net, x, a1, torch::arange(10)); });
  // The same a-trous maps and the pooled logits on the oneDNN engine (when the model has one).
  double onednn_classify_ms = 0, onednn_atrous1_ms = 0, onednn_atrous1_10_ms = 0;
  if (impl_->onednn) {
    DenseOptions o1 = a1;
    o1.engine = impl_->onednn.get();
    onednn_classify_ms = time_ms([&] { return impl_->onednn->forward(x); });
    onednn_atrous1_ms = time_ms([&] { return dense_logit_maps(net, x, o1, one); });
    onednn_atrous1_10_ms = time_ms([&] { return dense_logit_maps(net, x, o1, torch::arange(10)); });
  }
  const double dense1_10_ms = time_ms([&] { return dense_logit_maps(net, x, d1, torch::arange(10)); });
  // The per-patch method costs the same per patch everywhere: time `rows` rows of positions.
  const int rows = std::clamp(patch_rows, 1, size);
  const auto strip = x.slice(2, 0, rows);
  const double patches_strip_ms = time_ms([&] { return patch_logit_maps(net, strip, 1, one, 256); });
  const double patches1_ms = patches_strip_ms * size / rows;
  const int64_t q = net.config().receptive_field();
  const double macs_classify = forward_macs(net, 1, size, size);
  const double macs_dense1 = dense_macs(net, 1, size, size, d1, 1);
  const double macs_map8 = dense_macs(net, 1, size, size, d8, 1);
  const double macs_atrous1 = atrous_macs(net, 1, size, size, 1, 1);
  const double macs_patches1 = static_cast<double>(size) * size * forward_macs(net, 1, q, q);
  // The practical ceiling: a large float32 matrix product on the same device and threads.
  const int64_t n = 2048;
  const auto a = torch::randn({n, n}).to(dev), b = torch::randn({n, n}).to(dev);
  const double mm_ms = time_ms([&] { return torch::mm(a, b); });
  auto gmacs = [](double macs, double ms) { return macs / ms / 1e6; };
  return {
      {"model", impl_->model.spec.name},
      {"size", size},
      {"device", device()},
      {"threads", runtime_threads()},
      {"iters", iters},
      {"classify_ms", classify_ms},
      {"map8_ms", map8_ms},
      {"map8_all_classes_ms", map8_all_ms},
      {"dense1_ms", dense1_ms},
      {"dense1_10_classes_ms", dense1_10_ms},
      {"atrous1_ms", atrous1_ms},
      {"atrous1_10_classes_ms", atrous1_10_ms},
      {"engine", engine()},
      {"onednn_classify_ms", impl_->onednn ? nlohmann::json(onednn_classify_ms) : nlohmann::json()},
      {"onednn_atrous1_ms", impl_->onednn ? nlohmann::json(onednn_atrous1_ms) : nlohmann::json()},
      {"onednn_atrous1_10_classes_ms",
       impl_->onednn ? nlohmann::json(onednn_atrous1_10_ms) : nlohmann::json()},
      {"patches1_ms", patches1_ms},
      {"patches1_extrapolated_from_rows", rows},
      {"macs",
       {{"classify", macs_classify},
        {"map8", macs_map8},
        {"dense1", macs_dense1},
        {"atrous1", macs_atrous1},
        {"patches1", macs_patches1}}},
      {"gmac_per_s",
       {{"classify", gmacs(macs_classify, classify_ms)},
        {"map8", gmacs(macs_map8, map8_ms)},
        {"dense1", gmacs(macs_dense1, dense1_ms)},
        {"atrous1", gmacs(macs_atrous1, atrous1_ms)},
        {"onednn_classify", impl_->onednn ? gmacs(macs_classify, onednn_classify_ms) : 0.0},
        {"onednn_atrous1", impl_->onednn ? gmacs(macs_atrous1, onednn_atrous1_ms) : 0.0},
        {"patches1", gmacs(macs_patches1, patches1_ms)},
        {"matmul_2048", gmacs(static_cast<double>(n) * n * n, mm_ms)}}},
  };
}

}  // namespace bagnet::heatmaps
