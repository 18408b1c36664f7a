#!/usr/bin/env bash
# Slurm job array: bagnet-eval (or bagnet-heatmap) of one model on one dataset in N shards,
# one array task per shard, then a job that merges (or checks) the shards.
#
# 'submit' gives sbatch every resource on its command line, from the options below (a GPU
# only for --device cuda, CPUs from --threads, --mem, --time), so a cluster gets what the run
# needs and nothing it may not have. The #SBATCH lines here only matter when this file is
# given to sbatch by hand; they ask for no GPU, CPUs or memory (give those on the sbatch
# command line, e.g. --gres=gpu:1 --cpus-per-task=8 --mem=16G).
#SBATCH --job-name=bagnet-eval
#SBATCH --array=0-3
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --open-mode=append
#SBATCH --output=%x-%A_%a.out
#SBATCH --signal=B:USR1@300
set -euo pipefail

usage() {
  cat <<'EOF'
Usage:
  scripts/slurm_eval.sh submit [OPTIONS] [-- TOOL-OPTIONS]     (login node: array + merge job)
  sbatch --array=0-$((N-1)) [SBATCH-OPTIONS] scripts/slurm_eval.sh task [OPTIONS] [-- TOOL-OPTIONS]
  scripts/slurm_eval.sh merge [OPTIONS]                         (after all tasks: merge/check)

Runs one model on one dataset in N shards, one Slurm array task per shard. With --tool eval
(the default), task i of N runs
  bagnet-eval -m MODEL [-w WEIGHTS] --data DATA --device DEVICE --threads T \
      --shard i/N --output-dir OUT/shard-i [TOOL-OPTIONS]
and the merge runs bagnet-merge --output-dir OUT/merged OUT/shard-0 ... OUT/shard-(N-1),
which equals an unsharded run. With --tool heatmap, task i of N runs
  bagnet-heatmap -m MODEL [-w WEIGHTS] --device DEVICE --threads T \
      --shard i/N --output-dir OUT/maps DATA [TOOL-OPTIONS]
All tasks write into OUT/maps (each image's files are its own, and mirror DATA's tree, so
the folder is what an unsharded run gives); a task that finishes marks OUT/tasks/done-i-of-N,
and the merge checks that every task has finished. With --tool stylize, task i of N runs
  bagnet-stylize --content DATA --styles STYLES --device DEVICE --threads T \
      --shard i/N --output-dir OUT/stylized -q [TOOL-OPTIONS]
(MODEL is not used; --vgg/--decoder/--preset go after --), all tasks write into OUT/stylized
and its manifest-i-of-N.csv, and the merge runs bagnet-stylize --merge OUT/stylized, which
refuses unfinished shards and writes OUT/stylized/manifest.csv (equal to an unsharded run's).
i = SLURM_ARRAY_TASK_ID and N = SLURM_ARRAY_TASK_COUNT (the array must be 0-(N-1)).

Resumable: an output directory is never overwritten, so a requeued task (preemption, node
failure, 'scontrol requeue', or the self-requeue five minutes before the time limit via
--signal=B:USR1@300) continues where it stopped. bagnet-eval's exit code 3 (finished, some
images unreadable: excluded and listed in summary.json) counts as success, with a warning.

'submit' runs sbatch twice: the array (--array=0-(N-1)) and a merge job that starts when
every task has succeeded (--dependency=afterok:<array job id>; it is cancelled if a task
fails or is cancelled). It prints the commands that resubmit failed tasks and merge by hand.

Options (or environment variables; options win):
  --tool T          TOOL      eval (bagnet-eval, default), heatmap (bagnet-heatmap) or
                              stylize (bagnet-stylize)
  --styles DIR      STYLES    stylize: folder of style images (required)
  --model M         MODEL     registered model (bagnet-models), default bagnet33
  --weights FILE    WEIGHTS   weights file (default: the registry's file in $BAGNET_WEIGHTS)
  --data PATH       DATA      eval: dataset folder or path,label list file; heatmap: an image,
                              folder or glob (required)
  --out DIR         OUT       output folder: shard-i/ per task and merged/, or maps/ (required)
  --shards N        SHARDS    number of shards; submit: the array size (default 4); task:
                              default SLURM_ARRAY_TASK_COUNT (give it to rerun some tasks
                              only, e.g. sbatch --array=5 ... --shards 8); merge: expects
                              shards 0 ... N-1 (default: every OUT/shard-*, or the N of
                              OUT/tasks/done-*)
  --bin DIR         BIN       folder with the tools (default: the build/ folder next to this
                              script, else $SLURM_SUBMIT_DIR/build, else PATH)
  --device D        DEVICE    cuda (default), cuda:N or cpu. submit asks for a GPU
                              (--gres=gpu:1, see --gres) only for cuda
  --threads T       THREADS   intra-op threads (default: $SLURM_CPUS_PER_TASK, else all cores);
                              submit: also the CPUs per task unless --cpus is given
  --workers W       WORKERS   eval: decoding threads (default on cuda: $SLURM_CPUS_PER_TASK,
                              else automatic)
 submit only (resources of each array task; the merge job takes 1 CPU, 30 minutes):
  --cpus C                    CPUs per task (sbatch --cpus-per-task; default: --threads, else
                              8, lowered to the largest node of the partition)
  --mem SIZE                  memory per task (sbatch --mem, e.g. 16G; default: the cluster's)
  --time T                    time limit per task (sbatch --time; default 04:00:00)
  --gres SPEC                 generic resources per task on cuda (default gpu:1)
  --sbatch-opt ARG            one more sbatch argument for both jobs, e.g. --sbatch-opt
                              --partition=gpu --sbatch-opt --account=lab (repeatable; an option
                              and its value as one ARG, with =); wins over the above
  --max-parallel K            at most K tasks at once (--array=0-(N-1)%K)
  --dry-run                   print the sbatch commands, submit nothing
  -h, --help

submit refuses a request that no node of the partition can meet (CPUs, memory), which Slurm
would otherwise leave pending for ever (Reason=PartitionConfig).

Examples:
  scripts/slurm_eval.sh submit --model bagnet33 --data /data/imagenet/val --out runs/in-val \
      --shards 8 --threads 8 --mem 16G -- --batch-size 64
  scripts/slurm_eval.sh submit --model resnet50 --data stimuli/cue-conflict --out runs/cc \
      --device cpu --threads 2 --sbatch-opt --partition=cpu
  scripts/slurm_eval.sh submit --tool heatmap --model bagnet33 --data images/ --out runs/maps \
      --shards 8 -- --stride 4 --top 2
  scripts/slurm_eval.sh merge --out runs/in-val --shards 8
  scripts/slurm_eval.sh merge --tool heatmap --out runs/maps     # checks that all tasks finished
  scripts/slurm_eval.sh submit --tool stylize --data /data/imagenet/val --styles /data/paintings \
      --out runs/sin --shards 16 -- --preset stylized-imagenet --seed 0
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

TOOL=${TOOL:-eval}
MODEL=${MODEL:-bagnet33}
WEIGHTS=${WEIGHTS:-}
DATA=${DATA:-}
STYLES=${STYLES:-}
OUT=${OUT:-}
SHARDS=${SHARDS:-}
BIN=${BIN:-}
DEVICE=${DEVICE:-cuda}
THREADS=${THREADS:-}
WORKERS=${WORKERS:-}
cpus=""
mem=""
time_limit=04:00:00
gres=gpu:1
sbatch_opts=()
max_parallel=""
dry_run=0
extra=()
while (($#)); do
  case $1 in
    --tool) TOOL=${2:?--tool needs a value} && shift 2 ;;
    --model) MODEL=${2:?--model needs a value} && shift 2 ;;
    --weights) WEIGHTS=${2:?--weights needs a value} && shift 2 ;;
    --data) DATA=${2:?--data needs a value} && shift 2 ;;
    --styles) STYLES=${2:?--styles needs a value} && shift 2 ;;
    --out) OUT=${2:?--out needs a value} && shift 2 ;;
    --shards) SHARDS=${2:?--shards needs a value} && shift 2 ;;
    --bin) BIN=${2:?--bin needs a value} && shift 2 ;;
    --device) DEVICE=${2:?--device needs a value} && shift 2 ;;
    --threads) THREADS=${2:?--threads needs a value} && shift 2 ;;
    --workers) WORKERS=${2:?--workers needs a value} && shift 2 ;;
    --cpus) cpus=${2:?--cpus needs a value} && shift 2 ;;
    --mem) mem=${2:?--mem needs a value} && shift 2 ;;
    --time) time_limit=${2:?--time needs a value} && shift 2 ;;
    --gres) gres=${2:?--gres needs a value} && shift 2 ;;
    --sbatch-opt) sbatch_opts+=("${2:?--sbatch-opt needs a value}") && shift 2 ;;
    --max-parallel) max_parallel=${2:?--max-parallel needs a value} && shift 2 ;;
    --dry-run) dry_run=1 && shift ;;
    -h | --help) usage && exit 0 ;;
    --) shift && extra=("$@") && break ;;
    *) die "unknown argument '$1' (options of bagnet-$TOOL go after --; see --help)" ;;
  esac
