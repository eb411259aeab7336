"""A formula check's results: each claim's verdict, counterexample and slips, as plain data.

What is echoed of the user's input is capped here, in the table and in JSON alike: a claim of
20 KB is shown cut in the middle, and an array of a counterexample past ECHO_ENTRIES entries
(a 2000×2000 W) is shown as its shape, its first entries and how many were left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...core.arrays import Array, plain
from ...core.limits import MESSAGE_CHARS, abbreviate

Dim = int | str
ECHO_ENTRIES = 1_000  # entries of one array in a counterexample, past which it is cut


def echoed(value: Array | None) -> Any:
    """An array as nested lists, or, past ECHO_ENTRIES entries, its shape, its first entries
    (in row-major order) and the number left out: a counterexample never grows with a
    user's shape."""
    if value is None:
        return None
    if value.size <= ECHO_ENTRIES:
        return plain(value)
    return {"shape": list(value.shape), "first": plain(value.ravel()[:ECHO_ENTRIES]),
            "left_out": int(value.size - ECHO_ENTRIES)}


def echoed_text(text: str) -> str:
    """A claim or formula as the user wrote it, cut in the middle past MESSAGE_CHARS."""
    return abbreviate(text, MESSAGE_CHARS)


@dataclass(frozen=True)
class Slip:
    """A named slip and the sentence that explains it, in the lecture's words."""

    name: str
    sentence: str

    def to_dict(self) -> dict[str, str]:
        return {"slip": self.name, "sentence": self.sentence}


@dataclass
class Counterexample:
    """The first trial where a claim differs: shapes, point, your value, backprop's value
    (each array as ``echoed`` gives it)."""

    shapes: dict[str, list[int]]
    point: dict[str, Any]
    yours: Any  # None: the formula could not be computed there (``note`` says why)
    correct: Any
    note: str = ""

    @classmethod
    def at(cls, point: dict[str, Array], yours: Array | None, correct: Array,
           note: str = "") -> Counterexample:
        names = list(point)[:ECHO_ENTRIES]  # an expression of 100,000 inputs: the first
        if len(point) > len(names):
            note = " ".join([note, f"(the point's other {len(point) - len(names):,} inputs "
                             "are left out)"]).strip()
        return cls({name: list(point[name].shape) for name in names},
                   {name: echoed(point[name]) for name in names},
                   echoed(None if yours is None else np.asarray(yours)),
                   echoed(np.asarray(correct)), note)

    def to_dict(self) -> dict[str, Any]:
        return {"shapes": self.shapes, "point": self.point, "yours": self.yours,
                "correct": self.correct, "note": self.note}


@dataclass
class ClaimCheck:
    """One claim's verdict: ``proved`` (sympy), ``holds`` (at ``trials`` points) or ``differs``."""

    claim: str
    target: str
    formula: str
    verdict: str = "holds"
    trials: int = 0
    shapes_tried: list[dict[str, list[int]]] = field(default_factory=list)
    counterexample: Counterexample | None = None
    diagnosis: list[Slip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict != "differs"

    def describe(self) -> str:
        if self.verdict == "proved":
            return "proved by sympy"
        if self.verdict == "holds":
            return f"holds at {self.trials} point{'s' if self.trials != 1 else ''}"
        return "differs"

    def to_dict(self) -> dict[str, Any]:
        return {"claim": echoed_text(self.claim), "target": self.target,
                "formula": echoed_text(self.formula), "verdict": self.verdict,
                "summary": self.describe(), "trials": self.trials,
                "shapes_tried": self.shapes_tried,
                "counterexample": self.counterexample.to_dict() if self.counterexample else None,
                "diagnosis": [s.to_dict() for s in self.diagnosis], "notes": self.notes}


@dataclass
class FormulaReport:
    expression: str
    claims: list[ClaimCheck]
    shapes: dict[str, list[Dim]]  # declared and inferred; undeclared names are scalars
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": echoed_text(self.expression), "ok": self.ok,
                "shapes": self.shapes, "notes": self.notes,
                "claims": [c.to_dict() for c in self.claims]}
