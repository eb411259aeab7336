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
  complex number). The worker warms each op's forms while it waits for a job
  (symbolic.warm_rules), so a job meets them made; the graph travels packed (``pack``).
- ``formula``: the whole output formula differentiated by sympy, one input at a time, and
  evaluated at the point: the exact derivative, printed in the table. Only where the formula
  is affordable (verify._sympy_unaffordable); stronger than ``gates`` where it finishes.
- ``direction``: the formula differentiated along one random ±1 direction (one derivative),
  where one derivative per input would cost too much.
"""

from __future__ import annotations

import operator
import random
from collections.abc import Callable
from typing import Any

from ..core.graph import Graph
from ..core.ops import CONST, VAR
from ..core.point import Point
from .worker import Send

# A graph and a point as the worker's job carries them: plain tuples, about 0.1 µs a node
# to pickle (the Graph itself, with its Node objects, costs 2-3 µs a node each way, and a
# 10,000-node graph was forked a worker of its own rather than sent).
Packed = tuple[tuple[str, ...], tuple[tuple[int, ...], ...], dict[int, str], dict[int, str],
               int, dict[str, tuple[int, int]]]


def pack(graph: Graph, point: Point) -> Packed:
    """What the sympy work reads of ``graph`` and ``point``: each node's op (by name), its
    inputs, the names (inputs and named intermediates), the constants as typed, the output;
    the point's exact values."""
    nodes = graph.nodes
    return (tuple([n.op.name for n in nodes]), tuple([n.inputs for n in nodes]),
            {n.id: n.name for n in nodes if n.name is not None},
            {n.id: n.literal for n in nodes if n.op is CONST}, graph.output,
            {k: (v.numerator, v.denominator) for k, v in point.exact.items()})


def unpack(packed: Packed) -> tuple[Graph, Point]:
    """The graph and point ``pack`` took apart (no source text: spans are empty)."""
    from fractions import Fraction

    from ..core.graph import Node
    from ..core.ops import op_named

    ops, inputs, names, literals, output, exact = packed
    by_name = {name: op_named(name) for name in set(ops)}
    graph = Graph("", output=output)
    graph.nodes = [Node(k, by_name[name], ins, 0, 0, names.get(k), 0.0, literals.get(k, ""))
                   for k, (name, ins) in enumerate(zip(ops, inputs))]
    for k, name in names.items():
        if graph.nodes[k].op is VAR:
            graph.variables[name] = k
        else:
            graph.named[name] = k
    fractions = {k: Fraction(p, q) for k, (p, q) in exact.items()}
    return graph, Point({k: float(v) for k, v in fractions.items()}, fractions)


def plan_packed(packed: Packed, wrt: list[str], seed: float, per_input: bool,
                affordable: bool, send: Send) -> None:
    """``plan`` on a graph and point sent as ``pack`` made them."""
    graph, point = unpack(packed)
    plan(graph, point, wrt, seed, per_input, affordable, send)


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


def _gates_mpmath(graph: Graph, point: Point, wrt: list[str],
                  seed: float) -> dict[str, float | None]:
    import mpmath
    from mpmath.libmp import finf, fnan, fninf

    from . import symbolic

    mpf = mpmath.mpf
    special = {finf, fninf, fnan}  # mpmath's own infinities and nan (x._mpf_)
    nodes = graph.nodes
    needs = graph.needs_grad()
    forms: dict[tuple[str, int], Any] = {}  # numeric_forms by op name (hashing an Op costs)
    with mpmath.workprec(symbolic.PREC):
        at = {k: mpf(v.numerator) / v.denominator for k, v in point.exact.items()}
        value: list[Any] = [None] * len(nodes)
        local: list[Any] = [None] * len(nodes)
        consts: dict[str, Any] = {}  # a literal read once however often it is written ("+ 1")
        for node in nodes:
            op, ins = node.op, node.inputs
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
            key = (op.name, len(ins))
            numeric = forms.get(key, False)
            if numeric is False:
                numeric = forms[key] = symbolic.numeric_forms(op, len(ins))
            args = [value[j] for j in ins]
            needed = needs[node.id]
            try:
                if numeric is None:  # kinks (relu, abs, max, ...): sympy's forms, gate by gate
                    out, row = _sympy_gate(op, args, needed)
                elif needed:
                    out, *row = numeric[1](*args)
                else:
                    out, row = numeric[0](*args), None
            except (ArithmeticError, TypeError, ValueError) as exc:
                raise NotPlainError from exc
            if type(out) is not mpf or out._mpf_ in special:
                raise NotPlainError
            value[node.id] = out
            if row is None:
                continue
            every = True
            for j, d in zip(ins, row):
                if not needs[j]:
                    every = False
                elif type(d) is not int and (type(d) is not mpf or d._mpf_ in special):
                    raise NotPlainError
            # A gradient no variable needs is None (d/db a^b at a < 0 is never used).
            local[node.id] = row if every else [d if needs[j] else None
                                                for j, d in zip(ins, row)]
        upstream = _chain(graph, local, 0, mpf(seed), operator.not_)
        grads = [upstream[graph.variables[name]] for name in wrt]
        if not all(mpmath.isfinite(g) for g in grads):
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
    upstream = _chain(graph, local, sp.S.Zero, sp.Float(seed, digits), lambda u: u == 0)
    return {name: symbolic.to_float(upstream[graph.variables[name]]) for name in wrt}


def _chain(graph: Graph, local: list[list[Any] | None], zero: Any, seed: Any,
           is_zero: Callable[[Any], bool]) -> list[Any]:
    """The chain rule from the output back, shared by both gate passes: each node's
    upstream times its local gradients, summed into its inputs. A local gradient of None
    is one no variable needs (a constant's: d/db a^b at a < 0 is never used); nothing
    flows back from a node whose upstream ``is_zero`` (its local gradients may be
    undefined there)."""
    nodes = graph.nodes
    upstream: list[Any] = [zero] * len(nodes)
    upstream[graph.output] = seed
    for node in reversed(nodes):
        row = local[node.id]
        if row is None:
            continue
        u = upstream[node.id]
        if u is zero or is_zero(u):
            continue
        for j, d in zip(node.inputs, row):
            if d is None:
                continue
            part = u if type(d) is int and d == 1 else u * d  # + passes its upstream on
            upstream[j] = part if upstream[j] is zero else upstream[j] + part
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
