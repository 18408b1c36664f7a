#!/usr/bin/env bash
# Slurm job array: bagnet-eval of one model on one dataset in N shards, one GPU per array task,
# then bagnet-merge of the shards into the result of an unsharded run.
#
# The #SBATCH lines below are defaults; options on the sbatch command line and sbatch's own
# environment variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT, ...) override them.
#SBATCH --job-name=bagnet-eval
#SBATCH --array=0-3
#SBATCH --gres=gpu:1
#SBATCH --cpus-per-task=8
#SBATCH --mem=32G
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%A_%a.out
#SBATCH --signal=B:USR1@300
set -euo pipefail

usage() {
  cat <<'EOF'
Usage:
  scripts/slurm_eval.sh submit [OPTIONS] [-- BAGNET-EVAL-OPTIONS]   (login node: array + merge job)
  sbatch --array=0-$((N-1)) scripts/slurm_eval.sh [task] [OPTIONS] [-- BAGNET-EVAL-OPTIONS]
  scripts/slurm_eval.sh merge [OPTIONS]                              (after all tasks: merge)

Evaluates one model on one dataset in N shards, one GPU per Slurm array task. Task i of N
runs
  bagnet-eval -m MODEL [-w WEIGHTS] --data DATA --device DEVICE \
      --shard i/N --output-dir OUT/shard-i [BAGNET-EVAL-OPTIONS]
with i = SLURM_ARRAY_TASK_ID and N = SLURM_ARRAY_TASK_COUNT (the array must be 0-(N-1)).
Resumable: an output directory is never overwritten, so a requeued task (preemption, node
failure, 'scontrol requeue', or the self-requeue five minutes before the time limit via
--signal=B:USR1@300) continues where it stopped. bagnet-eval's exit code 3 (finished, some
images unreadable: excluded and listed in summary.json) counts as success, with a warning.

'submit' runs sbatch twice: the array (--array=0-(N-1)) and a merge job that starts when
every task has succeeded (--dependency=afterok:<array job id>), which runs
  bagnet-merge --output-dir OUT/merged OUT/shard-0 ... OUT/shard-(N-1)
'merge' does that by hand (e.g. after resubmitting a failed task).

Options (or environment variables; options win):
  --model M         MODEL     registered model (bagnet-models), default bagnet33
  --weights FILE    WEIGHTS   weights file (default: the registry's file in $BAGNET_WEIGHTS)
  --data PATH       DATA      dataset folder or path,label list file (required)
  --out DIR         OUT       output folder: shard-i/ per task, merged/ (required)
  --shards N        SHARDS    number of shards; submit: the array size (default 4); task:
                              default SLURM_ARRAY_TASK_COUNT (give it to rerun some tasks
                              only, e.g. sbatch --array=5 ... --shards 8); merge: expects
                              OUT/shard-0 ... OUT/shard-(N-1) (default: every OUT/shard-*)
  --bin DIR         BIN       folder with bagnet-eval and bagnet-merge (default: the build/
                              folder next to this script, else $SLURM_SUBMIT_DIR/build, else PATH)
  --device D        DEVICE    cuda (default), cuda:N or cpu
  --threads T       THREADS   intra-op threads (default: $SLURM_CPUS_PER_TASK, else all cores)
  --workers W       WORKERS   decoding threads (default on cuda: $SLURM_CPUS_PER_TASK, else automatic)
  --max-parallel K            submit: at most K tasks at once (--array=0-(N-1)%K)
  --dry-run                   submit: print the sbatch commands, submit nothing
  -h, --help

Examples:
  scripts/slurm_eval.sh submit --model bagnet33 --data /data/imagenet/val --out runs/in-val \
      --shards 8 -- --batch-size 64
  SBATCH_PARTITION=gpu scripts/slurm_eval.sh submit --model resnet50 --data stimuli/cue-conflict --out runs/cc --shards 4
  scripts/slurm_eval.sh merge --out runs/in-val --shards 8
  # one task by hand, no Slurm (e.g. a smoke test):
  SLURM_ARRAY_TASK_ID=0 SLURM_ARRAY_TASK_COUNT=4 scripts/slurm_eval.sh task --model bagnet9 \
      --weights w.pt --data list.csv --out /tmp/run --device cpu --threads 1
EOF
}

die() {
  echo "slurm_eval.sh: $*" >&2
  exit 1
}

mode=""
case "${1:-}" in
  submit | task | merge) mode=$1 && shift ;;
  -h | --help) usage && exit 0 ;;
esac
if [[ -z $mode ]]; then
  [[ -n ${SLURM_ARRAY_TASK_ID:-} ]] || {
    usage >&2
    exit 2
  }
  mode=task
fi

