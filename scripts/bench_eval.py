#!/usr/bin/python3
"""Dataset-evaluation benchmark: bagnet-eval against a plain PyTorch/torchvision DataLoader
pipeline (/usr/bin/python3), same random weights, batch size and thread count, in one run.
Prints a Markdown table (images/s) and writes the figures with provenance to a JSON file.

    /usr/bin/python3 scripts/bench_eval.py [--build build] [--threads N] [--batch-size 16]
        [--images 1280] [--jpeg-images 256] [--models bagnet33 resnet50] [--quick]

Datasets: (1) the cue-conflict stimuli (224x224 PNG, fed as they are: ToTensor + Normalize),
(2) JPEGs made once from them (upscaled to 350x300 / 300x350, quality 90, in WordNet-id
folders) that take the ImageNet preprocessing (Resize 256, CenterCrop 224).

bagnet-eval is timed as a subprocess (wall time, start-up included); a second run on one
batch gives the start-up cost, and from the two the images/s without it. PyTorch runs in a
subprocess per configuration and is timed over its DataLoader loop (decoding, forward pass,
softmax, top-5 and, on the cue-conflict set, the 16-class decisions, as bagnet-eval does);
its whole process wall time (interpreter, imports, model load) is reported too. Configurations:
  torch-default   DataLoader num_workers=0, NCHW, eager, glibc malloc as it comes
  torch-tuned     num_workers=W (persistent), channels_last, MALLOC_MMAP_THRESHOLD_ and
                  MALLOC_TRIM_THRESHOLD_ raised to 1 GiB (what the toolkit does with mallopt)
  torch-tuned-jit torch-tuned plus torch.jit.trace + freeze + optimize_for_inference, with two
                  warm-up batches before the timed loop (the profiling executor needs them)
  torch-malloc    (only with --configs) torch-default with the raised malloc thresholds alone
Top-1 (and 16-class decisions) of every configuration are checked against bagnet-eval's
results.jsonl; the agreement is reported (random weights, so near-ties may differ).
"""
import argparse
import ctypes
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))

# The cue-conflict stimuli as scripts/get-stimuli.sh DIR fetches them (DIR/texture-vs-shape/...).
STIMULI = os.environ.get(
    "BAGNET_STIMULI", os.path.expanduser("~/data/texture-vs-shape/stimuli/cue-conflict"))
MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]
TORCH_CONFIGS = {
    "torch-default": dict(workers=0, channels_last=False, malloc=False, jit=False),
    "torch-tuned": dict(workers=None, channels_last=True, malloc=True, jit=False),
    "torch-tuned-jit": dict(workers=None, channels_last=True, malloc=True, jit=True),
    "torch-malloc": dict(workers=0, channels_last=False, malloc=True, jit=False),  # not run by default
}
DEFAULT_CONFIGS = ["torch-default", "torch-tuned", "torch-tuned-jit"]
BIG = str(1 << 30)


# ---------------------------------------------------------------------------------------------
# PyTorch side (runs in a subprocess: python3 bench_eval.py --worker SPEC.json)

