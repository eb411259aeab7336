"""A class at a glance: what `backprop report` counts from every student's graded answers.

``summarise(students, skipped, key)`` returns plain data (ClassReport): the score
distribution, per problem and per answer the share right, right by error carried forward,
wrong and missing; each named slip with how many students made it and on which answers;
per problem, where the chain rule broke first (the first wrong answer in the order the
answers are computed: forward values first, then gradients from the output back); and the
students to follow up. Renderers (classpage.py: terminal, HTML, Markdown; here: JSON and
CSV) only read it. Counts are exact: every share is "k of n students", n the students read.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import BackpropError, InputError
from .classresults import NO_SLIP, AnswerRow, Skipped, StudentResult
from .problems import Problem, ProblemSet

BINS = 10  # the histogram's bars: 0-10 %, ..., 90-100 % (100 % in the last)
FOLLOW_BELOW = 0.5  # a score under half the points: follow up
REPEATED = 2  # the same slip on this many answers or more: follow up
SHARES = ("correct", "carried", "wrong", "missing")  # "invalid" counts as missing


@dataclass
class AnswerSummary:
    """One answer of one problem across the class: how many students in each state."""

    problem: str
    key: str
    what: str
    counts: dict[str, int]  # correct, carried, wrong, missing
    slips: Counter[str] = field(default_factory=Counter)  # slip -> students
    first_wrong: int = 0  # students whose first wrong answer in this problem is this one
    node: int | None = None  # the key's node for this answer (with --key)

    @property
    def students(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "what": self.what, "students": self.students,
                **self.counts, "first_wrong": self.first_wrong,
                "slips": dict(self.slips.most_common())}


@dataclass
class ProblemSummary:
    name: str
    answers: list[AnswerSummary]
    no_wrong: int = 0  # students with no wrong answer in this problem
    result: Any = None  # the key's evaluated Result (with --key): for the circuit

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "no_wrong_answer": self.no_wrong,
                "answers": [a.to_dict() for a in self.answers]}


@dataclass
class SlipSummary:
    """One named slip: the students who made it, and where."""

    name: str
    students: int
    answers: list[tuple[str, str, int]]  # (problem, answer key, students), most first
    example: tuple[str, str, str, str]  # (problem, key, written, the verdict line)

    def to_dict(self) -> dict[str, Any]:
        return {"slip": self.name, "students": self.students,
                "answers": [{"problem": p, "key": k, "students": n} for p, k, n in self.answers],
                "example": dict(zip(("problem", "key", "written", "feedback"), self.example))}


@dataclass
class FollowUp:
    id: str
    score: float
    max_score: float
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": self.score, "max_score": self.max_score,
                "reasons": self.reasons}


@dataclass
class ClassReport:
    students: list[StudentResult]
    skipped: list[Skipped]
    problems: list[ProblemSummary]
    slips: list[SlipSummary]
    follow_up: list[FollowUp]
    histogram: list[int]
    notes: list[str] = field(default_factory=list)  # about the key against the results

    @property
    def n(self) -> int:
        return len(self.students)

    @property
    def percents(self) -> list[float]:
        return [100.0 * s.fraction for s in self.students]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.percents) if self.students else 0.0

    @property
    def median(self) -> float:
        return statistics.median(self.percents) if self.students else 0.0

    def to_dict(self, names: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "students": self.n, "mean_percent": self.mean, "median_percent": self.median,
            "histogram": [{"from_percent": 100 * k // BINS, "to_percent": 100 * (k + 1) // BINS,
                           "students": c} for k, c in enumerate(self.histogram)],
            "problems": [p.to_dict() for p in self.problems],
            "slips": [s.to_dict() for s in self.slips],
            "skipped": [{"source": s.source, "why": s.why} for s in self.skipped],
            "notes": self.notes,
        }
        if names:
            doc["follow_up"] = [f.to_dict() for f in self.follow_up]
            doc["scores"] = [{"id": s.id, "score": s.score, "max_score": s.max_score,
                              "source": s.source} for s in self.students]
        return doc


# ---------------------------------------------------------------- counting


def summarise(students: list[StudentResult], skipped: list[Skipped],
              key: ProblemSet | None = None) -> ClassReport:
    """Count everything once. With the ``key``, answers are ordered as they are computed and
    tied to the circuit's nodes; without it, in the order the results list them."""
    order: dict[str, dict[str, AnswerSummary]] = {}
    for s in students:
        for r in s.answers:
            table = order.setdefault(r.problem, {})
            if r.key not in table:
                table[r.key] = AnswerSummary(r.problem, r.key, r.what,
                                             dict.fromkeys(SHARES, 0))
    problems = [ProblemSummary(name, list(table.values())) for name, table in order.items()]
    notes: list[str] = []
    if key is not None:
        notes = _tie_to_key(problems, key)
    rank = {(p.name, a.key): k for p in problems for k, a in enumerate(p.answers)}
    found = {(p.name, a.key): a for p in problems for a in p.answers}
    slip_students: dict[str, set[str]] = {}
    slip_example: dict[str, tuple[str, str, str, str]] = {}
    histogram = [0] * BINS
    for s in students:
        histogram[min(BINS - 1, int(s.fraction * BINS))] += 1
        first: dict[str, AnswerRow] = {}
        for r in s.answers:
            a = found[(r.problem, r.key)]
            a.counts["missing" if r.status == "invalid" else r.status] += 1
            if r.status != "wrong":
                continue
            here = first.get(r.problem)
            if here is None or rank[(r.problem, r.key)] < rank[(r.problem, here.key)]:
                first[r.problem] = r
            for slip in r.slips or [NO_SLIP]:
                a.slips[slip] += 1  # a student counts once per answer and slip
                slip_students.setdefault(slip, set()).add(s.id)
                slip_example.setdefault(slip, (r.problem, r.key, r.written,
                                               r.feedback[0] if r.feedback else ""))
        for r in first.values():
            found[(r.problem, r.key)].first_wrong += 1
    for p in problems:
        p.no_wrong = len(students) - sum(a.first_wrong for a in p.answers)
    slips = []
    for name, who in slip_students.items():
        where = [(a.problem, a.key, a.slips[name]) for p in problems for a in p.answers
                 if a.slips.get(name)]
        where.sort(key=lambda t: -t[2])
        slips.append(SlipSummary(name, len(who), where, slip_example[name]))
    slips.sort(key=lambda s: (s.name == NO_SLIP, -s.students, s.name))
    return ClassReport(students, skipped, problems, slips, _follow_up(students), histogram,
                       notes)


