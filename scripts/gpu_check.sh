#!/usr/bin/env bash
# The GPU check (issue 10): on a machine with a CUDA GPU and PyTorch but without this project's
# other -dev packages, build the toolkit against that PyTorch's LibTorch, check that CUDA gives
# the CPU's results (TF32 off) and print the benchmark tables on the GPU beside PyTorch's.
#
# 1. Here, once per checkout (a machine with the project's -dev packages):
#        scripts/gpu_check.sh --prepare
#    copies the header-only libraries (nlohmann-json, CLI11), OpenSSL's and zlib's headers and
#    shared libraries, and the commit into .gpu-deps/ (git-ignored, ~8 MB).
# 2. On the GPU machine, through the device tool (its $OUT gets the results):
#        run(command="bash scripts/gpu_check.sh", carry=[".gpu-deps"], timeout_s=480)
#    It builds the minimal configuration (cmake -DBAGNET_MINIMAL=ON: networks, dense maps and
#    bagnet-bench; no OpenCV or cairo) in build-gpu/ against python3's torch
#    (torch.utils.cmake_prefix_path), with the nlohmann-json, CLI11, OpenSSL and zlib of
#    .gpu-deps/, then
#    - parity: CPU against CUDA on the same weights and inputs, TF32 off: the logits of
#      BagNet-9/17/33 and ResNet-50 at 224x224, batch 8, and stride-1 maps of BagNet-33 at 96x96
#      (10 classes) by both dense algorithms; it fails when a difference exceeds 1e-4 of the
#      largest |output| (tests/test_networks.cpp's kParityTolerance);
#    - classification: scripts/bench_forward.py --device cuda, batches 1, 8 and 64, the four
#      networks, the toolkit beside PyTorch eager on the same weights;
#    - dense stride-1 maps at 224x224 of BagNet-9/17/33, 1 and 10 classes: bagnet-bench --mode
#      dense (phases and atrous) beside scripts/bench_heatmap.py's PyTorch a-trous version.
#    Into $OUT (./gpu-check-out when unset): summary.json (every figure, the step statuses, the
#    machine), tables.md (the tables) and gpu_check.log (everything, the build too). Exit 0 only
#    when the build, the parity checks and the benchmarks all succeeded. Expected to take 4-6
#    minutes on an H200 with 16 cores; each step runs under what is left of --deadline seconds
#    (default 450) and is stopped or skipped when that is spent (marked so in summary.json),
#    so that the summary is written before the device tool's timeout_s=480.
# 3. The dry run, on a CPU-only machine (every step but CUDA itself; after --prepare):
#        scripts/gpu_check.sh --device cpu --build build-gpu-dry
#    builds the same minimal configuration against Debian's LibTorch, takes nlohmann-json, CLI11,
#    OpenSSL and zlib from .gpu-deps/ (and checks that no header came from /usr/include), runs
#    the parity checks CPU against CPU and tiny benchmarks.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=$ROOT/.gpu-deps
DEVICE=cuda
BUILD=""
DEADLINE=450
JOBS=$(nproc)
TOLERANCE=1e-4
usage() {
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  echo "usage: scripts/gpu_check.sh [--prepare] [--device cuda|cpu] [--build DIR] [--deadline S] [--jobs N]"
}
PREPARE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --prepare) PREPARE=1 ;;
    --device) DEVICE=$2; shift ;;
    --build) BUILD=$2; shift ;;
    --deadline) DEADLINE=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu_check.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# ---------------------------------------------------------------------------------------------
