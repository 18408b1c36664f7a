#include "lib/sha256.h"

#include <openssl/evp.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <vector>

#include "lib/error.h"

namespace bagnet {

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool finished = false;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("OpenSSL: cannot initialise SHA-256");
}

Sha256::~Sha256() { EVP_MD_CTX_free(impl_->ctx); }

void Sha256::update(const void* data, std::size_t size) {
  if (size > 0 && EVP_DigestUpdate(impl_->ctx, data, size) != 1)
    throw std::runtime_error("OpenSSL: SHA-256 update failed");
}

std::string Sha256::hex_digest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (impl_->finished || EVP_DigestFinal_ex(impl_->ctx, digest, &n) != 1 || n != 32)
    throw std::runtime_error("OpenSSL: SHA-256 finish failed");
  impl_->finished = true;
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(64);
  for (unsigned int i = 0; i < n; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

std::string sha256_hex(const std::string& data) {
  Sha256 sha;
  sha.update(data.data(), data.size());
  return sha.hex_digest();
}

std::string sha256_file(const std::string& path) {
  std::error_code ec;
  // An ifstream opens a directory without complaint and then reads nothing.
  if (std::filesystem::is_directory(path, ec)) throw Error(path, "is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, std::string("cannot open file: ") + std::strerror(errno));
  Sha256 sha;
  // Stream in chunks: weights files are ~100 MB and need not sit in memory to be hashed.
  std::vector<char> chunk(1 << 20);
  while (in) {
    in.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    const std::streamsize got = in.gcount();
    if (got > 0) sha.update(chunk.data(), static_cast<std::size_t>(got));
  }
  if (in.bad()) throw Error(path, "read error while hashing the file");
  return sha.hex_digest();
}

}  // namespace bagnet
