"""Reading a class's graded results for `backprop report`: every file, whatever platform wrote it.

Three formats, told apart by their content, not their names:

- the ``--json`` of ``backprop check KEY --answers STUDENT`` (grade.py's GradeReport.to_dict),
  one object per student, or a list of them (one file for a whole folder), or JSON Lines;
- Gradescope's ``results.json`` (grade.gradescope_results: one test per problem, its answers
  as Markdown lines), with the student named by the ``submission_metadata.json`` found in
  its folder or a folder above it;
- PrairieLearn's ``results.json`` (grade.prairielearn_results: the same lines as plain
  text), the student named by its folder (or the file's name when that is not results.json).

A file that cannot be read, is not JSON, or is not one of these is listed as skipped with the
reason, never fatal. Every answer keeps the slips its feedback names (``slips_of``): the
grader's hints (checks/answers.py for numbers and arrays, checks/formula.py's SLIPS for
formulas) are sentences; this module is where they become the short names a table counts.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.errors import BackpropError
from ..core.limits import abbreviate

MAX_RESULTS_BYTES = 64_000_000  # a whole class in one file: about 30 kB per student
MAX_FILES = 100_000  # files looked at under the folders given
NOT_RESULTS = frozenset({"submission_metadata.json", "data.json", "metadata.json"})
STATUSES = ("correct", "carried", "wrong", "missing", "invalid")

# The grader's hint sentences and the slip each names, first match wins. Each pattern quotes
# the words of the sentence that checks/answers.py (or grade.py's verdict line, or quiz.py's
# hints for a drill) writes.
_SLIP_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern)) for name, pattern in (
        ("wrong shape", r"the shape is wrong|^wrong shape|right, in row-major order"),
        ("transpose", r"is the transpose of the correct one"),
        ("sign", r"the sign is flipped"),
        ("missing fan-out branch", r"your answer is path \d+ alone|leaves out path \d+|"
         r"that is the gradient from .* alone|leaves out the branch through"),
        ("missing upstream gradient", r"leaves out the upstream seed|"
         r"the gradient for an upstream of 1"),
        ("upstream gradient left out", r"that is the local gradient alone"),
        ("local gradient left out", r"that is the upstream gradient alone"),
        ("swap gate: own input used", r"gate swaps: the local gradient"),
        ("factor 2", r"every entry is (?:2|0\.5) × the correct one"),
        ("constant factor", r"× the correct one: a constant factor"),
        ("rounding", r"\(round to nearest rather than cut off\)"),
    ))
NO_SLIP = "no named slip"


@functools.cache
def formula_slip_names() -> frozenset[str]:
    """The slip names a formula answer's hints start with (checks/formula.py's SLIPS)."""
    from ..checks.formula import SLIPS

    return frozenset({s.name for s in SLIPS} | {"wrong shape"})


def slips_of(feedback: Iterable[str]) -> list[str]:
    """The named slips in a wrong answer's feedback lines, in order, each once."""
    formula_names = formula_slip_names()
    found: list[str] = []
    for line in feedback:
        text = line.strip()
        if text.startswith("hint: "):
            head = text[6:].split(":", 1)[0]
            if head in formula_names:  # a formula's slip: "hint: transpose: A transpose …"
                found.append(head)
                continue
        for name, pattern in _SLIP_PATTERNS:
            if pattern.search(text):
                found.append(name)
                break
    return list(dict.fromkeys(found))


@dataclass
class AnswerRow:
    """One answer of one student, as graded."""

    problem: str
    key: str
    what: str
    status: str  # one of STATUSES
    points: float
    max_points: float
    written: str = ""
    feedback: list[str] = field(default_factory=list)
    slips: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"problem": self.problem, "key": self.key, "what": self.what,
                "status": self.status, "points": self.points, "max_points": self.max_points,
                "written": self.written, "slips": self.slips}


@dataclass
class StudentResult:
    """One student's graded submission, from whichever platform's file."""

    id: str
    source: str
    format: str  # "check", "gradescope", "prairielearn"
    answers: list[AnswerRow]
    score: float
    max_score: float

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score > 0 else 0.0


@dataclass
class Skipped:
    source: str
    why: str


class _NotResultsError(Exception):
    """This document is not a results file we can read (the message says why)."""


# ---------------------------------------------------------------- finding the files


