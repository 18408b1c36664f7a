// Attribution methods (issue 13): each against an independent reference: finite differences,
// hand computation on hand-made models and maps, brute force, and the same methods written
// plainly in PyTorch (tests/python/make_attribution_fixtures.py); bagnet-attribute's outputs,
// resumption, benchmark and bad input.
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "attribution/attribute.h"
#include "attribution/methods.h"
#include "attribution/scores.h"
#include "heatmaps/patches.h"
#include "heatmaps/render.h"
#include "lib/checkpoint.h"
#include "lib/error.h"
#include "lib/image.h"
#include "lib/npy.h"
#include "networks/bagnet.h"
#include "networks/model.h"
#include "test_helpers.h"
#include "tool_helpers.h"

using namespace bagnet;
using namespace bagnet::attribution;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::relative_max_diff;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;

namespace {

// A small BagNet with random weights and non-trivial BatchNorm statistics, in double precision
// (finite differences need it).
std::shared_ptr<BagNetImpl> tiny_bagnet(int64_t in_channels = 3) {
  torch::manual_seed(3);
  BagNetConfig c;
  c.in_channels = in_channels;
  c.stem_width = 8;
  c.widths = {4, 8};
  c.blocks = {1, 1};
  c.kernel3 = {1, 1};
  c.strides = {1, 2};
  c.expansion = 2;
  c.num_classes = 5;
  auto net = std::make_shared<BagNetImpl>(c);
  torch::NoGradGuard no_grad;
  for (auto& m : net->modules(false))
    if (auto* bn = dynamic_cast<torch::nn::BatchNorm2dImpl*>(m.get())) {
      bn->running_mean.uniform_(-0.2, 0.2);
      bn->running_var.uniform_(0.5, 1.5);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.2, 0.2);
    }
  net->fc->weight.mul_(4);
  net->eval();
  net->to(torch::kDouble);
  return net;
}

// logit_c(x) = b_c + mean over pixels of sum_k fc_ck (conv x)_k: linear in x, so the exact
// contribution of pixel (y, x) is sum_ch a_ch x_ch(y, x) / (H W) with a = fc.weight[c] @ conv.
class LinearNetImpl : public NetworkImpl {
 public:
  LinearNetImpl() {
    conv = register_module("conv", torch::nn::Conv2d(torch::nn::Conv2dOptions(3, 4, 1).bias(false)));
    fc = register_module("fc", torch::nn::Linear(4, 2));
  }
  torch::Tensor features(const torch::Tensor& x) override { return tap("conv", conv->forward(x)); }
  std::vector<std::string> layer_names() const override { return {"conv"}; }
  std::string default_cam_layer() const override { return "conv"; }
  torch::nn::Conv2d conv{nullptr};

 protected:
  void fold_stem() override {}
};

torch::Tensor brute_force_pixel_removal(NetworkImpl& net, const torch::Tensor& x, int64_t target) {
  torch::NoGradGuard no_grad;
  const int64_t h = x.size(2), w = x.size(3);
  const double f = net.forward(x).select(1, target).item<double>();
  auto out = torch::zeros({h, w}, torch::kDouble);
  for (int64_t y = 0; y < h; ++y) {
    auto batch = x.repeat({w, 1, 1, 1});
    for (int64_t i = 0; i < w; ++i) batch[i].select(1, y).select(1, i).zero_();
    const auto l = net.forward(batch).select(1, target).to(torch::kDouble);
    out[y] = f - l;
  }
  return out;
}

}  // namespace

TEST_CASE("saliency equals central finite differences on a small random BagNet", "[attribution]") {
  auto net = tiny_bagnet();
  torch::manual_seed(5);
  const auto x = torch::randn({1, 3, 21, 19}, torch::kDouble);
  const auto g = saliency(*net, x, 2);
  const double eps = 1e-5;
  const std::vector<std::array<int64_t, 3>> pixels{
      {0, 0, 0}, {1, 10, 9}, {2, 20, 18}, {0, 5, 13}, {2, 14, 3}};
  for (const auto& [c, y, i] : pixels) {
    auto xp = x.clone(), xm = x.clone();
    xp[0][c][y][i] += eps;
    xm[0][c][y][i] -= eps;
    torch::NoGradGuard no_grad;
    const double fd =
        (net->forward(xp)[0][2].item<double>() - net->forward(xm)[0][2].item<double>()) / (2 * eps);
    CAPTURE(c, y, i, fd);
    CHECK(g[0][c][y][i].item<double>() == Approx(fd).margin(1e-8).epsilon(1e-5));
  }
}

