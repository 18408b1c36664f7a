// The papers' comparison networks (AlexNet, VGG-16, VGG-16-BN, GoogLeNet, ResNet-152,
// DenseNet-169) against torchvision 0.14's own modules with random weights, made at test time by
// tests/python/make_comparison_fixtures.py (see there for which checkpoint format each gets).
#include <iostream>

#include "lib/error.h"
#include "networks/model.h"
#include "test_helpers.h"

using namespace bagnet;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::relative_max_diff;

namespace {

// The ResNet-50 parity bound of tests/test_networks.cpp: of the largest |logit|.
constexpr double kParityTolerance = 1e-4;

struct Fixture {
  const char* model;
  std::vector<const char*> files;  // the checkpoint formats made for it
};

const std::vector<Fixture>& fixtures() {
  static const std::vector<Fixture> f = {
      {"alexnet", {"alexnet_zip.pth"}},
      {"vgg16", {"vgg16_zip.pth"}},
      {"vgg16_bn", {"vgg16_bn_legacy.pth"}},
      {"googlenet", {"googlenet_zip.pth", "googlenet_legacy.pth"}},
      {"resnet152", {"resnet152_zip.pth"}},
      // The legacy file has DenseNet's old key names (denselayer1.norm.1).
      {"densenet169", {"densenet169_zip.pth", "densenet169_legacy.pth"}},
      // The registry's configurable VGG-like CNN against the same network written in PyTorch
      // (28x28 and 36x44 grayscale inputs).
      {"cnn_fashion_mnist", {"cnn_fashion_mnist_zip.pth"}},
  };
  return f;
}

LoadedModel load(const std::string& model, const std::string& file, bool fold = false) {
  return load_model(find_model(model), fixture(file), c10::Device(c10::kCPU), fold);
}

// Logits vs torchvision's at 224x224 (batch 2) and 160x192 (cnn_fashion_mnist: 28x28, 36x44);
// prints the figures.
void check_parity(LoadedModel& m, const std::string& model, const std::string& what) {
  const StateDict io = load_state_dict(fixture(model + "_io.pt"));
  for (const std::string tag : {"224", "ns"}) {
    const auto expected = io_tensor(io, "logits_" + tag);
    const auto x = io_tensor(io, "x_" + tag);
    const auto got = m.net->forward(x);
    const double rel = relative_max_diff(got, expected);
    const double abs = (got - expected).abs().max().item<double>();
    std::cerr << "parity " << model << " (" << what << ") input " << x.size(2) << "x" << x.size(3)
              << ": max |diff| " << abs << ", relative " << rel << " (max |logit| "
              << expected.abs().max().item<double>() << ")\n";
    INFO(model << " " << what << " input " << tag << ": relative diff " << rel);
    CHECK(rel < kParityTolerance);
  }
}

}  // namespace

TEST_CASE("Comparison networks' logits equal torchvision's, in both checkpoint formats",
          "[networks][parity][comparison]") {
  torch::NoGradGuard ng;
  for (const auto& f : fixtures()) {
    for (const std::string file : f.files) {
      DYNAMIC_SECTION(f.model << " from " << file) {
        auto m = load(f.model, file);
        CHECK(m.checkpoint_format == (file.find("legacy") != std::string::npos ? "legacy" : "zip"));
        check_parity(m, f.model, file);
      }
    }
  }
}

TEST_CASE("BatchNorm folding keeps the comparison networks' logits", "[networks][parity][comparison]") {
  torch::NoGradGuard ng;
  for (const std::string model : {"vgg16_bn", "googlenet", "resnet152", "cnn_fashion_mnist"}) {
    DYNAMIC_SECTION(model) {
      const auto& f = *std::find_if(fixtures().begin(), fixtures().end(),
                                    [&](const Fixture& x) { return x.model == model; });
      auto m = load(model, f.files.front(), /*fold=*/true);
      REQUIRE(m.batchnorm_folded);
      REQUIRE(m.net->folded());
      CHECK(model_json(m, false)["batchnorm"] == "folded into the convolutions");
      // VGG has no logit map; GoogLeNet and ResNet-152 have one, but not local.
      CHECK(model_json(m, false)["logit_map"].get<std::string>().find(
                model == "vgg16_bn" ? "none" : "no patch logits") != std::string::npos);
      check_parity(m, model, "BatchNorm folded");
    }
  }
  SECTION("densenet169: not folded, and the JSON says so") {
    auto m = load("densenet169", "densenet169_zip.pth", /*fold=*/true);
    CHECK(!m.batchnorm_folded);
    CHECK(!m.net->folded());
    CHECK(model_json(m, false)["batchnorm"] == "separate (folding not implemented for this architecture)");
  }
  SECTION("vgg16: no BatchNorm to fold, no logit map") {
    auto m = load("vgg16", "vgg16_zip.pth", /*fold=*/true);
    CHECK(model_json(m, false)["batchnorm"] == "none in this architecture");
    CHECK(model_json(m, false)["logit_map"].get<std::string>().find("none") == 0);
  }
}

