"""The forward and backward passes over a graph: plain loops, no recursion, no op-specific code."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import DomainError
from .formatting import number
from .gcpause import paused
from .graph import Graph
from .ops import CONST, VAR, Op


@dataclass
class Pass:
    """Everything the backward pass computed, per node, indexed by node id."""

    values: list[float]
    local: list[tuple[float, ...]]  # d node / d input, one per input
    upstream: list[float]  # d output / d node
    downstream: list[tuple[float, ...]]  # upstream * local, one per input
    kinks: dict[int, str]  # node id -> which subgradient was taken at a non-differentiable point
    seed: float


def forward(graph: Graph, point: Mapping[str, float]) -> list[float]:
    """Values of every node in topological order; a domain error names the node."""
    nodes = graph.nodes
    values = [0.0] * len(nodes)
    for node in nodes:
        op = node.op
        if op is VAR:
            values[node.id] = point[node.name]  # type: ignore[index]
        elif op is CONST:
            values[node.id] = node.const
        else:
            args = [values[j] for j in node.inputs]
            try:
                out = op.forward(*args)
            except (ValueError, ZeroDivisionError, OverflowError):
                raise _domain_error(graph, node.id, tuple(args)) from None
            if not math.isfinite(out):
                raise _domain_error(graph, node.id, tuple(args), overflow=True)
            values[node.id] = out
    return values


def backward(graph: Graph, values: list[float], seed: float = 1.0) -> Pass:
    """Reverse topological order: downstream = upstream x local, accumulated per input."""
    with paused():
        return _backward(graph, values, seed)


def _backward(graph: Graph, values: list[float], seed: float) -> Pass:
    nodes = graph.nodes
    n = len(nodes)
    upstream = [0.0] * n
    local: list[tuple[float, ...]] = [()] * n
    downstream: list[tuple[float, ...]] = [()] * n
    kinks: dict[int, str] = {}
    upstream[graph.output] = seed
    isfinite = math.isfinite
    # The first non-finite local gradient on the way to a variable. It is an error only if
    # it reaches a variable: a local gradient of 0 further down stops it, as in PyTorch's
    # masked backward (sqrt(relu(y)) at y < 0 has gradient 0, not inf * 0).
    bad: tuple[int, tuple[float, ...], int] | None = None
    consumers: list[list[tuple[int, int]]] = []  # made at the first kink: kinks are rare
    for node in reversed(nodes):
        inputs = node.inputs
        if not inputs:
            continue
        nid = node.id
        op = node.op
        if len(inputs) == 2:
            i0, i1 = inputs
            args: tuple[float, ...] = (values[i0], values[i1])
        elif len(inputs) == 1:
            i0 = inputs[0]
            args = (values[i0],)
        else:
            args = tuple([values[j] for j in inputs])
        try:
            loc = op.local(args, values[nid])
        except (ValueError, ZeroDivisionError, OverflowError):
            loc = (math.nan,) * len(args)
        if len(loc) != len(args):
            raise AssertionError(f"op {op.name} returned {len(loc)} local gradients "
                                 f"for {len(args)} inputs")
        if op.kink is not None and not (op.tie and inputs[0] == inputs[-1]):
            why = op.kink(args)
            if why is not None:
                consumers = consumers or graph.consumers()
                if op.jump or not _unreached(upstream, local, nid, consumers[nid]):
                    kinks[nid] = why
        g = upstream[nid]
        if not isfinite(sum(loc)) and bad is None:  # rare: some local gradient is inf or nan
            for pos, j in enumerate(inputs):
                # Only an input some variable feeds needs a gradient (constants need none).
                if not isfinite(loc[pos]) and graph.ancestors_vars(j):
                    bad = (nid, args, pos)
                    break
        if bad is not None and not isfinite(g):  # where the local gradient is 0, none flows
            flat = [d == 0 and _flat(op, args, pos) for pos, d in enumerate(loc)]
            # 0·∞ is taken as 0 only where the gate is flat (relu below 0, * by a constant
            # 0); a 0 that is a mere crossing (2x at x = 0 in (x^2)^0.25) keeps inf * 0 =
            # nan, and the gradient error below names the infinite gate, as sqrt(x) at 0.
            down = tuple([0.0 if f else g * d for f, d in zip(flat, loc)])
            if nid not in kinks and any(f and graph.ancestors_vars(j)
                                        for f, j in zip(flat, inputs)):
                kinks[nid] = masked(op.name, graph.label(bad[0]))
            for j, d in zip(inputs, down):
                upstream[j] += d
            downstream[nid] = down
        elif len(loc) == 2:
            d0 = g * loc[0]
            d1 = g * loc[1]
            upstream[i0] += d0
            upstream[i1] += d1
            downstream[nid] = (d0, d1)
        elif len(loc) == 1:
            d0 = g * loc[0]
            upstream[i0] += d0
            downstream[nid] = (d0,)
        else:
            down = tuple([g * d for d in loc])
            for j, d in zip(inputs, down):
                upstream[j] += d
            downstream[nid] = down
        local[nid] = loc
    if bad is not None and not all(isfinite(upstream[v]) for v in graph.variables.values()):
        raise _domain_error(graph, bad[0], bad[1], gradient_of=bad[2])
    return Pass(values, local, upstream, downstream, kinks, seed)


# How many roundings a sum may lose before "0 to rounding": its terms' magnitudes times this.
CANCEL = 64 * 2.0**-52


def _unreached(upstream: list[float], local: list[tuple[float, ...]], nid: int,
               uses: list[tuple[int, int]]) -> bool:
    """No gradient reaches node ``nid``: its upstream is 0, or terms that cancel to 0 up to
    rounding. Whichever subgradient a kink there takes then sends nothing on, and the
    function is as smooth there as the gates above it (relu(x)^2 at 0), provided the gate is
    continuous (not an indicator: ``Op.jump``): the kink is not named. (arrays.py asks the
    same, entry by entry.)"""
    g = upstream[nid]
    if g == 0:
        return True
    size = sum(abs(upstream[c] * local[c][pos]) for c, pos in uses)
    return math.isfinite(size) and abs(g) <= CANCEL * size


def masked(op: str, source: str) -> str:
    """The kink note where a flat gate stops an infinite gradient (both engines)."""
    return (f"{op}'s local gradient is 0 all around here, so the infinite gradient from "
            f"{source} stops at it (0·∞ taken as 0, as PyTorch's masked backward)")


# A relative step that stays on the same smooth piece of any gate a float can tell apart
# (a step from 0 is absolute): flatness is the local gradient 0 on both sides of it.
FLAT_STEP = 2.0**-20


def _flat(op: Op, args: tuple[float, ...], pos: int) -> bool:
    """Whether the local gradient for input ``pos`` is 0 on both sides of the point."""
    a = args[pos]
    step = max(abs(a) * FLAT_STEP, FLAT_STEP**2)
    for moved in (a - step, a + step):
        near = (*args[:pos], moved, *args[pos + 1:])
        try:
            if op.local(near, op.forward(*near))[pos] != 0:
                return False
        except (ValueError, ZeroDivisionError, OverflowError):
            return False
    return True


def _domain_error(graph: Graph, nid: int, args: tuple[float, ...], *, overflow: bool = False,
                  gradient_of: int | None = None) -> DomainError:
    node = graph.nodes[nid]
    op = node.op
    shown = ", ".join(number(a) for a in args)
    if gradient_of is not None:
        which = graph.label(node.inputs[gradient_of])
        what = (f"{op.name} has no finite gradient with respect to {which} "
                f"at ({shown})")
        hint = "the function is not differentiable here; try a point nearby"
    elif overflow or op.domain is None:
        what = f"{op.name}({shown}) overflows a float"
        hint = "use smaller values, or rewrite the expression to avoid huge intermediates"
    else:
        what = op.domain(args)
        hint = "pick a point inside the function's domain"
    label = graph.label(nid)
    return DomainError(f"domain error at node {label} `{graph.text(nid)}`: {what}",
                       source=graph.source, pos=node.start, end=node.end, hint=hint,
                       where="point")
