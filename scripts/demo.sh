#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs the main job on the
# embedded model (a BagNet trained on Fashion-MNIST that ships with the toolkit): predictions
# for the example images on stdout, evidence-map figures in demo-output/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target bagnet-classify bagnet-heatmap bagnet-models
model=bagnet11_fashion_mnist
build/bagnet-classify -q --model "$model" --topk 3 examples/fashion-mnist
build/bagnet-heatmap -q --model "$model" --top 2 --panel --overwrite -o demo-output examples/fashion-mnist
echo "demo: evidence maps (.npy, .png, .json per image) are in demo-output/; see README.md for ImageNet models" >&2
