#pragma once
#include <stdexcept>
#include <string>

namespace bagnet {

// An error caused by input (a file, a flag): carries the offending path and a reason
// so that tools can print one line, "path: reason", and exit non-zero.
class Error : public std::runtime_error {
 public:
  Error(std::string path, std::string reason);
  const std::string& path() const { return path_; }
  const std::string& reason() const { return reason_; }

 private:
  std::string path_;
  std::string reason_;
};

// An output that cannot be written (no space left, permission denied, read-only file system):
// unlike a bad input, it ends the whole run, since every later item would fail the same way.
// Runs stop at once, keep what is complete, and exit 1.
class OutputError : public Error {
 public:
  using Error::Error;
};

// "path: reason" for the current errno (e.g. "No space left on device").
OutputError output_error(const std::string& path, const std::string& doing, int errnum);

}  // namespace bagnet
