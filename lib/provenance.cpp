#include "lib/provenance.h"

#include <torch/version.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "build_info.h"
#include "lib/error.h"

namespace bagnet {
namespace {
std::vector<std::string>& stored_command_line() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void set_command_line(int argc, char** argv) {
  auto& args = stored_command_line();
  args.assign(argv, argv + argc);
}

const std::vector<std::string>& command_line() { return stored_command_line(); }

std::string utc_now_iso() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

nlohmann::json provenance_json(const std::string& tool, const std::string& device, int threads) {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return {
      {"tool", tool},
      {"version", BAGNET_VERSION},
      {"git_commit", BAGNET_GIT_COMMIT},
      {"libtorch", TORCH_VERSION},
      {"device", device},
      {"threads", threads},
      {"command_line", command_line()},
      {"time_utc", utc_now_iso()},
      {"host", host},
  };
}


}  // namespace bagnet
