"""Pictures of the circuit: DOT, Mermaid, a terminal tree, and SVG/PNG through Graphviz.

Drawn as the lecture draws it, left to right: gates are circles labelled with their op,
inputs and named intermediates are wires, and every wire carries its forward value (green)
above its gradient (red). A constant feeding a gate is folded into the gate's label, as the
lecture writes `+1`, `*-1` and `1/x`. Everything here is built in plain loops (no recursion),
so a 10,000-deep expression still gives DOT, Mermaid and an (abbreviated) tree.

No user text reaches a picture except names, which the grammar restricts to identifiers;
they are escaped anyway (HTML entities for DOT's HTML labels, entity codes for Mermaid).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.errors import BackpropError, InputError
from ..core.formatting import cut, lecture_entry, lecture_number
from ..core.graph import Graph
from ..core.ops import CONST, VAR
from ..core.result import Result

if TYPE_CHECKING:  # rich only for the terminal tree: the SVG circuit runs without it
    from rich.text import Text

VALUE_COLOUR = "#1a7f37"  # forward values: green, as in the lecture's circuits
GRAD_COLOUR = "#cf222e"  # gradients: red
# html is the replay page of views/replay.py (the same circuit, stepped gate by gate).
FORMATS = ("dot", "mermaid", "svg", "png", "text", "html")
SUFFIXES = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".mermaid": "mermaid",
            ".svg": "svg", ".png": "png", ".txt": "text", ".html": "html", ".htm": "html"}
INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS), or see https://graphviz.org/download/; "
                "or write DOT or Mermaid text instead (--format dot, --format mermaid), "
                "which needs no extra software")


class GraphvizMissingError(BackpropError):
    """SVG or PNG was asked for but Graphviz's `dot` is not installed."""


def num(v: float | None) -> str:
    """The lecture's two decimals (formatting.lecture_number): a picture copies the slides."""
    return lecture_number(v)


# --- arrays: shapes on the wires, values abbreviated -------------------------------------------

ARRAY_SHOWN = 4  # entries of a vector (rows, columns of a matrix) drawn before "…"


def shape_text(shape: list[int] | None) -> str:
    """`2` for a vector of 2, `2×3` for a matrix; "" for a scalar (drawn as the lecture does,
    where the tables' formatting.shape_text writes `scalar`)."""
    return "×".join(str(n) for n in shape) if shape else ""


def _entry(v: float) -> str:
    return lecture_entry(v)


def _cut(items: list[Any]) -> list[Any]:
    return cut(items, ARRAY_SHOWN, head=ARRAY_SHOWN - 1)


def _row(v: list[Any]) -> str:
    return "[" + ", ".join(c if c == "…" else _entry(c) for c in _cut(v)) + "]"


def value_lines(v: Any, arrays: bool = False) -> list[str]:
    """A wire's value (or gradient) as lines of text: `-0.53`; `[0.2, 0.4]`; one line per
    matrix row. Past four entries a vector is abbreviated `[a, b, c, …, z]`, a matrix by rows
    and columns alike; the shape on the wire says how big it is (--json has every entry).
    In an array job (``arrays``) scalars get three significant digits too (0.116, not 0.12)."""
    if v is None:
        return [""]
    if not isinstance(v, list):
        return [_entry(v) if arrays else num(v)]
    if v and isinstance(v[0], list):
        rows = _cut(v)
        out = []
        for k, r in enumerate(rows):
            body = "…" if r == "…" else _row(r)
            out.append(("[" if k == 0 else " ") + body + ("]" if k == len(rows) - 1 else ","))
        return out
    return [_row(v)]


def value_text(v: Any, arrays: bool = False) -> str:
    return "".join(value_lines(v, arrays))


# --- gate labels -------------------------------------------------------------------------

def _const_text(graph: Graph, nid: int) -> str:
    node = graph.nodes[nid]
    return node.literal or f"{node.const:g}"


