#pragma once
// A bagnet-eval run folder read for the reports: summary.json and results.jsonl (through
// evaluation/results_file.h, the reader resume and merge use), with what a page shows per image:
// class names, the decision, and where the image file is. Torch-free.
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluation/results_file.h"

namespace bagnet::reports {

struct EvalRun {
  std::string dir;
  nlohmann::json summary;
  evaluation::ResultsFile results;  // header, records (in file order), their lines
  std::vector<std::string> categories;
  std::vector<nlohmann::json> tops;        // per record: its top-k list (index, name, probability)
  std::map<int, std::string> class_names;  // class index -> name, from every top-k list
  // The images: the dataset's source as the header records it, made absolute against the current
  // directory (bagnet-eval --html runs where the evaluation ran). Empty for idx datasets.
  std::string image_root;
  std::string kind;  // dataset kind: class-folders, category-folders, cue-conflict, list, idx
};

// Reads DIR/summary.json and DIR/results.jsonl. Throws bagnet::Error naming the file (a run
// without summary.json is not complete: it was interrupted, or is a shard still running).
EvalRun read_eval_run(const std::string& dir);

// The image file of a record, absolute; "" when the dataset has no files (idx) or it is missing.
std::string image_path(const EvalRun& run, const evaluation::Record& r);

// "Bag", or "golden retriever (n02099601)" when the dataset labels by WordNet id.
std::string true_name(const EvalRun& run, const evaluation::Record& r);
// The top-1 class, or the category decision on category-labelled datasets.
std::string predicted_name(const EvalRun& run, const evaluation::Record& r);

// A gallery card (reports/html.h) for record `i`: thumbnail (relative to `page_dir`), top-k with
// probabilities (the true class marked), true label and decision.
nlohmann::json record_card(const EvalRun& run, size_t i, const std::string& page_dir);

}  // namespace bagnet::reports
