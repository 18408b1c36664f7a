#include "lib/error.h"

#include <cstring>

namespace bagnet {

Error::Error(std::string path, std::string reason)
    : std::runtime_error(path.empty() ? reason : path + ": " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

OutputError output_error(const std::string& path, const std::string& doing, int errnum) {
  std::string why = std::strerror(errnum);
  if (!why.empty()) why[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(why[0])));
  return OutputError(path, doing + ": " + why);
}

}  // namespace bagnet
