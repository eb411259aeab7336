"""Independent checks of array gradients: central differences entry by entry, and sympy.

The loss being differentiated is L = sum(upstream ⊙ output) (just the output when it is a
scalar and the seed is 1), so both references compare like with like.

- finite differences: always, one central difference per entry of every input, as in the
  scalar check; past a budget (entries x nodes) along one random ±1 direction instead, and
  the output says so.
- sympy, gate by gate (array_gates.py), where the per-entry derivative below is too big:
  every gate's rule proved by sympy, chained through the graph at 30 digits.
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
from .numeric import Difference, difference
from .policy import decide, note_kinks, sympy_stop_notes
from .verify import EXPLAIN_MAX, PER_VARIABLE_BUDGET, apply, direction_outcome
from .worker import IMPORT_GRACE, Job, Send

SYMPY_MAX_ENTRIES = 64  # entries over all inputs (one derivative each)
SYMPY_MAX_NODE_ENTRIES = 256  # entries in the largest node (sympy builds each one)


def verify_arrays(graph: Graph, point: Point, values: dict[str, Array], run: ArrayPass,
                  grads: dict[str, Array], verifiers: tuple[str, ...],
                  tol: Tolerance, explain: bool = False) -> Verification:
    start = time.monotonic()
    deadline = start + tol.time_budget
    checks = [Check(name, plain(values[name]), plain(g)) for name, g in grads.items()]
    notes: list[str] = []
    entries = sum(values[name].size for name in grads)
    per_entry = entries * len(graph.nodes) <= PER_VARIABLE_BUDGET
    direction: dict[str, Any] | None = None
    kinks = note_kinks(graph, run.kinks, checks)
    job: Job | None = None
    try:
        if "sympy" in verifiers:
            why_not = _sympy_too_big(graph, values, run)
            if why_not:
                for c in checks:
                    c.sympy_derivative = f"skipped: {why_not}"
                before = time.monotonic()
                from .array_gates import gates_here, warm

                # Importing sympy and proving each op's rule once per shape class (cached
                # for the process), fixed costs whatever the arrays' sizes, are not counted,
                # as the scalar check's import and warm-up are not (up to IMPORT_GRACE s).
                warm(graph, [v.shape for v in run.values])
                deadline += min(IMPORT_GRACE, time.monotonic() - before)
                gates_here(graph, point, run, checks, notes, why_not, deadline, tol)
            else:
                job = Job(*_sympy_work(graph, point, values, run, checks), deadline,
                          nodes=len(graph.nodes))
        if "numeric" in verifiers:
            if per_entry:
                _numeric_check(graph, values, run, grads, checks, tol,
                               job.deadline if job else deadline, explain)
            else:
                notes.append(f"{entries:,} input entries x {len(graph.nodes)} nodes is past "
                             f"the per-entry budget ({PER_VARIABLE_BUDGET:,}): finite "
                             "differences checked along one random direction instead of "
                             "entry by entry")
                direction = {"numeric": _numeric_direction(graph, values, run, grads, tol)}
        if job is not None:
            _collect(job, checks, notes, tol)
    finally:
        if job is not None:
            job.stop()
    for c in checks:
        decide(c, tol, c.variable in kinks, direction)
    mode = "per-entry" if direction is None else "random direction"
    return Verification(checks, mode, notes, direction, budget=tol.time_budget,
                        seconds=time.monotonic() - start)


def _collect(job: Job, checks: list[Check], notes: list[str], tol: Tolerance) -> None:
    by_name = {c.variable: c for c in checks}
    for _, name, value, printed in job.results():
        c = by_name[name]
        c.sympy_value, c.sympy_derivative, c.sympy_how = value, printed, "formula"
        if any(v is None for v in (value if isinstance(value, list) else [value])):
            c.notes.append("sympy's derivative is undefined at some entries")
    sympy_stop_notes(job, checks, tol, notes, what="inputs")


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


def _sympy_work(graph: Graph, point: Point, values: dict[str, Array], run: ArrayPass,
                checks: list[Check]) -> tuple[Any, tuple[Any, ...]]:
    """The worker's job (_entries) and its arguments."""
    names = [c.variable for c in checks]
    seed_entries = [float(g) for g in np.ravel(run.seed)]
    return _entries, (graph, point, values, names, seed_entries)


