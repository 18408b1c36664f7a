#include "training/training.h"

#include <torch/torch.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>
#include <thread>

#include "datasets/folder.h"
#include "datasets/idx.h"
#include "datasets/loader.h"
#include "lib/checkpoint.h"
#include "lib/error.h"
#include "lib/files.h"
#include "lib/interrupt.h"
#include "lib/progress.h"
#include "lib/provenance.h"
#include "lib/run_lock.h"
#include "lib/runtime.h"
#include "lib/sha256.h"
#include "networks/bagnet.h"
#include "networks/model.h"

namespace fs = std::filesystem;

namespace bagnet {
namespace {

// A labelled set of images that fills normalised CHW float batches.
class Source {
 public:
  virtual ~Source() = default;
  virtual void fill(const std::vector<int64_t>& indices, float* out) const = 0;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  // [n, C, H, W] normalised images and [n] labels for these indices.
  torch::Tensor images(const std::vector<int64_t>& indices) const {
    auto x = torch::empty({static_cast<int64_t>(indices.size()), channels, height, width});
    fill(indices, x.data_ptr<float>());
    return x;
  }
  torch::Tensor label_tensor(const std::vector<int64_t>& indices) const {
    auto y = torch::empty({static_cast<int64_t>(indices.size())}, torch::kInt64);
    int64_t* p = y.data_ptr<int64_t>();
    for (size_t i = 0; i < indices.size(); ++i) p[i] = labels[indices[i]];
    return y;
  }
  int64_t channels = 1, height = 0, width = 0;
  int64_t num_classes = 0;
  std::vector<int64_t> labels;
  std::vector<float> mean, std;
};

// MNIST-style idx data, kept in memory as bytes; ToTensor + Normalize on the fly.
class IdxSource : public Source {
 public:
  IdxSource(IdxDataset d, int limit, const std::string& where) : data_(std::move(d)) {
    // The class count comes from the largest label: an empty file has none to take.
    if (data_.labels.empty()) throw Error(where, "the idx files hold no images");
    const int64_t n = limit > 0 ? std::min<int64_t>(limit, data_.count) : data_.count;
    labels.assign(data_.labels.begin(), data_.labels.begin() + n);
    height = data_.height;
    width = data_.width;
    channels = 1;
    num_classes = 1 + *std::max_element(data_.labels.begin(), data_.labels.end());
  }
  void fill(const std::vector<int64_t>& indices, float* out) const override {
    const int64_t plane = height * width;
    for (size_t k = 0; k < indices.size(); ++k) {
      const uint8_t* src = &data_.images[indices[k] * plane];
      float* dst = out + k * plane;
      for (int64_t i = 0; i < plane; ++i) dst[i] = (static_cast<float>(src[i]) / 255.0f - mean[0]) / std[0];
    }
  }
  // Mean and std of the first images' pixels in [0, 1], the usual way to set Normalize.
  std::pair<float, float> pixel_stats(int64_t n) const {
    n = std::min<int64_t>(n, data_.count) * height * width;
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double v = data_.images[i] / 255.0;
      s += v;
      s2 += v * v;
    }
    const double m = s / n;
    return {static_cast<float>(m), static_cast<float>(std::sqrt(s2 / n - m * m))};
  }

