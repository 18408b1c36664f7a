// libFuzzer harness: the whole checkpoint loader (zip and legacy formats, wrapped or not).
// Only bagnet::Error may escape; anything else is a crash.
#include "lib/error.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    bagnet::fuzz::run_checkpoint_target(data, size);
  } catch (const bagnet::Error&) {
  }
  return 0;
}
