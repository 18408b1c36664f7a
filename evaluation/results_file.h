#pragma once
// results.jsonl of a bagnet-eval run: a header line (run identity, shard, model, provenance),
// then one record per image. Read back by resume, bagnet-merge and bagnet-compare, so every
// field that later code uses is checked here, once, with the file and line in the message.
// Torch-free (and so part of the parser fuzz targets).
#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "evaluation/categories.h"
#include "networks/labels.h"

namespace bagnet::evaluation {

constexpr const char* kResultsFormat = "bagnet-eval results";
constexpr int kResultsFormatVersion = 1;
// More shards than any cluster array; a header asking for more is refused before anything is
// sized by it.
constexpr std::size_t kMaxShards = std::size_t{1} << 20;

// One image's outcome: a line of results.jsonl.
struct Record {
  size_t position = 0;  // in the sorted dataset
  std::string key, label, texture, error;
  int target = -1, category = -1;  // true class / true category (see EvalItem)
  std::vector<int> top;            // top-k classes
  std::vector<float> top_probability;
  int decision = -1;                        // decided category (-1: no mapping)
  std::vector<double> category_scores;      // per category, aggregated probabilities
  bool correct1 = false, correctk = false;  // class datasets: top-1 / top-k; category datasets: decision
  bool ok() const { return error.empty(); }
};

nlohmann::json record_json(const Record& r, const Labels& labels, const CategoryMapping* mapping);
// `categories`: the run's categories (decisions are stored by name). Throws bagnet::Error(where,
// reason) on a malformed record.
Record record_from_json(const nlohmann::json& j, const std::vector<std::string>& categories,
                        const std::string& where = "record");

// Checks every header field that resume, merge and the summary use (types, ranges, shard index
// below the count). Throws bagnet::Error(where, reason).
void check_results_header(const nlohmann::json& header, const std::string& where);

// The run's categories (header run.categories), empty without a mapping. The header must have
// passed check_results_header.
std::vector<std::string> categories_of(const nlohmann::json& run);

struct ResultsFile {
  nlohmann::json header;
  std::vector<Record> records;
  std::vector<std::string> lines;  // record lines as stored
};

// Parses the text of a results.jsonl; `path` names it in errors. A last line cut short by an
// interruption is dropped; any other malformed line is bagnet::Error("path:line", reason).
ResultsFile parse_results(const std::string& text, const std::string& path);
ResultsFile read_results(const std::string& path);

}  // namespace bagnet::evaluation