 private:
  IdxDataset data_;
};

// Image folders, decoded and preprocessed per batch (resize + centre crop to image_size).
class FolderSource : public Source {
 public:
  FolderSource(const std::string& root, int image_size, int limit) : data_(read_image_folder(root)) {
    if (image_size <= 0) throw Error(root, "image folders need --image-size");
    int64_t n = static_cast<int64_t>(data_.paths.size());
    if (limit > 0) n = std::min<int64_t>(n, limit);
    labels.assign(data_.labels.begin(), data_.labels.begin() + n);
    height = width = image_size;
    channels = 3;
    num_classes = static_cast<int64_t>(data_.classes.size());
    prep_.resize = image_size;
    prep_.crop = image_size;
  }
  void set_normalisation(const std::vector<float>& m, const std::vector<float>& s) {
    mean = m;
    std = s;
    for (int c = 0; c < 3; ++c) {
      prep_.mean[c] = m[std::min<size_t>(c, m.size() - 1)];
      prep_.std[c] = s[std::min<size_t>(c, s.size() - 1)];
    }
  }
  void fill(const std::vector<int64_t>& indices, float* out) const override {
    const int64_t item = channels * height * width;
    const int workers = 2;
    std::vector<std::string> errors(indices.size());
    auto work = [&](int w) {
      for (size_t k = w; k < indices.size(); k += workers) {
        LoadedImage img = load_and_preprocess(data_.paths[indices[k]], prep_, kDefaultMaxPixels);
        if (!img.error.empty() || static_cast<int64_t>(img.chw.size()) != item) {
          errors[k] = img.error.empty() ? "unexpected size after preprocessing" : img.error;
          continue;
        }
        std::copy(img.chw.begin(), img.chw.end(), out + k * item);
      }
    };
    std::thread t(work, 1);
    work(0);
    t.join();
    for (size_t k = 0; k < indices.size(); ++k)
      if (!errors[k].empty()) throw Error(data_.paths[indices[k]], errors[k]);
  }
  const FolderDataset& dataset() const { return data_; }

 private:
  FolderDataset data_;
  Preprocessing prep_;
};

struct Data {
  std::unique_ptr<Source> train, val;
  std::string kind;  // "idx" or "folders"
  std::vector<std::string> class_names;
};

bool is_idx_dir(const std::string& dir) {
  for (const char* f : {"/train-images-idx3-ubyte.gz", "/train-images-idx3-ubyte"})
    if (fs::exists(dir + f)) return true;
  return false;
}

Data open_data(const TrainConfig& c, std::vector<float>& mean, std::vector<float>& stdv) {
  Data d;
  if (c.data.empty()) throw Error("--data", "no training data given");
  if (is_idx_dir(c.data)) {
    d.kind = "idx";
    auto train =
        std::make_unique<IdxSource>(read_mnist_dir(c.data, "train"), c.limit_train, c.data + " (train)");
    auto val = std::make_unique<IdxSource>(read_mnist_dir(c.data, "test"), c.limit_val, c.data + " (test)");
    if (mean.empty()) {
      auto [m, s] = train->pixel_stats(10000);
      mean = {m};
      stdv = {s};
    }
    train->mean = val->mean = mean;
    train->std = val->std = stdv;
    for (int64_t k = 0; k < train->num_classes; ++k) d.class_names.push_back(std::to_string(k));
    d.train = std::move(train);
    d.val = std::move(val);
  } else {
    d.kind = "folders";
    if (mean.empty()) {
      mean = {0.485f, 0.456f, 0.406f};  // ImageNet's, the usual choice for natural images
      stdv = {0.229f, 0.224f, 0.225f};
    }
    auto train = std::make_unique<FolderSource>(c.data, c.image_size, c.limit_train);
    train->set_normalisation(mean, stdv);
    d.class_names = train->dataset().classes;
    if (!c.val_data.empty()) {
      auto val = std::make_unique<FolderSource>(c.val_data, c.image_size, c.limit_val);
      val->set_normalisation(mean, stdv);
      if (val->dataset().classes != d.class_names)
        throw Error(c.val_data, "class folders differ from those of " + c.data);
      d.val = std::move(val);
    }
    d.train = std::move(train);
  }
  return d;
}

std::shared_ptr<NetworkImpl> make_network(const TrainConfig& c, int64_t in_channels, int64_t num_classes) {
  if (c.model == "bagnet") {
    BagNetConfig b = c.bagnet;
    b.in_channels = in_channels;
    b.num_classes = num_classes;
    try {
      b.validate();
    } catch (const std::invalid_argument& e) {
      throw Error("--model bagnet", e.what());
    }
    return std::make_shared<BagNetImpl>(b);
  }
  ModelSpec spec = find_model(c.model);
  spec.in_channels = static_cast<int>(in_channels);
  spec.num_classes = static_cast<int>(num_classes);
  if (spec.raw.contains("config")) spec.raw["config"]["in_channels"] = in_channels;
  return build_network(spec);
}

// Random crop with zero padding (in pixel space, i.e. -mean/std after normalisation) and
// horizontal flip, as torchvision's RandomCrop(size, padding) and RandomHorizontalFlip.
void augment(float* img, int64_t c, int64_t h, int64_t w, int pad, bool flip,
             const std::vector<float>& pad_value, std::mt19937_64& rng, std::vector<float>& scratch) {
  const bool do_flip = flip && std::uniform_int_distribution<int>(0, 1)(rng) == 1;
  int dy = 0, dx = 0;
  if (pad > 0) {
    dy = std::uniform_int_distribution<int>(0, 2 * pad)(rng) - pad;
    dx = std::uniform_int_distribution<int>(0, 2 * pad)(rng) - pad;
  }
  if (!do_flip && dy == 0 && dx == 0) return;
  scratch.assign(img, img + c * h * w);
  for (int64_t ch = 0; ch < c; ++ch) {
    const float* src = scratch.data() + ch * h * w;
    float* dst = img + ch * h * w;
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sy = y + dy, sx0 = x + dx;
        const int64_t sx = do_flip ? (w - 1 - sx0) : sx0;
        dst[y * w + x] = (sy >= 0 && sy < h && sx >= 0 && sx < w) ? src[sy * w + sx] : pad_value[ch];
      }
    }
  }
}

