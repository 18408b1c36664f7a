#!/usr/bin/env bash
# scripts/slurm_eval.sh on a real Slurm cluster: a one-node cluster on this machine
# (tests/slurm/cluster.sh), real job arrays of bagnet-eval and bagnet-heatmap shards, their
# afterok merge jobs, a task requeued mid-run (it must resume), a task killed with scancel
# and resubmitted with the command that submit printed. Each result must equal an unsharded
# run of the same tool. bagnet-stylize does not exist yet, so it is not covered.
#
# Usage: tests/slurm/run_cluster_test.sh [--build DIR] [--data DIR] [--only PART] [--keep]
#   --build DIR   the tools and fixtures/ (default: build/ of this repository)
#   --data DIR    the shared data with stimuli/edges (default: ../shared/data next to the repository)
#   --only PART   run one part only: eval, heatmap or resources (the sbatch requests)
#   --keep        keep the temporary folder (cluster logs, job logs, results)
# Needs root and Debian's slurm-wlm and munge (scripts/setup.sh installs them). Not root:
# prints SKIPPED and exits 77 (ctest shows the test as skipped, not passed). Anything else
# missing (packages, tools, fixtures, data) or a daemon that will not start is a failure.
# Takes about 3 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$repo/build
data=$repo/../shared/data
only=""
keep=0
while (($#)); do
  case $1 in
    --build) build=${2:?--build needs a folder} && shift 2 ;;
    --data) data=${2:?--data needs a folder} && shift 2 ;;
    --only) only=${2:?--only needs eval or heatmap} && shift 2 ;;
    --keep) keep=1 && shift ;;
    -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//' && exit 0 ;;
    *) echo "run_cluster_test.sh: unknown argument '$1'" >&2 && exit 2 ;;
  esac
done

log() { echo "[$(date -u +%T)] $*"; }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}

if [[ $(id -u) != 0 ]]; then
  echo "SKIPPED: the Slurm cluster test needs root (slurmd starts each job as its user); run it as root, as CI does"
  exit 77
fi
export PATH=$PATH:/usr/sbin:/sbin
for tool in munged mungekey slurmctld slurmd sbatch squeue scontrol scancel sinfo; do
  command -v "$tool" >/dev/null || fail "$tool not found: install slurm-wlm and munge (scripts/setup.sh)"
done
python=/usr/bin/python3
slurm_eval=$repo/scripts/slurm_eval.sh
weights=$build/fixtures/bagnet9.pt
edges=$data/stimuli/edges
for f in "$build/bagnet-eval" "$build/bagnet-merge" "$build/bagnet-heatmap"; do
  [[ -x $f ]] || fail "$f is missing: build the tools first"
done
[[ -f $weights ]] || fail "$weights is missing: ctest's make_fixtures makes it (or tests/python/make_fixtures.py)"
[[ -d $edges ]] || fail "$edges is missing: this test needs ../shared/data (see its README)"

# shellcheck source=tests/slurm/cluster.sh
source "$here/cluster.sh"
cluster_reap_stale
tmp=$(mktemp -d "${CLUSTER_PREFIX}XXXXXX")
runs=$tmp/runs
mkdir -p "$runs"

