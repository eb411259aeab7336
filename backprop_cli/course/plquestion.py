"""A native PrairieLearn question: what its server.py's generate(data) and grade(data) do.

PrairieLearn runs server.py in its own Python (numpy and sympy, no backprop), so the
question's serverFilesCourse holds backprop and lark vendored (course/bundle.py), and
nothing here may import rich, typer or orjson. The contract (PrairieLearn's
docs/question/server.md): generate() fills ``data["params"]`` (what question.html shows)
and ``data["correct_answers"]`` (one entry per answer box); grade() runs after the boxes'
own elements and sets, per box, ``data["partial_scores"][box]`` (score 0-1, weight,
feedback) and ``data["feedback"][box]``, and the question's ``data["score"]`` (0-1).

Each asked value and gradient is its own box (pl-number-input, or pl-matrix-input for an
array), named ``p<problem>_<key>``. grade() turns the boxes back into a submission and runs
the course grader on it (course/grade.py): the same points, partial credit, slip diagnoses
and error carried forward as the uploaded-file graders.

With variant settings, every variant seed is a fresh problem: its key is made from the
settings and ``pl-<seed>`` (course/variants.py), again at grading, deterministically.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..core.errors import BackpropError
from .grade import GradeReport, Submission, read_submission
from .grade import grade as grade_submission
from .problems import Problem, ProblemSet, parse_problems
from .variants import VariantSettings, prairielearn_id

KEY_FILE = "key.toml"  # the fixed key, beside server.py
SUMMARY = "summary"  # data["feedback"][SUMMARY]: the score line, shown under the question


def load_key(data: dict[str, Any], variants: str | None, question: Path) -> ProblemSet:
    """The key of this variant: made from the settings and the variant seed, or the fixed
    key.toml. Raises BackpropError (PrairieLearn then shows the teacher the error)."""
    if variants:
        vid = prairielearn_id(data.get("variant_seed"))
        text = VariantSettings.parse(variants, where="VARIANTS").key_text(vid)
        return parse_problems(text, "toml", source=f"the key of variant {vid}")
    path = question / KEY_FILE
    return parse_problems(path.read_text(encoding="utf-8"), "toml", source=str(path))


def box_name(problem: Problem, key: str) -> str:
    """A box's answers-name: letters, digits and _ only, unique per problem and answer."""
    return f"p{problem.index}_" + re.sub(r"[^A-Za-z0-9_]", "_", key)


def generate(data: dict[str, Any], variants: str | None, question: Path) -> None:
    """params (the problems as text, their circuits as SVG, the boxes) and correct_answers."""
    from ..views.svg import circuit_svg

    pset = load_key(data, variants, question)
    blank = grade_submission(pset, Submission("blank"))  # what each answer is, its points
    params = data.setdefault("params", {})
    correct = data.setdefault("correct_answers", {})
    problems = []
    for problem, graded in zip(pset.problems, blank.problems):
        result = _evaluate(problem)
        truths = _truths(problem, result)
        boxes = []
        for a in graded.answers:
            name = box_name(problem, a.key)
            truth = truths.get(a.key)
            boxes.append({"box": name, "key": a.key, "what": a.what,
                          "matrix": isinstance(truth, list), "points": a.max_points})
            if truth is not None:
                correct[name] = _to_json(truth)
        problems.append({
            "name": problem.name, "description": problem.description,
            "expression": problem.expression.strip(), "point": _point(problem.at),
            "upstream": None if _default_upstream(problem.upstream)
            else _written(problem.upstream),
            "svg": circuit_svg(_symbolic(result), title=f"the circuit of {problem.name}") or "",
            "boxes": boxes})
    params["problems"] = problems
    params["title"] = pset.title
    # The upload question's blank answers.toml: a table per problem, a line per answer.
    params["template"] = "\n\n".join(
        f"[{p.name}]\n" + "\n".join(f"{a.key} =" for a in graded.answers)
        for p, graded in zip(pset.problems, blank.problems))
    if variants:
        params["variant"] = prairielearn_id(data.get("variant_seed"))


