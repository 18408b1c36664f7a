#include "attribution/methods.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>

#include "lib/error.h"

namespace bagnet::attribution {
namespace {

constexpr double kPi = 3.14159265358979323846;

// Gradient of the summed target logits with respect to x (items are independent in eval mode).
torch::Tensor input_gradient(NetworkImpl& net, const torch::Tensor& x, int64_t target) {
  auto xi = x.detach().clone().requires_grad_(true);
  auto y = net.forward(xi).select(1, target).sum();
  return torch::autograd::grad({y}, {xi})[0];
}

void check_target(NetworkImpl& net, int64_t target) {
  if (!net.fc) return;  // AlexNet/VGG heads: checked by the caller against the model's classes
  const int64_t classes = net.fc->options.out_features();
  if (target < 0 || target >= classes)
    throw Error("class " + std::to_string(target),
                "outside the model's " + std::to_string(classes) + " classes");
}

}  // namespace

torch::Tensor target_logits(NetworkImpl& net, const torch::Tensor& x, int64_t target) {
  check_target(net, target);
  torch::NoGradGuard no_grad;
  return net.forward(x).select(1, target);
}

torch::Tensor saliency(NetworkImpl& net, const torch::Tensor& x, int64_t target) {
  check_target(net, target);
  return input_gradient(net, x, target);
}

torch::Tensor input_x_gradient(NetworkImpl& net, const torch::Tensor& x, int64_t target) {
  return x * saliency(net, x, target);
}

Quadrature quadrature(const std::string& rule, int steps) {
  if (steps < 1) throw Error("--steps " + std::to_string(steps), "must be at least 1");
  Quadrature q;
  if (rule == "riemann_trapezoid") {
    // captum's riemann_trapezoid: n equally spaced nodes from 0 to 1, end points half weight.
    if (steps == 1) return {{1.0}, {1.0}};
    for (int i = 0; i < steps; ++i) {
      q.alphas.push_back(static_cast<double>(i) / (steps - 1));
      q.weights.push_back((i == 0 || i == steps - 1 ? 0.5 : 1.0) / (steps - 1));
    }
    return q;
  }
  if (rule != "gausslegendre") throw Error("--ig-rule " + rule, "must be gausslegendre or riemann_trapezoid");
  // Gauss-Legendre nodes on [-1, 1] by Newton's method on P_n (Press et al., Numerical Recipes
  // 4.6), mapped to [0, 1]; the same nodes as numpy.polynomial.legendre.leggauss, which captum uses.
  const int n = steps;
  q.alphas.assign(n, 0);
  q.weights.assign(n, 0);
  // P_n(z) by the three-term recurrence, and P_n'(z).
  auto legendre = [n](double z) {
    double p0 = 1, p1 = 0;
    for (int j = 1; j <= n; ++j) {
      const double p2 = p1;
      p1 = p0;
      p0 = ((2.0 * j - 1) * z * p1 - (j - 1.0) * p2) / j;
    }
    return std::pair<double, double>{p0, n * (z * p0 - p1) / (z * z - 1)};
  };
  for (int i = 0; i < (n + 1) / 2; ++i) {
    double z = std::cos(kPi * (i + 0.75) / (n + 0.5));
    for (int it = 0; it < 100; ++it) {  // Newton's method
      const auto [p, dp] = legendre(z);
      const double z1 = z;
      z = z1 - p / dp;
      if (std::abs(z - z1) < 1e-15) break;
    }
    const double dp = legendre(z).second;  // the derivative at the converged node
    const double w = 2 / ((1 - z * z) * dp * dp);
    q.alphas[i] = (1 - z) / 2;  // ascending alphas
    q.alphas[n - 1 - i] = (1 + z) / 2;
    q.weights[i] = q.weights[n - 1 - i] = w / 2;
  }
  return q;
}

IntegratedGradientsResult integrated_gradients(NetworkImpl& net, const torch::Tensor& x,
                                               const torch::Tensor& baseline, int64_t target, int steps,
                                               const std::string& rule, int batch) {
  check_target(net, target);
  if (batch < 1) throw Error("--batch " + std::to_string(batch), "must be at least 1");
  const Quadrature q = quadrature(rule, steps);
  const auto diff = (x - baseline).detach();
  auto total = torch::zeros_like(x);
  for (size_t start = 0; start < q.alphas.size(); start += batch) {
    const size_t end = std::min(q.alphas.size(), start + static_cast<size_t>(batch));
    const auto opts = x.options();
    // torch::tensor of doubles would give the default dtype (float32): say kDouble.
    const auto a =
        torch::tensor(std::vector<double>(q.alphas.begin() + start, q.alphas.begin() + end), torch::kDouble)
            .to(opts)
            .view({-1, 1, 1, 1});
    const auto w =
        torch::tensor(std::vector<double>(q.weights.begin() + start, q.weights.begin() + end), torch::kDouble)
            .to(opts)
            .view({-1, 1, 1, 1});
    const auto points = baseline + a * diff;  // [b, C, H, W]
    const auto g = input_gradient(net, points, target);
    total += (g * w).sum(0, true);
  }
  IntegratedGradientsResult r;
  r.attributions = diff * total;
  const auto both = target_logits(net, torch::cat({x, baseline}), target).to(torch::kDouble).cpu();
  r.logit = both[0].item<double>();
  r.baseline_logit = both[1].item<double>();
  r.sum = r.attributions.to(torch::kDouble).sum().item<double>();
  return r;
}

torch::Tensor smoothgrad(NetworkImpl& net, const torch::Tensor& x, int64_t target, int samples, double sigma,
                         uint64_t seed, int batch) {
  check_target(net, target);
  if (samples < 1) throw Error("--samples " + std::to_string(samples), "must be at least 1");
  if (!(sigma >= 0)) throw Error("--noise-sigma", "must be at least 0");
  if (batch < 1) throw Error("--batch " + std::to_string(batch), "must be at least 1");
  // Noise drawn on the CPU from its own generator: the same samples on every device and run.
  auto gen = at::detail::createCPUGenerator(seed);
  auto total = torch::zeros_like(x);
  for (int start = 0; start < samples; start += batch) {
    const int b = std::min(batch, samples - start);
    std::vector<int64_t> shape = x.sizes().vec();
    shape[0] = b;
    const auto noise =
        at::normal(0.0, 1.0, shape, gen, torch::TensorOptions().dtype(x.dtype())).to(x.device());
    total += input_gradient(net, x + sigma * noise, target).sum(0, true);
  }
  return total / samples;
}

torch::Tensor grad_cam_from(const torch::Tensor& activations, const torch::Tensor& gradients, int64_t height,
                            int64_t width) {
  const auto weights = gradients.mean({2, 3}, true);  // [N, K, 1, 1]
  const auto cam = torch::relu((weights * activations).sum(1, true));
  namespace F = torch::nn::functional;
  return F::interpolate(cam, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{height, width})
                                 .mode(torch::kBilinear)
                                 .align_corners(false));
}

