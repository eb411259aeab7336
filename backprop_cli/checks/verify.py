"""Independent checks of backprop's gradients (scalar engine): sympy and central differences.

Tolerances follow PyTorch's gradcheck: a gradient passes when |a - b| <= atol + rtol * |b|.
One wall-clock budget (Tolerance.time_budget) bounds the whole check: sympy runs in a worker
process that is stopped at the deadline (worker.py), while finite differences run here at
the same time (the worker is started, and imports sympy, before this process parses, and
makes each op's sympy rules while it waits: the gate-by-gate pass costs it a linear loop).
What each check proved, and what the budget cut, is decided by policy.py, the same code as
for arrays. Nothing is skipped silently.

- sympy: every gradient gate by gate in one pass over the graph (sympy_jobs.gates), then,
  where the formula is small (SYMPY_PER_VARIABLE_BUDGET), the whole formula differentiated
  per input (exact): a display, and a proof only where it comes cheap, with a slice of the
  budget (FORMULA_SLICE) once the gates proved every input.
- finite differences: per input (numeric.difference: a step sweep when the first step
  disagrees); past a budget (inputs x nodes), along one random direction, as gradcheck's
  fast mode does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, cast

from ..core.engine import Pass, forward
from ..core.errors import DomainError
from ..core.graph import Graph, Node
from ..core.point import Point
from ..core.result import VERIFIERS, Check, Tolerance, Verification
from . import sympy_jobs
from .numeric import Difference, difference
from .policy import close, decide, note_kinks, sympy_stop_notes
from .worker import Job

__all__ = ["Begun", "begin", "close", "note_kinks", "verify"]

SYMPY_MAX_DEPTH = 40  # sympy's diff recurses; sigmoid nested 50 deep already takes seconds
SYMPY_MAX_NODES = 20_000
SYMPY_MAX_TREE = 50_000  # terms with shared subexpressions written out: sympy walks trees
# inputs x terms up to which the whole formula is differentiated per input (the README's
# examples, a lecture's: milliseconds). Past it the cost is unpredictable from the shape (2 s
# of 3 on some trees of 1,000 nodes, 0.2 s on others) and the gates' proof, linear in the
# nodes, stands alone: the formula is not started, so it never decides how long a check
# takes, nor whether it ends proved before the budget.
SYMPY_PER_VARIABLE_BUDGET = 2_000
PER_VARIABLE_BUDGET = 200_000  # inputs x nodes above which differences go by direction
EXPLAIN_MAX = 8  # sweeps shown by --explain (each costs 2 x 16 forward passes)
# The whole-formula derivative is a display, and a proof only where it comes cheap: once the
# gate-by-gate pass has proved every input, the formula may run until this fraction of the
# budget has passed (from the start of the check), then it is stopped and the gates' proof
# stands.
FORMULA_SLICE = 0.25


@dataclass
class Begun:
    """sympy's job, begun (``begin``) as soon as the graph and the point are known: the
    worker runs the gates while this process runs the passes and the finite differences."""

    job: Job | None
    notes: list[str]
    start: float  # time.monotonic(): the check's clock and budget start here
    deadline: float

    def stop(self) -> None:
        if self.job is not None:
            self.job.stop()


def begin(graph: Graph, point: Point, wrt: list[str], seed: float,
          verifiers: tuple[str, ...] = VERIFIERS, tol: Tolerance | None = None) -> Begun:
    """Start sympy's part of ``verify`` (nothing to start without sympy or inputs); the
    caller hands the result to ``verify``, or stops it if it never gets there."""
    tol = tol or Tolerance()
    start = time.monotonic()
    deadline = start + tol.time_budget
    notes: list[str] = []
    if not wrt or "sympy" not in verifiers:
        return Begun(None, notes, start, deadline)
    work = _sympy_work(graph, point, wrt, seed, notes)
    # The graph travels packed: the warm worker takes it at any size.
    return Begun(Job(work[0], work[1], deadline), notes, start, deadline)


def verify(graph: Graph, point: Point, result: Pass, wrt: list[str],
           verifiers: tuple[str, ...] = VERIFIERS, tol: Tolerance | None = None,
           explain: bool = False, begun: Begun | None = None) -> Verification:
    tol = tol or Tolerance()
    if not wrt:  # a constant, or --wrt of nothing: no gradient, so nothing to check
        if begun is not None:
            begun.stop()
        return Verification([], "per-variable", [], None, budget=tol.time_budget, seconds=0.0)
    grads = {name: result.upstream[graph.variables[name]] for name in wrt}
    checks = [Check(name, point.values[name], grads[name]) for name in wrt]
    n = len(graph.nodes)
    per_variable = len(wrt) * n <= PER_VARIABLE_BUDGET
    mode = "per-variable" if per_variable else "random direction"
    direction: dict[str, Any] | None = None
    kink_vars = note_kinks(graph, result.kinks, checks)
    try:
        if begun is None:
            begun = begin(graph, point, wrt, result.seed, verifiers, tol)
        job, notes = begun.job, begun.notes
        if "numeric" in verifiers:
            if per_variable:
                _numeric_per_variable(graph, point, result, checks, tol,
                                      job.deadline if job else begun.deadline, explain)
            else:
                notes.append(f"{len(wrt)} inputs x {n} nodes is past the per-variable budget "
                             f"for finite differences ({PER_VARIABLE_BUDGET:,}): they checked "
                             "one random direction (gradcheck's fast mode)")
                direction = {"numeric": _numeric_direction(graph, point, result, grads, tol)}
        if job is not None:
            direction = _collect(job, checks, direction, notes, tol)
    finally:
        if begun is not None:
            begun.stop()
    for c in checks:
        decide(c, tol, c.variable in kink_vars, direction)
    return Verification(checks, mode, notes, direction, budget=tol.time_budget,
                        seconds=time.monotonic() - begun.start)


def _sympy_work(graph: Graph, point: Point, wrt: list[str], seed: float,
                notes: list[str]) -> Any:
    """The worker's plan: gates, then the formula per input where affordable (else along a
    direction if the gates could not be done)."""
    why_not = _sympy_unaffordable(graph)
    terms = graph.tree_size(SYMPY_MAX_TREE + 1) if why_not is None else 0
    per_input = why_not is None and len(wrt) * terms <= SYMPY_PER_VARIABLE_BUDGET
    if why_not is not None:
        notes.append(f"sympy did not differentiate the whole formula: {why_not}; it checked "
                     "every gate's derivative through the graph instead")
    elif not per_input:
        notes.append(f"sympy did not differentiate the whole formula per input: {len(wrt)} "
                     f"inputs x {terms:,} terms is past its budget "
                     f"({SYMPY_PER_VARIABLE_BUDGET:,}); it checked every gate's derivative "
                     "through the graph instead")

    work = (sympy_jobs.plan_packed, (sympy_jobs.pack(graph, point), wrt, seed, per_input,
                                     why_not is None))
    return work


def _collect(job: Job, checks: list[Check], direction: dict[str, Any] | None,
             notes: list[str], tol: Tolerance) -> dict[str, Any] | None:
    """The worker's messages into the checks, until it finishes or its deadline passes;
    once the gates proved every input, the formula has its slice."""
    by_name = {c.variable: c for c in checks}
    sliced = False
    for message in job.results():
        kind = message[0]
        if kind == "gates":
            for name, v in message[1].items():
                c = by_name[name]
                if c.sympy_how != "formula":
                    # "undefined": sympy finished and found no value (policy.decide says why).
                    c.sympy_value, c.sympy_how = v, "gates" if v is not None else "undefined"
            if not sliced and all(c.sympy_how in ("gates", "formula") for c in checks):
                # Every input proved gate by gate: the formula that follows has its slice
                # (the job's deadline already holds the worker's import grace, if any).
                job.deadline -= (1 - FORMULA_SLICE) * tol.time_budget
                sliced = True
        elif kind == "formula":
            _, name, printed, v = message
            c = by_name[name]
            c.sympy_derivative = printed
            if v is not None:
                c.sympy_value, c.sympy_how = v, "formula"
            elif c.sympy_how is None:
                c.sympy_how = "undefined"
        elif kind == "direction":
            projected = sum(sympy_jobs.random_direction([c.variable for c in checks])[c.variable]
                            * cast(float, c.backprop) for c in checks)
            ref = message[1]
            direction = dict(direction or {})
            direction["sympy"] = {"backprop": projected, "reference": ref,
                                  "ok": ref is not None and close(projected, ref, tol.rtol,
                                                                  tol.atol)}
        elif kind == "note":
            notes.append(message[1])
    if sliced and not job.finished and job.error is None:
        rest = sum(c.sympy_how != "formula" for c in checks)
        notes.append(f"sympy's whole-formula derivative stopped at its slice of the budget "
                     f"({FORMULA_SLICE * tol.time_budget:g} s of {tol.time_budget:g} s): "
                     f"{rest} of {len(checks)} gradients proved gate by gate instead")
    else:
        sympy_stop_notes(job, checks, tol, notes)
    return direction


def _sympy_unaffordable(graph: Graph) -> str | None:
    # sympy's cost grows with the size of the expression times its nesting (diff and
    # xreplace walk it recursively, and nested functions grow with each derivative).
    depth = graph.flat_depth()
    if depth > SYMPY_MAX_DEPTH:
        return (f"the expression is nested {depth} levels deep for sympy (limit "
                f"{SYMPY_MAX_DEPTH}; its derivatives recurse and grow with depth)")
    if len(graph.nodes) > SYMPY_MAX_NODES:
        return f"the graph has {len(graph.nodes):,} nodes (limit {SYMPY_MAX_NODES:,})"
    size = graph.tree_size(SYMPY_MAX_TREE + 1)
    if size > SYMPY_MAX_TREE:
        return (f"written out as one formula (shared subexpressions repeated, as sympy walks "
                f"it) the expression has more than {SYMPY_MAX_TREE:,} terms")
    return None


def _kinked(graph: Graph) -> list[Node]:
    """The kink-capable nodes (relu, abs, max, ...), whose smooth piece a probe records."""
    return [node for node in graph.nodes if node.op.branch is not None]


def _branches(kinked: list[Node], vals: list[float]) -> tuple[int, ...]:
    return tuple([node.op.branch(tuple([vals[j] for j in node.inputs]))  # type: ignore[misc]
                  for node in kinked])


def _forward_at(graph: Graph, kinked: list[Node], values: dict[str, float]
                ) -> tuple[float, tuple[int, ...]] | None:
    """Output value and the smooth piece of every kink-capable node, or None off the domain."""
    try:
        vals = forward(graph, values)
    except DomainError:
        return None
    return vals[graph.output], _branches(kinked, vals)


def _kink_namer(graph: Graph, kinked: list[Node], base: tuple[int, ...], probe: Any) -> Any:
    """crossed(h): the gate whose smooth piece a step h changes, by name."""

    def crossed(h: float) -> str | None:
        for t in (h, -h):
            run = probe(t)
            if run is None:
                continue
            for node, a, b in zip(kinked, run[1], base):
                if a != b:
                    return f"the kink of {node.op.name} at {graph.label(node.id)}"
        return None

    return crossed


def apply(c: Check, d: Difference) -> None:
    """A difference's outcome into the check (shared with array_verify)."""
    c.numeric, c.numeric_ok, c.numeric_step = d.value, d.ok, d.step
    if d.sweep is not None and c.sweep is None:
        c.sweep = d.sweep
    if d.kink is not None:
        c.near_kink = True
    if d.outside:
        c.notes.append(d.note or "finite differences step outside the domain here; not used")
    elif d.note:
        c.notes.append(d.note)


