#!/usr/bin/python3
"""Forward-pass benchmark: the toolkit (bagnet-bench) against PyTorch in /usr/bin/python3, on
the same random weights and thread count, in one run. Prints a table and the ratios.

    /usr/bin/python3 scripts/bench_forward.py [--build build] [--threads 2] [--iters 10]

PyTorch is timed twice: as it runs by default, and with glibc's mmap/trim thresholds raised
through MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_ (what the toolkit does with mallopt).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

PY_WORKER = r"""
import json, sys, time, torch, torchvision
sys.path.insert(0, sys.argv[1])
import bagnet_reference as ref
model, weights, threads, iters, warmup = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
torch.set_num_threads(threads)
sd = torch.load(weights)
if model == "resnet50":
    net = torchvision.models.resnet50(); net.load_state_dict(sd); net.eval(); fwd = net
else:
    q = int(model[len("bagnet"):]); fwd = lambda x: ref.pooled_logits(sd, x, q)
for b in (1, 8):
    x = torch.randn(b, 3, 224, 224)
    ms = []
    with torch.no_grad():
        for i in range(warmup + iters):
            t0 = time.perf_counter(); fwd(x); t1 = time.perf_counter()
            if i >= warmup: ms.append((t1 - t0) * 1000)
    ms.sort()
    print(json.dumps({"batch": b, "ms_median": ms[len(ms) // 2]}))
"""


def make_weights(d):
    import torch
    import torchvision
    import bagnet_reference as ref
    gen = torch.Generator().manual_seed(0)
    paths = {}
    for q in (9, 17, 33):
        sd = ref.random_state_dict(ref.state_dict_shapes(q), gen)
        ref.calibrate(sd, q, gen)
        paths["bagnet%d" % q] = os.path.join(d, "bagnet%d.pt" % q)
        torch.save(sd, paths["bagnet%d" % q])
    paths["resnet50"] = os.path.join(d, "resnet50.pt")
    torch.save(torchvision.models.resnet50().state_dict(), paths["resnet50"])
    return paths


def run_python(model, weights, threads, iters, warmup, tuned_malloc):
    env = dict(os.environ)
    if tuned_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 30)
        env["MALLOC_TRIM_THRESHOLD_"] = str(1 << 30)
    out = subprocess.run([sys.executable, "-c", PY_WORKER, os.path.join(ROOT, "tests", "python"), model, weights,
                          str(threads), str(iters), str(warmup)], env=env, check=True, capture_output=True, text=True)
    return {r["batch"]: r["ms_median"] for r in map(json.loads, out.stdout.split("\n")[:-1])}


def run_cpp(bench, model, weights, threads, iters, warmup, extra=()):
    out = subprocess.run([bench, "--model", model, "--weights", weights, "--threads", str(threads), "--iters",
                          str(iters), "--warmup", str(warmup), "--batch", "1", "8", *extra],
                         check=True, capture_output=True, text=True)
    return {r["batch"]: r["ms_median"] for r in map(json.loads, out.stdout.split("\n")[:-1])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["bagnet9", "bagnet17", "bagnet33", "resnet50"])
    args = ap.parse_args()
    bench = os.path.join(args.build, "bagnet-bench")
    print("forward pass, 224x224, %d threads, median of %d (ms per batch)" % (args.threads, args.iters))
    header = ("model", "batch", "torch", "torch+malloc", "C++", "C++ NCHW", "C++ dflt malloc", "torch/C++")
    print("%-9s %5s %9s %13s %9s %9s %15s %9s" % header)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        weights = make_weights(d)
        for m in args.models:
            py = run_python(m, weights[m], args.threads, args.iters, args.warmup, False)
            py_t = run_python(m, weights[m], args.threads, args.iters, args.warmup, True)
            cpp = run_cpp(bench, m, weights[m], args.threads, args.iters, args.warmup)
            cpp_cl = run_cpp(bench, m, weights[m], args.threads, args.iters, args.warmup, ["--contiguous"])
            cpp_dm = run_cpp(bench, m, weights[m], args.threads, args.iters, args.warmup, ["--default-malloc"])
            for b in (1, 8):
                row = (m, b, py[b], py_t[b], cpp[b], cpp_cl[b], cpp_dm[b], py[b] / cpp[b])
                rows.append(row)
                print("%-9s %5d %9.1f %13.1f %9.1f %9.1f %15.1f %8.2fx" % row, flush=True)
    print(json.dumps({"rows": rows, "threads": args.threads, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))


if __name__ == "__main__":
    main()
