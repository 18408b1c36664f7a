#!/usr/bin/env bash
# The CPU's fp32 multiply-add ceiling: what no convolution can beat on this machine. Compiles a
# loop of independent fused multiply-adds (12 chains, enough to hide the FMA latency on every
# x86 core since Haswell) for the widest vector unit the compiler sees (-march=native: AVX-512 or
# AVX2) and runs it on 1 thread and on N threads (default: all cores), best of 5 runs each.
# The benchmark tables' GMAC/s (scripts/bench_heatmap.py, DNNL_VERBOSE=1 per convolution) are
# read against this figure.
# Usage: scripts/fma_peak.sh [threads]
set -euo pipefail
threads=${1:-$(nproc)}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/peak.c" <<'C'
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __AVX512F__
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define ADD _mm512_add_ps
#define ISA "AVX-512"
#else
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define ADD _mm256_add_ps
#define ISA "AVX2"
#endif
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}
int main(int argc, char** argv) {
  const int nt = atoi(argv[1]);
  const long iters = 100000000;
  double best = 0;
  volatile float sink = 0;
  for (int run = 0; run < 5; ++run) {
    const double t0 = now();
#pragma omp parallel num_threads(nt)
    {
      vec a[12];
      for (int k = 0; k < 12; ++k) a[k] = SET1(1.0f + k * 1e-7f);
      const vec b = SET1(0.9999999f), c = SET1(1e-8f);
      for (long i = 0; i < iters; ++i)
#pragma GCC unroll 12
        for (int k = 0; k < 12; ++k) a[k] = FMA(a[k], b, c);
      vec s = a[0];
      for (int k = 1; k < 12; ++k) s = ADD(s, a[k]);
      float out[LANES];
      memcpy(out, &s, sizeof out);
#pragma omp atomic
      sink += out[0];
    }
    const double rate = nt * iters * 12.0 * LANES / (now() - t0) / 1e9;
    if (rate > best) best = rate;
  }
  printf("%s, %d thread%s: %.1f GMAC/s (fp32 multiply-adds, best of 5)\n", ISA, nt, nt == 1 ? "" : "s", best);
  return 0;
}
C
gcc -O2 -march=native -fopenmp "$dir/peak.c" -o "$dir/peak"
"$dir/peak" 1
[ "$threads" -gt 1 ] && "$dir/peak" "$threads"
exit 0
