"""Benchmark of `backprop report` (issue 27): a folder of N students' graded results summarised.

    PYTHONPATH=. python benchmarks/classreport.py                # 1,000 students
    PYTHONPATH=. python benchmarks/classreport.py --students 5000 --reps 3

The class is tests/classsim.py's: a `make` key of four problems, 40 students with known slips
graded by the real grader; their `check --answers --json` files are copied under new names
until there are N (grading is not what is measured here). Then the medians of

- reading and summarising in-process (load_results + summarise), and that plus the HTML page
  with the circuits (the work of `report -o report.html`, warm);
- the whole command `backprop report FOLDER --key KEY -o report.html` as a fresh process
  (wall time, and its CPU time: on a loaded machine the wall time is mostly waiting).

Nothing here asserts anything; tests/test_classreport.py checks the counts.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from backprop_cli.course.classpage import html_page  # noqa: E402
from backprop_cli.course.classreport import summarise  # noqa: E402
from backprop_cli.course.classresults import load_results  # noqa: E402
from benchmarks.grade import _child  # noqa: E402
from tests import classsim as cs  # noqa: E402


def build(folder: Path, n: int) -> Path:
    text, pset = cs.make_key()
    key = folder / "key.toml"
    key.write_text(text, encoding="utf-8")
    reports = cs.graded(pset, cs.simulate(pset), folder / "subs")
    out = folder / "results"
    out.mkdir()
    docs = [r.to_dict() for r in reports]
    for k in range(n):
        doc = dict(docs[k % len(docs)])
        doc["submission"] = f"student{k:05d}.toml"
        (out / f"student{k:05d}.json").write_text(json.dumps(doc), encoding="utf-8")
    return key


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        key = build(folder, args.students)
        from backprop_cli.course.classreport import load_key

        pset = load_key(str(key))
        summary, page, whole, cpu = [], [], [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            students, skipped = load_results([str(folder / "results")])
            report = summarise(students, skipped, pset)
            t1 = time.perf_counter()
            html_page(report)
            t2 = time.perf_counter()
            summary.append(t1 - t0)
            page.append(t2 - t0)
            wall, used = _child([sys.executable, "-m", "backprop_cli", "report",
                                 str(folder / "results"), "--key", str(key), "-o",
                                 str(folder / "report.html")])
            whole.append(wall)
            cpu.append(used)
        print(f"| {args.students:,} students | median of {args.reps} | seconds |")
        print("|---|---|---:|")
        print(f"| read + summarise | in-process | {statistics.median(summary):.3f} |")
        print(f"| read + summarise + HTML page | in-process | {statistics.median(page):.3f} |")
        print(f"| `backprop report DIR --key KEY -o report.html` | fresh process | "
              f"{statistics.median(whole):.3f} |")
        print(f"| the same, CPU time of the process (user + system) | fresh process | "
              f"{statistics.median(cpu):.3f} |")


if __name__ == "__main__":
    main()
