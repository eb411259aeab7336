"""The sympy proof of a scalar claim, run as a job of the budgeted worker (checks/worker.py).

Both sides are built node by node from parsed trees (never from text): the claim, and
sympy's derivative of the expression with respect to the target. Their difference is then
evaluated at signed points (30 digits), where a difference that is not zero at a point where
both sides are real is a counterexample, not a note; only a difference that vanishes at every
such point goes to ``simplify``, whose 0 proves the claim. The job sends each finding as
soon as it has it, so a job stopped at the deadline keeps what it found; a simplify that runs
past the deadline is killed with the worker, and the verdict says what held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...core.graph import Graph
from ...core.ops import CONST, VAR
from ..worker import Job, Send

DIFFERS_RTOL = 1e-12  # sympy's 30 digits: a relative difference this large is not round-off


def prove(graph: Graph, formula: Graph, target_nid: int,
          points: list[dict[str, float]], send: Send) -> None:
    """Send ("differs", index, yours, truth) for the first point of ``points`` where the
    claim and the derivative are real and differ, else ("proved",) or ("unproved",)."""
    import sympy as sp

    from .. import symbolic

    real: list[Any] = []
    held: list[Any] = []  # the target held as a symbol of its own
    hold = sp.Dummy("target", real=True)
    for node in graph.nodes:
        for exprs in (real, held):
            if node.op is VAR:
                e = symbolic.symbol(node.name or "")
            elif node.op is CONST:
                e = symbolic.exact(node.literal)
            else:
                e = node.op.sympy(symbolic.SP, *(exprs[j] for j in node.inputs))
            exprs.append(e)
        held[-1] = hold if node.id == target_nid else held[-1]
    truth = sp.diff(held[graph.output], hold).xreplace({hold: real[target_nid]})
    mine: list[Any] = []
    for node in formula.nodes:
        if node.op is VAR:
            name = node.name or ""
            e = symbolic.symbol(name) if name in graph.variables else real[graph.named[name]]
        elif node.op is CONST:
            e = symbolic.exact(node.literal)
        else:
            e = node.op.sympy(symbolic.SP, *(mine[j] for j in node.inputs))
        mine.append(e)
    yours = mine[formula.output]
    difference = yours - truth
    if difference == 0:
        send(("proved",))
        return
    for k, point in enumerate(points):
        at = {symbolic.symbol(name): sp.Rational(repr(v)) for name, v in point.items()}
        y, t = (_real(e.xreplace(at), sp) for e in (yours, truth))
        if y is not None and t is not None and abs(y - t) > DIFFERS_RTOL * abs(t):
            send(("differs", k, float(y), float(t)))
            return
    send(("proved",) if sp.simplify(difference) == 0 else ("unproved",))


def _real(e: Any, sp: Any) -> Any:
    """The value (a sympy Float), if it is a finite real number that 30 and 60 digits agree
    on (1 - tanh(x)^2 at x = 1000 cancels past what evalf's 30 digits can see: no value, not
    a wrong one)."""
    from .. import symbolic

    try:
        v, w = (sp.N(e, digits) for digits in (symbolic.DIGITS, 2 * symbolic.DIGITS))
    except (TypeError, ValueError, ArithmeticError):
        return None
    if not all(u.is_number and u.is_real and u.is_finite for u in (v, w)):
        return None
    if abs(v - w) > sp.Float(10) ** (4 - symbolic.DIGITS) * abs(w):
        return None
    return w


@dataclass
class Outcome:
    """What the proof found: ``proved``; a point where the claim differs (index into the
    points, your value, the truth, both from sympy); or why it could not finish."""

    proved: bool = False
    differs: tuple[int, float, float] | None = None
    why: str = ""


def run(graph: Graph, formula: Graph, target_nid: int,
        points: list[Mapping[str, float]], deadline: float) -> Outcome:
    """``prove`` in the worker, stopped at ``deadline`` (time.monotonic())."""
    job = Job(prove, (graph, formula, target_nid, [dict(p) for p in points]), deadline,
              nodes=len(graph.nodes) + len(formula.nodes))
    outcome = Outcome()
    try:
        for message in job.results():
            if message[0] == "proved":
                outcome.proved = True
            elif message[0] == "differs":
                outcome.differs = (int(message[1]), float(message[2]), float(message[3]))
    finally:
        job.stop()
    if outcome.proved or outcome.differs is not None:
        return outcome
    if job.error is not None:
        outcome.why = f"sympy could not run the proof ({job.error})"
    elif not job.finished:
        outcome.why = "sympy could not finish the proof in the budget"
    else:
        outcome.why = "sympy could not show the difference is 0 in general"
    return outcome