def result_files(paths: Iterable[str]) -> tuple[list[Path], list[Skipped]]:
    """The JSON files under ``paths`` (files as given, folders searched, sorted)."""
    files: list[Path] = []
    skipped: list[Skipped] = []
    for name in paths:
        p = Path(name)
        if p.is_dir():
            found = sorted(q for q in p.rglob("*.json*")
                           if q.suffix in (".json", ".jsonl") and q.name not in NOT_RESULTS
                           and q.is_file())
            if not found:
                skipped.append(Skipped(name, "a folder with no .json results files"))
            files += found
        elif p.is_file() or name == "-":
            files.append(p)
        else:
            skipped.append(Skipped(name, "no such file or folder"))
        if len(files) > MAX_FILES:
            skipped.append(Skipped(name, f"more than {MAX_FILES:,} files: the rest were not "
                                   "read"))
            del files[MAX_FILES:]
            break
    return files, skipped


def load_results(paths: Iterable[str]) -> tuple[list[StudentResult], list[Skipped]]:
    """Every student's results under ``paths``, and the files skipped with the reason."""
    files, skipped = result_files(paths)
    students: list[StudentResult] = []
    seen: dict[str, str] = {}
    for path in files:
        try:
            found = list(_read(path))
        except (_NotResultsError, BackpropError) as exc:
            why = exc.message if isinstance(exc, BackpropError) else str(exc)
            skipped.append(Skipped(str(path), why))
            continue
        for s in found:
            if not s.answers:
                skipped.append(Skipped(s.source, "no graded answers in it"))
            elif s.id in seen:
                skipped.append(Skipped(s.source, f"a second result for student "
                                       f"{abbreviate(s.id, 60)} (the first, from "
                                       f"{seen[s.id]}, is counted)"))
            else:
                seen[s.id] = s.source
                students.append(s)
    return students, skipped


