"""`--expand`: compound gates (sigmoid, tanh, softmax, ...) rewritten as primitive gates.

The lecture: "Computational graph representation may not be unique. Choose one where local
gradients at each node can be easily expressed." ``expand(graph)`` returns a new graph in
which every compound gate is replaced by the primitive gates it is made of (sigmoid(x) becomes
*-1, exp, +1, 1/x; softmax(z) becomes rowmax, -, exp, rowsum, /), built with ``Graph.add``
so the engine, the checker and every renderer work on it unchanged. Both graphs compute the
same function and the same final gradients.

Each op's expansion is its entry's ``expand`` in the op table (ops.py); an op without one is
a primitive gate and stays as it is.
"""

from __future__ import annotations

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


def compound_ops() -> list[str]:
    """Names of the ops that ``expand`` rewrites: those whose entry has an ``expand``."""
    return [name for name, op in OPS.items() if op.expand is not None]


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
        elif node.op.expand is not None:
            nid = node.op.expand(Builder(new, node.start, node.end), args)
        else:
            nid = new.add(node.op, args, node.start, node.end)
        if node.name is not None:
            new.nodes[nid].name = node.name
        remap[node.id] = nid
    new.variables = {name: remap[nid] for name, nid in graph.variables.items()}
    new.named = {name: remap[nid] for name, nid in graph.named.items()}
    new.output = remap[graph.output]
    # How the notation was read (2x, e, pi): the echo and the constants' labels stay.
    new.notations = list(graph.notations)
    new.products = [remap[nid] for nid in graph.products]
    new.named_constants = [remap[nid] for nid in graph.named_constants]
    return new