ref_pid=""
on_exit() {
  local rc=$?
  set +e
  if ((rc != 0)) && [[ -n ${SLURM_CONF:-} ]]; then
    echo "---- jobs" >&2
    squeue -t all -r -o '%.12i %.20j %.10T %.8M %R' >&2 || echo "squeue failed: $?" >&2
    local f
    for f in "$runs"/*/slurm-*.out; do
      [[ -f $f ]] || continue
      echo "---- last lines of $f" >&2
      tail -n 8 "$f" >&2
    done
    for f in "$tmp"/log/slurmctld.log "$tmp"/log/slurmd.log; do
      [[ -f $f ]] || continue
      echo "---- last error lines of $f" >&2
      # Less what every fresh start logs: no saved state yet, no PMIx, no hwloc cache, no mail.
      grep -i 'error\|fatal' "$f" | grep -v 'state file\|backup state\|pmix\|MPI\|MailProg\|hwloc\|Domain socket' |
        tail -n 8 >&2
    done
  fi
  if [[ -n $ref_pid ]] && kill -0 "$ref_pid" 2>/dev/null; then # the unsharded run in the background
    kill -TERM "$ref_pid"
    wait "$ref_pid"
  fi
  cluster_down
  if ((keep)); then
    rm -f "$tmp/owner.pid" # not a stale cluster for the next run to remove
    echo "kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

started=$SECONDS
cluster_up "$tmp" || fail "the cluster did not start (see above)"
log "cluster up: $CLUSTER_CPUS CPUs, ${CLUSTER_MEMORY_MB} MB"

# ---- helpers --------------------------------------------------------------------------

# State of a job or array task (12, 12_3), as squeue reports it (finished jobs stay listed
# for MinJobAge = 1 hour).
state_of() { squeue -h -r -t all -j "$1" -o %T 2>/dev/null | head -n 1; }

# Wait until every task of the given jobs has ended; the guard only stops a hung test.
wait_ended() {
  local t0=$SECONDS states
  while :; do
    states=$(squeue -h -r -t all -j "$(
      IFS=,
      echo "$*"
    )" -o %T 2>/dev/null) || fail "squeue failed"
    grep -qE 'PENDING|RUNNING|REQUEUE|CONFIGURING|COMPLETING|SUSPENDED|RESIZING|SIGNALING|STAGE_OUT' <<<"$states" || return 0
    ((SECONDS - t0 < 900)) || fail "jobs $* still not done after 15 minutes: $(tr '\n' ' ' <<<"$states")"
    sleep 1
  done
}

expect_state() { # JOB STATE
  local s
  s=$(state_of "$1")
  [[ $s == "$2" ]] || fail "job $1 is $s, expected $2 ($(scontrol show job "$1" | grep -o 'Reason=[^ ]*\|ExitCode=[^ ]*' | tr '\n' ' '))"
}

# Wait until task $1 runs and $2 (a command printing a number) reports at least 1, i.e. the
# tool has written some of its results. Fails if the task ends first.
wait_mid_run() {
  local task=$1 probe=$2 t0=$SECONDS s n
  while :; do
    s=$(state_of "$task")
    n=$($probe)
    [[ $s == RUNNING ]] && ((n > 0)) && return 0
    case $s in PENDING | RUNNING | CONFIGURING) ;; *) fail "task $task ended ($s) before it could be interrupted" ;; esac
    ((SECONDS - t0 < 600)) || fail "task $task wrote nothing in 10 minutes"
    sleep 0.2
  done
}

submit() { # OUT [submit options...]: runs submit, sets $job, $merge_job and $submit_output
  submit_output=$("$slurm_eval" submit "$@") || fail "submit failed: $submit_output"
  # shellcheck disable=SC2001
  sed 's/^/    /' <<<"$submit_output"
  job=$(sed -n 's/^array job \([0-9]*\) .*merge job \([0-9]*\) .*/\1/p' <<<"$submit_output")
  merge_job=$(sed -n 's/^array job \([0-9]*\) .*merge job \([0-9]*\) .*/\2/p' <<<"$submit_output")
  [[ -n $job && -n $merge_job ]] || fail "no job ids in the submit output"
}

# The resubmit command that submit printed, for task $1: the sbatch line, run as printed
# (it is shell-quoted). Sets $rejob.
resubmit_as_printed() {
  local line out
  line=$(grep -E '^  sbatch .*--array=TASKS ' <<<"$submit_output") || fail "submit printed no resubmit command"
  line=${line/--array=TASKS/--array=$1}
  out=$(eval "$line") || fail "the printed resubmit command failed: $out"
  rejob=$(sed -n 's/^Submitted batch job \([0-9]*\).*/\1/p' <<<"$out")
  [[ -n $rejob ]] || fail "unexpected sbatch output: $out"
  log "resubmitted task $1 as printed: job $rejob"
}

merge_as_printed() {
  local line
  line=$(grep -E '^  .*slurm_eval\.sh merge ' <<<"$submit_output") || fail "submit printed no merge command"
  eval "$line" || fail "the printed merge command failed"
}

tasks_completed() { # JOB N: tasks 0..N-1 COMPLETED with exit code 0
  local i
  for ((i = 0; i < $2; i++)); do expect_state "$1_$i" COMPLETED; done
}

# Lines of the task's log that say it was restarted and resumed.
restart_count() { scontrol show job "$1" | sed -n 's/.*Restarts=\([0-9]*\).*/\1/p'; }

