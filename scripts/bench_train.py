#!/usr/bin/python3
"""Training-loop benchmark: bagnet-train against the same loop in PyTorch (/usr/bin/python3),
same architecture (the embedded Fashion-MNIST BagNet), data, batch size, augmentation and
threads, in one run. Prints images/s of each and the ratio.

    /usr/bin/python3 scripts/bench_train.py [--build build] [--images 6000] [--threads 2]
"""
import argparse
import gzip
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCH = dict(stem_width=24, widths=[24, 48, 96], blocks=[1, 1, 2], kernel3=[1, 1, 1], strides=[1, 2, 1], expansion=2)


class Block(nn.Module):
    def __init__(self, cin, width, exp, k, stride):
        super().__init__()
        out = width * exp
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, k, stride, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, out, 1, bias=False), nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        o = F.relu(self.bn1(self.conv1(x)))
        o = F.relu(self.bn2(self.conv2(o)))
        o = self.bn3(self.conv3(o))
        r = x if self.downsample is None else self.downsample(x)
        r = r[:, :, : o.shape[2], : o.shape[3]]
        return F.relu(o + r)


class SmallBagNet(nn.Module):
    def __init__(self, a, classes=10):
        super().__init__()
        w = a["stem_width"]
        self.conv1, self.conv2, self.bn1 = nn.Conv2d(1, w, 1, bias=False), nn.Conv2d(w, w, 3, bias=False), nn.BatchNorm2d(w)
        layers, cin = [], w
        for width, n, k3, s in zip(a["widths"], a["blocks"], a["kernel3"], a["strides"]):
            blocks = []
            for b in range(n):
                blocks.append(Block(cin, width, a["expansion"], 3 if b < k3 else 1, s if b == 0 else 1))
                cin = width * a["expansion"]
            layers.append(nn.Sequential(*blocks))
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv2(self.conv1(x))))
        return self.fc(self.layers(x).mean((2, 3)))


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    nd = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * nd).reshape(shape)


def python_images_per_second(args):
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(read_idx(os.path.join(args.data, "train-images-idx3-ubyte.gz"))[: args.images].copy())
    y = torch.from_numpy(read_idx(os.path.join(args.data, "train-labels-idx1-ubyte.gz"))[: args.images].astype(np.int64))
    x = ((x.float() / 255 - 0.2860) / 0.3530).unsqueeze(1)
    net = SmallBagNet(ARCH)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    net.train()
    t0 = time.perf_counter()
    perm = torch.randperm(len(x))
    pad = 2
    for s in range(0, len(x), args.batch):
        idx = perm[s: s + args.batch]
        xb = F.pad(x[idx], (pad, pad, pad, pad), value=-0.2860 / 0.3530)
        dy, dx = np.random.randint(0, 2 * pad + 1, 2)
        xb = xb[:, :, dy: dy + 28, dx: dx + 28]
        if np.random.rand() < 0.5:
            xb = xb.flip(3)
        loss = F.cross_entropy(net(xb), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return len(x) / (time.perf_counter() - t0)


def cpp_images_per_second(args):
    with tempfile.TemporaryDirectory() as d:
        cmd = [os.path.join(args.build, "bagnet-train"), "--data", args.data, "-o", d, "--epochs", "1", "--limit-train",
               str(args.images), "--limit-val", "1", "--batch-size", str(args.batch), "--lr", "0.05", "--crop-padding",
               "2", "--flip", "--threads", str(args.threads), "--mean", "0.2860", "--std", "0.3530", "-q"]
        for k in ("stem_width", "widths", "blocks", "kernel3", "strides", "expansion"):
            v = ARCH[k]
            cmd += ["--" + k.replace("_", "-")] + [str(e) for e in (v if isinstance(v, list) else [v])]
        subprocess.run(cmd, check=True, capture_output=True)
        with open(os.path.join(d, "log.jsonl")) as f:
            return json.loads(f.readline())["images_per_second"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--images", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    args = ap.parse_args()
    py = python_images_per_second(args)
    cpp = cpp_images_per_second(args)
    print("training loop, %d images, batch %d, %d threads: PyTorch %.0f img/s, bagnet-train %.0f img/s, ratio %.2fx"
          % (args.images, args.batch, args.threads, py, cpp, cpp / py))


if __name__ == "__main__":
    main()
