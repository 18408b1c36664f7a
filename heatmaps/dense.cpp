#include "heatmaps/dense.h"

#include <algorithm>

#include "lib/error.h"

namespace bagnet::heatmaps {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Which stages get their input split into phases for maps at `stride`: a stage is split when
// its output stride would exceed `stride`. Returns one flag per stage; throws for strides the
// stage strides cannot reach exactly (e.g. s = 2 inside a single stride-4 stage).
std::vector<bool> split_plan(const BagNetConfig& cfg, int64_t stride) {
  std::vector<bool> split(cfg.strides.size(), false);
  int64_t before = 1;  // stride of the stage's input relative to the image
  for (size_t k = 0; k < cfg.strides.size(); ++k) {
    const int64_t t = cfg.strides[k];
    if (t > 1 && before * t > stride) {
      if (before < stride)
        throw Error("--stride " + std::to_string(stride), "not reachable with this network's stage strides");
      split[k] = true;
    }
    before *= t;
  }
  return split;
}

// Phase split of a feature map [B, C, h, w] into t*t crops starting at (a, b), all of the same
// size, stacked so that the new batch index is (a*t + b) * B + old index.
torch::Tensor split_phases(const torch::Tensor& f, int64_t t) {
  const int64_t h = f.size(2) - (t - 1), w = f.size(3) - (t - 1);
  std::vector<torch::Tensor> parts;
  parts.reserve(t * t);
  for (int64_t a = 0; a < t; ++a)
    for (int64_t b = 0; b < t; ++b) parts.push_back(f.slice(2, a, a + h).slice(3, b, b + w));
  return torch::cat(parts, 0);
}

struct PhaseFeatures {
  torch::Tensor features;                          // [G*N, C, hf, wf], group-major
  std::vector<std::pair<int64_t, int64_t>> shift;  // per group: offset in map positions (< 8/s)
};

// Features of a padded input tile at every phase needed for stride `stride`. Group g's entry
// (i, j) is the patch at input pixel (s*(shift.y + r*i), s*(shift.x + r*j)), r = total/s.
PhaseFeatures phase_features(BagNetImpl& net, const torch::Tensor& tile, int64_t stride) {
  const auto& cfg = net.config();
  const auto split = split_plan(cfg, stride);
  torch::Tensor f = net.channels_last() ? tile.contiguous(c10::MemoryFormat::ChannelsLast) : tile;
  // The stem, as in BagNetImpl::features (conv1 1x1, conv2 3x3 unpadded, bn1, relu).
  f = net.stem(f);
  std::vector<std::pair<int64_t, int64_t>> shift{{0, 0}};
  int64_t before = 1;
  for (size_t k = 0; k < net.layers.size(); ++k) {
    if (split[k]) {
      const int64_t t = cfg.strides[k], unit = before / stride;  // one input-phase step, in map positions
      f = split_phases(f, t);
      std::vector<std::pair<int64_t, int64_t>> next(t * t * shift.size());
      for (int64_t a = 0; a < t; ++a)
        for (int64_t b = 0; b < t; ++b)
          for (size_t g = 0; g < shift.size(); ++g)
            next[(a * t + b) * shift.size() + g] = {shift[g].first + a * unit, shift[g].second + b * unit};
      shift = std::move(next);
    }
    f = net.layers[k]->forward(f);
    before *= cfg.strides[k];
  }
  return {f, shift};
}

// fc rows for `classes` (all when undefined).
std::pair<torch::Tensor, torch::Tensor> fc_rows(BagNetImpl& net, const torch::Tensor& classes) {
  if (!classes.defined()) return {net.fc->weight, net.fc->bias};
  const auto idx = classes.to(net.fc->weight.device(), torch::kLong);
  return {net.fc->weight.index_select(0, idx), net.fc->bias.index_select(0, idx)};
}

// Map entries [N, K, rows, cols] of one tile whose top-left map position is the tile origin.
torch::Tensor tile_maps(BagNetImpl& net, const torch::Tensor& tile, int64_t stride, int64_t rows,
                        int64_t cols, const torch::Tensor& weight, const torch::Tensor& bias) {
  const int64_t n = tile.size(0), r = net.config().total_stride() / stride;
  auto pf = phase_features(net, tile, stride);
  const int64_t groups = static_cast<int64_t>(pf.shift.size()), hf = pf.features.size(2),
                wf = pf.features.size(3);
  TORCH_CHECK(groups == r * r && hf * r >= rows && wf * r >= cols,
              "dense map: phase layout does not cover the tile");
  // fc on every feature vector: [G*N, hf, wf, K]
  auto logits = torch::linear(pf.features.permute({0, 2, 3, 1}), weight, bias);
  // Order the groups by shift (a, b) and interleave: out[n, k, a + r*i, b + r*j].
  std::vector<int64_t> order(groups);
  for (int64_t g = 0; g < groups; ++g) order[pf.shift[g].first * r + pf.shift[g].second] = g;
  const int64_t k = logits.size(3);
  logits = logits.view({groups, n, hf, wf, k});
  logits = logits.index_select(0, torch::tensor(order, torch::kLong).to(logits.device()));
  return logits.view({r, r, n, hf, wf, k})
      .permute({2, 5, 3, 0, 4, 1})
      .reshape({n, k, hf * r, wf * r})
      .slice(2, 0, rows)
      .slice(3, 0, cols);
}

// Per block, in forward order, the a-trous network's geometry for maps at `stride`: the stride
// of conv2 and the projection, and conv2's dilation. A stage's first block carries its stride
// unless the stage is split; then it and every later 3x3 convolution are dilated by it instead.
std::vector<BlockGeometry> atrous_geometry(const BagNetImpl& net, int64_t stride) {
  const auto& cfg = net.config();
  const auto split = split_plan(cfg, stride);
  std::vector<BlockGeometry> geometry;
  int64_t dilation = 1;
  for (size_t k = 0; k < net.layers.size(); ++k) {
    for (size_t b = 0; b < net.layers[k]->size(); ++b)
      geometry.push_back({b == 0 && !split[k] ? cfg.strides[k] : 1, dilation});
    if (split[k]) dilation *= cfg.strides[k];
  }
  return geometry;
}

// The same entries [N, K, rows, cols] computed a trous: stages whose stride would coarsen the map
// beyond `stride` run at full resolution, their stride turned into a dilation of every later
// 3x3 convolution. `tile` holds exactly the padded input that rows x cols positions read.
torch::Tensor tile_maps_atrous(BagNetImpl& net, const torch::Tensor& tile, int64_t stride, int64_t rows,
                               int64_t cols, const torch::Tensor& weight, const torch::Tensor& bias,
                               OneDnnForward* engine) {
  torch::Tensor f = net.channels_last() ? tile.contiguous(c10::MemoryFormat::ChannelsLast) : tile;
  const auto geometry = atrous_geometry(net, stride);
  if (engine) {
    f = engine->features(f, geometry);
  } else {
    f = net.stem(f);
    size_t i = 0;
    for (const auto& layer : net.layers)
      for (const auto& m : *layer) {
        f = m.ptr()->as<BottleneckImpl>()->forward_dilated(f, geometry[i].stride, geometry[i].dilation);
        ++i;
      }
  }
  TORCH_CHECK(f.size(2) >= rows && f.size(3) >= cols, "dense map (atrous): the tile is too small");
  f = f.slice(2, 0, rows).slice(3, 0, cols);
  return torch::linear(f.permute({0, 2, 3, 1}), weight, bias).permute({0, 3, 1, 2});
}

// Geometry shared by the computation and the MAC count.
struct TileGrid {
  int64_t rows, cols;            // map size
  int64_t tile_rows, tile_cols;  // map positions per tile
  int64_t in_rows, in_cols;      // padded input pixels a full tile reads (plus slack for the phase crops)
};

TileGrid tile_grid(const BagNetImpl& net, int64_t height, int64_t width, const DenseOptions& o) {
  const int64_t total = net.config().total_stride(), q = net.config().receptive_field();
  const int64_t r = total / o.stride;
  TileGrid g;
  g.rows = map_extent(height, o.stride);
  g.cols = map_extent(width, o.stride);
  // Tiles start on multiples of the network's stride (in pixels), so every tile's phase grid
  // is the untiled one.
  g.tile_rows =
      o.tile > 0 ? std::min(ceil_div(o.tile, r) * r, ceil_div(g.rows, r) * r) : ceil_div(g.rows, r) * r;
  g.tile_cols =
      o.tile > 0 ? std::min(ceil_div(o.tile, r) * r, ceil_div(g.cols, r) * r) : ceil_div(g.cols, r) * r;
  // A tile of R map rows needs ceil(R/r) rows on the network's grid; each phase crop costs at
  // most (t-1) * (stride before the stage) pixels, together < total: one extra grid row covers it.
  g.in_rows = total * (g.tile_rows / r) + q - 1 + total;
  g.in_cols = total * (g.tile_cols / r) + q - 1 + total;
  return g;
}

// MACs of convolution `c` on [n, C, h, w]; h and w become its output size. `stride` > 0 replaces
// the convolution's own; `dilation` scales its reach and padding (as forward_dilated runs it).
double conv_macs(const torch::nn::Conv2dImpl& c, int64_t n, int64_t& h, int64_t& w, int64_t stride = 0,
                 int64_t dilation = 1) {
  const auto& o = c.options;
  const int64_t kh = (*o.kernel_size())[0], kw = (*o.kernel_size())[1];
  const int64_t sh = stride > 0 ? stride : (*o.stride())[0], sw = stride > 0 ? stride : (*o.stride())[1];
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  const int64_t ph = pad ? (**pad)[0] * dilation : 0, pw = pad ? (**pad)[1] * dilation : 0;
  h = (h + 2 * ph - dilation * (kh - 1) - 1) / sh + 1;
  w = (w + 2 * pw - dilation * (kw - 1) - 1) / sw + 1;
  return static_cast<double>(n) * h * w * kh * kw * o.in_channels() * o.out_channels() / o.groups();
}

// MACs of one block on [n, C, h, w] with conv2 and the projection at `stride` (0: their own)
// and conv2 dilated; h and w become the block's output size.
double block_macs(const BottleneckImpl& block, int64_t n, int64_t& h, int64_t& w, int64_t stride = 0,
                  int64_t dilation = 1) {
  int64_t bh = h, bw = w;
  double macs = conv_macs(*block.conv1, n, bh, bw);
  macs += conv_macs(*block.conv2, n, bh, bw, stride, dilation);
  macs += conv_macs(*block.conv3, n, bh, bw);
  if (block.downsample) {
    int64_t dh = h, dw = w;
    macs += conv_macs(*block.downsample->ptr<torch::nn::Conv2dImpl>(0), n, dh, dw, stride);
  }
  h = bh;
  w = bw;
  return macs;
}

// MACs of the network on an [n, C, h, w] input, splitting where `split` says; the fc layer with
// `num_classes` rows at every position (maps) or once per image (pooled classification).
double network_macs(BagNetImpl& net, int64_t n, int64_t h, int64_t w, const std::vector<bool>& split,
                    int64_t num_classes, bool fc_per_position) {
  double macs = conv_macs(*net.conv1, n, h, w);
  macs += conv_macs(*net.conv2, n, h, w);
  for (size_t k = 0; k < net.layers.size(); ++k) {
    if (split[k]) {
      const int64_t t = net.config().strides[k];
      n *= t * t;
      h -= t - 1;
      w -= t - 1;
    }
    for (const auto& m : *net.layers[k]) macs += block_macs(*m.ptr()->as<BottleneckImpl>(), n, h, w);
  }
  const double positions = fc_per_position ? static_cast<double>(n) * h * w : static_cast<double>(n);
  return macs + positions * net.fc->weight.size(1) * num_classes;
}

}  // namespace

int64_t map_extent(int64_t n, int64_t stride) { return ceil_div(n, stride); }

bool maps_on_onednn(const std::string& engine, const c10::Device& device) {
  if (engine != "auto" && engine != "onednn" && engine != "eager")
    throw Error("--engine " + engine, "maps run on auto, onednn or eager");
  return engine != "eager" && device.is_cpu();
}

torch::Tensor pad_for_patches(const torch::Tensor& x, int64_t q) {
  const int64_t p = (q - 1) / 2;
  return torch::constant_pad_nd(x, {p, p, p, p}, 0.0);
}

void check_stride(const BagNetImpl& net, int64_t stride) {
  const int64_t total = net.config().total_stride();
  if (stride < 1 || total % stride != 0)
    throw Error("--stride " + std::to_string(stride),
                "must divide the network's stride " + std::to_string(total));
  split_plan(net.config(), stride);
}

torch::Tensor dense_logit_maps(BagNetImpl& net, const torch::Tensor& x, const DenseOptions& o,
                               const torch::Tensor& classes) {
  check_stride(net, o.stride);
  if (o.algorithm != "phases" && o.algorithm != "atrous")
    throw Error("--dense-algorithm " + o.algorithm, "must be phases or atrous");
  torch::NoGradGuard no_grad;
  const int64_t n = x.size(0), q = net.config().receptive_field();
  const auto g = tile_grid(net, x.size(2), x.size(3), o);
  const auto [weight, bias] = fc_rows(net, classes);
  // Zero padding of (q-1)/2 (the definition), plus zeros at the bottom/right so that the last
  // tile's slice exists. Those extra zeros only feed map entries that are cut off: a BagNet's
  // entry depends on its q x q patch alone (bottom/right residual crop).
  const int64_t p = (q - 1) / 2;
  const int64_t last_row =
      (g.rows - 1) / g.tile_rows * g.tile_rows * o.stride;  // pixel origin of the last tile
  const int64_t last_col = (g.cols - 1) / g.tile_cols * g.tile_cols * o.stride;
  const int64_t extra_h = std::max<int64_t>(0, last_row + g.in_rows - (x.size(2) + 2 * p));
  const int64_t extra_w = std::max<int64_t>(0, last_col + g.in_cols - (x.size(3) + 2 * p));
  const auto padded = torch::constant_pad_nd(x, {p, p + extra_w, p, p + extra_h}, 0.0);

  auto out = torch::empty({n, weight.size(0), g.rows, g.cols}, x.options());
  for (int64_t r0 = 0; r0 < g.rows; r0 += g.tile_rows) {
    for (int64_t c0 = 0; c0 < g.cols; c0 += g.tile_cols) {
      const int64_t rows = std::min(g.tile_rows, g.rows - r0), cols = std::min(g.tile_cols, g.cols - c0);
      auto dst = out.slice(2, r0, r0 + rows).slice(3, c0, c0 + cols);
      if (o.algorithm == "atrous") {
        // Exactly the pixels the tile's patches cover: (positions - 1) * stride + q.
        const auto tile = padded.slice(2, r0 * o.stride, r0 * o.stride + (rows - 1) * o.stride + q)
                              .slice(3, c0 * o.stride, c0 * o.stride + (cols - 1) * o.stride + q);
        dst.copy_(tile_maps_atrous(net, tile, o.stride, rows, cols, weight, bias, o.engine));
      } else {
        const auto tile = padded.slice(2, r0 * o.stride, r0 * o.stride + g.in_rows)
                              .slice(3, c0 * o.stride, c0 * o.stride + g.in_cols);
        dst.copy_(tile_maps(net, tile, o.stride, rows, cols, weight, bias));
      }
    }
  }
  return out;
}

double dense_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width, const DenseOptions& o,
                  int64_t num_classes) {
  check_stride(net, o.stride);
  const auto g = tile_grid(net, height, width, o);
  const auto split = split_plan(net.config(), o.stride);
  const int64_t tiles = ceil_div(g.rows, g.tile_rows) * ceil_div(g.cols, g.tile_cols);
  return tiles * network_macs(net, n, g.in_rows, g.in_cols, split, num_classes, true);
}

double atrous_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width, int64_t stride,
                   int64_t num_classes) {
  check_stride(net, stride);
  const int64_t q = net.config().receptive_field();
  // The padded input of one untiled map: (positions - 1) * stride + q pixels a side.
  int64_t h = (map_extent(height, stride) - 1) * stride + q, w = (map_extent(width, stride) - 1) * stride + q;
  double macs = conv_macs(*net.conv1, n, h, w);
  macs += conv_macs(*net.conv2, n, h, w);
  const auto geometry = atrous_geometry(net, stride);  // as tile_maps_atrous runs the blocks
  size_t i = 0;
  for (const auto& layer : net.layers)
    for (const auto& m : *layer) {
      macs += block_macs(*m.ptr()->as<BottleneckImpl>(), n, h, w, geometry[i].stride, geometry[i].dilation);
      ++i;
    }
  return macs + static_cast<double>(n) * h * w * net.fc->weight.size(1) * num_classes;
}

double forward_macs(BagNetImpl& net, int64_t n, int64_t height, int64_t width) {
  return network_macs(net, n, height, width, std::vector<bool>(net.layers.size(), false),
                      net.fc->weight.size(0), false);
}

}  // namespace bagnet::heatmaps
