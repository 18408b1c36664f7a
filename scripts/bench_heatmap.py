#!/usr/bin/python3
"""Class-evidence map benchmark (not a test), in one run on the same random weights:

1. `bagnet-heatmap --benchmark` for BagNet-9/17/33 on a random image: classification, the
   stride-8 map, stride-1 maps by the dense methods (phases, atrous on eager LibTorch, atrous on
   the oneDNN engine that the tool uses by default; 1 and 10 classes), the
   per-patch method (timed on --patch-rows rows of positions and scaled), and GMAC/s against
   a large matrix product and against classification (the convolution kernels' practical
   ceiling here).
2. The same stride-1 maps (1 and 10 classes) by a tuned PyTorch script, the version a
   researcher would write: the official network run "a trous" (every stride turned into a
   dilation of the later convolutions, residual cropped to the output's top-left), BatchNorm
   folded into the convolutions, channels-last, raised malloc thresholds, fc rows for the
   requested classes only. Checked against the per-patch definition on a few positions.

    /usr/bin/python3 scripts/bench_heatmap.py [--build build] [--threads 0] [--iters 3] [--sizes 224 96]

--atrous-only --rounds R times only the comparison the speed target is about: the toolkit's
stride-1 map on its default engine (bagnet-bench --mode dense --dense-algorithm atrous --engine
onednn, 1 and 10 classes) against part 2, R rounds interleaved (which side goes first alternates),
each ratio the median of the R ratios measured within a round: on a shared machine whose speed
drifts by 10-30% over minutes, that is the ratio that measures the code. With --precision bf16
both sides run in bfloat16 (the toolkit's --precision bf16; the script's folded weights, input
and activations cast), the script's error against the per-patch definition then being bf16's.

--pytorch-only runs part 2 alone (scripts/gpu_check.sh, whose minimal build has no bagnet-heatmap,
times the toolkit with bagnet-bench --mode dense); --device cuda runs both parts on the GPU
(TF32 off, torch.cuda.synchronize before each time is taken).

Weights: the test fixtures build/fixtures/bagnet{9,17,33}.pt (random, official shapes).
"""
import argparse
import importlib.util
import json
import os
import subprocess
import sys
from statistics import median

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The PyTorch side runs in this interpreter when it has torch (the GPU machine's python3), else
# in Debian's.
PYTHON = sys.executable if importlib.util.find_spec("torch") else "/usr/bin/python3"

# The PyTorch a-trous map, run in its own process (malloc thresholds are read at start-up).
PY_ATROUS = r"""
import json, sys, time, torch
import torch.nn.functional as F
sys.path.insert(0, sys.argv[1])
import bagnet_reference as ref
weights, q, size, threads, iters = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
dev = torch.device(sys.argv[7])
# --precision bf16: weights (folded in fp32 first), input and activations in bfloat16.
dt = torch.bfloat16 if sys.argv[8] == "bf16" else torch.float32
torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False  # as the toolkit
torch.backends.cudnn.benchmark = True
sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
if threads > 0:
    torch.set_num_threads(threads)
sd = {k: v.to(dev) for k, v in torch.load(weights).items()}

def fold(conv, bn):  # torch.nn.utils.fusion.fuse_conv_bn_weights with conv bias 0
    r = torch.rsqrt(sd[bn + ".running_var"] + 1e-5)
    w = (sd[conv] * (sd[bn + ".weight"] * r).reshape(-1, 1, 1, 1)).to(dt).contiguous(memory_format=torch.channels_last)
    return w, ((0 - sd[bn + ".running_mean"]) * r * sd[bn + ".weight"] + sd[bn + ".bias"]).to(dt)

layers = {"stem": (sd["conv1.weight"].to(dt).contiguous(memory_format=torch.channels_last),) + fold("conv2.weight", "bn1")}
fc_w, fc_b = sd["fc.weight"].to(dt), sd["fc.bias"].to(dt)
for s in range(4):
    for b in range(ref.BLOCKS[s]):
        p = "layer%d.%d" % (s + 1, b)
        layers[p] = [fold(p + ".conv1.weight", p + ".bn1"), fold(p + ".conv2.weight", p + ".bn2"),
                     fold(p + ".conv3.weight", p + ".bn3"),
                     fold(p + ".downsample.0.weight", p + ".downsample.1") if p + ".downsample.0.weight" in sd else None]

def features_atrous(x):
    w1, w2, b2 = layers["stem"]
    y = F.relu(F.conv2d(F.conv2d(x, w1), w2, b2))
    d = 1
    for s in range(4):
        for b in range(ref.BLOCKS[s]):
            (c1, b1), (c2, bb2), (c3, b3), ds = layers["layer%d.%d" % (s + 1, b)]
            out = F.relu(F.conv2d(y, c1, b1))
            out = F.relu(F.conv2d(out, c2, bb2, dilation=d))
            out = F.conv2d(out, c3, b3)
            res = F.conv2d(y, ds[0], ds[1]) if ds is not None else y
            y = F.relu(out + res[:, :, : out.shape[2], : out.shape[3]])  # residual cropped top-left
            if b == 0:
                d *= ref.STRIDES[s]
    return y

def atrous_map(x, classes):
    p = (q - 1) // 2
    f = features_atrous(F.pad(x.to(dt), (p, p, p, p)).contiguous(memory_format=torch.channels_last))
    return F.linear(f.permute(0, 2, 3, 1), fc_w[classes], fc_b[classes]).permute(0, 3, 1, 2).float()

torch.manual_seed(0)
x = torch.randn(1, 3, size, size).to(dev)
out = {}
with torch.no_grad():
    for k in (1, 10):
        classes = torch.arange(k, device=dev)
        m = atrous_map(x, classes)
        assert m.shape[-2:] == (size, size), m.shape
        # Exactness: a few positions against the per-patch definition, relative to the largest
        # |logit| of all classes there (one class's logit alone can be near zero).
        xp = F.pad(x, ((q - 1) // 2,) * 4)
        worst = 0.0
        for (i, j) in ((0, 0), (size // 2, size // 3), (size - 1, size - 1)):
            patch = xp[:, :, i:i + q, j:j + q]
            r = ref.pooled_logits(sd, patch, q)[0]
            worst = max(worst, float((m[0, :, i, j] - r[classes]).abs().max() / r.abs().max()))
        times = []
        for it in range(iters + 1):
            t0 = time.perf_counter()
            atrous_map(x, classes)
            sync()
            if it:
                times.append(time.perf_counter() - t0)
        out["ms_%d" % k] = sorted(times)[len(times) // 2] * 1000
        out["rel_err_%d" % k] = worst
print(json.dumps(out))
"""


def pytorch_atrous(w, q, size, threads, iters, device, env, precision="fp32"):
    out = subprocess.run([PYTHON, "-c", PY_ATROUS, os.path.join(ROOT, "tests", "python"), w, str(q), str(size),
                          str(threads), str(iters), device, precision], check=True, capture_output=True, text=True,
                         env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def toolkit_atrous(args, w, q, size, threads, classes):
    cmd = [os.path.join(args.build, "bagnet-bench"), "--model", "bagnet%d" % q, "--weights", w, "--threads",
           str(threads), "--device", args.device, "--mode", "dense", "--dense-algorithm", "atrous", "--stride", "1",
           "--classes", str(classes), "--batch", "1", "--size", str(size), "--iters", str(args.iters), "--warmup", "1"]
    if args.device == "cpu":
        cmd += ["--engine", "onednn", "--precision", args.precision]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return json.loads(out)


def atrous_only(args, weights_dir, threads, env):
    print("stride-1 maps, %s, %s, %d threads, median of %d passes, %d interleaved rounds" % (
        args.device, args.precision, threads, args.iters, args.rounds))
    print("| model | size | toolkit (1 / 10 cl.) | PyTorch a-trous (1 / 10 cl.) | toolkit / PyTorch (1 / 10 cl.) "
          "| ratio range over rounds | GMAC/s |")
    print("|" + "---|" * 7)
    rows = []
    for size in args.sizes:
        for q in args.models:
            w = os.path.join(weights_dir, "bagnet%d.pt" % q)
            rounds = []
            for r in range(args.rounds):
                def ours():
                    return [toolkit_atrous(args, w, q, size, threads, k) for k in (1, 10)]
                def theirs():
                    return pytorch_atrous(w, q, size, threads, args.iters, args.device, env, args.precision)
                if r % 2:
                    py = theirs()
                    tk = ours()
                else:
                    tk = ours()
                    py = theirs()
                rounds.append((tk, py))
            ratios = [[tk[i]["ms_median"] / py["ms_%d" % k] for tk, py in rounds] for i, k in enumerate((1, 10))]
            row = dict(model="bagnet%d" % q, size=size, device=args.device, precision=args.precision, threads=threads,
                       iters=args.iters,
                       rounds=args.rounds,
                       toolkit_ms=[median([tk[i]["ms_median"] for tk, _ in rounds]) for i in range(2)],
                       pytorch_ms=[median([py["ms_%d" % k] for _, py in rounds]) for k in (1, 10)],
                       ratio=[median(r) for r in ratios], ratio_range=[[min(r), max(r)] for r in ratios],
                       gmac_per_s=median([tk[0]["gmac_per_s"] for tk, _ in rounds]),
                       pytorch_rel_err=max(max(py["rel_err_1"], py["rel_err_10"]) for _, py in rounds))
            rows.append(row)
            print("| %s | %d | %.2f / %.2f s | %.2f / %.2f s | %.2fx / %.2fx | %.2f-%.2fx / %.2f-%.2fx | %.0f |" % (
                row["model"], size, row["toolkit_ms"][0] / 1e3, row["toolkit_ms"][1] / 1e3, row["pytorch_ms"][0] / 1e3,
                row["pytorch_ms"][1] / 1e3, row["ratio"][0], row["ratio"][1], *row["ratio_range"][0],
                *row["ratio_range"][1], row["gmac_per_s"]), flush=True)
    print("PyTorch a-trous vs per-patch definition, worst relative error: %.1e" % max(r["pytorch_rel_err"] for r in rows))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"device": args.device, "threads": threads, "rows": rows}, f, indent=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--weights-dir", default=None, help="directory with bagnet9.pt, bagnet17.pt, bagnet33.pt")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--patch-rows", type=int, default=8)
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 96])
    ap.add_argument("--models", type=int, nargs="+", default=[9, 17, 33])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pytorch-only", action="store_true", help="time the PyTorch a-trous maps alone")
    ap.add_argument("--atrous-only", action="store_true",
                    help="time the toolkit's a-trous maps (oneDNN engine) against part 2 alone, interleaved")
    ap.add_argument("--rounds", type=int, default=3, help="--atrous-only: interleaved rounds")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="--atrous-only on the CPU: both sides in this precision (bf16: the toolkit's "
                         "--precision bf16 against the PyTorch script in bfloat16)")
    ap.add_argument("--json-out", help="--pytorch-only / --atrous-only: also write the rows here")
    args = ap.parse_args()
    weights_dir = args.weights_dir or os.path.join(args.build, "fixtures")
    threads = args.threads if args.threads > 0 else os.cpu_count()
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 30))
    if args.precision != "fp32" and (not args.atrous_only or args.device != "cpu"):
        ap.error("--precision bf16 goes with --atrous-only on the cpu")
    if args.atrous_only:
        return atrous_only(args, weights_dir, threads, env)
    rows = []
    for size in args.sizes:
        for q in args.models:
            w = os.path.join(weights_dir, "bagnet%d.pt" % q)
            py = pytorch_atrous(w, q, size, threads, args.iters, args.device, env)
            if args.pytorch_only:
                rows.append(dict(py, model="bagnet%d" % q, size=size, device=args.device, iters=args.iters))
                print(json.dumps(rows[-1]), flush=True)
                continue
            cmd = [os.path.join(args.build, "bagnet-heatmap"), "--benchmark", "--model", "bagnet%d" % q,
                   "--weights", w, "--threads", str(threads), "--device", args.device, "--bench-size", str(size),
                   "--bench-iters", str(args.iters), "--bench-patch-rows", str(args.patch_rows)]
            r = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            r["pytorch_atrous"] = py
            rows.append(r)
            print(json.dumps(r), file=sys.stderr, flush=True)
    if args.pytorch_only:
        if args.json_out:
            with open(args.json_out, "w") as f:
                json.dump({"device": args.device, "threads": threads, "rows": rows}, f, indent=1)
        return
    r0 = rows[0]
    print("device %s, %d threads, median of %d" % (r0["device"], r0["threads"], r0["iters"]))
    print("| model | size | classify eager / oneDNN | map s=8 | toolkit s=1 phases (1 / 10 cl.) "
          "| toolkit s=1 atrous eager (1 / 10 cl.) | toolkit s=1 atrous oneDNN (1 / 10 cl.) "
          "| PyTorch a-trous (1 / 10 cl.) | oneDNN / PyTorch (1 / 10 cl.) | per-patch s=1 | GMAC/s phases "
          "| GMAC/s atrous eager / oneDNN | GMAC/s classify eager / oneDNN | GMAC/s 2048² matmul |")
    print("|" + "---|" * 14)
    for r in rows:
        g, p = r["gmac_per_s"], r["pytorch_atrous"]
        o1, o10 = r["onednn_atrous1_ms"] or float("nan"), r["onednn_atrous1_10_classes_ms"] or float("nan")
        print("| %s | %d | %.0f / %.0f ms | %.0f ms | %.2f / %.2f s | %.2f / %.2f s | %.2f / %.2f s | %.2f / %.2f s "
              "| %.2fx / %.2fx | %.0f s | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f |" % (
                  r["model"], r["size"], r["classify_ms"], r["onednn_classify_ms"] or float("nan"), r["map8_ms"],
                  r["dense1_ms"] / 1e3, r["dense1_10_classes_ms"] / 1e3, r["atrous1_ms"] / 1e3,
                  r["atrous1_10_classes_ms"] / 1e3, o1 / 1e3, o10 / 1e3, p["ms_1"] / 1e3, p["ms_10"] / 1e3,
                  o1 / p["ms_1"], o10 / p["ms_10"], r["patches1_ms"] / 1e3, g["dense1"], g["atrous1"],
                  g["onednn_atrous1"], g["classify"], g["onednn_classify"], g["matmul_2048"]))
    print("PyTorch a-trous vs per-patch definition, worst relative error: %.1e" % max(
        max(r["pytorch_atrous"]["rel_err_1"], r["pytorch_atrous"]["rel_err_10"]) for r in rows))


if __name__ == "__main__":
    main()