shards=4
common=(--model bagnet9 --weights "$weights" --shards "$shards" --device cpu --threads 1 --mem 1G
  --time 00:20:00 --bin "$build")

# ---- resources: what submit asks sbatch for -----------------------------------------------
log "resources: sbatch gets what the options say, and no more than a node has"
res=(--model bagnet9 --weights "$weights" --data "$edges" --out "$runs/res" --shards 2 --bin "$build")
# --device cuda asks for a GPU, which this cluster does not have: sbatch itself refuses.
if r=$("$slurm_eval" submit "${res[@]}" --threads 1 2>&1); then fail "a GPU job was accepted on a cluster without GPUs"; fi
grep -q 'Invalid generic resource' <<<"$r" || fail "--device cuda: $r"
if r=$("$slurm_eval" submit "${res[@]}" --device cpu --cpus $((CLUSTER_CPUS + 1)) 2>&1); then
  fail "--cpus $((CLUSTER_CPUS + 1)) was submitted on a $CLUSTER_CPUS-CPU node (it would pend for ever)"
fi
grep -q "the largest node of partition test (the default) has $CLUSTER_CPUS" <<<"$r" || fail "--cpus: $r"
if r=$("$slurm_eval" submit "${res[@]}" --device cpu --threads 1 --mem $((CLUSTER_MEMORY_MB + 1024))M 2>&1); then
  fail "--mem beyond the node was submitted"
fi
grep -q "largest node of partition test (the default) has ${CLUSTER_MEMORY_MB}M" <<<"$r" || fail "--mem: $r"
# Defaults on cpu: 8 CPUs lowered to the node's, no GPU, the cluster's memory; --sbatch-opt
# reaches both jobs (held here, so nothing runs).
r=$("$slurm_eval" submit "${res[@]}" --device cpu --sbatch-opt --hold 2>&1) || fail "submit with defaults: $r"
job=$(sed -n 's/^array job \([0-9]*\) .*merge job \([0-9]*\) .*/\1/p' <<<"$r")
merge_job=$(sed -n 's/^array job \([0-9]*\) .*merge job \([0-9]*\) .*/\2/p' <<<"$r")
[[ -n $job && -n $merge_job ]] || fail "submit with defaults: $r"
grep -q "has $CLUSTER_CPUS CPUs: asking for $CLUSTER_CPUS per task" <<<"$r" || ((CLUSTER_CPUS >= 8)) || fail "no note on the lowered CPUs: $r"
info=$(scontrol show job "$job")
grep -q "NumCPUs=$((CLUSTER_CPUS < 8 ? CLUSTER_CPUS : 8)) " <<<"$info" || fail "array job: $(grep -o 'NumCPUs=[^ ]*' <<<"$info" | head -n 1)"
grep -q 'Reason=JobHeldUser' <<<"$info" || fail "--sbatch-opt --hold did not reach the array job"
grep -q 'Reason=JobHeldUser' <<<"$(scontrol show job "$merge_job")" || fail "--sbatch-opt --hold did not reach the merge job"
grep -q 'TresPerNode=.*gpu' <<<"$info" && fail "a GPU was asked for with --device cpu"
scancel "$job" "$merge_job"
log "  --device cuda: sbatch refuses the GPU here; --cpus/--mem beyond the node: refused;" \
  "defaults: NumCPUs=$(grep -o 'NumCPUs=[0-9]*' <<<"$info" | head -n 1 | cut -d= -f2), held by --sbatch-opt --hold"

