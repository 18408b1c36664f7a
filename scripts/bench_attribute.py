#!/usr/bin/python3
"""Attribution speed: each method's time per 224x224 image in bagnet-attribute against the same
method written plainly in PyTorch (/usr/bin/python3), on the same random weights (the test
fixtures of tests/python/make_fixtures.py), ResNet-50 and BagNet-33, in one run, the two
contenders alternating method by method. Also: occlusion on a BagNet by re-running the network
per window ("full") against re-running only the patches a window touches ("local"), and the peak
memory (RSS, /usr/bin/time -v) of Integrated Gradients at 224 with its default 50 steps.

    /usr/bin/python3 scripts/bench_attribute.py [--build build] [--threads 2] [--json out.json]

Every timing: one warm-up (a saliency map), then --iters timed runs of the method (median), in a
fresh process.
IG steps and SmoothGrad samples are kept modest (--steps, --samples) so that the run finishes on
a small machine; both sides always use the same numbers. Run it `nice`d when others share the
machine, and say so with the figures ("under load").
"""
import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

PY_WORKER = r"""
import json, sys, time
import numpy as np, torch, torch.nn.functional as F, torchvision
sys.path.insert(0, sys.argv[1])
import bagnet_reference as ref
model, weights, threads, method = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
steps, samples, window, stride, batch = (int(v) for v in sys.argv[6:11])
iters = int(sys.argv[11])
torch.set_num_threads(threads)
sd = torch.load(weights)
target = 0
if model == "resnet50":
    net = torchvision.models.resnet50(); net.load_state_dict(sd); net.eval()
    for p in net.parameters(): p.requires_grad_(False)
    fwd = net
    def features_and_logits(x):  # Grad-CAM's layer4 through a forward hook, as pytorch-grad-cam
        store = {}
        h = net.layer4.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
        y = net(x); h.remove()
        return store["a"], y
else:
    q = int(model[len("bagnet"):])
    fwd = lambda x: ref.pooled_logits(sd, x, q)
    def features_and_logits(x):
        f = ref.features(sd, x, q)
        return f, F.linear(f.mean(dim=(2, 3)), sd["fc.weight"], sd["fc.bias"])

def grad(x):
    x = x.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(fwd(x)[:, target].sum(), x)
    return g

def saliency(x): return grad(x)
def input_x_gradient(x): return x * grad(x)
def integrated_gradients(x):
    b = torch.zeros_like(x)
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    alphas, weights = (nodes + 1) / 2, weights / 2
    total = torch.zeros_like(x)
    for s in range(0, steps, batch):
        a = torch.tensor(alphas[s:s + batch], dtype=x.dtype).view(-1, 1, 1, 1)
        w = torch.tensor(weights[s:s + batch], dtype=x.dtype).view(-1, 1, 1, 1)
        total += (grad(b + a * (x - b)) * w).sum(0, keepdim=True)
    return (x - b) * total
def smoothgrad(x):
    sigma = 0.15 * (x.max() - x.min()).item()
    g = torch.Generator().manual_seed(0)
    total = torch.zeros_like(x)
    for s in range(0, samples, batch):
        n = min(batch, samples - s)
        total += grad(x + sigma * torch.normal(0.0, 1.0, size=(n,) + tuple(x.shape[1:]), generator=g)).sum(0, keepdim=True)
    return total / samples
def grad_cam(x):
    a, y = features_and_logits(x.detach().requires_grad_(True))
    (g,) = torch.autograd.grad(y[:, target].sum(), a)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    return F.interpolate(cam.detach(), size=x.shape[2:], mode="bilinear", align_corners=False)
def occlusion(x):
    h, w = x.shape[2:]
    def starts(n):
        s = list(range(0, n - window + 1, stride))
        if s[-1] + window < n: s.append(n - window)
        return s
    wins = [(r, c) for r in starts(h) for c in starts(w)]
    with torch.no_grad():
        f = fwd(x)[0, target].item()
        total = torch.zeros(h, w); count = torch.zeros(h, w)
        for s in range(0, len(wins), 32):
            chunk = wins[s:s + 32]
            xs = x.repeat(len(chunk), 1, 1, 1)
            for k, (r, c) in enumerate(chunk): xs[k, :, r:r + window, c:c + window] = 0
            y = fwd(xs)[:, target]
            for k, (r, c) in enumerate(chunk):
                total[r:r + window, c:c + window] += (f - y[k].item()) / (window * window)
                count[r:r + window, c:c + window] += 1
    return total / count

torch.manual_seed(0)
x = torch.randn(1, 3, 224, 224)
saliency(x)  # warm-up, as the toolkit's --speed
times = []
for _ in range(iters):
    t0 = time.perf_counter(); globals()[method](x); times.append(time.perf_counter() - t0)
print(json.dumps({"seconds": sorted(times)[len(times) // 2]}))
"""


