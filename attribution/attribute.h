#pragma once
// Attribution maps of images by any registered network: the core of bagnet-attribute.
// Torch-free interface (pimpl), so the tool compiles quickly. The methods are in
// attribution/methods.h; this class owns the loaded network (eval mode, BatchNorm NOT folded:
// gradients flow through the unmodified modules) and turns images into maps.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "inference/classify.h"
#include "lib/image.h"
#include "networks/labels.h"

namespace bagnet::attribution {

// Method names (captum's class in brackets): saliency (Saliency), input_x_gradient
// (InputXGradient), integrated_gradients (IntegratedGradients), smoothgrad (NoiseTunnel over
// Saliency), grad_cam (LayerGradCam), occlusion (Occlusion).
const std::vector<std::string>& method_names();
// captum's class for a method name, for the sidecar.
std::string captum_name(const std::string& method);

struct MethodOptions {
  bool channels = false;  // keep C x H x W (gradient methods) instead of the sum over channels
  // integrated_gradients
  int steps = 50;
  std::string baseline = "black";         // black (pixel value 0) or mean (the normalisation mean: 0)
  std::string ig_rule = "gausslegendre";  // or riemann_trapezoid
  double completeness_tolerance = 0.05;   // |delta| <= tol * max(1, |f(x) - f(b)|) passes
  // smoothgrad
  int samples = 25;
  double noise_sigma = 0.15;  // noise std as a fraction of the input's range (max - min), Smilkov et al.
  uint64_t seed = 0;
  // grad_cam
  std::string layer;  // "" = the architecture's default
  // occlusion
  int window = 8, stride = 4;
  std::string occlusion_algorithm = "auto";  // auto, full, local (BagNets)
  int batch = 10;                            // path points / samples / occluded images per pass
};

struct AttributionMap {
  int channels = 1, rows = 0, cols = 0;
  std::vector<float> data;  // channels x rows x cols, raw
  nlohmann::json details;   // method-specific numbers (IG's completeness, the noise's std, the layer)
};

class AttributionModel {
 public:
  // Loads the model (unfolded); throws bagnet::Error (unknown model, weights, checkpoint, device).
  explicit AttributionModel(const ModelRequest& request);
  ~AttributionModel();

  const Labels& labels() const;
  int num_classes() const;
  int in_channels() const;
  bool is_bagnet() const;
  int patch_size() const;  // BagNets: q; 0 otherwise
  std::string device() const;
  Preprocessing preprocessing(bool no_resize) const;
  nlohmann::json model_json(bool no_resize) const;
  std::vector<std::string> cam_layers() const;
  std::string default_cam_layer() const;

  // Throws bagnet::Error for an unknown method, steps/samples below 1, a layer the network lacks
  // (naming the valid ones), a bad baseline, rule or occlusion algorithm.
  void check(const std::string& method, const MethodOptions& options) const;
  // The options as recorded in the sidecar (only those the method uses; the layer resolved).
  nlohmann::json parameters(const std::string& method, const MethodOptions& options) const;

  // Pooled logits of a normalised CHW image.
  std::vector<float> classify(const std::vector<float>& chw, int height, int width);
  AttributionMap attribute(const std::vector<float>& chw, int height, int width, int target,
                           const std::string& method, const MethodOptions& options);
  // BagNets: the exact stride-1 evidence map of `target` (heatmaps/dense.h), height x width. On
  // the CPU (engine auto or onednn) a-trous on the oneDNN engine, run on a BatchNorm-folded copy
  // of the network built at the first call; else phase crops through the unfolded modules.
  std::vector<float> exact_map(const std::vector<float>& chw, int height, int width, int target);
  // The target logit with the pixels of each mask (height x width, 1 = masked) set to the mean
  // colour (0 after normalisation), one forward pass per `batch` masks.
  std::vector<float> masked_logits(const std::vector<float>& chw, int height, int width, int target,
                                   const std::vector<std::vector<std::uint8_t>>& masks);

  // Seconds per image of each method on a random size x size input (one saliency map as the
  // warm-up, then the median of `iters` runs of each), for scripts/bench_attribute.py. `methods` empty = all
  // (occlusion both ways on a BagNet). One JSON object.
  nlohmann::json benchmark(int size, int iters, const std::vector<std::string>& methods,
                           const MethodOptions& options);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace bagnet::attribution