# ---- bagnet-eval ----------------------------------------------------------------------
if [[ -z $only || $only == eval ]]; then
  log "bagnet-eval: unsharded reference run (in the background)"
  ("$build/bagnet-eval" -q -m bagnet9 -w "$weights" --device cpu --threads 1 -b 4 --data "$edges" \
    -o "$runs/eval-whole" >"$tmp/eval-whole.log" 2>&1) &
  ref_pid=$!
  total=$(find "$edges" -name '*.png' | wc -l)
  per_task=$(((total + shards - 1) / shards))
  records() { # records written to a results.jsonl (its first line is the header)
    local n
    n=$(wc -l 2>/dev/null <"$1") || n=1
    echo $((n > 1 ? n - 1 : 0))
  }

  # Task $1 restarted once and resumed part-way (its log says how many images were done).
  check_resumed() {
    local task=$1 log=$2 n
    [[ $(restart_count "$task") == 1 ]] || fail "task $task has Restarts=$(restart_count "$task"), expected 1"
    grep -q '(restart 1)' "$log" || fail "task $task's log shows no restart"
    n=$(sed -n 's/^resuming from .* (\([0-9]*\) images done)$/\1/p' "$log")
    [[ -n $n ]] || fail "task $task did not resume (no 'resuming from' in its log)"
    ((n > 0 && n < per_task)) || fail "task $task resumed with $n images done: not mid-run"
    echo "$n"
  }

  log "bagnet-eval, run 1: array of $shards + afterok merge; task 0 requeued, task 2 near its time limit"
  out=$runs/eval-1
  submit --out "$out" --data "$edges" "${common[@]}" -- -b 4
  wait_mid_run "${job}_0" "records $out/shard-0/results.jsonl"
  log "task ${job}_0 has $(records "$out/shard-0/results.jsonl") of $per_task records: scontrol requeue"
  scontrol requeue "${job}_0" || fail "scontrol requeue ${job}_0 failed"
  # What --signal=B:USR1@300 sends five minutes before the time limit: USR1 to the batch
  # shell alone, which stops the tool and requeues its own task.
  wait_mid_run "${job}_2" "records $out/shard-2/results.jsonl"
  log "task ${job}_2 has $(records "$out/shard-2/results.jsonl") records: USR1 to its batch shell (the time-limit warning)"
  scancel --batch --signal=USR1 "${job}_2" || fail "scancel --batch --signal=USR1 ${job}_2 failed"
  wait_ended "$job" "$merge_job"
  tasks_completed "$job" "$shards"
  expect_state "$merge_job" COMPLETED
  resumed=$(check_resumed "${job}_0" "$out/slurm-${job}_0.out")
  resumed2=$(check_resumed "${job}_2" "$out/slurm-${job}_2.out")
  grep -q 'time limit near: requeueing task 2' "$out/slurm-${job}_2.out" || fail "task ${job}_2 did not requeue itself"
  log "tasks COMPLETED; task 0 restarted once, resumed with $resumed images done; task 2 requeued itself," \
    "resumed with $resumed2 done; merge job COMPLETED"
  wait "$ref_pid" || fail "the unsharded bagnet-eval run failed: $(tail -n 3 "$tmp/eval-whole.log")"
  $python "$here/compare_runs.py" eval "$out/merged" "$runs/eval-whole" || fail "run 1: merged != unsharded"

  log "bagnet-eval, run 2: task 1 cancelled mid-run, resubmitted with the printed command"
  out=$runs/eval-2
  submit --out "$out" --data "$edges" "${common[@]}" -- -b 4
  wait_mid_run "${job}_1" "records $out/shard-1/results.jsonl"
  log "task ${job}_1 has $(records "$out/shard-1/results.jsonl") records: scancel"
  scancel "${job}_1" || fail "scancel ${job}_1 failed"
  wait_ended "$job" "$merge_job"
  expect_state "${job}_1" CANCELLED
  for i in 0 2 3; do expect_state "${job}_$i" COMPLETED; done
  # --kill-on-invalid-dep: the merge job is cancelled, not left pending for ever.
  expect_state "$merge_job" CANCELLED
  if "$slurm_eval" merge --out "$out" --shards "$shards" --bin "$build" >"$tmp/merge-early.log" 2>&1; then
    fail "merge succeeded with task 1 cancelled"
  fi
  grep -q 'incomplete' "$tmp/merge-early.log" || fail "merge with shard 1 incomplete: $(tail -n 2 "$tmp/merge-early.log")"
  log "tasks 0, 2, 3 COMPLETED, task 1 CANCELLED, merge job CANCELLED; merge by hand refuses: $(grep -m1 incomplete "$tmp/merge-early.log")"
  resubmit_as_printed 1
  wait_ended "$rejob"
  expect_state "${rejob}_1" COMPLETED
  grep -q '^resuming from ' "$out/slurm-${rejob}_1.out" || fail "the resubmitted task did not resume"
  merge_as_printed
  $python "$here/compare_runs.py" eval "$out/merged" "$runs/eval-whole" || fail "run 2: merged != unsharded"
fi

