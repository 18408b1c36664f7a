#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace bagnet {

// SHA-256 (FIPS 180-4). Weights files are identified by their hash in every output.
class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t size);
  std::string hex_digest();  // 64 lowercase hex digits; finishes the hash

 private:
  void block(const std::uint8_t* p);
  std::uint32_t h_[8];
  std::uint8_t buf_[64];
  std::size_t buf_len_ = 0;
  std::uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);
// Hash of a file's contents; throws bagnet::Error if it cannot be read.
std::string sha256_file(const std::string& path);

}  // namespace bagnet
