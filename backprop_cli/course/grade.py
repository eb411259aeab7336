"""Grading a student's answers against an answer key: points, partial credit, error carried
forward, and the results files of Gradescope and PrairieLearn.

The student's file holds answers only, one table per problem (`[neuron] dw0 = -0.20`);
the problems, points and rounding rules come from the key alone. Reading never stops at the
first mistake: a table with a TOML syntax error is blanked out and the rest read again (as
problems.py does for keys), a value of the wrong type costs that answer only, and a missing
table costs that problem only. Every answer is graded against the engine's numbers, with
the same rounding rules and slip diagnoses as `--expect` (checks/answers.py).

Error carried forward: a wrong answer is also compared with what it would be if the
student's own earlier (wrong) answers were right: the forward pass is rerun with their
forward values in place of the true ones, and the backward pass with their upstream
gradients (and local gradients taken at their forward values). An answer that matches that
gets the share of its points the key's `carried_forward` allows (1 when the key does not
say). Vectors and matrices the same way, with the array engine's rules (numpy): an array
answer is carried forward when every entry matches the rerun within its own rounding
allowance; an answer of the wrong shape is never carried, nor used to carry others.

Answers that are text but not numbers (a formula such as `dx = "2*x"`) go to a pluggable
checker (``grade(..., formula=...)``); without one they score 0 with a message saying so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..checks.answers import AnswerCheck, AnswerTolerance, answers_from, fmt, match_answers
from ..core.errors import BackpropError, InputError
from ..core.limits import WORD_CHARS, abbreviate, abbreviate_message
from ..core.tomlcompat import tomllib
from .problems import Problem, ProblemSet, _sections, _toml_error

# A formula checker: (problem, the key's evaluated Result, answer key, the student's text)
# -> (right?, feedback lines). Issue 13's formula answers plug in here.
FormulaChecker = Callable[[Problem, Any, str, str], tuple[bool, list[str]]]

STATUSES = ("correct", "carried", "wrong", "missing", "invalid")
MAX_SUBMISSION_BYTES = 1_000_000  # a page of answers is a few kB; more is not a submission


# ---------------------------------------------------------------- the student's file


@dataclass
class Given:
    """One answer as the student wrote it: a number, an array, or text (a formula)."""

    key: str
    raw: Any  # as read (int, Decimal, str, list); None when unreadable
    error: str | None = None  # why it cannot be graded (a boolean, a table, ...)
    formula: str | None = None  # text that is not a number: for a formula checker


@dataclass
class Submission:
    source: str
    answers: dict[str, dict[str, Given]] = field(default_factory=dict)  # problem -> key
    broken: dict[str, str] = field(default_factory=dict)  # problem -> why it was not read
    errors: list[str] = field(default_factory=list)  # the whole file (not TOML, empty, ...)
    notes: list[str] = field(default_factory=list)  # stray keys, ignored

    @property
    def readable(self) -> bool:
        """Whether anything could be read (else PrairieLearn is told it is not gradable)."""
        return not self.errors


def read_submission(path: str | Path, text: str | None = None) -> Submission:
    """Read a student's answers; never raises for anything inside the file."""
    sub = Submission(str(path))
    if text is None:
        from ..core.fileio import read_bytes

        try:  # bounded, and never a device that does not end (/dev/zero)
            raw = read_bytes(str(path), limit=MAX_SUBMISSION_BYTES, what="the submission",
                             where="--answers")
        except BackpropError as exc:
            sub.errors.append(f"could not read the submission {Path(path).name}: "
                              f"{exc.message}")
            return sub
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            sub.errors.append(f"the submission is not UTF-8 text (byte {exc.start + 1}): "
                              "save it as plain text (.toml)")
            return sub
    if not text.strip():
        sub.errors.append("the submission is empty: write one table per problem, such as "
                          "[neuron] then dw0 = -0.20")
        return sub
    doc = _parse(text, sub)
    if doc is None:
        return sub
    if sub.broken and not any(isinstance(t, dict) for t in doc.values()):
        sub.errors.append("nothing in the submission could be read: "
                          + "; ".join(sub.broken.values()))
        return sub
    for name, table in doc.items():
        if not isinstance(table, dict):
            sub.notes.append(f"'{name}' is outside any problem's table and was ignored "
                             "(put answers under [problem-name])")
            continue
        answers: dict[str, Given] = {}
        for key, value in table.items():
            answers[key] = _given(key, value)
        sub.answers[name] = answers
    return sub


