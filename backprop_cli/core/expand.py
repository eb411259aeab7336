"""`--expand`: compound gates (sigmoid, tanh, softmax, ...) rewritten as primitive gates.

The lecture: "Computational graph representation may not be unique. Choose one where local
gradients at each node can be easily expressed." ``expand(graph)`` returns a new graph in
which every compound gate is replaced by the primitive gates it is made of (sigmoid(x) becomes
*-1, exp, +1, 1/x; softmax(z) becomes rowmax, -, exp, rowsum, /), built with ``Graph.add``
so the engine, the checker and every renderer work on it unchanged. Both graphs compute the
same function and the same final gradients.

Every op in the op table is classified here, either PRIMITIVE or with an entry in EXPANSIONS;
a test fails when a new op is added to ``ops.OPS`` without deciding which it is.
"""

from __future__ import annotations

from collections.abc import Callable

from .graph import Graph
from .ops import CONST, OPS, VAR


class Builder:
    """Adds primitive gates to the new graph; every gate keeps the source span of the compound."""

    def __init__(self, graph: Graph, start: int, end: int):
        self.graph = graph
        self.start = start
        self.end = end

    def gate(self, op: str, *inputs: int) -> int:
        return self.graph.add(OPS[op], inputs, self.start, self.end)

    def const(self, value: float) -> int:
        literal = repr(value) if value != int(value) else str(int(value))
        return self.graph.constant(value, literal, self.start, self.end)


Expansion = Callable[[Builder, tuple[int, ...]], int]


def _sigmoid(b: Builder, args: tuple[int, ...]) -> int:
    # The lecture's circuit: 1/(1+exp(-x)) as the gates *-1, exp, +1, 1/x.
    (x,) = args
    e = b.gate("exp", b.gate("neg", x))
    s = b.gate("add", e, b.const(1))
    return b.gate("div", b.const(1), s)


def _tanh(b: Builder, args: tuple[int, ...]) -> int:
    # (e^x - e^-x) / (e^x + e^-x): x, e^x and e^-x each fan out, so the backward pass shows
    # the copy gate adding branches. Finite for |x| < 709 (beyond, exp overflows a float).
    (x,) = args
    ep = b.gate("exp", x)
    en = b.gate("exp", b.gate("neg", x))
    return b.gate("div", b.gate("sub", ep, en), b.gate("add", ep, en))


def _shifted(b: Builder, z: int) -> tuple[int, int]:
    # The lecture's stable softmax: subtract the largest entry (of each row) first. The
    # rowmax gate's branch carries a gradient that adds up to 0: softmax ignores the shift.
    d = b.gate("sub", z, b.gate("rowmax", z))
    e = b.gate("exp", d)
    return d, e


def _softmax(b: Builder, args: tuple[int, ...]) -> int:
    # exp(z - max z) / Σ exp(z - max z): z fans out into the sub and the rowmax, e into the
    # rowsum and the division.
    (z,) = args
    _, e = _shifted(b, z)
    return b.gate("div", e, b.gate("rowsum", e))


def _log_softmax(b: Builder, args: tuple[int, ...]) -> int:
    # log-sum-exp: (z - max z) - log Σ exp(z - max z).
    (z,) = args
    d, e = _shifted(b, z)
    return b.gate("sub", d, b.gate("log", b.gate("rowsum", e)))


def _cross_entropy(b: Builder, args: tuple[int, ...]) -> int:
    # -Σ y ⊙ log_softmax(z), over every entry (a matrix: summed over its rows too).
    z, y = args
    return b.gate("neg", b.gate("sum", b.gate("mul", y, _log_softmax(b, (z,)))))


EXPANSIONS: dict[str, Expansion] = {
    "sigmoid": _sigmoid,
    "tanh": _tanh,
    "softmax": _softmax,
    "log_softmax": _log_softmax,
    "cross_entropy": _cross_entropy,
}

# Gates whose local gradient is already one simple expression: they stay as they are.
PRIMITIVE = frozenset({
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "relu", "abs", "max", "min",
    # Array ops (rowmax and rowsum are the row reductions softmax is expanded with).
    "matmul", "transpose", "sum", "mean", "dot", "rowmax", "rowsum",
})


def compound_ops() -> list[str]:
    """Names of the ops that ``expand`` rewrites."""
    return [name for name in OPS if name in EXPANSIONS]


def expand(graph: Graph) -> Graph:
    """A new graph with every compound gate replaced by primitive gates (one pass, no recursion).

    Inputs, constants, named intermediates and the output keep their names; the gates made
    for a compound carry its source span, so tables show which expression they came from.
    """
    new = Graph(graph.source, output_name=graph.output_name)
    remap = [0] * len(graph.nodes)
    for node in graph.nodes:
        args = tuple(remap[j] for j in node.inputs)
        if node.op is VAR:
            nid = new.add(VAR, (), node.start, node.end)
        elif node.op is CONST:
            nid = new.constant(node.const, node.literal, node.start, node.end)
        elif node.op.name in EXPANSIONS:
            nid = EXPANSIONS[node.op.name](Builder(new, node.start, node.end), args)
        else:
            nid = new.add(node.op, args, node.start, node.end)
        if node.name is not None:
            new.nodes[nid].name = node.name
        remap[node.id] = nid
    new.variables = {name: remap[nid] for name, nid in graph.variables.items()}
    new.named = {name: remap[nid] for name, nid in graph.named.items()}
    new.output = remap[graph.output]
    return new