def _entries(graph: Graph, point: Point, values: dict[str, Array], names: list[str],
             seed_entries: list[float], send: Send) -> None:
    """Per input, sympy's derivative of every entry, sent as (kind, input, value (float or
    nested lists, None where undefined), printed)."""
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
            at[s] = sp.Rational(e.numerator, e.denominator)
            shown[s] = sp.Symbol(p, real=True)
        arr = np.empty(v.shape, dtype=object)
        arr.reshape(-1)[:] = syms
        if v.ndim == 0:
            arr = _obj(syms[0])
        symbols[name] = arr
    exprs = build_arrays(graph, symbols)
    out = exprs[graph.output]
    seed = [sp.Rational(g) for g in seed_entries]
    loss = sp.Add(*(g * e for g, e in zip(seed, out.reshape(-1))))
    for name in names:
        syms = list(symbols[name].reshape(-1))
        derivs = [loss.diff(s) for s in syms]
        # evalf with subs, not xreplace with Floats: evalf raises its working precision
        # until the result has DIGITS right, where 30-digit Floats put in first can
        # cancel to noise (a softmax of exp(64): -0.0625 where the truth is 1e-136).
        vals = [symbolic.to_float(d.evalf(symbolic.DIGITS, subs=at)) for d in derivs]
        shape = values[name].shape
        value = np.array(vals, dtype=object).reshape(shape).tolist() if shape else vals[0]
        text = symbolic.short("; ".join(
            f"∂/∂{shown[s]} = {d.xreplace(shown)}" for s, d in zip(syms, derivs)), 80)
        send(("entries", name, value, text))


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
                   grads: dict[str, Array], checks: list[Check], tol: Tolerance,
                   deadline: float, explain: bool) -> None:
    for k, c in enumerate(checks):
        x0 = values[c.variable]
        g = grads[c.variable]
        found: list[Difference] = []
        for idx in np.ndindex(x0.shape):
            # Entry by entry: one input of 20,000 entries is 20,000 differences, so the
            # budget is looked at here, not only between inputs (a part of an input's
            # entries proves nothing about it: the input is not checked).
            if time.monotonic() > deadline:
                for rest in checks[k:]:
                    rest.why = f"budget: finite differences stopped at {tol.time_budget:g} s"
                return

            def probe(t: float, idx: tuple[int, ...] = idx, name: str = c.variable,
                      x0: Array = x0) -> tuple[float, list[Any]] | None:
                x = x0.copy()
                x[idx] = t
                return _loss(graph, {**values, name: x}, run.seed)

            found.append(difference(probe, float(x0[idx]), float(g[idx]), tol,
                                    explain=explain and k < EXPLAIN_MAX and not found))
        apply(c, _combined(found, x0.shape))


def _combined(found: list[Difference], shape: tuple[int, ...]) -> Difference:
    """One Difference for an input from one per entry: the values as an array; ok if every
    entry is, False if any disagrees, else inconclusive; the sweep of the first entry that
    has one (--explain: the first entry)."""
    values = [d.value for d in found]
    oks = [d.ok for d in found]
    out = Difference(ok=False if False in oks else (True if all(oks) else None))
    out.value = np.array(values, dtype=object).reshape(shape).tolist() if shape \
        else values[0]
    steps = [d.step for d in found if d.step is not None]
    out.step = max(steps) if steps else None
    out.kink = next((d.kink for d in found if d.kink is not None), None)
    out.sweep = next((d.sweep for d in found if d.sweep is not None), None)
    if any(d.outside for d in found):
        out.note = ("finite differences step outside the domain at some entries; not used "
                    "there")
    else:
        out.note = next((d.note for d in found if d.note), "")
    return out


def _numeric_direction(graph: Graph, values: dict[str, Array], run: ArrayPass,
                       grads: dict[str, Array], tol: Tolerance) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    v = {name: rng.choice([-1.0, 1.0], size=values[name].shape) for name in grads}
    projected = float(sum(np.sum(v[n] * g) for n, g in grads.items()))
    scale = max([1.0, *(float(np.max(np.abs(values[n]), initial=0.0)) for n in v)])

    def probe(t: float) -> tuple[float, list[Any]] | None:
        return _loss(graph, {n: x + t * scale * v[n] if n in v else x
                             for n, x in values.items()}, run.seed)

    return direction_outcome(difference(probe, 0.0, projected * scale, tol), projected,
                             scale)
