#pragma once
// A bagnet-stylize run: content images (a folder, files, or a list file) stylized with the
// paintings of a style folder, the content tree mirrored below the output folder, a manifest of
// which style made which output, unreadable inputs listed. Resumable (an existing output is
// done: every output is written atomically), shardable (--shard i/n takes every n-th content
// image of the sorted list; the style assignment does not depend on it), interruptible
// (SIGINT/SIGTERM stop after the batch in hand). Torch-free interface.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lib/image.h"

namespace bagnet::stylize {

struct StylizeOptions {
  std::vector<std::string> content;  // one folder, image files/globs, or one list file (.txt, .csv, .lst)
  std::string styles, output_dir;
  std::string vgg, decoder;  // "" = the registry's files in the weights directories
  std::string device = "auto";
  double alpha = 1.0;
  int num_styles = 1;
  int content_size = 0;        // shorter side (torchvision Resize); 0 = as is
  int crop = 0;                // centre crop after the resize; 0 = none
  int style_size = 512;        // shorter side of the style images; 0 = as is
  bool square_styles = false;  // Stylized-ImageNet's paintings: largest centre square, Lanczos thumbnail
  std::string preset;          // "" or "stylized-imagenet" (recorded in the manifest)
  std::uint64_t seed = 0;
  int batch_size = 8;
  std::size_t shard_index = 0, shard_count = 1;
  bool overwrite = false, progress = true;
  bool reference_ops = false, channels_last = false;  // AdainNet options (tests, benchmarks)
  long long max_pixels = kDefaultMaxPixels;
};

struct StylizeCounts {
  std::size_t images = 0;   // outputs of this shard (content images x styles each)
  std::size_t written = 0;  // written by this run
  std::size_t already = 0;  // found done (resumed)
  std::size_t failed = 0;   // listed in the skipped list
  bool interrupted = false;
  std::size_t left = 0;  // not done when interrupted
  std::string manifest;  // the manifest CSV written
};

// The weights file of the encoder ("vgg") or decoder ("decoder"): `explicit_path` when given
// (must exist), else the registry's file (configs/models.json "style_transfer") in the weights
// directories. Throws bagnet::Error with the download instructions when missing.
std::string find_adain_weights(const std::string& which, const std::string& explicit_path);

// The whole run. Throws bagnet::Error for bad settings or inputs that stop the run (no style
// images, missing or wrong weights, no content images) and bagnet::OutputError when outputs
// cannot be written; per-image problems are listed, counted, and the run goes on.
StylizeCounts run_stylize(const StylizeOptions& options);

// Stylized-ImageNet's style preparation (code/adain.py crop_square_and_downsample): the largest
// centre square (left = int((w - n) / 2)), then PIL's thumbnail to size x size with
// Image.ANTIALIAS (Lanczos), which only ever shrinks.
Image square_thumbnail(const Image& image, int size);

}  // namespace bagnet::stylize
