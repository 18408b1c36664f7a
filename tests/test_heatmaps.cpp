// Class-evidence maps: the dense method against the per-patch reference (the definition), on
// random-weight BagNet-9/17/33 made at test time by tests/python/make_fixtures.py.
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "datasets/loader.h"
#include "figures/map_figure.h"
#include "heatmaps/dense.h"
#include "heatmaps/heatmap.h"
#include "heatmaps/patches.h"
#include "heatmaps/render.h"
#include "lib/error.h"
#include "lib/npy.h"
#include "lib/runtime.h"
#include "networks/model.h"
#include "test_helpers.h"
#include "tool_helpers.h"

using namespace bagnet;
using namespace bagnet::test;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::relative_max_diff;

namespace fs = std::filesystem;

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

heatmaps::DenseOptions dense_options(int64_t stride, int64_t tile = 0,
                                     const std::string& algorithm = "phases") {
  heatmaps::DenseOptions o;
  o.stride = stride;
  o.tile = tile;
  o.algorithm = algorithm;
  return o;
}

Run run_heatmap(const std::string& args) { return run_tool("bagnet-heatmap -q " + args); }

}  // namespace

TEST_CASE("Dense maps equal the per-patch reference at every stride", "[heatmaps][dense]") {
  torch::NoGradGuard ng;
  for (int q : {9, 17, 33}) {
    DYNAMIC_SECTION("bagnet" << q) {
      auto net = load_bagnet(q);
      const auto x = input_ns(q);
      for (int64_t s : {8, 4, 2, 1}) {
        const auto ref = heatmaps::patch_logit_maps(net.bagnet(), x, s, {}, 512);
        for (const std::string algorithm : {"phases", "atrous"}) {
          const auto dense = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s, 0, algorithm));
          REQUIRE(dense.sizes() == torch::IntArrayRef({1, 1000, (45 + s - 1) / s, (61 + s - 1) / s}));
          const double d = relative_max_diff(dense, ref);
          INFO("bagnet" << q << " stride " << s << " " << algorithm << ": dense vs patches rel diff " << d
                        << " (scale " << ref.abs().max().item<double>() << ")");
          CHECK(d < kTolerance);
          if (algorithm == "atrous" && (s == 1 || s == 4)) {
            // Tiles of 20 positions: for s = 1 not a multiple of 8, so tiles start off the network's grid.
            const auto tiled = heatmaps::dense_logit_maps(net.bagnet(), x, dense_options(s, 20, algorithm));
            CHECK(relative_max_diff(tiled, ref) < kTolerance);
          }
        }
      }
    }
  }
}

TEST_CASE("Dense maps of the folded network (what the tools run) equal the unfolded per-patch reference",
          "[heatmaps][dense][fold]") {
  torch::NoGradGuard ng;
  // Strides and networks chosen so that the per-patch reference stays cheap.
  for (auto [q, s] : {std::pair<int, int64_t>{9, 1}, {9, 8}, {17, 2}, {33, 8}, {33, 4}, {33, 1}}) {
    DYNAMIC_SECTION("bagnet" << q << " stride " << s) {
      auto plain = load_bagnet(q);
      const std::string name = "bagnet" + std::to_string(q);
      Net folded{load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU), true)};
      REQUIRE(folded.model.net->folded());
      const auto x = input_ns(q);
      const auto classes = torch::tensor({3, 500}, torch::kLong);
      const auto ref = heatmaps::patch_logit_maps(plain.bagnet(), x, s, classes, 512);
      OneDnnForward engine(folded.model.net);
      for (int64_t tile : {0, 7}) {
        for (const std::string algorithm : {"phases", "atrous", "atrous-onednn"}) {
          auto o = dense_options(s, tile, algorithm == "phases" ? "phases" : "atrous");
          if (algorithm == "atrous-onednn") o.engine = &engine;  // what bagnet-heatmap runs by default
          const auto dense = heatmaps::dense_logit_maps(folded.bagnet(), x, o, classes);
          const double d = relative_max_diff(dense, ref);
          INFO(name << " stride " << s << " tile " << tile << " " << algorithm
                    << ": folded dense vs unfolded patches " << d);
          CHECK(d < kTolerance);
        }
      }
    }
  }
}

