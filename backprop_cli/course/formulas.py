"""Grading a formula answer in a student's file (`dW = "2*(W@x)@x.T"`): the formula checker
that `check KEY --answers STUDENT` plugs into grade.py (``grade(..., formula=...)``).

Full points when the formula is proved or holds at every point tried (checks/formula.py,
in grading mode: a formula undefined everywhere is wrong, not an error), 0 otherwise, with
the verdict, the slips named and the counterexample as feedback. The key's `shape` table
declares the arrays' dimensions; without one they are read from the key's point.
"""

from __future__ import annotations

from typing import Any

from ..checks.answers import check_formula_answer
from .problems import Problem


def grade_formula(problem: Problem, result: Any, key: str, text: str) -> tuple[bool, list[str]]:
    """(right?, feedback lines) for the student's formula ``text`` answering ``key``."""
    c = check_formula_answer(result, key, text, shapes=problem.shape, grading=True,
                             where="answer", time_budget=problem.budget)
    return c.ok, [c.verdict()] + [f"hint: {h}" for h in c.hints] + c.explanation
