#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, written at build time (never downloaded).

Usage: /usr/bin/python3 make_seeds.py SOURCE_DIR OUT_DIR
Writes OUT_DIR/<target>/<name> for every target of tests/fuzz. Needs Debian's python3-torch,
python3-numpy and python3-pil (all installed by scripts/setup.sh). Inputs are kept small so
that the fuzzer runs thousands of them a second.
"""
import collections
import gzip
import io
import json
import os
import pickle
import struct
import sys
import zipfile

import numpy as np
import torch
from PIL import Image

src, out = sys.argv[1], sys.argv[2]


def put(target, name, data):
    os.makedirs(os.path.join(out, target), exist_ok=True)
    with open(os.path.join(out, target, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- checkpoints and pickles ------------------------------------------------------------------
torch.manual_seed(0)
base = torch.arange(12, dtype=torch.float32)
sd = collections.OrderedDict()
sd["conv.weight"] = torch.randn(2, 1, 2, 2)
sd["bn.running_mean"] = torch.zeros(2)
sd["bn.num_batches_tracked"] = torch.tensor(3)
sd["fc.weight"] = base.view(3, 4).t()          # non-contiguous view
sd["fc.bias"] = base[4:7]                      # shares fc.weight's storage, with an offset
sd["half"] = torch.ones(3, dtype=torch.float16)
sd["mask"] = torch.tensor([True, False])
sd["expanded"] = torch.ones(1).expand(4)       # zero stride
variants = {
    "plain": sd,
    "wrapped": {"state_dict": sd, "epoch": 3, "arch": "bagnet"},
    "module": collections.OrderedDict(("module." + k, v) for k, v in sd.items()),
    "model": {"model": collections.OrderedDict(list(sd.items())[:2]), "optimizer": {"lr": 0.1}},
}
for name, obj in variants.items():
    for legacy in (False, True):
        buf = io.BytesIO()
        torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
        data = buf.getvalue()
        put("checkpoint", f"{name}_{'legacy' if legacy else 'zip'}.pt", data)
        if not legacy:
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                pkl = [n for n in z.namelist() if n.endswith("data.pkl")][0]
                put("pickle", f"{name}_data.pkl", z.read(pkl))
        else:
            put("pickle", f"{name}_legacy_stream.pkl", data)
buf = io.BytesIO()
torch.save(sd, buf, pickle_protocol=4)
put("checkpoint", "protocol4.pt", buf.getvalue())
for protocol in (2, 3, 4, 5):
    put("pickle", f"objects_p{protocol}.pkl",
        pickle.dumps({"a": [1, -2, 2**40, 2**70, 2.5, "x", b"y", None, True, (1, 2, 3)],
                      "b": collections.OrderedDict(k=(1,))}, protocol=protocol))

# ---- images -------------------------------------------------------------------------------------
rng = np.random.default_rng(0)
rgb = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8), "RGB")
for name, img, fmt, kw in [
    ("rgb.png", rgb, "PNG", {}),
    ("gray.png", rgb.convert("L"), "PNG", {}),
    ("palette.png", rgb.convert("P"), "PNG", {}),
    ("rgba.png", rgb.convert("RGBA"), "PNG", {}),
    ("la.png", rgb.convert("LA"), "PNG", {}),
    ("gray16.png", Image.fromarray(rng.integers(0, 65536, (6, 8), dtype=np.uint16)), "PNG", {}),
    ("baseline.jpg", rgb, "JPEG", {"quality": 80}),
    ("progressive.jpg", rgb, "JPEG", {"progressive": True}),
    ("gray.jpg", rgb.convert("L"), "JPEG", {}),
    ("cmyk.jpg", rgb.convert("CMYK"), "JPEG", {}),
    ("rgb.bmp", rgb, "BMP", {}),
    ("rgb.tiff", rgb, "TIFF", {}),
    ("lossy.webp", rgb, "WEBP", {"quality": 50}),
    ("lossless.webp", rgb, "WEBP", {"lossless": True}),
    ("rgb.ppm", rgb, "PPM", {}),
    ("gray.pgm", rgb.convert("L"), "PPM", {}),
    ("anim.gif", rgb.convert("P"), "GIF", {}),
    ("big.png", Image.new("RGB", (300, 40), (10, 200, 30)), "PNG", {}),
]:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    put("image", name, buf.getvalue())
put("image", "rgb.pam", b"P7\nWIDTH 4\nHEIGHT 2\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n" + bytes(range(24)))
put("image", "rgb.ras", struct.pack(">8I", 0x59A66A95, 4, 2, 24, 24, 1, 0, 0) + bytes(range(24)))
put("image", "ascii.ppm", b"P3\n2 1\n255\n255 0 0 0 255 0\n")

# ---- .npy ---------------------------------------------------------------------------------------
for name, array in [("map", np.arange(12, dtype=np.float32).reshape(3, 4)),
                    ("empty", np.zeros((0, 3), dtype=np.float32)),
                    ("scalar", np.float32(1.5)),
                    ("stack", np.ones((2, 1, 3), dtype=np.float32))]:
    buf = io.BytesIO()
    np.save(buf, np.asarray(array))
    put("npy", name + ".npy", buf.getvalue())
buf = io.BytesIO()
np.lib.format.write_array(buf, np.ones((2, 2), dtype=np.float32), version=(2, 0))
put("npy", "v2.npy", buf.getvalue())

# ---- idx ----------------------------------------------------------------------------------------
images = struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 4, 4) + bytes(range(32))
labels = struct.pack(">BBBBI", 0, 0, 8, 1, 2) + bytes([3, 9])
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "images.idx.gz", gzip.compress(images))
put("idx", "labels.idx.gz", gzip.compress(labels))

# ---- model-vs-human CSVs and list files ---------------------------------------------------------
put("trials_csv", "model.csv",
    "subj,session,trial,rt,object_response,category,condition,imagename\n"
    "bagnet33,1,1,NaN,cat,airplane,NaN,airplane1-cat2.png\n"
    "bagnet33,1,2,NaN,na,bird,NaN,bird3-bird2.png\n")
put("trials_csv", "human.csv",
    "subj,session,trial,rt,object_response,category,condition,imagename\r\n"
    "subject-01,1,1,0.71,bird,bird,0,0001_s5n_s01_0_bird_00_bird3-bird2.png\r\n"
    "subject-01,1,2,0.52,dog,knife,0,0002_s5n_s01_0_knife_00_knife1-dog4.png\r\n")
put("list", "classes.list", "path,label\n# comment\nimg/a.png,tench\nimg/b.png,1\nimg/c.png,n01484850\n"
    "/abs/d.png,ankle_boot\n")
put("list", "categories.list", "a.png,cat\nb.png,dog\nsub/c.jpg,airplane\n")

# ---- results.jsonl ------------------------------------------------------------------------------
cats = ["airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock", "dog",
        "elephant", "keyboard", "knife", "oven", "truck"]
for name, categorical in (("cue", True), ("classes", False)):
    run = {"model": "bagnet33", "architecture": "bagnet", "weights_sha256": "2ddd53ed",
           "preprocessing": {"resize_shorter": 0},
           "dataset": {"name": "cue-conflict" if categorical else "val", "kind":
                       "cue-conflict" if categorical else "class-folders", "categorical": categorical,
                       "fingerprint": "ab", "images": 3, "classes": ["airplane"]},
           "topk": 5}
    if categorical:
        run["mapping"] = {"name": "16-class-ImageNet", "aggregation": "mean"}
        run["categories"] = cats
    header = {"format": "bagnet-eval results", "version": 1, "tool": "bagnet-eval", "run": run,
              "shard": {"index": 1, "count": 2, "images": 2}, "batch_size": 8, "source": "/data",
              "model": {"name": "bagnet33"}, "provenance": {"device": "cpu", "threads": 2}, "resumed": 1}
    lines = [json.dumps(header)]
    for p in (1, 2):
        rec = {"position": p, "key": f"airplane/airplane{p}-cat2.png", "label": "airplane"}
        if not categorical:
            rec["target"] = 404
        rec["texture"] = "cat"
        rec["top"] = [{"index": 404, "name": "airliner", "probability": 0.5},
                      {"index": 281, "name": "tabby", "probability": 0.25}]
        if categorical:
            rec["decision"] = "cat"
            rec["category_probabilities"] = [1.0 / 16] * 16
        rec["correct"] = False
        if not categorical:
            rec["topk_correct"] = True
        lines.append(json.dumps(rec))
    lines.append(json.dumps({"position": 0, "key": "x.png", "label": "airplane", "error": "truncated PNG"}))
    put("results", name + ".jsonl", "\n".join(lines) + "\n")

# ---- registry and mapping JSON ------------------------------------------------------------------
with open(os.path.join(src, "configs", "models.json"), "rb") as f:
    put("registry", "models.json", f.read())
with open(os.path.join(src, "configs", "sixteen_class.json"), "rb") as f:
    put("mapping", "sixteen_class.json", f.read())
put("mapping", "small.json", json.dumps({"name": "two", "num_classes": 4, "categories": [
    {"category": "x", "indices": [0, 1]}, {"category": "y", "indices": [3]}]}))
