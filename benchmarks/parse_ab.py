"""The 10^5-node parse, two source trees against each other in one run (issue 28: the
notations must not slow the parser).

    git archive <base> | tar -x -C /tmp/base
    PYTHONPATH=. python benchmarks/parse_ab.py /tmp/base .

Each tree's ``backprop_cli`` (with its grammars/) is copied under another package name,
so that one interpreter imports both. Each sample is a fresh interpreter that parses each
family's 10^5-node text with the two parsers in turn, several times, and reports the
median time of each and the median of the per-pair ratios (new / base): both parsers run
under the same load, a parse apart, which on a shared machine is what makes the ratio
mean something. The table has, per family, the medians over the samples. Nothing here
asserts anything.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.bench import FAMILIES

SIZE = 100_000
FAMILY_NAMES = ("sum of products", "nested functions", "nested parens", "MLP (scalar)")

# Run in the child: both parsers, alternating, `repeat` pairs after one warm-up each.
CHILD = """
import gc, json, statistics, sys, time
from bp_base.core.parse import parse as base
from bp_new.core.parse import parse as new
texts = json.loads(sys.stdin.read())
out = {}
for name, text in texts.items():
    assert len(base(text).nodes) == len(new(text).nodes)
    times = {"base": [], "new": []}
    for _ in range(%d):
        for key, parse in (("base", base), ("new", new)):
            gc.collect()
            t0 = time.perf_counter(); parse(text); times[key].append(time.perf_counter() - t0)
    out[name] = {"base": statistics.median(times["base"]),
                 "new": statistics.median(times["new"]),
                 "ratio": statistics.median(b / a for a, b in zip(times["base"], times["new"]))}
print(json.dumps(out))
"""


def _package(tree: Path, name: str, into: Path) -> None:
    """``tree``'s backprop_cli as package ``name`` under ``into`` (grammars/ beside it)."""
    shutil.copytree(tree / "backprop_cli", into / name,
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(tree / "grammars", into / "grammars", dirs_exist_ok=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--runs", type=int, default=5, help="fresh interpreters")
    ap.add_argument("--repeat", type=int, default=3, help="pairs of parses per interpreter")
    ap.add_argument("--family", action="append", choices=FAMILY_NAMES,
                    help="only this family (repeatable)")
    args = ap.parse_args(argv)
    names = tuple(args.family or FAMILY_NAMES)
    texts = json.dumps({name: FAMILIES[name](SIZE)[0] for name in names})
    with tempfile.TemporaryDirectory() as tmp:
        base_dir, new_dir = Path(tmp, "a"), Path(tmp, "b")
        _package(args.base, "bp_base", base_dir)  # each tree finds its own grammars/
        _package(args.new, "bp_new", new_dir)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(base_dir), str(new_dir)])}
        samples = []
        for _ in range(args.runs):
            proc = subprocess.run([sys.executable, "-c", CHILD % args.repeat], input=texts,
                                  capture_output=True, text=True, env=env, check=True)
            samples.append(json.loads(proc.stdout))
    print(f"| family ({SIZE:,} nodes) | base ms | new ms | new/base (median of pairs) |")
    print("|---|---:|---:|---:|")
    for name in names:
        base = statistics.median(s[name]["base"] for s in samples) * 1e3
        new = statistics.median(s[name]["new"] for s in samples) * 1e3
        ratio = statistics.median(s[name]["ratio"] for s in samples)
        print(f"| {name} | {base:.0f} | {new:.0f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
