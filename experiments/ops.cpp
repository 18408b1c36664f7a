#include "experiments/ops.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace bagnet::experiments {

bool patches_overlap(const Patch& a, const Patch& b, int q) {
  return std::abs(a.y - b.y) < q && std::abs(a.x - b.x) < q;
}

int patch_capacity(int h, int w, int q) { return ((h + q - 1) / q) * ((w + q - 1) / q); }

namespace {

bool fits(const std::vector<Patch>& chosen, const Patch& p, int q) {
  for (const auto& c : chosen)
    if (patches_overlap(c, p, q)) return false;
  return true;
}

}  // namespace

std::vector<Patch> greedy_patches(const std::vector<float>& map, int h, int w, int q, int k) {
  std::vector<int> order(static_cast<size_t>(h) * w);
  std::iota(order.begin(), order.end(), 0);
  // Largest first; equal values keep row-major order (stable sort), so ties are reproducible.
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return map[a] > map[b]; });
  std::vector<Patch> chosen;
  for (int i : order) {
    if (static_cast<int>(chosen.size()) >= k) break;
    const Patch p{i / w, i % w};
    if (fits(chosen, p, q)) chosen.push_back(p);
  }
  return chosen;
}

std::vector<Patch> random_patches(std::mt19937_64& rng, int h, int w, int q, int k) {
  std::vector<Patch> chosen;
  for (long tries = 0; static_cast<int>(chosen.size()) < k && tries < 1000L * k; ++tries) {
    const Patch p{static_cast<int>(rng() % static_cast<uint64_t>(h)),
                  static_cast<int>(rng() % static_cast<uint64_t>(w))};
    if (fits(chosen, p, q)) chosen.push_back(p);
  }
  return chosen;
}

size_t mask_patches(std::vector<float>& chw, int channels, int h, int w, const std::vector<Patch>& patches,
                    int q) {
  const int r = (q - 1) / 2;
  size_t masked = 0;
  for (const auto& p : patches) {
    const int y0 = std::max(0, p.y - r), y1 = std::min(h - 1, p.y + q - 1 - r);
    const int x0 = std::max(0, p.x - r), x1 = std::min(w - 1, p.x + q - 1 - r);
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        for (int c = 0; c < channels; ++c) chw[(static_cast<size_t>(c) * h + y) * w + x] = 0.f;
        ++masked;
      }
  }
  return masked;
}

bool random_pair(std::mt19937_64& rng, int h, int w, int q, int distance, Patch* a, Patch* b) {
  if (distance < q) return false;
  std::vector<Patch> ring;
  for (int tries = 0; tries < 1000; ++tries) {
    const Patch p{static_cast<int>(rng() % static_cast<uint64_t>(h)),
                  static_cast<int>(rng() % static_cast<uint64_t>(w))};
    ring.clear();
    for (int dy = -distance; dy <= distance; ++dy)
      for (int dx = -distance; dx <= distance; ++dx) {
        if (std::max(std::abs(dy), std::abs(dx)) != distance) continue;
        const int y = p.y + dy, x = p.x + dx;
        if (y >= 0 && y < h && x >= 0 && x < w) ring.push_back({y, x});
      }
    if (ring.empty()) continue;
    *a = p;
    *b = ring[rng() % ring.size()];
    return true;
  }
  return false;
}

std::vector<int> tile_permutation(std::mt19937_64& rng, int g) {
  std::vector<int> perm(static_cast<size_t>(g) * g);
  std::iota(perm.begin(), perm.end(), 0);
  for (size_t i = perm.size(); i > 1; --i) std::swap(perm[i - 1], perm[rng() % i]);
  return perm;
}

std::vector<float> scramble_tiles(const std::vector<float>& chw, int channels, int h, int w, int g,
                                  const std::vector<int>& perm) {
  std::vector<float> out = chw;
  const int th = h / g, tw = w / g;
  for (int t = 0; t < g * g; ++t) {
    const int from = perm[static_cast<size_t>(t)];
    const int oy = (t / g) * th, ox = (t % g) * tw, iy = (from / g) * th, ix = (from % g) * tw;
    for (int c = 0; c < channels; ++c)
      for (int y = 0; y < th; ++y)
        std::copy_n(&chw[(static_cast<size_t>(c) * h + iy + y) * w + ix], tw,
                    &out[(static_cast<size_t>(c) * h + oy + y) * w + ox]);
  }
  return out;
}

std::mt19937_64 image_rng(uint64_t seed, size_t position, uint64_t stream) {
  // SplitMix64 (Steele, Lea & Flood 2014) over the three numbers, so neighbouring positions and
  // seeds give unrelated streams.
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return std::mt19937_64(mix(mix(mix(seed) ^ position) ^ stream));
}

double pearson(const std::vector<double>& a, const std::vector<double>& b) {
  const size_t n = std::min(a.size(), b.size());
  if (n < 2) return std::numeric_limits<double>::quiet_NaN();
  double ma = 0, mb = 0;
  for (size_t i = 0; i < n; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= n;
  mb /= n;
  double sab = 0, saa = 0, sbb = 0;
  for (size_t i = 0; i < n; ++i) {
    sab += (a[i] - ma) * (b[i] - mb);
    saa += (a[i] - ma) * (a[i] - ma);
    sbb += (b[i] - mb) * (b[i] - mb);
  }
  if (saa == 0 || sbb == 0) return std::numeric_limits<double>::quiet_NaN();
  return sab / std::sqrt(saa * sbb);
}

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (size_t i = 0; i < order.size();) {
    size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    const double mean_rank = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t t = i; t <= j; ++t) r[order[t]] = mean_rank;
    i = j + 1;
  }
  return r;
}

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  return pearson(ranks(a), ranks(b));
}

double trapezoid_area(const std::vector<double>& y) {
  double area = 0;
  for (size_t i = 1; i < y.size(); ++i) area += (y[i - 1] + y[i]) / 2;
  return area;
}

}  // namespace bagnet::experiments
