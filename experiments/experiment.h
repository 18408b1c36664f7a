#pragma once
// The BagNet paper's similarity experiments (Brendel & Bethge, ICLR 2019, section 5) for any
// registered models on any dataset that bagnet-eval reads:
//   masking       the k most predictive q x q patches of a BagNet's exact map (true class),
//                 greedily from the top and non-overlapping, set to the mean colour (0 after
//                 normalisation), k = 0..K, against the same number of random patches;
//   interactions  pairs of patches `distance` apart: the true-class logit change when both are
//                 masked against the sum of the changes when each is masked alone;
//   scrambling    the image cut into g x g tiles, shuffled (seeded), re-assembled;
//   errors        per-class accuracies of two or more bagnet-eval runs correlated between models,
//                 beside Cohen's kappa (bagnet-compare).
//
// The image experiments write into their output folder, like bagnet-eval:
//   records.jsonl  a header line (experiment, options, models, dataset, shard, provenance), then
//                  one line per image as it finishes: the patches or tiles used and, per model,
//                  the true-class logit, its probability, top-1 correctness and the mean absolute
//                  change of all logits, per variant of the image; an interrupted run restarted
//                  with the same arguments continues with the images that are missing;
//   summary.json   {"experiment", "models": {name: numbers}, ...} with provenance (atomic);
//   <experiment>.svg (or --figure PATH: .svg, .pdf, .png).
// Every image's variants go through the network as batches of their own, so each record is
// bit-identical whether it came from a whole run, a shard or a resumed run; merge_experiment()
// combines the shards' records (sorted by dataset position) into what a whole run writes.
// Torch-free interface.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/eval_dataset.h"
#include "inference/classify.h"

namespace bagnet::experiments {

constexpr const char* kRecordsFormat = "bagnet-experiment records";
constexpr int kRecordsFormatVersion = 1;

struct ExperimentOptions {
  std::string experiment;  // "masking", "interactions", "scrambling"
  std::vector<ModelRequest> models;
  ModelRequest map_model;  // masking: the BagNet whose exact map picks the patches
  DatasetOptions dataset;
  int batch_size = 64;  // images' variants per forward pass (never mixing images)
  int workers = 0;
  bool no_resize = false;
  long long max_pixels = kDefaultMaxPixels;  // decompression-bomb guard (<= 0: the default)
  size_t shard_index = 0, shard_count = 1;
  bool overwrite = false;
  bool progress = true;
  uint64_t seed = 0;
  int k = 4;                           // masking: patches masked, k = 0..K
  int patch = 0;                       // patch side q; 0: the map model's (masking) or the first BagNet's
  int pairs = 4;                       // interactions: pairs per image
  int distance = 0;                    // interactions: Chebyshev distance of the centres; 0: 2q - 1
  std::vector<int> grids{1, 2, 4, 7};  // scrambling
  std::string figure;                  // "" = OUTPUT_DIR/<experiment>.svg
  std::string tool = "bagnet-experiment";
};

struct ExperimentOutput {
  nlohmann::json summary;
  std::vector<std::string> files;
  size_t images = 0, done = 0, failed = 0;
  bool interrupted = false;  // SIGINT/SIGTERM: records.jsonl holds the finished images, no summary
};

// Runs (or resumes) one shard, holding the folder's run lock. Throws bagnet::Error for unknown
// models, a map model that is not a BagNet, models that disagree on labels or input size, K
// larger than the images hold, a dataset without images or labelled by categories, an output
// folder holding another run; bagnet::OutputError when a file cannot be written.
ExperimentOutput run_experiment(const std::string& data, const ExperimentOptions& options,
                                const std::string& output_dir);

// Combines complete shard folders of one run into `output_dir` (records, summary, figure).
// Throws bagnet::Error for shards of different runs, missing, duplicate or incomplete shards.
ExperimentOutput merge_experiment(const std::vector<std::string>& shard_dirs, const std::string& output_dir,
                                  const std::string& figure = "");

// Draws the figure of a complete run folder again from its records.jsonl, e.g. in another format
// (.svg, .pdf, .png by extension). Throws bagnet::Error for a folder without complete records.
std::string redraw_figure(const std::string& dir, const std::string& figure);

// The summary of a records.jsonl's header and records (what run and merge write).
nlohmann::json summarize(const nlohmann::json& header, const std::vector<nlohmann::json>& records);

// Error distribution: two or more bagnet-eval run folders (or results.jsonl files) on the same
// data. Writes classes.jsonl (one line per class: each model's top-1 accuracy), summary.json
// ({"experiment": "errors", "models": {name: {top1, images, per_class}}, "pairs": [{a, b,
// pearson, spearman, classes, kappa, observed_agreement, ...}]}) and a matrix figure (upper
// triangle: Pearson's r of the per-class accuracies; lower: Cohen's kappa). Throws bagnet::Error
// for fewer than two runs, incomplete runs, runs on different data.
ExperimentOutput correlate_errors(const std::vector<std::string>& runs, const std::string& output_dir,
                                  const std::string& figure = "");

// A few human-readable lines of a summary.
std::string format_summary(const nlohmann::json& summary);

}  // namespace bagnet::experiments
