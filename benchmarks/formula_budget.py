"""Wall-clock time of `backprop formula` on the hostile cases of issue 30 (items 1 and 2),
each a real process with --budget: the proof that cannot finish, the 20 KB and 16 KB claims,
the seven 2000x2000 products. Prints one Markdown row per case (seconds, exit code, the note).

    PYTHONPATH=. python benchmarks/formula_budget.py --budget 3 --reps 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

TAN = ("dx = 2*x + (sin(x)^2+cos(x)^2-1)*(" + "+".join(f"tan(x+{k})" for k in range(1, 9))
       + ")")
CASES = {
    "proof past the budget (106-character tan claim)": ["x^2", TAN],
    "20 KB claim W+W+...+W": ["sum(W@x)", "dW = " + "+".join(["W"] * 10_000),
                              "--shape", "W=m,n", "--shape", "x=n,1"],
    "16 KB claim x*x*...*x": ["x^3", "dx = " + "*".join(["x"] * 8_000)],
    "sum(W@W@W@W@W@W@W), W 2000x2000": ["sum(W@W@W@W@W@W@W)", "dW = W@W@W@W@W@W@W",
                                        "--shape", "W=2000,2000"],
}


def once(args: list[str], budget: float) -> tuple[float, int, str]:
    start = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "backprop_cli", "formula", *args, "--budget",
                        str(budget), "--json"], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if p.returncode == 2:
        return seconds, 2, p.stderr.splitlines()[0][:90]
    notes = json.loads(p.stdout)["claims"][0]["notes"]
    return seconds, p.returncode, "; ".join(notes)[:90]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--reps", type=int, default=3)
    ns = parser.parse_args()
    print(f"| case | median s (budget {ns.budget:g} s) | exit | says |")
    print("|---|---|---|---|")
    for name, args in CASES.items():
        runs = [once(args, ns.budget) for _ in range(ns.reps)]
        median = statistics.median(r[0] for r in runs)
        print(f"| {name} | {median:.2f} | {runs[0][1]} | {runs[0][2]} |")


if __name__ == "__main__":
    main()
