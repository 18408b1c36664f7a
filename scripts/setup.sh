#!/usr/bin/env bash
# Installs the Debian packages the toolkit needs. Idempotent: runs `apt-get update`
# only when a package is actually missing, so a second run takes a second.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libtorch-dev            # LibTorch 1.13.1 (CPU)
  libdnnl-dev             # oneDNN headers: the inference engine calls LibTorch's convolution library directly
  libopenblas0-openmp     # without it Linear layers run on the reference BLAS (~50x slower)
  libopencv-dev           # image decoding, resizing
  libcli11-dev            # command-line parsing
  nlohmann-json3-dev      # JSON output
  catch2                  # tests (v2 API)
  libstb-dev              # PNG writing for figures
  zlib1g-dev              # gzipped MNIST/Fashion-MNIST idx files
  libssl-dev              # SHA-256 of weights files (libcrypto uses the CPU's SHA instructions)
  libcairo2-dev           # vector figures (SVG/PDF)
  python3-torch python3-torchvision python3-numpy  # test fixtures, parity references (/usr/bin/python3)
  python3-matplotlib      # the colormaps are checked byte for byte against matplotlib
  dataset-fashion-mnist   # the embedded default model's data
  clang-14 libclang-rt-14-dev  # libFuzzer + ASan/UBSan for the fuzz targets (tests/fuzz, scripts/fuzz.sh)
  slurm-wlm munge         # tests/slurm: a one-node Slurm cluster runs scripts/slurm_eval.sh for real
  chromium                # test_reports: the --html reports are loaded and checked in headless Chromium
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages present" >&2
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "setup: installing ${missing[*]}" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
