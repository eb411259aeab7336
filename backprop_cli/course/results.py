"""A grade (answer, problem, submission) and the platforms' results files made from it.

Whatever a submission holds, the file is valid and small: the student's text arrives here
already made visible and cut (grade.py: controls and bidi characters as escapes, one answer
per line, notes counted past a few), and a last guard cuts the longest texts so that the
whole file stays under MAX_RESULTS_BYTES (PrairieLearn fails a job past 1 MB).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from ..core.limits import abbreviate, abbreviate_message, visible

STATUSES = ("correct", "carried", "wrong", "missing", "invalid")
MAX_RESULTS_BYTES = 300_000  # well under the platforms' 1 MB, whatever was submitted
_CUT = "\n… (the rest was cut to keep the results file small)"


def points_text(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}".rstrip("0")


# ---------------------------------------------------------------- the grade


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
        self.tidy()

    def tidy(self) -> None:
        """The student's text, echoed in tables, feedback and the platforms' files: cut when
        long (issue 16: a 900,000-character answer printed 4.5 MB); controls, bidi
        characters and newlines as visible escapes, so that it can neither drive a terminal
        or an ANSI-to-HTML view nor forge the lines after it; each sentence once. Run again
        after feedback is rewritten (carried forward, concealed): it changes nothing twice."""
        self.written = abbreviate(visible(self.written))
        self.feedback = [abbreviate_message(visible(f)) for f in _once(self.feedback)]

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

    def __repr__(self) -> str:
        """Two lines: whose file, against which key, and the score."""
        return (f"GradeReport {visible(self.submission)} against {self.key}\n"
                f"  {self.summary_line()}")

    __str__ = __repr__

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
        return (f"score {points_text(self.score)} of {points_text(self.max_score)}: "
                + ", ".join(parts))

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "submission": self.submission, "title": self.title,
                "gradable": self.gradable, "score": self.score, "max_score": self.max_score,
                "fraction": self.fraction, "summary": self.summary_line(), "notes": self.notes,
                "problems": [p.to_dict() for p in self.problems]}


def _once(lines: list[str]) -> list[str]:
    """Each sentence once, in order."""
    return list(dict.fromkeys(lines))


# ---------------------------------------------------------------- Gradescope


def _md(s: str) -> str:
    """Markdown-safe text: HTML's specials as entities (no raw tag survives any renderer,
    whether or not it honours backslash escapes), then the Markdown escapes of export.md."""
    from ..views.export import md

    return md(visible(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


_MARKS = {"correct": "✓", "carried": "≈", "wrong": "✗", "missing": "–", "invalid": "!"}


def _feedback_md(pg: ProblemGrade) -> str:
    lines = []
    if pg.description:
        lines += [_md(pg.description), ""]
    if pg.note:
        lines += [f"**{_md(pg.note)}**", ""]
    for a in pg.answers:
        yours = f" {_md(a.written)}" if a.written else ""
        lines.append(f"- {_MARKS[a.status]} **{_md(a.key)}** ({_md(a.what)}):{yours} "
                     f"{points_text(a.points)}/{points_text(a.max_points)}")
        for f in a.feedback:
            lines.append(f"    - {_md(f)}")
    return "\n".join(lines)


def gradescope_results(report: GradeReport) -> dict[str, Any]:
    """Gradescope's autograder results.json (gradescope-autograders.readthedocs.io/specs):
    the total, a Markdown summary, and one test per problem with its Markdown feedback."""
    tests = []
    for pg in report.problems:
        tests.append({
            "name": visible(pg.name), "number": str(pg.index), "name_format": "text",
            "score": round(pg.points, 4), "max_score": round(pg.max_points, 4),
            "status": "passed" if pg.points >= pg.max_points else "failed",
            "output": _feedback_md(pg), "output_format": "md", "visibility": "visible",
        })
    summary = [f"**{_md(report.summary_line())}**"]
    summary += [f"- {_md(n)}" for n in report.notes]
    doc = {"score": round(report.score, 4), "output": "\n".join(summary),
           "output_format": "md", "test_output_format": "md", "test_name_format": "text",
           "visibility": "visible", "stdout_visibility": "hidden",
           "execution_time": round(report.seconds, 3), "tests": tests}
    return bounded(doc)


def gradescope_failure(message: str) -> dict[str, Any]:
    return bounded({"score": 0.0,
                    "output": f"**The submission could not be graded.** {_md(message)}",
                    "output_format": "md", "visibility": "visible",
                    "stdout_visibility": "hidden", "tests": []})


# ---------------------------------------------------------------- PrairieLearn


def _feedback_text(pg: ProblemGrade) -> str:
    # One answer per line, each piece made visible: nothing a student wrote starts a line.
    lines = [visible(pg.note)] if pg.note else []
    for a in pg.answers:
        yours = f" {visible(a.written)}" if a.written else ""
        lines.append(f"{visible(a.key)} ({a.what}):{yours} [{a.status}] "
                     f"{points_text(a.points)}/{points_text(a.max_points)}")
        lines += [f"    {visible(f)}" for f in a.feedback]
    return "\n".join(lines)


def prairielearn_results(report: GradeReport) -> dict[str, Any]:
    """PrairieLearn's external-grader results.json (docs/externalGrading.md): score in
    [0, 1], a message, and one test per problem. Plain text: PrairieLearn escapes it when it
    renders (pl-external-grader-results), so escaping here would show as &lt; to students;
    controls are made visible, since its ANSI-to-HTML converter would act on them. The
    feedback is in each test's output only (the top level does not repeat it)."""
    tests = [{"name": visible(pg.name), "description": visible(pg.description),
              "points": round(pg.points, 4), "max_points": round(pg.max_points, 4),
              "message": visible(pg.note) if pg.note else (
                  "all answers right" if pg.points >= pg.max_points
                  else "some answers differ: see the output"),
              "output": _feedback_text(pg)} for pg in report.problems]
    out: dict[str, Any] = {"gradable": report.gradable, "score": round(report.fraction, 6),
                           "message": "\n".join([report.summary_line(),
                                                 *(visible(n) for n in report.notes)]),
                           "tests": tests}
    if not report.gradable:
        out["format_errors"] = [visible(n) for n in report.notes] or [
            "the submission could not be read"]
    return bounded(out)


