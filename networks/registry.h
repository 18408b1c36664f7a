#pragma once
// The model registry: configs/models.json, one row per model (timm-style pretrained configs
// as plain data). No torch here, so tools that only list models compile and start fast.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lib/image.h"

namespace bagnet {

struct ModelSpec {
  std::string name;
  std::string architecture;  // "bagnet" or "resnet50"
  int patch_size = 0;        // BagNets: 9, 17, 33 (or the receptive field of a custom config)
  int num_classes = 1000;
  int in_channels = 3;
  std::string labels;              // key into the registry's label sets
  std::string preprocessing_name;  // key into the registry's preprocessing table
  Preprocessing preprocessing;
  std::string weights_file;  // official file name, looked up in the weights directories
  std::string sha256_prefix;
  std::string url;
  std::string paper;
  bool embedded = false;  // weights ship with the toolkit (configs/weights/)
  nlohmann::json raw;     // the whole row, for architecture options and provenance
};

// Directory of the registry and label files: $BAGNET_CONFIG_DIR, else the source tree's configs/.
std::string config_dir();

// configs/models.json, parsed once. Throws bagnet::Error if unreadable.
std::string registry_path();
const nlohmann::json& registry_json();

// The models of a registry document (models.json's content); `path` names it in errors. Checks
// every field's type and range. Throws bagnet::Error.
std::vector<ModelSpec> parse_model_registry(const nlohmann::json& registry, const std::string& path);

// All registered models, in file order. Throws bagnet::Error on a malformed registry.
const std::vector<ModelSpec>& model_registry();

// Throws bagnet::Error listing the known names (nearest first) for an unknown name.
const ModelSpec& find_model(const std::string& name);

// Where weights are looked for, in order: $BAGNET_WEIGHTS, ~/.cache/bagnet.
std::vector<std::string> weights_search_dirs();

// The weights file to use: `explicit_path` when given (must exist), else the official file
// name in the search directories. Returns "" when not found.
std::string find_weights(const ModelSpec& spec, const std::string& explicit_path = "");

// The message for missing weights: which file, where to download it, where to put it.
std::string missing_weights_message(const ModelSpec& spec);

// Names close to `name` (edit distance), for "did you mean" messages.
std::vector<std::string> near_matches(const std::string& name, const std::vector<std::string>& candidates,
                                      size_t max_results = 3);

}  // namespace bagnet
