# A throw-away one-node Slurm cluster on this machine, for the tests. Source it, then:
#   cluster_up DIR     munged, slurmctld and slurmd with their own key, config, state and
#                      ports under DIR (a fresh, empty folder); exports SLURM_CONF
#   cluster_down       cancels the jobs, stops the daemons and every process they started
# Needs root (slurmd runs jobs as their users) and Debian's slurm-wlm and munge.
#
# Nothing outside DIR is used: the daemons take their own munge socket and key, free TCP
# ports, and StateSaveLocation/SlurmdSpoolDir in DIR, so neither the machine's /etc/slurm
# nor an earlier run's state matters, and two runs can share a machine. Every process of the
# cluster carries a mark in its environment: the daemons
# BAGNET_SLURM_CLUSTER=DIR, the job steps (slurmstepd) and the jobs' own processes
# SLURM_CONF=DIR/slurm.conf, the latter also SLURM_JOB_ID.
# That is how cluster_down, and the clean-up after runs that were killed before theirs could
# run, find exactly those processes and no others (not the test script, not other clusters).

CLUSTER_DIR=""
CLUSTER_PREFIX=${TMPDIR:-/tmp}/bagnet-slurm-test.

cluster_log() { echo "[$(date -u +%T)] cluster: $*" >&2; }

# PIDs of the processes of the cluster in $1 (see the marks above).
cluster_pids_of() {
  local p env
  for p in /proc/[0-9]*; do
    env=$(tr '\0' '\n' 2>/dev/null <"$p/environ") || continue
    if grep -qxF "BAGNET_SLURM_CLUSTER=$1" <<<"$env" ||
      { grep -qxF "SLURM_CONF=$1/slurm.conf" <<<"$env" &&
        { grep -q '^SLURM_JOB_ID=' <<<"$env" || [[ $(cat "$p/comm" 2>/dev/null) == slurmstepd ]]; }; }; then
      echo "${p#/proc/}"
    fi
  done
}

# Kill (TERM, then KILL) the processes of the cluster in $1.
cluster_kill_all() {
  local dir=$1 pids i
  for ((i = 0; i < 20; i++)); do
    pids=$(cluster_pids_of "$dir" | grep -vx "$$" || true)
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    if ((i < 10)); then kill -TERM $pids 2>/dev/null || true; else kill -KILL $pids 2>/dev/null || true; fi
    sleep 0.5
  done
  cluster_log "processes of $dir still alive: $(cluster_pids_of "$dir" | tr '\n' ' ')"
}

# Clusters of earlier runs whose test script is gone (killed before its trap ran): stop
# their processes and remove their folders.
cluster_reap_stale() {
  local d owner
  for d in "$CLUSTER_PREFIX"*; do
    [[ -d $d && -f $d/owner.pid ]] || continue
    owner=$(<"$d/owner.pid")
    if [[ $owner =~ ^[0-9]+$ ]] && kill -0 "$owner" 2>/dev/null; then continue; fi
    cluster_log "stale cluster $d (its run, PID $owner, is gone): stopping it"
    cluster_kill_all "$d"
    rm -rf "$d"
  done
}

free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

