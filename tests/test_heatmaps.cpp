// Class-evidence maps: the dense method against the per-patch reference (the definition), on
// random-weight BagNet-9/17/33 made at test time by tests/python/make_fixtures.py.
#include "heatmaps/dense.h"
#include "heatmaps/patches.h"
#include "lib/error.h"
#include "lib/runtime.h"
#include "networks/model.h"
#include "test_helpers.h"

using namespace bagnet;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::relative_max_diff;

namespace {

// Of the largest |logit|. These random networks amplify float32 rounding: PyTorch itself
// differs by ~3e-5 of the scale between thread counts; the two methods sum in different orders
// (whole image vs 33 x 33 crops, batched differently). A wrong offset, crop or phase gives
// differences of order 1.
constexpr double kTolerance = 2e-4;

struct Net {
  LoadedModel model;
  BagNetImpl& bagnet() { return dynamic_cast<BagNetImpl&>(*model.net); }
};

Net load_bagnet(int q) {
  // The tools' runtime set-up (malloc thresholds, all cores): without it large activations are
  // page-faulted in on every pass and the per-patch reference takes minutes.
  static const bool runtime_ready = (init_runtime(0), true);
  (void)runtime_ready;
  const std::string name = "bagnet" + std::to_string(q);
  return {load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU))};
}

// One 45 x 61 (non-square) random image of the fixture set.
torch::Tensor input_ns(int q) {
  const auto x = io_tensor(load_state_dict(fixture("bagnet" + std::to_string(q) + "_io.pt")), "x_ns");
  REQUIRE(x.size(2) == 45);
  REQUIRE(x.size(3) == 61);
  return x.slice(0, 0, 1).contiguous();
}

heatmaps::DenseOptions dense_options(int64_t stride, int64_t tile = 0) {
  heatmaps::DenseOptions o;
  o.stride = stride;
  o.tile = tile;
  return o;
}

}  // namespace

TEST_CASE("Dense maps equal the per-patch reference at every stride", "[heatmaps][dense]") {
  torch::NoGradGuard ng;
  for (int q : {9, 17, 33}) {
    DYNAMIC_SECTION("bagnet" << q) {
      auto net = load_bagnet(q);
      const auto x = input_ns(q);
      for (int64_t s : {8, 4, 2, 1}) {
        const auto dense = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s));
        const auto ref = heatmaps::patch_logit_maps(net.bagnet(), x, s, {}, 512);
        REQUIRE(dense.sizes() == torch::IntArrayRef({1, 1000, (45 + s - 1) / s, (61 + s - 1) / s}));
        const double d = relative_max_diff(dense, ref);
        INFO("bagnet" << q << " stride " << s << ": dense vs patches rel diff " << d << " (scale "
                      << ref.abs().max().item<double>() << ")");
        CHECK(d < kTolerance);
      }
    }
  }
}

TEST_CASE("Stride-s maps are subsamples of the stride-1 map; stride 8 is the network's own map",
          "[heatmaps][dense]") {
  torch::NoGradGuard ng;
  for (int q : {9, 17, 33}) {
    DYNAMIC_SECTION("bagnet" << q) {
      auto net = load_bagnet(q);
      const auto x = input_ns(q);
      const auto full = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(1));
      for (int64_t s : {8, 4, 2}) {
        const auto map = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s));
        const auto sub = full.slice(2, 0, full.size(2), s).slice(3, 0, full.size(3), s);
        const double d = relative_max_diff(map, sub);
        INFO("bagnet" << q << " stride " << s << " vs stride 1 subsampled: rel diff " << d);
        CHECK(d < kTolerance);
      }
      // The stride-8 map is the network's logit map of the zero-padded image ...
      const auto own = net.model.net->logit_map(heatmaps::pad_for_patches(x, q));
      const auto map8 = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(8));
      REQUIRE(own.sizes() == map8.sizes());
      const double d8 = relative_max_diff(map8, own);
      // ... and the mean of the network's own map of the unpadded image is its pooled logits
      // (the BagNet's defining property: logits are the average of the patch logits).
      const double dmean =
          relative_max_diff(net.model.net->logit_map(x).mean({2, 3}), net.model.net->forward(x));
      INFO("stride 8 vs logit_map(padded) " << d8 << ", mean of map vs pooled " << dmean);
      CHECK(d8 < kTolerance);
      CHECK(dmean < kTolerance);
      // Padding must matter, or the test above could not fail: the unpadded map has fewer entries.
      CHECK(net.model.net->logit_map(x).size(2) < map8.size(2));
    }
  }
}

TEST_CASE("Tiled maps equal untiled maps; class selection equals slicing all classes", "[heatmaps][dense]") {
  torch::NoGradGuard ng;
  for (int q : {9, 33}) {
    DYNAMIC_SECTION("bagnet" << q) {
      auto net = load_bagnet(q);
      // Two images at stride 8, so that the batch dimension is exercised too; one below.
      const auto x2 = io_tensor(load_state_dict(fixture("bagnet" + std::to_string(q) + "_io.pt")), "x_ns")
                          .slice(0, 0, 2)
                          .contiguous();
      const auto classes = torch::tensor({999, 0, 417, 0}, torch::kLong);
      // Tiles of 16 or 24 pixels on a 45 x 61 image: several tiles per side, partial ones at the
      // bottom/right (tiles are given in map positions).
      for (auto [s, tile] : {std::pair<int64_t, int64_t>{8, 2}, {2, 8}, {1, 24}}) {
        const auto x = s == 8 ? x2 : x2.slice(0, 0, 1);
        const auto whole = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s, 0), classes);
        const auto tiled = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s, tile), classes);
        const double d = relative_max_diff(tiled, whole);
        INFO("bagnet" << q << " stride " << s << " tile " << tile << ": rel diff " << d);
        CHECK(d < kTolerance);
        if (s == 1) continue;  // class selection: once per network is enough
        // Selected classes (with a repeat) against all classes.
        const auto all = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s, 0));
        const double dc = relative_max_diff(whole, all.index_select(1, classes));
        INFO("selected classes: rel diff " << dc);
        CHECK(dc < kTolerance);
      }
    }
  }
}

TEST_CASE("Strides the network cannot produce are refused", "[heatmaps][errors]") {
  auto net = load_bagnet(9);
  for (int64_t s : {3, 16, 0}) CHECK_THROWS_AS(heatmaps::check_stride(net.bagnet(), s), Error);
  for (int64_t s : {8, 4, 2, 1}) CHECK_NOTHROW(heatmaps::check_stride(net.bagnet(), s));
}
