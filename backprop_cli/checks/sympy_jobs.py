"""The sympy work of a scalar check, as jobs for the budgeted worker (worker.py).

Each job sends its results one by one, so that a job stopped at the deadline keeps what it
proved:

- ``gates``: every gradient at once, in one pass over the shared graph: each node's value
  and sympy's derivative of its gate (``symbolic.local_forms``: the op's sympy form,
  differentiated by sympy) evaluated at the point in 30-digit arithmetic, then chained from
  the output back to the inputs. Linear in the number of nodes, however much the graph
  shares (a formula written out would grow as width ** layers), and no recursion. The
  numbers are mpmath's at the same precision (symbolic.numeric_forms: each op's sympy forms
  lambdified once), sympy's own Floats wherever mpmath's cannot say the value (a pole, a
  complex number). verify runs it in its own process when it is the whole plan
  (``plain_gates``, which watches the deadline itself).
- ``formula``: the whole output formula differentiated by sympy, one input at a time, and
  evaluated at the point: the exact derivative, printed in the table. Only where the formula
  is affordable (verify._sympy_unaffordable); stronger than ``gates`` where it finishes.
- ``direction``: the formula differentiated along one random ±1 direction (one derivative),
  where one derivative per input would cost too much.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ..core.graph import Graph
from ..core.ops import CONST, VAR
from ..core.point import Point
from .worker import Send


def warm(graph: Graph) -> None:
    """Differentiate each op of the graph once in this process (symbolic.local_forms caches
    it) and compile its mpmath forms (symbolic.numeric_forms), importing sympy if need be:
    before the gate-by-gate pass that runs here (verify._gates_here), so that the pass, timed
    against the budget, is the chain rule alone."""
    from . import symbolic

    for node in graph.nodes:
        if node.inputs:
            symbolic.local_forms(node.op, len(node.inputs))
            symbolic.numeric_forms(node.op, len(node.inputs))


def plan(graph: Graph, point: Point, wrt: list[str], seed: float, per_input: bool,
         affordable: bool, send: Send) -> None:
    """verify's plan for the worker: the gates, then the formula per input where
    ``per_input`` (affordable for every input), else along one direction where the formula
    is ``affordable`` but the gates could not be done."""
    try:
        gates(graph, point, wrt, seed, send)
        gated = True
    except (ArithmeticError, TypeError, ValueError) as exc:
        send(("note", f"sympy's gate-by-gate check failed to run ({exc})"))
        gated = False
    if per_input:
        formula(graph, point, wrt, seed, send)
    elif affordable and not gated:
        direction(graph, point, wrt, seed, send)


def gates(graph: Graph, point: Point, wrt: list[str], seed: float, send: Send) -> None:
    """Send ("gates", {input: float | None}) with sympy's gradient of every input in ``wrt``.

    The same numbers two ways: first with mpmath numbers (``_gates_mpmath``: each op's sympy
    forms compiled once by sympy.lambdify, at the same 30 digits, where sympy's own number
    objects cost tens of µs a gate); wherever a value or a derivative there is not a finite
    real number (a pole, a complex value, an overflow), the whole pass is redone with sympy's
    numbers (``_gates_sympy``), whose zoo, nan and complex values say "undefined" as before."""
    try:
        out_values = _gates_mpmath(graph, point, wrt, seed)
    except NotPlainError:
        out_values = _gates_sympy(graph, point, wrt, seed)
    send(("gates", out_values))


class NotPlainError(Exception):
    """A value or derivative of the mpmath pass that only sympy's numbers can say."""


def plain_gates(graph: Graph, point: Point, wrt: list[str], seed: float,
                deadline: float) -> dict[str, float | None]:
    """The mpmath pass of ``gates`` in this process, for a caller that needs no worker: it
    raises TimeoutError past ``deadline`` (time.monotonic()), checked every 256 nodes, and
    NotPlainError where only sympy's numbers (``gates`` in a worker) can say the value."""
    return _gates_mpmath(graph, point, wrt, seed, deadline)


