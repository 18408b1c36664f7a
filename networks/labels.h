#pragma once
// Class labels of a label space (ImageNet: short names from torchvision, WordNet ids in
// index order) and resolution of user-given class references.
#include <string>
#include <vector>

namespace bagnet {

struct Labels {
  std::vector<std::string> names;  // index order
  std::vector<std::string> wnids;  // index order; empty for label spaces without WordNet ids

  size_t size() const { return names.size(); }
  std::string name(int index) const;
  std::string wnid(int index) const;
  // An index ("207"), a WordNet id ("n02099601") or a name ("golden retriever", case-insensitive).
  // Throws bagnet::Error listing near matches when nothing fits.
  int resolve(const std::string& ref) const;
};

// Loads the label set `key` from the registry ("imagenet", or a model's own). Cached.
const Labels& load_labels(const std::string& key);

// Reads one entry per line (trailing whitespace stripped, empty lines kept as errors).
std::vector<std::string> read_lines(const std::string& path);

}  // namespace bagnet