cluster_fail() {
  cluster_log "$*"
  local f
  for f in "$CLUSTER_DIR"/log/*.log; do
    [[ -s $f ]] || continue
    echo "---- last lines of $f" >&2
    tail -n 20 "$f" >&2
  done
  return 1
}

cluster_up() {
  CLUSTER_DIR=$1
  local d=$CLUSTER_DIR
  [[ $(id -u) == 0 ]] || cluster_fail "needs root: slurmd runs each job as its user, munged and slurmctld as root here" || return 1
  local tool
  for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel; do
    command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin:/sbin command -v "$tool" >/dev/null ||
      cluster_fail "$tool not found: install Debian's slurm-wlm and munge (scripts/setup.sh)" || return 1
  done
  export PATH=$PATH:/usr/sbin:/sbin
  # Inside an allocation of another cluster (ctest in a Slurm job), its variables would leak
  # into this cluster's commands and jobs.
  local v
  for v in $(compgen -v SLURM_); do unset "$v"; done
  mkdir -p "$d"/{log,state,spool,run}
  chmod 700 "$d"
  echo "$$" >"$d/owner.pid"

  # munge: its own key and socket. --force: the key is root's and the folder is under /tmp.
  mungekey --create --keyfile="$d/run/munge.key" 2>"$d/log/mungekey.log" ||
    cluster_fail "mungekey failed" || return 1
  BAGNET_SLURM_CLUSTER=$d munged --force --socket="$d/run/munge.socket" --key-file="$d/run/munge.key" \
    --pid-file="$d/run/munged.pid" --log-file="$d/log/munged.log" --seed-file="$d/run/munged.seed" ||
    cluster_fail "munged did not start" || return 1

  # The node as slurmd sees it (CPUs, sockets, cores, memory), named localhost.
  local node
  node=$(slurmd -C | head -n 1) || cluster_fail "slurmd -C failed" || return 1
  [[ $node == NodeName=* ]] || cluster_fail "unexpected slurmd -C output: $node" || return 1
  node="NodeName=localhost NodeAddr=127.0.0.1 ${node#NodeName=* } State=UNKNOWN"
  CLUSTER_CPUS=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$node")
  CLUSTER_MEMORY_MB=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$node")
  export CLUSTER_CPUS CLUSTER_MEMORY_MB

  cat >"$d/slurm.conf" <<EOF
# Made by tests/slurm/cluster.sh for one test run.
ClusterName=bagnettest
SlurmctldHost=localhost
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: a requeued job waits this long before it may start again (default 120 s).
AuthInfo=socket=$d/run/munge.socket,cred_expire=10
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool/slurmd-%n
SlurmctldPidFile=$d/run/slurmctld.pid
SlurmdPidFile=$d/run/slurmd-%n.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: processes are tracked through /proc, tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Look at pending jobs every 2 s, not 60/30 s: a requeued task, or one whose dependency was
# just met, starts at once.
SchedulerParameters=sched_interval=2,bf_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
ReturnToService=2
JobRequeue=1
# Finished jobs stay visible to scontrol/squeue for the whole test (no accounting database).
MinJobAge=3600
# Seconds between SIGTERM and SIGKILL when a job is cancelled or requeued: the default, so
# the tools get the time a real cluster gives them to finish the current item.
KillWait=30
InactiveLimit=0
SlurmctldTimeout=60
SlurmdTimeout=60
$node
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$d/slurm.conf

  BAGNET_SLURM_CLUSTER=$d slurmctld -i -f "$SLURM_CONF" || cluster_fail "slurmctld did not start" || return 1
  BAGNET_SLURM_CLUSTER=$d slurmd -N localhost -f "$SLURM_CONF" || cluster_fail "slurmd did not start" || return 1

  # Wait until the node takes jobs (idle): slurmd registers within a few seconds.
  local i state=""
  for ((i = 0; i < 60; i++)); do
    state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
    [[ $state == idle ]] && break
    sleep 1
  done
  [[ $state == idle ]] || cluster_fail "the node is not idle after 60 s (state '$state')" || return 1
  cluster_log "up in $d: $(scontrol show node localhost | grep -o 'CPUTot=[0-9]*\|RealMemory=[0-9]*' | tr '\n' ' ')"
}

cluster_down() {
  local d=$CLUSTER_DIR
  [[ -n $d && -d $d ]] || return 0
  if [[ -n ${SLURM_CONF:-} ]]; then
    scancel --quiet --full --signal=KILL --user="$(id -un)" 2>/dev/null || true
  fi
  local f
  for f in slurmd-localhost slurmctld munged; do
    [[ -s $d/run/$f.pid ]] && kill -TERM "$(<"$d/run/$f.pid")" 2>/dev/null || true
  done
  sleep 1
  cluster_kill_all "$d"
  CLUSTER_DIR=""
}
