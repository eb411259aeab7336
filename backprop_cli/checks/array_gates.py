"""The array gate proof: sympy's rule for every array gate, chained through the graph at the
point in 30-digit arithmetic, for arrays of any size.

The scalar engine's gate-by-gate pass (sympy_jobs.gates), for the array engine:

1. Every gate's rule is proved by sympy. An elementwise gate (+, *, tanh, relu, ...): its
   local derivatives are sympy's derivatives of the op's scalar sympy form
   (symbolic.local_forms), the scalar check's own; a broadcast input's gradient is the copy
   gate's sum (arrays.unbroadcast), proved per shape class (array_rules.prove_broadcast). An
   array gate (@, sum, softmax, ...): the op table's np_forward and vjp, proved equal to the
   op's sympy form and its derivative on a small symbolic instance of the same shape class
   (array_rules.prove_rule), once per op and shape class per process.
2. Those rules are applied gate by gate at the point, in decimal arithmetic with 30
   significant digits (decimal_forms.py: Python's decimal, one object per entry; exp and
   log correctly rounded, other functions by mpmath at the same precision), from the exact
   inputs (0.1 is 1/10): forward in topological order, then the upstream gradient from the
   output back, summed at every fan-out. No value or gradient of the engine's float64 pass
   is used (only the upstream seed, as the scalar pass uses it), so the result is a
   reference as the scalar pass's is: the gradient the rules give, to 30 digits.

A rule that sympy disproves makes the gradients through that gate fail (array_verify); one
it cannot decide leaves them without this proof. The pass stops at the deadline
(TimeoutError): between gates, every few thousand entries of a function, and before a
matrix product that would not finish in time.
"""

from __future__ import annotations

import decimal
import time
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

import mpmath
import numpy as np

from ..core.arrays import Array, ArrayPass, unbroadcast
from ..core.graph import Graph
from ..core.ops import CONST, VAR, Op
from ..core.point import Point
from ..core.result import Check, Tolerance
from . import array_rules, decimal_forms, symbolic
from .decimal_forms import check_deadline
from .policy import flat as policy_flat
from .policy import sympy_stop_notes
from .worker import Finished

SECONDS_PER_PRODUCT = 2e-6  # a multiply-add of two decimals in a numpy object array, with
# room for a busy machine: a matrix product expected to end past the deadline is not begun
SECONDS_PER_ENTRY = 1e-6  # at least this per entry of every node (measured: 5-10 µs), so a
# pass that cannot end by the deadline is not begun
MAX_ENTRIES = 2_000_000  # entries over all nodes held as decimals (about 110 bytes each)


@dataclass
class GateProof:
    """The gate proof's outcome: sympy's gradient of each input (a float, or nested lists;
    None where undefined), and the gates whose rule was disproved or not proved (the inputs
    upstream of such a gate get no gradient here)."""

    gradients: dict[str, Any] = field(default_factory=dict)
    refuted: dict[int, str] = field(default_factory=dict)
    unproved: dict[int, str] = field(default_factory=dict)
    skipped: str = ""  # why the pass at the point was not run (too many entries)


def prove_gradients(graph: Graph, point: Point, shapes: list[tuple[int, ...]],
                    names: list[str], seed: Array, deadline: float) -> GateProof:
    """Every gradient in ``names`` by the gate proof (module docstring); ``shapes``: every
    node's, from the engine's forward pass."""
    proof = GateProof()
    entries = sum(int(np.prod(s)) for s in shapes)
    if entries > MAX_ENTRIES:
        proof.skipped = (f"{entries:,} entries over all nodes > limit {MAX_ENTRIES:,} (30-digit "
                         "decimals take about 110 bytes an entry)")
        return proof
    _check_rules(graph, shapes, proof)
    if not _sure(graph, names, proof):
        return proof
    if time.monotonic() + entries * SECONDS_PER_ENTRY > deadline:
        raise TimeoutError
    with decimal.localcontext(decimal_forms.CONTEXT), mpmath.workprec(symbolic.PREC + 10):
        value, local = _forward(graph, point, deadline, proof)
        upstream = _backward(graph, value, local, seed, deadline)
        for name in _sure(graph, names, proof):
            g = upstream[graph.variables[name]]
            shape = shapes[graph.variables[name]]
            g = np.zeros(shape, dtype=object) + Decimal(0) if g is None else g
            floats = [float(d) if d.is_finite() else None
                      for d in np.broadcast_to(g, shape).reshape(-1)]
            proof.gradients[name] = (np.array(floats, dtype=object).reshape(shape).tolist()
                                     if shape else floats[0])
    return proof