double learning_rate(const TrainConfig& c, int epoch, int64_t step, int64_t steps_per_epoch) {
  const double t = epoch + static_cast<double>(step) / std::max<int64_t>(steps_per_epoch, 1);
  if (c.warmup_epochs > 0 && t < c.warmup_epochs) return c.lr * (t + 1.0 / steps_per_epoch) / c.warmup_epochs;
  if (c.schedule == "cosine") {
    const double span = std::max(1, c.epochs - c.warmup_epochs);
    return 0.5 * c.lr * (1.0 + std::cos(M_PI * (t - c.warmup_epochs) / span));
  }
  if (c.schedule == "step") return c.lr * std::pow(c.step_gamma, epoch / std::max(1, c.step_size));
  return c.lr;
}

struct Metrics {
  double loss = 0;
  int64_t correct = 0, count = 0;
  std::vector<int> per_class_count, per_class_correct;
};

Metrics evaluate(NetworkImpl& net, const Source& src, c10::Device device, int64_t batch_size) {
  torch::NoGradGuard ng;
  net.eval();
  Metrics m;
  m.per_class_count.assign(src.num_classes, 0);
  m.per_class_correct.assign(src.num_classes, 0);
  for (int64_t start = 0; start < src.size(); start += batch_size) {
    const int64_t n = std::min(batch_size, src.size() - start);
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), start);
    auto y = src.label_tensor(idx);
    auto logits = net.forward(src.images(idx).to(device)).to(torch::kCPU);
    m.loss += torch::cross_entropy_loss(logits, y, {}, at::Reduction::Sum).item<double>();
    const auto pred = logits.argmax(1);
    const auto pa = pred.accessor<int64_t, 1>();
    for (int64_t i = 0; i < n; ++i) {
      const int64_t label = src.labels[idx[i]];
      const bool ok = pa[i] == label;
      m.correct += ok;
      if (label >= 0 && label < src.num_classes) {
        m.per_class_count[label]++;
        m.per_class_correct[label] += ok;
      }
    }
    m.count += n;
  }
  return m;
}

