"""Our default check against gradcheck(fast_mode=True) as a user meets them (issue 26 goal 4).

    pip install torch==2.13.0          # a CPU wheel (the `bench` extra)
    PYTHONPATH=. python benchmarks/first_call.py --json first_call.json --markdown
    PYTHONPATH=. python benchmarks/first_call.py --load first_call.json --markdown

Each family of benchmarks/engine_families.py (sum, chain, tree, MLP) at each size, on
--instances instances drawn by seeds 0, 1, ... (leaves and values: engine_families' seeded
forms, tree_slice.seeded_tree for the tree). Ours is `evaluate(text, at=point)`, the default
check (every input proved one by one); theirs is torch.autograd.gradcheck(fast_mode=True) on
the same expression and point, its torch graph built from the same text (peers.torch_gradcheck:
one Lark parse, then the build inside the checked function). Four figures, each pairing ours
and theirs on the same instance in the same minute:

- warm after import: a fresh interpreter per instance and side; after the side's imports and
  one small warm-up call on another expression (ours `import sympy` and `evaluate("(p+q)*r")`;
  theirs `import torch` and a gradcheck of `(p+q)*r`), the timed check, parse included;
- first call: a fresh interpreter, the side's imports inside the clock, then the check;
- whole process: `backprop eval - --at ... --json` (the expression on stdin) against a Python
  script that imports torch and runs the same gradcheck, from start to exit, A B A B for
  --reps pairs (this script's own paired loop), per instance the median of each side and of the
  pair-by-pair ratios; --whole-sizes says at which sizes (each pair is two processes);
- in-process: one long-lived process per family and size (benchmarks/check_families.py's
  figure: ours with the `--json` document's json.dumps, theirs its gradcheck_fast) that first
  checks an instance of another seed, then each instance with its inputs renamed.

Ratio = ours / gradcheck per instance (below 1: ours is faster); a row gives the median and the
worst (largest) over the instances, and the seconds' median and worst. "proved" says what
ours proved by kind (sympy = the whole formula, sympy-gates = gate by gate, numeric = finite
differences only, budget = not checked), each outcome with the number of instances that had
it: a fast figure that proved less shows there. --code DIR takes backprop_cli from another
checkout (read-only) for every measured process; this script's benchmarks/ are used either
way. Nothing here asserts.

Time: the torch side's processes are most of it (each pays torch's import, 1.5-5 s on a shared
2-core machine; a gradcheck at 10,000 nodes 0.5-2 s). The defaults (10 instances, the whole
process at 1,000 nodes only) took 50 minutes at load 6-14; --figures warm alone 5 minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.engine_families import ENGINE_FAMILIES, Case
from benchmarks.tree_slice import seeded_tree

ROOT = Path(__file__).resolve().parents[1]
FAMILIES: dict[str, Callable[[int, int], Case]] = {
    "sum": lambda n, seed: ENGINE_FAMILIES["sum"](n, seed=seed),
    "chain": lambda n, seed: ENGINE_FAMILIES["chain"](n, seed=seed),
    "tree": seeded_tree,
    "MLP": lambda n, seed: ENGINE_FAMILIES["MLP"](n, seed=seed),
}
FIGURES = {
    "warm": "warm after import",
    "first": "first call (imports in the clock)",
    "whole": "whole process",
    "inproc": "in-process (long-lived, warm)",
}
SMALL = ("(p+q)*r", {"p": 1.0, "q": 2.0, "r": 3.0})


def instance(family: str, n: int, seed: int) -> Case:
    """The family's expression of about n nodes whose leaves and values are drawn by seed."""
    text, point = FAMILIES[family](n, seed)
    # A small tree may not draw every one of its 8 inputs: the point gives only those used.
    used = set(re.findall(r"[A-Za-z_]\w*", text))
    return text, {name: v for name, v in point.items() if name in used}


