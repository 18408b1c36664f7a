#pragma once
// One run per output folder and shard. A run holds OUT/.bagnet-lock-I-of-N (JSON: tool, PID,
// host, start time, shard) while it writes, and touches it every few seconds (a heartbeat).
// Shards I/N and J/M of one sorted list share an image exactly when I = J (mod gcd(N, M)), so
// runs whose shards are disjoint (the shards of bagnet-heatmap writing into one tree) share
// the folder safely, and a run that would write the same files as a live one is refused with a
// line naming the lock, the other run's PID and host. A lock is stale, and taken over with a
// warning, when its process is gone (same host) or its heartbeat is older than the stale time
// (another host: a run killed on another cluster node), or when it was taken by an earlier
// incarnation of this very Slurm job (requeued after a SIGKILL), so a dead run never blocks
// for long.
#include <cstddef>
#include <memory>
#include <string>

namespace bagnet {

struct RunLockOptions {
  std::size_t shard_index = 0, shard_count = 1;
  // A lock from another host counts as dead when untouched this long; default 120 s or
  // $BAGNET_LOCK_STALE_SECONDS.
  double stale_seconds = -1;
  double heartbeat_seconds = 10;
};

class RunLock {
 public:
  // Creates `dir` if needed and takes the lock. Throws bagnet::Error (a live overlapping run)
  // or bagnet::OutputError (the folder cannot be written).
  RunLock(const std::string& dir, const std::string& tool, const RunLockOptions& options = {});
  ~RunLock();  // stops the heartbeat, removes the lock file
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;
  const std::string& path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Whether shards i/n and j/m of one list have an item in common.
bool shards_overlap(std::size_t i, std::size_t n, std::size_t j, std::size_t m);

}  // namespace bagnet