def folded(graph: Graph, nid: int) -> list[bool]:
    """Which inputs of gate ``nid`` are constants drawn inside its label (not as wires).

    Constants are folded when the gate has at least one input that is not a constant.
    """
    node = graph.nodes[nid]
    is_const = [graph.nodes[j].op is CONST for j in node.inputs]
    if all(is_const):
        return [False] * len(is_const)
    return is_const


def gate_label(graph: Graph, nid: int) -> str:
    """The gate's op, with folded constants written in: `+`, `*`, `exp`, `+1`, `*-1`, `1/x`."""
    node = graph.nodes[nid]
    op = node.op
    if op.label:
        return op.label
    fold = folded(graph, nid)
    if not any(fold):
        return op.symbol or op.name
    consts = [_const_text(graph, j) if f else "x" for j, f in zip(node.inputs, fold)]
    if op.symbol and len(consts) == 2:
        a, b = consts
        sym = op.symbol
        if fold[1]:
            return f"x{sym}{b}" if sym == "^" else f"{sym}{b}"
        if op.commutative:  # 2*x is drawn as *2
            return f"{sym}{a}"
        return f"{a}{sym}x"
    return f"{op.name}({', '.join(consts)})"


# --- the circuit as plain data -------------------------------------------------------------

@dataclass
class Wire:
    source: str  # picture node ids
    target: str
    name: str | None  # the wire's name, for named intermediates
    value: Any  # a float, or nested lists for a vector or matrix (array jobs)
    grad: Any
    shape: list[int] | None = None  # array jobs: the wire's shape ([] for a scalar)


@dataclass
class Part:
    id: str
    kind: str  # "input" | "gate" | "const" | "output"
    label: str
    note: str | None = None  # e.g. the summed gradient of a fan-out input


@dataclass
class Circuit:
    parts: list[Part] = field(default_factory=list)
    wires: list[Wire] = field(default_factory=list)
    numeric: bool = False
    shaped: bool = False  # an array job: its scalars are written as its arrays' entries


def circuit(result: Result) -> Circuit:
    """The picture's nodes and wires, read from an evaluated (or symbolic) Result."""
    graph = result.graph
    numeric = result.value is not None
    rec = result.nodes
    uses = graph.consumers()
    drawn = [True] * len(graph.nodes)
    for node in graph.nodes:
        if node.op is CONST:
            # Drawn only if some consumer does not fold it (or it is the output itself).
            drawn[node.id] = node.id == graph.output or any(
                not folded(graph, c)[pos] for c, pos in uses[node.id])
    c = Circuit(numeric=numeric, shaped=result.shaped)
    for node in graph.nodes:
        nid = node.id
        if not drawn[nid]:
            continue
        pid = f"n{nid}"
        if node.op is VAR:
            note = None
            if numeric and len(uses[nid]) > 1:
                total = value_text(rec[nid].upstream, rec[nid].shape is not None)
                note = f"grad {total} (sum of {len(uses[nid])} branches)"
            c.parts.append(Part(pid, "input", node.name or "", note))
        elif node.op is CONST:
            c.parts.append(Part(pid, "const", _const_text(graph, nid)))
        else:
            c.parts.append(Part(pid, "gate", gate_label(graph, nid)))
            fold = folded(graph, nid)
            for pos, j in enumerate(node.inputs):
                if fold[pos]:
                    continue
                src = graph.nodes[j]
                name = src.name if src.op is not VAR else None
                down = rec[nid].downstream
                grad = down[pos] if numeric and down is not None else None
                c.wires.append(Wire(f"n{j}", pid, name, rec[j].value, grad, rec[j].shape))
    out = graph.nodes[graph.output]
    c.parts.append(Part("out", "output", result.output))
    out_name = out.name if out.op is not VAR and out.name != result.output else None
    c.wires.append(Wire(f"n{graph.output}", "out", out_name, rec[graph.output].value,
                        result.seed if numeric else None, rec[graph.output].shape))
    return c


# --- DOT ------------------------------------------------------------------------------------

