#!/usr/bin/env bash
# Makes the README's screenshots of the --html reports (docs/report-*.png): runs the tools on the
# example images (and the human observers' cue-conflict CSVs), opens each index.html in headless
# Chromium and saves what it shows, reduced to 256 colours so that each PNG stays small.
# Usage: tests/reports/screenshots.sh [BUILD_DIR] [DOCS_DIR] [DATA_DIR]
#   BUILD_DIR  default build;  DOCS_DIR default docs;  DATA_DIR (human-raw-data/) default ../shared/data
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(realpath "${1:-$repo/build}")
docs=$(realpath -m "${2:-$repo/docs}")
data=$(realpath -m "${3:-$repo/../shared/data}")
command -v chromium >/dev/null || { echo "screenshots: chromium is not installed (scripts/setup.sh)" >&2; exit 1; }
[ -d "$data/human-raw-data/cue-conflict" ] || { echo "screenshots: no $data/human-raw-data/cue-conflict (scripts/get-stimuli.sh DIR)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$docs"
cd "$repo"

shot() {  # shot PAGE WIDTHxHEIGHT OUT.png
  chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --user-data-dir="$work/profile" --virtual-time-budget=10000 --window-size="${2/x/,}" \
    --screenshot="$work/shot.png" "file://$1" 2>/dev/null
  /usr/bin/python3 - "$work/shot.png" "$3" <<'EOF'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE).save(sys.argv[2], optimize=True)
EOF
  echo "wrote $3 ($(stat -c %s "$3") bytes)" >&2
}

# Evidence maps of the 30 example images, with their true classes.
{
  echo "path,label"
  for f in examples/fashion-mnist/*/*.png; do
    folder=$(basename "$(dirname "$f")")
    case $folder in
      tshirt_top) label="T-shirt/top" ;; ankle_boot) label="Ankle boot" ;; *) label=${folder^} ;;
    esac
    echo "${f#examples/fashion-mnist/},$label"
  done
} >"$work/targets.csv"
"$build/bagnet-heatmap" -q --model bagnet11_fashion_mnist --top 2 --panel --targets "$work/targets.csv" \
  --html -o "$work/fashion-mnist-maps" examples/fashion-mnist
shot "$work/fashion-mnist-maps/index.html" 1280x900 "$docs/report-heatmaps.png"

"$build/bagnet-eval" -q --model bagnet11_fashion_mnist --data examples/fashion-mnist --html \
  -o "$work/fashion-mnist-eval" >/dev/null
shot "$work/fashion-mnist-eval/index.html" 1280x1250 "$docs/report-evaluation.png"

mkdir -p "$work/shape-bias-humans"  # --from-csv alone does not create it
"$build/bagnet-shape-bias" --from-csv "$data"/human-raw-data/cue-conflict/*.csv --html \
  -o "$work/shape-bias-humans" >/dev/null
shot "$work/shape-bias-humans/index.html" 1280x1150 "$docs/report-shape-bias.png"
