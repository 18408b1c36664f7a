#pragma once
// Classification of image files by a registered model: the core of bagnet-classify.
// Torch-free interface (pimpl), so tools that use it compile quickly.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/loader.h"
#include "lib/image.h"

namespace bagnet {

struct Prediction {
  int index = 0;
  std::string name;
  std::string wnid;
  float probability = 0;  // softmax over all classes, float32 as in PyTorch
  float logit = 0;
};

struct ImageResult {
  size_t index = 0;  // position in the input
  std::string path;
  std::string error;          // non-empty: the image was not classified, and why
  std::string conversion;     // what decoding did (grayscale, alpha dropped, ...)
  int height = 0, width = 0;  // network input size
  std::vector<Prediction> top;
  std::vector<float> probabilities;  // all classes, only with ClassifyOptions::keep_probabilities
  bool ok() const { return error.empty(); }
};

struct ClassifyOptions {
  int topk = 5;
  int batch_size = 8;
  bool no_resize = false;  // feed images at their own size (e.g. 224x224 cue-conflict stimuli)
  long long max_pixels = kDefaultMaxPixels;
  int workers = 0;  // decoding threads; 0 = automatic
  bool progress = true;
  std::string progress_label = "classify";
  bool keep_probabilities = false;  // fill ImageResult::probabilities
  // Items whose group ids differ never share a batch. Groups fixed by dataset position (e.g.
  // position / batch_size) make every result independent of where a run was resumed, since a
  // batch's composition can change the last bits of a convolution's output.
  std::function<size_t(size_t)> batch_group;
  // Polled after every batch (e.g. bagnet::interrupted): when true, classification stops there;
  // images not reached have no result (ImageResult::path empty) and on_result is not called.
  std::function<bool()> stop;
};

struct ModelRequest {
  std::string model;    // registry name
  std::string weights;  // explicit file, or "" to look it up
  std::string device = "auto";
  // How the CPU forward pass runs: "onednn" (BagNets and ResNets directly on oneDNN:
  // inference/onednn.h), "eager" (LibTorch modules), "torchscript" (traced, frozen and optimised
  // for inference per input shape: inference/torchscript.h), or "auto": onednn where it runs the
  // network, else eager (see README Speed). On a GPU always eager.
  std::string engine = "auto";
  // "fp32", or "bf16" on the oneDNN engine only (faster only where the CPU has AMX; not exact:
  // inference/onednn.h).
  std::string precision = "fp32";
};

class Classifier {
 public:
  // Loads the model; throws bagnet::Error (missing weights with download instructions,
  // bad checkpoint, unknown model or device).
  explicit Classifier(const ModelRequest& request);
  ~Classifier();

  // Model, weights (path, sha256, format), preprocessing, for provenance.
  nlohmann::json model_json(bool no_resize) const;
  std::string device() const;
  std::string engine() const;     // "onednn", "eager" or "torchscript", as resolved
  std::string precision() const;  // "fp32" or "bf16"
  Preprocessing preprocessing(bool no_resize) const;

  // Results in input order; `on_result` is called as each finishes (for streaming output).
  std::vector<ImageResult> classify(const std::vector<std::string>& files, const ClassifyOptions& options,
                                    const std::function<void(const ImageResult&)>& on_result = {});
  // `count` items from `load` (called on worker threads), preprocessed by the caller.
  std::vector<ImageResult> classify(size_t count, const LoadFunction& load, const ClassifyOptions& options,
                                    const std::function<void(const ImageResult&)>& on_result = {});
  int num_classes() const;
  int in_channels() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagnet
