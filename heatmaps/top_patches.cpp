#include "heatmaps/top_patches.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <tuple>

#include "figures/map_figure.h"

namespace bagnet::heatmaps {
namespace {

bool better(const TopPatch& a, const TopPatch& b) {
  return std::tie(b.logit, a.image, a.row, a.col) < std::tie(a.logit, b.image, b.row, b.col);
}

// Undo Normalize for display: the image as it went into the network (after resize and crop).
std::uint8_t to_byte(float v, float mean, float std) {
  return static_cast<std::uint8_t>(std::clamp(std::lround((v * std + mean) * 255.0f), 0L, 255L));
}

}  // namespace

TopPatchCollector::TopPatchCollector(int class_index, int patch_size, const Preprocessing& prep,
                                     TopPatchOptions options)
    : class_index_(class_index), q_(patch_size), prep_(prep), options_(options) {}

void TopPatchCollector::add(const std::string& path, const std::vector<float>& chw, int height, int width,
                            const ClassMaps& map) {
  const int n = map.rows * map.cols;
  std::vector<int> order(n);
  for (int i = 0; i < n; ++i) order[i] = i;
  const int keep = std::min(options_.per_image, n);
  std::partial_sort(order.begin(), order.begin() + keep, order.end(), [&](int a, int b) {
    return map.data[a] > map.data[b] || (map.data[a] == map.data[b] && a < b);
  });
  const int channels = static_cast<int>(chw.size() / (static_cast<size_t>(height) * width));
  const int s = options_.map.stride, r = (q_ - 1) / 2;
  for (int k = 0; k < keep; ++k) {
    TopPatch p;
    p.image = path;
    p.row = order[k] / map.cols;
    p.col = order[k] % map.cols;
    p.y = s * p.row;
    p.x = s * p.col;
    p.logit = map.data[order[k]];
    // The q x q patch centred on (y, x); outside the image the network saw zeros after
    // normalisation, i.e. the mean colour.
    p.pixels.width = p.pixels.height = q_;
    p.pixels.rgb.resize(static_cast<size_t>(q_) * q_ * 3);
    for (int dy = 0; dy < q_; ++dy)
      for (int dx = 0; dx < q_; ++dx)
        for (int c = 0; c < 3; ++c) {
          const int ch = std::min(c, channels - 1);
          const int yy = p.y - r + dy, xx = p.x - r + dx;
          const bool inside = yy >= 0 && yy < height && xx >= 0 && xx < width;
          const float v = inside ? chw[(static_cast<size_t>(ch) * height + yy) * width + xx] : 0.0f;
          p.pixels.rgb[(static_cast<size_t>(dy) * q_ + dx) * 3 + c] =
              to_byte(v, prep_.mean[ch], prep_.std[ch]);
        }
    best_.push_back(std::move(p));
  }
  // Keep the best `count` so memory stays bounded over a large dataset.
  if (best_.size() > static_cast<size_t>(options_.count) * 2) {
    std::sort(best_.begin(), best_.end(), better);
    best_.resize(options_.count);
  }
}

std::vector<TopPatch> TopPatchCollector::result() const {
  std::vector<TopPatch> out = best_;
  std::sort(out.begin(), out.end(), better);
  if (out.size() > static_cast<size_t>(options_.count)) out.resize(options_.count);
  return out;
}

std::string patch_grid_figure(const std::vector<TopPatch>& patches, const std::string& title,
                              const std::string& caption, int min_tile) {
  figures::MapFigure f;
  f.title = title;
  f.caption = caption;
  f.colorbar = false;
  f.columns = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(patches.size()))));
  for (size_t k = 0; k < patches.size(); ++k) {
    std::vector<TopPatch> one{patches[k]};
    char line[64];
    std::snprintf(line, sizeof line, "#%zu  logit %.3g", k + 1, patches[k].logit);
    f.panels.push_back(
        {patch_grid(one, min_tile), {line, std::filesystem::path(patches[k].image).filename().string()}});
  }
  return figures::map_figure_png(f, title);
}

Image patch_grid(const std::vector<TopPatch>& patches, int min_tile) {
  Image grid;
  if (patches.empty()) return grid;
  const int q = patches[0].pixels.width;
  const int scale = std::max(1, (min_tile + q - 1) / q), tile = q * scale, gap = 2;
  const int cols = static_cast<int>(std::ceil(std::sqrt(static_cast<double>(patches.size()))));
  const int rows = (static_cast<int>(patches.size()) + cols - 1) / cols;
  grid.width = cols * tile + (cols - 1) * gap;
  grid.height = rows * tile + (rows - 1) * gap;
  grid.rgb.assign(static_cast<size_t>(grid.width) * grid.height * 3, 255);
  for (size_t k = 0; k < patches.size(); ++k) {
    const int x0 = static_cast<int>(k % cols) * (tile + gap), y0 = static_cast<int>(k / cols) * (tile + gap);
    for (int y = 0; y < tile; ++y)
      for (int x = 0; x < tile; ++x)
        for (int c = 0; c < 3; ++c)
          grid.rgb[(static_cast<size_t>(y0 + y) * grid.width + x0 + x) * 3 + c] =
              patches[k].pixels.rgb[(static_cast<size_t>(y / scale) * q + x / scale) * 3 + c];
  }
  return grid;
}

}  // namespace bagnet::heatmaps
