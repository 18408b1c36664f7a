// Networks against independent references: torchvision's ResNet-50 and a functional Python
// BagNet written from the paper's facts (tests/python/bagnet_reference.py), on random weights
// made at test time by tests/python/make_fixtures.py.
#include <filesystem>
#include <functional>

#include "inference/onednn.h"
#include "inference/torchscript.h"
#include "lib/error.h"
#include "networks/bagnet.h"
#include "networks/model.h"
#include "test_helpers.h"

using namespace bagnet;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::kBf16Tolerance;
using bagnet::test::relative_max_diff;

namespace {

// Of the largest |logit|. These random networks amplify float32 rounding: PyTorch itself
// differs from its own result by 2.6e-5 between 1 and 2 threads, and from float64 by as much.
// A wrong crop, stride or key gives differences of order 1.
constexpr double kParityTolerance = 1e-4;

LoadedModel load_fixture_model(const std::string& model, const std::string& file) {
  return load_model(find_model(model), fixture(file), c10::Device(c10::kCPU));
}

void require_same_weights(NetworkImpl& a, NetworkImpl& b) {
  auto pa = a.named_parameters(true), pb = b.named_parameters(true);
  REQUIRE(pa.size() == pb.size());
  for (const auto& item : pa) REQUIRE(torch::equal(item.value(), pb[item.key()]));
  auto ba = a.named_buffers(true), bb = b.named_buffers(true);
  for (const auto& item : ba) {
    if (item.key().find("num_batches_tracked") != std::string::npos) continue;
    REQUIRE(torch::equal(item.value(), bb[item.key()]));
  }
}

// `forward` on a batch of three (an image and its two flips) gives each image the logits of the
// eager network's single pass.
void check_batch_of_three(const std::function<torch::Tensor(const torch::Tensor&)>& forward, NetworkImpl& net,
                          const torch::Tensor& x1) {
  const auto three = torch::cat({x1, x1.flip(3), x1.flip(2)});
  const auto out = forward(three);
  for (int64_t i = 0; i < 3; ++i)
    CHECK(relative_max_diff(out.slice(0, i, i + 1), net.forward(three.slice(0, i, i + 1))) <
          kParityTolerance);
}

}  // namespace

TEST_CASE("BagNet receptive field, stride and map size follow the paper", "[networks]") {
  for (auto [q, map224] : {std::pair{9, 27}, {17, 26}, {33, 24}}) {
    const auto cfg = BagNetConfig::imagenet(q);
    CHECK(cfg.receptive_field() == q);
    CHECK(cfg.total_stride() == 8);
    BagNet net(cfg);
    net->eval();
    torch::NoGradGuard ng;
    // Small stand-ins for the full sizes: (224 - q) / 8 + 1 positions per side.
    CHECK(net->features(torch::zeros({1, 3, 224, 224})).size(2) == map224);
    CHECK(net->features(torch::zeros({1, 3, q, q})).size(3) == 1);
  }
}

TEST_CASE("BagNet logits equal the independent Python reference", "[networks][parity]") {
  torch::NoGradGuard ng;
  for (int q : {9, 17, 33}) {
    const std::string name = "bagnet" + std::to_string(q);
    DYNAMIC_SECTION(name) {
      auto m = load_fixture_model(name, name + ".pt");
      const StateDict io = load_state_dict(fixture(name + "_io.pt"));
      for (const std::string tag : {"224", "ns", "q"}) {
        const auto x = io_tensor(io, "x_" + tag);
        const double dp = relative_max_diff(m.net->forward(x), io_tensor(io, "pooled_" + tag));
        const double dm = relative_max_diff(m.net->logit_map(x), io_tensor(io, "map_" + tag));
        INFO(name << " input " << tag << ": pooled rel diff " << dp << ", map rel diff " << dm);
        CHECK(dp < kParityTolerance);
        CHECK(dm < kParityTolerance);
      }
      // Legacy format, {'state_dict': ...} wrappers and 'module.' prefixes give the same weights.
      for (const std::string variant : {"_legacy.pth.tar", "_wrapped.pt", "_wrapped_legacy.pth.tar"}) {
        INFO("variant " << variant);
        auto other = load_fixture_model(name, name + variant);
        require_same_weights(*m.net, *other.net);
      }
      CHECK(load_fixture_model(name, name + "_legacy.pth.tar").checkpoint_format == "legacy");
    }
  }
}

