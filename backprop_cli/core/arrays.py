"""Array values and the array engine: forward and backward over vectors and matrices (numpy).

The same story as the scalar engine, node by node, with numpy arrays as values: forward in
topological order, backward in reverse, both plain loops (no recursion). Elementwise ops
give their local gradient entry by entry (the diagonal of a Jacobian that is never formed);
array ops give a vector-Jacobian product. The engine holds no op-specific code: it reads
the op table, checks shapes before each op and checks after each backward step that every
downstream gradient has its input's shape (the lecture's rule), failing loudly with the
op's name if a rule breaks it.

Only imported for array jobs, so scalar expressions never import numpy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import limits
from .engine import CANCEL, FLAT_STEP, masked
from .errors import DomainError, InputError
from .formatting import describe, entry
from .graph import Graph, Node
from .literals import ArrayValue
from .ops import CONST, VAR, Op

Array = np.ndarray[Any, Any]

JACOBIAN_MAX = 16  # --jacobian: explicit Jacobians for nodes with at most this many entries
# in and out (the lecture's 4x4 relu Jacobian is 16 entries; bigger ones are not shown)


def plain(a: Array) -> Any:
    """A float for a scalar, nested lists for an array: ready for JSON and the renderers."""
    return float(a) if a.ndim == 0 else a.tolist()


def to_array(value: float | ArrayValue) -> Array:
    if isinstance(value, ArrayValue):
        return np.array(value.values, dtype=float).reshape(value.shape)
    return np.asarray(float(value), dtype=float)


@dataclass
class ArrayPass:
    """Everything the backward pass computed, per node id (None: no gradient needed there)."""

    values: list[Array]
    local: list[tuple[Array, ...] | None]  # elementwise ops: d node / d input, entry by entry
    upstream: list[Array | None]  # d loss / d node, the node's shape
    downstream: list[tuple[Array | None, ...]]  # per input, each of that input's shape
    kinks: dict[int, str]
    seed: Array
    needs: list[bool] = field(default_factory=list)  # whether a variable feeds the node


# ---------------------------------------------------------------- forward


def forward(graph: Graph, point: Mapping[str, Array]) -> list[Array]:
    """Values of every node in topological order; shape and domain errors name the node."""
    values: list[Array] = []
    total = 0  # entries allocated so far, for the graph's limit
    with np.errstate(all="ignore"):  # a non-finite value is a domain error naming the node
        for node in graph.nodes:
            op = node.op
            if op is VAR:
                values.append(point[node.name])  # type: ignore[index]
                total += values[-1].size
                continue
            if op is CONST:
                values.append(np.asarray(node.const, dtype=float))
                continue
            args = tuple(values[j] for j in node.inputs)
            if op.reads_as is not None:  # juxtaposition: * or @ as the shapes decide
                graph.read_product(node.id, lambda j: values[j].shape)
                op = node.op
            _check_shapes(graph, node, args)
            total += _check_size(graph, node, args, total)
            assert op.np_forward is not None
            out = np.asarray(op.np_forward(np, *args), dtype=float)
            if not np.isfinite(out).all():
                raise _domain_error(graph, node, args, out)
            values.append(out)
    return values


def dry_forward(graph: Graph, shapes: Mapping[str, tuple[int, ...]]) -> tuple[int, int]:
    """The work of a forward pass from the inputs' shapes alone, before anything is computed:
    (multiply-adds of the matrix products, m·k·n each; entries of every other node), with
    the shape and size errors ``forward`` would raise. A caller can then tell that one pass
    at a user's fixed shapes (a 2000×2000 W) would take longer than its budget."""
    products = entries = total = 0
    values: list[Array] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            op = node.op
            if op is VAR:  # an input is allocated by the caller: its size is checked too
                shape = tuple(shapes.get(node.name or "", ()))
                why = limits.too_many_entries(shape, limits.size(shape), total)
                if why is not None:
                    why = why.replace("its result would be", "it would be", 1)
                    raise InputError(f"array too large: the input {node.name}: {why}",
                                     where="--shape", hint=limits.LIMIT_HINT)
                values.append(np.broadcast_to(np.float64(1.0), shape))
                total += values[-1].size
                continue
            if op is CONST:
                values.append(np.asarray(node.const, dtype=float))
                continue
            args = tuple(values[j] for j in node.inputs)
            _check_shapes(graph, node, args)
            total += _check_size(graph, node, args, total)
            if op.out_shape is not None:  # a product: m·k·n from the three sizes
                out: Array = np.broadcast_to(np.float64(1.0),
                                             op.out_shape(tuple(a.shape for a in args)))
                products += math.isqrt(out.size * limits.size(args[0].shape)
                                       * limits.size(args[-1].shape))
            elif op.np_local is not None:  # elementwise: only the broadcast shape matters
                out = np.broadcast_to(np.float64(1.0), np.broadcast_shapes(
                    *(a.shape for a in args)))
                entries += out.size
            else:
                assert op.np_forward is not None
                out = np.asarray(op.np_forward(np, *args), dtype=float)
                entries += out.size + sum(a.size for a in args)
            values.append(out)
    return products, entries


