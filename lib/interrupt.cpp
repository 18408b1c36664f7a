#include "lib/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstring>

namespace bagnet {
namespace {

std::atomic<int> g_signal{0};

void on_signal(int sig) {
  if (g_signal.load() != 0) {  // the second one: stop now, as if no handler were installed
    std::signal(sig, SIG_DFL);
    std::raise(sig);
    return;
  }
  g_signal.store(sig);
  // Only async-signal-safe calls here: write(2), no iostreams.
  const char* msg =
      sig == SIGINT
          ? "\ninterrupt (SIGINT): finishing the current item, then stopping; send again to stop now\n"
          : "\nSIGTERM: finishing the current item, then stopping; send again to stop now\n";
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, msg, std::strlen(msg));
}

}  // namespace

void install_interrupt_handlers() {
  static std::atomic<bool> installed{false};
  if (installed.exchange(true)) return;
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes in progress go on; the flag is polled between items
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int interrupt_signal() { return g_signal.load(); }

int interrupted_exit_code() { return 128 + g_signal.load(); }

std::string interrupt_name() {
  const int s = g_signal.load();
  return s == SIGINT ? "SIGINT" : s == SIGTERM ? "SIGTERM" : s ? "signal " + std::to_string(s) : "";
}

}  // namespace bagnet
