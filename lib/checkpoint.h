#pragma once
// Reading (and writing) torch.save files without Python.
//
// Two on-disk formats exist: the zip archive of PyTorch >= 1.6 (archive/data.pkl plus one
// record per storage under archive/data/<key>), and the legacy stream of PyTorch <= 1.5
// (magic number, protocol, sys info and object pickles, then the raw storages), in which
// the official BagNet checkpoints were written. Both hold a pickle whose tensors are
// persistent ids ('storage', type, key, location, numel) rebuilt by torch._utils._rebuild_tensor_v2.
// Only what a state dict needs is accepted (tensors, dicts, OrderedDicts, lists, tuples, ints,
// floats, strings, bools, None); any other global is refused, never executed.
#include <ATen/core/Tensor.h>

#include <string>
#include <utility>
#include <vector>

namespace bagnet {

// Ordered (name, tensor) pairs, in file order.
using TensorList = std::vector<std::pair<std::string, at::Tensor>>;

struct StateDict {
  TensorList tensors;  // keys normalised: the {'state_dict': ...} wrapper and 'module.' prefixes removed
  std::string format;  // "zip" or "legacy"
  bool was_wrapped = false;        // came inside {'state_dict': ...} (or 'model'/'net')
  bool had_module_prefix = false;  // keys started with 'module.' (nn.DataParallel)

  const at::Tensor* find(const std::string& key) const;
};

// Reads a state dict from a torch.save file in either format. Non-tensor entries of the dict
// (e.g. an 'epoch' or 'arch' next to 'state_dict') are ignored. Tensors are contiguous CPU
// tensors; those stored contiguously are views of their storage, which several may share (read
// them, copy them into parameters; do not write to them). Memory is bounded by the file: record
// sizes are checked against the zip directory, and copies (non-contiguous or expanded tensors)
// may total at most twice the file size plus 64 MiB. Throws bagnet::Error ("path: reason") on
// anything it cannot read.
StateDict load_state_dict(const std::string& path);

// Writes tensors as a torch.save-compatible zip file (what torch.save writes by default since
// 1.6): an OrderedDict of CPU tensors that torch.load and load_state_dict both read.
// The file is written to a temporary name and renamed, so a reader never sees half a file.
void save_state_dict(const std::string& path, const TensorList& tensors);

}  // namespace bagnet