TEST_CASE("Integrated Gradients' completeness holds within the tolerance as steps grow", "[attribution]") {
  auto net = tiny_bagnet();
  torch::manual_seed(6);
  const auto x = torch::randn({1, 3, 24, 24}, torch::kDouble);
  const auto b = torch::zeros_like(x);
  for (const std::string rule : {"gausslegendre", "riemann_trapezoid"}) {
    std::vector<double> deltas;
    double expected = 0;
    for (int steps : {2, 8, 64, 512}) {
      const auto r = integrated_gradients(*net, x, b, 1, steps, rule, 64);
      deltas.push_back(std::abs(r.delta()));
      expected = r.logit - r.baseline_logit;
      CAPTURE(rule, steps, r.sum, expected);
    }
    CAPTURE(rule, deltas[0], deltas[1], deltas[2], deltas[3], expected);
    // The toolkit's stated tolerance (MethodOptions::completeness_tolerance, 5% of
    // max(1, |f(x) - f(b)|)) is met at 64 steps and the error keeps shrinking.
    CHECK(deltas[2] <= 0.05 * std::max(1.0, std::abs(expected)));
    CHECK(deltas[3] <= 0.01 * std::max(1.0, std::abs(expected)));
    CHECK(deltas[3] < deltas[0]);
  }
  // The quadrature itself: numpy.polynomial.legendre.leggauss(3) mapped to [0, 1].
  const auto q = quadrature("gausslegendre", 3);
  REQUIRE(q.alphas.size() == 3);
  CHECK(q.alphas[0] == Approx(0.5 - std::sqrt(0.15)).margin(1e-14));
  CHECK(q.alphas[1] == Approx(0.5).margin(1e-14));
  CHECK(q.weights[0] == Approx(5.0 / 18).margin(1e-14));
  CHECK(q.weights[1] == Approx(8.0 / 18).margin(1e-14));
}

TEST_CASE("gradient x input equals the exact contribution for a network linear in its input",
          "[attribution]") {
  torch::manual_seed(8);
  auto net = std::make_shared<LinearNetImpl>();
  net->eval();
  const auto x = torch::randn({1, 3, 6, 7});
  const auto a = input_x_gradient(*net, x, 1).sum(1);  // [1, H, W]
  // By hand: a_ch = sum_k fc_1k conv_k,ch; contribution = sum_ch a_ch x_ch / (H W).
  const auto w = torch::matmul(net->fc->weight[1], net->conv->weight.view({4, 3}));  // [3]
  const auto expected = (x[0] * w.view({3, 1, 1})).sum(0) / 42.0;
  CHECK(relative_max_diff(a[0], expected) < 1e-5);
  // Their sum is the logit minus the bias (completeness holds exactly for linear models).
  torch::NoGradGuard no_grad;
  CHECK(a.sum().item<double>() ==
        Approx(net->forward(x)[0][1].item<double>() - net->fc->bias[1].item<double>()).epsilon(1e-5));
}

TEST_CASE("Grad-CAM of a hand-made feature map gives the hand-computed map", "[attribution]") {
  // A0 = [[1, 2], [3, 4]] with gradients 0.5, A1 = [[0, 1], [1, 0]] with gradients -1:
  // ReLU(0.5 A0 - A1) = [[0.5, 0], [0.5, 2]].
  const auto a = torch::tensor({1., 2., 3., 4., 0., 1., 1., 0.}).view({1, 2, 2, 2});
  const auto g = torch::cat({torch::full({1, 1, 2, 2}, 0.5), torch::full({1, 1, 2, 2}, -1.0)}, 1);
  // Bilinear 2 -> 4 with half-pixel centres: source coordinates -0.25, 0.25, 0.75, 1.25 clamped
  // to 0, 0.25, 0.75, 1, so each side reads (r0, 0.75 r0 + 0.25 r1, 0.25 r0 + 0.75 r1, r1).
  const double m[2][2] = {{0.5, 0}, {0.5, 2}};
  const double wt[4][2] = {{1, 0}, {0.75, 0.25}, {0.25, 0.75}, {0, 1}};
  const auto cam = grad_cam_from(a, g, 4, 4);
  REQUIRE(cam.sizes() == torch::IntArrayRef({1, 1, 4, 4}));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      double e = 0;
      for (int r = 0; r < 2; ++r)
        for (int c = 0; c < 2; ++c) e += wt[i][r] * wt[j][c] * m[r][c];
      CAPTURE(i, j);
      CHECK(cam[0][0][i][j].item<double>() == Approx(e).margin(1e-6));
    }
}

