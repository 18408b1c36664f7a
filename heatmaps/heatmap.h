#pragma once
// Class-evidence maps of image files by a registered BagNet: the core of bagnet-heatmap and
// bagnet-patches. Torch-free interface (pimpl), so the tools compile quickly.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/classify.h"
#include "lib/image.h"
#include "networks/labels.h"

namespace bagnet::heatmaps {

struct MapOptions {
  int stride = 1;                // 8, 4, 2 or 1 (published BagNets)
  std::string method = "dense";  // "dense" or "patches" (the per-patch reference)
  int tile = 256;                // dense: tile side in map positions; 0 = whole image
  // dense: "phases" or "atrous" (heatmaps/dense.h), or "auto": atrous on the oneDNN engine where
  // the model has one (CPU, --engine auto|onednn), else phases.
  std::string dense_algorithm = "auto";
  int patch_batch = 256;  // patches: patches per forward pass
};

struct ClassMaps {
  int rows = 0, cols = 0;    // ceil(H / stride) x ceil(W / stride)
  std::vector<int> classes;  // order of the first axis
  std::vector<float> data;   // K x rows x cols, C order, raw logits
};

class HeatmapModel {
 public:
  // Loads the model; throws bagnet::Error (not a BagNet, missing weights, bad checkpoint, device,
  // an engine other than auto, onednn or eager). On the CPU, auto and onednn run the pooled
  // logits and the atrous maps on the oneDNN engine (inference/onednn.h).
  explicit HeatmapModel(const ModelRequest& request);
  std::string engine() const;     // "onednn" or "eager", as resolved
  std::string precision() const;  // "fp32" or "bf16" (request.precision, oneDNN engine only)
  // The dense algorithm `options` resolve to ("auto" made concrete).
  std::string dense_algorithm(const MapOptions& options) const;
  ~HeatmapModel();

  const Labels& labels() const;
  int patch_size() const;
  int num_classes() const;
  int in_channels() const;
  std::string device() const;
  Preprocessing preprocessing(bool no_resize) const;
  // Model, weights (path, sha256, format), preprocessing, for provenance.
  nlohmann::json model_json(bool no_resize) const;
  // Throws bagnet::Error for a stride or method the network cannot give.
  void check(const MapOptions& options) const;

  // Pooled logits (all classes) of a normalised CHW image, as bagnet-classify computes them.
  std::vector<float> classify(const std::vector<float>& chw, int height, int width);
  // Maps for `classes` (empty = all) of a normalised CHW image.
  ClassMaps maps(const std::vector<float>& chw, int height, int width, const std::vector<int>& classes,
                 const MapOptions& options);

  // The same for a batch of images of one size, in one forward pass (many small images share
  // the passes). Each image's result equals its single-image call up to float rounding: the
  // convolution kernels may sum in another order for another batch size (tests/test_heatmaps).
  std::vector<std::vector<float>> classify(const std::vector<const std::vector<float>*>& chws, int height,
                                           int width);
  // classes[i]: image i's classes (empty = all); the fc rows of their union are applied once.
  std::vector<ClassMaps> maps(const std::vector<const std::vector<float>*>& chws, int height, int width,
                              const std::vector<std::vector<int>>& classes, const MapOptions& options);

  // Timings on a random size x size image (benchmark, not a test): classification, the
  // stride-8 map, stride-1 maps by both methods (the per-patch method timed on `patch_rows`
  // rows of positions and extrapolated when patch_rows < size), multiply-accumulates, and a
  // large matrix product for the machine's practical ceiling. One JSON object.
  nlohmann::json benchmark(int size, int iters, int patch_rows, int tile);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagnet::heatmaps
