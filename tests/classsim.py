"""A simulated class for `backprop report`'s tests and benchmark: students who answer a `make`
key with known slips, graded by the real grader, written as each platform writes them.

Each slip is applied to chosen (problem, answer) pairs for an exact number of students (one
slip per student and problem, so that no two slips interact), so the report's counts can be
asserted exactly. A "carried" student writes a wrong forward value and then every later
answer correctly from it: those answers are graded "carried" (error carried forward).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backprop_cli.checks.answers import _Keys, chain_rule
from backprop_cli.checks.evaluate import evaluate
from backprop_cli.course import make as mk
from backprop_cli.course.carried import _Arrays, _Numbers, _rerun
from backprop_cli.course.formulas import grade_formula
from backprop_cli.course.grade import (
    GradeReport,
    grade,
    gradescope_results,
    prairielearn_results,
    read_submission,
)
from backprop_cli.course.problems import ProblemSet, parse_problems

# The class's slips: (problem, answer, slip, students). Problems of `make_key()` below.
PLAN: tuple[tuple[str, str, str, int], ...] = (
    ("wx-norm-1", "dW", "transpose", 9),
    ("wx-norm-1", "dx", "factor 2", 4),
    ("fanout-1", "dx", "missing fan-out branch", 11),
    ("mul-1", "dx", "swap gate: own input used", 7),
    ("neuron-1", "ds", "sign", 5),
    ("neuron-1", "dw0", "sign", 3),
    ("mul-1", "value", "no named slip", 2),
    ("wx-norm-1", "dq", "missing", 6),
)
CARRIED = ("fanout-1", "a", 4)  # 4 students: a wrong, then the rest computed from it


def make_key() -> tuple[str, ProblemSet]:
    made = mk.make("fanout,mul,wx-norm,neuron", seed=1, count=4, level=1)
    text = mk.key_toml(made, command="backprop make fanout,mul,wx-norm,neuron --seed 1 "
                       "--count 4", title="Week 3")
    return text, parse_problems(text, "toml", "key.toml")


@dataclass
class Student:
    id: str
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)  # problem -> key -> value
    slips: dict[tuple[str, str], str] = field(default_factory=dict)  # (problem, key) -> slip
    carried: set[tuple[str, str]] = field(default_factory=set)  # answers graded carried


def _toml_value(v: Any) -> str:
    return json.dumps(v) if isinstance(v, list) else repr(float(v))


def submission_toml(s: Student) -> str:
    lines = []
    for prob, answers in s.answers.items():
        lines.append(f"[{prob}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in answers.items()]
    return "\n".join(lines) + "\n"


def _slipped(slip: str, result: Any, key: str, truth: Any) -> Any:
    import numpy as np

    _, nid = _Keys(result).resolve(key)
    if slip == "sign":
        return (-np.asarray(truth)).tolist() if isinstance(truth, list) else -truth
    if slip == "factor 2":
        return (2 * np.asarray(truth)).tolist()
    if slip == "transpose":
        return np.asarray(truth).T.tolist()
    if slip == "no named slip":
        return truth + 1.37
    if slip == "missing fan-out branch":
        return chain_rule(result, nid)[1][0]  # path 1 alone
    if slip == "swap gate: own input used":
        graph = result.graph
        ((consumer, _),) = graph.consumers()[nid]
        return result.nodes[consumer].upstream * result.nodes[nid].value
    raise ValueError(slip)


def simulate(pset: ProblemSet, n: int = 40, seed: int = 0,
             plan: tuple[tuple[str, str, str, int], ...] = PLAN,
             carried: tuple[str, str, int] | None = CARRIED) -> list[Student]:
    """``n`` students: right everywhere except the plan's slips (exact counts)."""
    rng = random.Random(seed)
    students = [Student(f"s{k:03d}") for k in range(1, n + 1)]
    results = {p.name: evaluate(p.expression, p.at, upstream=p.upstream, check=())
               for p in pset.problems}
    for s in students:
        for p in pset.problems:
            r = results[p.name]
            keys = _Keys(r)
            s.answers[p.name] = {}
            for k in p.expect:  # type: ignore[union-attr]
                kind, nid = keys.resolve(k)
                rec = r.nodes[nid]
                s.answers[p.name][k] = rec.value if kind == "value" else rec.upstream
    busy: set[tuple[str, str]] = set()  # (student, problem) with a slip already
    for prob, key, slip, count in plan:
        free = [s for s in students if (s.id, prob) not in busy]
        for s in rng.sample(free, count):
            busy.add((s.id, prob))
            if slip == "missing":
                del s.answers[prob][key]
            else:
                r = results[prob]
                s.answers[prob][key] = _slipped(slip, r, key, s.answers[prob][key])
            s.slips[(prob, key)] = slip
    if carried is not None:
        prob, key, count = carried
        free = [s for s in students if (s.id, prob) not in busy]
        for s in rng.sample(free, count):
            _carry(s, pset, results[prob], prob, key)
    return students