def _gates_mpmath(graph: Graph, point: Point, wrt: list[str], seed: float,
                  deadline: float | None = None) -> dict[str, float | None]:
    import mpmath

    from . import symbolic

    mpf, isfinite = mpmath.mpf, mpmath.isfinite
    nodes = graph.nodes
    needs = graph.needs_grad()
    with mpmath.workprec(symbolic.PREC):
        at = {k: mpf(v.numerator) / v.denominator for k, v in point.exact.items()}
        value: list[Any] = [None] * len(nodes)
        local: list[Any] = [None] * len(nodes)
        consts: dict[str, Any] = {}  # a literal read once however often it is written ("+ 1")
        for node in nodes:
            if deadline is not None and not node.id & 255 and time.monotonic() > deadline:
                raise TimeoutError
            op = node.op
            if op is VAR:
                value[node.id] = at[str(node.name)]  # a VAR always has its name
                continue
            if op is CONST:
                literal = node.literal
                if literal not in consts:
                    r = symbolic.exact(literal)
                    # A rational divided at the working precision; e and pi at that precision.
                    consts[literal] = mpf(r.p) / r.q if r.is_Rational else \
                        r._to_mpmath(mpmath.mp.prec)
                value[node.id] = consts[literal]
                continue
            args = [value[j] for j in node.inputs]
            numeric = symbolic.numeric_forms(op, len(node.inputs))
            try:
                if numeric is None:  # kinks (relu, abs, max, ...): sympy's forms, gate by gate
                    out, row = _sympy_gate(op, args, needs[node.id])
                else:
                    out = numeric[0](*args)
                    row = numeric[1](*args) if needs[node.id] else None
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise NotPlainError from exc
            if type(out) is not mpf or not isfinite(out):
                raise NotPlainError
            value[node.id] = out
            if row is None:
                continue
            for j, d in zip(node.inputs, row):
                if needs[j] and type(d) is not int and (type(d) is not mpf or not isfinite(d)):
                    raise NotPlainError
            # A gradient no variable needs is None (d/db a^b at a < 0 is never used).
            local[node.id] = [d if needs[j] else None for j, d in zip(node.inputs, row)]
        upstream = _chain(graph, local, 0, mpf(seed), deadline)
        grads = [upstream[graph.variables[name]] for name in wrt]
        if not all(isfinite(g) for g in grads):
            raise NotPlainError
        return {name: float(g) for name, g in zip(wrt, grads)}


def _sympy_gate(op: Any, args: list[Any], needed: bool) -> tuple[Any, list[Any] | None]:
    """One gate as ``_gates_sympy`` computes it (its sympy form and derivatives evaluated
    with sympy Floats), for ops with no mpmath forms; mpmath numbers in and out."""
    import mpmath
    import sympy as sp

    from . import symbolic

    floats = [sp.Float._new(a._mpf_, symbolic.PREC) for a in args]
    out = op.sympy(symbolic.SP, *floats)
    value = _to_mpf(out if out.is_Float else out.evalf(symbolic.DIGITS), mpmath)
    if not needed:
        return value, None
    dummies, derivatives = symbolic.local_forms(op, len(args))
    names = dict(zip(dummies, floats))
    row = [_to_mpf(d if d.is_Number else names[d] if d in names
                   else d.xreplace(names).evalf(symbolic.DIGITS), mpmath) for d in derivatives]
    return value, row


def _to_mpf(x: Any, mpmath: Any) -> Any:
    if x.is_Float:
        return mpmath.mpf(x._mpf_)
    if x.is_Rational:
        return mpmath.mpf(x.p) / x.q
    raise NotPlainError


