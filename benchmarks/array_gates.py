"""The cost of the array gate proof (checks/array_gates.py) at 10^3, 10^4 and 10^5 input entries.

Two families, every run in a fresh interpreter (after its imports and one warm-up check of a
small, different array expression, as a user's first call meets it), with the default budget
of 3 s, medians of --reps runs:

- layer: one MLP layer, ``sum(tanh(W@x + b)^2)``, W h×d (h = 10, 50, 128; d = 100, 200, 784):
  the work is the matrix products, in decimals;
- batch: ``sum((sigmoid(X@W + b) - Y)^2)``, X and Y B×10 (W 10×10, b of 10), B = 50, 500,
  5,000: the work is sigmoid's exp at every entry of a B×10 matrix.

Per run: the engine's forward and backward pass alone (no check), the whole check (sympy
only: ``check=("sympy",)``), and within it the rule proofs (array_rules, once per op and
shape class in a process: not counted against the budget, as sympy's import is not) and the
gate-by-gate pass at the point (counted), and what the check proved.

    PYTHONPATH=. python benchmarks/array_gates.py --reps 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from typing import Any

CASES = {
    "layer": [(10, 100), (50, 200), (128, 784)],
    "batch": [(50, 10), (500, 10), (5000, 10)],
}

CHILD = r"""
import json, sys, time
import numpy as np
import sympy  # noqa: F401  (imports before the clock, as in issue 26)
from backprop_cli import evaluate
from backprop_cli.checks import array_gates

family, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
evaluate("sum(softmax(v) * v)", at={"v": [0.5, -1.0, 2.0]})  # warm-up: small, different
rng = np.random.default_rng(7)
if family == "layer":
    expr = "sum(tanh(W@x + b)^2)"
    at = {"W": rng.uniform(-0.1, 0.1, (a, b)), "x": rng.uniform(-1, 1, b),
          "b": rng.uniform(-1, 1, a)}
else:
    expr = "sum((sigmoid(X@W + b) - Y)^2)"
    at = {"X": rng.uniform(-1, 1, (a, b)), "W": rng.uniform(-0.5, 0.5, (b, 10)),
          "b": rng.uniform(-1, 1, 10), "Y": rng.uniform(0, 1, (a, 10))}
spent = {"rules": 0.0, "gates": 0.0}

def timed(name, fn):
    def run(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - t
    return run

array_gates.warm = timed("rules", array_gates.warm)
array_gates.prove_gradients = timed("gates", array_gates.prove_gradients)
t = time.perf_counter()
evaluate(expr, at=at, check=())
engine = time.perf_counter() - t
t = time.perf_counter()
r = evaluate(expr, at=at, check=("sympy",), budget=3.0)
total = time.perf_counter() - t
v = r.verification
print(json.dumps({"entries": int(sum(np.size(x) for x in at.values())), "engine": engine,
                  "check": v.seconds, "total": total, **spent, "counts": v.counts()}))
"""


def measure(family: str, a: int, b: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD, family, str(a), str(b)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    print("| family | shape | input entries | engine s | check s (budget 3) | rule proofs s "
          "(not counted) | gate pass s | proved |")
    print("|---|---|---|---|---|---|---|---|")
    for family, shapes in CASES.items():
        for a, b in shapes:
            runs = [measure(family, a, b) for _ in range(args.reps)]

            def med(key: str, runs: list[dict[str, Any]] = runs) -> str:
                return f"{statistics.median(r[key] for r in runs):.3f}"

            proved = sorted({", ".join(f"{n} {k}" for k, n in r["counts"].items())
                             for r in runs})
            shape = f"W {a}×{b}" if family == "layer" else f"X {a}×{b}"
            print(f"| {family} | {shape} | {runs[0]['entries']:,} | {med('engine')} | "
                  f"{med('check')} | {med('rules')} | {med('gates')} | "
                  f"{'; '.join(proved)} |", flush=True)


if __name__ == "__main__":
    main()
