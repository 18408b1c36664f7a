#include "heatmaps/npy.h"

#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "lib/error.h"
#include "lib/provenance.h"

namespace bagnet::heatmaps {

static_assert(sizeof(float) == 4, "float32 expected");

namespace {

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

}  // namespace

std::string npy_bytes(const float* data, const std::vector<int64_t>& shape) {
  if (!little_endian()) throw Error("npy", "big-endian hosts are not supported");
  // Python's tuple repr, as numpy writes it: "(3, 4)", "(3,)", "()".
  std::string dims;
  int64_t count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    dims += (i ? ", " : "") + std::to_string(shape[i]);
    count *= shape[i];
  }
  if (shape.size() == 1) dims += ",";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  // Magic (6) + version (2) + length (2) + header + '\n' padded with spaces to a multiple of 64,
  // as numpy writes it (format.py: ARRAY_ALIGN).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  if (header.size() > 65535) throw Error("npy", "shape too long for a version 1.0 header");
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(count) * sizeof(float));
  return out;
}

void write_npy(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
  atomic_write(path, npy_bytes(data, shape));
}

NpyArray read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) throw Error(path, "not a .npy file");
  const int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, offset;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
    offset = 10;
  } else if (major == 2 && bytes.size() >= 12) {
    header_len = 0;
    for (int i = 0; i < 4; ++i)
      header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    offset = 12;
  } else {
    throw Error(path, ".npy version " + std::to_string(major) + " is not supported");
  }
  if (bytes.size() < offset + header_len) throw Error(path, "truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  std::smatch m;
  if (!std::regex_search(header, m, std::regex("'descr':\\s*'([^']*)'")) || m[1] != "<f4")
    throw Error(path, "not float32 little-endian (descr " + (m.size() > 1 ? m[1].str() : "?") + ")");
  if (!std::regex_search(header, m, std::regex("'fortran_order':\\s*False")))
    throw Error(path, "Fortran order is not supported");
  if (!std::regex_search(header, m, std::regex("'shape':\\s*\\(([^)]*)\\)")))
    throw Error(path, "no shape in header");
  NpyArray a;
  int64_t count = 1;
  const std::string dims = m[1];
  static const std::regex number("\\d+");
  for (std::sregex_iterator it(dims.begin(), dims.end(), number), end; it != end; ++it) {
    a.shape.push_back(std::stoll(it->str()));
    count *= a.shape.back();
  }
  const size_t data_at = offset + header_len;
  if (bytes.size() != data_at + static_cast<size_t>(count) * 4)
    throw Error(path, "data size does not match the shape (truncated?)");
  a.data.resize(count);
  std::memcpy(a.data.data(), bytes.data() + data_at, a.data.size() * 4);
  return a;
}

}  // namespace bagnet::heatmaps
