#pragma once
// A progress bar on stderr: done/total, rate, ETA. Redraws in place on a terminal; when
// stderr is a file or pipe (a cluster job's log), prints a plain line every few seconds.
#include <chrono>
#include <cstddef>
#include <string>

namespace bagnet {

class Progress {
 public:
  Progress(std::string label, std::size_t total, bool enabled = true);
  ~Progress();
  void advance(std::size_t n = 1);
  void finish();

 private:
  void draw(bool final);
  std::string label_;
  std::size_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace bagnet