def _numeric_per_variable(graph: Graph, point: Point, result: Pass, checks: list[Check],
                          tol: Tolerance, deadline: float, explain: bool) -> None:
    kinked = _kinked(graph)
    # At the point itself every probe's run is the forward pass already made: not made again.
    base = (result.values[graph.output], _branches(kinked, result.values))
    for k, c in enumerate(checks):
        if time.monotonic() > deadline:
            for rest in checks[k:]:
                rest.why = f"budget: finite differences stopped at {tol.time_budget:g} s"
            return
        name = c.variable
        x = point.values[name]

        def probe(v: float, name: str = name) -> tuple[float, tuple[int, ...]] | None:
            return _forward_at(graph, kinked, {**point.values, name: v})

        crossed = _kink_namer(graph, kinked, base[1], lambda t, x=x: probe(x + t))
        d = difference(probe, x, cast(float, c.backprop), tol, result.seed,
                       explain=explain and k < EXPLAIN_MAX, crossed=crossed, at_x0=base)
        apply(c, d)


def _numeric_direction(graph: Graph, point: Point, result: Pass, grads: dict[str, float],
                       tol: Tolerance) -> dict[str, Any]:
    v = sympy_jobs.random_direction(list(grads))
    projected = sum(v[name] * g for name, g in grads.items())
    scale = max([1.0, *(abs(point.values[n]) for n in v)])

    kinked = _kinked(graph)

    def probe(t: float) -> tuple[float, tuple[int, ...]] | None:
        return _forward_at(graph, kinked, {k: x + t * scale * v.get(k, 0.0)
                                           for k, x in point.values.items()})

    at_x0 = (result.values[graph.output], _branches(kinked, result.values))
    d = difference(probe, 0.0, projected * scale, tol, result.seed, at_x0=at_x0)
    return direction_outcome(d, projected, scale)


def direction_outcome(d: Difference, projected: float, scale: float) -> dict[str, Any]:
    """The JSON of a random-direction difference (shared with array_verify)."""
    if d.value is None:
        return {"backprop": projected, "reference": None, "ok": None,
                "note": d.note or "step left the domain"}
    out: dict[str, Any] = {"backprop": projected, "reference": d.value / scale, "ok": d.ok}
    if d.ok is None:
        out["note"] = d.note or "inconclusive"
    return out
