// bagnet-train's core on Fashion-MNIST (Debian's dataset-fashion-mnist): learning, seeds,
// resume, checkpoint compatibility with torch.load, and bad data.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "datasets/folder.h"
#include "datasets/idx.h"
#include "lib/checkpoint.h"
#include "lib/error.h"
#include "networks/model.h"
#include "networks/registry.h"
#include "training/training.h"

namespace fs = std::filesystem;
using namespace bagnet;

namespace {

const std::string kFashion = "/usr/share/datasets/fashion-mnist";

void require_fashion_mnist() {
  if (!fs::exists(kFashion + "/train-images-idx3-ubyte.gz"))
    FAIL("Fashion-MNIST is missing: scripts/setup.sh installs dataset-fashion-mnist");
}

fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("bagnet_train_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// A small BagNet (receptive field 7, stride 2) so that a test epoch takes seconds.
TrainConfig tiny_config(const fs::path& out) {
  TrainConfig c;
  c.model = "bagnet";
  c.bagnet.stem_width = 8;
  c.bagnet.widths = {8, 16};
  c.bagnet.blocks = {1, 1};
  c.bagnet.kernel3 = {1, 1};
  c.bagnet.strides = {1, 2};
  c.bagnet.expansion = 2;
  c.data = kFashion;
  c.limit_train = 1000;
  c.limit_val = 500;
  c.epochs = 2;
  c.batch_size = 50;
  c.lr = 0.05;
  c.crop_padding = 2;
  c.flip = true;
  c.seed = 7;
  c.mean = {0.2860f};
  c.std = {0.3530f};
  c.bagnet.stem_bn_momentum = 0.1;  // the reference's 0.001 needs thousands of steps to settle
  c.output_dir = out.string();
  c.progress = false;
  c.device = "cpu";
  return c;
}

// Same keys, bitwise equal tensors.
bool same_checkpoints(const std::string& a, const std::string& b) {
  const StateDict sa = load_state_dict(a), sb = load_state_dict(b);
  if (sa.tensors.size() != sb.tensors.size()) return false;
  for (const auto& [key, t] : sa.tensors) {
    const at::Tensor* u = sb.find(key);
    if (!u || !torch::equal(t, *u)) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("A short training run lowers the loss and beats chance; the seed fixes the weights", "[training]") {
  require_fashion_mnist();
  const fs::path a = scratch("a"), b = scratch("b");
  TrainConfig c = tiny_config(a);
  const TrainResult r = train(c);
  REQUIRE(r.epochs.size() == 2);
  CHECK(r.epochs[1].train_loss < r.epochs[0].train_loss);
  CHECK(r.epochs[0].train_loss < std::log(10.0));  // below chance-level cross-entropy
  CHECK(r.epochs[1].train_accuracy > 0.3);         // chance is 0.1
  CHECK(r.epochs[1].val_accuracy > 0.3);
  // JSONL log: one line per epoch.
  std::ifstream log(a / "log.jsonl");
  int lines = 0;
  for (std::string line; std::getline(log, line);) {
    const auto j = nlohmann::json::parse(line);
    CHECK(j.contains("lr"));
    CHECK(j.contains("seconds"));
    ++lines;
  }
  CHECK(lines == 2);

  c.output_dir = b.string();
  train(c);
  CHECK(same_checkpoints((a / "checkpoint.pt").string(), (b / "checkpoint.pt").string()));

  // Another seed, other weights.
  const fs::path d = scratch("d");
  c.output_dir = d.string();
  c.seed = 8;
  c.epochs = 1;
  train(c);
  CHECK_FALSE(same_checkpoints((a / "checkpoint.pt").string(), (d / "checkpoint.pt").string()));
  for (const auto& p : {a, b, d}) fs::remove_all(p);
}

TEST_CASE("A run interrupted after one epoch and resumed equals an uninterrupted one", "[training]") {
  require_fashion_mnist();
  const fs::path whole = scratch("whole"), parts = scratch("parts");
  TrainConfig c = tiny_config(whole);
  train(c);

  c.output_dir = parts.string();
  c.stop_after_epochs = 1;
  REQUIRE(train(c).completed_epochs == 1);
  // Without --resume an existing run is not overwritten.
  c.stop_after_epochs = 0;
  CHECK_THROWS_AS(train(c), Error);
  c.resume = true;
  REQUIRE(train(c).completed_epochs == 2);
  CHECK(same_checkpoints((whole / "checkpoint.pt").string(), (parts / "checkpoint.pt").string()));

  // Resuming with other settings is refused.
  c.lr = 0.5;
  c.epochs = 3;
  CHECK_THROWS_AS(train(c), Error);
  fs::remove_all(whole);
  fs::remove_all(parts);
}

TEST_CASE("Checkpoints are read by torch.load and by the toolkit's loader alike", "[training][python]") {
  require_fashion_mnist();
  const fs::path d = scratch("py");
  TrainConfig c = tiny_config(d);
  c.epochs = 1;
  c.limit_train = 200;
  train(c);
  // torch.load reads it; re-saved by PyTorch in the legacy format, it must come back identical.
  const std::string resaved = (d / "resaved.pth.tar").string();
  const std::string cmd = std::string(BAGNET_PYTHON) +
                          " -c \"import sys, torch; sd = torch.load(sys.argv[1], weights_only=True); "
                          "assert all(isinstance(v, torch.Tensor) for v in sd.values()); "
                          "torch.save(sd, sys.argv[2], _use_new_zipfile_serialization=False)\" " +
                          (d / "checkpoint.pt").string() + " " + resaved;
  REQUIRE(std::system(cmd.c_str()) == 0);
  CHECK(same_checkpoints((d / "checkpoint.pt").string(), resaved));
  fs::remove_all(d);
}

TEST_CASE("Bad training data gives clear errors", "[training][errors]") {
  const fs::path d = scratch("bad");
  // Wrong magic.
  std::ofstream(d / "wrong.idx", std::ios::binary) << std::string(
      "\x01\x02\x08\x01\x00\x00\x00\x02"
      "ab",
      10);
  try {
    read_idx((d / "wrong.idx").string());
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find((d / "wrong.idx").string() + ": ") == 0);
    CHECK(msg.find("wrong magic") != std::string::npos);
  }
  // Truncated: the header promises 3 x 4 x 4 bytes.
  std::ofstream(d / "short.idx", std::ios::binary)
      << std::string("\x00\x00\x08\x03\x00\x00\x00\x03\x00\x00\x00\x04\x00\x00\x00\x04xyz", 19);
  try {
    read_idx((d / "short.idx").string());
    FAIL("expected an error");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find((d / "short.idx").string() + ": ") == 0);
    CHECK(msg.find("truncated") != std::string::npos);
  }
  // A gzip file cut in half.
  if (fs::exists(kFashion + "/t10k-labels-idx1-ubyte.gz")) {
    std::ifstream in(kFashion + "/t10k-labels-idx1-ubyte.gz", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(d / "cut.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
    CHECK_THROWS_WITH(read_idx((d / "cut.gz").string()),
                      Catch::Contains("cut.gz") && Catch::Contains("truncated"));
  }
  // Image folders: none at all, and an empty class.
  fs::create_directories(d / "folders_none");
  CHECK_THROWS_WITH(read_image_folder((d / "folders_none").string()), Catch::Contains("no class folders"));
  fs::create_directories(d / "folders" / "cat");
  fs::create_directories(d / "folders" / "dog");
  std::ofstream(d / "folders" / "cat" / "x.png") << "not really";
  CHECK_THROWS_WITH(read_image_folder((d / "folders").string()),
                    Catch::Contains("dog") && Catch::Contains("class folder has no images"));
  fs::remove_all(d);
}

TEST_CASE("The embedded Fashion-MNIST models reach their recorded accuracy", "[training][embedded]") {
  require_fashion_mnist();
  // The BagNet and its global counterpart, the VGG-like cnn_fashion_mnist.
  for (const std::string name : {"bagnet11_fashion_mnist", "cnn_fashion_mnist"}) {
    DYNAMIC_SECTION(name) {
      const ModelSpec& spec = find_model(name);
      REQUIRE(spec.embedded);
      // A fixed 1000-image slice: quick, and well above the 85% floor for models at ~90%.
      const EvalResult slice = evaluate_idx(spec.name, "", kFashion, 1000, "cpu");
      REQUIRE(slice.count == 1000);
      CHECK(slice.accuracy >= 0.85);
      // The whole test set gives exactly the accuracies its registry row records.
      const EvalResult full = evaluate_idx(spec.name, "", kFashion, 0, "cpu");
      REQUIRE(full.count == 10000);
      const double recorded = spec.raw.at("accuracy").at("test").get<double>();
      CHECK(full.accuracy == Approx(recorded).margin(1e-9));
      CHECK(std::accumulate(full.per_class_count.begin(), full.per_class_count.end(), 0) == 10000);
      const auto& per_class = spec.raw.at("accuracy").at("per_class");
      const Labels& labels = model_labels(spec);
      for (size_t k = 0; k < labels.size(); ++k) {
        INFO(labels.names[k]);
        CHECK(static_cast<double>(full.per_class_correct[k]) / full.per_class_count[k] ==
              Approx(per_class.at(labels.names[k]).get<double>()).margin(5e-4));
      }
    }
  }
}

TEST_CASE("Precise BN sets the stem's statistics to the average over the training images", "[training]") {
  require_fashion_mnist();
  const fs::path d = scratch("pbn");
  TrainConfig c = tiny_config(d);
  c.epochs = 1;
  c.limit_train = 300;
  c.precise_bn = 300;
  c.batch_size = 100;
  train(c);
  const StateDict sd = load_state_dict((d / "checkpoint.pt").string());
  // The stem's BatchNorm sees conv2(conv1(x)): recompute that by hand for the same images.
  const IdxDataset data = read_mnist_dir(kFashion, "train");
  auto x = torch::from_blob(const_cast<uint8_t*>(data.images.data()), {300, 1, 28, 28}, torch::kUInt8)
               .to(torch::kFloat32)
               .div(255)
               .sub(0.2860f)
               .div(0.3530f);
  auto y = torch::conv2d(torch::conv2d(x, *sd.find("conv1.weight")), *sd.find("conv2.weight"));
  // Precise BN averages the per-batch means (equal batches: the overall mean).
  const auto expected = y.mean({0, 2, 3});
  CHECK(torch::allclose(*sd.find("bn1.running_mean"), expected, 1e-4, 1e-5));
  fs::remove_all(d);
}