def _follow_up(students: list[StudentResult]) -> list[FollowUp]:
    out = []
    for s in students:
        reasons = []
        if s.fraction < FOLLOW_BELOW:
            reasons.append(f"score {100 * s.fraction:.0f} %")
        made = Counter(slip for r in s.answers if r.status == "wrong" for slip in r.slips)
        reasons += [f"{slip} on {n} answers" for slip, n in made.most_common() if n >= REPEATED]
        if reasons:
            out.append(FollowUp(s.id, s.score, s.max_score, reasons))
    out.sort(key=lambda f: (f.score / f.max_score if f.max_score else 0.0, f.id))
    return out


def _tie_to_key(problems: list[ProblemSummary], key: ProblemSet) -> list[str]:
    """Each answer's node in the key's circuit, and the answers in the order they are
    computed: forward values by node, then gradients from the output back."""
    from ..checks.answers import _Keys
    from ..checks.evaluate import evaluate

    by_name: dict[str, Problem] = {p.name: p for p in key.problems}
    notes = []
    for p in problems:
        prob = by_name.get(p.name)
        if prob is None:
            notes.append(f"problem {p.name} is not in the key: its circuit is not drawn")
            continue
        try:
            result = evaluate(prob.expression, prob.at, upstream=prob.upstream, check=())
        except BackpropError as exc:
            notes.append(f"problem {p.name} of the key cannot be run: {exc.message}")
            continue
        keys = _Keys(result)
        size = len(result.graph.nodes)
        place: dict[str, int] = {}
        for a in p.answers:
            try:
                kind, nid = keys.resolve(a.key)
            except InputError:
                notes.append(f"answer {a.key} of {p.name} is not in the key's circuit")
                place[a.key] = 2 * size
                continue
            a.node = nid
            place[a.key] = nid if kind == "value" else 2 * size - 1 - nid
        p.answers.sort(key=lambda a: place[a.key])
        p.result = result
    return notes


def load_key(path: str) -> ProblemSet:
    from .problems import load_problems

    return load_problems(path, fmt="auto")


# ---------------------------------------------------------------- CSV

CSV_FIELDS = ("student", "problem", "answer", "what", "status", "points", "max_points",
              "written", "slips", "feedback")


def _cell(s: str) -> str:
    """A spreadsheet never runs a student's text as a formula (=, +, -, @ at the start),
    while a plain number such as -0.5 stays a number."""
    if s[:1] in ("=", "+", "-", "@", "\t", "\r"):
        try:
            float(s)
        except ValueError:
            return "'" + s
    return s


def to_csv(report: ClassReport, names: bool = True) -> str:
    """One row per student and answer, with the slips named: for a spreadsheet."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for k, s in enumerate(report.students, 1):
        who = s.id if names else f"student {k}"
        for r in s.answers:
            w.writerow([_cell(who), _cell(r.problem), _cell(r.key), _cell(r.what), r.status,
                        f"{r.points:g}", f"{r.max_points:g}", _cell(r.written),
                        "; ".join(r.slips), _cell(" | ".join(r.feedback))])
    return buf.getvalue()
