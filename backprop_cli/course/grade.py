"""Grading a student's answers against an answer key: points, partial credit, error carried
forward, and writing the results files of Gradescope and PrairieLearn whatever happens.

The student's file holds answers only, one table per problem (`[neuron] dw0 = -0.20`);
the problems, points and rounding rules come from the key alone. Reading never stops at the
first mistake: a table with a TOML syntax error is blanked out and the rest read again (as
problems.py does for keys), a value of the wrong type costs that answer only, and a missing
table costs that problem only. Every answer is graded against the engine's numbers, with
the same rounding rules and slip diagnoses as `--expect` (checks/answers.py).

Error carried forward: a wrong answer is also compared with what it would be if the
student's own earlier (wrong) answers were right: the forward pass is rerun with their
forward values in place of the true ones, and the backward pass with their upstream
gradients (and local gradients taken at their forward values). An answer that matches that,
within what the rounding of the earlier written answers allows (course/carried.py), gets
the share of its points the key's `carried_forward` allows (1 when the key does not say).
Vectors and matrices the same way, with the array engine's rules (numpy), entry by entry;
an answer of the wrong shape is never carried, nor used to carry others. The grade and its
results files (Gradescope, PrairieLearn) are in results.py.

Answers that are text but not numbers (a formula such as `dx = "2*x"`) go to a pluggable
checker (``grade(..., formula=...)``); without one they score 0 with a message saying so.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..checks.answers import AnswerCheck, AnswerTolerance, answers_from, fmt, match_answers
from ..core.errors import BackpropError, InputError
from ..core.limits import WORD_CHARS, abbreviate_message, capped, echo, visible
from .problems import Problem, ProblemSet

# The grade and its files live in results.py; importable from here as before.
from .results import STATUSES as STATUSES
from .results import AnswerGrade as AnswerGrade
from .results import GradeReport as GradeReport
from .results import ProblemGrade as ProblemGrade
from .results import gradescope_failure as gradescope_failure
from .results import gradescope_results as gradescope_results
from .results import points_text
from .results import prairielearn_failure as prairielearn_failure
from .results import prairielearn_results as prairielearn_results
from .results import write_json_atomic as write_json_atomic
from .toml_recovery import read_toml

# A formula checker: (problem, the key's evaluated Result, answer key, the student's text)
# -> (right?, feedback lines). Issue 13's formula answers plug in here.
FormulaChecker = Callable[[Problem, Any, str, str], tuple[bool, list[str]]]

# Seconds for all the formula answers of one file: PrairieLearn's external grader stops a job
# at 20 s by default, and start-up, the sympy import and the writing need the rest.
GRADING_BUDGET = 12.0
DEFAULT_FORMULA_SECONDS = 3.0  # a formula answer's check when its problem sets no budget
MIN_FORMULA_SECONDS = 0.25  # less than this proves nothing: the answer says it was not checked

MAX_SUBMISSION_BYTES = 1_000_000  # a page of answers is a few kB; more is not a submission
# What a results file echoes of a submission: the platforms fail a job past 1 MB (PrairieLearn)
# and show it to the student, so notes and ignored names are counted past these.
MAX_NOTES = 20  # notes about the whole submission
MAX_NAMES = 10  # ignored answer names listed per problem


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

        missing = _missing(Path(path))
        if missing is not None:
            sub.errors.append(missing)
            return sub
        try:  # bounded, and never a device that does not end (/dev/zero)
            raw = read_bytes(str(path), limit=MAX_SUBMISSION_BYTES, what="the submission",
                             where="--answers", regular=True)  # a FIFO would block
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
        sub.errors.append("nothing in the submission could be read: " + _first(
            list(sub.broken.values()), "tables"))
        return sub
    for name, table in doc.items():
        if not isinstance(table, dict):
            sub.notes.append(f"'{echo(name, WORD_CHARS)}' is outside any problem's table and "
                             "was ignored (put answers under [problem-name])")
            continue
        answers: dict[str, Given] = {}
        for key, value in table.items():
            answers[key] = _given(key, value)
        sub.answers[name] = answers
    return sub


def _missing(path: Path) -> str | None:
    """When the file to grade does not exist: what was uploaded beside it, by name only (a
    student is told what they sent, never a path on the grading server)."""
    try:
        if path.exists():
            return None
        folder = path.parent
        found = sorted(p.name for p in folder.iterdir())[:1000] if folder.is_dir() else []
    except OSError:
        return None  # read_bytes says what is wrong with it
    names = [f"'{echo(n, WORD_CHARS)}'" for n in found[:5]]
    more = f" and {len(found) - 5:,} more" if len(found) > 5 else ""
    held = (f"the submission holds {', '.join(names)}{more}" if found
            else "the submission holds no file")
    return (f"no {echo(path.name, WORD_CHARS)} to grade: {held}. Hand in your answers as a "
            f"TOML text file named {echo(path.name, WORD_CHARS)}, one table per problem, "
            "such as [neuron] then dw0 = -0.20")


_BLANK = re.compile(r"""^\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=\s*(?:#.*)?$""")


def _parse(text: str, sub: Submission) -> dict[str, Any] | None:
    """TOML, with each table that has a syntax error blanked out and reported against it."""
    # `dx =` with nothing after it (a template's blank left blank) is a missing answer, not
    # a syntax error that would cost the whole table.
    got = read_toml("\n".join("" if _BLANK.match(ln) else ln for ln in text.split("\n")))
    for b in got.broken:
        sub.broken.setdefault(b.name, f"line {b.line} is not valid TOML: {b.message}")
    if got.fatal_line is None and got.fatal is not None:
        sub.errors.append(f"the submission has {got.fatal}; write answers as ordinary "
                          "numbers such as dw0 = -0.20")
        return None
    if got.fatal is not None or got.doc is None:
        sub.errors.append(f"the submission is not valid TOML (line {got.fatal_line}: "
                          f"{got.fatal}); write one table per problem, such as [neuron] then "
                          "dw0 = -0.20")
        return None
    return got.doc


def _first(items: list[str], what: str, keep: int = 5) -> str:
    """The first ``keep`` of ``items`` joined, and how many more: a message that names
    9,000 broken tables stays a line."""
    more = f"; and {len(items) - keep:,} more {what}" if len(items) > keep else ""
    return "; ".join(items[:keep]) + more


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


_pts = points_text


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
    notes = capped(list(sub.errors) + list(sub.notes), MAX_NOTES)
    asked = {p.name for p in pset.problems}
    stray = [name for name in sub.answers if name not in asked]
    for name in stray[:MAX_NOTES]:  # the rest are counted: 60,000 stray tables, one line
        import difflib

        close = difflib.get_close_matches(name[:WORD_CHARS * 2], sorted(asked), n=1)
        notes.append(f"[{echo(name, WORD_CHARS)}] is not a problem of this assignment and "
                     "was ignored" + (f" (did you mean [{close[0]}]?)" if close else ""))
    if len(stray) > MAX_NOTES:
        notes.append(f"{len(stray) - MAX_NOTES:,} more tables are not problems of this "
                     "assignment and were ignored")
    report = GradeReport(pset.source, sub.source, pset.title, [], gradable=sub.readable,
                         notes=[abbreviate_message(visible(n)) for n in notes])
    deadline = time.monotonic() + GRADING_BUDGET
    for problem in pset.problems:
        report.problems.append(_grade_problem(problem, sub, formula, deadline))
    report.seconds = time.perf_counter() - start
    return report


def _grade_problem(problem: Problem, sub: Submission, formula: FormulaChecker | None,
                   deadline: float = math.inf) -> ProblemGrade:
    from ..checks.evaluate import evaluate

    try:
        if problem.at is None:  # formula answers only, checked in general (pointfree.py)
            from ..checks.pointfree import graph_result

            result: Any = graph_result(problem.expression)
        else:
            result = evaluate(problem.expression, problem.at, upstream=problem.upstream,
                              check=())
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
        note = (f"your [{problem.name}] table could not be read: "
                f"{abbreviate_message(visible(why))}" if why else
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
                                             formula, deadline))
            continue
        if result.value is None:  # a problem without a point asks for formulas
            pg.answers.append(AnswerGrade(k, what[k], "wrong", 0.0, full, str(g.raw), [
                f"{k} asks for a formula, checked in general: the problem gives no point to "
                f"compare a number at (write it as text, such as {k} = \"2*x\")"]))
            continue
        try:
            c = match_answers(result, {k: g.raw}, tol).checks[0]
        except BackpropError as exc:  # an answer the matcher cannot use: that answer only
            pg.answers.append(AnswerGrade(k, what[k], "invalid", 0.0, full,
                                          feedback=[exc.message]))
            continue
        except (ArithmeticError, ValueError, TypeError) as exc:  # a bug, for this answer only
            pg.answers.append(AnswerGrade(k, what[k], "invalid", 0.0, full, feedback=[
                f"internal error while grading this answer (please report it): "
                f"{type(exc).__name__}"]))
            continue
        checks[k] = c
        if c.ok:
            pg.answers.append(AnswerGrade(k, what[k], "correct", full, full, c.written))
        else:
            feedback = [c.verdict()] + [f"hint: {h}" for h in c.hints] + _story(c)
            pg.answers.append(AnswerGrade(k, what[k], "wrong", 0.0, full, c.written,
                                          feedback))
    show = problem.show_correct is not False
    _carry_forward(problem, result, pg, checks, show=show)
    if not show:
        _conceal(pg, checks)
    for ag in pg.answers:
        ag.tidy()
    if extra:
        names = [echo(k, WORD_CHARS) for k in extra[:MAX_NAMES]]
        pg.note = "ignored, not asked: " + ", ".join(names) + (
            f" and {len(extra) - MAX_NAMES:,} more" if len(extra) > MAX_NAMES else "")
    return pg


