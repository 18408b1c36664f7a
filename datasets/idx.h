#pragma once
// The idx format of MNIST and Fashion-MNIST (LeCun et al.; yann.lecun.com/exdb/mnist):
// big-endian magic (0x00 0x00 type ndims), ndims big-endian uint32 sizes, then the data.
// gzipped or not. No torch here.
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet {

struct IdxArray {
  std::vector<uint32_t> shape;
  std::vector<uint8_t> data;  // only unsigned-byte arrays (type 0x08), which is what (Fashion-)MNIST uses
};

// Reads a .gz or plain idx file; throws bagnet::Error ("path: reason") on a wrong magic,
// an unsupported type, a truncated file or trailing garbage.
IdxArray read_idx(const std::string& path);

struct IdxDataset {
  int count = 0, height = 0, width = 0;
  std::vector<uint8_t> images;  // count x height x width
  std::vector<int64_t> labels;  // count
};

// An images file and a labels file of the same length.
IdxDataset read_idx_pair(const std::string& images_path, const std::string& labels_path);

// (Fashion-)MNIST's file names in `dir` (train-images-idx3-ubyte[.gz], ...); split is
// "train" or "test" (t10k). Throws bagnet::Error naming the missing file.
IdxDataset read_mnist_dir(const std::string& dir, const std::string& split);

}  // namespace bagnet
