#pragma once
// A bagnet-heatmap run over many images: which classes each image gets, where its outputs go
// (the input tree mirrored below the output folder), and the outputs themselves (.npy map,
// PNG renderings, JSON sidecar written last). Resumable: an image whose sidecar exists is
// done. Torch-free interface.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "heatmaps/heatmap.h"
#include "heatmaps/render.h"

namespace bagnet::heatmaps {

// The most pixels one batch of images holds (--batch-size): a stride-1 BagNet-33 map of a 224
// image alone takes ~2 GB, so larger images run one at a time whatever --batch-size says.
constexpr std::size_t kBatchPixels = 65536;

struct RunOptions {
  std::vector<int> classes;            // explicit classes (--class)
  int top = 0;                         // maps for the K top-predicted classes
  bool all = false;                    // every class in the .npy
  std::map<std::string, int> targets;  // per image (--targets); see read_targets
  std::string targets_file;            // where they came from, for messages
  std::string output_dir;
  std::size_t shard_index = 0, shard_count = 1;
  bool overwrite = false, panel = false, no_png = false, no_resize = false, progress = true;
  long long max_pixels = kDefaultMaxPixels;
  // Images per forward pass (blocks of consecutive images; see run_heatmaps). 1: one at a time.
  int batch_size = 1;
  MapOptions map;
  RenderOptions render;
};

struct RunCounts {
  std::size_t done = 0, skipped = 0, failed = 0;
  bool interrupted = false;  // SIGINT/SIGTERM: stopped after a complete image
  std::size_t left = 0;      // images of this shard not done when interrupted
};

// The targets CSV: "path,label" per line (a header line is allowed), label = index, WordNet id
// or name. Keys are matched against the image path as given, relative to the input root, or
// the file name. Throws bagnet::Error naming the file and line.
std::map<std::string, int> read_targets(const std::string& path, const Labels& labels);

// The k classes with the largest logits, best first (ties to the lower index); k is capped at the
// number of classes.
std::vector<int> top_classes(const std::vector<float>& logits, int k);

// The classes an image's maps are made for (bagnet-heatmap, bagnet-attribute), each once:
// `classes` (--class), then with --targets (`targets_file` not empty) the image's class in
// `targets` (looked up by `path` as given, relative to `root`, or by file name; also stored in
// `target`; bagnet::Error(path, "no target class in <targets_file>") when it has none), then `top`.
std::vector<int> classes_for_image(const std::vector<int>& classes, const std::map<std::string, int>& targets,
                                   const std::string& targets_file, const std::string& path,
                                   const std::string& root, const std::vector<int>& top, int& target);

// Maps for the images of `inputs` (files, directories, globs) in this shard. With a batch size
// B > 1, blocks of B consecutive images of the sorted list are computed together (images of one
// size share forward passes, at most kBatchPixels pixels each) and --shard deals out whole
// blocks, so that an image's maps are bit-identical in a whole, sharded or resumed run. Per-image failures
// are reported on stderr, one line each, and counted; the run goes on, and a failed image
// leaves no files. Holds the folder's run lock (lib/run_lock.h). Stops after the batch in hand
// on SIGINT/SIGTERM (RunCounts::interrupted). A file that cannot be written (disk full) ends
// the run with bagnet::OutputError; complete images stay, the incomplete one leaves nothing.
RunCounts run_heatmaps(HeatmapModel& model, const std::vector<std::string>& inputs,
                       const RunOptions& options);

}  // namespace bagnet::heatmaps
