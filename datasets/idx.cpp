#include "datasets/idx.h"

#include <zlib.h>

#include <filesystem>

#include "lib/error.h"

namespace bagnet {
namespace {

// The whole (decompressed) file; gzip is detected by content, not by name.
std::vector<uint8_t> read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path, "no such file");
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files transparently
  if (!f) throw Error(path, "cannot open");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof buf);
    if (n < 0) {
      int err = 0;
      const std::string msg = gzerror(f, &err);
      gzclose(f);
      throw Error(path, "corrupt gzip data (" + msg + ")");
    }
    if (n == 0) break;
    out.insert(out.end(), buf, buf + n);
  }
  // A gzip stream cut short reads as a short file without error; gzclose reports it.
  const int rc = gzclose(f);
  if (rc == Z_BUF_ERROR) throw Error(path, "truncated gzip file");
  if (rc != Z_OK) throw Error(path, "corrupt gzip file");
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_all(path);
  if (bytes.size() < 4)
    throw Error(path, "too short for an idx file (" + std::to_string(bytes.size()) + " bytes)");
  if (bytes[0] != 0 || bytes[1] != 0) throw Error(path, "wrong magic number: not an idx file");
  if (bytes[2] != 0x08)
    throw Error(path, "idx data type 0x" + std::to_string(bytes[2]) + " not supported (only unsigned bytes)");
  const int ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw Error(path, "idx file with " + std::to_string(ndims) + " dimensions");
  if (bytes.size() < 4 + 4 * static_cast<size_t>(ndims)) throw Error(path, "truncated idx header");
  IdxArray a;
  uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    a.shape.push_back(be32(&bytes[4 + 4 * d]));
    total *= a.shape.back();
    if (total > (uint64_t(1) << 34)) throw Error(path, "implausible idx dimensions");
  }
  const size_t offset = 4 + 4 * ndims;
  if (bytes.size() - offset < total)
    throw Error(path, "truncated: header promises " + std::to_string(total) + " bytes of data, file has " +
                          std::to_string(bytes.size() - offset));
  if (bytes.size() - offset > total) throw Error(path, "trailing data after the idx array");
  a.data.assign(bytes.begin() + offset, bytes.end());
  return a;
}

IdxDataset read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  const IdxArray images = read_idx(images_path);
  const IdxArray labels = read_idx(labels_path);
  if (images.shape.size() != 3) throw Error(images_path, "expected an N x H x W image array");
  if (labels.shape.size() != 1) throw Error(labels_path, "expected a vector of labels");
  if (images.shape[0] != labels.shape[0])
    throw Error(labels_path, std::to_string(labels.shape[0]) + " labels for " +
                                 std::to_string(images.shape[0]) + " images in " + images_path);
  IdxDataset d;
  d.count = static_cast<int>(images.shape[0]);
  d.height = static_cast<int>(images.shape[1]);
  d.width = static_cast<int>(images.shape[2]);
  d.images = images.data;
  d.labels.assign(labels.data.begin(), labels.data.end());
  return d;
}

IdxDataset read_mnist_dir(const std::string& dir, const std::string& split) {
  const std::string prefix = split == "test" ? "t10k" : "train";
  auto find = [&](const std::string& stem) {
    for (const char* suffix : {".gz", ""}) {
      const std::string p = dir + "/" + stem + suffix;
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return p;
    }
    throw Error(dir + "/" + stem + "[.gz]", "no such file (an MNIST-style directory holds " + prefix +
                                                "-images-idx3-ubyte and " + prefix + "-labels-idx1-ubyte)");
  };
  return read_idx_pair(find(prefix + "-images-idx3-ubyte"), find(prefix + "-labels-idx1-ubyte"));
}

}  // namespace bagnet
