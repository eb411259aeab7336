"""`evaluate` for vectors and matrices: the array engine's pass, filled into the one result
model, and checked by the array checks. Imported only for array jobs (it imports numpy)."""

from __future__ import annotations

import numpy as np

from ..core.arrays import (
    JACOBIAN_MAX,
    Array,
    ArrayPass,
    backward,
    forward,
    jacobian,
    plain,
    to_array,
)
from ..core.errors import InputError
from ..core.formatting import describe
from ..core.graph import Graph
from ..core.literals import ArrayValue
from ..core.point import Point, match
from ..core.result import ArrayResult, Result, Tolerance, records
from ..core.written import reading
from .array_verify import verify_arrays


def evaluate_arrays(graph: Graph, point: Point, targets: list[str], result: Result,
                    upstream: float | ArrayValue, verifiers: tuple[str, ...],
                    tolerance: Tolerance | None, want_jacobian: bool,
                    explain: bool = False) -> ArrayResult:
    """Run the array engine at ``point``; ``result`` is the scalar skeleton to fill."""

    match(graph, [*point.values, *point.arrays])
    values = {name: to_array(v) for name, v in point.values.items()}
    values.update({name: to_array(v) for name, v in point.arrays.items()})
    vals = forward(graph, values)
    out = vals[graph.output]
    seed = _seed(graph, result.output, out, upstream)
    run = backward(graph, vals, seed)
    grads = {name: _grad(run, graph.variables[name], values[name]) for name in targets}
    res = ArrayResult(result.expression, result.output, result.inputs, targets,
                      records(graph), graph, seed=plain(seed), notes=result.notes)
    res.read_as = reading(graph)
    res.shapes = {name: list(values[name].shape) for name in result.inputs}
    res.point = {name: plain(values[name]) for name in result.inputs}
    res.value = plain(out)
    res.gradients = {name: plain(g) for name, g in grads.items()}
    _fill_arrays(res, run)
    if want_jacobian:
        _fill_jacobians(res, run)
    if verifiers:
        res.verification = verify_arrays(graph, point, values, run, grads, verifiers,
                                         tolerance or Tolerance(), explain)
    return res


def _seed(graph: Graph, name: str, out: Array, upstream: float | ArrayValue) -> Array:
    if not isinstance(upstream, ArrayValue):
        if out.ndim:
            expr = graph.text(graph.output)
            raise InputError(
                f"the output {name} is {describe(out.shape)}, not a scalar: "
                "backprop starts from the gradient of a scalar loss",
                where="--upstream",
                hint=f"reduce it to a scalar, e.g. sum({expr}) or mean({expr}), or give "
                f"--upstream with {describe(out.shape)}: the gradient of some loss "
                f"with respect to {name}")
        return np.asarray(float(upstream), dtype=float)
    seed = to_array(upstream)
    if seed.shape != out.shape:
        raise InputError(f"--upstream is {describe(seed.shape)} but the output {name} is "
                         f"{describe(out.shape)}", where="--upstream",
                         hint="the upstream gradient has the output's shape")
    return seed


def _grad(run: ArrayPass, nid: int, value: Array) -> Array:
    g = run.upstream[nid]
    return np.zeros_like(value) if g is None else g


def _fill_arrays(result: Result, run: ArrayPass) -> None:
    graph = result.graph
    uses = graph.consumers()
    for rec in result.nodes:
        nid = rec.id
        node = graph.nodes[nid]
        value = run.values[nid]
        rec.value = plain(value)
        rec.shape = list(value.shape)
        g = run.upstream[nid]
        rec.upstream = plain(g) if g is not None else (0.0 if run.needs[nid] else None)
        if node.inputs and run.needs[nid]:
            loc = run.local[nid]
            if loc is not None:
                # Inputs that need no gradient (constants) may have no finite local one
                # (d/db a^b at a < 0): left out, like their downstream.
                rec.local = [plain(d) if run.needs[j] else None
                             for d, j in zip(loc, node.inputs)]
            else:
                names = [graph.label(j) for j in node.inputs]
                # One entry per input; an input that needs no gradient (the constant axis
                # of sum(A, 0)) has none.
                rule = node.op.implicit
                rec.local = [f"implicit: {rule[k].format(*names)}"
                             if k < len(rule) and run.needs[j] else None
                             for k, j in enumerate(node.inputs)]
            rec.downstream = [plain(d) if d is not None else None for d in run.downstream[nid]]
        rec.kink = run.kinks.get(nid)
        if len(uses[nid]) > 1:
            rec.fan_out = []
            for c, pos in uses[nid]:
                down = run.downstream[c]
                d = down[pos] if pos < len(down) else None
                rec.fan_out.append((graph.label(c), plain(d) if d is not None else None))


def _fill_jacobians(result: Result, run: ArrayPass) -> None:
    graph = result.graph
    big = []
    for rec in result.nodes:
        node = graph.nodes[rec.id]
        if not node.inputs or not run.needs[rec.id]:
            continue
        args = tuple(run.values[j] for j in node.inputs)
        out = run.values[rec.id]
        if out.size > JACOBIAN_MAX or any(a.size > JACOBIAN_MAX for a in args):
            big.append(rec.label)
            continue
        rec.jacobian = [jacobian(node.op, args, out, pos).tolist() if run.needs[j] else None
                        for pos, j in enumerate(node.inputs)]
    note = ("--jacobian: explicit Jacobians are shown for illustration only; backprop never "
            "forms them, it multiplies upstream by the local gradient implicitly")
    if big:
        note += (f". Not shown for {', '.join(big)}: more than {JACOBIAN_MAX} entries in or "
                 "out")
    result.notes.append(note)