def _story(c: AnswerCheck) -> list[str]:
    """How the truth comes about, without what the verdict line already said: an array
    answer's shape or wrong entries are in the verdict, so the lines that repeat them
    (checks/answers.py's details) are left out, and each sentence is said once."""
    from ..checks.answers import details

    lines = c.explanation
    if c.is_array and c.formula is None:
        said = details(c)
        if lines[:len(said)] == said:
            lines = lines[len(said):]
    return lines


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
                   full: float, formula: FormulaChecker | None,
                   deadline: float = math.inf) -> AnswerGrade:
    if formula is None:
        return AnswerGrade(key, what, "invalid", 0.0, full, text,
                           [f"'{text}' is not a number: this assignment grades numbers "
                            "(write the value, e.g. -0.20)"])
    # A file of slow formulas must still be graded within the platform's time: each formula
    # gets at most half of what is left of the file's budget (so all of them fit), and the
    # checker honours it (checks/formula: "sympy could not finish the proof in the budget").
    left = deadline - time.monotonic()
    if left < MIN_FORMULA_SECONDS:
        return AnswerGrade(key, what, "invalid", 0.0, full, text, [
            f"not checked: the grader's time for this file ({GRADING_BUDGET:g} s) ran out "
            "before this formula; ask your teacher to grade it by hand"])
    share = min(problem.budget or DEFAULT_FORMULA_SECONDS, left / 2)
    try:
        ok, lines = formula(replace(problem, budget=share), result, key, text)
    except BackpropError as exc:
        return AnswerGrade(key, what, "invalid", 0.0, full, text, [exc.message])
    return AnswerGrade(key, what, "correct" if ok else "wrong", full if ok else 0.0, full,
                       text, lines)