# Each child reads [text, point] on stdin (before its clock) and prints one JSON line.
OURS = f"""
import json, sys, time
text, point = json.loads(sys.stdin.read())
start = time.perf_counter()
if sys.argv[1] == "warm":
    import sympy
    from backprop_cli import evaluate
    evaluate({SMALL[0]!r}, at={SMALL[1]!r})
    start = time.perf_counter()
from backprop_cli import evaluate
imported = time.perf_counter()
v = evaluate(text, at=point).verification
end = time.perf_counter()
print(json.dumps({{"seconds": end - start, "imports": imported - start,
                  "counts": v.counts()}}))
"""

THEIRS = f"""
import json, sys, time
text, point = json.loads(sys.stdin.read())
start = time.perf_counter()
if sys.argv[1] == "warm":
    import torch
    from benchmarks.peers import torch_gradcheck
    torch_gradcheck({SMALL[0]!r}, {SMALL[1]!r})
    start = time.perf_counter()
import torch
from benchmarks.peers import torch_gradcheck, tree_parser
imported = time.perf_counter()
tree_parser()  # the Lark tables: built inside the clock on a first call, cached after warm-up
parser = time.perf_counter()
ok = torch_gradcheck(text, point)
end = time.perf_counter()
print(json.dumps({{"seconds": end - start, "imports": imported - start,
                  "parser": parser - imported, "ok": ok}}))
"""

# The user's script of the whole-process figure: the point from a JSON file, text on stdin.
SCRIPT = """import json
import sys

import torch  # noqa: F401

from benchmarks.peers import torch_gradcheck

text = sys.stdin.read()
with open(sys.argv[1]) as f:
    point = json.load(f)
print(json.dumps({"ok": torch_gradcheck(text, point)}))
"""

INPROC = f"""
import json, sys, time
from backprop_cli import evaluate
from benchmarks.check_families import gradcheck_fast, renamed
torch = sys.argv[1] == "torch"
cases = json.loads(sys.stdin.read())
evaluate({SMALL[0]!r}, at={SMALL[1]!r})
if torch:
    gradcheck_fast({SMALL[0]!r}, {SMALL[1]!r})
rows = []
for k, (text, point) in enumerate(cases):
    text, point = renamed(text, point, f"r{{k}}")
    start = time.perf_counter()
    r = evaluate(text, at=point)
    json.dumps(r.to_dict(), allow_nan=False)
    row = {{"ours": time.perf_counter() - start, "counts": r.verification.counts()}}
    if torch:
        row["theirs"], proved = gradcheck_fast(text, point)
        row["ok"] = proved.endswith(": ok")
    rows.append(row)
print(json.dumps(rows[1:]))  # the first case is the warm-up instance of another seed
"""