def _read(path: Path) -> Iterator[StudentResult]:
    from ..core.fileio import read_bytes

    raw = read_bytes(str(path), limit=MAX_RESULTS_BYTES, what="the results file",
                     where="RESULTS")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _NotResultsError(f"not UTF-8 text (byte {exc.start + 1})") from None
    if not text.strip():
        raise _NotResultsError("the file is empty")
    try:
        docs: list[Any] = [json.loads(text)]
    except json.JSONDecodeError as exc:
        lines = [ln for ln in text.splitlines() if ln.strip()]
        try:  # JSON Lines: one report per line
            docs = [json.loads(ln) for ln in lines] if len(lines) > 1 else []
        except json.JSONDecodeError:
            docs = []
        if not docs:
            raise _NotResultsError(f"not JSON (line {exc.lineno}, column {exc.colno}: "
                              f"{exc.msg})") from None
    except RecursionError:
        raise _NotResultsError("JSON nested too deeply") from None
    if len(docs) == 1 and isinstance(docs[0], dict) and isinstance(docs[0].get("reports"),
                                                                   list):
        docs = docs[0]["reports"]
    elif len(docs) == 1 and isinstance(docs[0], list):
        docs = docs[0]
    many = len(docs) > 1
    for k, doc in enumerate(docs):
        where = f"{path} #{k + 1}" if many else str(path)
        if not isinstance(doc, dict):
            raise _NotResultsError(f"{'entry ' + str(k + 1) + ' is' if many else 'it is'} not a "
                              "JSON object")
        try:
            yield _student(path, where, doc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise _NotResultsError(f"a results file with a missing or malformed field "
                              f"({type(exc).__name__}: {abbreviate(str(exc), 80)})") from None


def _student(path: Path, where: str, doc: dict[str, Any]) -> StudentResult:
    if isinstance(doc.get("problems"), list):
        return _from_check(path, where, doc)
    tests = doc.get("tests")
    if isinstance(tests, list) and ("gradable" in doc or any(
            isinstance(t, dict) and "max_points" in t for t in tests)):
        return _from_prairielearn(path, where, doc)
    if isinstance(tests, list):
        return _from_gradescope(path, where, doc)
    raise _NotResultsError("not a results file: no 'problems' (backprop check --json) or 'tests' "
                      "(Gradescope, PrairieLearn)")


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{v!r} is not a number")
    return float(v)


def _text(v: Any) -> str:
    return abbreviate(str(v)) if v is not None else ""


# ---------------------------------------------------------------- backprop check --json


def _from_check(path: Path, where: str, doc: dict[str, Any]) -> StudentResult:
    rows: list[AnswerRow] = []
    for p in doc["problems"]:
        name = _text(p["name"])
        for a in p["answers"]:
            status = str(a["status"])
            if status not in STATUSES:
                raise ValueError(f"status '{abbreviate(status, 20)}'")
            feedback = [_text(f) for f in a.get("feedback") or []]
            rows.append(AnswerRow(name, _text(a["key"]), _text(a.get("what", "")), status,
                                  _num(a["points"]), _num(a["max_points"]),
                                  _text(a.get("written", "")), feedback,
                                  slips_of(feedback) if status == "wrong" else []))
    sub = str(doc.get("submission") or "")
    ident = Path(sub).stem if sub and sub != "<stdin>" else path.stem
    return StudentResult(ident, where, "check", rows, sum(r.points for r in rows),
                         sum(r.max_points for r in rows))


# ---------------------------------------------------------------- Gradescope

_MARKS = {"✓": "correct", "≈": "carried", "✗": "wrong", "–": "missing", "!": "invalid"}
_GS_LINE = re.compile(r"^- (?P<mark>\S) \*\*(?P<key>(?:\\.|[^*\\])+)\*\* \((?P<what>.*?)\):"
                      r"(?P<written>.*?) (?P<pts>[0-9.e+-]+)/(?P<max>[0-9.e+-]+)$")
_MD_ESCAPE = re.compile(r"\\([\\`*_\[\]<>|#$~])")


def _unmd(s: str) -> str:
    """grade._md undone: Markdown's backslash escapes, then the three HTML entities."""
    return (_MD_ESCAPE.sub(r"\1", s).replace("&lt;", "<").replace("&gt;", ">")
            .replace("&amp;", "&"))


def _from_gradescope(path: Path, where: str, doc: dict[str, Any]) -> StudentResult:
    rows: list[AnswerRow] = []
    for t in doc["tests"]:
        name = _text(t["name"])
        current: AnswerRow | None = None
        for line in str(t.get("output") or "").splitlines():
            m = _GS_LINE.match(line)
            if m and m["mark"] in _MARKS:
                current = AnswerRow(name, _unmd(m["key"]), _unmd(m["what"]), _MARKS[m["mark"]],
                                    float(m["pts"]), float(m["max"]),
                                    _unmd(m["written"].strip()))
                rows.append(current)
            elif current is not None and line.startswith("    - "):
                current.feedback.append(_unmd(line[6:]))
    for r in rows:
        r.slips = slips_of(r.feedback) if r.status == "wrong" else []
    if not rows and doc["tests"]:
        raise _NotResultsError("a Gradescope results file, but not from the backprop grader (no "
                          "answer lines in its tests)")
    return StudentResult(_gradescope_id(path), where, "gradescope", rows,
                         sum(r.points for r in rows), sum(r.max_points for r in rows))


def _gradescope_id(path: Path) -> str:
    """The student's id from submission_metadata.json (its sid, else e-mail, else name; a
    group's joined by +), else the submission's id, else the folder's name."""
    folder = path.resolve().parent
    for d in [folder, *folder.parents][:4]:
        meta = d / "submission_metadata.json"
        if not meta.is_file():
            continue
        try:
            doc = json.loads(meta.read_bytes()[:MAX_RESULTS_BYTES])
            users = doc.get("users") or []
            ids = [str(u.get("sid") or u.get("email") or u.get("name") or "") for u in users
                   if isinstance(u, dict)]
            if any(ids):
                return abbreviate("+".join(i for i in ids if i), 120)
            if doc.get("id") is not None:
                return f"submission {abbreviate(str(doc['id']), 60)}"
        except (OSError, ValueError, AttributeError, RecursionError):
            pass
        break
    return _folder_id(path)


def _folder_id(path: Path) -> str:
    """results/results.json of submission_123: "submission_123"; s1.json: "s1"."""
    if path.stem != "results":
        return path.stem
    parts = [p for p in path.resolve().parent.parts if p not in ("results", "/")]
    return parts[-1] if parts else path.stem


# ---------------------------------------------------------------- PrairieLearn

_PL_LINE = re.compile(r"^(?P<key>\S+) \((?P<what>.*?)\):(?P<written>.*?) "
                      r"\[(?P<status>correct|carried|wrong|missing|invalid)\] "
                      r"(?P<pts>[0-9.e+-]+)/(?P<max>[0-9.e+-]+)$")


def _from_prairielearn(path: Path, where: str, doc: dict[str, Any]) -> StudentResult:
    rows: list[AnswerRow] = []
    for t in doc["tests"]:
        name = _text(t["name"])
        current: AnswerRow | None = None
        for line in str(t.get("output") or "").splitlines():
            m = _PL_LINE.match(line)
            if m:
                current = AnswerRow(name, m["key"], m["what"], m["status"], float(m["pts"]),
                                    float(m["max"]), m["written"].strip())
                rows.append(current)
            elif current is not None and line.startswith("    "):
                current.feedback.append(line[4:])
    for r in rows:
        r.slips = slips_of(r.feedback) if r.status == "wrong" else []
    if not rows:
        why = doc.get("message") or (doc.get("format_errors") or [""])[0]
        raise _NotResultsError("a PrairieLearn results file with no graded answers"
                          + (f": {abbreviate(str(why), 120)}" if why else ""))
    return StudentResult(_folder_id(path), where, "prairielearn", rows,
                         sum(r.points for r in rows), sum(r.max_points for r in rows))