# ---- bagnet-heatmap --------------------------------------------------------------------
if [[ -z $only || $only == heatmap ]]; then
  # A subset (two images a category), maps at the network's own stride: a few seconds a task.
  images="$edges/*/*[12].png"
  hm_opts=(--stride 8 --top 1)
  log "bagnet-heatmap: unsharded reference run"
  "$build/bagnet-heatmap" -q -m bagnet9 -w "$weights" --device cpu --threads 1 -o "$runs/maps-whole" \
    "${hm_opts[@]}" -- "$images" >"$tmp/maps-whole.log" 2>&1 ||
    fail "the unsharded bagnet-heatmap run failed: $(tail -n 3 "$tmp/maps-whole.log")"
  mapfile -t sorted < <(compgen -G "$images" | LC_ALL=C sort)
  ((${#sorted[@]} > 0)) || fail "no images match $images"
  # Sidecars written by task $1 (image k belongs to task k mod N; outputs mirror the tree below $edges).
  sidecars_of() {
    local k n=0 rel
    for ((k = $1; k < ${#sorted[@]}; k += shards)); do
      rel=${sorted[k]#"$edges"/}
      [[ ! -f $out/maps/${rel%.png}.json ]] || n=$((n + 1))
    done
    echo "$n"
  }

  log "bagnet-heatmap, run 1: array of $shards + afterok check; task 0 requeued mid-run"
  out=$runs/maps-1
  submit --tool heatmap --out "$out" --data "$images" "${common[@]}" -- "${hm_opts[@]}"
  wait_mid_run "${job}_0" "sidecars_of 0"
  log "task ${job}_0 has $(sidecars_of 0) of $(((${#sorted[@]} + shards - 1) / shards)) images: scontrol requeue"
  scontrol requeue "${job}_0" || fail "scontrol requeue ${job}_0 failed"
  wait_ended "$job" "$merge_job"
  tasks_completed "$job" "$shards"
  expect_state "$merge_job" COMPLETED
  [[ $(restart_count "${job}_0") == 1 ]] || fail "task ${job}_0 has Restarts=$(restart_count "${job}_0"), expected 1"
  grep -q '(restart 1)' "$out/slurm-${job}_0.out" || fail "task ${job}_0's log shows no restart"
  resumed=$(sed -n 's/^bagnet-heatmap: .*, \([0-9]*\) already done$/\1/p' "$out/slurm-${job}_0.out")
  [[ -n $resumed ]] || fail "task ${job}_0 did not resume (no 'already done' in its log)"
  ((resumed > 0 && resumed < (${#sorted[@]} + shards - 1) / shards)) ||
    fail "task ${job}_0 resumed with $resumed images done: not mid-run"
  grep -q "all $shards tasks finished" "$out"/slurm-merge-"$merge_job".out || fail "the check job did not find all tasks"
  log "tasks COMPLETED, task 0 restarted once and resumed with $resumed images done; check job COMPLETED"
  $python "$here/compare_runs.py" heatmap "$out/maps" "$runs/maps-whole" || fail "heatmap run 1: maps != unsharded"

  log "bagnet-heatmap, run 2: task 1 cancelled mid-run, resubmitted with the printed command"
  out=$runs/maps-2
  submit --tool heatmap --out "$out" --data "$images" "${common[@]}" -- "${hm_opts[@]}"
  wait_mid_run "${job}_1" "sidecars_of 1"
  scancel "${job}_1" || fail "scancel ${job}_1 failed"
  wait_ended "$job" "$merge_job"
  expect_state "${job}_1" CANCELLED
  expect_state "$merge_job" CANCELLED
  if "$slurm_eval" merge --tool heatmap --out "$out" --shards "$shards" >"$tmp/check-early.log" 2>&1; then
    fail "the heatmap check passed with task 1 cancelled"
  fi
  grep -q 'task(s) 1 of 4 have not finished' "$tmp/check-early.log" || fail "check: $(cat "$tmp/check-early.log")"
  resubmit_as_printed 1
  wait_ended "$rejob"
  expect_state "${rejob}_1" COMPLETED
  grep -q 'already done$' "$out/slurm-${rejob}_1.out" || fail "the resubmitted task did not resume"
  merge_as_printed
  $python "$here/compare_runs.py" heatmap "$out/maps" "$runs/maps-whole" || fail "heatmap run 2: maps != unsharded"
fi

log "PASSED in $((SECONDS - started)) s"
