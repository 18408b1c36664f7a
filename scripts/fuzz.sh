#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang++-14 (ASan + UBSan) and runs them.
#   scripts/fuzz.sh TARGET|all SECONDS
# Targets: pickle checkpoint image npy idx trials_csv list results registry mapping.
# Build in $BAGNET_FUZZ_BUILD (default build-fuzz/); the corpus grows in <build>/corpus/<target>,
# seeds are written by tests/fuzz/make_seeds.py, crashing inputs land in <build>/artifacts/.
# A failure is: a sanitizer report, an exception other than bagnet::Error, an abort, more than
# 10 s on one input or more than 4 GB of memory. Prints executions per target; exits 1 on any.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${BAGNET_FUZZ_BUILD:-$root/build-fuzz}"
all=(pickle checkpoint image npy idx trials_csv list results registry mapping)
if [ $# -ne 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET|all SECONDS   (targets: ${all[*]})" >&2
  exit 2
fi
if [ "$1" = all ]; then targets=("${all[@]}"); else targets=("$1"); fi
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (${all[*]})" >&2; exit 2; }
done
command -v clang++-14 >/dev/null || { echo "fuzz: clang++-14 not found (scripts/setup.sh installs it)" >&2; exit 2; }

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Release \
  -DBAGNET_FUZZ=ON >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 1; }
cmake --build "$build" --target fuzz_seeds $(printf 'fuzz_%s ' "${targets[@]}") >&2

status=0
printf '%-12s %12s %8s %s\n' target executions seconds result
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  mkdir -p "$corpus" "$build/artifacts"
  log="$build/fuzz_$t.log"
  set +e
  "$build/tests/fuzz/fuzz_$t" -max_total_time="$2" -timeout=10 -rss_limit_mb=4096 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$build/artifacts/$t-" "$corpus" "$build/seeds/$t" >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -1)
  if [ -z "$secs" ]; then  # stopped by a failure: no "Done" line; executions / rate
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    [ -n "${execs:-}" ] && [ "${rate:-0}" -gt 0 ] && secs=$((execs / rate))
  fi
  if [ $rc -eq 0 ]; then
    result=ok
  else
    result="FAILED (exit $rc; log $log; input in $build/artifacts/)"
    status=1
    grep -E "ERROR:|SUMMARY:|runtime error|uncaught|Test unit written" "$log" | head -5 >&2 || true
  fi
  printf '%-12s %12s %8s %s\n' "$t" "${execs:-?}" "${secs:-?}" "$result"
done
exit $status