// Recomputes every BatchNorm's running mean and variance as the average over `count` images
// (cumulative averaging: momentum None, PyTorch's convention), then restores the momenta.
void recompute_batchnorm(NetworkImpl& net, const Source& src, int64_t count, c10::Device device,
                         int64_t batch_size) {
  torch::NoGradGuard ng;
  std::vector<std::pair<torch::nn::BatchNorm2dImpl*, c10::optional<double>>> bns;
  for (const auto& m : net.modules(/*include_self=*/false))
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
      bns.emplace_back(bn, bn->options.momentum());
      bn->options.momentum(c10::nullopt);
      bn->reset_running_stats();
    }
  net.train();
  count = std::min(count, src.size());
  for (int64_t start = 0; start < count; start += batch_size) {
    const int64_t n = std::min(batch_size, count - start);
    std::vector<int64_t> idx(n);
    std::iota(idx.begin(), idx.end(), start);
    net.forward(src.images(idx).to(device));
  }
  for (auto& [bn, momentum] : bns) bn->options.momentum(momentum);
  net.eval();
}

TensorList model_tensors(NetworkImpl& net) {
  TensorList out;
  for (const auto& p : net.named_parameters(true))
    out.emplace_back(p.key(), p.value().detach().cpu().contiguous());
  for (const auto& b : net.named_buffers(true))
    out.emplace_back(b.key(), b.value().detach().cpu().contiguous());
  return out;
}

nlohmann::json record_json(const EpochRecord& r) {
  return {{"epoch", r.epoch},
          {"train_loss", r.train_loss},
          {"train_accuracy", r.train_accuracy},
          {"val_loss", r.val_loss},
          {"val_accuracy", r.val_accuracy},
          {"lr", r.lr},
          {"seconds", r.seconds},
          {"images_per_second", r.images_per_second},
          {"val_per_class_accuracy", r.val_per_class_accuracy}};
}

EpochRecord record_from_json(const nlohmann::json& j) {
  EpochRecord r;
  r.epoch = j.at("epoch");
  r.train_loss = j.at("train_loss");
  r.train_accuracy = j.at("train_accuracy");
  r.val_loss = j.at("val_loss");
  r.val_accuracy = j.at("val_accuracy");
  r.lr = j.at("lr");
  r.seconds = j.at("seconds");
  r.images_per_second = j.at("images_per_second");
  r.val_per_class_accuracy = j.value("val_per_class_accuracy", std::vector<double>{});
  return r;
}

// What must match for --resume to continue the same run (output and run-control fields aside).
nlohmann::json resume_key(const nlohmann::json& config) {
  nlohmann::json k = config;
  for (const char* f : {"output_dir", "resume", "stop_after_epochs", "device", "progress"}) k.erase(f);
  return k;
}

}  // namespace

nlohmann::json train_config_json(const TrainConfig& c) {
  return {{"model", c.model},
          {"in_channels", c.bagnet.in_channels},
          {"stem_width", c.bagnet.stem_width},
          {"widths", c.bagnet.widths},
          {"blocks", c.bagnet.blocks},
          {"kernel3", c.bagnet.kernel3},
          {"strides", c.bagnet.strides},
          {"expansion", c.bagnet.expansion},
          {"stem_bn_momentum", c.bagnet.stem_bn_momentum},
          {"init", c.init},
          {"new_head", c.new_head},
          {"data", c.data},
          {"val_data", c.val_data},
          {"image_size", c.image_size},
          {"mean", c.mean},
          {"std", c.std},
          {"limit_train", c.limit_train},
          {"limit_val", c.limit_val},
          {"optimizer", c.optimizer},
          {"lr", c.lr},
          {"momentum", c.momentum},
          {"weight_decay", c.weight_decay},
          {"schedule", c.schedule},
          {"step_size", c.step_size},
          {"step_gamma", c.step_gamma},
          {"warmup_epochs", c.warmup_epochs},
          {"epochs", c.epochs},
          {"batch_size", c.batch_size},
          {"crop_padding", c.crop_padding},
          {"precise_bn", c.precise_bn},
          {"flip", c.flip},
          {"seed", c.seed},
          {"output_dir", c.output_dir},
          {"resume", c.resume},
          {"stop_after_epochs", c.stop_after_epochs},
          {"device", c.device}};
}