def bagnet_module(q):
    """BagNet-q as an nn.Module with the official (torchvision-style) state-dict keys, as in
    Brendel & Bethge's reference implementation: unpadded convolutions, residual cropped at
    the bottom/right, global average pool, fc. Checked against tests/python/bagnet_reference."""
    import torch.nn as nn
    import bagnet_reference as ref

    class Bottleneck(nn.Module):
        def __init__(self, cin, w, k, stride, down):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(cin, w, 1, bias=False), nn.BatchNorm2d(w)
            self.conv2, self.bn2 = nn.Conv2d(w, w, k, stride, bias=False), nn.BatchNorm2d(w)
            self.conv3, self.bn3 = nn.Conv2d(w, w * ref.EXPANSION, 1, bias=False), nn.BatchNorm2d(w * ref.EXPANSION)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if down:
                self.downsample = nn.Sequential(nn.Conv2d(cin, w * ref.EXPANSION, 1, stride, bias=False),
                                                nn.BatchNorm2d(w * ref.EXPANSION))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            res = x if self.downsample is None else self.downsample(x)
            res = res[:, :, : out.shape[2], : out.shape[3]]
            return self.relu(out + res)

    class BagNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(3, 64, 1, bias=False)
            self.conv2 = nn.Conv2d(64, 64, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            cin = 64
            for s in range(4):
                w, blocks = ref.WIDTHS[s], []
                for b in range(ref.BLOCKS[s]):
                    stride = ref.STRIDES[s] if b == 0 else 1
                    down = b == 0 and (stride != 1 or cin != w * ref.EXPANSION)
                    blocks.append(Bottleneck(cin, w, 3 if b < ref.KERNEL3[q][s] else 1, stride, down))
                    cin = w * ref.EXPANSION
                setattr(self, "layer%d" % (s + 1), nn.Sequential(*blocks))
            self.fc = nn.Linear(cin, 1000)

        def forward(self, x):
            x = self.relu(self.bn1(self.conv2(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(x.mean((2, 3)))

    return BagNet()


def build_model(name, weights):
    import torch
    import torchvision
    sd = torch.load(weights, map_location="cpu")
    net = torchvision.models.resnet50() if name == "resnet50" else bagnet_module(int(name[len("bagnet"):]))
    net.load_state_dict(sd)
    return net.eval(), sd


def worker(spec_path):
    with open(spec_path) as f:
        spec = json.load(f)
    t_enter = time.time()
    import torch
    import torchvision
    from torchvision import transforms as T
    torch.set_num_threads(spec["threads"])
    net, _ = build_model(spec["model"], spec["weights"])
    cl = torch.channels_last if spec["channels_last"] else torch.contiguous_format
    net = net.to(memory_format=cl)
    if spec["jit"]:
        with torch.no_grad():
            example = torch.randn(spec["batch_size"], 3, 224, 224).contiguous(memory_format=cl)
            net = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(net, example)))
            for _ in range(2):  # the profiling executor optimises from the third call on
                net(example)
        # Hand the warm-up's freed heap back before the DataLoader forks its workers: with the
        # raised trim threshold it would stay mapped, shared copy-on-write with the workers, and
        # every activation written in the loop would take a copy-on-write fault.
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass
    tf = [] if spec["no_resize"] else [T.Resize(256), T.CenterCrop(224)]
    ds = torchvision.datasets.ImageFolder(spec["data"], transform=T.Compose(tf + [T.ToTensor(), T.Normalize(MEAN, STD)]))
    loader = torch.utils.data.DataLoader(ds, batch_size=spec["batch_size"], shuffle=False, num_workers=spec["workers"],
                                         persistent_workers=spec["workers"] > 0)
    cats = [torch.tensor(c["indices"]) for c in spec["categories"]] if spec["sixteen_class"] else None
    tops, decisions = [], []
    t_ready = time.time()
    t0 = time.perf_counter()
    with (torch.no_grad() if spec["jit"] else torch.inference_mode()):
        for x, _ in loader:
            p = net(x.contiguous(memory_format=cl)).softmax(1)
            tops.append(p.topk(spec["topk"], 1).indices)
            if cats is not None:
                decisions.append(torch.stack([p[:, i].mean(1) for i in cats], 1).argmax(1))
    seconds = time.perf_counter() - t0
    keys = [os.path.relpath(p, spec["data"]).replace(os.sep, "/") for p, _ in ds.samples]
    tops = torch.cat(tops).tolist()
    decisions = torch.cat(decisions).tolist() if cats is not None else None
    names = [c["category"] for c in spec["categories"]]
    out = {"seconds": seconds, "images": len(keys), "setup_s": t_ready - t_enter,
           "predictions": {k: {"top": tops[i], "decision": names[decisions[i]] if decisions else None}
                           for i, k in enumerate(keys)}}
    with open(spec["out"], "w") as f:
        json.dump(out, f)


def run_torch(cfg_name, model, weights, data, no_resize, args, categories, tmp):
    cfg = TORCH_CONFIGS[cfg_name]
    spec = dict(model=model, weights=weights, data=data, no_resize=no_resize, threads=args.threads,
                batch_size=args.batch_size, topk=5, workers=args.workers if cfg["workers"] is None else cfg["workers"],
                channels_last=cfg["channels_last"], jit=cfg["jit"], sixteen_class=no_resize, categories=categories,
                out=os.path.join(tmp, "torch-out.json"))
    spec_path = os.path.join(tmp, "torch-spec.json")
    with open(spec_path, "w") as f:
        json.dump(spec, f)
    env = dict(os.environ)
    for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        env.pop(k, None)
        if cfg["malloc"]:
            env[k] = BIG
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", spec_path], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit("%s failed (exit %d):\n%s" % (cfg_name, proc.returncode, proc.stderr[-3000:]))
    with open(spec["out"]) as f:
        out = json.load(f)
    out["process_wall_s"] = wall
    out["workers"] = spec["workers"]
    return out


# ---------------------------------------------------------------------------------------------
# bagnet-eval side

def run_cpp(args, model, weights, data, out_dir):
    cmd = [os.path.join(args.build, "bagnet-eval"), "-m", model, "-w", weights, "--data", data, "-o", out_dir,
           "-d", "cpu", "-t", str(args.threads), "-b", str(args.batch_size), "-q", "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 3):
        sys.exit("bagnet-eval failed (exit %d): %s\n%s" % (proc.returncode, " ".join(cmd), proc.stderr[-3000:]))
    preds = {}
    with open(os.path.join(out_dir, "results.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if "key" in r:
                preds[r["key"]] = {"top": [t["index"] for t in r["top"]], "decision": r.get("decision")}
    with open(os.path.join(out_dir, "summary.json")) as f:
        summary = json.load(f)
    return {"seconds": wall, "images": len(preds), "exit_code": proc.returncode, "predictions": preds,
            "provenance": summary.get("provenance", {}), "command": cmd}


def agreement(ref, other):
    keys = [k for k in ref if k in other]
    top1 = sum(ref[k]["top"][0] == other[k]["top"][0] for k in keys)
    top5 = sum(set(ref[k]["top"]) == set(other[k]["top"]) for k in keys)
    out = {"images": len(keys), "missing": len(set(ref) ^ set(other)), "top1": top1 / max(len(keys), 1),
           "top5_set": top5 / max(len(keys), 1)}
    if keys and ref[keys[0]].get("decision") and other[keys[0]].get("decision"):
        out["decision16"] = sum(ref[k]["decision"] == other[k]["decision"] for k in keys) / len(keys)
    return out


# ---------------------------------------------------------------------------------------------
# Data and weights

def spread(items, n):
    """n items evenly spread over the sorted list (all classes represented)."""
    items = sorted(items)
    if n >= len(items):
        return items
    return [items[(i * len(items)) // n] for i in range(n)]


def stimuli_files(src):
    return [os.path.join(c, f) for c in sorted(os.listdir(src)) if os.path.isdir(os.path.join(src, c))
            for f in sorted(os.listdir(os.path.join(src, c))) if f.endswith(".png")]


def link_subset(src_root, rel_files, dst):
    """A folder of symlinks with the same class/file layout (keys stay class/file)."""
    for rel in rel_files:
        os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
        os.symlink(os.path.join(src_root, rel), os.path.join(dst, rel))
    return dst


def make_jpegs(src, n, dst, categories):
    """n JPEGs (quality 90) from the stimuli, upscaled to 350x300 or 300x350, in WordNet-id
    folders (the first ImageNet class of the stimulus' shape category). Reused if complete."""
    from PIL import Image
    stamp = os.path.join(dst, ".complete-%d" % n)
    if os.path.exists(stamp):
        return dst
    with open(os.path.join(ROOT, "configs", "imagenet_wnids.txt")) as f:
        wnids = f.read().split()
    wnid = {c["category"]: wnids[c["indices"][0]] for c in categories}
    for i, rel in enumerate(spread(stimuli_files(src), n)):
        cat, name = rel.split("/")
        os.makedirs(os.path.join(dst, wnid[cat]), exist_ok=True)
        size = (350, 300) if i % 2 == 0 else (300, 350)
        with Image.open(os.path.join(src, rel)) as im:
            im.convert("RGB").resize(size, Image.BICUBIC).save(
                os.path.join(dst, wnid[cat], os.path.splitext(name)[0] + ".jpg"), quality=90)
    open(stamp, "w").close()
    return dst


def make_weights(model, fixtures, tmp):
    """The test fixtures (random weights, BatchNorm calibrated) if built, else the same kind."""
    import torch
    import torchvision
    import bagnet_reference as ref
    dst = os.path.join(tmp, model + ".pt")
    src = os.path.join(fixtures, model + ".pt")
    if os.path.exists(src):
        shutil.copyfile(src, dst)  # a copy: a rebuild may remake the fixtures meanwhile
        return dst, src
    gen = torch.Generator().manual_seed(0)
    if model == "resnet50":
        torch.manual_seed(1234)
        net = torchvision.models.resnet50()
        with torch.no_grad():
            for m in net.modules():
                if isinstance(m, torch.nn.BatchNorm2d):
                    m.reset_running_stats()
                    m.momentum = None
            net.train()
            net(torch.randn(8, 3, 96, 96, generator=gen))
            net.fc.weight.mul_(4.0)
        sd = net.state_dict()
    else:
        q = int(model[len("bagnet"):])
        sd = ref.random_state_dict(ref.state_dict_shapes(q), gen)
        ref.calibrate(sd, q, gen)
    torch.save(sd, dst)
    return dst, "generated (random, BatchNorm calibrated)"


def check_bagnet_module(model, weights):
    """The nn.Module BagNet against the functional reference on a small random input."""
    import torch
    import bagnet_reference as ref
    net, sd = build_model(model, weights)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = net(x), ref.pooled_logits(sd, x, int(model[len("bagnet"):]))
    err = (a - b).abs().max().item()
    if err > 1e-3 * max(1.0, b.abs().max().item()):
        sys.exit("BagNet module differs from bagnet_reference by %g" % err)
    return err


# ---------------------------------------------------------------------------------------------

def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="folder with bagnet-eval and fixtures/")
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: all cores; --quick: 1)")
    ap.add_argument("--batch-size", type=int, default=16, help="images per forward pass (bagnet-eval -b)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the tuned configurations "
                    "(bagnet-eval decodes with 2 threads)")
    ap.add_argument("--images", type=int, default=None, help="cue-conflict images (default all 1280; --quick: 32)")
    ap.add_argument("--jpeg-images", type=int, default=None, help="JPEG images (default 256; --quick: 32)")
    ap.add_argument("--jpeg-dir", default=None, help="keep the generated JPEGs here (reused when complete)")
    ap.add_argument("--stimuli", default=STIMULI, help="cue-conflict stimuli (category folders; default $BAGNET_STIMULI, else "
                    "~/data/texture-vs-shape/stimuli/cue-conflict from scripts/get-stimuli.sh ~/data)")
    ap.add_argument("--models", nargs="+", default=["bagnet33", "resnet50"], choices=["bagnet9", "bagnet17",
                    "bagnet33", "resnet50"])
    ap.add_argument("--datasets", nargs="+", default=["cue-conflict", "jpeg"], choices=["cue-conflict", "jpeg"])
    ap.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, choices=list(TORCH_CONFIGS),
                    help="PyTorch configurations")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each configuration; the fastest counts")
    ap.add_argument("--json", default="bench_eval.json", help="output JSON file")
    ap.add_argument("--quick", action="store_true", help="smoke test: 32 images per set, 1 thread")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.threads is None:
        args.threads = 1 if args.quick else os.cpu_count()
    if args.images is None:
        args.images = 32 if args.quick else 1280
    if args.jpeg_images is None:
        args.jpeg_images = 32 if args.quick else 256
    if not os.path.isdir(args.stimuli):
        sys.exit(f"bench_eval: {args.stimuli}: no such folder; fetch the stimuli with scripts/get-stimuli.sh DIR "
                 "and pass --stimuli DIR/texture-vs-shape/stimuli/cue-conflict (or set BAGNET_STIMULI)")

    import torch
    import torchvision
    with open(os.path.join(ROOT, "configs", "sixteen_class.json")) as f:
        categories = json.load(f)["categories"]
    load_start = os.getloadavg()
    rows, details = [], []
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        sets = {}
        all_png = stimuli_files(args.stimuli)
        if "cue-conflict" in args.datasets:
            files = spread(all_png, args.images)
            src = args.stimuli if len(files) == len(all_png) else link_subset(
                args.stimuli, files, os.path.join(tmp, "cue-conflict"))
            sets["cue-conflict"] = (src, True)
        if "jpeg" in args.datasets:
            dst = args.jpeg_dir or os.path.join(tmp, "jpeg")
            log("making %d JPEGs in %s" % (args.jpeg_images, dst))
            sets["jpeg"] = (make_jpegs(args.stimuli, args.jpeg_images, dst, categories), False)
        weights = {}
        for m in args.models:
            weights[m] = make_weights(m, os.path.join(args.build, "fixtures"), tmp)
            if m.startswith("bagnet"):
                log("%s: nn.Module vs bagnet_reference, max |diff| %.2e" % (m, check_bagnet_module(m, weights[m][0])))

        def add(config, model, dataset, images, seconds, extra=None):
            r = dict(config=config, model=model, dataset=dataset, images=images, seconds=seconds,
                     images_per_second=images / seconds if seconds > 0 else None)
            r.update(extra or {})
            rows.append(r)
            return r

        for m in args.models:
            for dname, (data, no_resize) in sets.items():
                rel = sorted(os.path.relpath(os.path.join(dp, f), data) for dp, _, fs in os.walk(data, followlinks=True)
                             for f in fs if not f.startswith("."))
                n = len(rel)
                small_n = min(args.batch_size, n - 1)
                small = link_subset(data, rel[:small_n], os.path.join(tmp, "small-%s-%s" % (m, dname), dname)) \
                    if small_n > 0 else None
                best = {}
                for rep in range(args.repeat):
                    log("[%s %s, %d images, run %d/%d] bagnet-eval" % (m, dname, n, rep + 1, args.repeat))
                    cpp = run_cpp(args, m, weights[m][0], data, os.path.join(tmp, "eval-%s-%s" % (m, dname)))
                    if "cpp" not in best or cpp["seconds"] < best["cpp"]["seconds"]:
                        best["cpp"] = cpp
                    if small:
                        s = run_cpp(args, m, weights[m][0], small, os.path.join(tmp, "eval-small-%s-%s" % (m, dname)))
                        if "small" not in best or s["seconds"] < best["small"]["seconds"]:
                            best["small"] = s
                    for c in args.configs:
                        log("[%s %s, %d images, run %d/%d] %s" % (m, dname, n, rep + 1, args.repeat, c))
                        t = run_torch(c, m, weights[m][0], data, no_resize, args, categories, tmp)
                        if c not in best or t["seconds"] < best[c]["seconds"]:
                            best[c] = t
                cpp = best["cpp"]
                if cpp["images"] != n:
                    log("warning: bagnet-eval evaluated %d of %d images" % (cpp["images"], n))
                add("bagnet-eval (wall)", m, dname, cpp["images"], cpp["seconds"], {"exit_code": cpp["exit_code"]})
                startup = None
                if "small" in best:
                    s = best["small"]
                    marginal = (cpp["seconds"] - s["seconds"]) / (cpp["images"] - s["images"])
                    if marginal > 0:
                        startup = s["seconds"] - s["images"] * marginal
                        add("bagnet-eval (excl. start-up)", m, dname, cpp["images"], cpp["seconds"] - startup,
                            {"startup_s": startup, "small_run": {"images": s["images"], "seconds": s["seconds"]}})
                    else:
                        log("warning: %s %s: the one-batch run was not faster; no start-up estimate" % (m, dname))
                for c in args.configs:
                    t = best[c]
                    agree = agreement(cpp["predictions"], t["predictions"])
                    add(c + " (loop)", m, dname, t["images"], t["seconds"],
                        {"agreement": agree, "workers": t["workers"], "setup_s": t["setup_s"],
                         "process_wall_s": t["process_wall_s"], **TORCH_CONFIGS[c]})
                    if c == "torch-default":
                        add(c + " (process wall)", m, dname, t["images"], t["process_wall_s"])
                    if agree["top1"] < 0.9 or agree["missing"]:
                        log("warning: %s %s %s agrees with bagnet-eval on top-1 for only %.1f%% (%d missing)"
                            % (c, m, dname, 100 * agree["top1"], agree["missing"]))
                details.append({"model": m, "dataset": dname, "data": data, "weights": weights[m][1],
                                "bagnet_eval_command": cpp["command"], "bagnet_eval_provenance": cpp["provenance"]})

    # Markdown table
    print("| config | model | dataset | images | seconds | images/s | top-1 agreement |")
    print("|---|---|---|---:|---:|---:|---:|")
    for r in rows:
        a = r.get("agreement")
        agree = "" if a is None else "%.1f%%%s" % (100 * a["top1"], " (16-class %.1f%%)" % (100 * a["decision16"])
                                                    if "decision16" in a else "")
        print("| %s | %s | %s | %d | %.2f | %.1f | %s |" % (r["config"], r["model"], r["dataset"], r["images"],
                                                           r["seconds"], r["images_per_second"], agree))
    print()
    ratios = []
    for m in args.models:
        for d in sets:
            sel = {r["config"]: r for r in rows if r["model"] == m and r["dataset"] == d}
            cpp = sel.get("bagnet-eval (wall)")
            loops = {k: v for k, v in sel.items() if k.endswith("(loop)")}
            if not cpp or not loops:
                continue
            best_name = max(loops, key=lambda k: loops[k]["images_per_second"])
            line = {"model": m, "dataset": d, "best_torch": best_name,
                    "wall_vs_best_torch": cpp["images_per_second"] / loops[best_name]["images_per_second"]}
            if "torch-default (loop)" in loops:
                line["wall_vs_torch_default"] = cpp["images_per_second"] / loops["torch-default (loop)"]["images_per_second"]
            ex = sel.get("bagnet-eval (excl. start-up)")
            if ex:
                line["excl_startup_vs_best_torch"] = ex["images_per_second"] / loops[best_name]["images_per_second"]
            ratios.append(line)
            print("%s, %s: bagnet-eval (wall) / %s = %.2fx%s%s" % (
                m, d, best_name, line["wall_vs_best_torch"],
                "; / torch-default (loop) = %.2fx" % line["wall_vs_torch_default"] if "wall_vs_torch_default" in line
                else "", "; excl. start-up / %s = %.2fx" % (best_name, line["excl_startup_vs_best_torch"]) if ex else ""))
    load_end = os.getloadavg()
    print("\n%d threads, batch %d, %s, torch %s; load average %.2f at start, %.2f at end"
          % (args.threads, args.batch_size, cpu_name(), torch.__version__, load_start[0], load_end[0]))
    result = {
        "rows": rows, "ratios": ratios, "runs": details,
        "settings": {"threads": args.threads, "batch_size": args.batch_size, "workers": args.workers,
                     "images": args.images, "jpeg_images": args.jpeg_images, "repeat": args.repeat,
                     "quick": args.quick, "configs": {c: TORCH_CONFIGS[c] for c in args.configs}},
        "provenance": {"time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "host": platform.node(),
                       "cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__,
                       "torchvision": torchvision.__version__, "python": platform.python_version(),
                       "git_commit": git_commit(), "command_line": sys.argv,
                       "loadavg_start": load_start, "loadavg_end": load_end},
    }
    tmp_json = args.json + ".tmp"
    with open(tmp_json, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp_json, args.json)
    log("wrote " + args.json)


if __name__ == "__main__":
    main()