def run_cpp(build, model, weights, threads, method, args, algorithm="auto"):
    cmd = [os.path.join(build, "bagnet-attribute"), "-m", model, "-w", weights, "-t", str(threads), "--speed",
           "--bench-size", "224", "--bench-iters", str(args.iters), "--method", method, "--steps", str(args.steps),
           "--samples", str(args.samples), "--window", str(args.window), "--stride", str(args.stride),
           "--batch", str(args.batch), "--occlusion-algorithm", algorithm]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out)["seconds"][method]


def run_python(model, weights, threads, method, args):
    cmd = ["/usr/bin/python3", "-c", PY_WORKER, os.path.join(ROOT, "tests", "python"), model, weights,
           str(threads), method, str(args.steps), str(args.samples), str(args.window), str(args.stride),
           str(args.batch), str(args.iters)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])["seconds"]


def peak_rss_mb(cmd, env=None):
    r = subprocess.run(["/usr/bin/time", "-v"] + cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    return int(m.group(1)) / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default=os.path.join(ROOT, "build"))
    p.add_argument("--fixtures", default=None, help="default: BUILD/fixtures (ctest's make_fixtures)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=16, help="Integrated Gradients path points")
    p.add_argument("--samples", type=int, default=8, help="SmoothGrad samples")
    p.add_argument("--window", type=int, default=56)
    p.add_argument("--stride", type=int, default=28)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--iters", type=int, default=1, help="timed runs after the warm-up (median; both sides)")
    p.add_argument("--models", nargs="+", default=["resnet50", "bagnet33"])
    p.add_argument("--methods", nargs="+", default=["saliency", "input_x_gradient", "integrated_gradients",
                                                     "smoothgrad", "grad_cam", "occlusion"])
    p.add_argument("--no-memory", action="store_true", help="skip the Integrated Gradients RSS measurement")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    fixtures = args.fixtures or os.path.join(args.build, "fixtures")
    rows, results = [], {"options": vars(args), "times": {}, "memory": {}}
    for model in args.models:
        weights = os.path.join(fixtures, model + ".pt")
        if not os.path.exists(weights):
            sys.exit("%s missing: run ctest -R make_fixtures (or tests/python/make_fixtures.py %s)" % (weights, fixtures))
        for method in args.methods:
            cpp = run_cpp(args.build, model, weights, args.threads, method, args,
                          "full" if method == "occlusion" else "auto")
            py = run_python(model, weights, args.threads, method, args)
            rows.append((model, method, cpp, py))
            results["times"]["%s/%s" % (model, method)] = {"toolkit_s": cpp, "pytorch_s": py}
            print("%-9s %-22s toolkit %8.3f s   PyTorch %8.3f s   PyTorch/toolkit %.2f" % (model, method, cpp, py, py / cpp),
                  file=sys.stderr, flush=True)
            if method == "occlusion" and model.startswith("bagnet"):
                local = run_cpp(args.build, model, weights, args.threads, method, args, "local")
                results["times"]["%s/occlusion_local" % model] = {"toolkit_s": local, "full_s": cpp}
                rows.append((model, "occlusion (local, exact)", local, py))
                print("%-9s occlusion local        toolkit %8.3f s   (full %.3f s: %.1fx faster)" % (model, local, cpp, cpp / local),
                      file=sys.stderr, flush=True)
    if not args.no_memory:
        for model in args.models:
            weights = os.path.join(fixtures, model + ".pt")
            cmd = [os.path.join(args.build, "bagnet-attribute"), "-m", model, "-w", weights, "-t", str(args.threads),
                   "--speed", "--bench-iters", "1", "--method", "integrated_gradients", "--steps", "50",
                   "--batch", str(args.batch)]
            results["memory"][model] = {"toolkit_peak_rss_mb": peak_rss_mb(cmd)}
            print("%-9s IG 50 steps at 224: peak RSS %.0f MB (internal batch %d)" %
                  (model, results["memory"][model]["toolkit_peak_rss_mb"], args.batch), file=sys.stderr, flush=True)
    print("| model | method | bagnet-attribute (s) | PyTorch (s) | PyTorch / toolkit |")
    print("|---|---|---|---|---|")
    for model, method, cpp, py in rows:
        print("| %s | %s | %.3f | %.3f | %.2f |" % (model, method, cpp, py, py / cpp))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