def _html(s: str) -> str:
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _dot_wire_label(w: Wire, numeric: bool) -> str:
    rows = []
    shape = shape_text(w.shape)
    if w.name and shape:
        rows.append(f'<i>{_html(w.name)}</i>: <font color="#555555">{shape}</font>')
    elif w.name:
        rows.append(f"<i>{_html(w.name)}</i>")
    elif shape:
        rows.append(f'<font color="#555555">{shape}</font>')
    if numeric:
        rows += [f'<font color="{VALUE_COLOUR}">{_html(line)}</font>'
                 for line in value_lines(w.value, w.shape is not None)]
        rows += [f'<font color="{GRAD_COLOUR}">{_html(line)}</font>'
                 for line in value_lines(w.grad, w.shape is not None)]
    return "<" + "<br/>".join(rows) + ">" if rows else '""'


def to_dot(result: Result) -> str:
    """Graphviz DOT text: `dot -Tsvg` draws it like the lecture's circuit."""
    c = circuit(result)
    lines = [
        "digraph backprop {",
        '  graph [rankdir=LR, nodesep=0.35, ranksep=0.55, fontname="Helvetica", '
        'fontsize=11, labelloc=b, labeljust=l];',
        '  node [fontname="Helvetica", fontsize=13];',
        '  edge [fontname="Helvetica", fontsize=11, arrowsize=0.6, color="#555555"];',
    ]
    if c.numeric:
        lines.append(f'  label=<on each wire: <font color="{VALUE_COLOUR}">forward value</font>'
                     f' above, <font color="{GRAD_COLOUR}">gradient ∂{_html(result.output)}'
                     f'/∂wire</font> below>;')
    inputs = []
    for p in c.parts:
        if p.kind == "gate":
            shape = "circle" if len(p.label) <= 4 else "ellipse"
            lines.append(f'  {p.id} [shape={shape}, margin=0.02, width=0.45, fontsize=15, '
                         f'label=<{_html(p.label)}>];')
        elif p.kind == "input":
            label = f"<b>{_html(p.label)}</b>"
            if p.note:
                label += f'<br/><font color="{GRAD_COLOUR}" point-size="10">'\
                         f'{_html(p.note)}</font>'
            lines.append(f"  {p.id} [shape=plaintext, label=<{label}>];")
            inputs.append(p.id)
        elif p.kind == "const":
            lines.append(f'  {p.id} [shape=plaintext, fontcolor="#555555", '
                         f'label=<{_html(p.label)}>];')
        else:
            lines.append(f"  {p.id} [shape=plaintext, label=<<b>{_html(p.label)}</b>>];")
    for w in c.wires:
        lines.append(f"  {w.source} -> {w.target} [label={_dot_wire_label(w, c.numeric)}];")
    if inputs:
        # Inputs stacked at the left in first-use order (w0, x0, w1, ... top to bottom): an
        # invisible chain inside the rank fixes their order.
        chain = " -> ".join(inputs)
        tail = f" {chain} [style=invis];" if len(inputs) > 1 else ""
        lines.append("  { rank=source; " + " ".join(f"{i};" for i in inputs) + tail + " }")
    lines.append("  { rank=sink; out; }")
    lines.append("}")
    return "\n".join(lines) + "\n"


# --- Mermaid --------------------------------------------------------------------------------

_MERMAID_ESCAPES = str.maketrans({
    "#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;", "&": "#amp;",
    "|": "#124;", "`": "#96;", "\n": " ",
})


def _mm(s: str) -> str:
    return s.translate(_MERMAID_ESCAPES)


MERMAID_MAX_EDGES = 500  # mermaid's default maxEdges