std::vector<std::string> cam_layers(NetworkImpl& net) { return net.layer_names(); }

std::string default_cam_layer(NetworkImpl& net) { return net.default_cam_layer(); }

torch::Tensor grad_cam(NetworkImpl& net, const torch::Tensor& x, int64_t target, const std::string& layer) {
  check_target(net, target);
  const auto names = cam_layers(net);
  if (std::find(names.begin(), names.end(), layer) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    throw Error("--layer " + layer, "unknown layer; valid layers: " + list);
  }
  // The layer's output kept in the graph by the network itself (NetworkImpl::set_capture), as a
  // forward hook does in pytorch-grad-cam; capturing stops again whatever happens.
  struct StopCapture {
    NetworkImpl& net;
    ~StopCapture() { net.set_capture(""); }
  } stop{net};
  net.set_capture(layer);
  auto y = net.forward(x.detach().requires_grad_(true)).select(1, target).sum();
  const auto activation = net.captured();
  if (!activation.defined() || activation.dim() != 4)
    throw Error("--layer " + layer, "is not a convolutional feature map [N, C, h, w]");
  const auto g = torch::autograd::grad({y}, {activation})[0];
  return grad_cam_from(activation.detach(), g, x.size(2), x.size(3));
}

std::vector<int64_t> window_starts(int64_t n, int64_t window, int64_t stride) {
  std::vector<int64_t> starts;
  if (window > n) return {0};
  for (int64_t s = 0; s + window <= n; s += stride) starts.push_back(s);
  if (starts.back() + window < n) starts.push_back(n - window);  // flush with the edge
  return starts;
}

