#pragma once
// ImageNet-style image folders: one sub-directory per class, classes in sorted order
// (torchvision's ImageFolder convention). No torch here.
#include <string>
#include <vector>

namespace bagnet {

struct FolderDataset {
  std::vector<std::string> classes;  // sorted sub-directory names
  std::vector<std::string> paths;    // sorted within each class
  std::vector<int64_t> labels;
};

// Throws bagnet::Error for a missing root, a root without class folders, or a class folder
// without images (naming it).
FolderDataset read_image_folder(const std::string& root);

}  // namespace bagnet
