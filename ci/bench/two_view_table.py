"""Markdown table of ci/bench/two_view.sh's runs: ID (photo) and OOD-average
accuracy, mean ± sample std over head seeds, and wall time of each variant
(its training rows' extraction included; all seeds together).

Usage: two_view_table.py WORK K [K ...]
"""
import json
import statistics
import sys
from pathlib import Path

work, ks = Path(sys.argv[1]), sys.argv[2:]
times = dict(line.split() for line in (work / "times").read_text().splitlines())


def accuracy(name):
    results = json.loads((work / name / "summary.json").read_text())["results"]
    seeds = sorted({r["seed"] for r in results})
    idd = [100 * next(r["accuracy"] for r in results if r["seed"] == s and r["eval"] == "photo") for s in seeds]
    ood = [100 * statistics.mean(r["accuracy"] for r in results if r["seed"] == s and r["eval"] != "photo") for s in seeds]
    fmt = lambda v: f"{statistics.mean(v):.1f} ± {statistics.stdev(v) if len(v) > 1 else 0:.1f}"
    return fmt(idd), fmt(ood), statistics.mean(idd), statistics.mean(ood)


enc = accuracy("encoder")
rows = [("single view (eval transform)", "single-view")]
rows += [(f"cached two-view, K = {k}", f"cached-k{k}") for k in ks]
rows += [("encoder in the loop (official)", "encoder")]
print("| variant | photo (ID) | OOD average | ID − encoder | OOD − encoder | wall time (s) | encoder time / time |")
print("|---|---:|---:|---:|---:|---:|---:|")
for label, name in rows:
    i, o, im, om = accuracy(name)
    seconds = float(times[name])
    ratio = float(times["encoder"]) / seconds
    print(f"| {label} | {i} | {o} | {im - enc[2]:+.1f} | {om - enc[3]:+.1f} | {seconds:.0f} | {ratio:.1f}× |")
