// libFuzzer harness: the idx target (tests/fuzz/targets.cpp). Only bagnet::Error may escape the
// parser; any other exception reaches libFuzzer as an uncaught exception, i.e. a crash.
#include "lib/error.h"
#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    bagnet::fuzz::run_parser_target("idx", data, size);
  } catch (const bagnet::Error&) {
  }
  return 0;
}
