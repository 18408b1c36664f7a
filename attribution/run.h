#pragma once
// A bagnet-attribute run over many images, with bagnet-heatmap's behaviour (heatmaps/run.h):
// the input tree mirrored below the output folder; per image and method a raw float32 .npy and
// PNG renderings, and one JSON sidecar written last (its existence marks the image done, so
// runs resume); shards; the folder's run lock; SIGINT/SIGTERM stop after the image in hand; bad
// images reported one line each and counted. Torch-free interface.
#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "attribution/attribute.h"
#include "heatmaps/render.h"
#include "heatmaps/run.h"

namespace bagnet::attribution {

struct RunOptions {
  std::vector<std::string> methods{"saliency"};
  MethodOptions method;
  std::vector<int> classes;            // --class
  int top = 0;                         // --top K
  std::map<std::string, int> targets;  // --targets (heatmaps::read_targets)
  std::string targets_file;
  std::string output_dir;
  std::size_t shard_index = 0, shard_count = 1;
  bool overwrite = false, panel = false, no_png = false, no_resize = false, progress = true;
  long long max_pixels = kDefaultMaxPixels;
  heatmaps::RenderOptions render;
};

// Maps for the images of `inputs` (files, directories, globs) in this shard. Output files per
// image stem S: S_<method>.npy ([K,] [C,] H, W), S_<method>_<class>.png, S_panel.png, S.json.
heatmaps::RunCounts run_attribution(AttributionModel& model, const std::vector<std::string>& inputs,
                                    const RunOptions& options);

}  // namespace bagnet::attribution
