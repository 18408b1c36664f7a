#include "inference/classify.h"

#include <torch/torch.h>

#include <algorithm>
#include <thread>

#include "datasets/loader.h"
#include "inference/onednn.h"
#include "inference/torchscript.h"
#include "lib/error.h"
#include "lib/progress.h"
#include "lib/runtime.h"
#include "lib/timing.h"
#include "networks/labels.h"
#include "networks/model.h"

namespace bagnet {

struct Classifier::Impl {
  LoadedModel model;
  const Labels* labels = nullptr;
  std::unique_ptr<TorchScriptForward> torchscript;  // at most one of the two; both null: eager
  std::unique_ptr<OneDnnForward> onednn;

  torch::Tensor forward(const torch::Tensor& x) {
    if (onednn) return onednn->forward(x);
    return torchscript ? torchscript->forward(x) : model.net->forward(x);
  }
};

Classifier::Classifier(const ModelRequest& request) : impl_(std::make_unique<Impl>()) {
  const ModelSpec& spec = find_model(request.model);
  if (request.engine != "auto" && request.engine != "eager" && request.engine != "onednn" &&
      request.engine != "torchscript")
    throw Error("--engine " + request.engine, "must be auto, eager, onednn or torchscript");
  const c10::Device device = resolve_device(request.device);
  impl_->model = load_model(spec, request.weights, device, /*fold_batchnorm=*/true);
  impl_->labels = &model_labels(spec);
  const auto& net = impl_->model.net;
  const Precision precision = parse_precision(request.precision);
  if (request.engine == "onednn" && !OneDnnForward::supports(*net))
    throw Error("--engine onednn", "runs BagNets and ResNets only, not " + net->display_name());
  if (device.is_cpu()) {
    if (request.engine == "onednn" || (request.engine == "auto" && OneDnnForward::supports(*net)))
      impl_->onednn = std::make_unique<OneDnnForward>(net, precision);
    else if (request.engine == "torchscript")
      impl_->torchscript = std::make_unique<TorchScriptForward>(net);
  }
  if (precision != Precision::fp32 && !impl_->onednn)
    throw Error("--precision " + request.precision,
                "runs on the oneDNN engine only (BagNets and ResNets on the CPU, --engine auto or onednn)");
}

Classifier::~Classifier() = default;

std::string Classifier::device() const { return describe_device(impl_->model.device); }

Preprocessing Classifier::preprocessing(bool no_resize) const {
  return effective_preprocessing(impl_->model.spec, no_resize);
}

nlohmann::json Classifier::model_json(bool no_resize) const {
  nlohmann::json j = bagnet::model_json(impl_->model, no_resize);
  j["engine"] = engine();
  j["precision"] = precision();
  return j;
}

std::string Classifier::engine() const {
  return impl_->onednn ? "onednn" : impl_->torchscript ? "torchscript" : "eager";
}

std::string Classifier::precision() const {
  return precision_name(impl_->onednn ? impl_->onednn->precision() : Precision::fp32);
}

int Classifier::num_classes() const { return impl_->model.spec.num_classes; }
int Classifier::in_channels() const { return impl_->model.spec.in_channels; }

std::vector<ImageResult> Classifier::classify(const std::vector<std::string>& files,
                                              const ClassifyOptions& opt,
                                              const std::function<void(const ImageResult&)>& on_result) {
  const Preprocessing prep = preprocessing(opt.no_resize);
  const long long max_pixels = opt.max_pixels;
  return classify(
      files.size(), [&](size_t i) { return load_and_preprocess(files[i], prep, max_pixels); }, opt,
      on_result);
}

std::vector<ImageResult> Classifier::classify(size_t count, const LoadFunction& load,
                                              const ClassifyOptions& opt,
                                              const std::function<void(const ImageResult&)>& on_result) {
  torch::NoGradGuard no_grad;
  auto& m = impl_->model;
  const Labels& labels = *impl_->labels;
  const int topk = std::clamp(opt.topk, 1, m.spec.num_classes);
  const int batch_size = std::max(1, opt.batch_size);
  // On CPU, decoding is cheap next to a forward pass and competes with it for the cores: one
  // decoding thread per four cores (measured on 2 cores, BagNet-33 on 512 JPEGs that need
  // resizing: 66 s with one worker, 72 s with two). A GPU needs every spare core to keep it fed.
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int workers = opt.workers > 0      ? opt.workers
                      : m.device.is_cuda() ? std::max(2, cores - 1)
                                           : std::max(1, cores / 4);
  ImageLoader loader(count, load, workers, static_cast<size_t>(batch_size) * 4);
  Progress progress(opt.progress_label, count, opt.progress && count > 1);
  auto group = [&](size_t index) -> size_t { return opt.batch_group ? opt.batch_group(index) : 0; };

  std::vector<ImageResult> results(count);
  std::vector<LoadedImage> batch;
  auto finish = [&](const ImageResult& r, size_t index) {
    results[index] = r;
    if (on_result) on_result(r);
    progress.advance();
  };
  auto run_batch = [&]() {
    if (batch.empty()) return;
    const int64_t n = static_cast<int64_t>(batch.size());
    const int64_t c = m.spec.in_channels, h = batch[0].height, w = batch[0].width;
    auto input = torch::empty({n, c, h, w}, torch::kFloat32);
    for (int64_t i = 0; i < n; ++i)
      std::copy(batch[i].chw.begin(), batch[i].chw.end(), input[i].data_ptr<float>());
    at::Tensor logits;
    try {
      PhaseTimer timer;
      logits = impl_->forward(input.to(m.device)).to(torch::kCPU);
      timer.mark("forward pass");
    } catch (const std::exception& e) {
      // E.g. an image smaller than the network can take: these images fail, the run goes on.
      std::string why = e.what();
      why = "the network cannot process this input (" + std::to_string(h) + "x" + std::to_string(w) +
            "): " + why.substr(0, why.find('\n'));
      for (auto& item : batch) {
        ImageResult r;
        r.index = item.index;
        r.path = item.path;
        r.error = why;
        finish(r, item.index);
      }
      batch.clear();
      return;
    }
    auto probs = torch::softmax(logits, 1).contiguous();
    const auto [top_p_t, top_i_t] = probs.topk(topk, 1);
    // Read through accessors (all on the CPU here): one .item() per value costs a dispatch each,
    // which adds up when a caller asks for every class (bagnet-experiment: 1,000 classes x 3).
    const auto all_logits = logits.accessor<float, 2>();
    const auto top_p = top_p_t.accessor<float, 2>();
    const auto top_i = top_i_t.accessor<int64_t, 2>();
    for (int64_t i = 0; i < n; ++i) {
      ImageResult r;
      r.index = batch[i].index;
      r.path = batch[i].path;
      if (opt.keep_probabilities) {
        const float* p = probs[i].data_ptr<float>();
        r.probabilities.assign(p, p + probs.size(1));
      }
      r.conversion = batch[i].conversion;
      r.height = static_cast<int>(h);
      r.width = static_cast<int>(w);
      for (int k = 0; k < topk; ++k) {
        Prediction p;
        p.index = static_cast<int>(top_i[i][k]);
        p.probability = top_p[i][k];
        p.logit = all_logits[i][p.index];
        p.name = labels.name(p.index);
        p.wnid = labels.wnid(p.index);
        r.top.push_back(std::move(p));
      }
      finish(r, batch[i].index);
    }
    batch.clear();
  };

  LoadedImage item;
  auto stopping = [&] { return opt.stop && opt.stop(); };
  while (!stopping() && loader.next(item)) {
    if (item.error.empty() &&
        item.chw.size() != static_cast<size_t>(m.spec.in_channels) * item.height * item.width)
      item.error = "preprocessing produced the wrong number of channels for " + m.spec.name;
    if (!item.error.empty()) {
      run_batch();  // keep results in input order
      ImageResult r;
      r.index = item.index;
      r.path = item.path;
      r.error = item.error;
      finish(r, item.index);
      continue;
    }
    // A batch holds images of one size (with --no-resize sizes may differ).
    if (!batch.empty() && (item.height != batch[0].height || item.width != batch[0].width ||
                           group(item.index) != group(batch[0].index)))
      run_batch();
    batch.push_back(std::move(item));
    if (static_cast<int>(batch.size()) == batch_size) run_batch();
  }
  if (!stopping()) run_batch();
  progress.finish();
  return results;
}

}  // namespace bagnet
