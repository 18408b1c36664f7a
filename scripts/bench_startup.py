#!/usr/bin/python3
"""Start-up benchmark: wall time of whole processes, median of --repeat runs, in one run.

    /usr/bin/python3 scripts/bench_startup.py [--build build] [--weights W] [--repeat 5]

Rows: bagnet-models (no network, no LibTorch), bagnet-classify --help (loading LibTorch's shared
libraries and static initialisers only), single-image bagnet-classify with BagNet-33 (load,
hash and fold the weights, one forward pass), and the same job as a Python script (import
torch, torch.load, the functional BagNet of tests/python/bagnet_reference.py, one forward pass).
Weights default to the test fixture build/fixtures/bagnet33.pt (random, same shapes as the
official file). The image is a 224x224 stimulus-sized random PNG made here.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PY_JOB = r"""
import sys, torch
sys.path.insert(0, sys.argv[1])
import bagnet_reference as ref
from PIL import Image
import torchvision.transforms as T
torch.set_num_threads(int(sys.argv[4]))
sd = torch.load(sys.argv[2])
x = T.Compose([T.ToTensor(), T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])(Image.open(sys.argv[3]).convert("RGB"))
with torch.no_grad():
    p = torch.softmax(ref.pooled_logits(sd, x.unsqueeze(0), 33), 1)
print(p.topk(5).indices.tolist())
"""


def wall(cmd, repeat, env=None):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--weights", default=None)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    weights = a.weights or os.path.join(a.build, "fixtures", "bagnet33.pt")
    with tempfile.TemporaryDirectory() as d:
        import numpy as np
        from PIL import Image
        img = os.path.join(d, "one.png")
        Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(img)
        job = os.path.join(d, "job.py")
        open(job, "w").write(PY_JOB)
        env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
        b = lambda tool: os.path.join(a.build, tool)
        rows = [
            ("bagnet-models", [b("bagnet-models")], None),
            ("bagnet-classify --help (LibTorch loaded, nothing run)", [b("bagnet-classify"), "--help"], None),
            ("bagnet-classify, BagNet-33, one 224 image", [b("bagnet-classify"), "-q", "--model", "bagnet33",
                                                           "--weights", weights, "--no-resize", "--threads",
                                                           str(a.threads), img], None),
            ("python3: import torch, load, one forward pass", ["/usr/bin/python3", job,
                                                              os.path.join(ROOT, "tests", "python"), weights, img,
                                                              str(a.threads)], env),
        ]
        results = {}
        print(f"| process | median s | min s |\n|---|---|---|")
        for name, cmd, e in rows:
            med, mn = wall(cmd, a.repeat, e)
            results[name] = med
            print(f"| {name} | {med:.2f} | {mn:.2f} |", flush=True)
        c = results["bagnet-classify, BagNet-33, one 224 image"]
        p = results["python3: import torch, load, one forward pass"]
        print(f"\nbagnet-classify / python: {c / p:.2f}x (target <= 0.5x)")


if __name__ == "__main__":
    sys.exit(main())
