#!/usr/bin/env bash
# Faults during long runs, for real: a full disk (a small tmpfs that fills up), SIGTERM and
# SIGINT mid-run, two runs on one output folder, stale locks from dead runs, read-only and
# unreadable files. bagnet-heatmap and bagnet-eval (bagnet-shape-bias shares bagnet-eval's run)
# on the embedded Fashion-MNIST BagNet, so each run takes seconds.
#
# Usage: tests/faults/test_faults.sh BUILD_DIR
# Needs root (tmpfs and bind mounts); without it, exits 77 (ctest: skipped) saying so.
set -uo pipefail
BUILD=$(cd "${1:?usage: test_faults.sh BUILD_DIR}" && pwd)
REPO=$(cd "$(dirname "$0")/../.." && pwd)
MODEL=bagnet11_fashion_mnist
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIPPED: the fault tests mount tmpfs file systems and need root"
  exit 77
fi

T=$(mktemp -d /tmp/bagnet-faults.XXXXXX)
MOUNTS=()
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT

# check, passed/failed counters, check_summary
source "$(dirname "${BASH_SOURCE[0]}")/../lib/check.sh"
mount_tmpfs() {  # mount_tmpfs DIR SIZE [OPTIONS]
  mkdir -p "$1"
  mount -t tmpfs -o "size=$2${3:+,$3}" tmpfs "$1" || {
    echo "FAIL: cannot mount a tmpfs at $1" >&2
    exit 1
  }
  MOUNTS+=("$1")
}
HEATMAP=("$BUILD/bagnet-heatmap" -q --model $MODEL --top 2 --panel)
EVAL=("$BUILD/bagnet-eval" -q --model $MODEL --batch-size 4)
heatmap() { "${HEATMAP[@]}" "$@"; }
evaluate() { "${EVAL[@]}" "$@"; }
run() {  # run CMD...: stderr to $T/last.err, exit code in $rc
  "$@" >"$T/last.out" 2>"$T/last.err"
  rc=$?
}
no_temp_files() { [[ -z $(find "$1" -name '*.tmp.*' -print -quit) ]]; }
one_line_with() { [[ $(grep -ci -- "$2" "$1") -eq 1 ]]; }
# JSON files equal but for provenance (times, command line) and the resume counter.
same_json() {
  python3 - "$1" "$2" <<'EOF'
import json, sys
def load(p):
    j = json.load(open(p))
    for k in ("provenance", "resumed"):
        j.pop(k, None)
    return j
sys.exit(0 if load(sys.argv[1]) == load(sys.argv[2]) else 1)
EOF
}
# results.jsonl: the records (every line after the header) equal.
same_records() { cmp -s <(tail -n +2 "$1") <(tail -n +2 "$2"); }
# Heatmap trees: the same files; .npy and .png byte-identical, sidecars equal but for provenance.
same_heatmaps() {
  local a=$1 b=$2 f
  cmp -s <(cd "$a" && find . -type f ! -name '.bagnet-lock*' | sort) <(cd "$b" && find . -type f ! -name '.bagnet-lock*' | sort) || return 1
  while IFS= read -r f; do
    if [[ $f == *.json ]]; then same_json "$a/$f" "$b/$f" || return 1; else cmp -s "$a/$f" "$b/$f" || return 1; fi
  done < <(cd "$a" && find . -type f ! -name '.bagnet-lock*')
}
# Every image with a map has its sidecar (written last), and vice versa.
complete_images() {
  local f
  while IFS= read -r f; do [[ -f ${f%.npy}.json ]] || return 1; done < <(find "$1" -name '*.npy')
  while IFS= read -r f; do [[ -f ${f%.json}.npy ]] || return 1; done < <(find "$1" -name '*.json')
}
same_eval() {
  same_records "$1/results.jsonl" "$2/results.jsonl" && same_json "$1/summary.json" "$2/summary.json" &&
    cmp -s <(cd "$1" && ls) <(cd "$2" && ls) &&
    for c in $(cd "$1" && find . -maxdepth 1 -name '*.csv'); do cmp -s "$1/$c" "$2/$c" || return 1; done
}
wait_for() {  # wait_for SECONDS CMD...: poll until CMD succeeds
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.05
  done
}
count_files() { find "$1" -name "$2" 2>/dev/null | wc -l; }
at_least() { [[ $(count_files "$1" "$2") -ge $3 ]]; }  # at_least DIR GLOB N
records_at_least() { [[ -f $1 && $(wc -l <"$1") -gt $2 ]]; }  # header + N records