TEST_CASE("ResNet-50 logits equal torchvision's", "[networks][parity]") {
  torch::NoGradGuard ng;
  auto m = load_fixture_model("resnet50", "resnet50.pt");
  const StateDict io = load_state_dict(fixture("resnet50_io.pt"));
  for (const std::string tag : {"224", "ns"}) {
    const double d =
        relative_max_diff(m.net->forward(io_tensor(io, "x_" + tag)), io_tensor(io, "logits_" + tag));
    INFO("input " << tag << ": rel diff " << d);
    CHECK(d < kParityTolerance);
  }
  // The Stylized-ImageNet checkpoints' layout: legacy, wrapped, 'module.' keys.
  auto sin = load_fixture_model("resnet50_trained_on_SIN", "resnet50_wrapped_legacy.pth.tar");
  require_same_weights(*m.net, *sin.net);
}

TEST_CASE("BagNet logit map is local: entry (i,j) is the q x q patch at (8i, 8j) alone",
          "[networks][locality]") {
  torch::NoGradGuard ng;
  for (int q : {9, 17, 33}) {
    const std::string name = "bagnet" + std::to_string(q);
    DYNAMIC_SECTION(name) {
      auto m = load_fixture_model(name, name + ".pt");
      const auto x = io_tensor(load_state_dict(fixture(name + "_io.pt")), "x_ns");  // 45 x 61, non-square
      const auto map = m.net->logit_map(x);                                         // [N, 1000, h, w]
      const int64_t h = map.size(2), w = map.size(3);
      REQUIRE(h == (45 - q) / 8 + 1);
      REQUIRE(w == (61 - q) / 8 + 1);
      std::vector<at::Tensor> crops;
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < w; ++j)
          crops.push_back(x.slice(2, 8 * i, 8 * i + q).slice(3, 8 * j, 8 * j + q));
      // [h*w, N, 3, q, q] -> one batch
      const auto patches = torch::stack(crops).flatten(0, 1);
      const auto patch_logits = m.net->forward(patches).view({h, w, x.size(0), -1}).permute({2, 3, 0, 1});
      const double d = relative_max_diff(map, patch_logits);
      const double dmean = relative_max_diff(map.mean({2, 3}), m.net->forward(x));
      INFO(name << ": map vs patches " << d << ", mean of map vs pooled " << dmean);
      CHECK(d < 2e-4);
      CHECK(dmean < 2e-4);
    }
  }
}

TEST_CASE("Building a network to load skips its random fills, and only then", "[networks][init]") {
  // The fills draw from the default generator: skipped, they leave its state where it was.
  const auto spec = find_model("bagnet9");
  torch::manual_seed(7);
  const double first = torch::rand({1}).item<double>();
  torch::manual_seed(7);
  build_network(spec, /*random_init=*/false);
  CHECK(torch::rand({1}).item<double>() == first);
  // Random initialisation (training) is untouched, and the switch does not outlive the build.
  torch::manual_seed(7);
  auto net = build_network(spec);
  CHECK(torch::rand({1}).item<double>() != first);
  const auto w = net->named_parameters()["layer1.0.conv2.weight"];
  CHECK(w.abs().max().item<double>() > 0);
  CHECK(w.std().item<double>() > 0);
  CHECK(torch::zeros({64}).uniform_(1, 2).min().item<double>() >= 1);
  // Loaded networks give the reference logits all the same: the parity tests above use load_model.
}

TEST_CASE("Checkpoints that do not fit are refused with every problem named", "[networks][errors]") {
  // BagNet-9 weights into BagNet-33: layer3/layer4 middle convs are 1x1 in the file.
  try {
    load_fixture_model("bagnet33", "bagnet9.pt");
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(fixture("bagnet9.pt")) == 0);
    CHECK(msg.find("shape mismatches") != std::string::npos);
    CHECK(msg.find("layer3.0.conv2.weight") != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
  }
  // ResNet-50 weights into a BagNet: missing and unexpected keys, by name.
  try {
    load_fixture_model("bagnet9", "resnet50.pt");
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("missing keys") != std::string::npos);
    CHECK(msg.find("conv2.weight") != std::string::npos);
  }
}