TEST_CASE("Grad-CAM at a BagNet's last stage is ReLU(patch logit - bias) / positions, upsampled",
          "[attribution]") {
  // At the last stage the gradient of the pooled logit is fc.weight[c] / (h w) at every position,
  // so Grad-CAM's map is the patch logit map without the bias, over h w (hand derivation).
  auto net = tiny_bagnet();
  torch::manual_seed(9);
  const auto x = torch::randn({1, 3, 23, 23}, torch::kDouble);
  REQUIRE(default_cam_layer(*net) == "layer2");
  const auto cam = grad_cam(*net, x, 4, "layer2");
  torch::NoGradGuard no_grad;
  const auto lm = net->logit_map(x).select(1, 4).unsqueeze(1);
  const double positions = static_cast<double>(lm.size(2) * lm.size(3));
  const auto expected = torch::nn::functional::interpolate(torch::relu(lm - net->fc->bias[4]) / positions,
                                                           torch::nn::functional::InterpolateFuncOptions()
                                                               .size(std::vector<int64_t>{23, 23})
                                                               .mode(torch::kBilinear)
                                                               .align_corners(false));
  CHECK(relative_max_diff(cam, expected) < 1e-9);
  // An unknown layer names the valid ones.
  try {
    grad_cam(*net, x, 0, "layer9");
    FAIL("no error");
  } catch (const bagnet::Error& e) {
    CHECK(std::string(e.what()).find("valid layers: ") != std::string::npos);
    CHECK(std::string(e.what()).find("layer2") != std::string::npos);
  }
}

TEST_CASE("occlusion with window 1 and stride 1 on a BagNet equals brute-force single-pixel removal",
          "[attribution]") {
  auto net = tiny_bagnet();
  torch::manual_seed(10);
  const auto x = torch::randn({1, 3, 17, 15}, torch::kDouble);
  const auto truth = brute_force_pixel_removal(*net, x, 1);
  for (const std::string alg : {"full", "local"}) {
    OcclusionOptions o;
    o.window = 1;
    o.stride = 1;
    o.algorithm = alg;
    const auto occ = occlusion(*net, x, 1, o).to(torch::kDouble)[0][0];
    CAPTURE(alg);
    CHECK(relative_max_diff(occ, truth) < 1e-5);  // the map is float32
  }
  // Larger, overlapping windows: the local algorithm equals re-running the whole network.
  OcclusionOptions full, local;
  full.window = local.window = 5;
  full.stride = local.stride = 3;
  full.algorithm = "full";
  local.algorithm = "local";
  CHECK(relative_max_diff(occlusion(*net, x, 1, local), occlusion(*net, x, 1, full)) < 1e-5);
  CHECK(window_starts(17, 5, 3) == std::vector<int64_t>{0, 3, 6, 9, 12});
  CHECK(window_starts(15, 5, 3) == std::vector<int64_t>{0, 3, 6, 9, 10});  // last one flush with the edge
}

TEST_CASE("the methods equal the same methods written plainly in PyTorch (BagNet-9, random weights)",
          "[attribution]") {
  // In float64 on both sides: these random networks amplify rounding (PyTorch's own float32 and
  // float64 saliency maps of this network differ by 5% of their maximum).
  auto model = load_model(find_model("bagnet9"), fixture("bagnet9.pt"), torch::kCPU);
  auto& net = *model.net;
  net.to(torch::kDouble);
  const auto io = load_state_dict(fixture("attribution_io.pt"));
  const auto x = io_tensor(io, "x"), b = io_tensor(io, "baseline");
  REQUIRE(x.scalar_type() == torch::kDouble);
  const int64_t c = 3;
  CHECK(relative_max_diff(saliency(net, x, c), io_tensor(io, "saliency")) < 1e-9);
  CHECK(relative_max_diff(input_x_gradient(net, x, c), io_tensor(io, "input_x_gradient")) < 1e-9);
  CHECK(relative_max_diff(integrated_gradients(net, x, b, c, 16, "gausslegendre", 5).attributions,
                          io_tensor(io, "ig16")) < 1e-9);
  CHECK(relative_max_diff(integrated_gradients(net, x, b, c, 16, "gausslegendre", 16).attributions,
                          io_tensor(io, "ig16")) < 1e-9);  // batching the path changes nothing
  // The noise: torch.normal with a generator seeded 11, all 8 samples in one draw.
  CHECK(relative_max_diff(smoothgrad(net, x, c, 8, 0.3, 11, 8), io_tensor(io, "smoothgrad")) < 1e-9);
  CHECK(relative_max_diff(grad_cam(net, x, c, "layer4"), io_tensor(io, "grad_cam")) < 1e-9);
  for (const std::string alg : {"full", "local"}) {
    OcclusionOptions o;
    o.window = 8;
    o.stride = 4;
    o.algorithm = alg;
    CAPTURE(alg);
    CHECK(relative_max_diff(occlusion(net, x, c, o).to(torch::kDouble), io_tensor(io, "occlusion_8_4")) <
          1e-6);
  }
}