_BLANK = re.compile(r"""^\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=\s*(?:#.*)?$""")


def _parse(text: str, sub: Submission) -> dict[str, Any] | None:
    """TOML, with each table that has a syntax error blanked out and reported against it."""
    # `dx =` with nothing after it (a template's blank left blank) is a missing answer, not
    # a syntax error that would cost the whole table.
    lines = ["" if _BLANK.match(ln) else ln for ln in text.splitlines()]
    blanked: set[int] = set()
    for _ in range(len(lines) + 1):
        current = "\n".join("" if k in blanked else ln for k, ln in enumerate(lines, 1))
        try:
            return tomllib.loads(current, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            message, line = _toml_error(exc, len(lines))
            found = _sections(lines, line, only_here="twice" in message)
            if found is None or all(k in blanked for k in found[1]):
                sub.errors.append(f"the submission is not valid TOML (line {line}: {message});"
                                  " write one table per problem, such as [neuron] then "
                                  "dw0 = -0.20")
                return None
            sub.broken[found[0]] = f"line {line} is not valid TOML: {message}"
            blanked.update(found[1])
        except ValueError:  # tomllib's int() past Python's 4,300-digit conversion limit
            sub.errors.append("the submission has a whole number of more than 4,300 digits; "
                              "write answers as ordinary numbers such as dw0 = -0.20")
            return None
    return None


def _given(key: str, value: Any) -> Given:
    from ..checks.answers import answer

    if isinstance(value, str):
        text = value.strip()
        try:
            answer(key, text, where="answer")
        except InputError:
            if text.startswith("["):
                return Given(key, None, error=f"'{text}' is not a vector or matrix of numbers")
            return Given(key, None, formula=text) if text else Given(key, None,
                                                                    error="the answer is empty")
        return Given(key, text)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, list)):
        kind = ("a boolean" if isinstance(value, bool) else "a table" if isinstance(value, dict)
                else f"a {type(value).__name__}")
        return Given(key, None, error=f"the answer must be a number (or a vector or matrix), "
                     f"not {kind}")
    try:
        answer(key, value, where="answer")
    except InputError as exc:
        return Given(key, None, error=exc.message)
    return Given(key, value)


# ---------------------------------------------------------------- grades


@dataclass
class AnswerGrade:
    key: str
    what: str  # "value of s", "gradient ∂f/∂w0"
    status: str  # one of STATUSES
    points: float
    max_points: float
    written: str = ""  # the student's answer as written ("" if missing)
    feedback: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # The student's text, echoed in tables, feedback and the platforms' files: cut when
        # long (issue 16: a 900,000-character answer printed 4.5 MB).
        self.written = abbreviate(self.written)
        self.feedback = [abbreviate_message(f) for f in self.feedback]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "what": self.what, "status": self.status,
                "points": self.points, "max_points": self.max_points, "written": self.written,
                "feedback": self.feedback}


@dataclass
class ProblemGrade:
    name: str
    index: int
    description: str
    answers: list[AnswerGrade]
    note: str | None = None  # why the whole problem scored nothing (table missing, broken)

    @property
    def points(self) -> float:
        return sum(a.points for a in self.answers)

    @property
    def max_points(self) -> float:
        return sum(a.max_points for a in self.answers)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "index": self.index, "description": self.description,
                "points": self.points, "max_points": self.max_points, "note": self.note,
                "answers": [a.to_dict() for a in self.answers]}


