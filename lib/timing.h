#pragma once
// Phase timings on stderr when BAGNET_TIMING is set (e.g. BAGNET_TIMING=1 bagnet-classify ...):
// where a process spends its start-up (checkpoint reading, hashing, network set-up, the first
// forward pass). Free when unset.
#include <chrono>
#include <cstdio>
#include <cstdlib>

namespace bagnet {

class PhaseTimer {
 public:
  PhaseTimer() : on_(std::getenv("BAGNET_TIMING") != nullptr), last_(std::chrono::steady_clock::now()) {}
  // "timing: <what> <seconds since the previous mark>"
  void mark(const char* what) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    std::fprintf(stderr, "timing: %-28s %.3f s\n", what, std::chrono::duration<double>(now - last_).count());
    last_ = now;
  }

 private:
  bool on_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace bagnet
