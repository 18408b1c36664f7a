// lib/image: decoding and preprocessing compared with PIL and torchvision themselves.
//
// Test images are written at test time into a temporary folder (noise, odd sizes, every mode
// PIL's convert('RGB') treats differently); tests/python/pil_reference.py then runs Pillow 9.4
// and torchvision 0.14 on them once, and every comparison below must be exact: uint8 images
// equal, float tensors equal bit for bit.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "lib/error.h"
#include "lib/image.h"

namespace fs = std::filesystem;
using bagnet::Image;

namespace {

const char* const kImagenetMean = "0.485,0.456,0.406";
const char* const kImagenetStd = "0.229,0.224,0.225";

using Bytes = std::vector<std::uint8_t>;

Bytes read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_bytes(const fs::path& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Uniform noise: the hardest input for a resampler (every weight matters) and for a codec.
cv::Mat noise(int width, int height, int type, unsigned seed) {
  cv::Mat m(height, width, type);
  cv::theRNG().state = seed;
  cv::randu(m, cv::Scalar::all(0), cv::Scalar::all(CV_MAT_DEPTH(type) == CV_16U ? 65536 : 256));
  return m;
}

void imwrite_or_fail(const fs::path& path, const cv::Mat& m, const std::vector<int>& params = {}) {
  if (!cv::imwrite(path.string(), m, params)) FAIL("cannot write test image " << path);
}

std::vector<float> parse_floats(const std::string& csv) {
  std::vector<float> v;
  std::stringstream in(csv);
  for (std::string item; std::getline(in, item, ',');) v.push_back(std::stof(item));  // strtof: nearest float
  return v;
}

bagnet::Preprocessing preprocessing(int resize, int crop, const std::string& interpolation, bool gray,
                                    const std::string& mean, const std::string& std) {
  bagnet::Preprocessing p;
  p.resize = resize;
  p.crop = crop;
  p.interpolation = interpolation;
  p.grayscale = gray;
  const std::vector<float> m = parse_floats(mean), s = parse_floats(std);
  for (size_t c = 0; c < 3; ++c) {
    p.mean[c] = m[std::min(c, m.size() - 1)];
    p.std[c] = s[std::min(c, s.size() - 1)];
  }
  return p;
}

// Raw files written by pil_reference.py.
struct U8Image {
  int width = 0, height = 0, channels = 0;
  Bytes data;
};

U8Image read_u8(const fs::path& path) {
  const Bytes b = read_bytes(path);
  REQUIRE(b.size() >= 12);
  U8Image img;
  std::memcpy(&img.width, &b[0], 4);
  std::memcpy(&img.height, &b[4], 4);
  std::memcpy(&img.channels, &b[8], 4);
  img.data.assign(b.begin() + 12, b.end());
  REQUIRE(img.data.size() == static_cast<size_t>(img.width) * img.height * img.channels);
  return img;
}

struct Tensor {
  int channels = 0, height = 0, width = 0;
  std::vector<float> data;
};

Tensor read_tensor(const fs::path& path) {
  const Bytes b = read_bytes(path);
  REQUIRE(b.size() >= 12);
  Tensor t;
  std::memcpy(&t.channels, &b[0], 4);
  std::memcpy(&t.height, &b[4], 4);
  std::memcpy(&t.width, &b[8], 4);
  t.data.resize((b.size() - 12) / 4);
  std::memcpy(t.data.data(), &b[12], t.data.size() * 4);
  REQUIRE(t.data.size() == static_cast<size_t>(t.channels) * t.height * t.width);
  return t;
}

// Max |difference| of two RGB images, after checking the sizes.
int max_diff(const Image& ours, const U8Image& pil) {
  REQUIRE(pil.channels == 3);
  REQUIRE(ours.width == pil.width);
  REQUIRE(ours.height == pil.height);
  int worst = 0;
  for (size_t i = 0; i < pil.data.size(); ++i) worst = std::max(worst, std::abs(ours.rgb[i] - pil.data[i]));
  return worst;
}

// ------------------------------------------------------------------------------------------
// The fixture: images, one Python run, reference files.

struct Case {
  std::string name;   // file name in the folder
  std::string maker;  // "" = written here with OpenCV, else a pil_reference.py `make` kind
  int width, height;
};

// Images compared with PIL's decoding; all but the last three are expected to match exactly.
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"rgb_301x257.png", "", 301, 257},
      {"rgb_213x320.png", "", 213, 320},
      {"rgb_224x224.png", "", 224, 224},
      {"rgb_256x300.png", "", 256, 300},
      {"rgb_7x5.png", "", 7, 5},
      {"photo_500x375.jpg", "", 500, 375},
      {"gray_190x211.png", "", 190, 211},
      {"rgba_123x77.png", "", 123, 77},
      {"rgb16_97x61.png", "", 97, 61},
      {"rgb_50x40.bmp", "", 50, 40},
      {"rgb_61x47.tiff", "", 61, 47},
      {"rgb_80x60.webp", "", 80, 60},
      {"lossless_80x60.webp", "", 80, 60},
      {"rgb_33x29.ppm", "", 33, 29},
      {"gray_33x29.pgm", "", 33, 29},
      {"palette_150x100.png", "palette", 150, 100},
      {"palette_trns_150x100.png", "palette-trns", 150, 100},
      {"la_120x90.png", "la", 120, 90},
      {"bilevel_77x55.png", "bilevel", 77, 55},
      {"progressive_320x240.jpg", "jpeg-progressive", 320, 240},
      {"yuv444_320x240.jpg", "jpeg-444", 320, 240},
      {"gray_320x240.jpg", "jpeg-gray", 320, 240},
      {"exif_rotated_120x80.jpg", "jpeg-exif-rotated", 120, 80},
      // Known, documented differences from PIL (checked separately below):
      {"gray16_64x50.png", "", 64, 50},
      {"cmyk_160x120.jpg", "jpeg-cmyk", 160, 120},
      {"anim_40x30.gif", "gif", 40, 30},
  };
  return all;
}