def _sure(graph: Graph, names: list[str], proof: GateProof) -> list[str]:
    """The inputs whose gradient passes through no refuted or unproved gate (a gate's rule
    sends gradient only to the inputs upstream of it)."""
    doubtful = set().union(*(graph.ancestors_vars(nid)
                             for nid in (*proof.refuted, *proof.unproved)))
    return [name for name in names if name not in doubtful]


def gates_here(graph: Graph, point: Point, run: ArrayPass, checks: list[Check],
               notes: list[str], why: str, deadline: float, tol: Tolerance) -> None:
    """The gate proof in this process (a loop that watches the deadline itself), where the
    per-entry derivative is too big (``why``): its evidence into ``checks``."""
    try:
        proof = prove_gradients(graph, point, [v.shape for v in run.values],
                                [c.variable for c in checks], run.seed, deadline)
    except TimeoutError:
        sympy_stop_notes(Finished([], deadline, finished=False), checks, tol, notes, "inputs")
        return
    except (ArithmeticError, TypeError, ValueError, NotImplementedError) as exc:
        notes.append(f"sympy's gate proof failed to run ({exc}); finite differences only")
        return
    if proof.skipped:
        notes.append(f"sympy's gate proof skipped: {proof.skipped}")
    for nid, reason in proof.refuted.items():
        for c in checks:
            if c.variable in graph.ancestors_vars(nid):
                c.sympy_how = "refuted"
                c.notes.append(f"{reason} (gate {graph.label(nid)})")
    for nid, reason in proof.unproved.items():
        notes.append(f"sympy's gate proof did not prove gate {graph.label(nid)}: {reason}")
    for c in checks:
        if c.variable not in proof.gradients:
            continue
        c.sympy_value, c.sympy_how = proof.gradients[c.variable], "gates"
        if None in policy_flat(c.sympy_value):
            c.notes.append("sympy's derivative is undefined at some entries")
    if proof.gradients:
        notes.append(f"sympy did not differentiate entry by entry ({why}); it proved every "
                     "gate's rule and chained them through the graph at 30 digits instead "
                     "(docs/concepts/what-a-check-proves.md)")


# ---------------------------------------------------------------- 1. the rules


def warm(graph: Graph, shapes: list[tuple[int, ...]]) -> None:
    """Prove every gate's rule of the graph now (array_rules caches each proof for the
    process), so that ``prove_gradients`` finds them done."""
    _check_rules(graph, shapes, GateProof())


def _check_rules(graph: Graph, shapes: list[tuple[int, ...]], proof: GateProof) -> None:
    """Prove every gate's rule on its shape class (cached)."""
    needs = graph.needs_grad()
    for node in graph.nodes:
        op = node.op
        if not node.inputs or not needs[node.id]:
            continue
        ins = tuple(shapes[j] for j in node.inputs)
        if op.np_local is not None:
            out = shapes[node.id]
            for j, s in zip(node.inputs, ins):
                if needs[j] and s != out:
                    small = array_rules.shape_class((s, out))
                    _record(proof, node.id, array_rules.prove_broadcast(*small))
            continue
        inputs = op.arity if op.arity > 0 else len(ins)
        params = tuple(int(graph.nodes[j].const) for j in node.inputs[inputs:])
        rule = array_rules.prove_rule(op, array_rules.shape_class(ins[:inputs]), params)
        _record(proof, node.id, rule)