MODEL=${MODEL:-bagnet33}
WEIGHTS=${WEIGHTS:-}
DATA=${DATA:-}
OUT=${OUT:-}
SHARDS=${SHARDS:-}
BIN=${BIN:-}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-}
WORKERS=${WORKERS:-}
max_parallel=""
dry_run=0
extra=()
while (($#)); do
  case $1 in
    --model) MODEL=${2:?--model needs a value} && shift 2 ;;
    --weights) WEIGHTS=${2:?--weights needs a value} && shift 2 ;;
    --data) DATA=${2:?--data needs a value} && shift 2 ;;
    --out) OUT=${2:?--out needs a value} && shift 2 ;;
    --shards) SHARDS=${2:?--shards needs a value} && shift 2 ;;
    --bin) BIN=${2:?--bin needs a value} && shift 2 ;;
    --device) DEVICE=${2:?--device needs a value} && shift 2 ;;
    --threads) THREADS=${2:?--threads needs a value} && shift 2 ;;
    --workers) WORKERS=${2:?--workers needs a value} && shift 2 ;;
    --max-parallel) max_parallel=${2:?--max-parallel needs a value} && shift 2 ;;
    --dry-run) dry_run=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && extra=("$@") && break ;;
    *) die "unknown argument '$1' (bagnet-eval options go after --; see --help)" ;;
  esac
done

[[ -n $OUT ]] || die "no output folder: set OUT or --out (see --help)"
[[ -z $SHARDS || $SHARDS =~ ^[1-9][0-9]*$ ]] || die "--shards must be a positive integer, not '$SHARDS'"

# Under Slurm this file runs from a spool copy, so its own folder says nothing: the build/
# folder next to it, then the submit directory's build/, then PATH.
find_bin() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for d in "$here/../build" "${SLURM_SUBMIT_DIR:-.}/build"; do
    if [[ -x $d/bagnet-eval ]]; then
      (cd "$d" && pwd)
      return
    fi
  done
  local p
  p=$(command -v bagnet-eval) || die "bagnet-eval not found: set BIN or --bin"
  dirname "$p"
}
[[ -n $BIN ]] || BIN=$(find_bin)

