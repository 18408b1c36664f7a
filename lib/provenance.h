#pragma once
// Provenance stamped into every output file: what made it, with what, when (after
// llama.cpp's build-info and llama-bench's records).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bagnet {

// Remember the command line (call first thing in main).
void set_command_line(int argc, char** argv);
const std::vector<std::string>& command_line();

// "2026-11-28T13:50:14Z"
std::string utc_now_iso();

// tool, version, git commit, LibTorch version, device, threads, command line, UTC time, host.
nlohmann::json provenance_json(const std::string& tool, const std::string& device, int threads);

}  // namespace bagnet