def _check_shapes(graph: Graph, node: Node, args: tuple[Array, ...]) -> None:
    op = node.op
    if op.np_forward is None:
        raise InputError(f"{op.name} is not defined on arrays", source=graph.source,
                         pos=node.start, end=node.end)
    shapes = tuple(a.shape for a in args)
    why: str | None = None
    if op.shapes is not None:
        why = op.shapes(shapes)
    elif op.axis and len(args) == 2:
        why = _axis_violation(shapes[0], int(args[1]))
    elif op.np_local is not None and len(shapes) == 2:
        why = broadcast_violation(shapes[0], shapes[1])
        if why is not None:
            what = f"'{op.symbol}'" if op.symbol else op.name
            why = (f"elementwise {what} needs shapes that broadcast (numpy's rule: compared "
                   f"from the last axis, sizes must be equal or one of them 1), but {why}")
    if why is None:
        return
    of = " and ".join(describe(s) for s in shapes)
    if op.axis and len(args) == 2:
        of = f"{describe(shapes[0])} over axis {int(args[1])}"
    hint = None
    if op.shape_hint is not None:
        hint = op.shape_hint(shapes)
    elif op.np_local is not None:
        hint = ("a missing axis counts as 1: a vector of n meets an m×n matrix row by row, an "
                "m×1 column meets it column by column; A.T transposes, @ is the matrix product")
    raise InputError(f"shape mismatch at node {graph.label(node.id)} `{graph.text(node.id)}`: "
                     f"{op.name} of {of}: {why}", source=graph.source, pos=node.start,
                     end=node.end, hint=hint)


def _check_size(graph: Graph, node: Node, args: tuple[Array, ...], total: int) -> int:
    """The entries the node's result will have, from its inputs' shapes alone; a result
    over the limits (core/limits.py) is bad input naming the node, before numpy allocates."""
    op = node.op
    shapes = tuple(a.shape for a in args)
    shape: tuple[int, ...] | None
    if op.out_shape is not None:
        shape = op.out_shape(shapes)
        entries = limits.size(shape)
    elif op.np_local is not None:  # elementwise: the inputs broadcast to one shape
        shape = shapes[0] if len(set(shapes)) == 1 else tuple(
            int(d) for d in np.broadcast_shapes(*shapes))
        entries = limits.size(shape)
    else:  # sums, transposes, softmax: never more entries than the largest input
        shape, entries = None, max((a.size for a in args), default=1)
    why = limits.too_many_entries(shape, entries, total)
    if why is not None:
        of = " and ".join(describe(s) for s in shapes)
        raise InputError(f"array too large at node {graph.label(node.id)} "
                         f"`{limits.abbreviate(graph.text(node.id), 60)}`: {op.name} of {of}: "
                         f"{why}", source=graph.source, pos=node.start, end=node.end,
                         hint=limits.LIMIT_HINT)
    return entries


def _axis_violation(shape: tuple[int, ...], axis: int) -> str | None:
    if axis < len(shape):
        return None
    has = "no axes" if not shape else "only axis 0" if len(shape) == 1 else "axes 0 and 1"
    return f"{describe(shape)} has {has}"


def broadcast_violation(a: tuple[int, ...], b: tuple[int, ...]) -> str | None:
    """Why two shapes do not broadcast under numpy's rule, or None if they do.

    The rule: compare sizes from the last axis backwards; a shape with fewer axes is padded
    with 1s on the left; each pair must be equal or contain a 1, which is stretched. So a
    vector of n broadcasts against an m×n matrix (as a row), a 1×n row and an m×1 column
    against m×n, a scalar against anything.
    """
    for k in range(1, min(len(a), len(b)) + 1):
        p, q = a[-k], b[-k]
        if p != q and 1 not in (p, q):
            axis = "last axis" if k == 1 else f"axis {-k}"
            return f"the {axis} is {p} on the left and {q} on the right"
    return None