def _gates_sympy(graph: Graph, point: Point, wrt: list[str],
                 seed: float) -> dict[str, float | None]:
    """The gate-by-gate pass in sympy's own 30-digit numbers (zoo, nan, complex: None)."""
    import sympy as sp

    from . import symbolic

    digits = symbolic.DIGITS
    nodes = graph.nodes
    needs = graph.needs_grad()
    at = {k: sp.Float(sp.Rational(v.numerator, v.denominator), digits)
          for k, v in point.exact.items()}
    value: list[Any] = [None] * len(nodes)
    local: list[list[Any] | None] = [None] * len(nodes)
    for node in nodes:
        op = node.op
        if op is VAR:
            value[node.id] = at[str(node.name)]  # a VAR always has its name
            continue
        if op is CONST:
            r = symbolic.exact(node.literal)
            value[node.id] = sp.Float(r, digits) if r.is_Rational else r.evalf(digits)
            continue
        args = [value[j] for j in node.inputs]
        out = op.sympy(symbolic.SP, *args)
        value[node.id] = out if out.is_Float else out.evalf(digits)
        if not needs[node.id]:
            continue
        dummies, derivatives = symbolic.local_forms(op, len(node.inputs))
        names = dict(zip(dummies, args))
        row: list[Any] = []
        for j, d in zip(node.inputs, derivatives):
            if not needs[j]:
                row.append(None)  # a constant's gradient is never used (d/db a^b at a < 0)
            elif d.is_Number:
                row.append(d)
            elif d in names:  # a * b: d/da is b itself
                row.append(names[d])
            else:
                row.append(d.xreplace(names).evalf(digits))
        local[node.id] = row
    upstream = _chain(graph, local, sp.S.Zero, sp.Float(seed, digits))
    return {name: symbolic.to_float(upstream[graph.variables[name]]) for name in wrt}


def _chain(graph: Graph, local: list[list[Any] | None], zero: Any, seed: Any,
           deadline: float | None = None) -> list[Any]:
    """The chain rule from the output back, shared by both gate passes: each node's
    upstream times its local gradients, summed into its inputs. A local gradient of None
    is one no variable needs (a constant's: d/db a^b at a < 0 is never used)."""
    nodes = graph.nodes
    upstream: list[Any] = [zero] * len(nodes)
    upstream[graph.output] = seed
    for node in reversed(nodes):
        if deadline is not None and not node.id & 255 and time.monotonic() > deadline:
            raise TimeoutError
        row = local[node.id]
        if row is None:
            continue
        u = upstream[node.id]
        if u == 0:
            continue
        for j, d in zip(node.inputs, row):
            if d is not None:
                upstream[j] = upstream[j] + u * d
    return upstream


def formula(graph: Graph, point: Point, wrt: list[str], seed: float, send: Send) -> None:
    """Send ("formula", input, printed derivative, float | None) per input, in order."""
    from . import symbolic

    f = symbolic.output_expr(graph)
    at = symbolic.at_point(point.exact)
    printer = symbolic.SharedPrinter()  # the derivatives share subexpressions: print each once
    for name in wrt:
        d = f.diff(symbolic.symbol(name))
        # With an upstream seed G, backprop computes G * df/dx: compare like with like.
        send(("formula", name, symbolic.short(d, printer=printer),
              symbolic.to_float(d.xreplace(at) * seed)))


def direction(graph: Graph, point: Point, wrt: list[str], seed: float, send: Send) -> None:
    """Send ("direction", {input: ±1}, float | None): sympy's derivative along v."""
    from . import symbolic

    v = random_direction(wrt)
    f = symbolic.output_expr(graph)
    t = symbolic.symbol("_t")
    at = symbolic.at_point(point.exact)
    moved = {s: val + v[str(s)] * t if str(s) in v else val for s, val in at.items()}
    send(("direction", symbolic.to_float(f.xreplace(moved).diff(t).xreplace({t: 0}) * seed)))


def random_direction(names: list[str]) -> dict[str, float]:
    """The one ±1 direction every random-direction check uses (seeded: reproducible)."""
    rng = random.Random(0)
    return {name: rng.choice((-1.0, 1.0)) for name in names}
