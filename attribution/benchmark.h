#pragma once
// The attribution methods scored against ground truth: on a BagNet, each method's map of an
// image is compared with the exact stride-1 evidence map of the same class (heatmaps/dense.h),
// whose value at a pixel is the logit of the patch centred there. Per image and method:
//   spearman, pearson   correlation of the two H x W maps (pixels);
//   top_k_overlap       |top-k cells of the method  intersect  top-k cells of the exact map| / k,
//                       cells = cell x cell pixel squares, scored by the map's sum over the cell;
//   deletion curve      the network's true target logit after masking (mean colour) the cells in
//                       the order the method ranks them, against the masked fraction, and its
//                       area (lower = the method found the evidence sooner). The exact map's own
//                       curve ("exact") is the reference.
// Written into the output folder: scores[.SHARD].jsonl (one line per image, appended as each
// finishes: resumable), then from every scores file there summary.json, summary.csv (per method:
// mean, std, median, quartiles) and benchmark.png (a box per method; the mean deletion curves).
// Torch-free interface.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "attribution/attribute.h"
#include "datasets/eval_dataset.h"
#include "heatmaps/run.h"

namespace bagnet::attribution {

struct BenchmarkOptions {
  std::vector<std::string> methods;  // empty = all
  MethodOptions method;
  std::string target = "label";  // "label" (the dataset's class) or "predicted" (top-1)
  int cell = 4;                  // pixels per side of a deletion / top-k cell
  int top_k = 0;                 // 0 = a tenth of the cells (at least 1)
  int curve_points = 0;          // deletion curve points; 0 = every cell count
  std::size_t limit = 0;         // 0 = every image; else a seeded random subset of this many
  uint64_t subset_seed = 0;
  std::size_t shard_index = 0, shard_count = 1;
  bool overwrite = false, progress = true, no_resize = false;
  long long max_pixels = kDefaultMaxPixels;
};

// Scores the dataset's images (this shard) into output_dir/scores[.i-of-n].jsonl, then writes
// the summary of every scores file in the folder. Throws bagnet::Error for a model that is not a
// BagNet, or a folder holding another benchmark (different model, weights, dataset or options).
heatmaps::RunCounts run_benchmark(AttributionModel& model, const EvalDataset& dataset,
                                  const BenchmarkOptions& o, const std::string& output_dir);

// summary.json, summary.csv and benchmark.png from the scores files in `output_dir`; returns the
// summary. Throws bagnet::Error when there are none.
nlohmann::json summarise_benchmark(const std::string& output_dir);

// The summary as a Markdown table (for the terminal and the README).
std::string format_benchmark(const nlohmann::json& summary);

}  // namespace bagnet::attribution
