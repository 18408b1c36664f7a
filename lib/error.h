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

}  // namespace bagnet