@dataclass
class GradeReport:
    key: str
    submission: str
    title: str
    problems: list[ProblemGrade]
    gradable: bool = True
    notes: list[str] = field(default_factory=list)  # about the whole submission
    seconds: float = 0.0

    @property
    def score(self) -> float:
        return sum(p.points for p in self.problems)

    @property
    def max_score(self) -> float:
        return sum(p.max_points for p in self.problems)

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score > 0 else 0.0

    def summary_line(self) -> str:
        counts = {s: sum(1 for p in self.problems for a in p.answers if a.status == s)
                  for s in STATUSES}
        parts = [f"{counts['correct']} correct"]
        if counts["carried"]:
            parts.append(f"{counts['carried']} carried forward")
        parts.append(f"{counts['wrong']} wrong")
        if counts["missing"]:
            parts.append(f"{counts['missing']} missing")
        if counts["invalid"]:
            parts.append(f"{counts['invalid']} unreadable")
        return f"score {_pts(self.score)} of {_pts(self.max_score)}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "submission": self.submission, "title": self.title,
                "gradable": self.gradable, "score": self.score, "max_score": self.max_score,
                "fraction": self.fraction, "summary": self.summary_line(), "notes": self.notes,
                "problems": [p.to_dict() for p in self.problems]}


def _pts(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}".rstrip("0")


class BrokenKeyError(InputError):
    """The answer key itself cannot be used: the teacher's problem, not the student's."""


def check_key(pset: ProblemSet) -> None:
    """A key with a malformed problem cannot grade anyone fairly: stop before grading."""
    if pset.invalid:
        bad = pset.invalid[0]
        raise BrokenKeyError(f"the answer key {pset.source} has a malformed problem: "
                             f"{bad.where()}: {bad.message}", where="KEY",
                             hint="run `backprop check KEY.toml` and fix the key first")


def grade(pset: ProblemSet, sub: Submission, *,
          formula: FormulaChecker | None = None) -> GradeReport:
    """Grade ``sub`` against the key ``pset``. Raises only for a broken key (BrokenKeyError)."""
    start = time.perf_counter()
    check_key(pset)
    report = GradeReport(pset.source, sub.source, pset.title, [], gradable=sub.readable,
                         notes=list(sub.errors) + list(sub.notes))
    asked = {p.name for p in pset.problems}
    for name in sub.answers:
        if name not in asked:
            import difflib

            close = difflib.get_close_matches(name, sorted(asked), n=1)
            report.notes.append(f"[{abbreviate(name, WORD_CHARS)}] is not a problem of this "
                                "assignment and was ignored"
                                + (f" (did you mean [{close[0]}]?)" if close else ""))
    for problem in pset.problems:
        report.problems.append(_grade_problem(problem, sub, formula))
    report.seconds = time.perf_counter() - start
    return report