# --prepare: fill .gpu-deps/ from this machine's packages.
if [ $PREPARE = 1 ]; then
  set -e
  rm -rf "$DEPS"
  mkdir -p "$DEPS/include/openssl" "$DEPS/lib" "$DEPS/share/cmake"
  cp -r /usr/include/nlohmann /usr/include/CLI "$DEPS/include/"
  cp -r /usr/share/cmake/nlohmann_json /usr/share/cmake/CLI11 "$DEPS/share/cmake/"
  cp /usr/include/openssl/*.h "$DEPS/include/openssl/"
  cp /usr/include/x86_64-linux-gnu/openssl/*.h "$DEPS/include/openssl/"  # configuration.h, opensslconf.h
  cp /usr/include/zlib.h /usr/include/zconf.h "$DEPS/include/"
  # The shared libraries, to link against (OpenSSL 3 and zlib 1 keep their ABI within the major
  # version; they need glibc 2.34 at most, and the machine's own copies are used if they come first).
  cp -L /usr/lib/x86_64-linux-gnu/libcrypto.so.3 /usr/lib/x86_64-linux-gnu/libz.so.1 "$DEPS/lib/"
  ln -s libcrypto.so.3 "$DEPS/lib/libcrypto.so"
  ln -s libz.so.1 "$DEPS/lib/libz.so"
  { git -C "$ROOT" rev-parse HEAD
    echo "uncommitted files: $(git -C "$ROOT" status --porcelain | wc -l)"; } > "$DEPS/commit.txt"
  echo "gpu_check.sh --prepare: $(du -sh "$DEPS" | cut -f1) in $DEPS ($(find "$DEPS" -type f | wc -l) files)"
  exit 0
fi

# ---------------------------------------------------------------------------------------------
# The check.
OUT=${OUT:-$ROOT/gpu-check-out}
mkdir -p "$OUT"
BUILD=${BUILD:-$ROOT/build-gpu}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
WORK=$BUILD/check  # intermediate files; only summary.json, tables.md and the log go to $OUT
rm -rf "$WORK"
mkdir -p "$WORK"
START=$(date +%s)
STEPS=$WORK/steps.jsonl
: > "$STEPS"
cd "$ROOT" || exit 1
export ROOT DEPS DEVICE BUILD JOBS TOLERANCE WORK

# step NAME FUNCTION: runs the function (in its own bash, under what is left of the deadline);
# records its status and seconds.
step() {
  local name=$1 t0 left rc status
  t0=$(date +%s)
  left=$((DEADLINE - (t0 - START)))
  if [ $left -lt 20 ]; then
    echo "=== $name: skipped (the ${DEADLINE} s deadline is spent)"
    echo "{\"step\": \"$name\", \"status\": \"skipped\", \"seconds\": 0}" >> "$STEPS"
    return 1
  fi
  echo "=== $name ($((t0 - START)) s in, $left s left)"
  timeout --kill-after=5 $left bash -c "$2"
  rc=$?
  case $rc in 0) status=ok ;; 124|137) status="stopped at the deadline" ;; *) status="failed ($rc)" ;; esac
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"seconds\": $(($(date +%s) - t0))}" >> "$STEPS"
  [ $rc = 0 ] || echo "=== $name: $status"
  return $rc
}

# A python3 with torch: the machine's python3, else Debian's (the dry run here).
PYTHON=${PYTHON:-python3}
$PYTHON -c 'import torch' 2>/dev/null || PYTHON=/usr/bin/python3
export PYTHON PYTHONUNBUFFERED=1

environment() {
  echo "date: $(date -u +%FT%TZ)  host cores: $(nproc)  device: $DEVICE"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  command -v nvcc >/dev/null && nvcc --version | tail -2
  c++ --version | head -1
  cmake --version | head -1
  $PYTHON -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available(), "cudnn", torch.backends.cudnn.version())'
  [ -f "$DEPS/commit.txt" ] && echo "toolkit commit (prepared): $(head -1 "$DEPS/commit.txt")"
  if [ ! -d "$DEPS/include/nlohmann" ]; then
    echo "no $DEPS: run scripts/gpu_check.sh --prepare on a machine with the project's packages, and carry .gpu-deps"
    return 1
  fi
  if [ "$DEVICE" != cpu ] && ! $PYTHON -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "torch sees no CUDA device"
    return 1
  fi
}

configure_and_build() {
  local prefix std=17 args=()
  prefix=$($PYTHON -c 'import torch; print(torch.utils.cmake_prefix_path)')
  [ -d "$prefix/Torch" ] || prefix=""  # Debian's LibTorch is found without it
  # LibTorch >= 2.12 needs C++20.
  $PYTHON -c 'import torch, sys; v = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]); sys.exit(0 if v >= (2, 12) else 1)' && std=20
  if [ "$DEVICE" != cpu ] && command -v nvcc >/dev/null; then
    args+=(-DCMAKE_CUDA_COMPILER="$(command -v nvcc)" -DCMAKE_CUDA_ARCHITECTURES=90)
    export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  fi
  # CMake 4 (pip's) refuses package files that ask for policies older than 3.5; this lets them be.
  export CMAKE_POLICY_VERSION_MINIMUM=3.5
  # .gpu-deps/ first in every search, so that its headers and libraries are the ones used.
  cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DBAGNET_MINIMAL=ON \
    -DBAGNET_CXX_STANDARD=$std -DCMAKE_PREFIX_PATH="$DEPS;$prefix" -DOPENSSL_ROOT_DIR="$DEPS" \
    -DZLIB_ROOT="$DEPS" -DCMAKE_INCLUDE_PATH="$DEPS/include" -DCMAKE_LIBRARY_PATH="$DEPS/lib" \
    -Wno-dev "${args[@]}" || return 1
  grep -E '^(Torch_DIR|nlohmann_json_DIR|CLI11_DIR|OPENSSL_INCLUDE_DIR|OPENSSL_CRYPTO_LIBRARY|ZLIB_INCLUDE_DIR|ZLIB_LIBRARY_RELEASE|CMAKE_CXX_STANDARD|BAGNET_CXX_STANDARD)[:=]' \
    "$BUILD/CMakeCache.txt"
  ninja -C "$BUILD" -j "$JOBS" bagnet-bench || return 1
  # Which copies of the carried libraries the build used (none may come from /usr/include).
  local leaked
  leaked=$(ninja -C "$BUILD" -t deps | grep -E '^ +/usr/include/(nlohmann|CLI|openssl|zlib\.h|zconf\.h)' | sort -u)
  if [ -n "$leaked" ]; then
    echo "headers taken from the system instead of .gpu-deps:"
    echo "$leaked" | head
    [ "$DEVICE" = cpu ] && return 1  # the dry run exists to show that .gpu-deps/ is enough
  else
    echo "headers: nlohmann-json, CLI11, OpenSSL and zlib all from .gpu-deps/"
  fi
  ldd "$BUILD/bagnet-bench" | grep -E 'libcrypto|libz\.|libtorch|libc10' || true
  # The CUDA backend registers itself when libtorch_cuda is loaded (LibTorch's CMake links it
  # with --no-as-needed); without it CUDA looks unavailable and the parity step says so.
  if [ "$DEVICE" != cpu ] && ! ldd "$BUILD/bagnet-bench" | grep -q libtorch_cuda; then
    echo "warning: bagnet-bench does not load libtorch_cuda"
  fi
}

# Weights shared by the toolkit and PyTorch: bench_forward.py's random ones (BagNet BatchNorm
# statistics calibrated, so that activations stay in range), made on this machine.
make_weights() {
  mkdir -p "$WORK/weights"
  $PYTHON - "$WORK/weights" <<'EOF' || return 1
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "scripts"))
sys.path.insert(0, os.path.join(os.getcwd(), "tests", "python"))
import bench_forward
paths = bench_forward.make_weights(sys.argv[1])
print(" ".join(sorted(paths)))
EOF
  # The toolkit must read what this torch version writes; else the checks use seeded random
  # weights (same on both devices) and say so.
  if "$BUILD/bagnet-bench" --model bagnet9 --weights "$WORK/weights/bagnet9.pt" --batch 1 --size 64 --iters 1 \
    --warmup 0 --threads 0 > /dev/null; then
    touch "$WORK/weights/readable"
  else
    echo "bagnet-bench cannot read weights saved by this torch: the toolkit uses seeded random weights instead"
  fi
}
weights_for() { [ -f "$WORK/weights/readable" ] && echo "--weights $WORK/weights/$1.pt"; }

parity() {
  local rc=0 m batch=8 size=224
  for m in bagnet9 bagnet17 bagnet33 resnet50; do
    # shellcheck disable=SC2046
    "$BUILD/bagnet-bench" --model $m $(weights_for $m) --parity-device "$DEVICE" --batch $batch --size $size \
      --threads 0 --tolerance $TOLERANCE | tee -a "$WORK/parity.jsonl" || rc=1
  done
  for a in phases atrous; do
    # shellcheck disable=SC2046
    "$BUILD/bagnet-bench" --model bagnet33 $(weights_for bagnet33) --parity-device "$DEVICE" --mode dense \
      --dense-algorithm $a --stride 1 --classes 10 --batch 1 --size 96 --threads 0 --tolerance $TOLERANCE |
      tee -a "$WORK/parity.jsonl" || rc=1
  done
  return $rc
}

# Classification: the toolkit and PyTorch eager, same weights, one run (bench_forward.py).
forward_bench() {
  if [ "$DEVICE" = cpu ]; then  # the dry run: the path, not the figures
    $PYTHON scripts/bench_forward.py --build "$BUILD" --device cpu --batches 1 --models bagnet9 --iters 1 \
      --warmup 0 --json-out "$WORK/forward.json"
  else
    $PYTHON scripts/bench_forward.py --build "$BUILD" --device "$DEVICE" --batches 1 8 64 --iters 20 --warmup 5 \
      --json-out "$WORK/forward.json"
  fi
}

# Dense stride-1 maps: bagnet-bench --mode dense (both algorithms; 1 and 10 classes) and
# bench_heatmap.py's PyTorch a-trous version, same weights.
dense_bench() {
  local size=224 iters=5 models="9 17 33" q a k rc=0
  [ "$DEVICE" = cpu ] && { size=48; iters=1; models="9"; }
  for q in $models; do
    for a in phases atrous; do
      for k in 1 10; do
        # shellcheck disable=SC2046
        "$BUILD/bagnet-bench" --model bagnet$q $(weights_for bagnet$q) --device "$DEVICE" --mode dense \
          --dense-algorithm $a --stride 1 --classes $k --batch 1 --size $size --iters $iters --warmup 1 \
          --threads 0 | tee -a "$WORK/dense.jsonl" || rc=1
      done
    done
  done
  # shellcheck disable=SC2086
  $PYTHON scripts/bench_heatmap.py --pytorch-only --weights-dir "$WORK/weights" --device "$DEVICE" \
    --sizes $size --models $models --iters $iters --json-out "$WORK/pytorch_dense.json" || rc=1
  return $rc
}

summary() {
  $PYTHON - "$WORK" "$OUT" "$DEVICE" "$DEPS" "$TOLERANCE" "$DEADLINE" <<'EOF'
import json, os, platform, subprocess, sys, time
work, out, device, deps, tol, deadline = sys.argv[1:7]

def jsonl(name):
    p = os.path.join(work, name)
    return [json.loads(l) for l in open(p) if l.strip().startswith("{")] if os.path.exists(p) else []

def load(name):
    p = os.path.join(work, name)
    return json.load(open(p)) if os.path.exists(p) else None

import torch
machine = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "cores": os.cpu_count(), "device": device}
if torch.cuda.is_available():
    machine["gpu"] = torch.cuda.get_device_name(0)
commit = os.path.join(deps, "commit.txt")
steps, parity, dense = jsonl("steps.jsonl"), jsonl("parity.jsonl"), jsonl("dense.jsonl")
forward, py_dense = load("forward.json"), load("pytorch_dense.json")
parity_ok = bool(parity) and len(parity) == 6 and all(r["within_tolerance"] for r in parity)
ok = all(s["status"] == "ok" for s in steps) and parity_ok
lines = ["# GPU check, %s, %s" % (machine.get("gpu", device), time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())), "",
         "torch %s (CUDA %s), %s cores; toolkit commit %s" % (
             machine["torch"], machine["cuda"], machine["cores"],
             open(commit).readline().strip()[:12] if os.path.exists(commit) else "unknown"), "",
         "## Parity: %s against the CPU (TF32 off), same weights and inputs; tolerance %s of the largest |output|" % (
             device, tol), "",
         "| model | output | batch | size | max abs diff | largest abs | relative | within |", "|---|---|---|---|---|---|---|---|"]
for r in parity:
    what = "logits" if r["mode"] == "pooled" else "%s map s=%d, %d cl. (%s)" % (r["mode"], r.get("stride", 0), r.get("classes", 0), r.get("dense_algorithm", ""))
    lines.append("| %s | %s | %d | %d | %.2e | %.3g | %.2e | %s |" % (r["model"], what, r["batch"], r["size"],
                 r["max_abs_diff"], r["reference_max_abs"], r["max_rel_diff"], "yes" if r["within_tolerance"] else "**NO**"))
if parity:
    lines.append("")
    lines.append("TF32 (acts on CUDA only): cuBLAS %s, cuDNN %s" % (parity[0]["tf32_cublas"], parity[0]["tf32_cudnn"]))
if forward:
    lines += ["", "## Classification (ms per batch, median; PyTorch eager, channels-last, TorchScript frozen + "
              "optimize_for_inference, and the toolkit; same weights, one run)", "",
              "| model | batch | PyTorch | PyTorch channels-last | PyTorch TorchScript | toolkit | toolkit eager "
              "| toolkit / channels-last | toolkit / TorchScript |", "|---|---|---|---|---|---|---|---|---|"]
    for r in forward["rows"]:
        lines.append("| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2fx | %.2fx |" % (
            r["model"], r["batch"], r["torch"], r["torch_tuned"], r["torch_jit"], r["cpp"], r["cpp_eager"],
            r["cpp_over_tuned"], r["cpp_over_jit"]))
if dense:
    py = {(r["model"], r["size"]): r for r in (py_dense or {}).get("rows", [])}
    lines += ["", "## Dense stride-1 maps (ms per image, median; 1 / 10 classes)", "",
              "| model | size | toolkit phases | toolkit atrous | PyTorch a-trous | best toolkit / PyTorch | GMAC/s phases | GMAC/s atrous |",
              "|---|---|---|---|---|---|---|---|"]
    keys = sorted({(r["model"], r["size"]) for r in dense}, key=lambda k: (k[1], int(k[0][6:])))
    for m, s in keys:
        t = {(r["dense_algorithm"], r["classes"]): r for r in dense if r["model"] == m and r["size"] == s}
        def ms(a, k):
            return t[(a, k)]["ms_median"] if (a, k) in t else float("nan")
        p = py.get((m, s))
        p1, p10 = (p["ms_1"], p["ms_10"]) if p else (float("nan"), float("nan"))
        best1, best10 = min(ms("phases", 1), ms("atrous", 1)), min(ms("phases", 10), ms("atrous", 10))
        g = lambda a: t[(a, 1)]["gmac_per_s"] if (a, 1) in t else float("nan")
        lines.append("| %s | %d | %.1f / %.1f | %.1f / %.1f | %.1f / %.1f | %.2fx / %.2fx | %.0f | %.0f |" % (
            m, s, ms("phases", 1), ms("phases", 10), ms("atrous", 1), ms("atrous", 10), p1, p10,
            best1 / p1, best10 / p10, g("phases"), g("atrous")))
    if py_dense:
        lines += ["", "PyTorch a-trous against the per-patch definition, worst relative error: %.1e" % max(
            max(r["rel_err_1"], r["rel_err_10"]) for r in py_dense["rows"])]
lines += ["", "## Steps", ""] + ["- %s: %s (%d s)" % (s["step"], s["status"], s["seconds"]) for s in steps]
lines += ["", "GPU CHECK: %s" % ("PASS" if ok else "FAIL")]
open(os.path.join(out, "tables.md"), "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
json.dump({"ok": ok, "parity_ok": parity_ok, "tolerance": float(tol), "deadline_s": int(deadline), "machine": machine,
           "commit": open(commit).read().strip() if os.path.exists(commit) else None, "steps": steps,
           "parity": parity, "forward": forward, "dense": dense, "pytorch_dense": py_dense},
          open(os.path.join(out, "summary.json"), "w"), indent=1)
sys.exit(0 if ok else 1)
EOF
}

export -f environment configure_and_build make_weights weights_for parity forward_bench dense_bench
main() {
  step environment environment &&
    step build configure_and_build &&
    step weights make_weights &&
    { step parity parity
      step forward_bench forward_bench
      step dense_bench dense_bench; }
  summary
  local rc=$?
  echo "=== done in $(($(date +%s) - START)) s; results in $OUT"
  return $rc
}
main 2>&1 | tee "$OUT/gpu_check.log"
exit "${PIPESTATUS[0]}"