# Inputs: the example images, copied into 120 heatmap inputs and 600 evaluation images (class
# folders named like the classes).
copy_examples() {  # copy_examples DIR TIMES
  local k f c
  for k in $(seq 1 "$2"); do
    for f in "$REPO"/examples/fashion-mnist/*/*.png; do
      c=$(basename "$(dirname "$f")")
      mkdir -p "$1/$c"
      cp "$f" "$1/$c/${k}_$(basename "$f")"
    done
  done
}
copy_examples "$T/in" 4
copy_examples "$T/evalin" 20
echo "inputs: $(count_files "$T/in" '*.png') heatmap images, $(count_files "$T/evalin" '*.png') evaluation images" >&2

# References: uninterrupted runs.
run heatmap -o "$T/ref-heatmap" "$T/in"
check "reference heatmap run" test "$rc" -eq 0
run evaluate --data "$T/evalin" -o "$T/ref-eval"
check "reference evaluation run" test "$rc" -eq 0

# --- A full disk -------------------------------------------------------------------------
# A tmpfs of about half the outputs' size: the run stops at the first write that fails.
size=$(du -sk "$T/ref-heatmap" | cut -f1)
mount_tmpfs "$T/full-h" "$((size / 2))k"
run heatmap -o "$T/full-h/out" "$T/in"
check "heatmap, disk full: exit code 1" test "$rc" -eq 1
check "heatmap, disk full: one line naming the file and 'no space left'" one_line_with "$T/last.err" "no space left on device"
check "heatmap, disk full: the line names a file in the output folder" grep -q "$T/full-h/out/" "$T/last.err"
check "heatmap, disk full: no temporary files" no_temp_files "$T/full-h"
check "heatmap, disk full: no half-written image" complete_images "$T/full-h/out"
check "heatmap, disk full: some images were kept" test "$(count_files "$T/full-h/out" '*.json')" -gt 0
mount -o remount,size=64m "$T/full-h"
run heatmap -o "$T/full-h/out" "$T/in"
check "heatmap, space freed: the re-run finishes" test "$rc" -eq 0
check "heatmap, space freed: output identical to an uninterrupted run" same_heatmaps "$T/ref-heatmap" "$T/full-h/out"

size=$(du -sk "$T/ref-eval" | cut -f1)
mount_tmpfs "$T/full-e" "$((size * 6 / 10))k"
run evaluate --data "$T/evalin" -o "$T/full-e/out"
check "eval, disk full: exit code 1" test "$rc" -eq 1
check "eval, disk full: one line with 'no space left'" one_line_with "$T/last.err" "no space left on device"
check "eval, disk full: the line names results.jsonl" grep -q "$T/full-e/out/results.jsonl" "$T/last.err"
check "eval, disk full: no temporary files" no_temp_files "$T/full-e"
check "eval, disk full: results.jsonl ends with a complete line" test "$(tail -c 1 "$T/full-e/out/results.jsonl" | od -An -c | tr -d ' ')" = '\n'
mount -o remount,size=64m "$T/full-e"
run evaluate --data "$T/evalin" -o "$T/full-e/out"
check "eval, space freed: the re-run finishes" test "$rc" -eq 0
check "eval, space freed: results identical to an uninterrupted run" same_eval "$T/ref-eval" "$T/full-e/out"

# A disk that is full from the start: one line, nothing left behind.
mount_tmpfs "$T/tiny" 4k
dd if=/dev/zero of="$T/tiny/filler" bs=4k count=1 2>/dev/null
run evaluate --data "$T/evalin" -o "$T/tiny/out"
check "eval, disk full at start: exit 1, one line" test "$rc" -eq 1 -a "$(wc -l <"$T/last.err")" -le 2
check "eval, disk full at start: no temporary files" no_temp_files "$T/tiny"

# The other writers on a full disk: one line naming the file, exit 1, no file and no temporary
# file left (each writes whole files atomically).
run "$BUILD/bagnet-classify" -q --model $MODEL --format json -o "$T/tiny/classify.json" "$T/in/bag"
check "classify --output, disk full: exit 1 with one line naming the file" \
  test "$rc" -eq 1 -a "$(grep -c "$T/tiny/classify.json: cannot write: no space left on device" "$T/last.err")" -eq 1
check "classify --output, disk full: no partial output" test ! -e "$T/tiny/classify.json"
run "$BUILD/bagnet-patches" -q --model $MODEL --class Bag --top 4 --stride 2 -o "$T/tiny/patches" "$T/in/bag"
check "patches, disk full: exit 1 with one line saying so" test "$rc" -eq 1 -a "$(grep -ci "no space left on device" "$T/last.err")" -eq 1
evaluate --data "$T/evalin" --shard 0/2 -o "$T/shard0" 2>/dev/null >/dev/null
evaluate --data "$T/evalin" --shard 1/2 -o "$T/shard1" 2>/dev/null >/dev/null
"$BUILD/bagnet-merge" -o "$T/ref-merged" "$T/shard0" "$T/shard1" >/dev/null 2>&1
run "$BUILD/bagnet-merge" -o "$T/tiny/merged" "$T/shard0" "$T/shard1"
check "merge, disk full: exit 1 with one line saying so" test "$rc" -eq 1 -a "$(grep -ci "no space left on device" "$T/last.err")" -eq 1
check "classify, patches, merge on a full disk: no temporary files" no_temp_files "$T/tiny"
mount -o remount,size=64m "$T/tiny"
run "$BUILD/bagnet-merge" -o "$T/tiny/merged" "$T/shard0" "$T/shard1"
check "merge, space freed: the merge equals one on a disk with room" same_eval "$T/ref-merged" "$T/tiny/merged"

# --- Signals -----------------------------------------------------------------------------
# SIGTERM (Slurm's warning before SIGKILL) once a few images are done: the run finishes the
# image in hand, says what it kept, exits 143; the same command then completes the job.
signal_run() {  # signal_run SIGNAL EXPECTED_RC NAME OUTDIR READY_CHECK... -- CMD...
  local sig=$1 want=$2 name=$3 out=$4
  shift 4
  local ready=()
  while [[ $1 != -- ]]; do
    ready+=("$1")
    shift
  done
  shift
  "$@" 2>"$T/last.err" >/dev/null &
  local pid=$!
  PIDS+=("$pid")
  check "$name: the run gets going" wait_for 120 "${ready[@]}"
  kill "-$sig" "$pid"
  wait "$pid"
  rc=$?
  check "$name: exit code $want after SIG$sig" test "$rc" -eq "$want"
  check "$name: says it stopped and what was kept" grep -q "stopped by SIG$sig: .* done and kept" "$T/last.err"
  check "$name: no temporary files" no_temp_files "$out"
}
signal_run TERM 143 "heatmap SIGTERM" "$T/sig-h" at_least "$T/sig-h" '*.json' 3 -- "${HEATMAP[@]}" -o "$T/sig-h" "$T/in"
check "heatmap SIGTERM: not every image was done" test "$(count_files "$T/sig-h" '*.json')" -lt 120
check "heatmap SIGTERM: every kept image is complete" complete_images "$T/sig-h"
run heatmap -o "$T/sig-h" "$T/in"
check "heatmap SIGTERM: the resumed run finishes" test "$rc" -eq 0
check "heatmap SIGTERM: resumed output identical to an uninterrupted run" same_heatmaps "$T/ref-heatmap" "$T/sig-h"

mkdir -p "$T/sig-e"
signal_run INT 130 "eval SIGINT" "$T/sig-e" records_at_least "$T/sig-e/results.jsonl" 8 -- "${EVAL[@]}" --data "$T/evalin" -o "$T/sig-e"
check "eval SIGINT: no summary for an unfinished run" test ! -e "$T/sig-e/summary.json"
run evaluate --data "$T/evalin" -o "$T/sig-e"
check "eval SIGINT: the resumed run finishes" test "$rc" -eq 0
check "eval SIGINT: resumed results identical to an uninterrupted run" same_eval "$T/ref-eval" "$T/sig-e"

# Training: SIGTERM mid-epoch keeps the last complete epoch; --resume then gives the weights of
# an uninterrupted run, bit for bit (each epoch's draws come from the seed and the epoch alone).
TRAIN=("$BUILD/bagnet-train" -q --data /usr/share/datasets/fashion-mnist --model bagnet --stem-width 8
  --widths 8 16 --blocks 1 1 --kernel3 1 1 --strides 1 2 --expansion 2 --limit-train 3000 --limit-val 200
  --epochs 4 --batch-size 50 --lr 0.05 --seed 7 --mean 0.286 --std 0.353 --threads 1)
run "${TRAIN[@]}" -o "$T/train-ref"
check "train: reference run" test "$rc" -eq 0
signal_run TERM 143 "train SIGTERM" "$T/train-int" test -e "$T/train-int/state.json" -- "${TRAIN[@]}" -o "$T/train-int"
check "train SIGTERM: names the epoch it stopped" grep -q "bagnet-train: stopped by SIGTERM: [0-9]* epochs done and kept in $T/train-int (epoch [0-9]* was stopped" "$T/last.err"
run "${TRAIN[@]}" --resume -o "$T/train-int"
check "train SIGTERM: --resume finishes" test "$rc" -eq 0
check "train SIGTERM: resumed weights bit-identical to an uninterrupted run" \
  cmp -s "$T/train-ref/checkpoint.pt" "$T/train-int/checkpoint.pt"

# --- Two runs, one folder ------------------------------------------------------------------
"${HEATMAP[@]}" -o "$T/lock" "$T/in" 2>/dev/null >/dev/null &
first=$!
PIDS+=("$first")
check "lock: the first run takes the lock" wait_for 60 test -e "$T/lock/.bagnet-lock-0-of-1"
run heatmap -o "$T/lock" "$T/in"
check "lock: the second run is refused" test "$rc" -eq 1
check "lock: one line naming the lock, the first run's pid and host" \
  grep -q "$T/lock/.bagnet-lock-0-of-1: another run writes into this folder: bagnet-heatmap (pid $first on host $(hostname)" "$T/last.err"
check "lock: nothing else on stderr" test "$(wc -l <"$T/last.err")" -eq 1
run evaluate --data "$T/evalin" -o "$T/lock" --shard 1/3
check "lock: an overlapping shard of another tool is refused too" test "$rc" -eq 1
kill -TERM "$first"
wait "$first"
check "lock: released when the run stops" test ! -e "$T/lock/.bagnet-lock-0-of-1"

# Disjoint shards of one heatmap run share the folder (what the Slurm array does).
"${HEATMAP[@]}" --shard 0/2 -o "$T/shards" "$T/in" 2>"$T/s0.err" &
s0=$!
"${HEATMAP[@]}" --shard 1/2 -o "$T/shards" "$T/in" 2>"$T/s1.err" &
s1=$!
wait "$s0"
r0=$?
wait "$s1"
r1=$?
check "lock: disjoint shards run side by side" test "$r0" -eq 0 -a "$r1" -eq 0
check "lock: together they give the unsharded output" same_heatmaps "$T/ref-heatmap" "$T/shards"

# A lock left by a run killed on another node: stale once its heartbeat is old.
write_lock() {  # write_lock DIR HOST PID AGE [SLURM_JOB]
  mkdir -p "$1"
  printf '{"tool":"bagnet-heatmap","pid":%s,"host":"%s","started":"2026-01-01T00:00:00Z","shard":[0,1],"slurm_job":"%s"}\n' \
    "$3" "$2" "${5:-}" >"$1/.bagnet-lock-0-of-1"
  touch -d "$4" "$1/.bagnet-lock-0-of-1"
}
write_lock "$T/stale" node-gone 4242 "10 minutes ago"
run heatmap -o "$T/stale" "$T/in"
check "stale lock from another host: the run proceeds" test "$rc" -eq 0
check "stale lock from another host: the takeover is reported" grep -q "removing a stale lock of bagnet-heatmap (pid 4242 on host node-gone" "$T/last.err"
write_lock "$T/live" node-busy 4243 "now"
run heatmap -o "$T/live" "$T/in"
check "fresh lock from another host: refused, naming pid and host" \
  grep -q "another run writes into this folder: bagnet-heatmap (pid 4243 on host node-busy" "$T/last.err"
# A Slurm task requeued onto another node after SIGKILL: its earlier incarnation's lock is fresh
# but belongs to the same job (array task), so it is taken over; another job's is not.
write_lock "$T/requeued" node-before 4244 "now" 77_3
run env SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=3 "${HEATMAP[@]}" -o "$T/requeued" "$T/in"
check "lock of an earlier incarnation of the same Slurm task: taken over" test "$rc" -eq 0
write_lock "$T/otherjob" node-before 4245 "now" 77_4
run env SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=3 "${HEATMAP[@]}" -o "$T/otherjob" "$T/in"
check "fresh lock of another Slurm task: refused" test "$rc" -eq 1
sh -c 'exit 0' &
dead=$!
wait "$dead"
write_lock "$T/dead" "$(hostname)" "$dead" "now"
run heatmap -o "$T/dead" "$T/in"
check "lock of a dead process on this host: taken over at once" test "$rc" -eq 0

# --- Read-only and unreadable files --------------------------------------------------------
mount_tmpfs "$T/ro" 1m ro
run heatmap -o "$T/ro/out" "$T/in"
check "read-only output (heatmap): exit 1 with one line" test "$rc" -eq 1 -a "$(wc -l <"$T/last.err")" -eq 1
check "read-only output (heatmap): names the folder and the reason" grep -qi "$T/ro/out: .*read-only file system" "$T/last.err"
run evaluate --data "$T/evalin" -o "$T/ro/out"
check "read-only output (eval): exit 1, one error line, no stack" \
  test "$rc" -eq 1 -a "$(grep -c "bagnet-eval: $T" "$T/last.err")" -eq 1 -a "$(grep -c 'frame #\|internal error' "$T/last.err")" -eq 0
check "read-only output (eval): names the folder and the reason" grep -qi "$T/ro/out: .*read-only file system" "$T/last.err"

mkdir -p "$T/roin"
mount --bind "$T/in" "$T/roin" && MOUNTS+=("$T/roin") && mount -o remount,ro,bind "$T/roin"
run heatmap -o "$T/from-ro" "$T/roin"
check "read-only inputs: maps made as usual" test "$rc" -eq 0 -a "$(count_files "$T/from-ro" '*.json')" -eq 120

# An unreadable image (as an ordinary user): one line naming it; the others are done.
mkdir -p "$T/user/in" "$T/user/out"
cp "$T"/in/bag/1_*.png "$T"/in/coat/1_*.png "$T/user/in/"
secret=$(ls "$T"/user/in/*.png | head -1)
chmod 000 "$secret"
chown -R nobody "$T/user/out"
chmod 755 "$T" "$T/user" "$T/user/in"
run setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD/bagnet-heatmap" -q --model $MODEL -o "$T/user/out" "$T/user/in"
check "unreadable input: exit 1" test "$rc" -eq 1
check "unreadable input: one line naming the file" one_line_with "$T/last.err" "$secret"
check "unreadable input: the other images are done" test "$(count_files "$T/user/out" '*.json')" -eq "$(($(ls "$T"/user/in/*.png | wc -l) - 1))"
mkdir -p "$T/user/closed"
run setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD/bagnet-heatmap" -q --model $MODEL -o "$T/user/closed/out" "$T/user/in"
check "unwritable output folder (permission): exit 1 with one line naming it" \
  test "$rc" -eq 1 -a "$(wc -l <"$T/last.err")" -eq 1 -a "$(grep -c "$T/user/closed/out: .*ermission denied" "$T/last.err")" -eq 1

check_summary