TEST_CASE("A hash prefix in the file name is checked against the file's SHA-256", "[networks][errors]") {
  namespace fs = std::filesystem;
  CHECK(hash_prefix_in_name("/x/bagnet32-2ddd53ed.pth.tar") == "2ddd53ed");
  CHECK(hash_prefix_in_name("/x/model-final.pth").empty());
  CHECK(hash_prefix_in_name("/x/model-epoch-10.pth").empty());
  const fs::path dir = fs::temp_directory_path() / "bagnet_hash_test";
  fs::create_directories(dir);
  const fs::path bad = dir / "bagnet8-deadbeef.pt";
  fs::copy_file(fixture("bagnet9.pt"), bad, fs::copy_options::overwrite_existing);
  try {
    load_model(find_model("bagnet9"), bad.string(), c10::Device(c10::kCPU));
    FAIL("expected a hash error");
  } catch (const Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("deadbeef") != std::string::npos);
  }
  fs::remove_all(dir);
}

TEST_CASE("Missing weights say which file, where to download it and where to put it", "[networks][errors]") {
  setenv("BAGNET_WEIGHTS", "/nonexistent-weights-dir", 1);
  setenv("HOME", "/nonexistent-home", 1);
  try {
    load_model(find_model("bagnet33"), "", c10::Device(c10::kCPU));
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("bagnet32-2ddd53ed.pth.tar") != std::string::npos);
    CHECK(msg.find("https://") != std::string::npos);
    CHECK(msg.find("/nonexistent-weights-dir") != std::string::npos);
  }
  try {
    find_model("bagnet3");
    FAIL("expected an error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("did you mean") != std::string::npos);
  }
}

TEST_CASE("Folded BatchNorm gives the unfolded logits and the reference's", "[networks][parity][fold]") {
  torch::NoGradGuard ng;
  for (const std::string name : {"bagnet9", "bagnet17", "bagnet33", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      auto plain = load_fixture_model(name, name + ".pt");
      auto folded = load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU), true);
      REQUIRE(folded.batchnorm_folded);
      REQUIRE(folded.net->folded());
      REQUIRE(!plain.net->folded());
      // The folded weights really differ (the fixtures' BatchNorm statistics are not 0 and 1).
      CHECK(!torch::equal(plain.net->named_parameters()["layer1.0.conv1.weight"],
                          folded.net->named_parameters()["layer1.0.conv1.weight"]));
      auto& block = *std::dynamic_pointer_cast<BottleneckImpl>(folded.net->named_modules()["layer1.0"]);
      CHECK(block.conv1->bias.defined());
      // The state dict keeps the checkpoint's keys.
      CHECK(folded.net->named_parameters().size() == plain.net->named_parameters().size());
      const StateDict io = load_state_dict(fixture(name + "_io.pt"));
      for (const std::string tag : {"224", "ns"}) {
        const auto x = io_tensor(io, "x_" + tag);
        const auto expected = io_tensor(io, name == "resnet50" ? "logits_" + tag : "pooled_" + tag);
        const double d_ref = relative_max_diff(folded.net->forward(x), expected);
        const double d_plain = relative_max_diff(folded.net->forward(x), plain.net->forward(x));
        INFO(name << " input " << tag << ": folded vs reference " << d_ref << ", folded vs unfolded "
                  << d_plain);
        CHECK(d_ref < kParityTolerance);
        CHECK(d_plain < kParityTolerance);
        if (name != "resnet50") {
          const double dm = relative_max_diff(folded.net->logit_map(x), io_tensor(io, "map_" + tag));
          INFO("map rel diff " << dm);
          CHECK(dm < kParityTolerance);
        }
      }
      // Folding twice changes nothing.
      const auto before = folded.net->named_parameters()["fc.weight"].clone();
      const auto w = folded.net->named_parameters()["layer1.0.conv1.weight"].clone();
      folded.net->fold_batchnorm();
      CHECK(torch::equal(w, folded.net->named_parameters()["layer1.0.conv1.weight"]));
      CHECK(torch::equal(before, folded.net->named_parameters()["fc.weight"]));
    }
  }
}