TEST_CASE("the benchmark's exact map equals the per-patch reference on every engine", "[attribution]") {
  // auto = a-trous on the oneDNN engine over a BatchNorm-folded copy; eager = phase crops through
  // the unfolded modules. Both against one forward pass per patch of the unfolded network.
  torch::NoGradGuard no_grad;
  const int h = 30, w = 26, target = 3;
  torch::manual_seed(5);
  const auto x = torch::randn({1, 3, h, w});
  auto plain = load_model(find_model("bagnet9"), fixture("bagnet9.pt"), torch::kCPU);
  auto* b = dynamic_cast<BagNetImpl*>(plain.net.get());
  REQUIRE(b);
  const auto ref = heatmaps::patch_logit_maps(*b, x, 1, torch::tensor({int64_t{target}}))[0][0];
  const std::vector<float> chw(x.data_ptr<float>(), x.data_ptr<float>() + x.numel());
  for (const std::string engine : {"auto", "eager"}) {
    CAPTURE(engine);
    ModelRequest r;
    r.model = "bagnet9";
    r.weights = fixture("bagnet9.pt");
    r.device = "cpu";
    r.engine = engine;
    AttributionModel model(r);
    CHECK(model.model_json(true)["exact_maps"].get<std::string>().rfind(
              engine == "auto" ? "atrous on the oneDNN engine" : "phases", 0) == 0);
    const auto m = model.exact_map(chw, h, w, target);
    REQUIRE(m.size() == static_cast<size_t>(h * w));
    CHECK(relative_max_diff(torch::tensor(m).view({h, w}), ref) < 2e-4);
    // The folded copy leaves the methods' network alone: gradients still flow through BatchNorm.
    CHECK(model.model_json(true)["batchnorm_folded"] == false);
  }
  ModelRequest bad;
  bad.model = "bagnet9";
  bad.weights = fixture("bagnet9.pt");
  bad.engine = "torchscript";
  CHECK_THROWS_AS(AttributionModel(bad), Error);
}

