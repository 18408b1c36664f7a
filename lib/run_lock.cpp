#include "lib/run_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <thread>

#include "lib/error.h"
#include "lib/files.h"
#include "lib/provenance.h"

namespace bagnet {
namespace {

namespace fs = std::filesystem;
constexpr const char* kPrefix = ".bagnet-lock-";

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

double default_stale_seconds() {
  if (const char* env = std::getenv("BAGNET_LOCK_STALE_SECONDS")) {
    char* end = nullptr;
    const double v = std::strtod(env, &end);
    if (end != env && v > 0) return v;
  }
  return 120;
}

// The Slurm job (array task) this process belongs to, or "". Slurm runs one incarnation of a
// job at a time, so a lock of the same job is a previous incarnation's: requeued (often onto
// another node) after SIGKILL, it left its lock behind.
std::string slurm_job() {
  const char* array = std::getenv("SLURM_ARRAY_JOB_ID");
  const char* task = std::getenv("SLURM_ARRAY_TASK_ID");
  if (array && task) return std::string(array) + "_" + task;
  const char* job = std::getenv("SLURM_JOB_ID");
  return job ? job : "";
}

struct Holder {
  std::string tool, host, started, slurm_job;
  long long pid = 0;
  std::size_t shard_index = 0, shard_count = 1;
  bool parsed = false;
};

Holder read_holder(const fs::path& path) {
  Holder h;
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  const auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (!j.is_object()) return h;
  try {
    h.tool = j.value("tool", "");
    h.host = j.value("host", "");
    h.started = j.value("started", "");
    h.slurm_job = j.value("slurm_job", "");
    h.pid = j.value("pid", 0LL);
    const auto shard = j.value("shard", std::vector<long long>{0, 1});
    if (shard.size() != 2 || shard[1] < 1 || shard[0] < 0 || shard[0] >= shard[1]) return h;
    h.shard_index = static_cast<std::size_t>(shard[0]);
    h.shard_count = static_cast<std::size_t>(shard[1]);
    h.parsed = true;
  } catch (const nlohmann::json::exception&) {
  }
  return h;
}

double age_seconds(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return std::difftime(std::time(nullptr), st.st_mtime);
}

// Same host: is the process there? (kill(pid, 0); EPERM means it exists under another user.)
bool process_alive(long long pid) {
  if (pid <= 0 || pid > 0x7fffffff) return false;
  return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
}

std::string describe(const Holder& h, const fs::path& path) {
  if (!h.parsed) return "an unreadable lock";
  return h.tool + " (pid " + std::to_string(h.pid) + " on host " + h.host + ", shard " +
         std::to_string(h.shard_index) + "/" + std::to_string(h.shard_count) + ", since " + h.started +
         ", last heartbeat " + std::to_string(static_cast<long long>(age_seconds(path))) + " s ago)";
}

}  // namespace

bool shards_overlap(std::size_t i, std::size_t n, std::size_t j, std::size_t m) {
  const std::size_t g = std::gcd(n, m);
  return g == 0 || i % g == j % g;
}

struct RunLock::Impl {
  std::string path;
  std::thread heartbeat;
  std::mutex mutex;
  std::condition_variable cv;
  bool stop = false;
};

RunLock::RunLock(const std::string& dir, const std::string& tool, const RunLockOptions& o)
    : impl_(std::make_unique<Impl>()) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw output_error(dir, "cannot create the output folder", ec.value());
  const double stale = o.stale_seconds > 0 ? o.stale_seconds : default_stale_seconds();
  const std::string me = host_name(), job = slurm_job();
  const std::string name = kPrefix + std::to_string(o.shard_index) + "-of-" + std::to_string(o.shard_count);
  impl_->path = (fs::path(dir) / name).string();

  auto busy = [](const fs::path& lock, const Holder& h) {
    return Error(lock.string(), "another run writes into this folder: " + describe(h, lock) +
                                    "; wait for it, or delete the lock if that run is dead");
  };
  // Refuses when a live run's shard overlaps ours; removes stale locks. After taking our own
  // lock (before_taking false), ours is skipped and removed again if another is found.
  auto check_others = [&](bool before_taking) {
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      const std::string file = entry.path().filename().string();
      if (file.rfind(kPrefix, 0) != 0 || file.find(".tmp.") != std::string::npos) continue;
      if (!before_taking && entry.path() == fs::path(impl_->path)) continue;
      const Holder h = read_holder(entry.path());
      if (h.parsed && !shards_overlap(o.shard_index, o.shard_count, h.shard_index, h.shard_count)) continue;
      const bool same_job = h.parsed && !job.empty() && h.slurm_job == job;
      const bool dead =
          same_job || (h.parsed && h.host == me ? !process_alive(h.pid) : age_seconds(entry.path()) > stale);
      if (dead) {
        std::cerr << entry.path().string() << ": removing a stale lock of " << describe(h, entry.path())
                  << "\n";
        fs::remove(entry.path(), ec);
        continue;
      }
      if (!before_taking) fs::remove(impl_->path, ec);
      throw busy(entry.path(), h);
    }
  };
  check_others(true);

  // The lock appears complete or not at all: content in a temporary file, link(2) into place
  // (fails with EEXIST if a run started at the same moment took it first).
  nlohmann::json content = {{"tool", tool},
                            {"pid", static_cast<long long>(::getpid())},
                            {"host", me},
                            {"started", utc_now_iso()},
                            {"shard", {o.shard_index, o.shard_count}}};
  if (!job.empty()) content["slurm_job"] = job;
  const std::string tmp = impl_->path + ".tmp." + std::to_string(::getpid());
  atomic_write(tmp, content.dump() + "\n");
  const int rc = ::link(tmp.c_str(), impl_->path.c_str());
  const int err = errno;
  ::unlink(tmp.c_str());
  if (rc != 0) {
    if (err == EEXIST) throw busy(impl_->path, read_holder(impl_->path));
    throw output_error(impl_->path, "cannot create the lock", err);
  }
  // Two runs with different but overlapping shards that started together both see the other now.
  check_others(false);

  impl_->heartbeat = std::thread([impl = impl_.get(), every = o.heartbeat_seconds] {
    std::unique_lock<std::mutex> lock(impl->mutex);
    while (!impl->cv.wait_for(lock, std::chrono::duration<double>(every), [&] { return impl->stop; }))
      ::utimensat(AT_FDCWD, impl->path.c_str(), nullptr, 0);
  });
}

RunLock::~RunLock() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex);
    impl_->stop = true;
  }
  impl_->cv.notify_all();
  if (impl_->heartbeat.joinable()) impl_->heartbeat.join();
  ::unlink(impl_->path.c_str());
}

const std::string& RunLock::path() const { return impl_->path; }

}  // namespace bagnet
