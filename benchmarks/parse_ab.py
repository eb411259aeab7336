"""The 10^5-node parse, two source trees against each other in one run (issue 28: the
notations must not slow the parser).

    git archive <base> | tar -x -C /tmp/base
    PYTHONPATH=. python benchmarks/parse_ab.py /tmp/base .

Each sample is a fresh interpreter that imports one tree's ``backprop_cli``, parses each
family's 10^5-node text a few times and prints the median; the two trees take turns,
sample by sample, so that the load of this shared machine falls on both alike. It prints,
per family, the median of the samples for each tree and their ratio (new / base).
Nothing here asserts anything.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.bench import FAMILIES

SIZE = 100_000
FAMILY_NAMES = ("sum of products", "nested functions", "nested parens", "MLP (scalar)")

# Run in the child: the tree's parser on each text, median of `repeat` parses (after one
# warm-up that also loads the LALR tables).
CHILD = """
import json, statistics, sys, time
from backprop_cli.core.parse import parse
texts = json.loads(sys.stdin.read())
out = {}
for name, text in texts.items():
    parse(text)
    times = []
    for _ in range(%d):
        t0 = time.perf_counter(); parse(text); times.append(time.perf_counter() - t0)
    out[name] = statistics.median(times)
print(json.dumps(out))
"""


def sample(root: Path, texts: dict[str, str], repeat: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root.resolve())}
    proc = subprocess.run([sys.executable, "-c", CHILD % repeat], input=json.dumps(texts),
                          capture_output=True, text=True, env=env, check=True, cwd=root)
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("base", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--runs", type=int, default=5, help="fresh interpreters per tree")
    ap.add_argument("--repeat", type=int, default=3, help="parses per interpreter")
    args = ap.parse_args(argv)
    texts = {name: FAMILIES[name](SIZE)[0] for name in FAMILY_NAMES}
    runs: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    for _ in range(args.runs):
        runs["base"].append(sample(args.base, texts, args.repeat))
        runs["new"].append(sample(args.new, texts, args.repeat))
    print(f"| family ({SIZE:,} nodes) | base ms | new ms | new/base |")
    print("|---|---:|---:|---:|")
    for name in FAMILY_NAMES:
        base = statistics.median(r[name] for r in runs["base"]) * 1e3
        new = statistics.median(r[name] for r in runs["new"]) * 1e3
        print(f"| {name} | {base:.0f} | {new:.0f} | {new / base:.3f} |")


if __name__ == "__main__":
    main()