def _grade_problem(problem: Problem, sub: Submission,
                   formula: FormulaChecker | None) -> ProblemGrade:
    from ..checks.evaluate import evaluate

    try:
        result = evaluate(problem.expression, problem.at, upstream=problem.upstream, check=())
        keys = [a.key for a in answers_from(problem.expect, where="expect")]
        what = {k: _what(result, k) for k in keys}
        tol = _tolerance(problem)
    except BackpropError as exc:
        raise BrokenKeyError(f"the answer key's problem '{problem.name}' cannot be run: "
                             f"{exc.message}", where="KEY", hint=exc.hint) from None
    pg = ProblemGrade(problem.name, problem.index, problem.description, [])
    given = sub.answers.get(problem.name)
    why = sub.broken.get(problem.name)
    if given is None:
        note = (f"your [{problem.name}] table could not be read: {why}" if why else
                f"your file has no [{problem.name}] table" if sub.readable else
                "your file could not be read")
        pg.note = note
        pg.answers = [AnswerGrade(k, what[k], "invalid" if why else "missing", 0.0,
                                  problem.points_for(k), feedback=[note]) for k in keys]
        return pg
    given, extra = _aliases(result, keys, given)
    checks: dict[str, AnswerCheck] = {}
    for k in keys:
        g = given.get(k)
        full = problem.points_for(k)
        if g is None:
            pg.answers.append(AnswerGrade(k, what[k], "missing", 0.0, full,
                                          feedback=[f"no answer for {k}"]))
            continue
        if g.error is not None:
            pg.answers.append(AnswerGrade(k, what[k], "invalid", 0.0, full,
                                          feedback=[g.error]))
            continue
        if g.formula is not None:
            pg.answers.append(_grade_formula(problem, result, k, g.formula, what[k], full,
                                             formula))
            continue
        try:
            c = match_answers(result, {k: g.raw}, tol).checks[0]
        except BackpropError as exc:  # an answer the matcher cannot use: that answer only
            pg.answers.append(AnswerGrade(k, what[k], "invalid", 0.0, full,
                                          feedback=[exc.message]))
            continue
        checks[k] = c
        if c.ok:
            pg.answers.append(AnswerGrade(k, what[k], "correct", full, full, c.written))
        else:
            feedback = [c.verdict()] + [f"hint: {h}" for h in c.hints] + c.explanation
            pg.answers.append(AnswerGrade(k, what[k], "wrong", 0.0, full, c.written,
                                          feedback))
    show = problem.show_correct is not False
    _carry_forward(problem, result, pg, checks, keys, show=show)
    if not show:
        _conceal(pg, checks)
    if extra:
        pg.note = "ignored, not asked: " + ", ".join(extra)
    return pg


def _aliases(result: Any, keys: list[str], given: dict[str, Given]
             ) -> tuple[dict[str, Given], list[str]]:
    """A student's `df/dw0` or `∂f/∂w0` answers the key's `dw0`: the same quantity, named as
    `--expect` allows. Returns the answers by the key's names, and the keys not asked."""
    from ..checks.answers import _Keys

    names = _Keys(result)
    asked = {names.resolve(k): k for k in keys}
    out = {k: g for k, g in given.items() if k in keys}
    extra = []
    for k, g in given.items():
        if k in keys:
            continue
        try:
            same = asked.get(names.resolve(k))
        except InputError:
            same = None
        if same is not None and same not in out:
            out[same] = g
        else:
            extra.append(k)
    return out, extra


def _tolerance(problem: Problem) -> AnswerTolerance:
    bounds: dict[str, float] = {}
    if problem.rtol is not None:
        bounds["rtol"] = problem.rtol
    if problem.atol is not None:
        bounds["atol"] = problem.atol
    return AnswerTolerance.from_option(problem.digits, where="digits", **bounds)


def _what(result: Any, key: str) -> str:
    from ..checks.answers import _Keys

    keys = _Keys(result)
    kind, nid = keys.resolve(key)
    top = "L" if (isinstance(result.seed, list) or result.seed != 1.0) else keys.out_name
    return (f"value of {keys.label(nid)}" if kind == "value"
            else f"gradient ∂{top}/∂{keys.label(nid)}")


def _grade_formula(problem: Problem, result: Any, key: str, text: str, what: str,
                   full: float, formula: FormulaChecker | None) -> AnswerGrade:
    if formula is None:
        return AnswerGrade(key, what, "invalid", 0.0, full, text,
                           [f"'{text}' is not a number: this assignment grades numbers "
                            "(write the value, e.g. -0.20)"])
    try:
        ok, lines = formula(problem, result, key, text)
    except BackpropError as exc:
        return AnswerGrade(key, what, "invalid", 0.0, full, text, [exc.message])
    return AnswerGrade(key, what, "correct" if ok else "wrong", full if ok else 0.0, full,
                       text, lines)