def _domain_error(graph: Graph, node: Node, args: tuple[Array, ...], out: Array) -> DomainError:
    op = node.op
    idx = tuple(int(i) for i in np.argwhere(~np.isfinite(out))[0])
    elementwise = all(broadcast_violation(np.shape(a), out.shape) is None
                      and np.ndim(a) <= out.ndim for a in args)  # not a reduction (sum)
    if op.np_local is not None and op.domain is not None and elementwise:
        what = op.domain(tuple(float(np.broadcast_to(a, out.shape)[idx]) for a in args))
    else:
        what = f"{op.name} overflows a float"
    where = f" (entry {entry(idx)} of {describe(out.shape)})" if out.ndim else ""
    return DomainError(f"domain error at node {graph.label(node.id)} `{graph.text(node.id)}`: "
                       f"{what}{where}", source=graph.source, pos=node.start, end=node.end,
                       where="point", hint="pick a point inside the function's domain, or use "
                       "smaller values")


# ---------------------------------------------------------------- backward


def unbroadcast(grad: Array, shape: tuple[int, ...]) -> Array:
    """Sum a gradient back to the shape of an input that was broadcast: over the axes
    broadcasting added on the left, and over every axis where the input had size 1.
    Each entry of the input fed every output entry it was stretched to, so (the copy gate)
    its gradient is the sum of theirs."""
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(k for k, n in enumerate(shape) if n == 1 and grad.shape[k] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def local_gradients(op: Op, args: tuple[Array, ...], out: Array) -> tuple[Array, ...] | None:
    """An elementwise op's local gradients, entry by entry, in the output's shape."""
    if op.np_local is None:
        return None
    with np.errstate(all="ignore"):
        loc = op.np_local(np, args, out)
    return tuple(np.broadcast_to(np.asarray(d, dtype=float), out.shape) for d in loc)


def flat_entries(op: Op, args: tuple[Array, ...], loc: tuple[Array, ...], pos: int) -> Array:
    """Where the local gradient for input ``pos`` is 0 on both sides of the point (relu
    below 0, not 2x at x = 0), entry by entry: engine.py's rule for stopping 0·∞."""
    assert op.np_forward is not None
    a = args[pos]
    step = np.maximum(np.abs(a) * FLAT_STEP, FLAT_STEP**2)
    flat: Array = loc[pos] == 0
    for moved in (a - step, a + step):
        near = (*args[:pos], moved, *args[pos + 1:])
        with np.errstate(all="ignore"):
            near_loc = local_gradients(op, near, np.asarray(op.np_forward(np, *near)))
        assert near_loc is not None
        flat = flat & (near_loc[pos] == 0)
    return flat


def vjp(op: Op, args: tuple[Array, ...], out: Array, g: Array,
        loc: tuple[Array, ...] | None = None) -> tuple[Array, ...]:
    """Downstream gradients, one per input: upstream x local, never forming the Jacobian."""
    with np.errstate(all="ignore"):
        if op.np_local is not None:
            if loc is None:
                loc = local_gradients(op, args, out)
            assert loc is not None
            if np.isfinite(g).all():
                down = tuple(unbroadcast(g * d, a.shape) for d, a in zip(loc, args))
            else:  # where the gate is flat, nothing flows, not inf * 0 (see engine.py)
                down = tuple(unbroadcast(np.where(flat_entries(op, args, loc, k), 0.0, g * d),
                                         a.shape) for k, (d, a) in enumerate(zip(loc, args)))
        else:
            assert op.vjp is not None, f"op {op.name} has neither np_local nor vjp"
            down = tuple(np.asarray(d, dtype=float) for d in op.vjp(np, args, out, g))
    if len(down) != len(args):
        raise AssertionError(f"op {op.name} returned {len(down)} downstream gradients for "
                             f"{len(args)} inputs")
    for k, (d, a) in enumerate(zip(down, args)):
        if d.shape != a.shape:
            raise AssertionError(f"op {op.name}: the gradient for input {k + 1} is "
                                 f"{describe(d.shape)} but the input is {describe(a.shape)}; "
                                 "a gradient has its variable's shape")
    return down


def backward(graph: Graph, values: list[Array], seed: Array) -> ArrayPass:
    """Reverse topological order: downstream = vjp(upstream), accumulated per input."""
    nodes = graph.nodes
    n = len(nodes)
    needs = graph.needs_grad()
    upstream: list[Array | None] = [None] * n
    local: list[tuple[Array, ...] | None] = [None] * n
    downstream: list[tuple[Array | None, ...]] = [()] * n
    kinks: dict[int, str] = {}
    upstream[graph.output] = seed
    # The first non-finite gradient: an error only if it reaches a variable (see engine.py).
    bad: tuple[Node, int, tuple[Array, ...]] | None = None
    consumers: list[list[tuple[int, int]]] = []
    for node in reversed(nodes):
        nid = node.id
        if not node.inputs or not needs[nid]:
            continue
        op = node.op
        args = tuple(values[j] for j in node.inputs)
        out = values[nid]
        g = upstream[nid]
        if g is None:
            g = np.zeros_like(out)
        loc = local_gradients(op, args, out)
        down = vjp(op, args, out, g, loc)
        kept: list[Array | None] = []
        for pos, (j, d) in enumerate(zip(node.inputs, down)):
            if not needs[j]:
                kept.append(None)
                continue
            if bad is None and not np.isfinite(d).all():
                bad = (node, pos, args)
            prev = upstream[j]
            upstream[j] = d if prev is None else prev + d
            kept.append(d)
        local[nid] = loc
        downstream[nid] = tuple(kept)
        why = None if op.tie and node.inputs[0] == node.inputs[-1] else kink(op, args)
        if why is None and bad is not None and loc is not None and not np.isfinite(g).all() \
                and any(np.any(flat_entries(op, args, loc, k) & ~np.isfinite(g))
                        for k, j in enumerate(node.inputs) if needs[j]):
            why = masked(op.name, graph.label(bad[0].id))
        elif why is not None and not op.jump:
            consumers = consumers or graph.consumers()  # made at the first kink: rare
            if _unreached(consumers[nid], g, upstream, local, downstream):
                why = None
        if why is not None:
            kinks[nid] = why
    if bad is not None and not all(
            u is None or np.isfinite(u).all()
            for u in (upstream[v] for v in graph.variables.values())):
        raise _gradient_error(graph, bad[0], bad[1], bad[2])
    return ArrayPass(values, local, upstream, downstream, kinks, seed, needs)


def _unreached(uses: list[tuple[int, int]], g: Array, upstream: list[Array | None],
               local: list[tuple[Array, ...] | None],
               downstream: list[tuple[Array | None, ...]]) -> bool:
    """engine._unreached for arrays: the upstream is 0, or terms that cancel to 0 up to
    rounding (softmax's shift z - rowmax(z), whose branches add up to 0), at every entry;
    ``uses``: the node's (consumer, input position) pairs."""
    if not np.any(g):
        return True
    size = np.zeros_like(g)  # the magnitudes of the terms summed into g
    for c, pos in uses:
        down = downstream[c][pos] if pos < len(downstream[c]) else None
        loc, up = local[c], upstream[c]
        if loc is not None and up is not None:  # elementwise: before broadcasting sums it
            size = size + unbroadcast(np.abs(up * loc[pos]), g.shape)
        elif down is not None:
            size = size + np.abs(down)
    return bool(np.isfinite(size).all() and np.all(np.abs(g) <= CANCEL * size))


def kink(op: Op, args: tuple[Array, ...]) -> str | None:
    """Which entries sit at a non-differentiable point, and the subgradient taken there."""
    if op.np_branch is None or op.kink is None:
        return None
    branch = np.asarray(op.np_branch(np, *args))
    at = np.argwhere(branch == 0)
    if not len(at):
        return None
    shape = np.broadcast_shapes(*(a.shape for a in args))
    first = tuple(int(i) for i in at[0]) if branch.ndim else ()
    elem = tuple(float(np.broadcast_to(a, shape)[first]) for a in args)
    why = op.kink(elem) or f"{op.name} at a kink"
    if not branch.ndim:
        return why
    shown = ", ".join(entry(tuple(int(i) for i in idx)) for idx in at[:4])
    more = ", …" if len(at) > 4 else ""
    return f"{why}, at {len(at)} of {branch.size} entries ({shown}{more})"


def _gradient_error(graph: Graph, node: Node, pos: int, args: tuple[Array, ...]) -> DomainError:
    which = graph.label(node.inputs[pos])
    return DomainError(f"domain error at node {graph.label(node.id)} `{graph.text(node.id)}`: "
                       f"{node.op.name} has no finite gradient with respect to {which} here",
                       source=graph.source, pos=node.start, end=node.end, where="point",
                       hint="the function is not differentiable here; try a point nearby")


def jacobian(op: Op, args: tuple[Array, ...], out: Array, pos: int) -> Array:
    """The explicit Jacobian d out / d input (rows: output entries, columns: input entries),
    built one vjp per output entry. Only --jacobian asks for it; backprop never forms it."""
    rows = []
    for k in range(max(out.size, 1)):
        e = np.zeros(out.size)
        e[k] = 1.0
        rows.append(vjp(op, args, out, e.reshape(out.shape))[pos].ravel())
    return np.array(rows)