struct ResizeJob {
  std::string image;
  int width, height;
  std::string filter;  // as pil_reference.py names Pillow's filters
  std::string out() const {
    return "resize_" + image + "_" + std::to_string(width) + "x" + std::to_string(height) + "_" + filter +
           ".u8";
  }
};

const std::vector<ResizeJob>& resize_jobs() {
  static const std::vector<ResizeJob> all = [] {
    std::vector<ResizeJob> jobs;
    // Down and up by non-integer factors, one axis only, extreme aspect, 1x1, and what Resize(256) asks.
    const int sizes[][2] = {{256, 218}, {97, 61}, {640, 480}, {301, 100}, {150, 257},
                            {1, 1},     {3, 700}, {300, 256}, {299, 256}};
    for (const auto& [w, h] : sizes) jobs.push_back({"rgb_301x257.png", w, h, "bilinear"});
    jobs.push_back({"rgb_7x5.png", 640, 480, "bilinear"});
    jobs.push_back({"rgb_7x5.png", 2, 3, "bilinear"});
    jobs.push_back({"photo_500x375.jpg", 341, 256, "bilinear"});
    jobs.push_back({"rgb_224x224.png", 256, 256, "bilinear"});
    return jobs;
  }();
  return all;
}

struct PipelineJob {
  std::string image;  // a name in the folder, or an absolute path (real stimuli)
  int resize, crop;
  std::string interpolation;
  bool gray;
  std::string mean, std;
  std::string out;
};

std::vector<PipelineJob> pipeline_jobs(const std::vector<std::string>& stimuli) {
  std::vector<PipelineJob> jobs;
  int n = 0;
  auto add = [&](const std::string& image, int resize, int crop, const std::string& interp, bool gray,
                 const std::string& mean = kImagenetMean, const std::string& std = kImagenetStd) {
    jobs.push_back(
        {image, resize, crop, interp, gray, mean, std, "pipeline_" + std::to_string(n++) + ".f32"});
  };
  for (const char* image : {"rgb_301x257.png", "rgb_213x320.png", "rgb_224x224.png", "rgb_256x300.png",
                            "photo_500x375.jpg", "progressive_320x240.jpg", "palette_150x100.png"})
    add(image, 256, 224, "bilinear", false);
  // Bicubic (Pillow's a = -0.5 cubic) through the same resampler: down, up, and a crop.
  add("rgb_301x257.png", 256, 224, "bicubic", false);
  add("rgb_301x257.png", 97, 0, "bicubic", false);
  add("rgb_7x5.png", 300, 0, "bicubic", false);
  add("photo_500x375.jpg", 256, 224, "bicubic", false);
  add("rgb_301x257.png", 0, 0, "bilinear", false);                // ToTensor + Normalize alone
  add("rgb_301x257.png", 0, 0, "bilinear", true, "0.5", "0.25");  // convert('L') alone
  add("rgb_301x257.png", 128, 112, "bilinear", true, "0.2860", "0.3530");
  add("gray_190x211.png", 256, 224, "bilinear", true, "0.2860", "0.3530");
  add("gray_190x211.png", 28, 0, "bilinear", true, "0.1307", "0.3081");
  for (const std::string& path : stimuli) add(path, 256, 224, "bilinear", false);
  return jobs;
}

