#pragma once
// NumPy .npy files (format version 1.0) for raw float32 maps: numpy.load reads them as they
// are, H x W or K x H x W, C order, little-endian. No torch here.
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet {

// The bytes of a .npy file holding `data` (float32, C order) of the given shape.
std::string npy_bytes(const float* data, const std::vector<int64_t>& shape);

// Writes a .npy file atomically (temporary file + rename). Throws bagnet::Error.
void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
  std::vector<int64_t> shape;
  std::vector<float> data;
};

// Reads a little-endian float32 C-order .npy file (version 1.0 or 2.0), e.g. one written by
// numpy.save. Throws bagnet::Error ("path: reason") for anything else.
NpyArray read_npy(const std::string& path);
// The same from the file's bytes; `path` names it in errors.
NpyArray parse_npy(const std::string& bytes, const std::string& path);

}  // namespace bagnet
