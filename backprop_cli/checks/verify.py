"""Independent checks of backprop's gradients: sympy's derivative and central differences.

Tolerances follow PyTorch's gradcheck: a gradient passes when |a - b| <= atol + rtol * |b|.
Where a per-variable check would cost too much (many inputs, a deep graph), the check
changes strategy and says so in a note: a random-direction check (gradcheck's fast mode)
or finite differences alone. Nothing is skipped silently.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from typing import Any

from ..core.engine import Pass, forward
from ..core.errors import DomainError
from ..core.graph import Graph
from ..core.point import Point
from ..core.result import VERIFIERS, Check, Tolerance, Verification

SYMPY_MAX_DEPTH = 40  # sympy's diff recurses; sigmoid nested 50 deep already takes seconds
SYMPY_MAX_NODES = 20_000
SYMPY_MAX_TREE = 50_000  # terms with shared subexpressions written out: sympy walks trees
SYMPY_PER_VARIABLE_BUDGET = 50_000  # inputs x terms for one sympy derivative per input
PER_VARIABLE_BUDGET = 200_000  # inputs x nodes above which checks go by random direction


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def verify(graph: Graph, point: Point, result: Pass, wrt: list[str],
           verifiers: tuple[str, ...] = VERIFIERS, tol: Tolerance | None = None) -> Verification:
    tol = tol or Tolerance()
    grads = {name: result.upstream[graph.variables[name]] for name in wrt}
    checks = [Check(name, point.values[name], grads[name]) for name in wrt]
    notes: list[str] = []
    n = len(graph.nodes)
    per_variable = len(wrt) * n <= PER_VARIABLE_BUDGET
    mode = "per-variable" if per_variable else "random direction"
    direction: dict[str, Any] | None = None
    if not per_variable:
        notes.append(f"{len(wrt)} inputs x {n} nodes is past the per-variable budget "
                     f"({PER_VARIABLE_BUDGET:,}): checked along one random direction "
                     "(gradcheck's fast mode) instead of input by input")
        direction = {}
        for c in checks:
            c.status = "unchecked"
    kink_vars = note_kinks(graph, result.kinks, checks)

    if "sympy" in verifiers:
        why_not = _sympy_unaffordable(graph)
        if why_not:
            notes.append(f"sympy check skipped: {why_not}; finite differences only")
        else:
            # One derivative per input costs inputs x terms: past a budget, sympy checks the
            # one random direction (one derivative) while finite differences stay per input.
            terms = graph.tree_size(SYMPY_MAX_TREE + 1)
            sympy_per_variable = per_variable and len(wrt) * terms <= SYMPY_PER_VARIABLE_BUDGET
            if per_variable and not sympy_per_variable:
                notes.append(f"sympy checked along one random direction: {len(wrt)} inputs x "
                             f"{terms:,} terms is past its per-input budget "
                             f"({SYMPY_PER_VARIABLE_BUDGET:,})")
                direction = {}
            try:
                if sympy_per_variable:
                    _sympy_per_variable(graph, point, checks, tol, notes, result.seed)
                else:
                    assert direction is not None
                    direction["sympy"] = _sympy_direction(graph, point, grads, tol, result.seed)
            except RecursionError:
                notes.append("sympy check gave up: the expression is too deeply nested "
                             "for sympy; finite differences only")
    if "numeric" in verifiers:
        if per_variable:
            _numeric_per_variable(graph, point, result, checks, tol)
        else:
            assert direction is not None
            direction["numeric"] = _numeric_direction(graph, point, result, grads, tol)

    for c in checks:
        _verdict(c, tol, c.variable in kink_vars)
    return Verification(checks, mode, notes, direction)


def _verdict(c: Check, tol: Tolerance, at_kink: bool) -> None:
    if c.status == "unchecked":
        return
    results = []
    if c.sympy_value is not None:
        results.append(close(c.backprop, c.sympy_value, tol.rtol, tol.atol))
    if c.numeric_ok is not None:
        results.append(c.numeric_ok)
    settle(c, results, at_kink)


def settle(c: Check, results: list[bool], at_kink: bool) -> None:
    """A check's status from its verifiers' verdicts (scalar and array checks alike).

    At a kink (or with a kink inside the finite-difference step) a disagreement is not a
    failure: the one-sided derivative there need not equal the subgradient taken.
    """
    if not results:
        c.status = "kink" if at_kink else "unchecked"
    elif all(results):
        c.status = "kink" if at_kink else "pass"
    else:
        near_kink = at_kink or c.near_kink
        c.status = "kink" if near_kink else "fail"
        if near_kink and not at_kink:
            c.notes.append("a non-differentiable point lies within the finite-difference step; "
                           "the one-sided gradient cannot be confirmed")


def note_kinks(graph: Graph, kinks: Mapping[int, str], checks: list[Check]
               ) -> dict[str, list[str]]:
    """The inputs that feed a node at a non-differentiable point, each with where and why;
    the check of every such input gets a note saying so."""
    found: dict[str, list[str]] = {}
    for nid, why in kinks.items():
        for name in graph.ancestors_vars(nid):
            found.setdefault(name, []).append(f"{why} at {graph.label(nid)}")
    for c in checks:
        if c.variable in found:
            c.notes.append("not differentiable here: " + "; ".join(found[c.variable])
                           + " (see README: subgradient conventions)")
    return found


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


def _sympy_per_variable(graph: Graph, point: Point, checks: list[Check], tol: Tolerance,
                        notes: list[str], seed: float) -> None:
    from . import symbolic

    def work() -> None:
        f = symbolic.output_expr(graph)
        at = symbolic.at_point(point.exact)
        start = time.perf_counter()
        for k, c in enumerate(checks):
            if time.perf_counter() - start > tol.time_budget:
                rest = ", ".join(x.variable for x in checks[k:])
                notes.append(f"sympy check stopped after {tol.time_budget:g} s; "
                             f"finite differences only for {rest}")
                return
            d = f.diff(symbolic.symbol(c.variable))
            c.sympy_derivative = symbolic.short(d)
            # With an upstream seed G, backprop computes G * df/dx: compare like with like.
            c.sympy_value = symbolic.to_float(d.xreplace(at) * seed)
            if c.sympy_value is None:
                c.notes.append("sympy's derivative is undefined at this point")

    symbolic.run_deep(work)


def _sympy_direction(graph: Graph, point: Point, grads: dict[str, float],
                     tol: Tolerance, seed: float) -> dict[str, Any]:
    from . import symbolic

    rng = random.Random(0)
    v = {name: rng.choice((-1.0, 1.0)) for name in grads}
    projected = sum(v[name] * g for name, g in grads.items())

    def work() -> float | None:
        f = symbolic.output_expr(graph)
        t = symbolic.symbol("_t")
        at = symbolic.at_point(point.exact)
        moved = {s: val + v[str(s)] * t for s, val in at.items() if str(s) in v}
        moved.update({s: val for s, val in at.items() if str(s) not in v})
        return symbolic.to_float(f.xreplace(moved).diff(t).xreplace({t: 0}) * seed)

    ref = symbolic.run_deep(work)
    ok = ref is not None and close(projected, ref, tol.rtol, tol.atol)
    return {"backprop": projected, "reference": ref, "ok": ok}


def _forward_at(graph: Graph, values: dict[str, float]) -> tuple[float, tuple[int, ...]] | None:
    """Output value and the smooth piece of every kink-capable node, or None off the domain."""
    try:
        vals = forward(graph, values)
    except DomainError:
        return None
    branches = tuple(node.op.branch(tuple(vals[j] for j in node.inputs))
                     for node in graph.nodes if node.op.branch is not None)
    return vals[graph.output], branches


def _numeric_per_variable(graph: Graph, point: Point, result: Pass, checks: list[Check],
                          tol: Tolerance) -> None:
    base = _forward_at(graph, point.values)
    assert base is not None
    for c in checks:
        x = point.values[c.variable]
        h = tol.fd_step * max(1.0, abs(x))
        plus = _forward_at(graph, {**point.values, c.variable: x + h})
        minus = _forward_at(graph, {**point.values, c.variable: x - h})
        if plus is None or minus is None:
            c.notes.append("finite differences step outside the domain here; not used")
            continue
        fd = (plus[0] - minus[0]) / (2 * h) * result.seed
        if not math.isfinite(fd):  # f(x +- h) overflowed: no evidence, never a pass
            c.notes.append("finite differences overflowed here (f(x ± h) is not finite); "
                           "not used")
            continue
        c.numeric = fd
        c.near_kink = plus[1] != base[1] or minus[1] != base[1]
        c.numeric_ok = abs(fd - c.backprop) <= _fd_tolerance(c.backprop, plus[0], minus[0],
                                                             h, result.seed, tol)


def _numeric_direction(graph: Graph, point: Point, result: Pass, grads: dict[str, float],
                       tol: Tolerance) -> dict[str, Any]:
    rng = random.Random(0)
    v = {name: rng.choice((-1.0, 1.0)) for name in grads}
    projected = sum(v[name] * g for name, g in grads.items())
    h = tol.fd_step * max([1.0, *(abs(point.values[n]) for n in v)])
    plus = _forward_at(graph, {k: x + h * v.get(k, 0.0) for k, x in point.values.items()})
    minus = _forward_at(graph, {k: x - h * v.get(k, 0.0) for k, x in point.values.items()})
    if plus is None or minus is None:
        return {"backprop": projected, "reference": None, "ok": True,
                "note": "step left the domain"}
    fd = (plus[0] - minus[0]) / (2 * h) * result.seed
    ok = abs(fd - projected) <= _fd_tolerance(projected, plus[0], minus[0], h, result.seed, tol)
    if not math.isfinite(fd):  # f(x +- h v) overflowed: no evidence either way, and said so
        return {"backprop": projected, "reference": None, "ok": True,
                "note": "f overflowed along the step: inconclusive"}
    return {"backprop": projected, "reference": fd, "ok": ok}


def _fd_tolerance(expected: float, f_plus: float, f_minus: float, h: float, seed: float,
                  tol: Tolerance) -> float:
    # Central differences lose about eps * |f| / h to rounding when f(x +- h) nearly cancel;
    # the allowance grows with that so a large f does not fail a correct gradient.
    rounding = 1e3 * 2.2e-16 * max(abs(f_plus), abs(f_minus)) / (2 * h) * abs(seed)
    return tol.fd_atol + tol.fd_rtol * abs(expected) + rounding
