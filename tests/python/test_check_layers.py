#!/usr/bin/env python3
"""scripts/check_layers.py: passes on the repository, and fails on a tree made here with one
include that points up a layer and one between peer features (and on nothing else)."""
import pathlib
import subprocess
import sys
import tempfile

repo = pathlib.Path(__file__).resolve().parents[2]
check = repo / "scripts" / "check_layers.py"


def run(root):
    return subprocess.run([sys.executable, str(check), str(root)], capture_output=True, text=True)


failures = []
real = run(repo)
if real.returncode != 0:
    failures.append("repository:\n" + real.stderr)

with tempfile.TemporaryDirectory() as d:
    root = pathlib.Path(d)
    for f in ["lib", "networks", "datasets", "figures", "inference", "heatmaps", "training", "evaluation", "stylize",
              "attribution", "experiments", "reports", "apps"]:
        (root / f).mkdir()
    (root / "lib" / "ok.h").write_text('#include "lib/other.h"\n#include <vector>\n')
    (root / "networks" / "net.cpp").write_text('#include "lib/ok.h"\n')
    (root / "lib" / "bad.cpp").write_text('#include "lib/ok.h"\n\n#include "networks/model.h"\n')
    (root / "heatmaps" / "peer.cpp").write_text('#include "inference/classify.h"\n  #include "evaluation/x.h"\n')
    (root / "apps" / "tool.cpp").write_text('#include "heatmaps/peer.h"\n#include "evaluation/x.h"\n')
    # reports/ reads the features' results (allowed); a feature never includes reports/.
    (root / "reports" / "page.cpp").write_text('#include "evaluation/x.h"\n#include "heatmaps/run.h"\n')
    (root / "evaluation" / "x.cpp").write_text('#include "reports/html.h"\n')
    # attribution/ stands on heatmaps/ (allowed) beside experiments/ (a peer).
    (root / "attribution" / "a.cpp").write_text('#include "heatmaps/dense.h"\n#include "experiments/mask.h"\n')
    r = run(root)
    lines = [l for l in r.stderr.splitlines() if ": includes " in l]
    expected = ["lib/bad.cpp:3: includes networks/ (a higher layer", "heatmaps/peer.cpp:2: includes evaluation/ (a peer feature",
                "evaluation/x.cpp:1: includes reports/ (a higher layer",
                "attribution/a.cpp:2: includes experiments/ (a peer feature"]
    if r.returncode != 1 or len(lines) != 4 or not all(any(l.startswith(e) for l in lines) for e in expected):
        failures.append(f"synthetic tree: rc={r.returncode}\n{r.stderr}")

for f in failures:
    print("FAILED:", f, file=sys.stderr)
print(f"{2 - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
