#include "lib/npy.h"

#include <cstring>
#include <limits>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"

namespace bagnet {

static_assert(sizeof(float) == 4, "float32 expected");

namespace {

bool little_endian() {
  const uint16_t one = 1;
  uint8_t first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// A descr from the file, safe to print in one line.
std::string printable_descr(const std::string& descr) {
  std::string out;
  for (const char c : descr.substr(0, 40)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return descr.size() > 40 ? out + "..." : out;
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

namespace {

// The header is a Python dict literal, e.g. {'descr': '<f4', 'fortran_order': False,
// 'shape': (3, 4), }. Parsed by hand in one pass (no std::regex, whose backtracking overflows
// the stack on long input), with every number checked before it is used.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : s_(text), path_(path) {}

  void parse(std::string* descr, bool* fortran, std::vector<int64_t>* shape) {
    bool have_descr = false, have_fortran = false, have_shape = false;
    skip_space();
    expect('{');
    for (;;) {
      skip_space();
      if (peek() == '}') break;
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        *descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        *fortran = boolean();
        have_fortran = true;
      } else if (key == "shape") {
        *shape = int_tuple();
        have_shape = true;
      } else {
        fail("unexpected key '" + key + "' in the header");
      }
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != '}') fail("expected ',' or '}' in the header");
    }
    if (!have_descr) fail("no descr in the header");
    if (!have_fortran) fail("no fortran_order in the header");
    if (!have_shape) fail("no shape in header");
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw Error(path_, why); }
  char peek() const { return i_ < s_.size() ? s_[i_] : '\0'; }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("malformed .npy header (expected '") + c + "')");
    ++i_;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("malformed .npy header (expected a quoted string)");
    const size_t end = s_.find(quote, i_ + 1);
    if (end == std::string::npos) fail("malformed .npy header (unterminated string)");
    std::string out = s_.substr(i_ + 1, end - i_ - 1);
    i_ = end + 1;
    return out;
  }
  bool boolean() {
    if (s_.compare(i_, 4, "True") == 0) {
      i_ += 4;
      return true;
    }
    if (s_.compare(i_, 5, "False") == 0) {
      i_ += 5;
      return false;
    }
    fail("malformed .npy header (fortran_order is not True or False)");
  }
  std::vector<int64_t> int_tuple() {
    expect('(');
    std::vector<int64_t> dims;
    for (;;) {
      skip_space();
      if (peek() == ')') break;
      if (peek() < '0' || peek() > '9') fail("malformed .npy header (shape is not a tuple of integers)");
      int64_t v = 0;
      while (peek() >= '0' && peek() <= '9') {
        const int digit = peek() - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) fail("shape dimension too large");
        v = v * 10 + digit;
        ++i_;
      }
      // Python ints may carry an L suffix in headers written by Python 2's numpy.
      if (peek() == 'L') ++i_;
      dims.push_back(v);
      skip_space();
      if (peek() == ',') {
        ++i_;
        continue;
      }
      skip_space();
      if (peek() != ')') fail("malformed .npy header (expected ',' or ')' in the shape)");
    }
    ++i_;
    return dims;
  }

  const std::string& s_;
  const std::string& path_;
  size_t i_ = 0;
};

}  // namespace

NpyArray parse_npy(const std::string& bytes, const std::string& path) {
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
  if (bytes.size() - offset < header_len) throw Error(path, "truncated .npy header");
  const std::string header = bytes.substr(offset, header_len);
  std::string descr;
  bool fortran = false;
  NpyArray a;
  HeaderParser(header, path).parse(&descr, &fortran, &a.shape);
  if (descr != "<f4") throw Error(path, "not float32 little-endian (descr " + printable_descr(descr) + ")");
  if (fortran) throw Error(path, "Fortran order is not supported");
  // The element count, checked against the bytes present before anything is multiplied out or
  // allocated: neither the product of the dimensions nor count * 4 may wrap.
  const size_t data_at = offset + header_len;
  const uint64_t available = (bytes.size() - data_at) / 4;
  uint64_t count = 1;
  for (const int64_t d : a.shape) {
    const auto n = static_cast<uint64_t>(d);
    if (n != 0 && count > available / n) {
      count = available + 1;  // more than the file holds, whatever the other dimensions are
      for (const int64_t z : a.shape)
        if (z == 0) count = 0;
      break;
    }
    count *= n;
  }
  if (count > available || bytes.size() - data_at != count * 4)
    throw Error(path, "data size does not match the shape (truncated?)");
  a.data.resize(count);
  if (count > 0) std::memcpy(a.data.data(), bytes.data() + data_at, count * 4);
  return a;
}

NpyArray read_npy(const std::string& path) { return parse_npy(read_file(path), path); }

}  // namespace bagnet