def grade(data: dict[str, Any], variants: str | None, question: Path) -> GradeReport:
    """Grade the boxes with the course grader; per-box score, weight and feedback."""
    pset = load_key(data, variants, question)
    submitted = data.get("submitted_answers") or {}
    lines: list[str] = []
    for problem in pset.problems:
        lines.append(f"[{json.dumps(problem.name)}]")
        for key in _keys(problem):
            value = submitted.get(box_name(problem, key))
            if value is not None:
                lines.append(f"{json.dumps(key)} = {_toml(_from_json(value))}")
    report = grade_submission(pset, read_submission("the answer boxes", "\n".join(lines)))
    partial = data.setdefault("partial_scores", {})
    feedback = data.setdefault("feedback", {})
    for problem, graded in zip(pset.problems, report.problems):
        for a in graded.answers:
            name = box_name(problem, a.key)
            text = "; ".join(a.feedback)
            share = a.points / a.max_points if a.max_points > 0 else 0.0
            partial[name] = {"score": share, "weight": a.max_points, "feedback": text}
            if text:
                feedback[name] = text
    feedback[SUMMARY] = report.summary_line()
    data["score"] = report.fraction
    return report


def _keys(problem: Problem) -> list[str]:
    from ..checks.answers import answers_from

    return [a.key for a in answers_from(problem.expect, where="expect")]


def _evaluate(problem: Problem) -> Any:
    from ..checks.evaluate import evaluate

    return evaluate(problem.expression, problem.at, upstream=problem.upstream, check=())


def _truths(problem: Problem, result: Any) -> dict[str, Any]:
    """The engine's value of every asked answer (what "show the correct answer" shows)."""
    from ..checks.answers import AnswerTolerance, match_answers

    try:
        checks = match_answers(result, problem.expect,
                               AnswerTolerance.from_option(problem.digits, where="digits"))
    except BackpropError:
        return {}
    return {c.key: c.truth for c in checks.checks if c.formula is None}


def _symbolic(result: Any) -> Any:
    """The circuit without numbers: the answers must not be drawn in the question."""
    nodes = [dataclasses.replace(r, value=None, upstream=None, downstream=None, local=None,
                                 fan_out=[]) for r in result.nodes]
    return dataclasses.replace(result, value=None, gradients=None, nodes=nodes)


def _default_upstream(up: Any) -> bool:
    return isinstance(up, (int, float)) and not isinstance(up, bool) and float(up) == 1.0


def _written(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_written(x) for x in v) + "]"
    if isinstance(v, float) and v == int(v):
        return str(int(v))
    return str(v)


def _point(at: Any) -> str:
    if isinstance(at, str):
        return at
    return ", ".join(f"{n} = {_written(v)}" for n, v in at.items())


def _to_json(truth: Any) -> Any:
    """PrairieLearn's JSON for a box's correct answer: a number, or an ndarray record (the
    form of prairielearn.to_json, which pl-matrix-input reads)."""
    if isinstance(truth, list):
        return {"_type": "ndarray", "_value": _matrix(truth), "_dtype": "float64"}
    return float(truth)


def _matrix(v: list[Any]) -> list[Any]:
    return v if v and isinstance(v[0], list) else [v]  # pl-matrix-input is 2-D: a row


def _from_json(value: Any) -> Any:
    """A submitted box: a number, or pl-matrix-input's ndarray record (a row or a column for
    a vector, flattened; the grader judges the shape against the key)."""
    if isinstance(value, dict) and "_value" in value:
        value = value["_value"]
    if isinstance(value, list) and value and all(isinstance(r, list) for r in value):
        if len(value) == 1:
            return value[0]
        if all(len(r) == 1 for r in value):
            return [r[0] for r in value]
    return value


def _toml(value: Any) -> str:
    """A submitted value as TOML for the grader's reader; anything not a finite number
    becomes text, which the grader reports as that answer's problem (costing it alone)."""
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return json.dumps(str(value))
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return json.dumps(repr(value))
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))  # pl-number-input's 7.0 is the 7 the student typed
    return repr(value) if isinstance(value, float) else str(value)