def prairielearn_failure(message: str) -> dict[str, Any]:
    message = visible(message)
    return bounded({"gradable": False, "score": 0.0, "message": message,
                    "format_errors": [message], "tests": []})


# ---------------------------------------------------------------- bounded, written always


def bounded(doc: dict[str, Any], limit: int = MAX_RESULTS_BYTES) -> dict[str, Any]:
    """``doc`` with its longest texts cut until its JSON is under ``limit`` bytes (the
    numbers, names and statuses are kept whole; only prose is cut, and says so)."""
    from ..core import jsonout

    for _ in range(6):
        size = len(jsonout.dumps(doc).encode("utf-8"))
        if size <= limit:
            return doc
        texts = _texts(doc)
        total = sum(len(d[k]) for d, k in texts) or 1
        # Each text keeps its share of what fits (JSON escapes may double a character).
        room = max(0, total - (size - limit) * 2)
        for d, k in texts:
            keep = max(200, int(len(d[k]) * room / total))
            if len(d[k]) > keep:
                d[k] = d[k][:keep] + _CUT
    return doc


def _texts(doc: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The (container, key) of every prose field: outputs, messages, format errors."""
    found: list[tuple[Any, Any]] = []
    for k in ("output", "message"):
        if isinstance(doc.get(k), str):
            found.append((doc, k))
    errors = doc.get("format_errors")
    if isinstance(errors, list):
        found += [(errors, k) for k in range(len(errors))]
    for test in doc.get("tests", []):
        found += [(test, k) for k in ("output", "message", "description")
                  if isinstance(test.get(k), str)]
    return found


def write_json_atomic(path: str | Path, doc: dict[str, Any]) -> None:
    """JSON through a temporary file in the same folder and a rename (never half a file);
    the folder is made if missing (PrairieLearn does not create /grade/results)."""
    from ..core import jsonout
    from ..core.fileio import write_atomic

    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where the folder should be, a read-only parent
        raise InputError(f"cannot write {path}: its folder cannot be made "
                         f"({exc.strerror or exc})", where=str(path)) from None
    write_atomic(path, jsonout.dumps(doc), where=str(path))