TEST_CASE("The TorchScript engine gives the eager network's logits, one compiled module per shape",
          "[networks][parity][torchscript]") {
  torch::NoGradGuard ng;
  for (const std::string name : {"bagnet9", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      auto m = load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU), true);
      m.net->set_channels_last(true);
      TorchScriptForward ts(m.net);
      const StateDict io = load_state_dict(fixture(name + "_io.pt"));
      for (const std::string tag : {"224", "ns", "224"}) {
        const auto x = io_tensor(io, "x_" + tag);
        const auto expected = io_tensor(io, name == "resnet50" ? "logits_" + tag : "pooled_" + tag);
        const auto got = ts.forward(x);
        const double d_ref = relative_max_diff(got, expected);
        const double d_eager = relative_max_diff(got, m.net->forward(x));
        INFO(name << " input " << tag << ": torchscript vs reference " << d_ref << ", vs eager " << d_eager);
        CHECK(d_ref < kParityTolerance);
        CHECK(d_eager < kParityTolerance);
      }
      // Two input shapes (224 and the non-square one), the third call reused the first module.
      CHECK(ts.compiled_shapes() == 2);
      // A batch of three is another shape; each image's logits equal its own single pass.
      check_batch_of_three([&](const torch::Tensor& x) { return ts.forward(x); }, *m.net,
                           io_tensor(io, "x_224").slice(0, 0, 1));
      CHECK(ts.compiled_shapes() == 3);
    }
  }
}

TEST_CASE("The oneDNN engine gives the reference logits and features, one plan per shape",
          "[networks][parity][onednn]") {
  torch::NoGradGuard ng;
  for (const std::string name : {"bagnet9", "bagnet17", "bagnet33", "resnet50"}) {
    DYNAMIC_SECTION(name) {
      auto m = load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU), true);
      m.net->set_channels_last(true);
      OneDnnForward engine(m.net);
      const StateDict io = load_state_dict(fixture(name + "_io.pt"));
      const bool bagnet = name != "resnet50";
      // 224 (batch 2 for the BagNets), a non-square shape, the patch size itself (the smallest
      // input: 1x1 features), then 224 again through the plan built first.
      std::vector<std::string> tags{"224", "ns"};
      if (bagnet) tags.push_back("q");
      tags.push_back("224");
      // The unfolded network in float64: the yardstick for float32 rounding.
      auto exact = load_model(find_model(name), fixture(name + ".pt"), c10::Device(c10::kCPU), false).net;
      exact->to(torch::kDouble);
      for (const auto& tag : tags) {
        const auto x = io_tensor(io, "x_" + tag);
        const auto expected = io_tensor(io, bagnet ? "pooled_" + tag : "logits_" + tag);
        const auto truth = exact->forward(x.to(torch::kDouble));
        const double eager_error = relative_max_diff(m.net->forward(x).to(torch::kDouble), truth);
        // Both input layouts: NCHW as given and channels-last, as the tools pass it.
        for (const bool nhwc : {false, true}) {
          const auto in = nhwc ? x.contiguous(c10::MemoryFormat::ChannelsLast) : x;
          const auto got = engine.forward(in);
          const double d_ref = relative_max_diff(got, expected);
          const double d_eager = relative_max_diff(got, m.net->forward(x));
          const double error = relative_max_diff(got.to(torch::kDouble), truth);
          INFO(name << " input " << tag << (nhwc ? " NHWC" : " NCHW") << ": onednn vs reference " << d_ref
                    << ", vs eager " << d_eager << "; float32 rounding (vs float64): onednn " << error
                    << ", eager " << eager_error);
          CHECK(d_eager < kParityTolerance);
          // As close to the exact logits as the eager network (summation order differs); a wrong
          // crop, stride or layout would be off by order 1. The q x q input (one position) has
          // few, small logits, so there the PyTorch reference's own rounding shows (1.06e-4
          // measured for BagNet-33 against 6.0e-5 for eager): it is held to the float64 bound.
          CHECK(error < std::max(3 * eager_error, 1e-5));
          if (tag != "q") CHECK(d_ref < kParityTolerance);
        }
        if (bagnet) {
          // The features before the head: the reference's logit map is fc at every position.
          auto f = engine.features(x);
          const auto map = torch::linear(f.permute({0, 2, 3, 1}), m.net->fc->weight, m.net->fc->bias)
                               .permute({0, 3, 1, 2});
          CHECK(relative_max_diff(map, m.net->logit_map(x)) < kParityTolerance);
          if (tag != "q") CHECK(relative_max_diff(map, io_tensor(io, "map_" + tag)) < kParityTolerance);
        }
      }
      CHECK(engine.compiled_shapes() == tags.size() * 2 - 2);  // per shape and layout; 224 reused
      // A batch of three: each image's logits equal its own single pass.
      check_batch_of_three([&](const torch::Tensor& x) { return engine.forward(x); }, *m.net,
                           io_tensor(io, "x_224").slice(0, 0, 1));
    }
  }
}

