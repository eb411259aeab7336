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
from typing import Any

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


def _aligned(args: list[Array]) -> list[Array]:
    """Each argument with 1s inserted after its batch axis, up to the largest row rank:
    a row's scalar (B,) against a row's vector (B, n) becomes (B, 1)."""
    rank = max(a.ndim for a in args)
    if all(a.ndim == rank for a in args):
        return args
    return [a if a.ndim == rank else
            np.reshape(a, a.shape[:1] + (1,) * (rank - a.ndim) + a.shape[1:]) for a in args]


def _finite(arrays: list[Array]) -> bool:
    """Whether every entry of every array is finite: one check for a whole pass (a value
    that is not finite stays so in every value computed from it, or is caught here)."""
    if not arrays:
        return True
    return bool(np.isfinite(np.concatenate([a.ravel() for a in arrays])).all())


_VAR, _CONST, _UNARY, _ELEMENTWISE, _ARRAY = range(5)


class Plan:
    """A graph read once for batched passes: each node's kind, rule and inputs, so that a
    mini-batch's pass is a plain loop over them. Made after the first row's pass, which
    decided every juxtaposition; ``batchable(graph)`` must be empty."""

    def __init__(self, graph: Graph) -> None:
        self.output = graph.output
        self.variables = list(graph.variables.values())
        self.steps: list[tuple[int, Any, tuple[int, ...]]] = []
        for node in graph.nodes:
            op = node.op
            if op is VAR:
                self.steps.append((_VAR, node.name, ()))
            elif op is CONST:
                self.steps.append((_CONST, np.asarray(node.const, dtype=float)[None], ()))
            elif op.np_local is not None:
                kind = _UNARY if len(node.inputs) == 1 else _ELEMENTWISE
                self.steps.append((kind, op, node.inputs))
            else:
                self.steps.append((_ARRAY, op, node.inputs))
        needs = graph.needs_grad()
        # Backward: the nodes a gradient must pass, last first, each input flagged if it
        # needs a gradient (a variable feeds it).
        self.back = [(nid, kind, op, ins, tuple(needs[j] for j in ins))
                     for nid, (kind, op, ins) in reversed(list(enumerate(self.steps)))
                     if ins and needs[nid]]

    def forward(self, point: Mapping[str, Array]) -> list[Array] | None:
        """Values of every node, each with its batch axis; ``point``: each input's value
        with its batch axis (B for a column, 1 for a parameter). None: a value is not
        finite somewhere."""
        values: list[Array] = []
        computed: list[Array] = []
        with np.errstate(all="ignore"):
            for kind, rule, ins in self.steps:
                if kind == _VAR:
                    values.append(point[rule])
                    continue
                if kind == _CONST:
                    values.append(rule)
                    continue
                if kind == _UNARY:
                    out = rule.np_forward(np, *[values[j] for j in ins])
                elif kind == _ELEMENTWISE:
                    out = rule.np_forward(np, *_aligned([values[j] for j in ins]))
                else:
                    out = rule.np_batched(np, *[values[j] for j in ins])
                if not (isinstance(out, np.ndarray) and out.dtype == np.float64):
                    out = np.asarray(out, dtype=float)
                values.append(out)
                computed.append(out)
        return values if _finite(computed) else None

    def backward(self, values: list[Array], seed: Array) -> list[Array | None] | None:
        """d (the sum of the rows' outputs, each weighted by ``seed``) / d node, per node,
        each of its node's shape (a shared node's: summed over the batch). None: a gradient
        is not finite somewhere (arrays.vjp's 0·∞ rule and its error are the row-by-row
        pass's to apply)."""
        upstream: list[Array | None] = [None] * len(values)
        upstream[self.output] = seed
        with np.errstate(all="ignore"):
            for nid, kind, op, ins, wanted in self.back:
                g = upstream[nid]
                if g is None:  # nothing reaches it (a --predict branch): 0, as arrays does
                    g = upstream[nid] = np.zeros_like(values[nid])
                args = [values[j] for j in ins]
                down: list[Array]
                if kind == _ARRAY:
                    down = [np.asarray(d, dtype=float)
                            for d in op.vjp_batched(np, args, values[nid], g)]
                    if len(down) != len(args):
                        raise AssertionError(f"op {op.name}: its batched rule returned "
                                             f"{len(down)} downstream gradients for "
                                             f"{len(args)} inputs")
                else:
                    padded = _aligned(args)
                    down = []
                    for d, p, a in zip(op.np_local(np, padded, values[nid]), padded, args):
                        # a local gradient of exactly 1 (+, the copy) passes g on as it is
                        d = g if isinstance(d, float) and d == 1.0 else g * d
                        if d.shape != p.shape:
                            d = unbroadcast(d, p.shape)
                        down.append(d if p is a else np.reshape(d, a.shape))
                for j, d, a, want in zip(ins, down, args, wanted):
                    if not want:
                        continue
                    if d.shape != a.shape:
                        d = unbroadcast(d, a.shape)  # a shared input: summed over the batch
                        if d.shape != a.shape:
                            raise AssertionError(f"op {op.name}: its batched rule gave a "
                                                 f"gradient of shape {d.shape} for an input "
                                                 f"of {a.shape}")
                    prev = upstream[j]
                    upstream[j] = d if prev is None else prev + d
        reached = [u for u in upstream if u is not None]
        return upstream if _finite(reached) else None


def forward(graph: Graph, point: Mapping[str, Array]) -> list[Array] | None:
    """Plan(graph).forward(point), for a graph run once."""
    return Plan(graph).forward(point)


def backward(graph: Graph, values: list[Array], seed: Array) -> list[Array | None] | None:
    """Plan(graph).backward(values, seed), for a graph run once."""
    return Plan(graph).backward(values, seed)