# ---------------------------------------------------------------- error carried forward


def _carry_forward(problem: Problem, result: Any, pg: ProblemGrade,
                   checks: dict[str, AnswerCheck], keys: list[str], *,
                   show: bool = True) -> None:
    """Rerun forward and backward with the student's own answers in place of the truth; a
    wrong answer that matches the rerun was computed correctly from their earlier answers.
    Built on an earlier wrong answer: error carried forward. Built only on right answers
    that were rounded (p = 0.57 for 0.5744): right, as the student could not do better."""
    wrong = {k: c for k, c in checks.items() if not c.ok}
    if not wrong:
        return
    from ..checks.answers import _Keys

    arrays = bool(getattr(result, "shapes", None)) or isinstance(result.seed, list) \
        or any(c.is_array for c in checks.values())
    resolve = _Keys(result).resolve
    theirs: dict[str, tuple[str, int, Any]] = {}
    for k, c in checks.items():
        if c.is_array and c.shape != c.answer_shape:
            continue  # a wrong shape: nothing can be computed from it
        kind, nid = resolve(k)
        theirs[k] = (kind, nid, _as_array(c) if arrays else float(c.answer))
    rules = _Arrays if arrays else _Numbers
    carried, used = _rerun(result, theirs, rules)
    share = 1.0 if problem.carried_forward is None else problem.carried_forward
    for ag in pg.answers:
        w = wrong.get(ag.key)
        if w is None or ag.key not in carried or not used.get(ag.key):
            continue
        c = w
        want = carried[ag.key]
        if not _within(c, want):
            continue
        # The earlier answers that change this one (a local gradient need not depend on
        # every value it was tainted by).
        moved = [j for j in used[ag.key] if not _within(c, _rerun(result, {
            i: t for i, t in theirs.items() if i != j}, rules)[0].get(ag.key, want),
            against=want)
            ] or used[ag.key]
        bad = [j for j in moved if j in wrong]
        named = ", ".join(f"{j} = {checks[j].written}" for j in (bad or moved))
        if bad:
            ag.status = "carried"
            ag.points = ag.max_points * share
            said = (f"{ag.key}: answer {c.written}, correct {fmt(c.truth)}; but "
                    f"{fmt(_plain(want))} follows" if show else
                    f"{ag.key}: answer {c.written} is not the correct value, but it follows")
            ag.feedback = [f"{said} from your earlier {named}: error carried forward "
                           f"({_pts(share * 100)}% of the points)"]
        else:
            ag.status = "correct"
            ag.points = ag.max_points
            ag.feedback = [f"{ag.key}: {c.written} is right from your rounded {named}"
                           + (f" (unrounded, it is {fmt(c.truth)})" if show else "")]


# Hints that say where the method went wrong without pinning the value down (a flipped sign,
# a transpose, a constant factor or a rounding hint each give the correct value away).
_METHOD_HINTS = ("path ", " gate swaps")


def _conceal(pg: ProblemGrade, checks: dict[str, AnswerCheck]) -> None:
    """The key's `show_correct = false`: feedback that says what is wrong and where, but no
    correct value, no worked chain rule (its numbers are other answers) and no hint that
    pins the value down. Run after grading, so every output (table, JSON, Gradescope,
    PrairieLearn) gets the same text."""
    from ..checks.answers import verdict

    for ag in pg.answers:
        if ag.status not in ("wrong", "carried", "correct"):
            continue  # missing or unreadable: the feedback is about the student's file
        c = checks.get(ag.key)
        if c is None:  # a formula answer: its checker's lines may hold values
            ag.feedback = ([] if ag.status == "correct" else
                           [f"{ag.key}: {ag.written} does not give the correct values"])
            continue
        if ag.status != "wrong":
            continue  # carried and rounded-right feedback was written without the truth
        if c.is_array and c.shape != c.answer_shape:
            line = verdict(c)  # shapes only
        elif c.is_array:
            bad = [e for e in c.entries if not e.ok]
            where = ", ".join(f"{c.key}{list(e.index)}" for e in bad[:6])
            line = (f"{c.key}: {len(bad)} of {len(c.entries)} entries are not right: {where}"
                    + (" …" if len(bad) > 6 else ""))
        else:
            line = f"{c.key}: answer {c.written} is not right ({c.rounding})"
        ag.feedback = [line] + [f"hint: {h}" for h in c.hints
                                if any(m in h for m in _METHOD_HINTS)]