TEST_CASE("bf16 dense maps of the trained embedded BagNet are within bf16 rounding of the per-patch maps",
          "[heatmaps][dense][bf16]") {
  torch::NoGradGuard ng;
  // A trained network: random ones amplify rounding (their bf16 maps are off by 0.1-0.5 of the
  // scale), trained ones do not. Input larger than Fashion-MNIST's 28x28, non-square.
  const ModelSpec& spec = find_model("bagnet11_fashion_mnist");
  Net plain{load_model(spec, "", c10::Device(c10::kCPU))};
  Net folded{load_model(spec, "", c10::Device(c10::kCPU), true)};
  torch::manual_seed(5);
  const auto x = torch::randn({1, spec.in_channels, 40, 35});
  const auto ref = heatmaps::patch_logit_maps(plain.bagnet(), x, 1, torch::arange(spec.num_classes), 512);
  OneDnnForward fp32(folded.model.net);
  auto o = dense_options(1, 0, "atrous");
  o.engine = &fp32;
  const double d32 = relative_max_diff(heatmaps::dense_logit_maps(folded.bagnet(), x, o), ref);
  CHECK(d32 < kTolerance);
  const auto bf16 = bf16_engine_or_warn(folded.model.net);
  if (!bf16) return;
  o.engine = bf16.get();
  const double d16 = relative_max_diff(heatmaps::dense_logit_maps(folded.bagnet(), x, o), ref);
  INFO("dense stride-1 maps vs the per-patch maps: bf16 " << d16 << ", fp32 " << d32);
  CHECK(d16 < kBf16Tolerance);
  CHECK(d16 > 10 * d32);  // the option took effect
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

TEST_CASE(".npy files round-trip through numpy", "[heatmaps][npy]") {
  const fs::path d = scratch_dir("npy");
  std::vector<float> v(2 * 3 * 5);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) * 0.37f - 2.0f;
  v[7] = -0.0f;
  v[11] = 3.4e38f;
  bagnet::write_npy((d / "k.npy").string(), v.data(), {2, 3, 5});
  bagnet::write_npy((d / "hw.npy").string(), v.data(), {6, 5});
  // numpy reads them (shape, dtype, C order, every bit), and writes one back for our reader.
  const std::string script =
      "import sys, numpy as np\n"
      "d = sys.argv[1]\n"
      "a = np.load(d + '/k.npy'); b = np.load(d + '/hw.npy')\n"
      "assert a.dtype == np.float32 and a.shape == (2, 3, 5) and a.flags.c_contiguous, (a.dtype, a.shape)\n"
      "assert b.shape == (6, 5) and (b.ravel() == a.ravel()).all()\n"
      "open(d + '/k.raw', 'wb').write(a.tobytes())\n"
      "np.save(d + '/back.npy', (a * 2).astype(np.float32))\n";
  std::ofstream(d / "check.py") << script;
  const auto r = run_command(std::string(BAGNET_PYTHON) + " " + (d / "check.py").string() + " " + d.string());
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(read_file(d / "k.raw") == std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
  const auto back = bagnet::read_npy((d / "back.npy").string());
  CHECK(back.shape == std::vector<int64_t>{2, 3, 5});
  REQUIRE(back.data.size() == v.size());
  for (size_t i = 0; i < v.size(); ++i) CHECK(back.data[i] == v[i] * 2);
  // Truncated files are refused by name.
  const std::string bytes = read_file(d / "k.npy");
  std::ofstream(d / "short.npy", std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  CHECK_THROWS_WITH(bagnet::read_npy((d / "short.npy").string()), Catch::Contains("short.npy: "));
  fs::remove_all(d);
}

TEST_CASE("Renderings: RdBu_r from ColorBrewer's control points, numpy's percentile, deterministic bytes",
          "[heatmaps][render]") {
  const auto& cm = figures::colormap("RdBu_r");
  // Ends of matplotlib's RdBu_r: ColorBrewer RdBu's last and first colours (#053061, #67001f).
  CHECK(cm.lut[0] == std::array<std::uint8_t, 3>{5, 48, 97});
  CHECK(cm.lut[255] == std::array<std::uint8_t, 3>{103, 0, 31});
  // Normalize(-clip, clip): beyond the limits saturates, 0 is the centre of the table.
  CHECK(cm.color(5.0f, 1.0) == cm.lut[255]);
  CHECK(cm.color(-5.0f, 1.0) == cm.lut[0]);
  CHECK(cm.color(0.0f, 1.0) == cm.lut[128]);
  CHECK(figures::colormap("RdBu").lut[0] == cm.lut[255]);
  CHECK_THROWS_AS(figures::colormap("jet"), Error);
  // numpy.percentile(abs(1..100), 99) = 99.01 (linear between order statistics 99 and 100).
  std::vector<float> ramp(100);
  for (int i = 0; i < 100; ++i) ramp[i] = (i % 2 ? -1.0f : 1.0f) * static_cast<float>(i + 1);
  CHECK(figures::abs_percentile(ramp.data(), ramp.size(), 99) == Approx(99.01));
  CHECK(figures::abs_percentile(ramp.data(), ramp.size(), 100) == 100);

  // A 4 x 5 map at stride 8 on a 30 x 40 image: pixel (y, x) shows the entry centred nearest.
  Image img;
  img.height = 30;
  img.width = 40;
  img.rgb.assign(30 * 40 * 3, 0);
  for (size_t i = 0; i < img.rgb.size(); ++i) img.rgb[i] = static_cast<std::uint8_t>((i * 7) % 251);
  std::vector<float> map(4 * 5, 0.0f);
  map[1 * 5 + 2] = 2.0f;   // centred on pixel (8, 16)
  map[3 * 5 + 4] = -2.0f;  // centred on pixel (24, 32)
  heatmaps::RenderOptions o;
  o.colorbar = false;
  o.min_height = 0;  // native size
  const auto fig = heatmaps::render_figure(nullptr, img, {map.data()}, 4, 5, 8, 1.0, o);
  REQUIRE(fig.width == 40);
  REQUIRE(fig.height == 30);
  auto px = [&](int y, int x) {
    const size_t at = (static_cast<size_t>(y) * fig.width + x) * 3;
    return std::array<std::uint8_t, 3>{fig.rgb[at], fig.rgb[at + 1], fig.rgb[at + 2]};
  };
  CHECK(px(8, 16) == cm.lut[255]);
  CHECK(px(4, 12) == cm.lut[255]);  // rows 4..11 and columns 12..19 belong to entry (1, 2)
  CHECK(px(3, 16) == cm.lut[128]);  // row 3 is nearer to row 0
  CHECK(px(29, 39) == cm.lut[0]);   // the last entry covers the bottom-right corner
  CHECK(px(0, 0) == cm.lut[128]);
  // Small images are enlarged by an integer factor (30 px -> 4x = 120 >= 100), pixels as blocks:
  // enlarged pixel (y, x) shows what native pixel (y / 4, x / 4) shows.
  o.min_height = 100;
  const auto big = heatmaps::render_figure(nullptr, img, {map.data()}, 4, 5, 8, 1.0, o);
  REQUIRE(big.height == 120);
  REQUIRE(big.width == 160);
  for (int y = 0; y < 120; y += 3)
    for (int x = 0; x < 160; x += 5) {
      const size_t at = (static_cast<size_t>(y) * big.width + x) * 3;
      REQUIRE(std::array<std::uint8_t, 3>{big.rgb[at], big.rgb[at + 1], big.rgb[at + 2]} == px(y / 4, x / 4));
    }
  // Same input, same bytes; with edges, colour bar and the image panel too.
  o.colorbar = true;
  o.edges = true;
  const auto a =
      heatmaps::encode_png(heatmaps::render_figure(&img, img, {map.data(), map.data()}, 4, 5, 8, 1.0, o));
  const auto b =
      heatmaps::encode_png(heatmaps::render_figure(&img, img, {map.data(), map.data()}, 4, 5, 8, 1.0, o));
  CHECK(a == b);
  CHECK(a.compare(1, 3, "PNG") == 0);
}

TEST_CASE("bagnet-heatmap: .npy maps equal the per-patch reference of the preprocessed image",
          "[heatmaps][cli]") {
  const fs::path d = scratch_dir("pipeline");
  const std::string image = std::string(FIXTURE_DIR) + "/images/stim224.png";
  const auto r = run_heatmap("--model bagnet9 --weights " + fixture("bagnet9.pt") +
                             " --no-resize --stride 4 --class 3 --class n01440764 --no-png -o " + d.string() +
                             " " + image);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto npy = bagnet::read_npy((d / "stim224.npy").string());
  REQUIRE(npy.shape == std::vector<int64_t>{2, 56, 56});
  const auto side = nlohmann::json::parse(read_file(d / "stim224.json"));
  CHECK(side["classes"][0]["index"] == 3);
  CHECK(side["classes"][1]["index"] == 0);  // n01440764 = tench
  CHECK(side["stride"] == 4);
  CHECK(side["model"]["weights"]["sha256"].get<std::string>().size() == 64);
  CHECK(side["provenance"].contains("git_commit"));

  auto net = load_bagnet(9);
  Preprocessing no_resize = net.model.spec.preprocessing;
  no_resize.resize = no_resize.crop = 0;
  const auto item = load_and_preprocess(image, no_resize, kDefaultMaxPixels);
  REQUIRE(item.error.empty());
  const auto x = torch::from_blob(const_cast<float*>(item.chw.data()), {1, 3, 224, 224}).clone();
  const auto ref = heatmaps::patch_logit_maps(net.bagnet(), x, 4, torch::tensor({3, 0}, torch::kLong))[0];
  const auto got = torch::from_blob(const_cast<float*>(npy.data.data()), {2, 56, 56}).clone();
  const double diff = relative_max_diff(got, ref);
  INFO("CLI map vs per-patch reference: rel diff " << diff);
  CHECK(diff < kTolerance);
  fs::remove_all(d);
}

TEST_CASE("bagnet-heatmap: resuming after an interrupted run gives the files of an uninterrupted run",
          "[heatmaps][cli]") {
  const fs::path d = scratch_dir("resume");
  const fs::path in = d / "in";
  fs::create_directories(in / "sub");
  const std::string images = std::string(FIXTURE_DIR) + "/images/";
  fs::copy_file(images + "c.png", in / "c.png");
  fs::copy_file(images + "stim224.png", in / "sub" / "stim224.png");
  fs::copy_file(images + "a.png", in / "sub" / "a.png");
  const std::string common =
      "--model bagnet9 --weights " + fixture("bagnet9.pt") + " --stride 8 --top 2 --panel ";
  const auto whole = run_heatmap(common + "-o " + (d / "whole").string() + " " + in.string());
  INFO(whole.err);
  REQUIRE(whole.status == 0);
  // Outputs mirror the input tree.
  for (const char* f : {"c.npy", "c.json", "sub/a.npy", "sub/stim224.npy", "sub/stim224_panel.png"})
    CHECK(fs::exists(d / "whole" / f));
  // An interrupted run: one shard finished, one image of another half-written (no sidecar, the
  // way a kill between writes leaves it), then the whole list again without --overwrite.
  const fs::path part = d / "part";
  REQUIRE(run_heatmap(common + "--shard 0/2 -o " + part.string() + " " + in.string()).status == 0);
  CHECK(fs::exists(part / "c.json"));
  CHECK(!fs::exists(part / "sub" / "a.json"));
  std::ofstream(part / "sub" / "a.npy") << "garbage from a killed run";
  const auto resumed = run_heatmap(common + "-o " + part.string() + " " + in.string());
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.err.find("2 already done") != std::string::npos);
  for (const auto& e : fs::recursive_directory_iterator(d / "whole")) {
    if (!e.is_regular_file() || e.path().extension() == ".json") continue;  // sidecars carry the time
    const auto rel = e.path().lexically_relative(d / "whole");
    INFO(rel.string());
    CHECK(read_file(e.path()) == read_file(part / rel));
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-heatmap: figures and sidecars name each map's class, pooled logit, probability and rank",
          "[heatmaps][cli]") {
  const fs::path d = scratch_dir("titles");
  const std::string image = std::string(FIXTURE_DIR) + "/images/c.png";
  const auto r = run_heatmap("--model bagnet9 --weights " + fixture("bagnet9.pt") +
                             " --stride 8 --top 2 --panel --caption -o " + d.string() + " " + image);
  INFO(r.err);
  REQUIRE(r.status == 0);
  std::ifstream in(d / "c.json");
  const auto side = nlohmann::json::parse(in);
  const auto& classes = side.at("classes");
  REQUIRE(classes.size() == 2);
  const auto& top = side.at("top");
  for (int i = 0; i < 2; ++i) {
    INFO("class " << i);
    CHECK(classes[i].at("index") == top[i].at("index"));
    CHECK(classes[i].at("pooled_logit").get<double>() == Approx(top[i].at("logit").get<double>()));
    CHECK(classes[i].at("rank") == i + 1);
    CHECK(classes[i].at("probability").get<double>() > 0);
  }
  CHECK(classes[0].at("probability").get<double>() >= classes[1].at("probability").get<double>());
  CHECK(side.at("rendering").at("colorbar") == "patch logit, +-clip");
  CHECK(side.at("rendering").at("caption").get<std::string>().find("bagnet9, weights ") == 0);
  // The figures are taller and wider than the bare pixels: titles above, a colour bar beside.
  const auto panel = load_image((d / "c_panel.png").string());
  const auto single =
      load_image((d / ("c_" + std::to_string(top[0].at("index").get<int>()) + ".png")).string());
  const int h = side.at("input_size")[0], w = side.at("input_size")[1];
  CHECK(single.height > h + 2 * 14);
  CHECK(single.width > w + 12);
  CHECK(panel.width > 3 * w);
  fs::remove_all(d);
}

TEST_CASE("bagnet-heatmap: unknown classes are usage errors with near matches; bad images are skipped",
          "[heatmaps][cli][errors]") {
  const fs::path d = scratch_dir("errors");
  const std::string weights = " --model bagnet9 --weights " + fixture("bagnet9.pt");
  const std::string image = std::string(FIXTURE_DIR) + "/images/c.png";
  const auto r = run_heatmap(weights + " --class 'golden retreiver' -o " + d.string() + " " + image);
  INFO(r.err);
  CHECK(r.status == 2);
  CHECK(r.err.find("golden retreiver") != std::string::npos);
  CHECK(r.err.find("did you mean 'golden retriever'") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK(!fs::exists(d / "c.npy"));

  const fs::path in = d / "in";
  fs::create_directories(in);
  fs::copy_file(image, in / "good.png");
  std::ofstream(in / "text.jpg") << "this is not an image\n";
  std::ofstream(in / "empty.png") << "";
  const auto b = run_heatmap(weights + " --stride 8 -o " + (d / "out").string() + " " + in.string());
  INFO(b.err);
  CHECK(b.status == 1);
  CHECK(fs::exists(d / "out" / "good.npy"));
  CHECK(fs::exists(d / "out" / "good.json"));
  for (const char* bad : {"text", "empty"}) {
    INFO(bad);
    CHECK(!fs::exists(d / "out" / (std::string(bad) + ".npy")));
    bool named = false;
    std::istringstream lines(b.err);
    for (std::string line; std::getline(lines, line);)
      named |= line.find(std::string(bad) + ".") != std::string::npos && line.find(": ") != std::string::npos;
    CHECK(named);
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-patches: the top patches are the largest entries of bagnet-heatmap's maps",
          "[heatmaps][cli]") {
  const fs::path d = scratch_dir("patches");
  const std::string weights = " --model bagnet9 --weights " + fixture("bagnet9.pt");
  const std::string images = std::string(FIXTURE_DIR) + "/images";
  // The maps, by the other tool.
  auto r = run_heatmap(weights + " --stride 8 --class 5 --no-png -o " + (d / "maps").string() + " " + images);
  INFO(r.err);
  REQUIRE(r.status == 0);
  r = run_command(std::string(BAGNET_BIN_DIR) + "/bagnet-patches -q" + weights +
                  " --class 5 --top 6 --per-image 2 -o " + d.string() + " " + images);
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto doc = nlohmann::json::parse(read_file(d / "patches_5.json"));
  REQUIRE(doc["patches"].size() == 6);
  // Expected by hand: every image's two largest map entries, then the six largest of those.
  std::vector<std::pair<float, std::string>> candidates;
  for (const auto& entry : fs::directory_iterator(d / "maps")) {
    if (entry.path().extension() != ".npy") continue;
    auto npy = bagnet::read_npy(entry.path().string());
    std::vector<float> v = npy.data;
    std::sort(v.rbegin(), v.rend());
    for (int k = 0; k < 2; ++k) candidates.emplace_back(v[k], entry.path().stem().string());
  }
  std::sort(candidates.rbegin(), candidates.rend());
  for (size_t k = 0; k < 6; ++k) {
    INFO("rank " << k + 1);
    const auto& p = doc["patches"][k];
    CHECK(p["logit"].get<float>() == Approx(candidates[k].first).epsilon(1e-5));
    CHECK(fs::path(p["image"].get<std::string>()).stem() == candidates[k].second);
    // Position and map index agree with the stride.
    CHECK(p["y"].get<int>() == 8 * p["map_index"][0].get<int>());
    CHECK(p["x"].get<int>() == 8 * p["map_index"][1].get<int>());
  }
  // The grid: 6 patches of 9 px enlarged to 72 px, 3 columns x 2 rows, each titled with rank,
  // logit and image, under a title naming the class and model.
  const Image grid = load_image((d / "patches_5.png").string());
  figures::MapFigure f;
  const Labels& labels = load_labels("imagenet");
  f.title = "Most predictive patches of " + labels.name(5) + " (" + labels.wnid(5) + "), bagnet9";
  f.colorbar = false;
  f.columns = 3;
  Image tile;
  tile.width = tile.height = 72;
  tile.rgb.assign(72 * 72 * 3, 0);
  for (int k = 0; k < 6; ++k) f.panels.push_back({tile, {"#1", "image"}});
  const auto layout = figures::map_figure_layout(f);
  CHECK(grid.width == layout.width);
  CHECK(grid.height == layout.height);
  CHECK(layout.panel_top[3] > layout.panel_top[0] + 72 + 2 * 14);  // the second row, below its titles
  CHECK(layout.panel_left[2] >= layout.panel_left[1] + 72);
  // An unknown class is a usage error.
  r = run_command(std::string(BAGNET_BIN_DIR) + "/bagnet-patches -q" + weights +
                  " --class 'golden retreiver' -o " + d.string() + " " + images);
  CHECK(r.status == 2);
  CHECK(r.err.find("golden retriever") != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("Colormaps are byte-identical to matplotlib's", "[heatmaps][render][python]") {
  const fs::path d = scratch_dir("cmap");
  std::ofstream out(d / "lut.txt");
  for (const auto& name : figures::colormap_names())
    for (const auto& e : figures::colormap(name).lut)
      out << name << " " << int(e[0]) << " " << int(e[1]) << " " << int(e[2]) << "\n";
  out.close();
  const std::string script =
      "import sys, numpy as np, matplotlib\n"
      "ours = {}\n"
      "for line in open(sys.argv[1]):\n"
      "    n, r, g, b = line.split(); ours.setdefault(n, []).append((int(r), int(g), int(b)))\n"
      "bad = [n for n in ours if (np.array(ours[n]) != matplotlib.colormaps[n](np.arange(256), "
      "bytes=True)[:, :3]).any()]\n"
      "print('differ:', bad, file=sys.stderr); sys.exit(1 if bad else 0)\n";
  std::ofstream(d / "check.py") << script;
  const auto r = run_command(std::string(BAGNET_PYTHON) + " " + (d / "check.py").string() + " " +
                             (d / "lut.txt").string());
  INFO(r.err << "(needs python3-matplotlib, installed by scripts/setup.sh)");
  CHECK(r.status == 0);
  fs::remove_all(d);
}

TEST_CASE("Batched maps and logits equal the single-image ones", "[heatmaps][batch]") {
  // Four images of one size in one pass, as bagnet-heatmap --batch-size computes them.
  ModelRequest request;
  request.model = "bagnet9";
  request.weights = fixture("bagnet9.pt");
  request.device = "cpu";
  heatmaps::HeatmapModel model(request);
  torch::manual_seed(7);
  std::vector<std::vector<float>> images;
  for (int i = 0; i < 4; ++i) {
    const auto x = torch::randn({3, 37, 29});
    images.emplace_back(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  }
  std::vector<const std::vector<float>*> batch;
  for (const auto& im : images) batch.push_back(&im);
  heatmaps::MapOptions o;
  o.stride = 1;
  const std::vector<std::vector<int>> classes{{5, 3}, {3}, {}, {999, 5}};
  const auto maps = model.maps(batch, 37, 29, classes, o);
  const auto logits = model.classify(batch, 37, 29);
  REQUIRE(maps.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    INFO("image " << i);
    const auto single = model.maps(images[i], 37, 29, classes[i], o);
    CHECK(maps[i].classes == single.classes);
    CHECK(maps[i].rows == 37);
    CHECK(maps[i].cols == 29);
    REQUIRE(maps[i].data.size() == single.data.size());
    const auto a = torch::tensor(maps[i].data), b = torch::tensor(single.data);
    CHECK(relative_max_diff(a, b) < kTolerance);
    const auto la = torch::tensor(logits[i]), lb = torch::tensor(model.classify(images[i], 37, 29));
    CHECK(relative_max_diff(la, lb) < kTolerance);
  }
  // The batch's maps are those of each image's own classes: image 2 (all classes) holds class 5's
  // map at row 5, which image 0 holds at row 0.
  const size_t plane = 37 * 29;
  CHECK(relative_max_diff(torch::tensor(std::vector<float>(maps[2].data.begin() + 5 * plane,
                                                           maps[2].data.begin() + 6 * plane)),
                          torch::tensor(model.maps(images[2], 37, 29, {5}, o).data)) < kTolerance);
}

TEST_CASE("bagnet-heatmap --batch-size: shards and resumed runs give the files of a whole batched run",
          "[heatmaps][cli][batch]") {
  const fs::path d = scratch_dir("batch");
  const fs::path in = d / "in";
  fs::create_directories(in);
  // Ten 28x28 Fashion-MNIST images: blocks of 4 (4, 4, 2), two shards.
  size_t n = 0;
  for (const auto& e :
       fs::recursive_directory_iterator(fs::path(BAGNET_SOURCE_DIR) / "examples/fashion-mnist"))
    if (e.is_regular_file() && n < 10) fs::copy_file(e.path(), in / ("img" + std::to_string(n++) + ".png"));
  REQUIRE(n == 10);
  const std::string common = "--model bagnet11_fashion_mnist --stride 1 --top 2 --panel ";
  const auto single = run_heatmap(common + "-o " + (d / "single").string() + " " + in.string());
  const auto whole = run_heatmap(common + "-b 4 -o " + (d / "whole").string() + " " + in.string());
  INFO(whole.err);
  REQUIRE(single.status == 0);
  REQUIRE(whole.status == 0);
  CHECK(whole.err.find("batches of up to 4") != std::string::npos);
  // Shard 1/2 is the middle block (images 4-7), then the whole list resumes into that folder after
  // one finished image of the middle block lost its sidecar (its block is recomputed).
  const fs::path part = d / "part";
  REQUIRE(run_heatmap(common + "-b 4 --shard 1/2 -o " + part.string() + " " + in.string()).status == 0);
  for (int i = 0; i < 10; ++i)
    CHECK(fs::exists(part / ("img" + std::to_string(i) + ".json")) == (i >= 4 && i < 8));
  fs::remove(part / "img5.json");
  const auto resumed = run_heatmap(common + "-b 4 -o " + part.string() + " " + in.string());
  INFO(resumed.err);
  REQUIRE(resumed.status == 0);
  CHECK(resumed.err.find("3 already done") != std::string::npos);
  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(d / "whole")) {
    if (e.path().extension() == ".json") continue;  // sidecars carry the time
    INFO(e.path().filename().string());
    CHECK(read_file(e.path()) == read_file(part / e.path().filename()));
    ++compared;
    if (e.path().extension() != ".npy") continue;
    // Batched maps equal one-at-a-time maps up to float rounding.
    const auto a = bagnet::read_npy(e.path().string());
    const auto b = bagnet::read_npy((d / "single" / e.path().filename()).string());
    REQUIRE(a.shape == b.shape);
    CHECK(relative_max_diff(torch::tensor(a.data), torch::tensor(b.data)) < kTolerance);
  }
  CHECK(compared == 10 * 4);  // .npy, two class figures and the panel per image
  fs::remove_all(d);
}
