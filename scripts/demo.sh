#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job on the
# embedded model (a BagNet trained on Fashion-MNIST that ships with the toolkit): predictions
# for the example images on stdout, evidence-map figures in demo-output/, their accuracy.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bagnet-classify bagnet-heatmap bagnet-models bagnet-eval
model=bagnet11_fashion_mnist
build/bagnet-classify -q --model "$model" --topk 3 examples/fashion-mnist
build/bagnet-heatmap -q --model "$model" --top 2 --panel --overwrite -o demo-output examples/fashion-mnist
# Accuracy over the example images (class folders), per class, with per-image results.
build/bagnet-eval -q --model "$model" --data examples/fashion-mnist --overwrite -o demo-output/eval
echo "demo: evidence maps (.npy, .png, .json per image) are in demo-output/; see README.md for ImageNet models" >&2