def to_mermaid(result: Result) -> str:
    """A Mermaid flowchart (GitHub and most Markdown viewers draw it)."""
    c = circuit(result)
    lines = ["flowchart LR"]
    if len(c.wires) > MERMAID_MAX_EDGES:
        lines.insert(0, f"%% {len(c.wires):,} edges: Mermaid draws at most {MERMAID_MAX_EDGES} "
                        "unless initialised with a larger maxEdges; --format dot has no limit")
    for p in c.parts:
        if p.kind == "gate":
            lines.append(f'  {p.id}(("{_mm(p.label)}"))')
        elif p.kind == "input":
            note = f"<br/><span style='color:{GRAD_COLOUR}'>{_mm(p.note)}</span>" \
                if p.note else ""
            lines.append(f'  {p.id}["{_mm(p.label)}{note}"]')
        else:
            lines.append(f'  {p.id}["{_mm(p.label)}"]')
    for w in c.wires:
        rows = []
        shape = shape_text(w.shape)
        if w.name:
            rows.append(f"<i>{_mm(w.name)}</i>" + (f": {shape}" if shape else ""))
        elif shape:
            rows.append(shape)
        if c.numeric:
            rows.append(f"<span style='color:{VALUE_COLOUR}'>value "
                        f"{_mm(value_text(w.value, w.shape is not None))}</span>")
            rows.append(f"<span style='color:{GRAD_COLOUR}'>grad "
                        f"{_mm(value_text(w.grad, w.shape is not None))}</span>")
        label = f'|"{"<br/>".join(rows)}"|' if rows else ""
        lines.append(f"  {w.source} -->{label} {w.target}")
    lines.append("  classDef input fill:none,stroke:none,font-weight:bold")
    lines.append("  classDef gate fill:#ffffff,stroke:#333333")
    for kind in ("input", "gate"):
        ids = [p.id for p in c.parts if p.kind == kind]
        if ids:
            lines.append(f"  class {','.join(ids)} {kind}")
    outs = [p.id for p in c.parts if p.kind in ("output", "const")]
    lines.append(f"  class {','.join(outs)} input")
    return "\n".join(lines) + "\n"


# --- the terminal tree ----------------------------------------------------------------------

TREE_MAX_DEPTH = 40
TREE_MAX_LINES = 400


def tree_lines(result: Result, names: list[str], *, max_depth: int = TREE_MAX_DEPTH,
               max_lines: int = TREE_MAX_LINES) -> list[tuple[str, str, str]]:
    """The graph as a tree from the output back to the inputs, as (indent, node, numbers).

    Iterative. A gate reached a second time (fan-out) is not expanded again; past
    ``max_depth`` levels or ``max_lines`` lines the tree is cut with a note saying so.
    """
    graph = result.graph
    rec = result.nodes
    numeric = result.value is not None
    uses = graph.consumers()
    rows: list[tuple[str, str, str]] = []
    shown: set[int] = set()
    cut_depth = cut_lines = False
    # stack entries: (node id, prefix, connector, depth, gradient on the wire into the parent)
    stack: list[tuple[int, str, str, int, Any]] = [
        (graph.output, "", "", 0, result.seed if numeric else None)]
    while stack:
        nid, prefix, connector, depth, grad = stack.pop()
        if len(rows) >= max_lines:
            cut_lines = True
            break
        node = graph.nodes[nid]
        label = names[nid]
        shape = shape_text(rec[nid].shape)
        if shape:
            label = f"{label}: {shape}"
        if node.inputs:
            label = f"{label}  [{gate_label(graph, nid)}]"
        nums = ""
        if numeric:
            arr = rec[nid].shape is not None
            nums = f"value {value_text(rec[nid].value, arr)}   grad {value_text(grad, arr)}"
            if len(uses[nid]) > 1:
                nums += f" (one branch; all branches add to " \
                        f"{value_text(rec[nid].upstream, arr)})"
        if node.op is CONST:
            nums = "constant"
        again = node.inputs and nid in shown
        if again:
            nums += "   (gate shown above)"
        rows.append((prefix + connector, label, nums))
        if again or not node.inputs:
            continue
        shown.add(nid)
        child_prefix = prefix + ("    " if connector.startswith("└") else
                                 "│   " if connector else "")
        if depth + 1 > max_depth:
            rows.append((child_prefix + "└── ", "…", f"deeper than {max_depth} levels: not shown"))
            cut_depth = True
            continue
        kids = list(enumerate(node.inputs))
        for k, (pos, j) in enumerate(reversed(kids)):
            last = k == 0
            down = rec[nid].downstream
            g = down[pos] if numeric and down is not None else None
            stack.append((j, child_prefix, "└── " if last else "├── ", depth + 1, g))
    if cut_lines or cut_depth:
        why = []
        if cut_depth:
            why.append(f"{max_depth} levels")
        if cut_lines:
            why.append(f"{max_lines} lines")
        rows.append(("", f"… tree cut at {' and '.join(why)} ({len(graph.nodes):,} nodes in all);",
                     "use --format dot or --format mermaid for the whole graph"))
    return rows