abspath() { [[ $1 = /* ]] && echo "$1" || echo "$PWD/$1"; }

case $mode in
  submit)
    command -v sbatch >/dev/null || ((dry_run)) || die "sbatch not found (not on a Slurm login node?)"
    [[ -n $DATA ]] || die "no dataset: set DATA or --data"
    [[ -e $DATA ]] || die "$DATA: no such file or folder"
    [[ -z $WEIGHTS || -f $WEIGHTS ]] || die "$WEIGHTS: no such file"
    [[ -x $BIN/bagnet-eval && -x $BIN/bagnet-merge ]] || die "$BIN: no bagnet-eval and bagnet-merge"
    SHARDS=${SHARDS:-4}
    # Absolute paths: the jobs may start elsewhere.
    args=(--model "$MODEL" --data "$(abspath "$DATA")" --out "$(abspath "$OUT")" --shards "$SHARDS"
      --bin "$(abspath "$BIN")" --device "$DEVICE")
    [[ -z $WEIGHTS ]] || args+=(--weights "$(abspath "$WEIGHTS")")
    [[ -z $THREADS ]] || args+=(--threads "$THREADS")
    [[ -z $WORKERS ]] || args+=(--workers "$WORKERS")
    self=$(abspath "${BASH_SOURCE[0]}")
    array="0-$((SHARDS - 1))${max_parallel:+%$max_parallel}"
    mkdir -p "$(abspath "$OUT")"
    task_cmd=(sbatch --parsable --array="$array" --job-name="bagnet-eval-$MODEL"
      --output="$(abspath "$OUT")/slurm-%A_%a.out" "$self" task "${args[@]}" -- "${extra[@]}")
    merge_wrap=$(printf '%q ' "$self" merge --model "$MODEL" --out "$(abspath "$OUT")" --shards "$SHARDS" \
      --bin "$(abspath "$BIN")")
    if ((dry_run)); then
      printf '%q ' "${task_cmd[@]}" && echo
      echo "sbatch --parsable --dependency=afterok:<array job id> --job-name=bagnet-merge-$MODEL" \
        "--output=$(abspath "$OUT")/slurm-merge-%j.out --ntasks=1 --cpus-per-task=1 --time=00:30:00" \
        "--wrap=$(printf '%q' "$merge_wrap")"
      exit 0
    fi
    job=$("${task_cmd[@]}")
    job=${job%%;*} # --parsable prints "id" or "id;cluster"
    # --wrap: a fresh script, so none of this file's #SBATCH lines (array, GPU) apply.
    merge_job=$(sbatch --parsable --dependency="afterok:$job" --job-name="bagnet-merge-$MODEL" \
      --output="$(abspath "$OUT")/slurm-merge-%j.out" --ntasks=1 --cpus-per-task=1 --time=00:30:00 \
      --wrap="$merge_wrap")
    echo "array job $job ($SHARDS tasks), merge job ${merge_job%%;*} (after all succeed)"
    echo "results: $(abspath "$OUT")/merged; logs: $(abspath "$OUT")/slurm-*.out"
    echo "if a task fails: fix, resubmit it with sbatch --array=<i> $self task ${args[*]}, then: $self merge --out $(abspath "$OUT") --shards $SHARDS"
    ;;

  task)
    [[ -n ${SLURM_ARRAY_TASK_ID:-} ]] || die "task mode needs SLURM_ARRAY_TASK_ID (run it with sbatch --array)"
    [[ -n $DATA ]] || die "no dataset: set DATA or --data"
    id=$SLURM_ARRAY_TASK_ID
    if [[ -n $SHARDS ]]; then
      count=$SHARDS # given: any subset of the tasks may run (e.g. --array=5 reruns task 5)
    else
      count=${SLURM_ARRAY_TASK_COUNT:-}
      if [[ -z $count && -n ${SLURM_ARRAY_TASK_MAX:-} ]]; then
        count=$((SLURM_ARRAY_TASK_MAX - ${SLURM_ARRAY_TASK_MIN:-0} + 1))
      fi
      [[ -n $count ]] || die "cannot tell the number of shards: set SHARDS or --shards"
      [[ ${SLURM_ARRAY_TASK_MIN:-0} == 0 ]] ||
        die "the array does not start at 0: pass --shards N when running only some of the tasks"
    fi
    if ! [[ $id =~ ^[0-9]+$ ]] || ((id >= count)); then die "task $id outside 0-$((count - 1))"; fi
    cpus=${SLURM_CPUS_PER_TASK:-}
    THREADS=${THREADS:-${cpus:-0}}
    if [[ -z $WORKERS ]]; then
      WORKERS=0
      [[ $DEVICE != cuda* || -z $cpus ]] || WORKERS=$cpus
    fi
    dir=$OUT/shard-$id
    mkdir -p "$dir"
    cmd=("$BIN/bagnet-eval" -m "$MODEL" --data "$DATA" --device "$DEVICE" --threads "$THREADS"
      --workers "$WORKERS" --shard "$id/$count" --output-dir "$dir" -q)
    [[ -z $WEIGHTS ]] || cmd+=(-w "$WEIGHTS")
    cmd+=("${extra[@]}")
    restarts=${SLURM_RESTART_COUNT:-0}
    echo "[$(date -u +%FT%TZ)] task $id/$count on $(hostname) (restart $restarts)${CUDA_VISIBLE_DEVICES:+, GPU $CUDA_VISIBLE_DEVICES}"
    [[ ! -s $dir/results.jsonl ]] || echo "resuming from $dir/results.jsonl ($(($(wc -l <"$dir/results.jsonl") - 1)) images done)"
    printf '%q ' "${cmd[@]}" && echo

    # Near the time limit Slurm sends USR1 to this shell (--signal=B:USR1@300): stop
    # bagnet-eval and requeue this task, which resumes from what was written.
    child=""
    requeue() {
      echo "[$(date -u +%FT%TZ)] time limit near: requeueing task $id" >&2
      [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true
      [[ -z $child ]] || wait "$child" 2>/dev/null || true
      if [[ -n ${SLURM_ARRAY_JOB_ID:-} ]] && command -v scontrol >/dev/null; then
        scontrol requeue "${SLURM_ARRAY_JOB_ID}_${id}" && exit 0
      fi
      echo "slurm_eval.sh: could not requeue; resubmit task $id to continue" >&2
      exit 1
    }
    stop() {
      [[ -z $child ]] || kill -TERM "$child" 2>/dev/null || true
      [[ -z $child ]] || wait "$child" 2>/dev/null || true
      exit 143
    }
    trap requeue USR1
    trap stop TERM INT
    set +e
    "${cmd[@]}" &
    child=$!
    wait "$child"
    rc=$?
    while ((rc > 128)) && kill -0 "$child" 2>/dev/null; do # wait was interrupted by a signal
      wait "$child"
      rc=$?
    done
    set -e
    case $rc in
      0) echo "[$(date -u +%FT%TZ)] task $id/$count done: $dir" ;;
      3)
        echo "slurm_eval.sh: warning: task $id/$count finished, but some images were unreadable;" \
          "they are excluded and listed under \"failures\" in $dir/summary.json" >&2
        ;;
      *)
        echo "slurm_eval.sh: task $id/$count failed (bagnet-eval exit code $rc)" >&2
        exit "$rc"
        ;;
    esac
    ;;

  merge)
    shopt -s nullglob
    shards=("$OUT"/shard-*)
    shopt -u nullglob
    ((${#shards[@]})) || die "no shard folders in $OUT"
    if [[ -n $SHARDS ]]; then
      shards=()
      for ((i = 0; i < SHARDS; i++)); do
        [[ -d $OUT/shard-$i ]] || die "$OUT/shard-$i is missing (task $i has not run)"
        shards+=("$OUT/shard-$i")
      done
    fi
    # bagnet-merge refuses incomplete, duplicate or mismatched shards, and missing ones when
    # it can tell (each shard records its i/n).
    "$BIN/bagnet-merge" --output-dir "$OUT/merged" "${shards[@]}"
    echo "merged ${#shards[@]} shards into $OUT/merged"
    ;;
esac
