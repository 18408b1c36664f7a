#!/usr/bin/python3
"""Class-evidence map benchmark (not a test): for BagNet-9/17/33 on a random 224x224 image, in
one run, the time of the stride-8 map against plain classification, of the stride-1 map by the
dense method against the per-patch method, and the effective multiply-accumulates per second
against a large matrix product on the same machine (the practical ceiling).

    /usr/bin/python3 scripts/bench_heatmap.py [--build build] [--threads 0] [--iters 3]

Timings come from `bagnet-heatmap --benchmark` (random weights unless --weights-dir holds the
fixtures bagnet9.pt, ...). The per-patch stride-1 time is measured on --patch-rows rows of
positions and scaled to the whole image (its cost per patch is the same everywhere).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--weights-dir", default=None, help="directory with bagnet9.pt, bagnet17.pt, bagnet33.pt")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--patch-rows", type=int, default=8)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    weights_dir = args.weights_dir or os.path.join(args.build, "fixtures")
    rows = []
    for q in (9, 17, 33):
        cmd = [os.path.join(args.build, "bagnet-heatmap"), "--benchmark", "--model", "bagnet%d" % q,
               "--weights", os.path.join(weights_dir, "bagnet%d.pt" % q), "--threads", str(args.threads),
               "--device", args.device, "--bench-iters", str(args.iters), "--bench-patch-rows", str(args.patch_rows)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
    r0 = rows[0]
    print("device %s, %d threads, %dx%d input, median of %d" % (r0["device"], r0["threads"], r0["size"], r0["size"],
                                                                  r0["iters"]))
    print("%-9s %10s %9s %7s %12s %10s %12s %8s %9s %9s %9s" % (
        "model", "classify", "map s=8", "ratio", "map8 all-cls", "dense s=1", "patches s=1", "speedup",
        "GMAC/s d1", "GMAC/s pt", "GMAC/s mm"))
    for r in rows:
        g = r["gmac_per_s"]
        print("%-9s %8.1fms %7.1fms %7.2f %10.1fms %8.1fms %10.0fms %7.1fx %9.1f %9.1f %9.1f" % (
            r["model"], r["classify_ms"], r["map8_ms"], r["map8_ms"] / r["classify_ms"], r["map8_all_classes_ms"],
            r["dense1_ms"], r["patches1_ms"], r["patches1_ms"] / r["dense1_ms"], g["dense1"], g["patches1"],
            g["matmul_2048"]))
    json.dump(rows, sys.stderr, indent=1)
    sys.stderr.write("\n")


if __name__ == "__main__":
    main()