// Up to 24 of the real stimuli (../shared/data/stimuli), spread over the folders.
std::vector<std::string> real_stimuli() {
  std::vector<std::string> all;
  const fs::path root = fs::path(SHARED_DATA_DIR) / "stimuli";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return all;
  for (const auto& entry : fs::recursive_directory_iterator(root, ec))
    if (entry.path().extension() == ".png") all.push_back(entry.path().string());
  std::sort(all.begin(), all.end());
  std::vector<std::string> picked;
  const size_t step = std::max<size_t>(1, all.size() / 24);
  for (size_t i = 0; i < all.size() && picked.size() < 24; i += step) picked.push_back(all[i]);
  return picked;
}

class Fixture {
 public:
  Fixture() {
    std::string pattern = (fs::temp_directory_path() / "bagnet_test_image_XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw std::runtime_error("cannot create a temporary folder");
    dir_ = pattern;
    stimuli_ = real_stimuli();
    write_images();
    run_python();
  }
  ~Fixture() {
    std::error_code ec;
    if (!std::getenv("BAGNET_KEEP_TEST_FILES")) fs::remove_all(dir_, ec);
  }
  fs::path path(const std::string& name) const { return dir_ / name; }
  const std::vector<std::string>& stimuli() const { return stimuli_; }
  const std::vector<PipelineJob>& pipelines() const { return pipelines_; }
  bool python_ok() const { return python_ok_; }

 private:
  void write_images() {
    imwrite_or_fail(path("rgb_301x257.png"), noise(301, 257, CV_8UC3, 1));
    imwrite_or_fail(path("rgb_213x320.png"), noise(213, 320, CV_8UC3, 2));
    imwrite_or_fail(path("rgb_224x224.png"), noise(224, 224, CV_8UC3, 3));
    imwrite_or_fail(path("rgb_256x300.png"), noise(256, 300, CV_8UC3, 4));
    imwrite_or_fail(path("rgb_7x5.png"), noise(7, 5, CV_8UC3, 5));
    imwrite_or_fail(path("photo_500x375.jpg"), noise(500, 375, CV_8UC3, 6), {cv::IMWRITE_JPEG_QUALITY, 90});
    imwrite_or_fail(path("gray_190x211.png"), noise(190, 211, CV_8UC1, 7));
    imwrite_or_fail(path("rgba_123x77.png"), noise(123, 77, CV_8UC4, 8));
    imwrite_or_fail(path("rgb16_97x61.png"), noise(97, 61, CV_16UC3, 9));
    imwrite_or_fail(path("gray16_64x50.png"), noise(64, 50, CV_16UC1, 10));
    imwrite_or_fail(path("rgb_50x40.bmp"), noise(50, 40, CV_8UC3, 11));
    imwrite_or_fail(path("rgb_61x47.tiff"), noise(61, 47, CV_8UC3, 12));
    imwrite_or_fail(path("rgb_80x60.webp"), noise(80, 60, CV_8UC3, 13), {cv::IMWRITE_WEBP_QUALITY, 90});
    imwrite_or_fail(path("lossless_80x60.webp"), noise(80, 60, CV_8UC3, 14), {cv::IMWRITE_WEBP_QUALITY, 101});
    imwrite_or_fail(path("rgb_33x29.ppm"), noise(33, 29, CV_8UC3, 15));
    imwrite_or_fail(path("gray_33x29.pgm"), noise(33, 29, CV_8UC1, 16));
  }

  void run_python() {
    std::ostringstream jobs;
    unsigned seed = 100;
    for (const Case& c : cases())
      if (!c.maker.empty())
        jobs << "make " << c.maker << ' ' << path(c.name).string() << ' ' << c.width << ' ' << c.height << ' '
             << seed++ << '\n';
    for (const Case& c : cases())
      if (c.maker != "gif")
        jobs << "decode " << path(c.name).string() << ' ' << path(c.name + ".u8").string() << '\n';
    for (const ResizeJob& r : resize_jobs())
      jobs << "resize " << path(r.image).string() << ' ' << r.width << ' ' << r.height << ' ' << r.filter
           << ' ' << path(r.out()).string() << '\n';
    pipelines_ = pipeline_jobs(stimuli_);
    for (const PipelineJob& p : pipelines_) {
      const std::string image = fs::path(p.image).is_absolute() ? p.image : path(p.image).string();
      jobs << "pipeline " << image << ' ' << p.resize << ' ' << p.crop << ' ' << p.interpolation << ' '
           << (p.gray ? "L" : "RGB") << ' ' << p.mean << ' ' << p.std << ' ' << path(p.out).string() << '\n';
    }
    write_text(path("jobs.txt"), jobs.str());
    const std::string command = std::string(BAGNET_PYTHON) + " '" + TEST_SOURCE_DIR +
                                "/python/pil_reference.py' '" + path("jobs.txt").string() + "'";
    python_ok_ = std::system(command.c_str()) == 0;
    if (!python_ok_) std::fprintf(stderr, "test_image: reference command failed: %s\n", command.c_str());
  }

  fs::path dir_;
  std::vector<std::string> stimuli_;
  std::vector<PipelineJob> pipelines_;
  bool python_ok_ = false;
};

const Fixture& fixture() {
  static const Fixture f;
  REQUIRE(f.python_ok());
  return f;
}

// The message of the bagnet::Error that loading throws; fails the test if something else happens.
std::string load_error(const fs::path& path, long long max_pixels = bagnet::kDefaultMaxPixels) {
  try {
    bagnet::load_image(path.string(), max_pixels);
  } catch (const bagnet::Error& e) {
    const std::string message = e.what();
    INFO(message);
    CHECK(e.path() == path.string());
    CHECK(message.rfind(path.string() + ": ", 0) == 0);
    CHECK(message.find('\n') == std::string::npos);
    return message;
  } catch (const std::exception& e) {
    FAIL("not a bagnet::Error: " << e.what());
  }
  FAIL("no error for " << path);
  return "";
}

// Offset of the first chunk of a type in a PNG file.
size_t png_chunk(const Bytes& png, const char* type) {
  for (size_t i = 8; i + 8 <= png.size();) {
    const std::uint32_t length = (png[i] << 24) | (png[i + 1] << 16) | (png[i + 2] << 8) | png[i + 3];
    if (std::memcmp(&png[i + 4], type, 4) == 0) return i;
    i += 12 + length;
  }
  FAIL("no " << type << " chunk");
  return 0;
}

std::uint32_t crc32(const Bytes& data, size_t begin, size_t end) {
  std::uint32_t c = 0xFFFFFFFFu;
  for (size_t i = begin; i < end; ++i) {
    c ^= data[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

void put_be32(Bytes* b, std::uint32_t v) {
  for (int shift : {24, 16, 8, 0}) b->push_back(static_cast<std::uint8_t>(v >> shift));
}
void put_le(Bytes* b, std::uint32_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b->push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void put_text(Bytes* b, const std::string& s) { b->insert(b->end(), s.begin(), s.end()); }

void put_png_chunk(Bytes* png, const char* type, const Bytes& data) {
  put_be32(png, static_cast<std::uint32_t>(data.size()));
  const size_t start = png->size();
  put_text(png, type);
  png->insert(png->end(), data.begin(), data.end());
  put_be32(png, crc32(*png, start, png->size()));
}

// A well-formed PNG whose IHDR claims width x height (correct CRCs, a token IDAT).
Bytes png_claiming(std::uint32_t width, std::uint32_t height) {
  Bytes png;
  put_text(&png, "\x89PNG\r\n\x1a\n");
  Bytes ihdr;
  put_be32(&ihdr, width);
  put_be32(&ihdr, height);
  for (std::uint8_t v : {8, 2, 0, 0, 0}) ihdr.push_back(v);  // 8-bit RGB, deflate, no interlace
  put_png_chunk(&png, "IHDR", ihdr);
  put_png_chunk(&png, "IDAT", {0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01});  // empty zlib stream
  put_png_chunk(&png, "IEND", {});
  return png;
}

}  // namespace

// ------------------------------------------------------------------------------------------

TEST_CASE("load_image decodes every mode as PIL's convert('RGB')", "[image][pil]") {
  const Fixture& f = fixture();
  for (const Case& c : cases()) {
    if (c.name.rfind("gray16", 0) == 0 || c.name.rfind("cmyk", 0) == 0 || c.name.rfind("anim", 0) == 0)
      continue;
    SECTION(c.name) {
      const Image ours = bagnet::load_image(f.path(c.name).string());
      INFO(c.name << " (" << ours.conversion << ")");
      CHECK(ours.width == c.width);
      CHECK(ours.height == c.height);
      CHECK(max_diff(ours, read_u8(f.path(c.name + ".u8"))) == 0);
    }
  }
}

TEST_CASE("load_image says what the conversion did", "[image]") {
  const Fixture& f = fixture();
  auto conversion = [&](const char* name) { return bagnet::load_image(f.path(name).string()).conversion; };
  CHECK(conversion("rgb_301x257.png").empty());
  CHECK(conversion("photo_500x375.jpg").empty());
  CHECK(conversion("gray_190x211.png") == "grayscale expanded to RGB");
  CHECK(conversion("gray_320x240.jpg") == "grayscale expanded to RGB");
  CHECK(conversion("rgba_123x77.png") == "alpha channel dropped");
  CHECK(conversion("la_120x90.png") == "grayscale expanded to RGB, alpha channel dropped");
  CHECK(conversion("palette_150x100.png") == "palette expanded to RGB");
  CHECK(conversion("palette_trns_150x100.png") == "palette expanded to RGB, alpha channel dropped");
  CHECK(conversion("rgb16_97x61.png") == "16-bit reduced to 8-bit (high byte)");
}

// Pillow opens a 16-bit grayscale PNG as mode 'I' and convert('RGB') clips at 255 (Convert.c
// i2rgb), so nearly every pixel turns white; load_image keeps the high byte instead, as Pillow
// itself does for 16-bit RGB ("RGB;16B"). This test pins down both behaviours.
TEST_CASE("16-bit grayscale keeps the high byte where PIL clips (documented difference)", "[image][pil]") {
  const Fixture& f = fixture();
  const cv::Mat source = cv::imread(f.path("gray16_64x50.png").string(), cv::IMREAD_UNCHANGED);
  REQUIRE(source.type() == CV_16UC1);
  const Image ours = bagnet::load_image(f.path("gray16_64x50.png").string());
  const U8Image pil = read_u8(f.path("gray16_64x50.png.u8"));
  CHECK(ours.conversion ==
        "grayscale expanded to RGB, 16-bit reduced to 8-bit (high byte; PIL's convert('RGB') "
        "would clip at 255)");
  int high_byte_mismatches = 0, pil_clip_mismatches = 0;
  for (int y = 0; y < source.rows; ++y)
    for (int x = 0; x < source.cols; ++x) {
      const int v = source.at<std::uint16_t>(y, x);
      const size_t i = (static_cast<size_t>(y) * source.cols + x) * 3;
      for (int c = 0; c < 3; ++c) {
        high_byte_mismatches += ours.rgb[i + c] != (v >> 8);
        pil_clip_mismatches += pil.data[i + c] != std::min(v, 255);
      }
    }
  CHECK(high_byte_mismatches == 0);
  CHECK(pil_clip_mismatches == 0);
}

// OpenCV converts CMYK JPEGs itself with a formula of its own; Pillow's cmyk2rgb differs.
TEST_CASE("CMYK JPEG is close to PIL but not exact (documented difference)", "[image][pil]") {
  const Fixture& f = fixture();
  const Image ours = bagnet::load_image(f.path("cmyk_160x120.jpg").string());
  CHECK(ours.conversion == "CMYK converted to RGB by OpenCV (PIL's formula differs)");
  const int diff = max_diff(ours, read_u8(f.path("cmyk_160x120.jpg.u8")));
  WARN("CMYK JPEG: max difference from PIL " << diff << " (of 255)");
  CHECK(diff <= 2);
}

TEST_CASE("resize_bilinear_pil equals Pillow's resize bit for bit", "[image][pil]") {
  const Fixture& f = fixture();
  for (const ResizeJob& job : resize_jobs()) {
    SECTION(job.out()) {
      const Image in = bagnet::load_image(f.path(job.image).string());
      const Image ours = bagnet::resize_bilinear_pil(in, job.width, job.height);
      CHECK(max_diff(ours, read_u8(f.path(job.out()))) == 0);
    }
  }
}

TEST_CASE("preprocess equals torchvision's Resize, CenterCrop, ToTensor, Normalize bit for bit",
          "[image][pil]") {
  const Fixture& f = fixture();
  if (f.stimuli().empty())
    WARN("SKIPPED the real stimuli: " << SHARED_DATA_DIR
                                      << "/stimuli not found (only generated images are tested)");
  for (const PipelineJob& job : f.pipelines()) {
    const std::string image = fs::path(job.image).is_absolute() ? job.image : f.path(job.image).string();
    SECTION(job.out + " " + fs::path(job.image).filename().string()) {
      INFO(image << " resize " << job.resize << " crop " << job.crop << " " << job.interpolation
                 << (job.gray ? " L" : " RGB"));
      const bagnet::Preprocessing p =
          preprocessing(job.resize, job.crop, job.interpolation, job.gray, job.mean, job.std);
      int h = 0, w = 0;
      const std::vector<float> ours = bagnet::preprocess(bagnet::load_image(image), p, &h, &w);
      const Tensor ref = read_tensor(f.path(job.out));
      REQUIRE(ref.channels == (job.gray ? 1 : 3));
      REQUIRE(h == ref.height);
      REQUIRE(w == ref.width);
      REQUIRE(ours.size() == ref.data.size());
      size_t mismatches = 0;
      float worst = 0;
      for (size_t i = 0; i < ours.size(); ++i) {
        if (std::memcmp(&ours[i], &ref.data[i], sizeof(float)) != 0) ++mismatches;
        worst = std::max(worst, std::abs(ours[i] - ref.data[i]));
      }
      INFO("max |difference| " << worst);
      CHECK(mismatches == 0);
    }
  }
}

TEST_CASE("resize_shorter_side follows torchvision's size rule", "[image]") {
  auto blank = [](int w, int h) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign(static_cast<size_t>(w) * h * 3, 128);
    return img;
  };
  const Image a = bagnet::resize_shorter_side(blank(500, 375), 256);
  CHECK((a.width == 341 && a.height == 256));
  const Image b = bagnet::resize_shorter_side(blank(257, 301), 256);  // int(256 * 301 / 257) = int(299.8)
  CHECK((b.width == 256 && b.height == 299));
  const Image c = bagnet::resize_shorter_side(blank(256, 300), 256);  // short side already 256: unchanged
  CHECK((c.width == 256 && c.height == 300));
  const Image d = bagnet::resize_shorter_side(blank(224, 224), 256);
  CHECK((d.width == 256 && d.height == 256));
  CHECK_THROWS_AS(bagnet::resize_shorter_side(blank(10, 10), 0), bagnet::Error);
  CHECK_THROWS_AS(bagnet::resize_bilinear_pil(Image{}, 10, 10), bagnet::Error);
}

TEST_CASE("center_crop rounds half offsets to even like Python's round()", "[image]") {
  // Pixel (x, y) holds (x, y, 0), so the crop's first pixel tells its origin.
  auto coordinates = [](int w, int h) {
    Image img;
    img.width = w;
    img.height = h;
    img.rgb.resize(static_cast<size_t>(w) * h * 3);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        img.rgb[(static_cast<size_t>(y) * w + x) * 3 + 0] = static_cast<std::uint8_t>(x);
        img.rgb[(static_cast<size_t>(y) * w + x) * 3 + 1] = static_cast<std::uint8_t>(y);
      }
    return img;
  };
  auto origin = [&](int w, int h, int cw, int ch) {
    const Image crop = bagnet::center_crop(coordinates(w, h), cw, ch);
    REQUIRE((crop.width == cw && crop.height == ch));
    return std::make_pair(int{crop.rgb[0]}, int{crop.rgb[1]});
  };
  CHECK(origin(10, 10, 4, 4) == std::make_pair(3, 3));  // even margins: exact
  CHECK(origin(11, 11, 4, 4) == std::make_pair(4, 4));  // 3.5 -> 4
  CHECK(origin(9, 9, 4, 4) == std::make_pair(2, 2));    // 2.5 -> 2 (not 3)
  CHECK(origin(12, 13, 7, 8) == std::make_pair(2, 2));  // 2.5, 2.5 -> 2, 2
  CHECK(origin(14, 15, 7, 8) == std::make_pair(4, 4));  // 3.5, 3.5 -> 4, 4
  CHECK(origin(5, 5, 5, 5) == std::make_pair(0, 0));
  CHECK_THROWS_AS(bagnet::center_crop(coordinates(200, 300), 224, 224),
                  bagnet::Error);  // torchvision would pad
}

TEST_CASE("preprocess rejects what it cannot reproduce", "[image]") {
  Image img;
  img.width = img.height = 8;
  img.rgb.assign(8 * 8 * 3, 0);
  bagnet::Preprocessing p;
  p.resize = p.crop = 0;
  p.interpolation = "nearest";
  CHECK_THROWS_AS(bagnet::preprocess(img, p, nullptr, nullptr), bagnet::Error);
  p.interpolation = "bilinear";
  p.std = {1, 0, 1};
  CHECK_THROWS_AS(bagnet::preprocess(img, p, nullptr, nullptr), bagnet::Error);
}

TEST_CASE("load_image refuses bad files with one line naming the file", "[image][errors]") {
  const Fixture& f = fixture();
  const Bytes png = read_bytes(f.path("rgb_301x257.png"));
  const Bytes jpeg = read_bytes(f.path("photo_500x375.jpg"));

  SECTION("missing") { CHECK_THAT(load_error(f.path("no_such.png")), Catch::Contains("file not found")); }
  SECTION("directory") { CHECK_THAT(load_error(f.path("")), Catch::Contains("is a directory")); }
  SECTION("empty") {
    write_bytes(f.path("empty.png"), {});
    CHECK_THAT(load_error(f.path("empty.png")), Catch::Contains("file is empty"));
  }
  SECTION("random bytes") {
    std::mt19937 rng(42);
    Bytes bytes(4096);
    for (auto& b : bytes) b = static_cast<std::uint8_t>(rng());
    write_bytes(f.path("random.png"), bytes);
    CHECK_THAT(load_error(f.path("random.png")), Catch::Contains("not a recognised image format"));
  }
  SECTION("text") {
    write_text(f.path("notes.jpg"), "These are notes, not an image.\n");
    CHECK_THAT(load_error(f.path("notes.jpg")), Catch::Contains("not a recognised image format"));
  }
  SECTION("PNG cut in the middle of IDAT") {
    const size_t idat = png_chunk(png, "IDAT");
    const size_t length = (png[idat] << 24) | (png[idat + 1] << 16) | (png[idat + 2] << 8) | png[idat + 3];
    write_bytes(f.path("cut.png"), Bytes(png.begin(), png.begin() + idat + 8 + length / 2));
    CHECK_THAT(load_error(f.path("cut.png")),
               Catch::Contains("truncated PNG file (chunk IDAT is cut short)"));
  }
  SECTION("PNG without IEND") {
    write_bytes(f.path("no_iend.png"), Bytes(png.begin(), png.begin() + png_chunk(png, "IEND")));
    CHECK_THAT(load_error(f.path("no_iend.png")), Catch::Contains("truncated PNG file (no IEND chunk)"));
  }
  SECTION("PNG with a damaged IDAT") {
    Bytes damaged = png;
    damaged[png_chunk(png, "IDAT") + 100] ^= 0x55;
    write_bytes(f.path("damaged.png"), damaged);
    CHECK_THAT(load_error(f.path("damaged.png")), Catch::Contains("CRC mismatch in chunk IDAT"));
  }
  SECTION("JPEG cut in half") {
    write_bytes(f.path("cut.jpg"), Bytes(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
    CHECK_THAT(load_error(f.path("cut.jpg")), Catch::Contains("truncated JPEG file"));
  }
  SECTION("JPEG cut in its header") {
    write_bytes(f.path("header.jpg"), Bytes(jpeg.begin(), jpeg.begin() + 100));
    CHECK_THAT(load_error(f.path("header.jpg")), Catch::Contains("truncated JPEG file"));
  }
  SECTION("JPEG missing only its end marker") {
    write_bytes(f.path("no_eoi.jpg"), Bytes(jpeg.begin(), jpeg.end() - 2));
    CHECK_THAT(load_error(f.path("no_eoi.jpg")), Catch::Contains("truncated JPEG file"));
  }
  SECTION("PNG claiming 100000x100000 pixels") {
    write_bytes(f.path("bomb.png"), png_claiming(100000, 100000));
    CHECK(load_error(f.path("bomb.png")) ==
          f.path("bomb.png").string() +
              ": image is 100000x100000 pixels, above the limit of 178956970 (use --max-pixels to raise it)");
    // With the limit raised, OpenCV's own guard (2^30 pixels) refuses it, still as a one-line error.
    CHECK_THAT(load_error(f.path("bomb.png"), 100000LL * 100000),
               Catch::Contains("image is 100000x100000 pixels, above OpenCV's decoding limit"));
  }
  SECTION("GIF") { CHECK_THAT(load_error(f.path("anim_40x30.gif")), Catch::Contains("cannot decode GIF")); }
  SECTION("unreadable") {
    write_bytes(f.path("locked.png"), png);
    chmod(f.path("locked.png").c_str(), 0);
    if (geteuid() == 0) {
      WARN("SKIPPED the permission test: running as root, which reads any file");
    } else {
      CHECK_THAT(load_error(f.path("locked.png")), Catch::Contains("cannot open: Permission denied"));
    }
  }
}

TEST_CASE("load_image accepts what libjpeg and PIL accept", "[image]") {
  const Fixture& f = fixture();
  Bytes jpeg = read_bytes(f.path("photo_500x375.jpg"));
  const Image original = bagnet::load_image(f.path("photo_500x375.jpg").string());
  put_text(&jpeg, "trailing bytes after the end-of-image marker");
  write_bytes(f.path("trailing.jpg"), jpeg);
  const Image trailing = bagnet::load_image(f.path("trailing.jpg").string());
  CHECK(trailing.rgb == original.rgb);
}

TEST_CASE("the size limit reads each format's header before decoding", "[image][errors]") {
  const Fixture& f = fixture();
  const std::string too_large = " pixels, above the limit of 178956970 (use --max-pixels to raise it)";
  // Headers only, claiming sizes no test machine should try to decode.
  Bytes jpeg;
  for (std::uint8_t v : {0xFF, 0xD8, 0xFF, 0xC0, 0x00, 0x11, 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0x03})
    jpeg.push_back(v);
  for (int c = 1; c <= 3; ++c)
    for (std::uint8_t v : {c, 0x11, 0}) jpeg.push_back(v);
  Bytes bmp;
  put_text(&bmp, "BM");
  put_le(&bmp, 54, 4);
  put_le(&bmp, 0, 4);
  put_le(&bmp, 54, 4);
  put_le(&bmp, 40, 4);
  put_le(&bmp, 100000, 4);
  put_le(&bmp, static_cast<std::uint32_t>(-100000), 4);  // top-down
  put_le(&bmp, 1 | (24 << 16), 4);
  Bytes tiff;
  put_text(&tiff, std::string("II*\0", 4));
  put_le(&tiff, 8, 4);
  put_le(&tiff, 2, 2);
  for (std::uint32_t tag : {256u, 257u}) {
    put_le(&tiff, tag, 2);
    put_le(&tiff, 4, 2);  // LONG
    put_le(&tiff, 1, 4);
    put_le(&tiff, 100000, 4);
  }
  put_le(&tiff, 0, 4);
  Bytes webp;
  put_text(&webp, "RIFF");
  put_le(&webp, 22, 4);
  put_text(&webp, "WEBPVP8X");
  put_le(&webp, 10, 4);
  put_le(&webp, 0, 4);
  put_le(&webp, 100000 - 1, 3);
  put_le(&webp, 100000 - 1, 3);
  Bytes pnm;
  put_text(&pnm, "P6\n# comment\n100000 100000\n255\n");
  Bytes gif;
  put_text(&gif, "GIF89a");
  put_le(&gif, 65535, 2);
  put_le(&gif, 65535, 2);
  put_le(&gif, 0, 3);
  const std::vector<std::tuple<const char*, Bytes, const char*>> bombs = {
      {"bomb.jpg", jpeg, "65535x65535"},    {"bomb.bmp", bmp, "100000x100000"},
      {"bomb.tiff", tiff, "100000x100000"}, {"bomb.webp", webp, "100000x100000"},
      {"bomb.ppm", pnm, "100000x100000"},   {"bomb.gif", gif, "65535x65535"},
  };
  for (const auto& [name, bytes, size] : bombs) {
    write_bytes(f.path(name), bytes);
    CHECK(load_error(f.path(name)) == f.path(name).string() + ": image is " + size + too_large);
  }
  // Real files: exactly at the limit loads, one pixel less refuses.
  for (const Case& c : cases()) {
    if (c.name.rfind("anim", 0) == 0) continue;
    INFO(c.name);
    const long long pixels = static_cast<long long>(c.width) * c.height;
    CHECK_NOTHROW(bagnet::load_image(f.path(c.name).string(), pixels));
    CHECK_THAT(
        load_error(f.path(c.name), pixels - 1),
        Catch::Contains("image is " + std::to_string(c.width) + "x" + std::to_string(c.height) + " pixels"));
  }
}

TEST_CASE("timing of load_image + preprocess on a 500x375 JPEG", "[.][timing]") {
  const Fixture& f = fixture();
  const std::string path = f.path("photo_500x375.jpg").string();
  const bagnet::Preprocessing p;
  std::vector<double> load_ms, pre_ms;
  for (int i = 0; i < 50; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const Image img = bagnet::load_image(path);
    const auto t1 = std::chrono::steady_clock::now();
    int h = 0, w = 0;
    const std::vector<float> t = bagnet::preprocess(img, p, &h, &w);
    const auto t2 = std::chrono::steady_clock::now();
    load_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    pre_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
  }
  std::sort(load_ms.begin(), load_ms.end());
  std::sort(pre_ms.begin(), pre_ms.end());
  WARN("500x375 JPEG, median of 50: load_image " << load_ms[25] << " ms, preprocess " << pre_ms[25] << " ms");
}