TEST_CASE("GoogLeNet's auxiliary classifiers are accepted, ignored and reported", "[networks][comparison]") {
  torch::NoGradGuard ng;
  const StateDict sd = load_state_dict(fixture("googlenet_zip.pth"));
  size_t aux = 0;
  for (const auto& [k, t] : sd.tensors) aux += k.rfind("aux1.", 0) == 0 || k.rfind("aux2.", 0) == 0;
  REQUIRE(aux > 0);  // the file has them, as the official one
  auto m = load("googlenet", "googlenet_zip.pth");
  CHECK(m.ignored_keys.size() == aux);
  const auto j = model_json(m, false);
  REQUIRE(j.contains("ignored_checkpoint_keys"));
  CHECK(j["ignored_checkpoint_keys"]["count"] == aux);
  CHECK(j["ignored_checkpoint_keys"]["reason"].get<std::string>().find("aux1") != std::string::npos);
  // A file without them (torchvision after loading, aux_logits=False) loads as well.
  StateDict no_aux;
  for (const auto& [k, t] : sd.tensors)
    if (k.rfind("aux", 0) != 0) no_aux.tensors.emplace_back(k, t);
  auto net = build_network(find_model("googlenet"));
  CHECK(load_weights(*net, no_aux, "no_aux", "googlenet").empty());
  // Any other unknown key is still an error.
  no_aux.tensors.emplace_back("aux3.fc.weight", torch::zeros({1}));
  CHECK_THROWS_AS(load_weights(*net, no_aux, "extra", "googlenet"), Error);
}

TEST_CASE("DenseNet's old-style keys are remapped as torchvision's regex does", "[networks][comparison]") {
  auto net = build_network(find_model("densenet169"));
  CHECK(net->remap_key("features.denseblock1.denselayer1.norm.1.weight") ==
        "features.denseblock1.denselayer1.norm1.weight");
  CHECK(net->remap_key("features.denseblock4.denselayer32.conv.2.weight") ==
        "features.denseblock4.denselayer32.conv2.weight");
  CHECK(net->remap_key("features.denseblock2.denselayer10.norm.2.running_var") ==
        "features.denseblock2.denselayer10.norm2.running_var");
  // Not matched by the regex: left alone.
  for (const std::string key :
       {"features.transition1.norm.weight", "features.denseblock1.denselayer1.norm.3.weight",
        "features.norm5.weight", "features.denseblock1.denselayerX.norm.1.weight",
        "features.denseblock1.denselayer1.norm.1.num_batches_tracked", "classifier.weight"})
    CHECK(net->remap_key(key) == key);
  // The legacy fixture really has the old names (its parity is in the test above).
  const StateDict sd = load_state_dict(fixture("densenet169_legacy.pth"));
  CHECK(sd.find("features.denseblock1.denselayer1.norm.1.weight") != nullptr);
}

TEST_CASE("Patch logits exist only for mean-pool + linear heads", "[networks][comparison]") {
  torch::NoGradGuard ng;
  const auto x = torch::randn({1, 3, 96, 112});
  for (const std::string model : {"alexnet", "vgg16"}) {
    auto net = build_network(find_model(model));
    net->eval();
    CHECK(!net->has_patch_logits());
    try {
      net->logit_map(x);
      FAIL("expected an error");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("no per-position (patch) logits") != std::string::npos);
    }
  }
  // For the others the mean of the map is the logits (linear head after the mean).
  for (const std::string model : {"googlenet", "densenet169", "resnet152"}) {
    auto net = build_network(find_model(model));
    net->eval();
    REQUIRE(net->has_patch_logits());
    const auto logits = net->forward(x);
    CHECK(relative_max_diff(net->logit_map(x).mean({2, 3}), logits) < 1e-5);
  }
}

TEST_CASE("Every comparison network captures each named layer for attribution", "[networks][capture]") {
  const auto x = torch::randn({1, 3, 64, 64});
  for (const std::string model : {"alexnet", "vgg16_bn", "googlenet", "resnet152", "densenet169", "resnet50",
                                  "bagnet9", "cnn_fashion_mnist"}) {
    DYNAMIC_SECTION(model) {
      const auto& spec = find_model(model);
      auto net = build_network(spec);
      net->eval();
      const auto input = spec.in_channels == 1 ? torch::randn({1, 1, 28, 28}) : x;
      const auto names = net->layer_names();
      REQUIRE(!names.empty());
      CHECK(std::find(names.begin(), names.end(), net->default_cam_layer()) != names.end());
      torch::Tensor plain;
      {
        torch::NoGradGuard ng;
        plain = net->forward(input);
      }
      for (const auto& name : names) {
        net->set_capture(name);
        const auto logits = net->forward(input);
        INFO(model << " layer " << name);
        REQUIRE(net->captured().defined());
        CHECK(net->captured().dim() == 4);
        // Capturing changes nothing, and the capture is in the autograd graph.
        CHECK(torch::allclose(logits, plain));
        if (name == net->default_cam_layer()) {
          const auto grad = torch::autograd::grad({logits[0][0]}, {net->captured()})[0];
          CHECK(grad.sizes() == net->captured().sizes());
          CHECK(grad.abs().sum().item<double>() > 0);
        }
      }
      net->set_capture("");
      CHECK(!net->captured().defined());
      try {
        net->set_capture("no_such_layer");
        FAIL("expected an error");
      } catch (const Error& e) {
        CHECK(std::string(e.what()).find(net->default_cam_layer()) != std::string::npos);
      }
    }
  }
  // The names users know from the state dicts.
  CHECK(build_network(find_model("resnet152"))->default_cam_layer() == "layer4");
  CHECK(build_network(find_model("vgg16"))->default_cam_layer() == "features.30");
  CHECK(build_network(find_model("vgg16_bn"))->default_cam_layer() == "features.43");
  CHECK(build_network(find_model("alexnet"))->default_cam_layer() == "features.12");
  CHECK(build_network(find_model("densenet169"))->default_cam_layer() == "features.norm5");
  CHECK(build_network(find_model("googlenet"))->default_cam_layer() == "inception5b");
}
