#pragma once
// Image decoding and the torchvision preprocessing, reproduced exactly.
// No torch here: tools and tests that only handle pixels stay quick to compile.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet {

// 8-bit RGB, row-major, interleaved (HWC).
struct Image {
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> rgb;
  // What decoding had to do to the file, for diagnostics: "" or e.g. "grayscale expanded to RGB",
  // "alpha channel dropped", "16-bit reduced to 8-bit".
  std::string conversion;
};

// Guard against decompression bombs: the header's size is checked before decoding.
constexpr long long kDefaultMaxPixels = 178956970;  // PIL's default MAX_IMAGE_PIXELS

// Decodes any image OpenCV reads (PNG, JPEG, BMP, TIFF, WebP, PNM, ...) into RGB the way
// PIL's Image.open(path).convert('RGB') does: grayscale is replicated, alpha is dropped (not
// composited), palettes are expanded, 16-bit samples keep their high byte.
// Throws bagnet::Error ("path: reason") for empty, truncated, non-image, unreadable or
// too-large files.
Image load_image(const std::string& path, long long max_pixels = kDefaultMaxPixels);

// The same for a file's bytes; `path` names it in errors. Only formats whose size this file reads
// from the header (PNG, JPEG, BMP, GIF, TIFF, WebP, PNM, PAM, Sun raster) are passed to OpenCV.
Image decode_image(const std::vector<std::uint8_t>& bytes, const std::string& path,
                   long long max_pixels = kDefaultMaxPixels);

// PIL's Image.resize(size, Image.BILINEAR) bit for bit (Pillow's Resample.c: separable
// triangle filter whose support widens with the downscale factor, i.e. antialiased,
// 22-bit fixed-point coefficients, horizontal pass then vertical, each rounded to uint8).
Image resize_bilinear_pil(const Image& in, int out_width, int out_height);

// The same with Pillow's Lanczos-3 filter (Image.LANCZOS, formerly Image.ANTIALIAS), as
// Stylized-ImageNet prepared its paintings (code/adain.py crop_square_and_downsample).
Image resize_lanczos_pil(const Image& in, int out_width, int out_height);

// torchvision.transforms.Resize(shorter): shorter side to `shorter`, the longer side to
// int(shorter * long / short), as torchvision 0.14 computes it.
Image resize_shorter_side(const Image& in, int shorter);

// torchvision.transforms.CenterCrop: top = int(round((h - ch) / 2)), Python's round-half-even.
// Throws bagnet::Error if the image is smaller than the crop (torchvision would pad; we refuse).
Image center_crop(const Image& in, int crop_width, int crop_height);

struct Preprocessing {
  int resize = 256;  // shorter side; 0 = no resize
  int crop = 224;    // centre crop size; 0 = no crop
  std::string interpolation = "bilinear";
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f};
  std::array<float, 3> std{0.229f, 0.224f, 0.225f};
  bool grayscale =
      false;  // models with one input channel (e.g. Fashion-MNIST): ITU-R 601-2 luma as PIL's convert('L')
};

// ToTensor + Normalize in float32 exactly as torchvision computes them: (x / 255 - mean) / std.
// Returns CHW planes (3 or 1 channels).
std::vector<float> to_normalized_chw(const Image& img, const Preprocessing& p);

// The full pipeline: resize, centre crop, normalise. out_height/out_width receive the size.
// A resize whose output would exceed max_pixels (<= 0: no limit) is refused with bagnet::Error.
std::vector<float> preprocess(const Image& img, const Preprocessing& p, int* out_height, int* out_width,
                              long long max_pixels = kDefaultMaxPixels);

}  // namespace bagnet
