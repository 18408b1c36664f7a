#include "datasets/folder.h"

#include <algorithm>
#include <filesystem>

#include "lib/error.h"
#include "lib/files.h"

namespace fs = std::filesystem;

namespace bagnet {

FolderDataset read_image_folder(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error(root, "not a directory");
  FolderDataset d;
  for (const auto& entry : fs::directory_iterator(root, ec))
    if (entry.is_directory()) d.classes.push_back(entry.path().filename().string());
  if (ec) throw Error(root, "cannot list: " + ec.message());
  std::sort(d.classes.begin(), d.classes.end());
  if (d.classes.empty()) throw Error(root, "no class folders (expected ROOT/<class>/<image>)");
  for (size_t c = 0; c < d.classes.size(); ++c) {
    const fs::path dir = fs::path(root) / d.classes[c];
    std::vector<std::string> files;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec))
      if (it->is_regular_file() && has_image_extension(it->path().string()))
        files.push_back(it->path().string());
    if (files.empty()) throw Error(dir.string(), "class folder has no images");
    std::sort(files.begin(), files.end());
    for (auto& f : files) {
      d.paths.push_back(std::move(f));
      d.labels.push_back(static_cast<int64_t>(c));
    }
  }
  return d;
}

}  // namespace bagnet
