#pragma once
// Attribution methods on any registered network, as tensors. Names follow captum (Kokhlikyan et
// al. 2020), so that users recognise them: Saliency, InputXGradient, IntegratedGradients,
// NoiseTunnel (SmoothGrad), LayerGradCam, Occlusion. Every attribution is taken with respect to
// the network's input, i.e. the normalised image, for one target class, on eval-mode networks
// whose BatchNorms are not folded (gradients flow through the unmodified modules).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "networks/bagnet.h"
#include "networks/network.h"

namespace bagnet::attribution {

// The target logit of each batch item, [N].
torch::Tensor target_logits(NetworkImpl& net, const torch::Tensor& x, int64_t target);

// Saliency (Simonyan et al. 2014): d logit_target / d x, [N, C, H, W], signed (captum's
// Saliency takes abs by default; the sign is kept here and can be dropped when rendering).
torch::Tensor saliency(NetworkImpl& net, const torch::Tensor& x, int64_t target);

// InputXGradient (Shrikumar et al. 2016): x * d logit / d x.
torch::Tensor input_x_gradient(NetworkImpl& net, const torch::Tensor& x, int64_t target);

// Quadrature of the path integral over alpha in [0, 1]: nodes and weights (summing to 1).
// "gausslegendre" (captum's default) or "riemann_trapezoid".
struct Quadrature {
  std::vector<double> alphas, weights;
};
Quadrature quadrature(const std::string& rule, int steps);

struct IntegratedGradientsResult {
  torch::Tensor attributions;            // [1, C, H, W]
  double logit = 0, baseline_logit = 0;  // f(x), f(baseline)
  double sum = 0;                        // sum of the attributions
  // Completeness (Sundararajan et al. 2017, Prop. 1): sum = f(x) - f(baseline) in the limit of
  // many steps; delta = sum - (f(x) - f(baseline)).
  double delta() const { return sum - (logit - baseline_logit); }
};

// IntegratedGradients (Sundararajan et al., ICML 2017): (x - b) * integral of the gradient along
// the straight path from the baseline b to x, `batch` path points per backward pass.
IntegratedGradientsResult integrated_gradients(NetworkImpl& net, const torch::Tensor& x,
                                               const torch::Tensor& baseline, int64_t target, int steps,
                                               const std::string& rule = "gausslegendre", int batch = 10);

// SmoothGrad (Smilkov et al. 2017; captum's NoiseTunnel(Saliency), nt_type "smoothgrad"): the
// mean gradient over `samples` copies of x with Gaussian noise of standard deviation `sigma`
// (absolute, in normalised-input units), drawn from a generator seeded with `seed`.
torch::Tensor smoothgrad(NetworkImpl& net, const torch::Tensor& x, int64_t target, int samples, double sigma,
                         uint64_t seed, int batch = 10);

// Grad-CAM (Selvaraju et al., ICCV 2017) from a layer's activations A and the gradient G of the
// target logit with respect to them ([1, K, h, w] each): ReLU(sum_k mean_ij(G_k) A_k), upsampled
// bilinearly to height x width (half-pixel centres, as cv2.resize in pytorch-grad-cam), not
// normalised (pytorch-grad-cam min-max scales each map to [0, 1]; we keep raw values).
torch::Tensor grad_cam_from(const torch::Tensor& activations, const torch::Tensor& gradients, int64_t height,
                            int64_t width);

// The layers Grad-CAM can use on `net` (NetworkImpl::layer_names: state_dict prefixes), and the
// default (NetworkImpl::default_cam_layer: pytorch-grad-cam's choice, "layer4" for ResNets).
std::vector<std::string> cam_layers(NetworkImpl& net);
std::string default_cam_layer(NetworkImpl& net);

// LayerGradCam at `layer` (one of cam_layers; throws bagnet::Error listing them otherwise),
// [1, 1, H, W].
torch::Tensor grad_cam(NetworkImpl& net, const torch::Tensor& x, int64_t target, const std::string& layer);

// Occlusion (Zeiler & Fergus, ECCV 2014; captum's Occlusion): every window x window square at
// `stride` (plus a last row/column of windows flush with the bottom/right edge when the stride
// does not reach it) is set to 0 in every channel, i.e. the dataset's mean colour after
// normalisation, and the drop f(x) - f(x_occluded) is spread over the window's pixels (divided
// by its area); a pixel covered by several windows gets the mean of their spread drops. With
// stride = window the map sums to the sum of the windows' drops. [1, 1, H, W].
struct OcclusionOptions {
  int window = 8, stride = 4;
  // "full": the network re-run on each occluded image (any network). "local" (BagNets): only
  // the patches a window touches change, so each window re-runs the network on the smallest
  // crop (aligned to the network's stride) holding those patches, and the drop is taken from
  // the unoccluded logit map: exact, and much cheaper. "auto": local for BagNets.
  std::string algorithm = "auto";
  int batch = 32;  // occluded images (or crops) per forward pass
};
torch::Tensor occlusion(NetworkImpl& net, const torch::Tensor& x, int64_t target, const OcclusionOptions& o);

// Window start positions along a side of n pixels (see occlusion).
std::vector<int64_t> window_starts(int64_t n, int64_t window, int64_t stride);

// The target logit after setting the pixels of each mask to 0 (mean colour): masks [M, 1, H, W]
// of 0/1 (1 = masked), logits [M]. For deletion curves.
torch::Tensor masked_logits(NetworkImpl& net, const torch::Tensor& x, const torch::Tensor& masks,
                            int64_t target, int batch = 64);

}  // namespace bagnet::attribution