TEST_CASE("The oneDNN engine in bf16: close to the float64 logits of a trained BagNet, and not fp32",
          "[networks][onednn][bf16]") {
  torch::NoGradGuard ng;
  // The embedded Fashion-MNIST BagNet: trained weights (random networks amplify rounding so much
  // that their bf16 logits are off by 0.02-0.14 of the scale). Batch 2, two input sizes.
  const ModelSpec& spec = find_model("bagnet11_fashion_mnist");
  auto m = load_model(spec, "", c10::Device(c10::kCPU), true);
  m.net->set_channels_last(true);
  auto exact = load_model(spec, "", c10::Device(c10::kCPU), false).net;
  exact->to(torch::kDouble);
  OneDnnForward fp32(m.net);
  const auto bf16 = bagnet::test::bf16_engine_or_warn(m.net);
  if (!bf16) return;
  CHECK(bf16->precision() == Precision::bf16);
  torch::manual_seed(4);
  for (const auto& x :
       {torch::randn({2, spec.in_channels, 28, 28}), torch::randn({2, spec.in_channels, 45, 61})}) {
    const auto truth = exact->forward(x.to(torch::kDouble));
    const auto got = bf16->forward(x.contiguous(c10::MemoryFormat::ChannelsLast));
    const double e16 = relative_max_diff(got.to(torch::kDouble), truth);
    const double e32 = relative_max_diff(fp32.forward(x).to(torch::kDouble), truth);
    INFO("input " << x.sizes() << ": error of the largest |logit|, bf16 " << e16 << ", fp32 " << e32);
    CHECK(e16 < kBf16Tolerance);
    CHECK(e16 > 10 * e32);  // the option took effect: bf16 rounds far more coarsely
    CHECK(got.argmax(1).equal(truth.argmax(1)));
  }
}

TEST_CASE("The oneDNN engine runs the a-trous geometry exactly as the eager blocks do",
          "[networks][onednn]") {
  torch::NoGradGuard ng;
  auto m = load_model(find_model("bagnet33"), fixture("bagnet33.pt"), c10::Device(c10::kCPU), true);
  auto& net = dynamic_cast<BagNetImpl&>(*m.net);
  OneDnnForward engine(m.net);
  // Every stage's stride turned into a dilation of the later blocks (the stride-1 dense map).
  std::vector<BlockGeometry> geometry;
  int64_t dilation = 1;
  for (size_t k = 0; k < net.layers.size(); ++k) {
    for (size_t b = 0; b < net.layers[k]->size(); ++b) geometry.push_back({1, dilation});
    dilation *= net.config().strides[k];
  }
  CHECK(engine.block_geometry().size() == geometry.size());
  torch::manual_seed(3);
  const auto x = torch::randn({1, 3, 52, 47});
  auto expected = net.stem(x);
  size_t i = 0;
  for (const auto& layer : net.layers)
    for (const auto& b : *layer) {
      expected =
          b.ptr()->as<BottleneckImpl>()->forward_dilated(expected, geometry[i].stride, geometry[i].dilation);
      ++i;
    }
  const auto got = engine.features(x, geometry);
  REQUIRE(got.sizes() == expected.sizes());
  CHECK(got.size(2) == 52 - 32);  // one position per pixel, less the receptive field
  CHECK(relative_max_diff(got, expected) < kParityTolerance);
  CHECK_THROWS_AS(engine.features(x, std::vector<BlockGeometry>(2)), Error);
}

TEST_CASE("The oneDNN engine refuses what it cannot run", "[networks][onednn][errors]") {
  torch::NoGradGuard ng;
  auto vgg = build_network(find_model("vgg16"));
  vgg->eval();
  vgg->fold_batchnorm();
  CHECK_FALSE(OneDnnForward::supports(*vgg));
  CHECK_THROWS_WITH(OneDnnForward(vgg), Catch::Contains("BagNets and ResNets only"));
  auto unfolded = build_network(find_model("bagnet9"));
  unfolded->eval();
  CHECK_THROWS_WITH(OneDnnForward(unfolded), Catch::Contains("BatchNorm folded"));
  unfolded->fold_batchnorm();
  OneDnnForward engine(unfolded);
  // Smaller than one patch: a one-line error, as the eager network's.
  CHECK_THROWS_AS(engine.forward(torch::randn({1, 3, 6, 6})), Error);
  CHECK_THROWS_AS(engine.forward(torch::randn({1, 3, 16, 16}, torch::kDouble)), Error);
}
