// AdaIN style transfer (stylize/, bagnet-stylize) against a reference written from the method's
// description (tests/python/make_stylize_fixtures.py), with random weights; the style
// assignment's invariance to sharding and resumption; bad inputs; the end-to-end workflow.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <set>
#include <thread>

#include "lib/error.h"
#include "lib/image.h"
#include "stylize/adain.h"
#include "stylize/assign.h"
#include "stylize/run.h"
#include "test_helpers.h"
#include "tool_helpers.h"

namespace st = bagnet::stylize;
using bagnet::test::fixture;
using bagnet::test::io_tensor;
using bagnet::test::read_file;
using bagnet::test::relative_max_diff;
using bagnet::test::run_tool;
using bagnet::test::scratch_dir;
namespace fs = std::filesystem;

namespace {

double max_abs(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Random smooth-ish RGB images written as PNG (OpenCV), for the tool tests.
void write_image(const fs::path& p, int w, int h, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_int_distribution<int> d(0, 255);
  cv::Mat m(h, w, CV_8UC3);
  const int base = d(gen);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        m.at<cv::Vec3b>(y, x)[c] =
            static_cast<std::uint8_t>((base + x * (c + 1) + y * (3 - c) + d(gen) / 4) % 256);
  fs::create_directories(p.parent_path());
  REQUIRE(cv::imwrite(p.string(), m));
}

std::string weights_flags() {
  return " --vgg " + fixture("adain_vgg_relu4_1.pth") + " --decoder " + fixture("adain_decoder.pth");
}

// Content tree with WordNet-id folders (ImageNet's layout), 24 images; three style images.
void make_dataset(const fs::path& d, int per_class = 8) {
  const char* wnids[] = {"n01440764", "n02102040", "n02979186"};
  unsigned seed = 1;
  for (const char* w : wnids)
    for (int i = 0; i < per_class; ++i)
      write_image(d / "content" / w / (std::string(w) + "_" + std::to_string(i) + ".JPEG.png"), 40, 32,
                  seed++);
  for (int i = 0; i < 3; ++i)
    write_image(d / "styles" / ("painting" + std::to_string(i) + ".png"), 48 + 8 * i, 40, 100 + i);
}

// Largest difference between two images' pixel values. Batches of other compositions (shards,
// resumed runs) may round a value differently where float summation order straddles .5.
int max_pixel_diff(const fs::path& a, const fs::path& b) {
  const cv::Mat x = cv::imread(a.string(), cv::IMREAD_UNCHANGED),
                y = cv::imread(b.string(), cv::IMREAD_UNCHANGED);
  REQUIRE(!x.empty());
  REQUIRE(x.size == y.size);
  double worst = 0;
  cv::Mat diff;
  cv::absdiff(x, y, diff);
  cv::minMaxLoc(diff.reshape(1), nullptr, &worst);
  return static_cast<int>(worst);
}

std::vector<fs::path> pngs_below(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().extension() == ".png") out.push_back(e.path().lexically_relative(dir));
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("AdaIN encoder, AdaIN and decoder equal the reference (random weights, odd sizes)",
          "[stylize][parity]") {
  const auto io = bagnet::load_state_dict(fixture("adain_io.pt"));
  for (bool reference_ops : {false, true}) {
    st::AdainNet net(fixture("adain_vgg.pth"), fixture("adain_decoder.pth"), c10::kCPU);
    net.set_reference_ops(reference_ops);
    for (const std::string tag : {"a", "b", "c"}) {
      INFO((reference_ops ? "reference ops, " : "fast path, ") << "pair " << tag);
      const at::Tensor c = io_tensor(io, "content_" + tag), s = io_tensor(io, "style_" + tag);
      const at::Tensor fc = net.encode(c), fs_ = net.encode(s);
      REQUIRE(fc.sizes() == io_tensor(io, "fc_" + tag).sizes());
      const double e1 = relative_max_diff(fc, io_tensor(io, "fc_" + tag));
      const double e2 = relative_max_diff(fs_, io_tensor(io, "fs_" + tag));
      const auto [sm, ss] = st::mean_std(fs_);
      const at::Tensor t = st::adaptive_instance_normalization(fc, sm, ss);
      const double e3 = relative_max_diff(t, io_tensor(io, "adain_" + tag));
      const double alpha = io_tensor(io, "alpha_" + tag).item<double>();
      const at::Tensor y = net.decode(st::blend(t, fc, alpha));
      REQUIRE(y.sizes() == io_tensor(io, "out_" + tag).sizes());
      const double e4 = relative_max_diff(y, io_tensor(io, "out_" + tag));
      std::printf(
          "parity %s pair %s (%dx%d -> %dx%d): max abs diff features %.3g, adain %.3g, image %.3g "
          "(relative %.2g %.2g %.2g)\n",
          reference_ops ? "reference-ops" : "fast", tag.c_str(), static_cast<int>(c.size(3)),
          static_cast<int>(c.size(2)), static_cast<int>(y.size(3)), static_cast<int>(y.size(2)),
          max_abs(fc, io_tensor(io, "fc_" + tag)), max_abs(t, io_tensor(io, "adain_" + tag)),
          max_abs(y, io_tensor(io, "out_" + tag)), e1, e3, e4);
      CHECK(e1 < 1e-4);
      CHECK(e2 < 1e-4);
      CHECK(e3 < 1e-4);
      CHECK(e4 < 1e-4);

      // The PNG pixels: torchvision's save_image of the reference output, decoded by PIL. Our
      // conversion of the reference's own floats is exact; of our floats, at most 1 level off
      // where the float rounding straddles .5.
      const at::Tensor png = io_tensor(io, "png_" + tag);
      const bagnet::Image exact = st::to_image(io_tensor(io, "out_" + tag)[0]);
      CHECK(std::equal(exact.rgb.begin(), exact.rgb.end(), png.data_ptr<std::uint8_t>()));
      const bagnet::Image ours = st::to_image(y[0]);
      REQUIRE(ours.rgb.size() == static_cast<size_t>(png.numel()));
      size_t off = 0;
      int worst = 0;
      for (size_t i = 0; i < ours.rgb.size(); ++i) {
        const int d = std::abs(int(ours.rgb[i]) - int(png.data_ptr<std::uint8_t>()[i]));
        off += d != 0;
        worst = std::max(worst, d);
      }
      std::printf("  PNG pixels: %zu of %zu values off by one, largest difference %d\n", off, ours.rgb.size(),
                  worst);
      CHECK(worst <= 1);
    }
    // The batched path: equal-size contents, each with its own style statistics.
    const at::Tensor fb = net.encode(io_tensor(io, "batch_content"));
    std::vector<at::Tensor> means, stds;
    for (const char* n : {"style_a", "style_b", "style_a"}) {
      const auto [m, s] = st::mean_std(net.encode(io_tensor(io, n)));
      means.push_back(m[0]);
      stds.push_back(s[0]);
    }
    const at::Tensor tb = st::adaptive_instance_normalization(fb, at::stack(means), at::stack(stds));
    CHECK(relative_max_diff(tb, io_tensor(io, "batch_adain")) < 1e-4);
    CHECK(relative_max_diff(net.decode(tb), io_tensor(io, "batch_out")) < 1e-4);
  }
  // 97x131 comes out 104x136: the decoder's output is 8x the encoder's grid.
  CHECK(io_tensor(io, "out_a").size(2) == 104);
  CHECK(io_tensor(io, "out_a").size(3) == 136);
}

TEST_CASE("AdaIN weights: both torch.save formats, relu4_1-only files, wrong files refused",
          "[stylize][weights]") {
  const auto io = bagnet::load_state_dict(fixture("adain_io.pt"));
  const at::Tensor c = io_tensor(io, "content_b");
  const st::AdainNet zip(fixture("adain_vgg.pth"), fixture("adain_decoder.pth"), c10::kCPU);
  const st::AdainNet legacy(fixture("adain_vgg_legacy.pth"), fixture("adain_decoder_legacy.pth"), c10::kCPU);
  const st::AdainNet short_file(fixture("adain_vgg_relu4_1.pth"), fixture("adain_decoder.pth"), c10::kCPU);
  CHECK(zip.vgg().format == "zip");
  CHECK(legacy.vgg().format == "legacy");
  CHECK(legacy.decoder().format == "legacy");
  CHECK(at::equal(zip.encode(c), legacy.encode(c)));
  CHECK(at::equal(zip.encode(c), short_file.encode(c)));
  CHECK(at::equal(zip.decode(zip.encode(c)), legacy.decode(legacy.encode(c))));

  auto message = [](const std::string& vgg, const std::string& dec) {
    try {
      st::AdainNet net(vgg, dec, c10::kCPU);
    } catch (const bagnet::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(message(fixture("adain_decoder.pth"), fixture("adain_vgg.pth")),
             Catch::Contains("adain_decoder.pth") && Catch::Contains("swap --vgg and --decoder"));
  CHECK_THAT(message(fixture("adain_vgg.pth"), fixture("adain_vgg.pth")),
             Catch::Contains("swap --vgg and --decoder"));
  const fs::path d = scratch_dir("stylize_weights");
  {  // A decoder with one layer of the wrong shape, and one with an extra key.
    auto sd = bagnet::load_state_dict(fixture("adain_decoder.pth"));
    bagnet::TensorList t = sd.tensors;
    for (auto& [k, v] : t)
      if (k == "14.weight") v = at::zeros({128, 256, 1, 1});
    bagnet::save_state_dict((d / "bad_shape.pth").string(), t);
    CHECK_THAT(message(fixture("adain_vgg.pth"), (d / "bad_shape.pth").string()),
               Catch::Contains("bad_shape.pth") &&
                   Catch::Contains("'14.weight' has shape [128, 256, 1, 1]") &&
                   Catch::Contains("expected [128, 256, 3, 3]"));
    t = sd.tensors;
    t.emplace_back("fc.weight", at::zeros({2}));
    bagnet::save_state_dict((d / "extra.pth").string(), t);
    CHECK_THAT(message(fixture("adain_vgg.pth"), (d / "extra.pth").string()),
               Catch::Contains("unexpected key 'fc.weight'"));
    bagnet::test::write_bytes(d / "garbage.pth", "not a checkpoint");
    CHECK_THAT(message((d / "garbage.pth").string(), fixture("adain_decoder.pth")),
               Catch::Contains("garbage.pth"));
  }
  fs::remove_all(d);
}

TEST_CASE("Stylized-ImageNet's style preparation equals PIL (centre square, Lanczos thumbnail)",
          "[stylize][image]") {
  const auto io = bagnet::load_state_dict(fixture("adain_io.pt"));
  const bagnet::Image big = bagnet::load_image(fixture("stylize_images/style_big.png"));
  const bagnet::Image sq = st::square_thumbnail(big, 224);
  const at::Tensor ref = io_tensor(io, "square_thumbnail");
  REQUIRE(sq.width == 224);
  REQUIRE(sq.height == 224);
  CHECK(std::equal(sq.rgb.begin(), sq.rgb.end(), ref.data_ptr<std::uint8_t>()));
  // thumbnail never enlarges: a small painting keeps its centre square's size.
  const bagnet::Image small = st::square_thumbnail(big, 1000);
  CHECK(small.width == 263);
  CHECK(small.height == 263);
}

TEST_CASE("Style assignment: a function of seed and path only", "[stylize][assign]") {
  const auto a = st::assign_styles(7, "train/n01440764/x.JPEG", 79395, 1);
  CHECK(a == st::assign_styles(7, "train/n01440764/x.JPEG", 79395, 1));
  // Another seed or path moves most images to other styles.
  int moved_seed = 0, moved_path = 0;
  for (int i = 0; i < 50; ++i) {
    const std::string key = "val/n0/" + std::to_string(i) + ".JPEG";
    moved_seed += st::assign_styles(7, key, 1000, 1) != st::assign_styles(8, key, 1000, 1);
    moved_path += st::assign_styles(7, key, 1000, 1) != st::assign_styles(7, key + "x", 1000, 1);
  }
  CHECK(moved_seed >= 45);
  CHECK(moved_path >= 45);
  const auto five = st::assign_styles(3, "k", 5, 5);  // distinct styles
  CHECK(std::set<size_t>(five.begin(), five.end()).size() == 5);
  CHECK_THROWS_AS(st::assign_styles(3, "k", 5, 6), bagnet::Error);
  CHECK(st::manifest_line({"a,b.png", "s\"1\".jpg", "1", "o.png"}) ==
        "\"a,b.png\",\"s\"\"1\"\".jpg\",1,o.png");
}

TEST_CASE("bagnet-stylize: shards merged, killed and resumed, other seed; bad inputs", "[stylize][cli]") {
  const fs::path d = scratch_dir("stylize_cli");
  make_dataset(d);
  const std::string common = "bagnet-stylize -q --threads 2 --content " + (d / "content").string() +
                             " --styles " + (d / "styles").string() + weights_flags() +
                             " --content-size 36 --style-size 40";
  auto r = run_tool(common + " --seed 5 -o " + (d / "whole").string());
  INFO(r.err);
  REQUIRE(r.status == 0);
  const std::string whole = read_file(d / "whole" / "manifest.csv");
  const auto outputs = pngs_below(d / "whole");
  REQUIRE(outputs.size() == 24);
  CHECK(outputs[0] == fs::path("n01440764/n01440764_0.JPEG.png"));  // the tree mirrored, stem + .png
  {
    const auto j = nlohmann::json::parse(read_file(d / "whole" / "manifest.json"));
    CHECK(j["dataset"]["seed"] == 5);
    CHECK(j["dataset"]["encoder"]["sha256"].get<std::string>().size() == 64);
    CHECK(j["dataset"]["styles"]["fingerprint"].get<std::string>().size() == 64);
    CHECK(j["progress"]["complete"] == true);
    CHECK(j["progress"]["written"] == 24);
    CHECK(j.contains("provenance"));
  }
  // Rows: content, style, alpha, output, sorted.
  CHECK(whole.rfind("content,style,alpha,output\nn01440764/n01440764_0.JPEG.png,painting", 0) == 0);

  // Three shards, merged: the same manifest and the same pixels.
  for (int i = 0; i < 3; ++i) {
    r = run_tool(common + " --seed 5 --shard " + std::to_string(i) + "/3 -o " + (d / "sharded").string());
    REQUIRE(r.status == 0);
    if (i == 1) {  // merging before every shard is done is refused
      auto m = run_tool("bagnet-stylize --merge " + (d / "sharded").string());
      CHECK(m.status == 1);
      CHECK_THAT(m.err, Catch::Contains("shard 2/3 has no manifest"));
    }
  }
  r = run_tool("bagnet-stylize --merge " + (d / "sharded").string());
  REQUIRE(r.status == 0);
  CHECK(read_file(d / "sharded" / "manifest.csv") == whole);
  REQUIRE(pngs_below(d / "sharded") == outputs);
  for (const auto& p : outputs) CHECK(max_pixel_diff(d / "sharded" / p, d / "whole" / p) <= 1);

  // Another seed: another assignment.
  r = run_tool(common + " --seed 6 -o " + (d / "seed6").string());
  REQUIRE(r.status == 0);
  CHECK(read_file(d / "seed6" / "manifest.csv") != whole);

  {  // Killed (SIGKILL) part-way and resumed: the same manifest and pixels.
    const fs::path out = d / "killed";
    const std::string cmd =
        std::string(BAGNET_BIN_DIR) + "/" + common + " --seed 5 --batch-size 2 -o " + out.string();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    size_t written = 0;
    for (int i = 0; i < 2400 && written < 3; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
      written = fs::exists(out) ? pngs_below(out).size() : 0;
    }
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    written = pngs_below(out).size();
    INFO("killed with " << written << " images written");
    CHECK(written >= 3);
    CHECK(written < 24);
    r = run_tool(common + " --seed 5 -o " + out.string());
    REQUIRE(r.status == 0);
    CHECK_THAT(r.err, Catch::Contains("already done"));
    CHECK(read_file(out / "manifest.csv") == whole);
    for (const auto& p : outputs) CHECK(max_pixel_diff(out / p, d / "whole" / p) <= 1);
  }

  {  // SIGTERM: the batch in hand finished, exit 143, a manifest of what exists marked unfinished.
    const fs::path out = d / "terminated";
    const std::string cmd =
        std::string(BAGNET_BIN_DIR) + "/" + common + " --seed 5 --batch-size 2 -o " + out.string();
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      execl("/bin/sh", "sh", "-c", ("exec " + cmd + " >/dev/null 2>&1").c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 2400 && !(fs::exists(out) && !pngs_below(out).empty()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 143);
    const auto j = nlohmann::json::parse(read_file(out / "manifest.json"));
    CHECK(j["progress"]["complete"] == false);
    const size_t written = pngs_below(out).size();
    CHECK(j["progress"]["written"] == written);
    CHECK(written % 2 == 0);  // whole batches
    r = run_tool(common + " --seed 5 -o " + out.string());
    REQUIRE(r.status == 0);
    CHECK(read_file(out / "manifest.csv") == whole);
  }

  {  // The Stylized-ImageNet preset: 224x224 outputs; the flags it fixes are refused beside it.
    r = run_tool("bagnet-stylize -q --threads 2 --preset stylized-imagenet --content " +
                 (d / "content" / "n01440764" / "n01440764_0.JPEG.png").string() + " --styles " +
                 (d / "styles").string() + weights_flags() + " -o " + (d / "sin").string());
    REQUIRE(r.status == 0);
    const cv::Mat img = cv::imread((d / "sin" / "n01440764_0.JPEG.png").string());
    CHECK(img.cols == 224);
    CHECK(img.rows == 224);
    CHECK(nlohmann::json::parse(read_file(d / "sin" / "manifest.json"))["dataset"]["preset"] ==
          "stylized-imagenet");
    r = run_tool(common + " --preset stylized-imagenet --alpha 0.5 -o " + (d / "x").string());
    CHECK(r.status == 2);
    CHECK_THAT(r.err, Catch::Contains("--alpha") && Catch::Contains("fixed by --preset"));
  }

  // Bad inputs: one line each, non-zero exit.
  fs::create_directories(d / "empty_styles");
  r = run_tool("bagnet-stylize -q --content " + (d / "content").string() + " --styles " +
               (d / "empty_styles").string() + weights_flags() + " -o " + (d / "x").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("empty_styles: no style images"));
  r = run_tool(common + " --alpha 1.5 -o " + (d / "x").string());
  CHECK(r.status == 2);
  CHECK_THAT(r.err, Catch::Contains("--alpha") && Catch::Contains("between 0 and 1"));
  r = bagnet::test::run_command("env BAGNET_WEIGHTS=" + (d / "empty_styles").string() +
                                " HOME=" + d.string() + " " + std::string(BAGNET_BIN_DIR) +
                                "/bagnet-stylize -q --content " + (d / "content").string() + " --styles " +
                                (d / "styles").string() + " -o " + (d / "x").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("weights not found: vgg_normalised.pth") &&
                        Catch::Contains("https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/"
                                        "vgg_normalised.pth") &&
                        Catch::Contains("--vgg FILE"));
  r = run_tool("bagnet-stylize -q --content " + (d / "content").string() + " --styles " +
               (d / "styles").string() + " --vgg " + fixture("adain_decoder.pth") + " --decoder " +
               fixture("adain_vgg.pth") + " -o " + (d / "x").string());
  CHECK(r.status == 1);
  CHECK_THAT(r.err, Catch::Contains("swap --vgg and --decoder"));
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);

  {  // Unreadable content and a style too small for the encoder: listed, the rest goes on.
    const fs::path c = d / "bad_content";
    fs::create_directories(c / "n01440764");
    write_image(c / "n01440764" / "good.png", 40, 32, 7);
    bagnet::test::write_bytes(c / "n01440764" / "broken.png", "\x89PNG\r\n\x1a\nnot really");
    write_image(c / "n01440764" / "tiny.png", 6, 30, 8);
    r = run_tool("bagnet-stylize -q --content " + c.string() + " --styles " + (d / "styles").string() +
                 weights_flags() + " -o " + (d / "bad_out").string());
    CHECK(r.status == 3);
    const std::string skipped = read_file(d / "bad_out" / "skipped.txt");
    CHECK_THAT(skipped, Catch::Contains("n01440764/broken.png\t"));
    CHECK_THAT(skipped,
               Catch::Contains("n01440764/tiny.png\t") && Catch::Contains("too small for the encoder"));
    CHECK(fs::exists(d / "bad_out" / "n01440764" / "good.png"));
    fs::create_directories(d / "tiny_styles");
    write_image(d / "tiny_styles" / "t.png", 8, 8, 9);
    r = run_tool("bagnet-stylize -q --content " + (c / "n01440764" / "good.png").string() + " --styles " +
                 (d / "tiny_styles").string() + weights_flags() + " --style-size 0 -o " +
                 (d / "tiny_out").string());
    CHECK(r.status == 3);
    CHECK_THAT(read_file(d / "tiny_out" / "skipped.txt"),
               Catch::Contains("style image t.png of 8x8 is too small for the encoder"));
  }
  fs::remove_all(d);
}

TEST_CASE("End to end: stylize a WordNet-id tree, then bagnet-eval reads it as class folders",
          "[stylize][e2e]") {
  const fs::path d = scratch_dir("stylize_e2e");
  {  // The tool's own PNG (decoding, ToTensor, network, save) against the reference's save_image.
    fs::create_directories(d / "one" / "c");
    fs::create_directories(d / "one" / "s");
    fs::copy_file(fixture("stylize_images/content_a.png"), d / "one" / "c" / "content_a.png");
    fs::copy_file(fixture("stylize_images/style_a.png"), d / "one" / "s" / "style_a.png");
    const auto r =
        run_tool("bagnet-stylize -q --content " + (d / "one" / "c").string() + " --styles " +
                 (d / "one" / "s").string() + " --vgg " + fixture("adain_vgg.pth") + " --decoder " +
                 fixture("adain_decoder.pth") + " --style-size 0 -o " + (d / "one" / "out").string());
    REQUIRE(r.status == 0);
    CHECK(max_pixel_diff(d / "one" / "out" / "content_a.png", fixture("stylize_reference/a.png")) <= 1);
  }
  make_dataset(d, 2);
  auto r = run_tool("bagnet-stylize -q --threads 2 --content " + (d / "content").string() + " --styles " +
                    (d / "styles").string() + weights_flags() + " --content-size 64 --crop 56 -o " +
                    (d / "stylized").string());
  INFO(r.err);
  REQUIRE(r.status == 0);
  r = run_tool("bagnet-eval -q -m bagnet9 -w " + fixture("bagnet9.pt") + " --threads 2 --data " +
               (d / "stylized").string() + " -o " + (d / "eval").string() + " --format json");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto s = nlohmann::json::parse(read_file(d / "eval" / "summary.json"));
  CHECK(s["images"] == 6);
  CHECK(s["evaluated"] == 6);
  CHECK(s["dataset"]["kind"] == "class-folders");
  fs::remove_all(d);
}