def _record(proof: GateProof, nid: int, rule: array_rules.RuleProof) -> None:
    if rule.refuted:
        proof.refuted.setdefault(nid, rule.why)
    elif not rule.proved:
        proof.unproved.setdefault(nid, rule.why)


# ---------------------------------------------------------------- 2. at the point


def _forward(graph: Graph, point: Point, deadline: float,
             proof: GateProof) -> tuple[list[Any], list[Any]]:
    """Every node's value, and an elementwise gate's local derivatives (computed with its
    value: sigmoid's exp(-x) once for both); an array gate at a point its rule was not
    proved at (rowmax at a tie) is unproved."""
    needs = graph.needs_grad()
    value: list[Any] = []
    local: list[Any] = [None] * len(graph.nodes)
    for node in graph.nodes:
        check_deadline(deadline)
        op = node.op
        if op is VAR:
            name = str(node.name)
            if name in point.arrays:
                arr = point.arrays[name]
                value.append(np.array([_exact(f) for f in arr.exact],
                                      dtype=object).reshape(arr.shape))
            else:
                value.append(array_rules.obj(_exact(point.exact[name])))
            continue
        if op is CONST:
            r = symbolic.exact(node.literal)
            value.append(array_rules.obj(Decimal(int(r.p)) / Decimal(int(r.q))))
            continue
        args = [value[j] for j in node.inputs]
        if op.np_local is not None:
            wanted = tuple(needs[node.id] and needs[j] for j in node.inputs)
            out, *derivatives = decimal_forms.forms(op, wanted)(args, deadline)
            local[node.id] = iter(derivatives)
            value.append(array_rules.obj(out))
        else:
            assert op.np_forward is not None
            _check_product(op, args, deadline, 1)
            value.append(array_rules.obj(op.np_forward(decimal_forms.DECIMAL_NUMPY, *args)))
            why = array_rules.off_the_pieces(op, args[0])
            if why is not None:
                proof.unproved.setdefault(node.id, why)
    return value, local


def _backward(graph: Graph, value: list[Any], local: list[Any], seed: Array,
              deadline: float) -> list[Any]:
    needs = graph.needs_grad()
    upstream: list[Any] = [None] * len(graph.nodes)
    upstream[graph.output] = np.array([Decimal(float(s)) for s in np.ravel(seed)],
                                      dtype=object).reshape(np.shape(seed))
    for node in reversed(graph.nodes):
        check_deadline(deadline)
        if not node.inputs or not needs[node.id]:
            continue
        op = node.op
        args = [value[j] for j in node.inputs]
        out = value[node.id]
        g = upstream[node.id]
        if g is None:
            g = np.zeros(out.shape, dtype=object) + Decimal(0)
        if op.np_local is not None:
            down = [unbroadcast(array_rules.obj(g * next(local[node.id])), a.shape)
                    if needs[j] else None for j, a in zip(node.inputs, args)]
        else:
            assert op.vjp is not None
            _check_product(op, args, deadline, 2)
            down = list(op.vjp(decimal_forms.DECIMAL_NUMPY, tuple(args), out, g))
        for j, d in zip(node.inputs, down):
            if needs[j] and d is not None:
                d = array_rules.obj(np.asarray(d, dtype=object))
                upstream[j] = d if upstream[j] is None else upstream[j] + d
    return upstream


def _check_product(op: Op, args: list[Any], deadline: float, products: int) -> None:
    """Do not begin ``products`` matrix products of decimals that would end past the
    deadline: each is m·n·p multiply-adds (the result's entries times the shared size). Only
    an op with ``out_shape`` (@) makes more work than entries."""
    if op.out_shape is None:
        return
    a, b = args[0], args[1]
    work = int(np.prod(op.out_shape((a.shape, b.shape)))) * max(1, a.shape[-1])
    if time.monotonic() + products * work * SECONDS_PER_PRODUCT > deadline:
        raise TimeoutError


def _exact(f: Fraction) -> Decimal:
    return Decimal(f.numerator) / Decimal(f.denominator)