TrainResult train(const TrainConfig& config_in) {
  TrainConfig c = config_in;
  if (c.output_dir.empty()) throw Error("--output-dir", "required");
  if (c.epochs < 0 || c.batch_size <= 0 || c.lr <= 0)
    throw Error("bagnet-train", "epochs, batch size and lr must be positive");
  // --epochs 0: no training steps; the --init weights are (with --precise-bn) recalibrated,
  // evaluated and saved like an epoch's result.
  const bool calibrate_only = c.epochs == 0;
  if (calibrate_only && c.init.empty())
    throw Error("--epochs 0", "needs --init (a checkpoint to evaluate or recalibrate)");
  if (c.optimizer != "sgd" && c.optimizer != "adamw")
    throw Error("--optimizer " + c.optimizer, "use sgd or adamw");
  if (c.schedule != "cosine" && c.schedule != "step" && c.schedule != "constant")
    throw Error("--schedule " + c.schedule, "use cosine, step or constant");
  const c10::Device device = resolve_device(c.device);

  const fs::path out(c.output_dir);
  const fs::path state_path = out / "state.json", ckpt_path = out / "checkpoint.pt",
                 opt_path = out / "optimizer.pt";
  // One run per output folder (creates it); SIGINT/SIGTERM end the run between steps.
  const RunLock lock(c.output_dir, "bagnet-train");
  install_interrupt_handlers();

  // Resume: the saved configuration wins for everything that defines the run.
  nlohmann::json state;
  if (fs::exists(state_path)) {
    if (!c.resume)
      throw Error(c.output_dir,
                  "holds a training run (state.json); pass --resume to continue it or use another directory");
    std::ifstream in(state_path);
    try {
      in >> state;
    } catch (const nlohmann::json::exception& e) {
      throw Error(state_path.string(), std::string("unreadable: ") + e.what());
    }
  } else if (c.resume) {
    std::cerr << "bagnet-train: nothing to resume in " << c.output_dir << ", starting afresh\n";
  }

  std::vector<float> mean = c.mean, stdv = c.std;
  if (!state.empty()) {
    mean = state.at("config").at("mean").get<std::vector<float>>();
    stdv = state.at("config").at("std").get<std::vector<float>>();
  }
  Data data = open_data(c, mean, stdv);
  c.mean = mean;
  c.std = stdv;
  const int64_t in_channels = c.bagnet.in_channels > 0 ? c.bagnet.in_channels : data.train->channels;
  if (in_channels != data.train->channels)
    throw Error("--in-channels", "the data has " + std::to_string(data.train->channels) + " channels");
  c.bagnet.in_channels = in_channels;
  const nlohmann::json config_json = train_config_json(c);
  if (!state.empty() && resume_key(state.at("config")) != resume_key(config_json))
    throw Error(c.output_dir, "--resume with different settings than the saved run (see its config.json)");

  torch::manual_seed(c.seed);
  auto net = make_network(c, in_channels, data.train->num_classes);
  if (!c.init.empty()) {
    StateDict sd = load_state_dict(c.init);
    if (c.new_head) {
      // The final Linear ("fc", "classifier", "classifier.6") keeps its fresh initialisation.
      const std::string w = net->head_layer() + ".weight", b = net->head_layer() + ".bias";
      const auto params = net->named_parameters();
      TensorList kept;
      for (auto& [k, t] : sd.tensors)
        if (k != w && k != b) kept.emplace_back(k, t);
      sd.tensors = kept;
      sd.tensors.emplace_back(w, params[w].detach().clone());
      sd.tensors.emplace_back(b, params[b].detach().clone());
    }
    load_weights(*net, sd, c.init, c.model);
  }
  net->to(device);

  std::unique_ptr<torch::optim::Optimizer> opt;
  if (c.optimizer == "sgd") {
    opt = std::make_unique<torch::optim::SGD>(
        net->parameters(), torch::optim::SGDOptions(c.lr).momentum(c.momentum).weight_decay(c.weight_decay));
  } else {
    opt = std::make_unique<torch::optim::AdamW>(
        net->parameters(), torch::optim::AdamWOptions(c.lr).weight_decay(c.weight_decay));
  }

  TrainResult result;
  std::vector<EpochRecord> history;
  int start_epoch = 0;
  if (!state.empty()) {
    // The files must be the ones state.json was written after (a crash between writes
    // leaves a newer checkpoint with an older state: refuse rather than mix them).
    if (sha256_file(ckpt_path.string()) != state.at("checkpoint_sha256") ||
        sha256_file(opt_path.string()) != state.at("optimizer_sha256"))
      throw Error(c.output_dir, "checkpoint files do not match state.json (interrupted while saving?)");
    load_weights(*net, load_state_dict(ckpt_path.string()), ckpt_path.string(), c.model);
    torch::load(*opt, opt_path.string());
    start_epoch = state.at("completed_epochs");
    for (const auto& r : state.at("history")) history.push_back(record_from_json(r));
  }
  atomic_write((out / "config.json").string(), config_json.dump(2) + "\n");

  const Source& train_src = *data.train;
  const int64_t n = train_src.size();
  const int64_t steps = (n + c.batch_size - 1) / c.batch_size;
  const int64_t item = train_src.channels * train_src.height * train_src.width;
  std::vector<float> pad_value;
  for (int64_t ch = 0; ch < train_src.channels; ++ch) {
    const size_t k = std::min<size_t>(ch, mean.size() - 1);
    pad_value.push_back((0.0f - mean[k]) / stdv[k]);
  }

  int run_epochs = 0;
  for (int epoch = start_epoch; epoch < std::max(c.epochs, 1); ++epoch) {
    if (c.stop_after_epochs > 0 && run_epochs >= c.stop_after_epochs) break;
    const auto t0 = std::chrono::steady_clock::now();
    // Each epoch's shuffle and augmentation come from (seed, epoch) alone, so a resumed run
    // draws exactly what an uninterrupted one would.
    std::seed_seq seq{static_cast<uint32_t>(c.seed), static_cast<uint32_t>(c.seed >> 32),
                      static_cast<uint32_t>(epoch)};
    std::mt19937_64 rng(seq);
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);

    net->train();
    double loss_sum = 0, lr = calibrate_only ? 0.0 : c.lr;
    int64_t correct = 0;
    std::vector<float> scratch;
    Progress progress("epoch " + std::to_string(epoch + 1) + "/" + std::to_string(c.epochs), n,
                      c.progress && !calibrate_only);
    for (int64_t s = 0; s < (calibrate_only ? 0 : steps); ++s) {
      if (interrupted()) break;
      const int64_t b0 = s * c.batch_size, bn = std::min<int64_t>(c.batch_size, n - b0);
      std::vector<int64_t> idx(order.begin() + b0, order.begin() + b0 + bn);
      auto x = train_src.images(idx);
      float* px = x.data_ptr<float>();
      for (int64_t i = 0; i < bn; ++i)
        augment(px + i * item, train_src.channels, train_src.height, train_src.width, c.crop_padding, c.flip,
                pad_value, rng, scratch);
      auto y = train_src.label_tensor(idx);

      lr = learning_rate(c, epoch, s, steps);
      for (auto& group : opt->param_groups()) group.options().set_lr(lr);
      opt->zero_grad();
      auto logits = net->forward(x.to(device));
      auto loss = torch::cross_entropy_loss(logits, y.to(device));
      loss.backward();
      opt->step();
      loss_sum += loss.item<double>() * bn;
      correct += logits.argmax(1).eq(y.to(device)).sum().item<int64_t>();
      progress.advance(bn);
    }
    progress.finish();
    if (interrupted()) {
      // The epoch in hand is dropped: the last checkpoint (a complete epoch) stays, and a
      // resumed run redoes this epoch from the same (seed, epoch) draws.
      result.interrupted_epoch = epoch + 1;
      break;
    }

    EpochRecord r;
    r.epoch = calibrate_only ? 0 : epoch + 1;
    r.train_loss = loss_sum / n;
    r.train_accuracy = static_cast<double>(correct) / n;
    r.lr = lr;
    const double train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.images_per_second = calibrate_only ? 0.0 : n / train_seconds;
    if (c.precise_bn > 0) recompute_batchnorm(*net, train_src, c.precise_bn, device, 500);
    if (data.val) {
      const Metrics m = evaluate(*net, *data.val, device, 500);
      r.val_loss = m.loss / std::max<int64_t>(m.count, 1);
      r.val_accuracy = static_cast<double>(m.correct) / std::max<int64_t>(m.count, 1);
      for (size_t k = 0; k < m.per_class_count.size(); ++k)
        r.val_per_class_accuracy.push_back(
            m.per_class_count[k] ? double(m.per_class_correct[k]) / m.per_class_count[k] : 0.0);
    }
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    history.push_back(r);
    result.epochs.push_back(r);
    ++run_epochs;

    // Checkpoint: model (torch.load-compatible zip), optimizer (LibTorch archive), then
    // state.json naming both by hash. Each write is atomic; state.json goes last.
    save_state_dict(ckpt_path.string(), model_tensors(*net));
    const std::string opt_tmp = opt_path.string() + ".tmp";
    torch::save(*opt, opt_tmp);
    fs::rename(opt_tmp, opt_path);
    nlohmann::json st = {{"completed_epochs", r.epoch},
                         {"checkpoint_sha256", sha256_file(ckpt_path.string())},
                         {"optimizer_sha256", sha256_file(opt_path.string())},
                         {"config", config_json},
                         {"classes", data.class_names},
                         {"provenance", provenance_json("bagnet-train", device.str(), runtime_threads())},
                         {"history", nlohmann::json::array()}};
    std::string log;
    for (const auto& h : history) {
      st["history"].push_back(record_json(h));
      log += record_json(h).dump() + "\n";
    }
    atomic_write(state_path.string(), st.dump(2) + "\n");
    atomic_write((out / "log.jsonl").string(), log);
    std::cerr << "epoch " << r.epoch << ": loss " << r.train_loss << ", train acc " << r.train_accuracy
              << ", val acc " << r.val_accuracy << ", lr " << r.lr << ", " << r.seconds << " s ("
              << static_cast<int>(r.images_per_second) << " img/s)\n";
  }
  result.completed_epochs = history.empty() ? 0 : history.back().epoch;
  result.checkpoint = ckpt_path.string();
  return result;
}

EvalResult evaluate_idx(const std::string& model, const std::string& weights, const std::string& idx_dir,
                        int limit, const std::string& device, int batch_size) {
  const ModelSpec& spec = find_model(model);
  LoadedModel m = load_model(spec, weights, resolve_device(device));
  IdxSource src(read_mnist_dir(idx_dir, "test"), limit, idx_dir + " (test)");
  src.mean = {spec.preprocessing.mean[0]};
  src.std = {spec.preprocessing.std[0]};
  src.num_classes = spec.num_classes;
  const Metrics r = evaluate(*m.net, src, m.device, batch_size);
  EvalResult e;
  e.count = static_cast<int>(r.count);
  e.accuracy = static_cast<double>(r.correct) / std::max<int64_t>(r.count, 1);
  e.loss = r.loss / std::max<int64_t>(r.count, 1);
  e.per_class_count = r.per_class_count;
  e.per_class_correct = r.per_class_correct;
  return e;
}

}  // namespace bagnet
