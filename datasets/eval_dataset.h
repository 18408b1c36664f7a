#pragma once
// Datasets for evaluation, in the layouts researchers have on disk:
//  - class folders named by WordNet id (ImageNet val, Stylized-ImageNet val, or any subset of
//    the classes), or by class name/index of the model's label space;
//  - category folders (the 16-class sets of Geirhos et al.: edge, silhouette, sketch, stylized),
//    decided through a category mapping;
//  - cue-conflict stimuli <root>/<shape>/<shape><i>-<texture><j>.png;
//  - a list file of "path,label" lines;
//  - idx files of (Fashion-)MNIST.
// Items are sorted by a stable key (the path relative to the root), so that shards and resumed
// runs do not depend on file-system order. No torch here.
#include <memory>
#include <string>
#include <vector>

#include "datasets/idx.h"
#include "datasets/loader.h"
#include "networks/labels.h"

namespace bagnet {

enum class DatasetKind { ClassFolders, CategoryFolders, CueConflict, List, Idx };
std::string to_string(
    DatasetKind kind);  // "class-folders", "category-folders", "cue-conflict", "list", "idx"

struct EvalItem {
  std::string key;      // stable id: path relative to the root (idx: "<split>/<n>")
  std::string path;     // file to read ("" for idx)
  std::string label;    // as the dataset names it: WordNet id, category, or the list's label
  int target = -1;      // class in the model's label space; -1 when the label is a category
  int category = -1;    // category index when the labels are categories
  std::string texture;  // cue-conflict: the texture category
  int row = -1;         // idx: image number
};

struct EvalDataset {
  std::string source;  // as given
  std::string name;    // dataset name used in file names: "cue-conflict", "edge", "silhouette", ...
  DatasetKind kind = DatasetKind::ClassFolders;
  bool categorical = false;          // labels are categories: decisions go through a mapping
  std::vector<EvalItem> items;       // sorted by key
  std::vector<std::string> classes;  // labels present, sorted (per-class results use these)
  std::shared_ptr<const IdxDataset> idx;
  std::string fingerprint;  // SHA-256 of kind, keys and labels: the same dataset on any machine
};

struct DatasetOptions {
  std::string kind = "auto";  // or a to_string(DatasetKind) value
  std::string name;  // default: from the folder name (edges -> edge, filled-silhouettes -> silhouette)
  std::string split = "test";  // idx: train or test
};

// `labels`: the model's label space; `categories`: the mapping's categories (may be empty when
// the model has no mapping). Throws bagnet::Error (path: reason) for a missing source, folders
// that are neither classes nor categories (naming one), list lines that do not parse
// (file:line), stimulus names that do not parse, or a dataset without images.
EvalDataset open_eval_dataset(const std::string& source, const DatasetOptions& options, const Labels& labels,
                              const std::vector<std::string>& categories);

// Positions (into the sorted items) of shard `index` of `count`: every count-th item, from
// `index`. The shards of any count partition the dataset.
std::vector<size_t> shard_positions(size_t items, size_t index, size_t count);

// Splits a cue-conflict file name <shape><i>-<texture><j>.png (letters, then digits) into its
// shape and texture; false when it does not have that form. Linear in the name's length.
bool split_cue_conflict_name(const std::string& file, std::string* shape, std::string* texture);

// Item `item` of `d` through a model's preprocessing, as every tool reads it: a file is decoded
// and preprocessed; an idx image goes gray -> RGB -> preprocessing like a PNG of it. The result's
// path is the item's key; errors go into LoadedImage::error, never thrown.
LoadedImage load_eval_item(const EvalDataset& d, const EvalItem& item, const Preprocessing& prep,
                           long long max_pixels);

// Parses "i/n" (0 <= i < n). Throws bagnet::Error.
std::pair<size_t, size_t> parse_shard(const std::string& text);

}  // namespace bagnet
