"""Independent checks of array gradients: central differences entry by entry, and sympy.

The loss being differentiated is L = sum(upstream ⊙ output) (just the output when it is a
scalar and the seed is 1), so both references compare like with like.

- finite differences: always, one central difference per entry of every input, as in the
  scalar check; past a budget (entries x nodes) along one random ±1 direction instead, and
  the output says so.
- sympy: one real symbol per entry (x_0, x_1 for a vector, W_0_1 for row 0, column 1 of a
  matrix; W[0,1] if those names would clash with another input), the graph rebuilt entry by
  entry from the op table, differentiated per entry. Only up to SYMPY_MAX_ENTRIES entries over
  all inputs and SYMPY_MAX_NODE_ENTRIES in any node: above that the gradient table says
  "skipped" with the reason, never silently.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..core.arrays import Array, ArrayPass, forward, plain
from ..core.errors import BackpropError
from ..core.formatting import entry
from ..core.graph import Graph
from ..core.ops import CONST, VAR
from ..core.point import Point
from ..core.result import Check, Tolerance, Verification
from .verify import PER_VARIABLE_BUDGET, _fd_tolerance, close, note_kinks, settle

SYMPY_MAX_ENTRIES = 64  # entries over all inputs (one derivative each)
SYMPY_MAX_NODE_ENTRIES = 256  # entries in the largest node (sympy builds each one)


def verify_arrays(graph: Graph, point: Point, values: dict[str, Array], run: ArrayPass,
                  grads: dict[str, Array], verifiers: tuple[str, ...],
                  tol: Tolerance) -> Verification:
    checks = [Check(name, plain(values[name]), plain(g)) for name, g in grads.items()]
    notes: list[str] = []
    entries = sum(values[name].size for name in grads)
    per_entry = entries * len(graph.nodes) <= PER_VARIABLE_BUDGET
    direction: dict[str, Any] | None = None
    kinks = note_kinks(graph, run.kinks, checks)
    if "sympy" in verifiers:
        why_not = _sympy_too_big(graph, values, run)
        if why_not:
            notes.append(f"sympy check skipped: {why_not}; finite differences only")
            for c in checks:
                c.sympy_derivative = f"skipped: {why_not}"
        else:
            _sympy_check(graph, point, values, run, checks, tol, notes)
    if "numeric" in verifiers:
        if per_entry:
            _numeric_check(graph, values, run, grads, checks, tol)
        else:
            notes.append(f"{entries:,} input entries x {len(graph.nodes)} nodes is past the "
                         f"per-entry budget ({PER_VARIABLE_BUDGET:,}): finite differences "
                         "checked along one random direction instead of entry by entry")
            direction = {"numeric": _numeric_direction(graph, values, run, grads, tol)}
    for c in checks:
        _verdict(c, tol, c.variable in kinks)
    mode = "per-entry" if direction is None else "random direction"
    return Verification(checks, mode, notes, direction)


def _verdict(c: Check, tol: Tolerance, at_kink: bool) -> None:
    results = []
    if c.sympy_value is not None:
        bp = np.ravel(np.asarray(c.backprop, dtype=float))
        ref = np.ravel(np.asarray(c.sympy_value, dtype=object))
        bad = [k for k, (a, b) in enumerate(zip(bp, ref))
               if b is not None and not close(float(a), float(b), tol.rtol, tol.atol)]
        results.append(not bad)
        if bad:
            shape = np.shape(c.backprop)
            where = ", ".join(entry(tuple(int(i) for i in np.unravel_index(k, shape)))
                              for k in bad[:4]) if shape else "the value"
            c.notes.append(f"sympy disagrees at {where}")
    if c.numeric_ok is not None:
        results.append(c.numeric_ok)
    settle(c, results, at_kink)


# ---------------------------------------------------------------- sympy


def _sympy_too_big(graph: Graph, values: dict[str, Array], run: ArrayPass) -> str | None:
    entries = sum(v.size for v in values.values())
    if entries > SYMPY_MAX_ENTRIES:
        return f"{entries} input entries > limit {SYMPY_MAX_ENTRIES}"
    biggest = max((v.size for v in run.values), default=0)
    if biggest > SYMPY_MAX_NODE_ENTRIES:
        return f"a node has {biggest} entries > limit {SYMPY_MAX_NODE_ENTRIES}"
    from .verify import _sympy_unaffordable

    return _sympy_unaffordable(graph)


def entry_names(values: dict[str, Array]) -> dict[str, list[str]]:
    """Printed names of every entry, row-major: x_0, x_1; W_0_1; W[0,1] if those clash."""
    def names(style: str) -> dict[str, list[str]]:
        out = {}
        for name, v in values.items():
            if v.ndim == 0:
                out[name] = [name]
            elif style == "_":
                out[name] = [name + "_" + "_".join(str(i) for i in idx)
                             for idx in np.ndindex(v.shape)]
            else:
                out[name] = [name + entry(idx) for idx in np.ndindex(v.shape)]
        return out

    plain_names = names("_")
    flat = [n for ns in plain_names.values() for n in ns]
    return plain_names if len(set(flat)) == len(flat) else names("[]")


def _obj(x: Any) -> Any:
    """An object array of sympy entries (0-d for a scalar)."""
    if isinstance(x, np.ndarray):
        return x.astype(object)
    a = np.empty((), dtype=object)
    a[()] = x
    return a


def build_arrays(graph: Graph, symbols: dict[str, Any]) -> list[Any]:
    """One object array of sympy expressions per node, in topological order (no recursion)."""

    from . import symbolic

    exprs: list[Any] = []
    for node in graph.nodes:
        op = node.op
        if op is VAR:
            exprs.append(symbols[node.name])  # type: ignore[index]
        elif op is CONST:
            exprs.append(_obj(symbolic.exact(node.literal)))
        else:
            args = [exprs[j] for j in node.inputs]
            if op.np_local is not None:
                fn = np.frompyfunc(lambda *a, _op=op: _op.sympy(symbolic.SP, *a), len(args), 1)
                exprs.append(_obj(fn(*args)))
            else:
                assert op.sympy_array is not None
                exprs.append(_obj(op.sympy_array(symbolic.SP, np, *args)))
    return exprs


def _sympy_check(graph: Graph, point: Point, values: dict[str, Array], run: ArrayPass,
                 checks: list[Check], tol: Tolerance, notes: list[str]) -> None:
    import sympy as sp

    from . import symbolic

    printed = entry_names(values)
    # Internal symbol names (never user text); printed names only for display.
    symbols: dict[str, Any] = {}
    at: dict[Any, Any] = {}
    shown: dict[Any, Any] = {}
    for k, (name, v) in enumerate(values.items()):
        exact = point.arrays[name].exact if name in point.arrays else (point.exact[name],)
        syms = [sp.Symbol(f"_v{k}_{i}", real=True) for i in range(v.size)]
        for s, e, p in zip(syms, exact, printed[name]):
            at[s] = sp.Float(sp.Rational(e.numerator, e.denominator), symbolic.DIGITS)
            shown[s] = sp.Symbol(p, real=True)
        arr = np.empty(v.shape, dtype=object)
        arr.reshape(-1)[:] = syms
        if v.ndim == 0:
            arr = _obj(syms[0])
        symbols[name] = arr

    def work() -> None:
        exprs = build_arrays(graph, symbols)
        out = exprs[graph.output]
        seed = [sp.Rational(float(g)) for g in np.ravel(run.seed)]
        loss = sp.Add(*(g * e for g, e in zip(seed, out.reshape(-1))))
        start = time.perf_counter()
        for c in checks:
            if time.perf_counter() - start > tol.time_budget:
                notes.append(f"sympy check stopped after {tol.time_budget:g} s; "
                             f"finite differences only for {c.variable} and after")
                return
            syms = list(symbols[c.variable].reshape(-1))
            derivs = [loss.diff(s) for s in syms]
            vals = [symbolic.to_float(d.xreplace(at)) for d in derivs]
            if any(v is None for v in vals):
                c.notes.append("sympy's derivative is undefined at some entries")
            shape = values[c.variable].shape
            c.sympy_value = np.array(vals, dtype=object).reshape(shape).tolist() \
                if shape else vals[0]
            c.sympy_derivative = symbolic.short("; ".join(
                f"∂/∂{shown[s]} = {d.xreplace(shown)}" for s, d in zip(syms, derivs)), 80)

    symbolic.run_deep(work)


# ---------------------------------------------------------------- finite differences


def _loss(graph: Graph, values: dict[str, Array], seed: Array) -> tuple[float, list[Any]] | None:
    """L = sum(seed ⊙ output) and the smooth piece of every kink-capable node."""
    try:
        vals = forward(graph, values)
    except BackpropError:
        return None
    branches = [np.asarray(node.op.np_branch(np, *(vals[j] for j in node.inputs))).tolist()
                for node in graph.nodes if node.op.np_branch is not None]
    return float(np.sum(seed * vals[graph.output])), branches


def _numeric_check(graph: Graph, values: dict[str, Array], run: ArrayPass,
                   grads: dict[str, Array], checks: list[Check], tol: Tolerance) -> None:
    base = _loss(graph, values, run.seed)
    assert base is not None
    for c in checks:
        x0 = values[c.variable]
        g = grads[c.variable]
        fd = np.full(x0.shape, np.nan)
        ok = True
        outside = overflowed = False
        for idx in np.ndindex(x0.shape):
            h = tol.fd_step * max(1.0, abs(float(x0[idx])))
            moved = []
            for sign in (1.0, -1.0):
                x = x0.copy()
                with np.errstate(over="ignore"):  # x + h past the float range: inf, said below
                    x[idx] += sign * h
                moved.append(_loss(graph, {**values, c.variable: x}, run.seed))
            plus, minus = moved
            if plus is None or minus is None:
                outside = True
                continue
            diff = (plus[0] - minus[0]) / (2 * h)
            if not np.isfinite(diff):  # the loss overflowed: no evidence, never a pass
                overflowed = True
                continue
            fd[idx] = diff
            if plus[1] != base[1] or minus[1] != base[1]:
                c.near_kink = True
            expected = float(g[idx])
            allowed = _fd_tolerance(expected, plus[0], minus[0], h, 1.0, tol)
            ok = ok and bool(abs(fd[idx] - expected) <= allowed)
        if outside:
            c.notes.append("finite differences step outside the domain at some entries; "
                           "not used there")
        if overflowed:
            c.notes.append("finite differences overflowed at some entries (the loss is not "
                           "finite there); not used there")
        numeric = [None if np.isnan(v) else float(v) for v in fd.ravel()]
        c.numeric = np.array(numeric, dtype=object).reshape(x0.shape).tolist() \
            if x0.ndim else numeric[0]
        # No entry compared (every step overflowed or left the domain): no verdict.
        c.numeric_ok = ok if not np.all(np.isnan(fd)) else None


def _numeric_direction(graph: Graph, values: dict[str, Array], run: ArrayPass,
                       grads: dict[str, Array], tol: Tolerance) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    v = {name: rng.choice([-1.0, 1.0], size=values[name].shape) for name in grads}
    projected = float(sum(np.sum(v[n] * g) for n, g in grads.items()))
    h = tol.fd_step * max([1.0, *(float(np.max(np.abs(values[n]), initial=0.0)) for n in v)])
    plus = _loss(graph, {n: x + h * v[n] if n in v else x for n, x in values.items()}, run.seed)
    minus = _loss(graph, {n: x - h * v[n] if n in v else x for n, x in values.items()}, run.seed)
    if plus is None or minus is None:
        return {"backprop": projected, "reference": None, "ok": True,
                "note": "step left the domain"}
    fd = (plus[0] - minus[0]) / (2 * h)
    if not np.isfinite(fd):  # the loss overflowed along the step: no evidence either way
        return {"backprop": projected, "reference": None, "ok": True,
                "note": "the loss overflowed along the step: inconclusive"}
    ok = abs(fd - projected) <= _fd_tolerance(projected, plus[0], minus[0], h, 1.0, tol)
    return {"backprop": projected, "reference": fd, "ok": bool(ok)}
