// bagnet-bench's device comparison (--parity-device, used by scripts/gpu_check.sh on a GPU
// machine) and dense mode, run here CPU against CPU: the same weights and inputs on both sides
// must give identical outputs, so any difference is the harness's own (weights not copied,
// BatchNorm folded twice, inputs not shared). The CUDA side itself needs a GPU.
#include <algorithm>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tool_helpers.h"  // not test_helpers.h: this file needs no torch headers

using namespace bagnet::test;

namespace {

// The random-weight BagNet-9 checkpoint of tests/python/make_fixtures.py (ctest fixture torch_fixtures).
std::string fixture(const std::string& name) {
  const std::string path = std::string(FIXTURE_DIR) + "/" + name;
  if (!fs::exists(path)) FAIL("fixture " << path << " is missing: ctest runs make_fixtures first");
  return path;
}

std::vector<nlohmann::json> rows(const std::string& out) {
  std::vector<nlohmann::json> r;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) r.push_back(nlohmann::json::parse(line));
  return r;
}

}  // namespace

TEST_CASE("bagnet-bench --parity-device cpu: same network and inputs on both sides, no difference",
          "[bench]") {
  struct Case {
    std::string args;
    std::vector<int64_t> shape;  // of one batch-2 output
  };
  const std::vector<Case> cases = {
      {"--model bagnet9 --size 40", {2, 1000}},                                     // random weights
      {"--model bagnet9 --size 40 --weights " + fixture("bagnet9.pt"), {2, 1000}},  // loaded
      {"--model bagnet9 --size 40 --mode map", {2, 1000, 4, 4}},                    // (40 - 9) / 8 + 1
      {"--model bagnet9 --size 24 --mode dense --classes 3", {2, 3, 24, 24}},       // phases
      {"--model bagnet9 --size 24 --mode dense --classes 3 --dense-algorithm atrous", {2, 3, 24, 24}},
      {"--model resnet50 --size 32", {2, 1000}},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const auto r = run_tool("bagnet-bench --parity-device cpu --threads 1 --batch 2 " + c.args);
    REQUIRE(r.status == 0);
    const auto out = rows(r.out);
    REQUIRE(out.size() == 1);
    const auto& row = out[0];
    CHECK(row["parity"] == true);
    CHECK(row["shape"].get<std::vector<int64_t>>() == c.shape);
    CHECK(row["max_abs_diff"].get<double>() == 0.0);
    CHECK(row["reference_max_abs"].get<double>() > 0.0);
    CHECK(row["within_tolerance"] == true);
    CHECK(row["device"] == "cpu");
  }
}

TEST_CASE("bagnet-bench --mode dense: stride-1 map timings with their MAC counts", "[bench]") {
  const auto r = run_tool(
      "bagnet-bench --model bagnet9 --mode dense --size 16 --batch 1 --classes 2 --iters 1 --warmup 0 "
      "--threads 1 "
      "--dense-algorithm atrous");
  REQUIRE(r.status == 0);
  const auto out = rows(r.out);
  REQUIRE(out.size() == 1);
  CHECK(out[0]["mode"] == "dense");
  CHECK(out[0]["stride"] == 1);
  CHECK(out[0]["classes"] == 2);
  CHECK(out[0]["dense_algorithm"] == "atrous");
  CHECK(out[0]["macs"].get<double>() > 0);
  CHECK(out[0]["ms_median"].get<double>() > 0);
}

TEST_CASE("bagnet-bench: dense maps of a non-BagNet and unavailable devices are one-line errors",
          "[bench][errors]") {
  auto r = run_tool("bagnet-bench --model resnet50 --mode dense --size 32 --batch 1 --iters 1 --warmup 0");
  CHECK(r.status == 1);
  CHECK(r.err == "bagnet-bench: --mode dense: needs a BagNet (patch logits), not resnet50\n");
  r = run_tool("bagnet-bench --model bagnet9 --parity-device tpu --size 32 --batch 1");
  CHECK(r.status == 1);
  CHECK(r.err.rfind("bagnet-bench: --device tpu: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
}
