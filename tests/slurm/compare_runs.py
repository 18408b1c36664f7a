#!/usr/bin/python3
"""Compares what a sharded Slurm run produced with an unsharded run of the same tool.

  compare_runs.py eval MERGED WHOLE      bagnet-merge output vs one bagnet-eval run
  compare_runs.py heatmap MAPS WHOLE     the tasks' shared bagnet-heatmap folder vs one run

Prints what differs and exits 1, or prints one line of what was compared and exits 0.
Provenance (times, hosts, command lines) is left out: it differs by design.
"""
import json
import os
import sys

import numpy as np

problems = []


def check(ok, what):
    if not ok:
        problems.append(what)
    return ok


def records(path):
    with open(path) as f:
        lines = f.read().splitlines()
    if not lines:
        problems.append(path + ": empty")
        return {}
    out = {}
    for line in lines[1:]:  # line 1: the run's header
        r = json.loads(line)
        check(r["key"] not in out, "%s: %s twice" % (path, r["key"]))
        out[r["key"]] = r
    return out


def close(a, b, rel=1e-5, floor=1e-9):
    return abs(a - b) <= rel * max(abs(a), abs(b)) + floor


def compare_eval(merged, whole):
    m, w = records(os.path.join(merged, "results.jsonl")), records(os.path.join(whole, "results.jsonl"))
    check(sorted(m) == sorted(w), "the images differ: %d merged, %d whole" % (len(m), len(w)))
    for key in sorted(set(m) & set(w)):
        a, b = m[key], w[key]
        for field in ("label", "decision", "correct"):
            check(a.get(field) == b.get(field), "%s: %s %r != %r" % (key, field, a.get(field), b.get(field)))
        check([t["index"] for t in a["top"]] == [t["index"] for t in b["top"]], key + ": top-k classes differ")
        # Shards batch other images together, and float sums may round differently by batch.
        pa, pb = a["category_probabilities"], b["category_probabilities"]
        check(len(pa) == len(pb) and all(close(x, y) for x, y in zip(pa, pb)),
              key + ": category probabilities differ by more than 1e-5 (relative)")
    with open(os.path.join(merged, "summary.json")) as f:
        sm = json.load(f)
    with open(os.path.join(whole, "summary.json")) as f:
        sw = json.load(f)
    for field in ("images", "evaluated", "failed", "failures", "accuracy", "per_class", "dataset", "complete"):
        check(sm.get(field) == sw.get(field), "summary.json: %s %r != %r" % (field, sm.get(field), sw.get(field)))
    check(sm["model"] == sw["model"], "summary.json: the model differs")
    csvs = sorted(f for f in os.listdir(whole) if f.endswith(".csv"))
    check(bool(csvs), whole + ": no model-vs-human CSV")
    for name in csvs:
        with open(os.path.join(whole, name), "rb") as f:
            expected = f.read()
        path = os.path.join(merged, name)
        if check(os.path.exists(path), path + ": missing"):
            with open(path, "rb") as f:
                check(f.read() == expected, name + ": differs from the unsharded run's")
    return "%d images, accuracy %s, summary and %s equal" % (len(m), sm.get("accuracy"), ", ".join(csvs))


def tree(root):
    out = set()
    for d, _, files in os.walk(root):
        for f in files:
            out.add(os.path.relpath(os.path.join(d, f), root))
    return out


def without_provenance(x):
    if isinstance(x, dict):
        return {k: without_provenance(v) for k, v in x.items() if k != "provenance"}
    if isinstance(x, list):
        return [without_provenance(v) for v in x]
    return x


def compare_heatmap(maps, whole):
    a, b = tree(maps), tree(whole)
    check(a == b, "the files differ: only sharded %s, only whole %s" % (sorted(a - b)[:5], sorted(b - a)[:5]))
    npys = sidecars = 0
    for rel in sorted(a & b):
        pa, pb = os.path.join(maps, rel), os.path.join(whole, rel)
        if rel.endswith(".npy"):
            x, y = np.load(pa), np.load(pb)
            # One image at a time, same threads: the maps are the same computation.
            check(x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y), rel + ": maps differ")
            npys += 1
        elif rel.endswith(".json"):
            with open(pa) as f:
                ja = json.load(f)
            with open(pb) as f:
                jb = json.load(f)
            check(without_provenance(ja) == without_provenance(jb), rel + ": sidecar differs (beyond provenance)")
            sidecars += 1
        else:
            with open(pa, "rb") as f:
                da = f.read()
            with open(pb, "rb") as f:
                check(da == f.read(), rel + ": differs")
    check(npys > 0 and npys == sidecars, "%d maps, %d sidecars" % (npys, sidecars))
    return "%d images: maps, sidecars (less provenance) and %d other files equal" % (npys, len(a) - 2 * npys)


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("eval", "heatmap"):
        sys.exit(__doc__)
    what = (compare_eval if sys.argv[1] == "eval" else compare_heatmap)(sys.argv[2], sys.argv[3])
    if problems:
        for p in problems[:20]:
            print("compare_runs.py: " + p, file=sys.stderr)
        if len(problems) > 20:
            print("compare_runs.py: ... %d more" % (len(problems) - 20), file=sys.stderr)
        sys.exit(1)
    print("equal to the unsharded run: " + what)


if __name__ == "__main__":
    main()
