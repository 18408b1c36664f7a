#pragma once
// Clean stops on SIGINT (Ctrl-C) and SIGTERM (what Slurm sends before its SIGKILL, on
// preemption, scancel or the time limit). The first signal only raises a flag: the run finishes
// the item in hand (its outputs complete), keeps everything done, says so and exits with
// 128 + signal (130, 143), so the same command resumes. A second signal ends the process at once.
#include <string>

namespace bagnet {

// Installs the handlers (idempotent). Call before the run's loop.
void install_interrupt_handlers();

// The signal that asked the run to stop, or 0.
int interrupt_signal();
inline bool interrupted() { return interrupt_signal() != 0; }

// 128 + the signal: the shell's convention for "ended by signal N".
int interrupted_exit_code();

// "SIGTERM" / "SIGINT".
std::string interrupt_name();

}  // namespace bagnet