class Runner:
    """Runs the measured processes: backprop_cli from `code`, benchmarks/ from this checkout.

    The children run in a scratch folder whose only package is a link to this benchmarks/,
    first on their path, then `code`: so neither checkout's copy of the other shadows it.
    """

    def __init__(self, code: Path, scratch: Path, torch: bool) -> None:
        self.code, self.scratch, self.torch = code, scratch, torch
        (scratch / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
        (scratch / "user_gradcheck.py").write_text(SCRIPT, encoding="utf-8")
        self.env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(scratch), str(code)])}
        self.backprop = str(Path(sys.executable).with_name("backprop"))

    def run(self, argv: list[str], stdin: str) -> tuple[float, subprocess.CompletedProcess[str]]:
        start = time.perf_counter()
        out = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False,
                             cwd=self.scratch, env=self.env)
        return time.perf_counter() - start, out

    def child(self, script: str, mode: str, case: Any) -> dict[str, Any]:
        _, out = self.run([sys.executable, "-c", script, mode], json.dumps(case))
        if out.returncode != 0:
            raise RuntimeError(f"a measured process failed:\n{out.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def whole_pair(self, text: str, point: dict[str, float]) -> dict[str, Any]:
        """One A B pair: `backprop eval - --json` and the user's gradcheck script."""
        at = ",".join(f"{k}={v!r}" for k, v in point.items())
        ours, out = self.run([self.backprop, "eval", "-", "--at", at, "--json"], text)
        doc = json.loads(out.stdout) if out.stdout.strip() else {}
        row: dict[str, Any] = {"ours": ours, "exit": out.returncode,
                               "counts": doc.get("check_summary", {}).get("counts", {})}
        if self.torch:
            point_file = self.scratch / "point.json"
            point_file.write_text(json.dumps(point), encoding="utf-8")
            theirs, out = self.run([sys.executable, "user_gradcheck.py", str(point_file)], text)
            row["theirs"] = theirs
            row["ok"] = out.returncode == 0 and json.loads(out.stdout)["ok"]
        return row


def measure(runner: Runner, family: str, n: int, seeds: list[int], figures: list[str],
            reps: int, whole: int, tries: int = 1) -> dict[str, Any]:
    """The figures of one family and size: per instance, ours and theirs side by side
    (the whole-process figure on the first `whole` instances)."""
    cases = [instance(family, n, seed) for seed in seeds]
    rows: dict[str, list[dict[str, Any]]] = {key: [] for key in FIGURES}
    for k, (seed, case) in enumerate(zip(seeds, cases)):
        for mode in ("warm", "first"):
            if mode not in figures:
                continue
            # `tries` pairs of fresh interpreters, A B A B: one try is one draw of the
            # machine's noise, which decides the worst instance of ten on 2 shared cores.
            pairs = []
            for _ in range(tries):
                ours = runner.child(OURS, mode, case)
                theirs = runner.child(THEIRS, mode, case) if runner.torch else None
                pairs.append((ours, theirs))
            mid = statistics.median
            row = {"seed": seed, "ours": mid(o["seconds"] for o, _ in pairs),
                   "imports": mid(o["imports"] for o, _ in pairs),
                   "counts": pairs[0][0]["counts"], "tries": tries}
            if runner.torch:
                row.update(theirs=mid(t["seconds"] for _, t in pairs),
                           ratio=mid(o["seconds"] / t["seconds"] for o, t in pairs),
                           ok=all(t["ok"] for _, t in pairs),
                           theirs_imports=mid(t["imports"] for _, t in pairs),
                           parser=mid(t["parser"] for _, t in pairs))
            rows[mode].append(row)
        if "whole" in figures and k < whole:
            pairs = [runner.whole_pair(*case) for _ in range(reps)]
            row = {"seed": seed, "ours": statistics.median(p["ours"] for p in pairs),
                   "counts": pairs[0]["counts"], "exits": [p["exit"] for p in pairs]}
            if runner.torch:
                row.update(theirs=statistics.median(p["theirs"] for p in pairs),
                           ratio=statistics.median(p["ours"] / p["theirs"] for p in pairs),
                           ok=all(p["ok"] for p in pairs))
            rows["whole"].append(row)
    if "inproc" not in figures:
        return {"family": family, "size": n, "inputs": len(cases[0][1]), "rows": rows}
    # The warm-up instance of another seed first (dropped), then the instances.
    warm = instance(family, n, max(seeds) + 1000)
    side = "torch" if runner.torch else "ours"
    _, out = runner.run([sys.executable, "-c", INPROC, side], json.dumps([warm, *cases]))
    if out.returncode != 0:
        raise RuntimeError(f"the in-process run failed:\n{out.stderr[-2000:]}")
    for seed, row in zip(seeds, json.loads(out.stdout.strip().splitlines()[-1])):
        rows["inproc"].append({"seed": seed, **row})
    return {"family": family, "size": n, "inputs": len(cases[0][1]), "rows": rows}


# --- the tables ------------------------------------------------------------------------------


def summary(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Median and worst over the instances of one figure (None: not measured)."""
    if not rows:
        return None
    ours = [r["ours"] for r in rows]
    out: dict[str, Any] = {"n": len(rows), "ours_median": statistics.median(ours),
                           "ours_worst": max(ours)}
    if "theirs" in rows[0]:
        ratios = [r.get("ratio", r["ours"] / r["theirs"]) for r in rows]
        theirs = [r["theirs"] for r in rows]
        worst = max(range(len(rows)), key=ratios.__getitem__)
        out.update(theirs_median=statistics.median(theirs), theirs_worst=max(theirs),
                   ratio_median=statistics.median(ratios), ratio_worst=ratios[worst],
                   worst_seed=rows[worst]["seed"], theirs_ok=all(r["ok"] for r in rows))
    # What ours proved: each distinct outcome with the number of instances that had it.
    outcomes = Counter(json.dumps(r["counts"]) for r in rows)
    out["proved"] = [[n, json.loads(counts)] for counts, n in outcomes.most_common()]
    return out


def proved_text(outcomes: list[list[Any]]) -> str:
    """"10× 500 sympy-gates" or "7× 3 sympy, 5 sympy-gates; 3× 8 sympy-gates"."""
    return "; ".join(f"{n}× " + (", ".join(f"{c:,} {kind}" for kind, c in counts.items())
                                 or "nothing") for n, counts in outcomes)


def markdown(data: dict[str, Any]) -> str:
    load = "/".join(f"{x:.1f}" for x in data["load_before"])
    lines = [f"Measured {data['started']} on `{data['commit']}` ({data['code']}), Python "
             f"{data['python']}, {data['cpus']} CPUs, load average before {load}, after "
             + "/".join(f"{x:.1f}" for x in data.get("load_after", data["load_before"]))
             + ".", "",
             f"Instances per family: {data['instances']} (seeds {data['seeds']}); warm and "
             f"first call: {data.get('tries', 1)} pair(s) of fresh interpreters an instance, "
             "medians; whole "
             f"processes: {data['reps']} pairs an instance on the first "
             f"{data['whole_instances']} at sizes {data['whole_sizes']}. "
             "Ratio = ours / gradcheck(fast_mode=True), median over the instances (worst "
             "instance in brackets); below 1.00 ours is faster.", "",
             "| family | size | inputs | " + " | ".join(FIGURES.values()) + " |",
             "|---|---:|---:|" + "---:|" * len(FIGURES)]
    for case in data["cases"]:
        cells = []
        for key in FIGURES:
            s = summary(case["rows"][key])
            cells.append("—" if s is None or "ratio_median" not in s else
                         f"{s['ratio_median']:.2f} ({s['ratio_worst']:.2f})")
        lines.append(f"| {case['family']} | {case['size']:,} | {case['inputs']:,} | "
                     + " | ".join(cells) + " |")
    for key, title in FIGURES.items():
        if not any(case["rows"][key] for case in data["cases"]):
            continue  # not measured in this run (--figures)
        lines += ["", f"**{title}**: seconds, median (worst) over the instances; what ours "
                  "proved (each outcome, on how many instances); gradcheck's verdict.", "",
                  "| family | size | ours s | gradcheck s | ratio | worst ratio (seed) | "
                  "ours proved | gradcheck |",
                  "|---|---:|---:|---:|---:|---:|---|---|"]
        for case in data["cases"]:
            s = summary(case["rows"][key])
            if s is None:
                continue
            head = (f"| {case['family']} | {case['size']:,} | {s['ours_median']:.3f} "
                    f"({s['ours_worst']:.3f}) | ")
            if "ratio_median" in s:
                lines.append(head + f"{s['theirs_median']:.3f} ({s['theirs_worst']:.3f}) | "
                             f"{s['ratio_median']:.2f} | {s['ratio_worst']:.2f} "
                             f"({s['worst_seed']}) | {proved_text(s['proved'])} | "
                             f"{'ok' if s['theirs_ok'] else 'FAILED'} |")
            else:
                lines.append(head + f"— | — | — | {proved_text(s['proved'])} | — |")
    if not any(case["rows"]["first"] for case in data["cases"]):
        return "\n".join(lines)
    lines += ["", "Within the first call: the imports (median over the instances), and on the "
              "torch side the Lark tables of the grammar (ours ships them built).", "",
              "| family | size | ours imports s | torch side imports s | its Lark tables s |",
              "|---|---:|---:|---:|---:|"]
    for case in data["cases"]:
        rows = case["rows"]["first"]
        if rows and "theirs" in rows[0]:
            med = [statistics.median(r[k] for r in rows)
                   for k in ("imports", "theirs_imports", "parser")]
            lines.append(f"| {case['family']} | {case['size']:,} | "
                         + " | ".join(f"{m:.3f}" for m in med) + " |")
    return "\n".join(lines)


def commit_of(code: Path) -> str:
    out = subprocess.run(["git", "-C", str(code), "log", "-1", "--format=%h"],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return f"not a git checkout: {code.name}"
    dirty = subprocess.run(["git", "-C", str(code), "status", "--porcelain", "backprop_cli"],
                           capture_output=True, text=True, check=False).stdout.strip()
    return out.stdout.strip() + (" + uncommitted changes in backprop_cli/" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--instances", type=int, default=10)
    parser.add_argument("--families", default=",".join(FAMILIES))
    parser.add_argument("--reps", type=int, default=5, help="whole-process pairs an instance")
    parser.add_argument("--tries", type=int, default=1,
                        help="warm and first-call figures: pairs of fresh interpreters an "
                        "instance, each side's median and the median ratio kept (default 1)")
    parser.add_argument("--whole-sizes", default="1000",
                        help="sizes of the whole-process figure (none: skip it)")
    parser.add_argument("--whole-instances", type=int,
                        help="the whole-process figure on the first N instances (default all)")
    parser.add_argument("--figures", default=",".join(FIGURES),
                        help=f"which figures: {', '.join(FIGURES)}")
    parser.add_argument("--ours-only", action="store_true", help="skip the torch side")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="the checkout whose backprop_cli is measured (default: this one)")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--load", type=Path, help="read a --json file instead of measuring")
    parser.add_argument("--markdown", action="store_true", help="print the results.md tables")
    args = parser.parse_args()
    if args.load:
        print(markdown(json.loads(args.load.read_text(encoding="utf-8"))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    whole_sizes = [] if args.whole_sizes == "none" else [int(s) for s in
                                                         args.whole_sizes.split(",")]
    families, figures = args.families.split(","), args.figures.split(",")
    for given, known in ((families, FAMILIES), (figures, FIGURES)):
        unknown = [f for f in given if f not in known]
        if unknown:
            parser.error(f"unknown {unknown}: choose from {', '.join(known)}")
    whole = args.instances if args.whole_instances is None else args.whole_instances
    have_torch = not args.ours_only and importlib.util.find_spec("torch") is not None
    if not have_torch and not args.ours_only:
        print("torch is not installed: ours alone (pip install torch==2.13.0)", file=sys.stderr)
    seeds = list(range(args.instances))
    data: dict[str, Any] = {
        "instances": args.instances, "seeds": f"0-{args.instances - 1}", "reps": args.reps,
        "tries": args.tries,
        "whole_sizes": whole_sizes if "whole" in figures else [], "whole_instances": whole,
        "figures": figures, "code": str(args.code.resolve()),
        "commit": commit_of(args.code), "python": platform.python_version(),
        "cpus": os.cpu_count(), "load_before": os.getloadavg(),
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "cases": []}
    with tempfile.TemporaryDirectory(prefix="first_call_") as scratch:
        runner = Runner(args.code.resolve(), Path(scratch), have_torch)
        for family in families:
            for n in sizes:
                case = measure(runner, family, n, seeds, figures, args.reps,
                               whole if n in whole_sizes else 0, args.tries)
                data["cases"].append(case)
                for key in figures:
                    s = summary(case["rows"][key])
                    if s is not None:
                        print(f"{family} {n:,} {key}: ours {s['ours_median']:.3f} s" + (
                            f", ratio {s['ratio_median']:.2f} (worst {s['ratio_worst']:.2f})"
                            if "ratio_median" in s else ""), file=sys.stderr, flush=True)
                if args.json:  # after every case: a long run interrupted keeps what it has
                    data["load_after"] = os.getloadavg()
                    args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    data["load_after"] = os.getloadavg()
    data["finished"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.json:
        args.json.write_text(json.dumps(data, indent=1), encoding="utf-8")
    if args.markdown:
        print(markdown(data))


if __name__ == "__main__":
    main()