# ---------------------------------------------------------------- error carried forward


def _carry_forward(problem: Problem, result: Any, pg: ProblemGrade,
                   checks: dict[str, AnswerCheck], *, show: bool = True) -> None:
    """A wrong answer that follows from the student's earlier answers (course/carried.py)
    was computed correctly from them. Built on an earlier wrong answer: error carried
    forward. Built only on right answers that were rounded (p = 0.57 for 0.5744): right, as
    the student could not do better."""
    from .carried import carried_answers

    found = carried_answers(result, checks)
    share = 1.0 if problem.carried_forward is None else problem.carried_forward
    for ag in pg.answers:
        cf = found.get(ag.key)
        if cf is None:
            continue
        c = checks[ag.key]
        named = ", ".join(f"{j} = {checks[j].written}" for j in (cf.wrong_before
                                                                  or cf.built_on))
        unrounded = (f" (unrounded, they give {_interval(cf)})" if show and cf.widened
                     else " (allowing for their rounding)" if cf.widened else "")
        if cf.wrong_before:
            ag.status = "carried"
            ag.points = ag.max_points * share
            said = (f"{ag.key}: answer {c.written}, correct {fmt(c.truth)}; but "
                    f"{fmt(cf.want)} follows" if show else
                    f"{ag.key}: answer {c.written} is not the correct value, but it follows")
            ag.feedback = [f"{said} from your earlier {named}{unrounded}: error carried "
                           f"forward ({_pts(share * 100)}% of the points)"]
        else:
            ag.status = "correct"
            ag.points = ag.max_points
            ag.feedback = [f"{ag.key}: {c.written} is right from your rounded {named}"
                           + (f" (unrounded, it is {fmt(c.truth)})" if show else "")]


def _interval(cf: Any) -> str:
    """From .. to .., what the earlier answers give before their rounding."""
    import numpy as np

    want = np.asarray(cf.want, dtype=float)
    spread = np.asarray(cf.spread, dtype=float)
    lo, hi = (want - spread).tolist(), (want + spread).tolist()
    return f"anything from {fmt(lo)} to {fmt(hi)}"


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


# ---------------------------------------------------------------- writing, always


def grade_files(key: str | Path, answers: str | Path, *, gradescope: str | None = None,
                prairielearn: str | None = None, formula: FormulaChecker | None = None,
                answers_text: str | None = None) -> tuple[GradeReport | None, str | None]:
    """Grade and write the platforms' files, whatever happens: a broken key or an internal
    error still writes them (score 0, not gradable, with the message), and is raised again
    after. Returns the report, or None and the message; InputError if a file could not be
    written (after trying the other)."""
    from .problems import load_problems

    report: GradeReport | None = None
    message: str | None = None
    bug: Exception | None = None
    try:
        pset = load_problems(key, fmt="auto")
        sub = read_submission(answers, answers_text)
        report = grade(pset, sub, formula=formula)
    except BackpropError as exc:
        message = exc.message + (f" (hint: {exc.hint})" if exc.hint else "")
    except Exception as exc:  # the platforms must get a file, whatever broke
        message = (f"internal error in the grader (please report it): "
                   f"{type(exc).__name__}: {exc}")
        bug = exc
    unwritten: list[InputError] = []  # one bad path must not cost the other file
    for path, results, failure in ((gradescope, gradescope_results, gradescope_failure),
                                   (prairielearn, prairielearn_results, prairielearn_failure)):
        if path:
            try:
                write_json_atomic(path, results(report) if report is not None
                                  else failure(message or "unknown error"))
            except InputError as exc:
                unwritten.append(exc)
    if bug is not None:  # written; now the bug is the caller's (the CLI: exit 3)
        raise bug
    if unwritten:
        raise unwritten[0]
    return report, message

