#include "lib/progress.h"

#include <unistd.h>

#include <cstdio>

namespace bagnet {

Progress::Progress(std::string label, std::size_t total, bool enabled)
    : label_(std::move(label)), total_(total), enabled_(enabled && total > 0), tty_(isatty(STDERR_FILENO)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::advance(std::size_t n) {
  done_ += n;
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= interval || done_ >= total_) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::finish() {
  if (!enabled_ || finished_) return;
  finished_ = true;
  draw(true);
}

void Progress::draw(bool final) {
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? done_ / secs : 0.0;
  const double eta = rate > 0 && total_ > done_ ? (total_ - done_) / rate : 0.0;
  const int width = 30;
  const int filled = total_ ? static_cast<int>(width * static_cast<double>(done_) / total_) : width;
  std::string bar(filled, '#');
  bar.resize(width, '.');
  std::fprintf(stderr, "%s%s [%s] %zu/%zu  %.1f/s  %s %.0fs%s", tty_ ? "\r" : "", label_.c_str(), bar.c_str(),
               done_, total_, rate, final ? "elapsed" : "ETA", final ? secs : eta,
               tty_ && !final ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace bagnet
