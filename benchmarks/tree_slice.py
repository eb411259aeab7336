"""The whole-formula derivative never decides (issue 26): the tree family at 1,000 nodes, seeded.

Past verify.SYMPY_PER_VARIABLE_BUDGET (inputs x terms) the whole formula is not started:
sympy's gate-by-gate proof stands alone, whatever the shape. Each instance is
issue 12's tree (a balanced binary tree over 8 inputs ``a``..``h``, ``+``
and ``*`` alternating with the height) with its leaves and values drawn by a seed; each is
checked in a fresh interpreter, after the imports and one warm-up call on a small, different
expression, then the timed ``evaluate`` (parse included) at the default budget (3 s). It
prints one row per seed (seconds, what was proved) and the median and the worst instance.

    PYTHONPATH=. python benchmarks/tree_slice.py --seeds 10
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

NAMES = "abcdefgh"

RUN = """
import json, time
import sympy
from backprop_cli import evaluate
evaluate("(p+q)*r", at={"p": 1, "q": 2, "r": 3})
text, point = json.loads(input())
start = time.perf_counter()
v = evaluate(text, at=point).verification
seconds = time.perf_counter() - start
print(json.dumps([seconds, dict(v.counts())]))
"""


def seeded_tree(n: int, seed: int) -> tuple[str, dict[str, float]]:
    """The tree of n/2 leaves whose leaves (inputs) and values are drawn by ``seed``."""
    rng = random.Random(seed)
    point = {name: round(rng.uniform(0.3, 0.7), 4) for name in NAMES}
    level = [rng.choice(NAMES) for _ in range(max(2, n // 2))]
    height = 1
    while len(level) > 1:
        op = "+" if height % 2 else "*"
        nxt = [f"({level[i]}{op}{level[i + 1]})" for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        height += 1
    return level[0], point


def one(text: str, point: dict[str, float]) -> tuple[float, dict[str, int]]:
    out = subprocess.run([sys.executable, "-c", RUN], input=json.dumps([text, point]),
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1])
    seconds, counts = json.loads(out.stdout.strip().splitlines()[-1])
    return float(seconds), counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=10)
    args = parser.parse_args()
    print("| seed | seconds | proved |")
    print("|---|---:|---|")
    times = []
    for seed in range(args.seeds):
        seconds, counts = one(*seeded_tree(args.nodes, seed))
        times.append(seconds)
        proved = ", ".join(f"{n} {k}" for k, n in counts.items())
        print(f"| {seed} | {seconds:.2f} | {proved} |", flush=True)
    print(f"\nmedian {statistics.median(times):.2f} s, worst {max(times):.2f} s "
          f"(seed {times.index(max(times))})")


if __name__ == "__main__":
    main()