def _carry(s: Student, pset: ProblemSet, result: Any, prob: str, key: str) -> None:
    """A wrong forward value at ``key`` (+1), then every later answer right from it: in the
    order answers are computed, each one as the grader's rerun gives it from the earlier."""
    keys = _Keys(result)
    rules = _Arrays if result.shaped else _Numbers
    mine = s.answers[prob]
    mine[key] = mine[key] + 1
    s.slips[(prob, key)] = "no named slip"
    size = len(result.graph.nodes)
    place = {}
    for k in mine:
        kind, nid = keys.resolve(k)
        place[k] = nid if kind == "value" else 2 * size - nid
    truth = dict(mine)
    for k in sorted(mine, key=place.__getitem__):
        if place[k] <= place[key]:
            continue
        theirs = {j: (*keys.resolve(j), v) for j, v in mine.items()}
        carried, _ = _rerun(result, theirs, rules)
        mine[k] = carried[k]
        if abs(float(mine[k]) - float(truth[k])) > 0.006:
            s.carried.add((prob, k))


def graded(pset: ProblemSet, students: list[Student], folder: Path) -> list[GradeReport]:
    """Each student's file written to ``folder`` and graded by the real grader."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s in students:
        path = folder / f"{s.id}.toml"
        text = submission_toml(s)
        path.write_text(text, encoding="utf-8")
        out.append(grade(pset, read_submission(path, text), formula=grade_formula))
    return out


def write_check_json(reports: list[GradeReport], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for r in reports:
        (folder / f"{Path(r.submission).stem}.json").write_text(
            json.dumps(r.to_dict(), ensure_ascii=False), encoding="utf-8")


def write_gradescope(reports: list[GradeReport], folder: Path) -> None:
    """A Gradescope export: submission_N/ with submission_metadata.json and
    results/results.json."""
    for k, r in enumerate(reports, 1):
        sub = folder / f"submission_{1000 + k}"
        (sub / "results").mkdir(parents=True, exist_ok=True)
        sid = Path(r.submission).stem
        (sub / "submission_metadata.json").write_text(json.dumps({
            "id": 1000 + k, "users": [{"name": f"Student {sid}", "email": f"{sid}@uni.test",
                                      "sid": sid}]}), encoding="utf-8")
        (sub / "results" / "results.json").write_text(
            json.dumps(gradescope_results(r), ensure_ascii=False), encoding="utf-8")


def write_prairielearn(reports: list[GradeReport], folder: Path) -> None:
    """PrairieLearn: one folder per student (named by the student) with results.json."""
    for r in reports:
        sub = folder / Path(r.submission).stem
        sub.mkdir(parents=True, exist_ok=True)
        (sub / "results.json").write_text(
            json.dumps(prairielearn_results(r), ensure_ascii=False), encoding="utf-8")
