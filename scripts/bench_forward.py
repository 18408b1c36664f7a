#!/usr/bin/python3
"""Forward-pass benchmark: the toolkit (bagnet-bench) against PyTorch in /usr/bin/python3, on
the same random weights and thread count, in one run. Prints a table and the ratios.

    /usr/bin/python3 scripts/bench_forward.py [--build build] [--threads 2] [--iters 10]
        [--device cuda] [--batches 1 8 64] [--json-out rows.json] [--precision bf16]

PyTorch is timed three ways: as it runs by default ("torch"); tuned eager ("tuned": glibc's
mmap/trim thresholds raised through MALLOC_MMAP_THRESHOLD_/MALLOC_TRIM_THRESHOLD_, as the toolkit
does with mallopt, and channels-last weights and input); and tuned TorchScript ("jit": the tuned version traced, torch.jit.freeze'd and passed through
torch.jit.optimize_for_inference, which folds BatchNorm into the convolutions; three warm-up
passes for the profiling executor). The BagNets run as the reference functional network of
tests/python/bagnet_reference.py wrapped in an nn.Module whose buffers are the weights (so
freezing sees them), ResNet-50 as torchvision's module.
The toolkit is timed twice: its eager LibTorch network ("C++ eager", channels-last, BatchNorm
folded) and the engine the tools use by default ("C++": on the CPU the oneDNN engine,
inference/onednn.h; on CUDA eager).
On CUDA (--device cuda, scripts/gpu_check.sh) the malloc thresholds are not raised (host memory is
not where the activations live), and each timed pass ends with torch.cuda.synchronize.

--precision bf16 casts every PyTorch variant (module and input) to bfloat16 and times the
toolkit's engine with --precision bf16 (inference/onednn.h); the toolkit's eager network has no
bf16 mode, so its column is left empty.

--rounds R (default 1) times every variant R times, round after round, each round in one order:
on a shared machine whose speed drifts by 10-30% over minutes (measured on the cloud VMs this
project runs on), a ratio of two runs minutes apart measures the drift as much as the code. The
table then gives each variant's median over the rounds, and each ratio as the median of the R
ratios measured within a round, with their range.
"""
import argparse
import json
import os
import subprocess
import sys
from statistics import median
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
dev, batches = torch.device(sys.argv[7]), [int(b) for b in sys.argv[8].split(",")]
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as the toolkit
torch.backends.cudnn.benchmark = True
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
torch.set_num_threads(threads)
variant = sys.argv[9]  # eager, tuned (channels-last) or jit (tuned + trace, freeze, optimize_for_inference)
dtype = torch.bfloat16 if sys.argv[10] == "bf16" else torch.float32  # --precision
sd = {k: v.to(dev) for k, v in torch.load(weights).items()}
class BagNet(torch.nn.Module):  # the reference functional network; its weights as buffers
    def __init__(self, sd, q):
        super().__init__()
        self.q, self.keys = q, list(sd)
        for i, k in enumerate(self.keys): self.register_buffer("w%d" % i, sd[k])
    def forward(self, x):
        return ref.pooled_logits({k: getattr(self, "w%d" % i) for i, k in enumerate(self.keys)}, x, self.q)
if model == "resnet50":
    net = torchvision.models.resnet50(); net.load_state_dict(sd)
else:
    net = BagNet(sd, int(model[len("bagnet"):]))
net.eval(); net.to(dev)
cl = torch.channels_last if variant != "eager" else torch.contiguous_format
if variant != "eager":
    net = net.to(memory_format=torch.channels_last)
net = net.to(dtype)
fwd = net
for b in batches:
    x = torch.randn(b, 3, 224, 224).to(dev).to(dtype).contiguous(memory_format=cl)
    ms = []
    with torch.no_grad():
        if variant == "jit":
            fwd = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, x).eval()))
            for _ in range(3): fwd(x)  # the profiling executor specialises on these
        for i in range(warmup + iters):
            t0 = time.perf_counter(); fwd(x); sync(); t1 = time.perf_counter()
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


