"""Benchmark of grading one submission (issue 14, Scale): what one Gradescope or
PrairieLearn container pays per student.

    PYTHONPATH=. python benchmarks/grade.py                 # 20 problems, level 1 and 2
    PYTHONPATH=. python benchmarks/grade.py --problems 50 --reps 9

For each level: a key of N problems from `backprop make` (all families, cycling), a
submission with every answer right, then the medians of

- grading in-process once everything is loaded (`grade_files`, warm),
- the whole command `backprop check KEY --answers S --gradescope R` as a fresh process
  (wall time, and the CPU time of the child: on a loaded machine the wall time is mostly
  waiting for a core), against `python -c pass`.

Nothing here asserts anything; tests/test_grade.py checks the grades.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _submission(key_text: str) -> str:
    from backprop_cli.course.problems import parse_problems

    lines = []
    for p in parse_problems(key_text, "toml", "key.toml").problems:
        lines.append(f"[{p.name}]")
        for k, v in p.expect.items():  # type: ignore[union-attr]
            lines.append(f"{k} = {json.dumps(_floats(v)) if isinstance(v, list) else v}")
    return "\n".join(lines) + "\n"


def _floats(v: object) -> object:
    if isinstance(v, list):
        return [_floats(x) for x in v]
    return float(v)  # type: ignore[arg-type]


def _child(cmd: list[str]) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", type=int, default=20)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()

    from backprop_cli.course import make as mk
    from backprop_cli.course.grade import grade_files

    backprop = str(Path(sys.executable).parent / "backprop")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")
    print("| level | problems | answers | grade, warm (ms) | command wall (s) | command CPU (s) "
          "| `python -c pass` CPU (s) |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for level in (1, 2):
            made = mk.make(None, seed=1, count=args.problems, level=level)
            key_text = mk.key_toml(made, command="bench", title="bench")
            key, sub = Path(tmp, f"k{level}.toml"), Path(tmp, f"s{level}.toml")
            key.write_text(key_text)
            sub.write_text(_submission(key_text))
            report, _ = grade_files(key, sub)  # loads numpy and the grammar once
            assert report is not None and report.score == report.max_score
            answers = sum(len(p.answers) for p in report.problems)
            warm = []
            for _ in range(args.reps):
                start = time.perf_counter()
                grade_files(key, sub)
                warm.append(time.perf_counter() - start)
            cmd = [backprop, "check", str(key), "--answers", str(sub), "--gradescope",
                   str(Path(tmp, "r.json"))]
            runs = [_child(cmd) for _ in range(args.reps)]
            bare = [_child([sys.executable, "-c", "pass"])[1] for _ in range(args.reps)]
            print(f"| {level} | {args.problems} | {answers} | "
                  f"{statistics.median(warm) * 1000:.0f} | "
                  f"{statistics.median(r[0] for r in runs):.2f} | "
                  f"{statistics.median(r[1] for r in runs):.2f} | "
                  f"{statistics.median(bare):.2f} |")


if __name__ == "__main__":
    main()
