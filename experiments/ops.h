#pragma once
// The image operations and statistics of the similarity experiments (Brendel & Bethge, ICLR 2019,
// section 5): choosing q x q patches from a BagNet's exact map or at random, masking them,
// scrambling tiles, sampling pairs of patches, and the correlations that compare models. Pure
// functions on plain vectors (normalised CHW float32 images, C-order maps); no torch here.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace bagnet::experiments {

// A q x q patch centred on pixel (y, x): rows y - (q-1)/2 .. y + (q-1)/2, clipped to the image
// (the exact map's definition, heatmaps/dense.h: patches of the zero-padded image).
struct Patch {
  int y = 0, x = 0;
  bool operator==(const Patch& o) const { return y == o.y && x == o.x; }
};

// Two q x q patches share a pixel exactly when their centres are closer than q in both directions.
bool patches_overlap(const Patch& a, const Patch& b, int q);

// The most q x q patches that can lie in an h x w image without overlapping (centres inside
// the image): ceil(h/q) * ceil(w/q) bounds every selection, and a grid of that many fits.
int patch_capacity(int h, int w, int q);

// Greedy selection from the top of a map (h x w, one value per patch centre): the largest value
// first (ties: lower row-major index), then each next largest that overlaps none chosen, until
// `k` are chosen or none fits. Returns fewer than k when the map holds fewer.
std::vector<Patch> greedy_patches(const std::vector<float>& map, int h, int w, int q, int k);

// `k` random non-overlapping patches (centres uniform over the image, drawn until one fits, at
// most 1000 k draws); fewer when they do not fit.
std::vector<Patch> random_patches(std::mt19937_64& rng, int h, int w, int q, int k);

// Sets the patches' pixels to 0 in every channel of a normalised CHW image: the dataset's mean
// colour (as in the paper's masking and the dense maps' padding). Returns the pixels masked.
size_t mask_patches(std::vector<float>& chw, int channels, int h, int w, const std::vector<Patch>& patches,
                    int q);

// A pair of non-overlapping patches whose centres are `distance` pixels apart (Chebyshev:
// max(|dy|, |dx|) == distance, distance >= q): the first centre uniform over the image, the
// second uniform over the image's pixels at that distance. false when no pair fits after 1000 tries.
bool random_pair(std::mt19937_64& rng, int h, int w, int q, int distance, Patch* a, Patch* b);

// The tile permutation of a g x g scramble: tiles are (h/g) x (w/g) pixels (integer division;
// the rows and columns beyond g tiles stay in place), numbered row-major; out tile t shows
// in tile perm[t]. A seeded Fisher-Yates shuffle.
std::vector<int> tile_permutation(std::mt19937_64& rng, int g);
// Applies `perm` to a CHW image: the result is a permutation of the input's pixels.
std::vector<float> scramble_tiles(const std::vector<float>& chw, int channels, int h, int w, int g,
                                  const std::vector<int>& perm);

// Reproducible per-image random streams: the same (seed, position, stream) gives the same
// numbers in a whole run, a shard or a resumed run (SplitMix64 mixing).
std::mt19937_64 image_rng(uint64_t seed, size_t position, uint64_t stream);

// Pearson's r; NaN when fewer than 2 values or a constant input.
double pearson(const std::vector<double>& a, const std::vector<double>& b);
// Spearman's rho: Pearson's r of the ranks, ties given their mean rank.
double spearman(const std::vector<double>& a, const std::vector<double>& b);
// Ranks 1..n, ties averaged.
std::vector<double> ranks(const std::vector<double>& v);

// The area under a curve sampled at 0, 1, 2, ... (trapezoids, unit spacing).
double trapezoid_area(const std::vector<double>& y);

}  // namespace bagnet::experiments