def run_python(model, weights, threads, iters, warmup, tuned_malloc, device="cpu", batches=(1, 8),
               variant="eager", precision="fp32"):
    env = dict(os.environ)
    if tuned_malloc:
        env["MALLOC_MMAP_THRESHOLD_"] = str(1 << 30)
        env["MALLOC_TRIM_THRESHOLD_"] = str(1 << 30)
    out = subprocess.run([sys.executable, "-c", PY_WORKER, os.path.join(ROOT, "tests", "python"), model, weights,
                          str(threads), str(iters), str(warmup), device, ",".join(map(str, batches)), variant, precision],
                         env=env,
                         check=True, capture_output=True, text=True)
    return {r["batch"]: r["ms_median"] for r in map(json.loads, out.stdout.split("\n")[:-1])}


def run_cpp(bench, model, weights, threads, iters, warmup, extra=(), device="cpu", batches=(1, 8)):
    out = subprocess.run([bench, "--model", model, "--weights", weights, "--threads", str(threads), "--iters",
                          str(iters), "--warmup", str(warmup), "--device", device, "--batch", *map(str, batches),
                          *extra],
                         check=True, capture_output=True, text=True)
    return {r["batch"]: r["ms_median"] for r in map(json.loads, out.stdout.split("\n")[:-1])}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--models", nargs="+", default=["bagnet9", "bagnet17", "bagnet33", "resnet50"])
    ap.add_argument("--device", default="cpu", help="cpu or cuda (both sides)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--rounds", type=int, default=1, help="time every variant this many times, interleaved")
    ap.add_argument("--json-out", help="also write the rows here as JSON objects")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: every PyTorch variant in bfloat16 (module and input cast) against the toolkit's "
                         "oneDNN engine with --precision bf16; the C++ eager column is skipped (fp32 only)")
    args = ap.parse_args()
    if args.precision != "fp32" and args.device != "cpu":
        ap.error("--precision bf16 is for the cpu")
    cpu = args.device == "cpu"
    bench = os.path.join(args.build, "bagnet-bench")
    print("forward pass, 224x224, %s, %s, %d threads, median of %d (ms per batch), %d round(s)" % (
        args.device, args.precision, args.threads, args.iters, args.rounds))
    header = ("model", "batch", "torch", "tuned", "jit", "C++ eager", "C++", "C++/tuned", "C++/jit")
    print("%-9s %5s %9s %9s %9s %10s %9s %9s %9s" % header)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        weights = make_weights(d)
        for m in args.models:
            common = (args.threads, args.iters, args.warmup)
            dev = dict(device=args.device, batches=args.batches)
            py_dev = dict(dev, precision=args.precision)
            bf16 = args.precision == "bf16"
            rounds = []  # per round: torch, tuned, jit, C++ eager, C++ ({batch: ms} each)
            for r in range(args.rounds):
                py = run_python(m, weights[m], *common, False, **py_dev)
                py_tuned = run_python(m, weights[m], *common, cpu, variant="tuned", **py_dev)
                py_jit = run_python(m, weights[m], *common, cpu, variant="jit", **py_dev)
                cpp_eager = ({b: float("nan") for b in args.batches} if bf16 else
                             run_cpp(bench, m, weights[m], *common, **dev))
                cpp = (run_cpp(bench, m, weights[m], *common, ["--engine", "onednn", "--precision", args.precision],
                               **dev) if cpu else cpp_eager)
                rounds.append((py, py_tuned, py_jit, cpp_eager, cpp))
            for b in args.batches:
                t = [median([rd[v][b] for rd in rounds]) for v in range(5)]
                over_tuned = [rd[4][b] / rd[1][b] for rd in rounds]
                over_jit = [rd[4][b] / rd[2][b] for rd in rounds]
                row = (m, b, *t, median(over_tuned), median(over_jit))
                rows.append(row)
                spread = "" if args.rounds == 1 else "   (rounds: %.2f-%.2fx, %.2f-%.2fx)" % (
                    min(over_tuned), max(over_tuned), min(over_jit), max(over_jit))
                print("%-9s %5d %9.1f %9.1f %9.1f %10.1f %9.1f %8.2fx %8.2fx" % row + spread, flush=True)
    print(json.dumps({"rows": rows, "threads": args.threads, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}))
    if args.json_out:
        keys = ("model", "batch", "torch", "torch_tuned", "torch_jit", "cpp_eager", "cpp", "cpp_over_tuned",
                "cpp_over_jit")
        with open(args.json_out, "w") as f:
            json.dump({"device": args.device, "precision": args.precision, "threads": args.threads, "iters": args.iters, "rounds": args.rounds,
                       "rows": [{k: None if v != v else v for k, v in zip(keys, r)} for r in rows]}, f, indent=1)


if __name__ == "__main__":
    main()
