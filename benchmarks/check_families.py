"""The default check against torch.autograd.gradcheck(fast_mode=True), issue 12 item 2.

    pip install torch==2.13.0          # a CPU wheel
    PYTHONPATH=. python benchmarks/check_families.py [--sizes 1000,10000] [--reps 5]

For each family of benchmarks/engine_families.py and size: our default check in-process
(`evaluate(text, at=point)` with sympy and finite differences, plus the `--json` document:
json.dumps(result.to_dict())), and PyTorch's gradcheck in fast mode on the same expression
(one Lark LALR parse of the same text, then gradcheck of a function that builds the torch
graph from the parse tree over one float64 input vector: it compares one random direction of
the analytical Jacobian with a finite difference). Medians of --reps runs, the two taking
turns run by run so that the load of the shared machine falls on both; the ratio is from the
same run. Each run renames the inputs, so that sympy's cache holds nothing of the run before.
"proved" says what each check established. Then whole `backprop eval - --json` processes at
the largest size (issue 12: under 5 s on 2 cores). Nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

from backprop_cli import evaluate
from benchmarks.engine_families import ENGINE_FAMILIES
from benchmarks.peers import torch_gradcheck


def ours(text: str, point: dict[str, float]) -> tuple[float, str]:
    start = time.perf_counter()
    r = evaluate(text, at=point)
    json.dumps(r.to_dict(), allow_nan=False)
    seconds = time.perf_counter() - start
    v = r.verification
    assert v is not None
    counts = v.counts()
    words = {"sympy": "sympy formula", "sympy-gates": "sympy gate by gate",
             "sympy-direction": "sympy 1 direction", "numeric": "fin. diff.",
             "numeric-direction": "fin. diff. 1 direction", "budget": "not checked (budget)",
             "none": "not checked", "failed": "FAILED"}
    proved = ", ".join(f"{n:,} {words[k]}" for k, n in counts.items())
    if v.direction and "numeric" in v.direction:
        ok = "ok" if v.direction["numeric"].get("ok") else "not ok"
        proved += f" (+ fin. diff. along 1 direction: {ok})"
    return seconds, f"every input one by one: {proved}"


def gradcheck_fast(text: str, point: dict[str, float]) -> tuple[float, str]:
    import torch  # noqa: F401  (its import is not timed)

    start = time.perf_counter()
    ok = torch_gradcheck(text, point)
    seconds = time.perf_counter() - start
    return seconds, f"1 random direction (analytical vs numerical): {'ok' if ok else 'FAILED'}"


def renamed(text: str, point: dict[str, float], tag: str) -> tuple[str, dict[str, float]]:
    """The expression with every input renamed (x1 -> x1r0): the same graph, new symbols."""
    names = re.compile(r"\b(" + "|".join(sorted(map(re.escape, point), key=len, reverse=True))
                       + r")\b")
    return names.sub(lambda m: m.group(1) + tag, text), {k + tag: v for k, v in point.items()}


def cli_seconds(text: str, point: dict[str, float]) -> float:
    at = ",".join(f"{k}={v!r}" for k, v in point.items())
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "backprop_cli", "eval", "-", "--at", at, "--json"],
                   input=text, capture_output=True, text=True, check=False,
                   cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--cli-reps", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    import torch

    torch.set_num_threads(1)
    evaluate("x*y", at={"x": 1, "y": 2})  # imports and the parser, before any timing
    print("| family | size | nodes | our default check s | gradcheck fast_mode s | "
          "gradcheck ÷ ours | ours proved | gradcheck proved |")
    print("|---|---|---|---|---|---|---|---|")
    for name, family in ENGINE_FAMILIES.items():
        for n in sizes:
            text, point = family(n)
            nodes = len(evaluate(text, at=point, check=()).graph.nodes)
            a, b = [], []
            for k in range(args.reps):
                # New names each run: the same work, none of it in sympy's cache from the run
                # before (it kept the whole-formula derivatives of a repeated expression,
                # which made the tree at 1,000 nodes look 3x cheaper than a new one).
                t, pt = renamed(text, point, f"r{k}")
                sa, pa = ours(t, pt)
                sb, pb = gradcheck_fast(t, pt)
                a.append(sa)
                b.append(sb)
            ma, mb = statistics.median(a), statistics.median(b)
            print(f"| {name} | {n:,} | {nodes:,} | {ma:.3f} | {mb:.3f} | {mb / ma:.2f} | "
                  f"{pa} | {pb} |", flush=True)
    print()
    print(f"Whole processes: `backprop eval - --at ... --json` at {sizes[-1]:,} nodes "
          f"(median of {args.cli_reps}):")
    print()
    print("| family | seconds |")
    print("|---|---|")
    for name, family in ENGINE_FAMILIES.items():
        text, point = family(sizes[-1])
        runs = [cli_seconds(text, point) for _ in range(args.cli_reps)]
        print(f"| {name} | {statistics.median(runs):.2f} |", flush=True)


if __name__ == "__main__":
    main()
