"""What the views call a node: its name, its source text, or a gate applied to its inputs."""

from __future__ import annotations

from ..core.graph import Graph
from ..core.ops import CONST
from ..core.result import Result

NAME_WIDTH = 24  # longer source texts are called #id
COMPOSED_WIDTH = 32  # names made from a gate and its inputs' names (--expand's gates)


def node_names(result: Result) -> list[str]:
    """A readable name per node: its name, else (its source text) if unique and short, else #id."""
    graph = result.graph
    spans: dict[tuple[int, int], int] = {}
    for node in graph.nodes:
        spans[(node.start, node.end)] = spans.get((node.start, node.end), 0) + 1
    names = []
    for node in graph.nodes:
        if node.name is not None:
            names.append(node.name)
        elif node.op is CONST:
            names.append(node.literal or f"{node.const:g}")
        elif node.id == graph.output:
            names.append(result.output)
        else:
            src = " ".join(graph.text(node.id).split())
            if spans[(node.start, node.end)] == 1 and 0 < len(src) <= NAME_WIDTH \
                    and src.isprintable():
                names.append(src if not node.op.symbol else f"({src})")
                continue
            # Gates that share a span (those --expand makes for one compound): the gate
            # applied to its inputs' names, rowmax(z), (z - rowmax(z)), if short.
            made = formula(graph, node.id, [names[j] for j in node.inputs])
            made = f"({made})" if node.op.symbol else made
            if "#" not in made and len(made) <= COMPOSED_WIDTH and made.isprintable():
                names.append(made)
            else:
                names.append(f"#{node.id}")
    # `x*y + x*y`: two gates with the same text are told apart by their ids.
    seen: dict[str, int] = {}
    for name in names:
        seen[name] = seen.get(name, 0) + 1
    for node in graph.nodes:
        nid = node.id
        if seen[names[nid]] > 1 and node.name is None and node.inputs:
            names[nid] = f"#{nid}"
    return names


SHORT_WIDTH = 12  # the replay's captions: longer names of unnamed gates get a short label


def short_names(result: Result) -> tuple[list[str], dict[str, str]]:
    """node_names, with each unnamed gate whose name is longer than SHORT_WIDTH (its whole
    source text, `(-(w0*x0 + w1*x1 + w2))`) called g1, g2, ... in forward order; and each
    label's full text, for the reader to see on hover. A name the user gave is kept."""
    graph = result.graph
    names = node_names(result)
    taken = set(names)
    labels: dict[str, str] = {}
    k = 0
    for node in graph.nodes:
        nid = node.id
        if node.name is not None or not node.inputs or nid == graph.output \
                or len(names[nid]) <= SHORT_WIDTH:
            continue
        k += 1
        while f"g{k}" in taken:
            k += 1
        labels[f"g{k}"] = " ".join(graph.text(nid).split()) if names[nid].startswith("#") \
            else names[nid]
        names[nid] = f"g{k}"
    return names, labels


def formula(graph: Graph, nid: int, args: list[str]) -> str:
    """The gate applied to its inputs: `q * z`, `exp(s)`, `-x`."""
    op = graph.nodes[nid].op
    if op.form:
        return op.form.format(*args)
    if op.symbol and len(args) == 2:
        return f"{args[0]} {op.symbol} {args[1]}"
    return f"{op.name}({', '.join(_unwrap(a) for a in args)})"


def _unwrap(name: str) -> str:
    """`(x+y)` as a function's argument reads `exp(x+y)`, not `exp((x+y))`."""
    if not (name.startswith("(") and name.endswith(")")):
        return name
    depth = 0
    for k, ch in enumerate(name):
        depth += (ch == "(") - (ch == ")")
        if depth == 0 and k < len(name) - 1:
            return name  # `(a) + (b)`: the outer parentheses are not one group
    return name[1:-1]
