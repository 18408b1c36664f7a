// End-to-end: the bagnet-classify executable on real files, against torchvision's pipeline.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tool_helpers.h"

namespace fs = std::filesystem;
using namespace bagnet::test;

namespace {

std::string fixture(const std::string& name) {
  const std::string path = std::string(FIXTURE_DIR) + "/" + name;
  if (!fs::exists(path)) FAIL("fixture " << path << " is missing (make_fixtures runs first under ctest)");
  return path;
}

}  // namespace

TEST_CASE("bagnet-classify reproduces torchvision's preprocessing and the reference logits",
          "[cli][parity]") {
  const auto ref = nlohmann::json::parse(read_file(fixture("pipeline_reference.json")));
  const std::string weights = fixture("bagnet33.pt");
  const std::string images = std::string(FIXTURE_DIR) + "/images";
  for (const std::string mode : {"resize", "no_resize"})
    for (const std::string engine : {"auto", "eager", "onednn", "torchscript"}) {
      // Batch 3 with 4 images of different sizes: exercises partial and size-split batches (and,
      // for TorchScript and oneDNN, one compiled module or plan per batch shape).
      const auto r =
          run_tool("bagnet-classify -q --model bagnet33 --weights " + weights + " --engine " + engine +
                   " --format json -b 3 " + (mode == "no_resize" ? "--no-resize " : "") + images);
      INFO(r.err << "\nengine " << engine);
      REQUIRE(r.status == 0);
      const auto doc = nlohmann::json::parse(r.out);
      REQUIRE(doc["results"].size() == ref.size());
      for (const auto& res : doc["results"]) {
        const std::string name = fs::path(res["path"].get<std::string>()).filename();
        const auto& expect = ref.at(name).at(mode);
        INFO(name << " " << mode);
        REQUIRE(res["top"].size() == 5);
        for (size_t k = 0; k < 5; ++k) {
          CHECK(res["top"][k]["index"] == expect["index"][k]);
          CHECK(res["top"][k]["logit"].get<double>() ==
                Approx(expect["logit"][k].get<double>()).margin(2e-4));
          CHECK(res["top"][k]["probability"].get<double>() ==
                Approx(expect["probability"][k].get<double>()).margin(1e-5));
        }
      }
      // Provenance: enough to reproduce the run.
      const auto& prov = doc["provenance"];
      for (const char* key :
           {"version", "git_commit", "libtorch", "device", "threads", "command_line", "time_utc"})
        CHECK(prov.contains(key));
      CHECK(doc["model"]["weights"]["sha256"].get<std::string>().size() == 64);
      CHECK(doc["model"]["preprocessing"]["no_resize"] == (mode == "no_resize"));
      CHECK(doc["model"]["engine"] == (engine == "auto" ? "onednn" : engine));
      CHECK(doc["model"]["precision"] == "fp32");
    }
  // bf16 needs the oneDNN engine: a one-line error naming the option, not a silent fp32 run.
  const auto r = run_tool("bagnet-classify -q --model bagnet33 --weights " + weights +
                          " --engine eager --precision bf16 " + images);
  CHECK(r.status != 0);
  CHECK(r.err.find("--precision bf16") != std::string::npos);
  CHECK(r.err.find("oneDNN engine only") != std::string::npos);
  // A CPU without bf16 kernels (oneDNN limited to AVX2, as on AVX2-only machines): refused at
  // start with one line, before any image is read, not an internal error or a crawl.
  const auto avx2 = run_command("DNNL_MAX_CPU_ISA=AVX2 " + std::string(BAGNET_BIN_DIR) +
                                "/bagnet-classify -q --model bagnet33 --weights " + weights +
                                " --precision bf16 " + images);
  CHECK(avx2.status == 1);
  CHECK(avx2.out.empty());
  CHECK(avx2.err ==
        "bagnet-classify: --precision bf16: this CPU has no bf16 convolution kernels in oneDNN "
        "(they need AVX-512, and AMX to beat fp32): use fp32\n");
}

TEST_CASE("bagnet-classify: bad images fail one by one, the rest still get results", "[cli][errors]") {
  const fs::path d = scratch_dir("bad");
  fs::copy_file(std::string(FIXTURE_DIR) + "/images/c.png", d / "good.png");
  write_bytes(d / "empty.png", "");
  write_bytes(d / "text.jpg", "this is not an image\n");
  const std::string png = read_file(d / "good.png");
  write_bytes(d / "truncated.png", png.substr(0, png.size() / 2));
  const auto r = run_tool("bagnet-classify -q --model bagnet9 --weights " + fixture("bagnet9.pt") +
                          " --format json " + d.string() + " " + (d / "missing.png").string());
  INFO(r.err);
  CHECK(r.status == 1);
  const auto doc = nlohmann::json::parse(r.out);
  size_t ok = 0;
  for (const auto& res : doc["results"]) ok += res.contains("top") ? 1 : 0;
  CHECK(ok == 1);
  CHECK(doc["failures"].size() == 4);
  for (const char* name : {"empty.png", "text.jpg", "truncated.png", "missing.png"}) {
    INFO(name);
    // One stderr line naming the file and the reason.
    bool found = false;
    std::istringstream lines(r.err);
    for (std::string line; std::getline(lines, line);)
      if (line.find(name) != std::string::npos && line.find(": ") != std::string::npos) found = true;
    CHECK(found);
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-classify: bad checkpoints, models and devices give one-line errors", "[cli][errors]") {
  const fs::path d = scratch_dir("ckpt");
  const std::string image = std::string(FIXTURE_DIR) + "/images/c.png";
  const std::string weights = read_file(fixture("bagnet9.pt"));
  write_bytes(d / "truncated.pt", weights.substr(0, weights.size() / 3));
  write_bytes(d / "garbage.pt", std::string(1000, '\x42'));
  for (const auto& [args, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--model bagnet9 --weights " + (d / "truncated.pt").string(), "truncated.pt: "},
           {"--model bagnet9 --weights " + (d / "garbage.pt").string(), "garbage.pt: "},
           {"--model bagnet9 --weights " + (d / "none.pt").string(), "none.pt: "},
           {"--model bagnet33 --weights " + fixture("bagnet9.pt"), "does not fit bagnet33"},
           {"--model nosuchnet", "unknown model"},
           {"--model bagnet9 --weights " + fixture("bagnet9.pt") + " --device cuda:7", "--device cuda:7"},
           {"--model bagnet9 --weights " + fixture("bagnet9.pt") + " --engine jit", "--engine jit: must be"},
       }) {
    const auto r = run_tool("bagnet-classify -q " + args + " " + image);
    INFO(args << "\n" << r.err);
    CHECK(r.status != 0);
    CHECK(r.out.empty());
    CHECK(r.err.find(needle) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  fs::remove_all(d);
}

TEST_CASE("bagnet-classify without weights says where to get them", "[cli][errors]") {
  const auto r = run_tool("bagnet-classify -q " + std::string(FIXTURE_DIR) + "/images/c.png");
  // Runs with HOME and BAGNET_WEIGHTS as the caller has them; the official file is not here.
  INFO(r.err);
  if (r.status == 0) {
    WARN(
        "bagnet33 weights are installed on this machine; the missing-weights message is covered in "
        "test_networks");
    return;
  }
  CHECK(r.err.find("bagnet32-2ddd53ed.pth.tar") != std::string::npos);
  CHECK(r.err.find("https://bitbucket.org/wielandbrendel") != std::string::npos);
}
