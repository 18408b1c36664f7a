#pragma once
// One input through one parser, as a libFuzzer harness runs it and as the regression tests
// (tests/test_hardening.cpp) replay the inputs fuzzing found. Each function returns normally or
// throws bagnet::Error; anything else (another exception, a crash, a sanitizer report) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet::fuzz {

// The targets without torch, by name: pickle, image, npy, idx, trials_csv, list, results,
// registry, mapping. The checkpoint target is in checkpoint_target.cpp (it needs torch).
const std::vector<std::string>& parser_targets();
void run_parser_target(const std::string& target, const std::uint8_t* data, std::size_t size);
void run_checkpoint_target(const std::uint8_t* data, std::size_t size);

// Writes the input to a file of this process (for readers that take a path) and returns its path.
std::string input_file(const std::uint8_t* data, std::size_t size, const std::string& suffix);

}  // namespace bagnet::fuzz
