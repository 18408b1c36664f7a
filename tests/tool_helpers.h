#pragma once
// Shared by the tests that run the tools: files, scratch directories, running a command with
// stdout and stderr captured. No torch here.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace bagnet::test {

namespace fs = std::filesystem;

inline std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// A fresh, empty directory under the temp directory, unique to this process.
inline fs::path scratch_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("bagnet_test_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

struct Run {
  int status = -1;
  std::string out, err;
};

// Runs a shell command; stdout and stderr captured separately.
inline Run run_command(const std::string& command) {
  static int counter = 0;
  const fs::path err = fs::temp_directory_path() /
                       ("bagnet_test_err_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
  const std::string cmd = command + " 2>" + err.string();
  Run r;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = read_file(err);
  fs::remove(err);
  return r;
}

// Runs a tool of the build directory: run_tool("bagnet-eval --help").
inline Run run_tool(const std::string& args) { return run_command(std::string(BAGNET_BIN_DIR) + "/" + args); }

}  // namespace bagnet::test