def _as_array(c: AnswerCheck) -> Any:
    import numpy as np

    return np.asarray(c.answer, dtype=float).reshape(c.shape or ())


def _plain(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else x


def _within(c: AnswerCheck, want: Any, against: Any = None) -> bool:
    """Whether ``want`` is, within the answer's rounding allowance, the student's answer (or
    ``against``): entry by entry for arrays, each entry with its own allowance."""
    if not c.is_array:
        one = float(c.answer) if against is None else float(against)
        return math.isfinite(float(want)) and abs(one - float(want)) <= c.allowed
    import numpy as np

    got = np.asarray(want, dtype=float)
    ref = _as_array(c) if against is None else np.asarray(against, dtype=float)
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return False
    if not c.entries:
        return bool(np.all(np.abs(got - ref) <= c.allowed))
    return all(abs(float(ref[e.index]) - float(got[e.index])) <= e.allowed
               for e in c.entries)


class _Numbers:
    """The scalar engine's rules for _rerun: op.forward and op.local on floats."""

    @staticmethod
    def value(v: Any) -> Any:
        return float(v)

    @staticmethod
    def broken(v: Any) -> Any:
        return math.nan

    @staticmethod
    def forward(op: Any, ins: list[Any]) -> Any:
        return float(op.forward(*ins))

    @staticmethod
    def zero(v: Any) -> Any:
        return 0.0

    @staticmethod
    def seed(seed: Any, out: Any) -> Any:
        return float(seed)

    @staticmethod
    def down(op: Any, args: tuple[Any, ...], out: Any, up: Any) -> tuple[Any, ...]:
        return tuple(up * g for g in op.local(args, out))


class _Arrays:
    """The array engine's rules for _rerun: np_forward and core/arrays.py's vjp."""

    @staticmethod
    def value(v: Any) -> Any:
        import numpy as np

        return np.asarray(v, dtype=float)

    @staticmethod
    def broken(v: Any) -> Any:
        import numpy as np

        return np.full(np.shape(v), math.nan)

    @staticmethod
    def forward(op: Any, ins: list[Any]) -> Any:
        import numpy as np

        with np.errstate(all="ignore"):
            return np.asarray(op.np_forward(np, *ins), dtype=float)

    @staticmethod
    def zero(v: Any) -> Any:
        import numpy as np

        return np.zeros_like(v)

    @staticmethod
    def seed(seed: Any, out: Any) -> Any:
        import numpy as np

        return np.asarray(seed, dtype=float).reshape(np.shape(out))

    @staticmethod
    def down(op: Any, args: tuple[Any, ...], out: Any, up: Any) -> tuple[Any, ...]:
        from ..core import arrays

        return tuple(arrays.vjp(op, args, out, up))


# The student's answers can make any op fail (a shape they broke, a log of a negative):
# such a node is NaN from there on, and nothing downstream of it is carried.
_BROKEN = (ValueError, TypeError, ArithmeticError, AssertionError)


def _rerun(result: Any, theirs: dict[str, tuple[str, int, Any]], rules: Any = _Numbers
           ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Forward and backward with the student's answers ``theirs`` (key -> kind, node, value)
    in place of the truth, by the scalar or the array engine's ``rules``. Returns, per
    answer, the value it would have had from the student's earlier answers, and which of
    them it was built on."""
    from ..core.ops import CONST, VAR

    graph = result.graph
    nodes = graph.nodes
    by_value = {nid: (k, v) for k, (kind, nid, v) in theirs.items() if kind == "value"}
    by_grad = {nid: (k, v) for k, (kind, nid, v) in theirs.items() if kind == "gradient"}
    values: list[Any] = [None] * len(nodes)
    carried: dict[str, Any] = {}
    used: dict[str, list[str]] = {}
    tainted: list[set[str]] = [set() for _ in nodes]
    for node in nodes:  # forward: each node from its inputs as the student had them
        nid = node.id
        if node.op is VAR or node.op is CONST:
            values[nid] = rules.value(result.nodes[nid].value)
            continue
        try:
            values[nid] = rules.forward(node.op, [values[j] for j in node.inputs])
        except _BROKEN:
            values[nid] = rules.broken(result.nodes[nid].value)
        tainted[nid] = set().union(*(tainted[j] for j in node.inputs))
        if nid in by_value:
            k, v = by_value[nid]
            carried[k], used[k] = values[nid], sorted(tainted[nid])
            values[nid] = v
            tainted[nid] = tainted[nid] | {k}
    # Backward: upstream x local, the local gradients taken at the student's values.
    up: list[Any] = [rules.zero(values[n.id]) for n in nodes]
    up_taint: list[set[str]] = [set() for _ in nodes]
    up[graph.output] = rules.seed(result.seed, values[graph.output])
    for node in reversed(nodes):
        nid = node.id
        if nid in by_grad:
            k, v = by_grad[nid]
            carried[k], used[k] = up[nid], sorted(up_taint[nid])
            up[nid] = v
            up_taint[nid] = up_taint[nid] | {k}
        if not node.inputs:
            continue
        args = tuple(values[j] for j in node.inputs)
        try:
            down = rules.down(node.op, args, values[nid], up[nid])
        except _BROKEN:
            down = tuple(rules.broken(a) for a in args)
        fwd = set().union(*(tainted[j] for j in node.inputs)) | tainted[nid]
        for j, d in zip(node.inputs, down):
            up[j] = up[j] + d
            up_taint[j] |= up_taint[nid] | fwd
    return carried, used


# ---------------------------------------------------------------- Gradescope


def _md(s: str) -> str:
    """Markdown-safe text: HTML's specials as entities (no raw tag survives any renderer,
    whether or not it honours backslash escapes), then the Markdown escapes of export.md."""
    from ..views.export import md

    return md(s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def _feedback_md(pg: ProblemGrade) -> str:
    marks = {"correct": "✓", "carried": "≈", "wrong": "✗", "missing": "–", "invalid": "!"}
    lines = []
    if pg.description:
        lines += [_md(pg.description), ""]
    if pg.note:
        lines += [f"**{_md(pg.note)}**", ""]
    for a in pg.answers:
        yours = f" {_md(a.written)}" if a.written else ""
        lines.append(f"- {marks[a.status]} **{_md(a.key)}** ({_md(a.what)}):{yours} "
                     f"{_pts(a.points)}/{_pts(a.max_points)}")
        for f in a.feedback:
            lines.append(f"    - {_md(f)}")
    return "\n".join(lines)


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """Gradescope's autograder results.json (gradescope-autograders.readthedocs.io/specs):
    the total, a Markdown summary, and one test per problem with its Markdown feedback."""
    tests = []
    for pg in report.problems:
        tests.append({
            "name": pg.name, "number": str(pg.index), "name_format": "text",
            "score": round(pg.points, 4), "max_score": round(pg.max_points, 4),
            "status": "passed" if pg.points >= pg.max_points else "failed",
            "output": _feedback_md(pg), "output_format": "md", "visibility": "visible",
        })
    summary = [f"**{_md(report.summary_line())}**"]
    summary += [f"- {_md(n)}" for n in report.notes]
    return {"score": round(report.score, 4), "output": "\n".join(summary),
            "output_format": "md", "test_output_format": "md", "test_name_format": "text",
            "visibility": "visible", "stdout_visibility": "hidden",
            "execution_time": round(report.seconds, 3), "tests": tests}


def gradescope_failure(message: str) -> dict[str, Any]:
    return {"score": 0.0, "output": f"**The submission could not be graded.** {_md(message)}",
            "output_format": "md", "visibility": "visible", "stdout_visibility": "hidden",
            "tests": []}


# ---------------------------------------------------------------- PrairieLearn


def _feedback_text(pg: ProblemGrade) -> str:
    lines = [pg.note] if pg.note else []
    for a in pg.answers:
        yours = f" {a.written}" if a.written else ""
        lines.append(f"{a.key} ({a.what}):{yours} [{a.status}] "
                     f"{_pts(a.points)}/{_pts(a.max_points)}")
        lines += [f"    {f}" for f in a.feedback]
    return "\n".join(lines)


def prairielearn_results(report: GradeReport) -> dict[str, Any]:
    """PrairieLearn's external-grader results.json (docs/externalGrading.md): score in
    [0, 1], a message, and one test per problem. Plain text: PrairieLearn escapes it when it
    renders (pl-external-grader-results), so escaping here would show as &lt; to students."""
    tests = [{"name": pg.name, "description": pg.description,
              "points": round(pg.points, 4), "max_points": round(pg.max_points, 4),
              "message": pg.note or ("all answers right" if pg.points >= pg.max_points
                                     else "some answers differ: see the output"),
              "output": _feedback_text(pg)} for pg in report.problems]
    out: dict[str, Any] = {"gradable": report.gradable, "score": round(report.fraction, 6),
                           "message": report.summary_line()
                           + "".join(f"\n{n}" for n in report.notes),
                           "output": "\n\n".join(f"[{t['name']}]\n{t['output']}"
                                                 for t in tests),
                           "tests": tests}
    if not report.gradable:
        out["format_errors"] = list(report.notes) or ["the submission could not be read"]
    return out


def prairielearn_failure(message: str) -> dict[str, Any]:
    return {"gradable": False, "score": 0.0, "message": message, "format_errors": [message],
            "tests": []}


# ---------------------------------------------------------------- writing, always


def write_json_atomic(path: str | Path, doc: dict[str, Any]) -> None:
    """JSON through a temporary file in the same folder and a rename (never half a file);
    the folder is made if missing (PrairieLearn does not create /grade/results)."""
    from ..core import jsonout
    from ..core.fileio import write_atomic

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, jsonout.dumps(doc), where=str(path))


def grade_files(key: str | Path, answers: str | Path, *, gradescope: str | None = None,
                prairielearn: str | None = None, formula: FormulaChecker | None = None,
                answers_text: str | None = None) -> tuple[GradeReport | None, str | None]:
    """Grade and write the platforms' files, whatever happens: a broken key or an internal
    error still writes them (score 0, not gradable, with the message). Returns the report,
    or None and the message."""
    from .problems import load_problems

    report: GradeReport | None = None
    message: str | None = None
    try:
        pset = load_problems(key, fmt="auto")
        sub = read_submission(answers, answers_text)
        report = grade(pset, sub, formula=formula)
    except BackpropError as exc:
        message = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    except Exception as exc:  # the platforms must get a file, whatever broke
        message = (f"internal error in the grader (please report it): "
                   f"{type(exc).__name__}: {exc}")
    if gradescope:
        write_json_atomic(gradescope, gradescope_results(report) if report is not None
                          else gradescope_failure(message or "unknown error"))
    if prairielearn:
        write_json_atomic(prairielearn, prairielearn_results(report) if report is not None
                          else prairielearn_failure(message or "unknown error"))
    return report, message

