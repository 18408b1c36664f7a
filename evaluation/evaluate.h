#pragma once
// Evaluation of a model on a dataset: the shared core of bagnet-eval and bagnet-shape-bias.
//
// A run writes into its output directory:
//   results.jsonl  a header line (run identity, model, provenance), then one line per image as
//                  it finishes (top-k with probabilities, the category decision, correctness);
//                  an interrupted run restarted with the same arguments reads it back and
//                  continues with the images that are missing;
//   summary.json   accuracies overall and per class, shape bias for cue-conflict stimuli,
//                  failures, provenance (written atomically when the run is complete);
//   <dataset>_<model>_session-1.csv  per-trial decisions in the model-vs-human format, for
//                  datasets labelled by categories.
// Shards (--shard i/n) are runs over every n-th image; merge_runs() combines them into what an
// unsharded run gives. Torch-free interface.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "datasets/eval_dataset.h"
#include "evaluation/categories.h"
#include "evaluation/results_file.h"
#include "evaluation/shape_bias.h"
#include "inference/classify.h"

namespace bagnet::evaluation {

struct EvalOptions {
  ClassifyOptions classify;  // batch size, --no-resize, max pixels, decoding threads, progress
  Aggregation aggregation = Aggregation::Mean;
  int topk = 5;
  size_t shard_index = 0, shard_count = 1;
  bool overwrite = false;  // discard results of an earlier run in the output directory
  std::string tool = "bagnet-eval";
};

// The cue-conflict trials (shape, texture, decision) of a run's records; images without a
// decision or a texture category are left out.
std::vector<CueConflictTrial> cue_conflict_trials(const std::vector<Record>& records,
                                                  const std::vector<std::string>& categories);

struct RunOutput {
  nlohmann::json summary;
  std::vector<Record> records;     // by position
  std::vector<std::string> files;  // written
  size_t failed = 0;
  bool interrupted = false;  // SIGINT/SIGTERM: records holds the finished images, no summary written
  size_t images = 0;         // when interrupted: the shard's image count
};

// Runs (or resumes) one shard, holding the folder's run lock (lib/run_lock.h). Throws
// bagnet::Error when the output directory holds another run's results (naming what differs)
// or another live run writes there, bagnet::OutputError when a file cannot be written (disk
// full: results.jsonl keeps every complete record). Stops between batches on SIGINT/SIGTERM
// (RunOutput::interrupted); the same call resumes.
RunOutput run_evaluation(Classifier& classifier, const std::string& model_name, const EvalDataset& dataset,
                         const CategoryMapping* mapping, const EvalOptions& options,
                         const std::string& output_dir);

// Combines complete shard directories into `output_dir` (results.jsonl, summary.json, CSV).
// Throws bagnet::Error for shards of different models, weights, datasets or options, missing,
// duplicate or incomplete shards.
RunOutput merge_runs(const std::vector<std::string>& shard_dirs, const std::string& output_dir);

// The category mapping a model's decisions use: `path` if given, else the 16-class mapping for
// ImageNet models; null when neither applies.
const CategoryMapping* mapping_for(const std::string& labels_key, int num_classes, const std::string& path,
                                   CategoryMapping& storage);

}  // namespace bagnet::evaluation

namespace bagnet::evaluation {

// A few human-readable lines of a summary.json: accuracies, shape bias, failures.
std::string format_summary(const nlohmann::json& summary);

}  // namespace bagnet::evaluation