torch::Tensor occlusion(NetworkImpl& net, const torch::Tensor& x, int64_t target, const OcclusionOptions& o) {
  check_target(net, target);
  if (o.window < 1) throw Error("--window " + std::to_string(o.window), "must be at least 1");
  if (o.stride < 1) throw Error("--stride " + std::to_string(o.stride), "must be at least 1");
  if (o.batch < 1) throw Error("--batch " + std::to_string(o.batch), "must be at least 1");
  auto* bagnet = dynamic_cast<BagNetImpl*>(&net);
  std::string algorithm = o.algorithm == "auto" ? (bagnet ? "local" : "full") : o.algorithm;
  if (algorithm != "full" && algorithm != "local")
    throw Error("--occlusion-algorithm " + o.algorithm, "must be auto, full or local");
  if (algorithm == "local" && !bagnet)
    throw Error("--occlusion-algorithm local", "needs a BagNet (patch logits); use full");
  torch::NoGradGuard no_grad;
  const int64_t h = x.size(2), w = x.size(3);
  const int64_t wh = std::min<int64_t>(o.window, h), ww = std::min<int64_t>(o.window, w);
  const auto rows = window_starts(h, wh, o.stride), cols = window_starts(w, ww, o.stride);
  std::vector<std::pair<int64_t, int64_t>> windows;
  for (auto r : rows)
    for (auto c : cols) windows.emplace_back(r, c);
  std::vector<double> drops(windows.size());

  if (algorithm == "full") {
    const double f = net.forward(x).select(1, target)[0].item<double>();
    for (size_t start = 0; start < windows.size(); start += o.batch) {
      const size_t end = std::min(windows.size(), start + static_cast<size_t>(o.batch));
      auto batch = x.repeat({static_cast<int64_t>(end - start), 1, 1, 1});
      for (size_t k = start; k < end; ++k)
        batch[k - start]
            .slice(1, windows[k].first, windows[k].first + wh)
            .slice(2, windows[k].second, windows[k].second + ww)
            .zero_();
      const auto y = net.forward(batch).select(1, target).to(torch::kDouble).cpu();
      for (size_t k = start; k < end; ++k) drops[k] = f - y[k - start].item<double>();
    }
  } else {
    // A BagNet's logit is the mean over its grid of patch logits; patch (i, j) covers rows
    // [T i, T i + q) and columns [T j, T j + q). A window changes only the patches it touches,
    // and the network run on a crop starting at a multiple of T gives exactly those patches'
    // logits (its modules are translation-equivariant on the T-grid; heatmaps/dense.h).
    const int64_t q = bagnet->config().receptive_field(), t = bagnet->config().total_stride();
    const auto map = net.logit_map(x).select(1, target)[0].to(torch::kDouble).cpu();  // [gh, gw]
    const int64_t gh = map.size(0), gw = map.size(1);
    const double positions = static_cast<double>(gh * gw);
    auto range = [&](int64_t start, int64_t len, int64_t g) {  // grid positions touching [start, start+len)
      const int64_t lo = std::max<int64_t>(0, (start - q + t) >= 0 ? (start - q + t) / t : 0);
      const int64_t hi = std::min<int64_t>(g - 1, (start + len - 1) / t);
      return std::pair<int64_t, int64_t>(lo, hi);
    };
    // Windows grouped by crop size, so that each forward pass has equal-sized crops.
    std::map<std::pair<int64_t, int64_t>, std::vector<size_t>> groups;
    std::vector<std::array<int64_t, 4>> box(windows.size());  // i0, i1, j0, j1
    for (size_t k = 0; k < windows.size(); ++k) {
      const auto [i0, i1] = range(windows[k].first, wh, gh);
      const auto [j0, j1] = range(windows[k].second, ww, gw);
      box[k] = {i0, i1, j0, j1};
      if (i0 > i1 || j0 > j1) continue;  // in a margin no patch reaches: no drop
      groups[{i1 - i0, j1 - j0}].push_back(k);
    }
    for (const auto& [size, members] : groups) {
      const int64_t ch = t * size.first + q, cw = t * size.second + q;
      for (size_t start = 0; start < members.size(); start += o.batch) {
        const size_t end = std::min(members.size(), start + static_cast<size_t>(o.batch));
        std::vector<torch::Tensor> crops;
        for (size_t m = start; m < end; ++m) {
          const size_t k = members[m];
          const int64_t y0 = t * box[k][0], x0 = t * box[k][2];
          auto crop = x.slice(2, y0, y0 + ch).slice(3, x0, x0 + cw).clone();
          const int64_t r0 = std::max<int64_t>(0, windows[k].first - y0),
                        c0 = std::max<int64_t>(0, windows[k].second - x0);
          crop.slice(2, r0, std::min(ch, windows[k].first + wh - y0))
              .slice(3, c0, std::min(cw, windows[k].second + ww - x0))
              .zero_();
          crops.push_back(crop);
        }
        const auto lm = net.logit_map(torch::cat(crops)).select(1, target).to(torch::kDouble).cpu();
        if (lm.size(1) != size.first + 1 || lm.size(2) != size.second + 1)
          throw std::logic_error("occlusion: crop logit map has an unexpected size");
        for (size_t m = start; m < end; ++m) {
          const size_t k = members[m];
          const double before =
              map.slice(0, box[k][0], box[k][1] + 1).slice(1, box[k][2], box[k][3] + 1).sum().item<double>();
          const double after = lm[m - start].sum().item<double>();
          drops[k] = (before - after) / positions;
        }
      }
    }
  }
  // Spread each drop over its window's pixels; average where windows overlap.
  auto sum = torch::zeros({h, w}, torch::kDouble), count = torch::zeros({h, w}, torch::kDouble);
  const double area = static_cast<double>(wh * ww);
  for (size_t k = 0; k < windows.size(); ++k) {
    sum.slice(0, windows[k].first, windows[k].first + wh)
        .slice(1, windows[k].second, windows[k].second + ww) += drops[k] / area;
    count.slice(0, windows[k].first, windows[k].first + wh)
        .slice(1, windows[k].second, windows[k].second + ww) += 1;
  }
  return (sum / count.clamp_min(1)).to(torch::kFloat).view({1, 1, h, w}).to(x.device());
}

torch::Tensor masked_logits(NetworkImpl& net, const torch::Tensor& x, const torch::Tensor& masks,
                            int64_t target, int batch) {
  check_target(net, target);
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> out;
  for (int64_t start = 0; start < masks.size(0); start += batch) {
    const auto m = masks.slice(0, start, std::min<int64_t>(masks.size(0), start + batch)).to(x.device());
    out.push_back(net.forward(x * (1 - m)).select(1, target));
  }
  return torch::cat(out);
}

}  // namespace bagnet::attribution
