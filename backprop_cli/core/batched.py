"""The array engine over a batch of rows at once: one forward and one backward pass for a
mini-batch of fit, instead of one per row.

Every value carries a leading batch axis: B for a value that depends on the rows (a data
column, a bound vector, what is computed from them), 1 for a value all rows share (a
parameter, a constant), then the row's own shape. Elementwise ops run their ``np_forward``
and ``np_local`` as they are, the row axes aligned first (numpy pads a missing axis on the
left, which would otherwise meet the batch axis); array ops run their ``np_batched`` and
``vjp_batched`` (core/ops.py: the row rule with the batch axis in front). The gradient of a
shared value is summed over the batch (the copy gate, arrays.unbroadcast): the sum of the
rows' gradients, which is what the row-by-row loop adds up.

This engine only computes: it neither checks shapes nor names a node in an error. Its caller
first runs one row through arrays.forward (every shape error, read once, juxtaposition
decided), and treats None from ``forward`` or ``backward`` (a value or gradient that is not
finite somewhere in the batch) as "run these rows one by one", which then raises the error
arrays.forward or arrays.backward raises, for the first row that has it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .arrays import Array, unbroadcast
from .graph import Graph
from .ops import CONST, VAR, Op


def batchable(graph: Graph) -> list[str]:
    """The ops of ``graph`` without a batched rule (an array op whose entry has no
    np_batched/vjp_batched): the graph then runs row by row. Asked after the first row's
    forward pass, which decided every juxtaposition."""
    missing = [n.op.name for n in graph.nodes if n.inputs and not _has_rule(n.op)]
    return sorted(set(missing))


def _has_rule(op: Op) -> bool:
    if op.reads_as is not None:  # an undecided juxtaposition
        return False
    return op.np_local is not None or (op.np_batched is not None
                                       and op.vjp_batched is not None)


def _aligned(args: tuple[Array, ...]) -> tuple[Array, ...]:
    """Each argument with 1s inserted after its batch axis, up to the largest row rank:
    a row's scalar (B,) against a row's vector (B, n) becomes (B, 1)."""
    rank = max(a.ndim for a in args)
    return tuple(a if a.ndim == rank else
                 np.reshape(a, a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:])
                 for a in args)


def forward(graph: Graph, point: Mapping[str, Array]) -> list[Array] | None:
    """Values of every node, each with its batch axis; ``point``: each input's value with
    its batch axis (B for a column, 1 for a parameter). None: a value is not finite."""
    values: list[Array] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            op = node.op
            if op is VAR:
                values.append(point[node.name])  # type: ignore[index]
                continue
            if op is CONST:
                values.append(np.asarray(node.const, dtype=float)[None])
                continue
            args = tuple(values[j] for j in node.inputs)
            if op.np_local is not None:
                assert op.np_forward is not None
                out = op.np_forward(np, *_aligned(args))
            else:
                assert op.np_batched is not None
                out = op.np_batched(np, *args)
            out = np.asarray(out, dtype=float)
            if not np.isfinite(out).all():
                return None
            values.append(out)
    return values


def backward(graph: Graph, values: list[Array], seed: Array,
             needs: list[bool]) -> list[Array | None] | None:
    """d (the sum of the rows' outputs, each weighted by ``seed``) / d node, per node id,
    each of its node's shape (a shared node's: summed over the batch); ``needs``: which
    nodes a gradient must reach (graph.needs_grad()). None: a gradient is not finite."""
    upstream: list[Array | None] = [None] * len(graph.nodes)
    upstream[graph.output] = seed
    with np.errstate(all="ignore"):
        for node in reversed(graph.nodes):
            nid = node.id
            if not node.inputs or not needs[nid]:
                continue
            g = upstream[nid]
            if g is None:  # nothing reaches it (a --predict branch): 0, as arrays.backward
                g = np.zeros_like(values[nid])
            if not np.isfinite(g).all():
                return None  # arrays.vjp's 0·∞ rule and its error: the row-by-row pass
            op = node.op
            args = tuple(values[j] for j in node.inputs)
            down: tuple[Array, ...]
            if op.np_local is not None:
                padded = _aligned(args)
                out = values[nid]
                loc = op.np_local(np, padded, out)
                down = tuple(np.reshape(unbroadcast(g * np.asarray(d, dtype=float), p.shape),
                                        a.shape)
                             for d, p, a in zip(loc, padded, args))
            else:
                assert op.vjp_batched is not None
                down = tuple(np.asarray(d, dtype=float)
                             for d in op.vjp_batched(np, args, values[nid], g))
            if len(down) != len(args):
                raise AssertionError(f"op {op.name}: its batched rule returned {len(down)} "
                                     f"downstream gradients for {len(args)} inputs")
            for j, d, a in zip(node.inputs, down, args):
                if not needs[j]:
                    continue
                if d.shape != a.shape:
                    d = unbroadcast(d, a.shape)  # a shared input: summed over the batch
                if d.shape != a.shape:
                    raise AssertionError(f"op {op.name}: its batched rule gave a gradient "
                                         f"of shape {d.shape} for an input of {a.shape}")
                prev = upstream[j]
                upstream[j] = d if prev is None else prev + d
    for v in graph.variables.values():
        u = upstream[v]
        if u is not None and not np.isfinite(u).all():
            return None
    return upstream
