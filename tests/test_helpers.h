#pragma once
// Shared by the tests: fixture paths, tensor comparison, the bf16 engine.
#include <torch/torch.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "inference/onednn.h"
#include "lib/checkpoint.h"

namespace bagnet::test {

inline std::string fixture(const std::string& name) {
  const std::string path = std::string(FIXTURE_DIR) + "/" + name;
  if (!std::filesystem::exists(path))
    FAIL("fixture " << path
                    << " is missing: ctest runs make_fixtures first (needs /usr/bin/python3 with torch)");
  return path;
}

inline at::Tensor io_tensor(const StateDict& sd, const std::string& key) {
  const at::Tensor* t = sd.find(key);
  if (!t) FAIL("fixture has no tensor " << key);
  return *t;
}

// max |a - b| relative to the largest |b|: float32 summation order differs between
// implementations, so equal networks agree to ~1e-6 of the logit scale, not bitwise.
inline double relative_max_diff(const at::Tensor& a, const at::Tensor& b) {
  REQUIRE(a.sizes() == b.sizes());
  const double scale = b.abs().max().item<double>();
  return (a - b).abs().max().item<double>() / std::max(scale, 1e-12);
}

// --precision bf16 on the oneDNN engine (8-bit mantissas, fp32 sums), in relative_max_diff's
// terms: README Speed gives the errors measured; a wrong layout or crop is off by order 1.
constexpr double kBf16Tolerance = 3e-2;

// The oneDNN engine in bf16, or null where this CPU's oneDNN has no bf16 kernels (no AVX-512):
// then the documented refusal's text is checked and the test says, loudly, that bf16 was not run.
inline std::unique_ptr<OneDnnForward> bf16_engine_or_warn(std::shared_ptr<NetworkImpl> net) {
  try {
    return std::make_unique<OneDnnForward>(std::move(net), Precision::bf16);
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("no bf16 convolution kernels"));
    WARN("bf16 not run on this CPU: " << e.what());
    return nullptr;
  }
}

}  // namespace bagnet::test