# --- SVG and PNG via Graphviz ---------------------------------------------------------------

# dot's layout grows much faster than the graph, and fastest with fan-out: 12 KB of
# expression ran it for 300 s at 2.76 GB; 100 products sharing their inputs (250 nodes)
# take 40 s on a busy 2-core machine, 700 independent ones (2,100 nodes) 800 MB. A node
# limit refuses the large at once, and the timeout ends the dense.
GRAPHVIZ_MAX_NODES = 500
GRAPHVIZ_SECONDS = 60.0


def render_graphviz(dot: str, fmt: str, *, timeout: float = GRAPHVIZ_SECONDS,
                    nodes: int | None = None) -> bytes:
    """Run Graphviz's `dot` on DOT text (of a graph of ``nodes`` nodes, refused past
    GRAPHVIZ_MAX_NODES); raise GraphvizMissingError (exit 2) when it is absent."""
    if nodes is not None and nodes > GRAPHVIZ_MAX_NODES:
        raise InputError(f"{nodes:,} nodes are too many for Graphviz to lay out (at most "
                         f"{GRAPHVIZ_MAX_NODES:,})", where="--format",
                         hint="write --format dot (or mermaid) for the whole graph, or "
                         "--format text for its tree")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissingError(f"--format {fmt} needs Graphviz's `dot` program, which is not "
                              "installed (or not on PATH)", hint=INSTALL_HINT, where="--format")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise InputError(f"Graphviz took more than {timeout:.0f} s to lay out the graph",
                         hint="write --format dot and lay it out yourself, or use a "
                         "smaller expression", where="--format") from None
    if done.returncode != 0:
        msg = done.stderr.decode(errors="replace").strip().splitlines()
        raise InputError("Graphviz failed: " + (msg[0] if msg else f"exit {done.returncode}"),
                         where="--format")
    return done.stdout


def format_for(output: str | None, fmt: str | None) -> str:
    """The picture format: --format if given, else from the -o suffix, else text."""
    if fmt is not None:
        f = fmt.strip().lower()
        if f not in FORMATS:
            raise InputError(f"unknown --format '{fmt}'", where="--format",
                             hint="choose from " + ", ".join(FORMATS))
        return f
    if output is not None:
        suffix = "." + output.rsplit(".", 1)[-1].lower() if "." in output else ""
        if suffix in SUFFIXES:
            return SUFFIXES[suffix]
        raise InputError(f"cannot tell the picture format from '{output}'", where="-o",
                         hint="end the file name in .dot, .gv, .mmd, .svg, .png, .txt or .html, "
                         "or give --format")
    return "text"


def to_text(result: Result) -> Text:
    """The terminal tree as a rich Text (values green, gradients red, user text escaped)."""
    from rich.text import Text

    from .names import node_names
    from .render import text

    out = Text()
    title = f"{result.output}, from the output back to the inputs"
    if result.value is not None:
        title += " (each line: forward value, then the gradient on that wire)"
    out.append_text(text(title + "\n", "bold"))
    for indent, label, nums in tree_lines(result, node_names(result)):
        out.append_text(text(indent, "dim"))
        out.append_text(text(label, "bold cyan"))
        if nums.startswith("value "):
            value, _, grad = nums.partition("   grad ")
            out.append_text(text("   " + value, VALUE_COLOUR))
            out.append_text(text("   grad " + grad, GRAD_COLOUR))
        elif nums:
            out.append_text(text("   " + nums, "dim"))
        out.append("\n")
    out.rstrip()
    return out
