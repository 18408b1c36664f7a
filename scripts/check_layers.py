#!/usr/bin/env python3
"""Fails when a source file includes a header from a higher layer (or from a peer feature).

The layers, lowest first (README, Layout). A folder may include its own headers and those of
lower layers; folders on one line are peers and never include each other. tests/ may include
anything. Usage: scripts/check_layers.py [REPO_ROOT]
"""
import pathlib
import re
import sys

LAYERS = [
    ["lib"],
    ["networks"],
    ["datasets"],
    ["figures"],
    ["inference"],
    ["heatmaps", "training", "evaluation", "stylize"],
    ["attribution", "experiments"],
    ["reports"],
    ["apps"],
]
LEVEL = {folder: i for i, row in enumerate(LAYERS) for folder in row}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"/]+)/[^"]+"')


def violations(root):
    for folder, level in LEVEL.items():
        for path in sorted((root / folder).rglob("*")):
            if path.suffix not in (".h", ".cpp", ".hpp", ".in"):
                continue
            for lineno, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                m = INCLUDE.match(line)
                if not m or m.group(1) not in LEVEL or m.group(1) == folder:
                    continue
                target = m.group(1)
                if LEVEL[target] > level:
                    why = "a higher layer"
                elif LEVEL[target] == level:
                    why = "a peer feature"
                else:
                    continue
                yield f"{path.relative_to(root)}:{lineno}: includes {target}/ ({why}; order: " + " -> ".join(
                    " | ".join(row) for row in LAYERS) + ")"


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
    missing = [f for f in LEVEL if not (root / f).is_dir()]
    if missing:
        print(f"check_layers: no folder {', '.join(missing)} under {root}", file=sys.stderr)
        return 2
    found = list(violations(root))
    for v in found:
        print(v, file=sys.stderr)
    print(f"check_layers: {len(found)} include(s) crossing a layer the wrong way", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
