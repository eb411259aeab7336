"""Benchmark of `backprop`: parse, forward, backward and verification, against its peers.

    PYTHONPATH=. python benchmarks/bench.py            # the full table (minutes)
    PYTHONPATH=. python benchmarks/bench.py --quick    # a smoke run (seconds)

For each expression family and size it prints, as markdown, the medians (over several runs)
of `backprop`'s parse, forward and backward passes, their total, the backward/forward ratio,
a verified `evaluate` (sympy and finite-difference checks, as `backprop eval` runs them), and
the same work (from the same text: Lark LALR parse, build, forward, backward) in micrograd and
PyTorch autograd when they are installed (`pip install ".[bench]"`), with ratios taken in the
same run. First the engine table of issue 12: `evaluate(text, at=point, check=())` on its four
families (benchmarks/engine_families.py) at 1,000 and 10,000 nodes against micrograd, PyTorch
and a plain Python tape, each from a Lark LALR parse of the same text (the peer columns of the
main table are ratios against the same `evaluate(check=())`, the same work). Then start-up:
whole `backprop` processes against `python -c pass` and `python -c "import sympy"`.

Each sample repeats the work until it has run 30 ms at least (for the small sizes) and
reports the time of one call; `backprop` and its peers take turns, sample by sample, so
that the load of this shared machine falls on all alike. Nothing here asserts anything;
tests/test_scale.py checks correctness at these sizes.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backprop_cli.checks.evaluate import evaluate  # noqa: E402
from backprop_cli.core.engine import backward, forward  # noqa: E402
from backprop_cli.core.parse import parse  # noqa: E402

SIZES = (10, 100, 1_000, 10_000, 100_000)
QUICK_SIZES = (10, 100, 1_000)

Case = tuple[str, dict[str, float]]


# --- expression families: text and a point, for about n nodes ------------------------------


def sum_of_products(n: int) -> Case:
    """a0*b0 + a1*b1 + ...: a long left-leaning chain of + (4 nodes a term)."""
    k = max(1, n // 4)
    text = " + ".join(f"a{i}*b{i}" for i in range(k))
    point = {}
    for i in range(k):
        point[f"a{i}"] = 0.5 + (i % 7) / 10
        point[f"b{i}"] = -1.0 + (i % 5) / 4
    return text, point


def nested_functions(n: int) -> Case:
    """tanh(sigmoid(tanh(...x...))): a chain n-1 functions deep."""
    depth = max(1, n - 1)
    names = ("tanh", "sigmoid")
    opens = "".join(names[i % 2] + "(" for i in range(depth))
    return opens + "x" + ")" * depth, {"x": 0.3}


def nested_parens(n: int) -> Case:
    """((((x)*0.5+y)*0.5+y)...): parentheses nested n/3 deep, y used at every level."""
    levels = max(1, (n - 2) // 3)
    return "(" * levels + "x" + ")*0.5+y" * levels, {"x": 0.7, "y": -0.2}


def fan_out_tree(n: int) -> Case:
    """A balanced tree of tanh(v_i * v_j) terms over 5 inputs, each used n/3 times."""
    k = max(1, (n - 5) // 3)
    names = ["u", "v", "w", "x", "y"]
    terms = [f"tanh({names[i % 5]}*{names[(i + 2) % 5]})" for i in range(k)]
    while len(terms) > 1:
        paired = [f"({terms[i]}+{terms[i + 1]})" for i in range(0, len(terms) - 1, 2)]
        if len(terms) % 2:
            paired.append(terms[-1])
        terms = paired
    used = sorted({name for name in names if name in terms[0]})
    values = {"u": 0.3, "v": -0.4, "w": 0.5, "x": -0.6, "y": 0.7}
    return terms[0], {name: values[name] for name in used}


def mlp(n: int) -> Case:
    """An unrolled scalar MLP, h inputs -> h tanh -> h tanh -> 1 output, named statements."""
    h = max(1, round(math.sqrt(n / 6)))
    rng = random.Random(h)
    point: dict[str, float] = {}
    lines = []
    prev = [f"x{i}" for i in range(h)]
    for i in range(h):
        point[f"x{i}"] = rng.uniform(-1, 1)
    for layer, width in ((1, h), (2, h), (3, 1)):
        cur = []
        for j in range(width):
            terms = []
            for i, p in enumerate(prev):
                w = f"w{layer}_{j}_{i}"
                point[w] = rng.uniform(-1, 1) / math.sqrt(len(prev))
                terms.append(f"{w}*{p}")
            b = f"b{layer}_{j}"
            point[b] = rng.uniform(-0.1, 0.1)
            name = f"h{layer}_{j}" if layer < 3 else "out"
            act = "tanh" if layer < 3 else ""
            lines.append(f"{name} = {act}({' + '.join(terms)} + {b})")
            cur.append(name)
        prev = cur
    return "\n".join(lines), point


FAMILIES: dict[str, Callable[[int], Case]] = {
    "sum of products": sum_of_products,
    "nested functions": nested_functions,
    "nested parens": nested_parens,
    "fan-out tree": fan_out_tree,
    "MLP (scalar)": mlp,
}


# --- timing -------------------------------------------------------------------------------


MIN_TIME = 0.03  # a timed sample runs the work this long at least (timeit's autorange idea)


def loops_for(fn: Callable[[], Any]) -> int:
    """How many calls make one sample: small graphs take microseconds, below timer noise."""
    t0 = time.perf_counter()
    fn()  # also a warm-up
    once = time.perf_counter() - t0
    return max(1, min(10_000, int(MIN_TIME / max(once, 1e-7))))


@dataclass
class Row:
    family: str
    size: int
    nodes: int = 0
    parse: float = math.nan
    forward: float = math.nan
    backward: float = math.nan
    total: float = math.nan
    verify: float | None = None
    verify_how: str = ""
    peers: dict[str, float | str] | None = None
    peer_parse: float = math.nan
    evaluate: float = math.nan  # evaluate(check=()): the work a peer's column is compared with


def backprop_sampler(text: str, point: dict[str, float]) -> Callable[[], list[float]]:
    """One sample: parse, forward, backward (and their total), per call."""
    def once() -> None:
        graph = parse(text)
        backward(graph, forward(graph, point))

    loops = loops_for(once)

    def sample() -> list[float]:
        sums = [0.0, 0.0, 0.0]
        for _ in range(loops):
            t0 = time.perf_counter()
            graph = parse(text)
            t1 = time.perf_counter()
            values = forward(graph, point)
            t2 = time.perf_counter()
            backward(graph, values)
            t3 = time.perf_counter()
            sums[0] += t1 - t0
            sums[1] += t2 - t1
            sums[2] += t3 - t2
        return [x / loops for x in sums] + [sum(sums) / loops]

    return sample


def plain_sampler(fn: Callable[[], Any]) -> Callable[[], list[float]]:
    loops = loops_for(fn)

    def sample() -> list[float]:
        t0 = time.perf_counter()
        for _ in range(loops):
            fn()
        return [(time.perf_counter() - t0) / loops]

    return sample


def interleaved(samplers: dict[str, Callable[[], list[float]]],
                reps: int) -> dict[str, list[float]]:
    """Medians per sampler; the samplers take turns, so a busy spell of this shared machine
    falls on all of them alike and their ratios stay fair."""
    samples: dict[str, list[list[float]]] = {name: [] for name in samplers}
    for _ in range(reps):
        for name, sample in samplers.items():
            gc.collect()
            samples[name].append(sample())
    return {name: [statistics.median(col) for col in zip(*rows)]
            for name, rows in samples.items()}


def verification_label(result: Any) -> str:
    v = result.verification
    if v is None:
        return "none"
    notes = " ".join(v.notes)
    sympy = "sympy"
    if "sympy check skipped" in notes:
        sympy = "no sympy (too deep/big)"
    elif "sympy check gave up" in notes:
        sympy = "no sympy (recursion)"
    elif "sympy check stopped" in notes:
        sympy = "sympy partly (time budget)"
    how = "per input" if v.mode == "per-variable" else "random direction"
    ok = "ok" if result.ok else "FAILED"
    return f"{how}, {sympy} + FD, {ok}"


def bench_table(sizes: tuple[int, ...], reps: int, verify_max: int, verify_reps: int,
                peers: dict[str, Callable[[str, dict[str, float]], Any]],
                families: list[str]) -> list[Row]:
    rows = []
    for family in families:
        for size in sizes:
            text, point = FAMILIES[family](size)
            r = reps if size < 100_000 else max(1, min(reps, 3))
            row = Row(family, size, nodes=len(parse(text).nodes), peers={})
            samplers = {"backprop": backprop_sampler(text, point),
                        "evaluate": plain_sampler(
                            lambda t=text, p=point: evaluate(t, at=p, check=()))}
            if peers:
                from benchmarks.peers import parse_tree

                samplers["tree parse"] = plain_sampler(lambda t=text: parse_tree(t))
            for name, run in peers.items():
                try:
                    samplers[name] = plain_sampler(lambda run=run, t=text, p=point: run(t, p))
                except RecursionError:
                    row.peers[name] = "RecursionError"
            medians = interleaved(samplers, r)
            row.parse, row.forward, row.backward, row.total = medians["backprop"]
            row.evaluate = medians["evaluate"][0]
            if "tree parse" in medians:
                row.peer_parse = medians["tree parse"][0]
            for name in peers:
                if name in medians:
                    row.peers[name] = medians[name][0]
            if row.nodes <= verify_max:
                box: dict[str, Any] = {}

                def verified(box: dict[str, Any] = box, text: str = text,
                             point: dict[str, float] = point) -> None:
                    box["r"] = evaluate(text, at=point)

                row.verify = interleaved({"v": plain_sampler(verified)}, verify_reps)["v"][0]
                row.verify_how = verification_label(box["r"])
            else:
                row.verify_how = f"not run (over --verify-max {verify_max:,} nodes)"
            rows.append(row)
            print(f"  {family:18} {size:>7,}: {row.total * 1e3:9.2f} ms "
                  + " ".join(f"{k}={_ms(v)}" for k, v in row.peers.items()),
                  file=sys.stderr, flush=True)
    return rows


def _ms(v: float | str | None) -> str:
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    ms = v * 1e3
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}"


def _ratio(peer: float | str | None, ours: float) -> str:
    if not isinstance(peer, float):
        return "–"
    return f"{peer / ours:.2f}"


def table_markdown(rows: list[Row], peer_names: list[str]) -> str:
    head = ["family", "size", "nodes", "parse ms", "forward ms", "backward ms", "bwd/fwd",
            "parse+fwd+bwd ms", "evaluate(check=()) ms"]
    for name in peer_names:
        head += [f"{name} ms", f"{name} ÷ evaluate"]
    if peer_names:
        head.append("peers' Lark tree parse ms")
    head += ["verified evaluate ms", "verification"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.family, f"{r.size:,}", f"{r.nodes:,}", _ms(r.parse), _ms(r.forward),
                 _ms(r.backward), f"{r.backward / r.forward:.2f}", _ms(r.total),
                 _ms(r.evaluate)]
        for name in peer_names:
            p = (r.peers or {}).get(name)
            cells += [_ms(p), _ratio(p, r.evaluate)]
        if peer_names:
            cells.append(_ms(r.peer_parse))
        cells += [_ms(r.verify), r.verify_how]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- the engine: evaluate(check=()) on issue 12's families, against the peers ----------------

ENGINE_SIZES = (1_000, 10_000)


def engine_table(sizes: tuple[int, ...], reps: int,
                 peers: dict[str, Callable[[str, dict[str, float]], Any]],
                 families: list[str] | None = None) -> str:
    """`evaluate(text, at=point, check=())` (what `backprop eval --check ""` computes: parse,
    graph, forward, backward, every node's record) against each peer's Lark LALR parse of the
    same text + build + backward, in-process, taking turns sample by sample; medians."""
    from benchmarks.engine_families import ENGINE_FAMILIES

    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 100_000))  # micrograd's recursive topological sort
    names = list(peers)
    head = ["family", "size", "nodes", "evaluate(check=()) ms"]
    for name in names:
        head += [f"{name} ms", f"{name} ÷ evaluate"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    try:
        for family in families or list(ENGINE_FAMILIES):
            for size in sizes:
                text, point = ENGINE_FAMILIES[family](size)
                nodes = len(parse(text).nodes)
                samplers = {"evaluate": plain_sampler(
                    lambda t=text, p=point: evaluate(t, at=p, check=()))}
                failed: dict[str, str] = {}
                for name, run in peers.items():
                    try:
                        samplers[name] = plain_sampler(lambda run=run, t=text, p=point: run(t, p))
                    except RecursionError:
                        failed[name] = "RecursionError"
                medians = interleaved(samplers, reps)
                ours = medians["evaluate"][0]
                cells = [family, f"{size:,}", f"{nodes:,}", _ms(ours)]
                for name in names:
                    if name in failed:
                        cells += [failed[name], "–"]
                    else:
                        peer = medians[name][0]
                        cells += [_ms(peer), f"{peer / ours:.2f}"]
                lines.append("| " + " | ".join(cells) + " |")
                print("  engine " + " ".join(cells), file=sys.stderr, flush=True)
    finally:
        sys.setrecursionlimit(old_limit)
    return "\n".join(lines)


# --- start-up: whole processes ------------------------------------------------------------


def startup_commands(big: tuple[str, str] | None) -> list[tuple[str, list[str], str | None]]:
    py = sys.executable
    cmds: list[tuple[str, list[str], str | None]] = [
        ("python -c pass", [py, "-c", "pass"], None),
        ('python -c "import sympy"', [py, "-c", "import sympy"], None),
        ("backprop --help", [py, "-m", "backprop_cli", "--help"], None),
        ("backprop eval --help", [py, "-m", "backprop_cli", "eval", "--help"], None),
        ('backprop eval "(x+y)*z" --at x=-2,y=5,z=-4 (verified)',
         [py, "-m", "backprop_cli", "eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4"], None),
        ('backprop eval "(x+y)*z" ... --json',
         [py, "-m", "backprop_cli", "eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--json"], None),
    ]
    if big is not None:
        text, at = big
        cmds.append(("backprop eval - (10,000-node sum, verified, tables)",
                     [py, "-m", "backprop_cli", "eval", "-", "--at", at], text))
    return cmds


def time_process(argv: list[str], stdin: str | None) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env,
                          cwd=ROOT, check=False)
    return time.perf_counter() - t0, proc.returncode


def startup_markdown(reps: int, with_torch: bool, big: bool) -> str:
    """Whole processes, taking turns run by run (like the samples above), medians."""
    big_case = None
    if big:
        text, point = sum_of_products(10_000)
        big_case = (text, ",".join(f"{k}={v!r}" for k, v in point.items()))
    cmds = startup_commands(big_case)
    if with_torch:
        cmds.append(('python -c "import torch"', [sys.executable, "-c", "import torch"], None))
    times: dict[str, list[float]] = {label: [] for label, _, _ in cmds}
    codes: dict[str, int] = {}
    for k in range(reps):
        for label, argv, stdin in cmds:
            if k >= 3 and ("10,000" in label or "torch" in label):
                continue  # the slow ones: 3 runs
            t, codes[label] = time_process(argv, stdin)
            times[label].append(t)
    # Ratios are medians of the per-round ratios: each round runs every command once, in turn.
    base_t = times[cmds[0][0]]
    sympy_t = times[cmds[1][0]]
    lines = ["| command | runs | median ms | ÷ `python -c pass` | ÷ `import sympy` | exit |",
             "|---|---|---|---|---|---|"]
    for label, _, _ in cmds:
        ts = times[label]
        t = statistics.median(ts)
        over_pass = statistics.median(a / b for a, b in zip(ts, base_t))
        over_sympy = statistics.median(a / b for a, b in zip(ts, sympy_t))
        print(f"  {label}: {t * 1e3:.0f} ms (exit {codes[label]})", file=sys.stderr, flush=True)
        lines.append(f"| `{label}` | {len(ts)} | {t * 1e3:.0f} | {over_pass:.2f} "
                     f"| {over_sympy:.2f} | {codes[label]} |")
    return "\n".join(lines)


def help_imports() -> str:
    """Which heavy modules `backprop --help` imports (it must import neither)."""
    code = ("import sys, runpy; sys.argv=['backprop','--help']\n"
            "try:\n runpy.run_module('backprop_cli', run_name='__main__')\n"
            "except SystemExit: pass\n"
            "print(sorted(m for m in ('sympy','numpy','pydantic','lark','rich')"
            " if m in sys.modules),"
            " file=sys.stderr)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          check=False)
    return proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "?"


def machine() -> str:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "not installed"

    cpus = os.cpu_count()
    return (f"Python {platform.python_version()} on {platform.system()} {platform.machine()}, "
            f"{cpus} CPUs (shared, noisy); lark {version('lark')}, sympy {version('sympy')}, "
            f"micrograd {version('micrograd')}, torch {version('torch')}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: sizes 10-1,000, 3 runs, fewer start-up runs")
    ap.add_argument("--sizes", help="comma-separated sizes (default 10,...,100000)")
    ap.add_argument("--reps", type=int, help="samples per measurement (median; default 7)")
    ap.add_argument("--verify-max", type=int, default=15_000,
                    help="run the verified evaluate only up to this many nodes")
    ap.add_argument("--families", help="comma-separated subset of: " + ", ".join(FAMILIES))
    ap.add_argument("--no-peers", action="store_true", help="skip micrograd and PyTorch")
    ap.add_argument("--no-startup", action="store_true", help="skip the start-up table")
    ap.add_argument("--startup-only", action="store_true", help="only the start-up table")
    ap.add_argument("--engine-only", action="store_true",
                    help="only the engine table (issue 12's families) and start-up")
    ap.add_argument("--no-engine", action="store_true", help="skip the engine table")
    ap.add_argument("--startup-reps", type=int, help="start-up rounds (median; default 9)")
    args = ap.parse_args(argv)

    sizes = QUICK_SIZES if args.quick else SIZES
    if args.sizes:
        sizes = tuple(int(s) for s in args.sizes.split(","))
    reps = args.reps or (3 if args.quick else 7)
    families = list(FAMILIES) if not args.families else [
        f.strip() for f in args.families.split(",")]
    peers: dict[str, Callable[[str, dict[str, float]], Any]] = {}
    if not args.no_peers:
        from benchmarks.peers import available

        peers = available()
    peer_names = list(peers)

    print(f"backprop benchmark: {machine()}", file=sys.stderr)
    engine = ""
    if not args.startup_only and not args.no_engine:
        engine = engine_table((1_000,) if args.quick else ENGINE_SIZES, max(reps, 5), peers)
    rows = [] if args.startup_only or args.engine_only else bench_table(
        sizes, reps, args.verify_max, 1 if args.quick else 3, peers, families)
    out = [f"Machine: {machine()}.", "",
           f"Command: `PYTHONPATH=. python benchmarks/bench.py {shlex.join(argv or sys.argv[1:])}`"
           f" — medians of {reps} interleaved samples (3 at 100,000 nodes), each at least"
           f" {MIN_TIME * 1e3:.0f} ms of repeated calls; times in ms per call."]
    if engine:
        out += ["", "Engine: `evaluate(text, at=point, check=())` on issue 12's families "
                "(benchmarks/engine_families.py) against each peer's Lark parse + build + "
                "backward (peer ÷ evaluate above 1: `backprop` is faster):", "", engine]
    if rows:
        out += ["", table_markdown(rows, peer_names)]
    if not peer_names and not args.no_peers:
        out += ["", "(micrograd and PyTorch are not installed: `pip install \".[bench]\"`)"]
    if not args.no_startup:
        out += ["", "Start-up (whole processes, `python -m backprop_cli` with PYTHONPATH=., "
                "taking turns run by run):", "",
                startup_markdown(args.startup_reps or (3 if args.quick else 9), "torch" in peers,
                                 not args.quick), "",
                f"Heavy modules imported by `backprop --help`: {help_imports()}"]
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