TEST_CASE("the benchmark's scores equal a hand computation on two small maps", "[attribution]") {
  const std::vector<double> a{1, 2, 3, 4}, b{1, 3, 2, 5};
  // Pearson: means 2.5 and 2.75; sum of products of deviations 5.5, sums of squares 5 and 8.75.
  CHECK(pearson(a, b) == Approx(5.5 / std::sqrt(5 * 8.75)).epsilon(1e-12));
  // Spearman: ranks of b are 1, 3, 2, 4: 1 - 6 * 2 / (4 * 15) = 0.8.
  CHECK(spearman(a, b) == Approx(0.8).epsilon(1e-12));
  // Ties share the mean rank: ranks of (5, 1, 5, 2) are 3.5, 1, 3.5, 2.
  CHECK(average_ranks({5, 1, 5, 2}) == std::vector<double>{3.5, 1, 3.5, 2});
  CHECK(std::isnan(pearson({1, 1, 1}, {1, 2, 3})));
  // Cells of 2 x 2 on a 3 x 3 map: sums 1+2+4+5, 3+6, 7+8, 9.
  const float m[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  CHECK(cell_sums(m, 3, 3, 2) == std::vector<double>{12, 9, 15, 9});
  // Top-2: {2, 0} vs {2, 1} (ties broken by index): one in common.
  CHECK(top_k_overlap({12, 9, 15, 9}, {1, 9, 15, 9}, 2) == Approx(0.5));
  CHECK(ranking({12, 9, 15, 9}) == std::vector<int>{2, 0, 1, 3});
  // Trapezoid over (0, 0.5, 1) of (4, 2, 1): 0.5 * 3 + 0.5 * 1.5.
  CHECK(area_under_curve({0, 0.5, 1}, {4, 2, 1}) == Approx(2.25));
  CHECK(deletion_counts(4, 0) == std::vector<int>{0, 1, 2, 3, 4});
  CHECK(deletion_counts(10, 3) == std::vector<int>{0, 5, 10});
  // Masks: cells of 2 on a 3 x 3 image, order (2, 0): the bottom-left cell, then the top-left one.
  const auto masks = deletion_masks({2, 0, 1, 3}, {0, 1, 2}, 3, 3, 2);
  CHECK(masks[0] == std::vector<std::uint8_t>(9, 0));
  CHECK(masks[1] == std::vector<std::uint8_t>{0, 0, 0, 0, 0, 0, 1, 1, 0});
  CHECK(masks[2] == std::vector<std::uint8_t>{1, 1, 0, 1, 1, 0, 1, 1, 0});
  const auto s = summarise({4, 1, std::nan(""), 3, 2});
  CHECK(s.n == 4);
  CHECK(s.mean == Approx(2.5));
  CHECK(s.std == Approx(std::sqrt(5.0 / 3)));
  CHECK(s.median == Approx(2.5));
  CHECK(s.q1 == Approx(1.75));  // numpy.percentile([1, 2, 3, 4], 25)
  CHECK(s.q3 == Approx(3.25));
}

// ---------------------------------------------------------------------------------------------
// bagnet-attribute, with the embedded Fashion-MNIST BagNet (no fixtures needed).

namespace {

const std::string kTool = "bagnet-attribute -m bagnet11_fashion_mnist -q ";

void write_gray_png(const std::filesystem::path& p, int seed) {
  Image img;
  img.width = img.height = 28;
  img.rgb.resize(28 * 28 * 3);
  for (int i = 0; i < 28 * 28; ++i) {
    const auto v = static_cast<std::uint8_t>((i * 37 + seed * 101) % 256 * ((i / 28 + seed) % 3 ? 1 : 0));
    img.rgb[3 * i] = img.rgb[3 * i + 1] = img.rgb[3 * i + 2] = v;
  }
  bagnet::test::write_bytes(p, heatmaps::encode_png(img));
}

}  // namespace

TEST_CASE("bagnet-attribute writes maps, sidecars and PNGs, resumes, and lists bad images",
          "[attribution][tool]") {
  namespace fs = std::filesystem;
  const auto dir = scratch_dir("attribute_run");
  fs::create_directories(dir / "in" / "sub");
  write_gray_png(dir / "in" / "a.png", 1);
  write_gray_png(dir / "in" / "sub" / "b.png", 2);
  bagnet::test::write_bytes(dir / "in" / "broken.png", "not a png");
  const std::string out = (dir / "out").string();
  const std::string args =
      kTool + (dir / "in").string() +
      " --method saliency --method integrated_gradients --method grad_cam --method occlusion "
      "--steps 16 --window 4 --stride 2 --panel -o " +
      out;
  auto r = run_tool(args);
  CAPTURE(r.err);
  CHECK(r.status == 1);  // one bad image
  CHECK(r.err.find("broken.png: ") != std::string::npos);
  CHECK(r.err.find("1 inputs failed") != std::string::npos);
  for (const std::string stem : {"a", "sub/b"}) {
    for (const std::string m : {"saliency", "integrated_gradients", "grad_cam", "occlusion"}) {
      const auto npy = read_npy(out + "/" + stem + "_" + m + ".npy");
      CHECK(npy.shape == std::vector<int64_t>{28, 28});
    }
    CHECK(fs::exists(out + "/" + stem + "_panel.png"));
    const auto side = nlohmann::json::parse(bagnet::test::read_file(out + "/" + stem + ".json"));
    CHECK(side["model"]["name"] == "bagnet11_fashion_mnist");
    CHECK(side["model"]["weights"]["sha256"].get<std::string>().rfind("58507243", 0) == 0);
    CHECK(side["provenance"].contains("git_commit"));
    const auto& ig = side["methods"]["integrated_gradients"];
    CHECK(ig["parameters"]["steps"] == 16);
    const auto& comp = ig["classes"][0]["details"]["completeness"];
    // The sidecar's numbers agree with each other: delta = sum - (f(x) - f(b)).
    CHECK(comp["delta"].get<double>() ==
          Approx(comp["sum_of_attributions"].get<double>() -
                 (comp["logit"].get<double>() - comp["baseline_logit"].get<double>()))
              .margin(1e-9));
    CHECK(side["methods"]["grad_cam"]["parameters"]["layer"] == "layer3");
    CHECK(side["methods"]["occlusion"]["parameters"]["algorithm"] == "local");
  }
  CHECK_FALSE(fs::exists(out + "/broken.json"));
  // Run again: the two complete images are skipped, the bad one fails again.
  r = run_tool(args);
  CHECK(r.status == 1);
  CHECK(r.err.find("2 already done") != std::string::npos);
}

TEST_CASE("bagnet-attribute rejects bad options in one line", "[attribution][tool]") {
  const auto dir = scratch_dir("attribute_bad");
  write_gray_png(dir / "a.png", 3);
  const std::string in = (dir / "a.png").string() + " -o " + (dir / "out").string();
  struct Case {
    std::string args, expect;
  };
  for (const auto& c : std::vector<Case>{
           {"--method integrated_gradients --steps 0", "--steps 0: must be at least 1"},
           {"--method smoothgrad --samples 0", "--samples 0: must be at least 1"},
           {"--method grad_cam --layer layer9", "--layer layer9: unknown layer; valid layers: "},
           {"--method gradcam", "--method gradcam: unknown method; known: saliency"},
           {"--method grad_cam --channels", "--channels: applies to the gradient methods only"},
           {"--method integrated_gradients --baseline white", "--baseline white: must be black or mean"},
           {"--method occlusion --window 0", "--window 0: must be at least 1"},
           {"-c NoSuchClass", "--class NoSuchClass"},
       }) {
    const auto r = run_tool(kTool + in + " " + c.args);
    CAPTURE(c.args, r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  const auto r = run_tool(kTool + "--list-layers");
  CHECK(r.out == "layer1\nlayer2\nlayer3 (default)\n");
  const auto missing = run_tool(kTool + (dir / "nope.png").string() + " -o " + (dir / "out2").string());
  CHECK(missing.status == 1);
  CHECK(missing.err.find("nope.png") != std::string::npos);
  const auto resnet =
      run_tool("bagnet-attribute -m resnet50 --benchmark --data /nonexistent -o " + (dir / "out3").string());
  CHECK(resnet.status == 1);  // no weights for resnet50 here, or not a BagNet: one line either way
  CHECK(std::count(resnet.err.begin(), resnet.err.end(), '\n') >= 1);
}

TEST_CASE("bagnet-attribute --benchmark scores, resumes and merges shards", "[attribution][tool]") {
  namespace fs = std::filesystem;
  const auto dir = scratch_dir("attribute_bench");
  const std::string common =
      kTool +
      "--benchmark --data /usr/share/datasets/fashion-mnist --limit 12 --subset-seed 3 "
      "--method saliency --method input_x_gradient --method occlusion --window 4 --stride 4 ";
  const std::string whole = (dir / "whole").string(), shards = (dir / "shards").string();
  auto r = run_tool(common + "-o " + whole);
  CAPTURE(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("| saliency |") != std::string::npos);
  CHECK(fs::exists(whole + "/benchmark.png"));
  const auto s = nlohmann::json::parse(bagnet::test::read_file(whole + "/summary.json"));
  CHECK(s["images"] == 12);
  CHECK(s["methods"]["saliency"]["spearman"]["n"] == 12);
  // Correlations are correlations; the exact map's own deletion curve is recorded as the reference.
  CHECK(s["methods"]["exact"]["deletion_auc"]["n"] == 12);
  for (const std::string m : {"saliency", "input_x_gradient", "occlusion"}) {
    const double spearman = s["methods"][m]["spearman"]["mean"];
    CHECK(spearman >= -1);
    CHECK(spearman <= 1);
  }
  r = run_tool(common + "-o " + whole);
  CHECK(r.status == 0);
  CHECK(r.err.find("12 already done") != std::string::npos);
  for (const std::string sh : {"0/2", "1/2"})
    REQUIRE(run_tool(common + "--shard " + sh + " -o " + shards).status == 0);
  const auto m = nlohmann::json::parse(bagnet::test::read_file(shards + "/summary.json"));
  CHECK(m["images"] == 12);
  for (const std::string meth : {"saliency", "occlusion"})
    for (const std::string metric : {"spearman", "pearson", "top_k_overlap", "deletion_auc"})
      CHECK(m["methods"][meth][metric]["mean"].get<double>() ==
            Approx(s["methods"][meth][metric]["mean"].get<double>()).epsilon(1e-9));
  // A folder holding another benchmark is refused.
  r = run_tool(common + "--cell 2 -o " + whole);
  CHECK(r.status == 1);
  CHECK(r.err.find("holds another benchmark") != std::string::npos);
}
