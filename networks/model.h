#pragma once
// Building a registered network and loading its weights, with validation.
#include <memory>
#include <string>
#include <vector>

#include "lib/checkpoint.h"
#include "networks/labels.h"
#include "networks/network.h"
#include "networks/registry.h"

namespace bagnet {

// `random_init` false: the parameters are left uninitialised (no random fill; buffers still get
// their constant values), for callers that overwrite every parameter right after (load_weights,
// which is strict, or a copy of another network's parameters).
std::shared_ptr<NetworkImpl> build_network(const ModelSpec& spec, bool random_init = true);

// A new network of `spec` holding copies of every parameter and buffer of `from` (a network of
// the same spec), built without random fills. Not in eval mode, not folded.
std::shared_ptr<NetworkImpl> copy_network(const ModelSpec& spec, const NetworkImpl& from);

// Copies a state dict into the network. Every missing key, unexpected key and shape mismatch
// is reported by name in one bagnet::Error; BatchNorm's num_batches_tracked may be absent
// (checkpoints older than PyTorch 0.4.1 lack it; eval mode never reads it).
// `adopt` (inference only): parameters take the checkpoint's tensors where dtype and layout fit
// instead of copies. Keys pass through net.remap_key first (old formats); keys the network
// ignores (net.ignored_key) are skipped and returned.
std::vector<std::string> load_weights(NetworkImpl& net, const StateDict& sd, const std::string& path,
                                      const std::string& model, bool adopt = false);

// torch.hub's convention: a file named NAME-<hex>.ext carries the start of its SHA-256.
// Returns the hex prefix in the file name ("" if none) ...
std::string hash_prefix_in_name(const std::string& path);
// ... and throws bagnet::Error if the file's hash does not start with it.
void check_hash_prefix(const std::string& path, const std::string& sha256);

struct LoadedModel {
  ModelSpec spec;
  std::shared_ptr<NetworkImpl> net;
  std::string weights_path;    // "" for random weights
  std::string weights_sha256;  // full hex digest
  std::string checkpoint_format;
  c10::Device device{c10::kCPU};
  bool batchnorm_folded = false;
  std::vector<std::string> ignored_keys;  // checkpoint keys accepted but unused (GoogLeNet's aux heads)
};

// The registry's preprocessing, or none (no resize, no crop) with --no-resize.
Preprocessing effective_preprocessing(const ModelSpec& spec, bool no_resize);

// Model, weights (path, sha256, format) and preprocessing, for provenance in every output.
nlohmann::json model_json(const LoadedModel& model, bool no_resize);

// Builds `spec`, reads the weights (explicit path, else the registry's file in the search
// directories), checks hash and keys, moves to `device`, eval mode. Throws bagnet::Error with
// the download instructions when the weights are missing. `fold_batchnorm`: for inference,
// BatchNorm folded into the convolutions (NetworkImpl::fold_batchnorm); never for training.
LoadedModel load_model(const ModelSpec& spec, const std::string& weights_path, c10::Device device,
                       bool fold_batchnorm = false);

// The model's label set, checked against its class count.
const Labels& model_labels(const ModelSpec& spec);

}  // namespace bagnet
