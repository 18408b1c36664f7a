#include "datasets/idx.h"

#include <zlib.h>

#include <filesystem>

#include "lib/error.h"

namespace bagnet {
namespace {

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

// More data than any idx file of images and labels holds (60,000 28x28 images are 47 MB).
constexpr uint64_t kMaxIdxBytes = uint64_t(1) << 34;
// Each dimension must fit an int (IdxDataset's sizes) however small the others are.
constexpr uint64_t kMaxIdxDim = 0x7fffffff;

// The size a complete file has according to its header, once `bytes` holds the header;
// 0 while the header is incomplete. Throws bagnet::Error for headers that cannot be right.
uint64_t expected_size(const std::vector<uint8_t>& bytes, const std::string& path) {
  if (bytes.size() < 4) return 0;
  if (bytes[0] != 0 || bytes[1] != 0) throw Error(path, "wrong magic number: not an idx file");
  if (bytes[2] != 0x08)
    throw Error(path, "idx data type 0x" + std::to_string(bytes[2]) + " not supported (only unsigned bytes)");
  const int ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw Error(path, "idx file with " + std::to_string(ndims) + " dimensions");
  const size_t offset = 4 + 4 * static_cast<size_t>(ndims);
  if (bytes.size() < offset) return 0;
  uint64_t total = 1;
  for (int d = 0; d < ndims; ++d) {
    const uint64_t n = be32(&bytes[4 + 4 * d]);
    if (n > kMaxIdxDim) throw Error(path, "implausible idx dimension " + std::to_string(n));
    // n < 2^31 and total <= 2^34 before the multiplication: the product cannot wrap.
    total *= n;
    if (total > kMaxIdxBytes) throw Error(path, "implausible idx dimensions");
  }
  return offset + total;
}

// The whole (decompressed) file; gzip is detected by content, not by name. Inflation stops as
// soon as more bytes come out than the header promises, so a small gzip bomb costs nothing.
std::vector<uint8_t> read_all(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw Error(path, "no such file");
  gzFile f = gzopen(path.c_str(), "rb");  // reads plain files transparently
  if (!f) throw Error(path, "cannot open");
  std::vector<uint8_t> out;
  uint8_t buf[1 << 16];
  uint64_t expected = 0;
  try {
    for (;;) {
      // Until the header is known, read no more than the longest header (4 + 4 * 4 bytes).
      const unsigned want = expected == 0 && out.size() < 20 ? static_cast<unsigned>(20 - out.size())
                                                             : static_cast<unsigned>(sizeof buf);
      const int n = gzread(f, buf, want);
      if (n < 0) {
        int err = 0;
        throw Error(path, std::string("corrupt gzip data (") + gzerror(f, &err) + ")");
      }
      if (n == 0) break;
      out.insert(out.end(), buf, buf + n);
      if (expected == 0) expected = expected_size(out, path);
      if (expected != 0 && out.size() > expected) throw Error(path, "trailing data after the idx array");
    }
  } catch (...) {
    gzclose(f);
    throw;
  }
  // A gzip stream cut short reads as a short file without error; gzclose reports it.
  const int rc = gzclose(f);
  if (rc == Z_BUF_ERROR) throw Error(path, "truncated gzip file");
  if (rc != Z_OK) throw Error(path, "corrupt gzip file");
  return out;
}

}  // namespace

IdxArray read_idx(const std::string& path) {
  const std::vector<uint8_t> bytes = read_all(path);
  if (bytes.size() < 4)
    throw Error(path, "too short for an idx file (" + std::to_string(bytes.size()) + " bytes)");
  const uint64_t size = expected_size(bytes, path);
  if (size == 0) throw Error(path, "truncated idx header");
  const size_t ndims = bytes[3], offset = 4 + 4 * ndims;
  IdxArray a;
  for (size_t d = 0; d < ndims; ++d) a.shape.push_back(be32(&bytes[4 + 4 * d]));
  if (bytes.size() < size)
    throw Error(path, "truncated: header promises " + std::to_string(size - offset) +
                          " bytes of data, file has " + std::to_string(bytes.size() - offset));
  if (bytes.size() > size) throw Error(path, "trailing data after the idx array");
  a.data.assign(bytes.begin() + static_cast<std::ptrdiff_t>(offset), bytes.end());
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
  // read_idx bounds every dimension by 2^31 - 1, so these fit an int.
  if (images.shape[0] > 0 && (images.shape[1] == 0 || images.shape[2] == 0))
    throw Error(images_path, "images of " + std::to_string(images.shape[1]) + "x" +
                                 std::to_string(images.shape[2]) + " pixels");
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