done

case $TOOL in
  eval) tool_bin=bagnet-eval helper_bin=bagnet-merge ;;
  heatmap) tool_bin=bagnet-heatmap helper_bin="" ;;
  stylize) tool_bin=bagnet-stylize helper_bin="" ;;
  *) die "--tool must be eval, heatmap or stylize, not '$TOOL'" ;;
esac
[[ -n $OUT ]] || die "no output folder: set OUT or --out (see --help)"
[[ -z $SHARDS || $SHARDS =~ ^[1-9][0-9]*$ ]] || die "--shards must be a positive integer, not '$SHARDS'"
[[ -z $THREADS || $THREADS =~ ^[0-9]+$ ]] || die "--threads must be a number, not '$THREADS'"
[[ -z $cpus || $cpus =~ ^[1-9][0-9]*$ ]] || die "--cpus must be a positive integer, not '$cpus'"
[[ -z $max_parallel || $max_parallel =~ ^[1-9][0-9]*$ ]] ||
  die "--max-parallel must be a positive integer, not '$max_parallel'"
[[ $TOOL == eval || -z $WORKERS ]] || die "--workers is an option of bagnet-eval only"

# Under Slurm this file runs from a spool copy, so its own folder says nothing: the build/
# folder next to it, then the submit directory's build/, then PATH.
find_bin() {
  local here
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  for d in "$here/../build" "${SLURM_SUBMIT_DIR:-.}/build"; do
    if [[ -x $d/$tool_bin ]]; then
      (cd "$d" && pwd)
      return
    fi
  done
  local p
  p=$(command -v "$tool_bin") || die "$tool_bin not found: set BIN or --bin"
  dirname "$p"
}
[[ -n $BIN ]] || BIN=$(find_bin)

