"""A graph written back in the canonical notation (`2*x^2`, `W @ x`, `exp(x)`): the echo of
an expression as it was read, so that a surprise in how 2x or Wᵀ was read shows at once.

One pass over the nodes with an explicit stack (no recursion: a 10,000-deep expression
prints like a long one), parentheses only where the grammar's precedence needs them.
"""

from __future__ import annotations

from .graph import Graph
from .ops import CONST, CONSTANTS, IDENTITY, VAR

# Binding strength of each infix op, as in the grammar's tiers, and of a prefix minus; an
# atom (a name, a number, a call, a transpose) binds tightest.
_TIER = {"add": 1, "sub": 1, "mul": 2, "div": 2, "matmul": 2, "juxt": 2, "neg": 3, "pow": 4}
_ATOM = 5
# The tier each side of an infix op needs without parentheses: sums and products group to
# the left, a power's base is an atom and its exponent a signed power (2^-1).
_SIDES = {1: (1, 2), 2: (2, 3), 4: (_ATOM, 3)}


def reading(graph: Graph) -> str | None:
    """The expression as read, when one of the student's notations was read (2x, Wᵀ, e^x:
    issue 28); None when it reads as typed."""
    return written(graph) if graph.notations else None


def written(graph: Graph) -> str:
    """The program as read: `q = x + y; f = q * z`, or the one expression."""
    nodes = graph.nodes
    statements = []
    order = sorted(graph.named.values())
    if graph.output not in graph.named.values():
        order.append(graph.output)
    for nid in order:
        text = _expression(graph, nid)
        name = nodes[nid].name if nid in graph.named.values() else None
        statements.append(f"{name} = {text}" if name is not None else text)
    return "; ".join(statements)


def _expression(graph: Graph, root: int) -> str:
    nodes = graph.nodes
    out: list[str] = []
    # A stack of pieces: text to write, or (node id, the tier it must bind at least).
    stack: list[str | tuple[int, int]] = [(root, 0)]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
            continue
        nid, need = item
        node = nodes[nid]
        op = node.op
        if node.name is not None and (nid != root or op is VAR):
            out.append(node.name)
            continue
        if op is CONST:
            named = CONSTANTS.get(node.literal)
            out.append(named.name if named is not None else node.literal or repr(node.const))
            continue
        if op is IDENTITY:
            stack.append((node.inputs[0], need))
            continue
        tier = _TIER.get(op.name, _ATOM) if (op.symbol or op.name == "neg") else _ATOM
        parts: list[str | tuple[int, int]]
        if op.name == "neg":
            parts = ["-", (node.inputs[0], 3)]
        elif op.symbol and op.name not in _TIER:  # an indicator: (s > 0), in its parentheses
            parts = ["(", (node.inputs[0], 1), f" {op.symbol} ", (node.inputs[1], 1), ")"]
        elif op.symbol:
            left, right = _SIDES[tier]
            gap = "" if op.name == "pow" else " "
            parts = [(node.inputs[0], left), f"{gap}{op.symbol}{gap}", (node.inputs[1], right)]
        elif op.token:  # a postfix op: A.T
            parts = [(node.inputs[0], _ATOM), op.token[1]]
        else:
            parts = [op.name + "("]
            for k, j in enumerate(node.inputs):
                parts += [", "] if k else []
                parts.append((j, 0))
            parts.append(")")
        if tier < need:
            parts = ["(", *parts, ")"]
        stack.extend(reversed(parts))
    return "".join(out)
