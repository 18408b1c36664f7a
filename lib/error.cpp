#include "lib/error.h"

namespace bagnet {

Error::Error(std::string path, std::string reason)
    : std::runtime_error(path.empty() ? reason : path + ": " + reason),
      path_(std::move(path)),
      reason_(std::move(reason)) {}

}  // namespace bagnet