abspath() { [[ $1 = /* ]] && echo "$1" || echo "$PWD/$1"; }

# A Slurm memory size (number with an optional K, M, G or T suffix; M by default) in MB.
mem_mb() {
  local n=${1%[KkMmGgTt]} unit=${1:${#1}-1}
  [[ $n =~ ^[0-9]+$ ]] || return 1
  case $unit in
    K | k) echo $((n / 1024)) ;;
    G | g) echo $((n * 1024)) ;;
    T | t) echo $((n * 1024 * 1024)) ;;
    *) echo "$n" ;;
  esac
}

# The partition the jobs go to: the last --partition/-p among the sbatch options, else
# $SBATCH_PARTITION, else empty (the cluster's default partition).
target_partition() {
  local p=${SBATCH_PARTITION:-} i
  for ((i = 0; i < ${#sbatch_opts[@]}; i++)); do
    case ${sbatch_opts[i]} in
      --partition=*) p=${sbatch_opts[i]#--partition=} ;;
      -p?*) p=${sbatch_opts[i]#-p} ;;
      --partition | -p) p=${sbatch_opts[i + 1]:-} ;;
    esac
  done
  echo "$p"
}

case $mode in
  submit)
    command -v sbatch >/dev/null || ((dry_run)) || die "sbatch not found (not on a Slurm login node?)"
    [[ -n $DATA ]] || die "no dataset: set DATA or --data"
    [[ -e $DATA ]] || { [[ $TOOL == heatmap ]] && compgen -G "$DATA" >/dev/null; } ||
      die "$DATA: no such file or folder"
    [[ -z $WEIGHTS || -f $WEIGHTS ]] || die "$WEIGHTS: no such file"
    [[ $TOOL != stylize || -d $STYLES ]] || die "no style folder: set STYLES or --styles (now '$STYLES')"
    [[ -x $BIN/$tool_bin ]] || die "$BIN: no $tool_bin"
    [[ -z $helper_bin || -x $BIN/$helper_bin ]] || die "$BIN: no $helper_bin"
    [[ -z $mem ]] || mem_mb "$mem" >/dev/null || die "--mem must be a size like 4000, 16G or 512M, not '$mem'"
    SHARDS=${SHARDS:-4}
    out=$(abspath "$OUT")
    data=$(abspath "$DATA")

    # Each task's resources follow the options: CPUs = --cpus, else --threads, else 8.
    cpus_given=1
    [[ -n $cpus ]] || cpus=${THREADS:-}
    [[ -n $cpus && $cpus != 0 ]] || { cpus=8 && cpus_given=0; }
    # Slurm leaves a request that no node of the partition can meet pending for ever
    # (Reason=PartitionConfig), so look at the nodes first: lower the default CPUs to the
    # largest node, refuse what was asked for explicitly. Skipped when sinfo cannot tell.
    if ((!dry_run)); then
      partition=$(target_partition)
      where="partition $partition"
      if [[ -z $partition ]]; then # the default one, marked with * by sinfo
        partition=$(sinfo -h -o %P 2>/dev/null | sed -n 's/\*$//p' | head -n 1) || partition=""
        where="partition ${partition:-?} (the default)"
      fi
      if [[ -n $partition ]] && nodes=$(sinfo -h -N -p "$partition" -o '%c %m' 2>/dev/null) && [[ -n $nodes ]]; then
        max_cpus=$(awk '$1 > m { m = $1 } END { print m + 0 }' <<<"$nodes")
        max_mem=$(awk '$2 + 0 > m { m = $2 + 0 } END { print m + 0 }' <<<"$nodes")
        if ((max_cpus > 0 && cpus > max_cpus)); then
          ((cpus_given)) &&
            die "$cpus CPUs per task, but the largest node of $where has $max_cpus: give --threads or --cpus $max_cpus or less"
          echo "slurm_eval.sh: the largest node of $where has $max_cpus CPUs: asking for $max_cpus per task, not 8" >&2
          cpus=$max_cpus
        fi
        if [[ -n $mem ]] && ((max_mem > 0 && $(mem_mb "$mem") > max_mem)); then
          die "--mem $mem per task, but the largest node of $where has ${max_mem}M: give less"
        fi
      fi
    fi
    resources=(--cpus-per-task="$cpus" --time="$time_limit")
    [[ -z $mem ]] || resources+=(--mem="$mem")
    [[ $DEVICE != cuda* ]] || resources+=(--gres="$gres")

    # Absolute paths: the jobs may start elsewhere.
    args=(--tool "$TOOL" --model "$MODEL" --data "$data" --out "$out" --shards "$SHARDS"
      --bin "$(abspath "$BIN")" --device "$DEVICE")
    [[ -z $WEIGHTS ]] || args+=(--weights "$(abspath "$WEIGHTS")")
    [[ -z $THREADS ]] || args+=(--threads "$THREADS")
    [[ -z $WORKERS ]] || args+=(--workers "$WORKERS")
    [[ -z $STYLES ]] || args+=(--styles "$(abspath "$STYLES")")
    self=$(abspath "${BASH_SOURCE[0]}")
    name="bagnet-$TOOL-$MODEL"
    # The user's sbatch options come after ours: for sbatch the last one wins.
    task_sbatch=(sbatch --job-name="$name" --output="$out/slurm-%A_%a.out" --requeue --open-mode=append
      --signal=B:USR1@300 "${resources[@]}" "${sbatch_opts[@]}")
    task_args=("$self" task "${args[@]}" -- "${extra[@]}")
    array="0-$((SHARDS - 1))${max_parallel:+%$max_parallel}"
    merge_args=("$self" merge --tool "$TOOL" --out "$out" --shards "$SHARDS" --bin "$(abspath "$BIN")")
    # --wrap: a fresh script, so none of this file's #SBATCH lines (array, time) apply.
    # --kill-on-invalid-dep: if a task fails the merge job ends (cancelled) instead of
    # pending for ever with Reason=DependencyNeverSatisfied.
    merge_sbatch=(sbatch --job-name="bagnet-merge-$MODEL" --output="$out/slurm-merge-%j.out" --ntasks=1
      --cpus-per-task=1 --time=00:30:00 --kill-on-invalid-dep=yes "${sbatch_opts[@]}")
    merge_wrap=--wrap="$(printf '%q ' "${merge_args[@]}")"
    if ((dry_run)); then
      printf '%q ' "${task_sbatch[@]}" --parsable --array="$array" "${task_args[@]}" && echo
      printf '%q ' "${merge_sbatch[@]}" --parsable && echo -n "--dependency=afterok:<array job id> "
      printf '%q\n' "$merge_wrap"
      exit 0
    fi
    mkdir -p "$out"
    job=$("${task_sbatch[@]}" --parsable --array="$array" "${task_args[@]}")
    job=${job%%;*} # --parsable prints "id" or "id;cluster"
    merge_job=$("${merge_sbatch[@]}" --parsable --dependency="afterok:$job" "$merge_wrap")
    merge_job=${merge_job%%;*}
    echo "array job $job ($SHARDS tasks), merge job $merge_job (starts when all tasks have succeeded; cancelled if one fails)"
    if [[ $TOOL == eval ]]; then
      echo "results: $out/merged; logs: $out/slurm-*.out"
    elif [[ $TOOL == stylize ]]; then
      echo "images: $out/stylized (manifest.csv after the merge); logs: $out/slurm-*.out"
    else
      echo "maps: $out/maps; logs: $out/slurm-*.out"
    fi
    # Everything the tasks got (resources, sbatch options, tool options after --, the log
    # path), so a resubmitted task runs exactly like the others.
    echo "if a task fails or is cancelled: fix the cause, then resubmit it (TASKS: its index, or a list like 1,3):"
    echo "  $(printf '%q ' "${task_sbatch[@]}")--array=TASKS $(printf '%q ' "${task_args[@]}")"
    echo "and when it has finished, merge:"
    echo "  $(printf '%q ' "${merge_args[@]}")"
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
    if [[ $TOOL == eval ]]; then
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
    elif [[ $TOOL == stylize ]]; then
      [[ -n $STYLES ]] || die "no style folder: set STYLES or --styles"
      dir=$OUT/stylized
      mkdir -p "$dir"
      cmd=("$BIN/bagnet-stylize" --content "$DATA" --styles "$STYLES" --device "$DEVICE" --threads "$THREADS"
        --shard "$id/$count" --output-dir "$dir" -q "${extra[@]}")
    else
      dir=$OUT/maps
      mkdir -p "$dir" "$OUT/tasks"
      # A glob in DATA reaches the tool as it is: bagnet-heatmap expands it (sorted, as --shard needs).
      cmd=("$BIN/bagnet-heatmap" -m "$MODEL" --device "$DEVICE" --threads "$THREADS"
        --shard "$id/$count" --output-dir "$dir" -q)
      [[ -z $WEIGHTS ]] || cmd+=(-w "$WEIGHTS")
      cmd+=("${extra[@]}" -- "$DATA")
    fi
    restarts=${SLURM_RESTART_COUNT:-0}
    echo "[$(date -u +%FT%TZ)] task $id/$count on $(hostname) (restart $restarts)${CUDA_VISIBLE_DEVICES:+, GPU $CUDA_VISIBLE_DEVICES}"
    if [[ $TOOL == eval && -s $dir/results.jsonl ]]; then
      echo "resuming from $dir/results.jsonl ($(($(wc -l <"$dir/results.jsonl") - 1)) images done)"
    fi
    printf '%q ' "${cmd[@]}" && echo

    # Near the time limit Slurm sends USR1 to this shell (--signal=B:USR1@300): stop the
    # tool and requeue this task, which resumes from what was written.
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
    # TERM or INT: let the tool finish its current item and stop (it resumes from there).
    # Under Slurm, a cancel, requeue or preemption signals every process of the job, the tool
    # included, and Ctrl-C reaches the whole process group: a second TERM from here would make
    # it stop at once and drop the current item. So pass TERM on only when this shell alone
    # got it outside Slurm (kill PID).
    stop() {
      if [[ $1 == TERM && -z ${SLURM_JOB_ID:-} && -n $child ]]; then kill -TERM "$child" 2>/dev/null || true; fi
      while [[ -n $child ]] && kill -0 "$child" 2>/dev/null; do wait "$child" 2>/dev/null || true; done
      if [[ $1 == TERM ]]; then exit 143; else exit 130; fi
    }
    trap requeue USR1
    trap 'stop TERM' TERM
    trap 'stop INT' INT
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
        [[ $TOOL != heatmap ]] || die "task $id/$count failed (bagnet-heatmap exit code 3)"
        if [[ $TOOL == stylize ]]; then
          echo "slurm_eval.sh: warning: task $id/$count finished, but some images were unreadable;" \
            "they are listed in $dir/skipped-$id-of-$count.txt" >&2
        else
          echo "slurm_eval.sh: warning: task $id/$count finished, but some images were unreadable;" \
          "they are excluded and listed under \"failures\" in $dir/summary.json" >&2
        fi
        ;;
      *)
        echo "slurm_eval.sh: task $id/$count failed (bagnet-$TOOL exit code $rc)" >&2
        exit "$rc"
        ;;
    esac
    # Heatmaps: every image of this shard has its files; the merge checks these marks.
    [[ $TOOL != heatmap ]] || : >"$OUT/tasks/done-$id-of-$count"
    ;;

  merge)
    if [[ $TOOL == stylize ]]; then
      # Every shard's manifest present and finished, all of one dataset: one manifest.csv.
      "$BIN/bagnet-stylize" --merge "$OUT/stylized"
      exit 0
    fi
    if [[ $TOOL == heatmap ]]; then
      # The maps are in place already: check that every task finished.
      if [[ -z $SHARDS ]]; then
        shopt -s nullglob
        marks=("$OUT"/tasks/done-*-of-*)
        shopt -u nullglob
        ((${#marks[@]})) || die "no finished task in $OUT/tasks (none has finished yet?)"
        counts=$(printf '%s\n' "${marks[@]##*-of-}" | sort -u)
        [[ $counts =~ ^[0-9]+$ ]] || die "tasks of different shard counts in $OUT/tasks: give --shards"
        SHARDS=$counts
      fi
      missing=()
      for ((i = 0; i < SHARDS; i++)); do
        [[ -e $OUT/tasks/done-$i-of-$SHARDS ]] || missing+=("$i")
      done
      ((${#missing[@]} == 0)) ||
        die "task(s) $(
          IFS=,
          echo "${missing[*]}"
        ) of $SHARDS have not finished: resubmit them (see the submit output)"
      echo "all $SHARDS tasks finished: $(find "$OUT/maps" -name '*.json' | wc -l) images in $OUT/maps"
      exit 0
    fi
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
