#!/usr/bin/python3
"""Exports the first N test-set images of each Fashion-MNIST class as PNG (the examples/
the README's first command runs on). Run once; the PNGs are committed.

    /usr/bin/python3 scripts/export_fashion_examples.py [--per-class 3] [--out examples/fashion-mnist]
"""
import argparse
import gzip
import os

import numpy as np
from PIL import Image

NAMES = ["tshirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot"]


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--per-class", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                                  "examples", "fashion-mnist"))
    args = ap.parse_args()
    images = read_idx(os.path.join(args.data, "t10k-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(args.data, "t10k-labels-idx1-ubyte.gz"))
    for c, name in enumerate(NAMES):
        os.makedirs(os.path.join(args.out, name), exist_ok=True)
        for i in np.flatnonzero(labels == c)[: args.per_class]:
            Image.fromarray(images[i], mode="L").save(os.path.join(args.out, name, "test%05d.png" % i))


if __name__ == "__main__":
    main()
