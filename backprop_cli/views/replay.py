"""The interactive replay: one self-contained HTML page that steps through the circuit.

``replay_data(result)`` is plain data: the circuit laid out in layers (inputs left, output
right), and one step per gate of the forward pass, then of the backward pass, each with the
caption `backprop steps` prints for it (steps.py's step list and lines, not re-derived here).
``replay_html(result)`` turns it into one HTML file: the circuit as inline SVG (drawn here, in
Python, so no layout engine is shipped to the browser), the steps as JSON in a
``<script type="application/json">`` block, and a small script (assets/replay.js) that shows
and highlights what each step reveals. Nothing is loaded from the network.

The layout is our own, not Graphviz: `dot` is not on every machine, and a WebAssembly build
of it (viz.js, about 1.4 MB base64) would multiply the file size by ten or more for a graph
that is a DAG with a natural left-to-right order anyway. Everything here is a plain loop
(no recursion), linear or near-linear in the number of wires.

User text (names, the expression, numbers) reaches the page only escaped: html.escape for
the markup and SVG, and JSON escaped for a <script> context (``<``, ``>``, ``&``, U+2028/9)
that the page's script puts into the document with ``textContent`` only.
"""

from __future__ import annotations

import html
import itertools
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ..core.errors import InputError
from ..core.result import Result
from .names import short_names
from .picture import Circuit, Part, circuit, shape_text, value_lines
from .render import fmt
from .steps import backward_steps, forward_steps, render_lines

MAX_NODES = 2000  # beyond this the page would be tens of MB of SVG: refused with a hint
CHAR_W = 7.3  # px per character of the 12 px monospace labels (a safe overestimate)
LINE_H = 14.0  # px per label line
GATE_R = 18.0  # a gate's circle radius
COL_GAP = 20.0  # px at least between a wire's label and the parts it joins
ROW_GAP = 34.0  # px between two nodes of one column
SWEEPS = 4  # barycentre sweeps that untangle the columns' order
DUMMY_H = 18.0  # px: the slot of a long wire in a column it crosses
SLOT_SPAN = 6  # a wire crossing more columns is drawn straight
MAX_DUMMIES = 20_000  # slots in all; beyond, long wires are drawn straight


@dataclass
class Box:
    """A placed part of the circuit: its centre, its half-width and its layer."""

    part: Part
    layer: int
    x: float = 0.0
    y: float = 0.0
    half: float = GATE_R
    gap: float = COL_GAP  # the room after its column, where the labels of its wires go
    stubs: dict[int, float] = field(default_factory=dict)  # wire -> its stub's length


@dataclass
class Stage:
    """One step of the page: what it highlights and its caption (lines of `backprop steps`)."""

    kind: str  # "start" | "forward" | "gate" | "fan-out"
    node: str | None  # the picture id of the active part (n3), None at the start
    caption: list[str]
    wires: list[int] = field(default_factory=list)  # wires highlighted at this step
    label: str = "start"  # the counter's text: the caption's own count ("backward step 2 of 2")


@dataclass
class Replay:
    """Everything the page shows; ``html`` is the page itself."""

    result: Result
    circuit: Circuit
    boxes: dict[str, Box]
    wire_y: list[float]  # per wire: the height of its stub where it leaves its source
    points: list[list[tuple[float, float, float]]]  # per wire: (x, y, half-width) of each
    # column it crosses (a long wire's own slot there)
    stages: list[Stage]
    value_from: list[int]  # per wire: the step from which its forward value is shown
    grad_from: list[int | None]  # per wire: the step from which its gradient is shown
    sum_from: dict[str, tuple[int, str]]  # part id -> (step, text) of a fan-out's sum
    width: float
    height: float
    labels: dict[str, str] = field(default_factory=dict)  # g1 -> the gate's source text


# --- layout ---------------------------------------------------------------------------------

def _label_width(lines: list[str]) -> float:
    return max((len(s) for s in lines), default=0) * CHAR_W


def _lines(v: Any, arrays: bool) -> list[str]:
    """A number as the captions write it (steps.render_lines): the page has one number format,
    so a wire never says -2.00 where its caption says -2."""
    if arrays or isinstance(v, list):
        return value_lines(v, True)
    return [""] if v is None else [fmt(v)]


def _wire_lines(c: Circuit, k: int) -> tuple[list[str], list[str], str]:
    """A wire's value lines, gradient lines and heading (its name and shape)."""
    w = c.wires[k]
    vals = _lines(w.value, c.shaped) if c.numeric else []
    grads = _lines(w.grad, c.shaped) if c.numeric and w.grad is not None else []
    shape = shape_text(w.shape)
    head = f"{w.name}: {shape}" if w.name and shape else (w.name or (
        f"shape {shape}" if shape else ""))
    return vals, grads, head


def layout(c: Circuit, notes: dict[str, str] | None = None,
           ) -> tuple[dict[str, Box], list[float], list[list[tuple[float, float, float]]],
                      float, float]:
    """Columns by longest path from the inputs (inputs at 0, the output last), rows ordered by
    the barycentre of their neighbours, then coordinates sized by the wires' labels."""
    ins: dict[str, list[int]] = {p.id: [] for p in c.parts}
    outs: dict[str, list[int]] = {p.id: [] for p in c.parts}
    for k, w in enumerate(c.wires):
        outs[w.source].append(k)
        ins[w.target].append(k)
    boxes: dict[str, Box] = {}
    for p in c.parts:  # parts come in topological order, the output last
        layer = 0 if p.kind in ("input", "const") else 1 + max(
            (boxes[c.wires[k].source].layer for k in ins[p.id]), default=0)
        boxes[p.id] = Box(p, layer)
    top = max((b.layer for b in boxes.values()), default=0)
    boxes["out"].layer = top
    for p in reversed(c.parts):  # a constant sits just before its first consumer
        if p.kind == "const" and outs[p.id]:
            boxes[p.id].layer = max(0, min(boxes[c.wires[k].target].layer
                                           for k in outs[p.id]) - 1)
    columns: list[list[str]] = [[] for _ in range(top + 1)]
    for p in c.parts:
        columns[boxes[p.id].layer].append(p.id)
    # A long wire (across several columns) takes a slot of its own in each column it crosses
    # (a "dummy" node, as in Sugiyama's method), so it runs beside the gates there, not
    # through them and their labels. A wire across more than SLOT_SPAN columns (a long sum's
    # terms joining one by one) runs straight instead: slots for all of them would stack the
    # columns tall; so it does past MAX_DUMMIES slots in all.
    hops: list[list[str]] = [[] for _ in c.wires]
    spans = [boxes[w.target].layer - boxes[w.source].layer - 1 for w in c.wires]
    if sum(n for n in spans if n <= SLOT_SPAN) <= MAX_DUMMIES:
        for k, w in enumerate(c.wires):
            if spans[k] > SLOT_SPAN:
                continue
            for layer in range(boxes[w.source].layer + 1, boxes[w.target].layer):
                hops[k].append(f"d{k}.{layer}")
                columns[layer].append(hops[k][-1])
    preds: dict[str, list[str]] = {pid: [] for col in columns for pid in col}
    succs: dict[str, list[str]] = {pid: [] for col in columns for pid in col}
    for k, w in enumerate(c.wires):
        chain = [w.source, *hops[k], w.target]
        for src, dst in itertools.pairwise(chain):
            succs[src].append(dst)
            preds[dst].append(src)
    rank = {pid: float(i) for col in columns for i, pid in enumerate(col)}

    def sweep(order: range, near: dict[str, list[str]]) -> None:
        for layer in order:
            col = columns[layer]
            for pid in col:
                ks = near[pid]
                if ks:
                    rank[pid] = sum(rank[q] for q in ks) / len(ks)
            col.sort(key=lambda pid: rank[pid])  # stable: ties keep their order
            for i, pid in enumerate(col):
                rank[pid] = float(i)

    for _ in range(SWEEPS):
        sweep(range(1, top + 1), preds)
        sweep(range(top - 1, -1, -1), succs)

    # Sizes. Each wire leaves its part on a short horizontal stub that carries its labels
    # (name and value above, gradient below); a part with several wires out (fan-out) gives
    # each its own stub, stacked. A column is as wide as its widest part plus its longest
    # stub; a part as tall as its stack of stubs.
    notes = notes or {}
    for pid, b in boxes.items():  # a fan-out's sum is written under its part
        b.half = max(GATE_R, len(b.part.label) * CHAR_W / 2 + 8,
                     len(notes.get(pid, "")) * CHAR_W / 2 + 4)
    widths = [0.0] * (top + 1)  # of the parts in a column
    gaps = [COL_GAP] * (top + 1)  # after a column: its stubs, then room for the slant
    stub = [0.0] * len(c.wires)
    block = [0.0] * len(c.wires)  # height of a wire's labels
    for k, w in enumerate(c.wires):
        vals, grads, head = _wire_lines(c, k)
        stub[k] = _label_width([*vals, *grads, head]) + 16
        block[k] = (len(vals) + len(grads) + (1 if head else 0)) * LINE_H + 12
        layer = boxes[w.source].layer
        gaps[layer] = max(gaps[layer], stub[k] + 2 * COL_GAP)
    height: dict[str, float] = {}
    for layer, col in enumerate(columns):
        for pid in col:
            if pid not in boxes:  # a long wire's slot
                height[pid] = DUMMY_H
                continue
            widths[layer] = max(widths[layer], 2 * boxes[pid].half)
            ks = outs[pid]
            stack = sum(block[k] for k in ks) if len(ks) > 1 else max(
                (block[k] for k in ks), default=0.0)
            height[pid] = max(2 * GATE_R + (LINE_H if pid in notes else 0), stack) + ROW_GAP
    tallest = max((sum(height[pid] for pid in col) for col in columns), default=0.0)
    wire_y = [0.0] * len(c.wires)
    slot: dict[str, tuple[float, float, float]] = {}  # dummy -> (x, y, half the column)
    x = 24.0
    for layer, col in enumerate(columns):
        x += widths[layer] / 2
        y = 40.0 + (tallest - sum(height[pid] for pid in col)) / 2  # centred on the tallest
        for pid in col:
            if pid not in boxes:
                slot[pid] = (x, y + height[pid] / 2, widths[layer] / 2)
                y += height[pid]
                continue
            b = boxes[pid]
            b.x, b.y, b.gap = x, y + height[pid] / 2, gaps[layer]
            y += height[pid]
            ks = outs[pid]
            if len(ks) > 1:  # stubs stacked around the part's centre, in the targets' order
                ks = sorted(ks, key=lambda k: rank[(hops[k] or [c.wires[k].target])[0]])
                top_y = b.y - sum(block[k] for k in ks) / 2
                for k in ks:
                    wire_y[k] = top_y + block[k] - _grad_room(c, k)
                    top_y += block[k]
            else:
                for k in ks:
                    wire_y[k] = b.y
        x += widths[layer] / 2 + gaps[layer]
    for pid, b in boxes.items():
        b.stubs = {k: stub[k] for k in outs[pid]}
    points = [[slot[d] for d in hops[k]] for k in range(len(c.wires))]
    return boxes, wire_y, points, x - gaps[-1] + 40.0, 40.0 + tallest + 24.0


def _grad_room(c: Circuit, k: int) -> float:
    """Room below a wire for its gradient's lines."""
    _, grads, _ = _wire_lines(c, k)
    return len(grads) * LINE_H + 6


# --- the steps ------------------------------------------------------------------------------

def _caption_groups(lines: list[tuple[str, str]], forward: int, backward: int,
                    ) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """steps.render_lines split by step: the start, each forward step, each backward step.

    render_lines writes two heading lines, one line per forward step and a blank line, then
    a heading and, per backward step, a bold first line and its plain lines; a closing bold
    line lists the gradients. That last line joins the last step (or the start)."""
    text = [t for _, t in lines]
    start = text[:2]
    fwd = [[t] for t in text[2:2 + forward]]
    rest = lines[2 + forward + 1:]
    heading = rest[0][1] if rest else ""
    groups: list[list[str]] = []
    for style, t in rest[1:]:
        if style == "bold" or not groups:
            groups.append([t])
        else:
            groups[-1].append(t)
    tail: list[str] = []
    if len(groups) == backward + 1:
        tail = groups.pop()
    if len(groups) != backward:
        raise RuntimeError(f"the step replay has {len(groups)} groups of lines for "
                           f"{backward} steps")
    if groups:
        groups[0].insert(0, heading)
        groups[-1] += tail
    else:
        start += [heading, *tail]
    return start, fwd, groups


def replay_data(result: Result) -> Replay:
    """The laid-out circuit and the steps of an evaluated Result (it needs --at)."""
    if result.value is None:
        raise InputError("the replay needs values for the inputs", where="--at",
                         hint='e.g. --at x=-2,y=5,z=-4')
    graph = result.graph
    if len(graph.nodes) > MAX_NODES:
        raise InputError(f"{len(graph.nodes):,} nodes are too many for the replay page "
                         f"(at most {MAX_NODES:,})", where="EXPR",
                         hint="use `backprop steps` for the text replay, or `backprop graph "
                         "--format dot` for the whole picture")
    c = circuit(result)
    # Captions call a long unnamed gate g1, g2, ... (its text on hover), and its wire says so.
    names, labels = short_names(result)
    for w in c.wires:
        nid = int(w.source[1:]) if w.source.startswith("n") else -1
        if w.name is None and 0 <= nid < len(names) and names[nid] in labels:
            w.name = names[nid]
    part_of: dict[str, str] = {}  # a step's node name -> its picture id
    for node in graph.nodes:
        if node.inputs or node.name is not None:
            part_of.setdefault(names[node.id], f"n{node.id}")
    fwd = forward_steps(result, names)
    back = backward_steps(result, names=names)
    start, fwd_lines, back_lines = _caption_groups(render_lines(result, back, fwd),
                                                   len(fwd), len(back))
    from_wires: dict[str, list[int]] = {}
    into_wires: dict[str, list[int]] = {}
    for k, w in enumerate(c.wires):
        from_wires.setdefault(w.source, []).append(k)
        into_wires.setdefault(w.target, []).append(k)
    stages = [Stage("start", None, start)]
    value_from = [0] * len(c.wires)
    grad_from: list[int | None] = [None] * len(c.wires)
    sum_from: dict[str, tuple[int, str]] = {}
    for i, (f, cap) in enumerate(zip(fwd, fwd_lines), 1):
        pid = part_of[f.node]
        k = len(stages)
        for j in from_wires.get(pid, []):
            value_from[j] = k
        stages.append(Stage("forward", pid, cap, from_wires.get(pid, []),
                            f"forward step {i} of {len(fwd)}"))
    arrays = result.shaped
    for i, (s, cap) in enumerate(zip(back, back_lines), 1):
        pid = part_of[s.node]
        k = len(stages)
        if s.kind == "fan-out":  # each branch lit, and their sum written under the input
            lit = from_wires.get(pid, [])
        else:
            lit = into_wires.get(pid, [])
            for j in lit:
                if c.wires[j].grad is not None:
                    grad_from[j] = k
            if s.seed:
                for j in from_wires.get(pid, []):
                    if c.wires[j].target == "out":
                        grad_from[j] = k
                        lit = [*lit, j]
        if s.branches:
            total = "".join(_lines(s.upstream, arrays))
            sum_from[pid] = (k, f"Σ {len(s.branches)} branches = {total}")
        stages.append(Stage(s.kind, pid, cap, lit, f"backward step {i} of {len(back)}"))
    boxes, wire_y, points, width, height = layout(c, {pid: t for pid, (_, t) in sum_from.items()})
    return Replay(result, c, boxes, wire_y, points, stages, value_from, grad_from, sum_from, width,
                  height, labels)


# --- HTML -----------------------------------------------------------------------------------

def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no `</script>`, no `<!--`, no `&` entity
    and no U+2028/U+2029 (line breaks to older JavaScript parsers) survive unescaped."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _text_block(x: float, y: float, lines: list[str], cls: str, step: int | None,
                up: bool) -> str:
    """Lines of text centred at x, stacked upward from y (``up``) or downward from it."""
    if not lines:
        return ""
    attrs = f' data-from="{step}"' if step is not None else ""
    attrs += f' fill="{_FILL[cls.split()[0]]}"' if cls.split()[0] in _FILL else ""
    ys = [y - (len(lines) - 1 - i) * LINE_H for i in range(len(lines))] if up else \
        [y + i * LINE_H for i in range(len(lines))]
    spans = "".join(f'<tspan x="{x:.1f}" y="{yy:.1f}">{_e(t)}</tspan>'
                    for t, yy in zip(lines, ys))
    return (f'<text class="{cls}"{attrs} text-anchor="middle" xml:space="preserve">{spans}'
            "</text>")


# Colours also as presentation attributes, so that the SVG reads right without the page's
# style sheet (in a notebook); the page's CSS overrides them to highlight.
_FILL = {"value": "#1a7f37", "grad": "#cf222e", "name": "#424a53"}


def wire_path(r: Replay, k: int) -> tuple[list[tuple[float, float]], tuple[float, float]]:
    """Wire ``k``'s corners, from its source's edge along its stub (and through its slot in
    each column a long wire crosses) to its target's edge; and the middle of its stub, where
    its labels go (the worksheets put their blanks there too)."""
    w = r.circuit.wires[k]
    a, b = r.boxes[w.source], r.boxes[w.target]
    x1, y0, x2, y2 = a.x + a.half, a.y, b.x - b.half, b.y
    y1 = r.wire_y[k]
    sx = min(x1 + a.stubs[k], x2 - 12)  # the stub's end
    middle = ((x1 + sx) / 2, y1)
    if r.points[k]:  # a long wire: through its slot in each column it crosses
        sx = min(sx, r.points[k][0][0] - r.points[k][0][2] - 12)
    corners = [(x1, y0)] + ([(x1 + 6, y1)] if y1 != y0 else []) + [(sx, y1)]
    for px, py, hw in r.points[k]:
        corners += [(px - hw, py), (px + hw, py)]
    return [*corners, (x2, y2)], middle


def svg(r: Replay, prefix: str | None = None) -> str:
    """The circuit as SVG: wires with their labels (values above, gradients below), then parts.

    For the page (``prefix`` None): ids the script finds, and ``data-from`` on each label (the
    step from which it is shown). With a ``prefix`` (a notebook's static picture): everything
    shown, and no ids but the arrowhead's, made unique by the prefix."""
    c = r.circuit
    page = prefix is None
    arrow = "arrow" if page else f"{prefix}-arrow"
    size = f'viewBox="0 0 {r.width:.0f} {r.height:.0f}" width="{r.width:.0f}" ' \
           f'height="{r.height:.0f}"'
    title = f"The circuit of {_e(r.result.output)}: values above the wires, gradients below"
    if page:
        out = [f'<svg id="circuit" role="img" aria-labelledby="circuit-title" {size} '
               f'data-width="{r.width:.0f}" data-height="{r.height:.0f}">',
               f'<title id="circuit-title">{title}</title>']
    else:
        out = [f'<svg role="img" {size} font-family="ui-monospace, Menlo, Consolas, '
               f'monospace" font-size="12"><title>{title}</title>']
    out.append(f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" '
               'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead" '
               'fill="#57606a"/></marker></defs>')

    def step(k: int | None) -> int | None:
        return k if page else None

    for k in range(len(c.wires)):
        vals, grads, head = _wire_lines(c, k)
        corners, (mx, my) = wire_path(r, k)
        path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in corners)
        wid = f' id="w{k}"' if page else ""
        out.append(f'<g class="wire"{wid}><path d="{path}" marker-end="url(#{arrow})" '
                   'fill="none" stroke="#57606a" stroke-width="1.3"/>')
        above = [head] if head else []
        out.append(_text_block(mx, my - 5 - len(vals) * LINE_H, above, "name", None, True))
        out.append(_text_block(mx, my - 5, vals, "value", step(r.value_from[k]), True))
        out.append(_text_block(mx, my + 14, grads, "grad", step(r.grad_from[k]), False))
        out.append("</g>")
    for pid, b in r.boxes.items():
        p = b.part
        cls = {"gate": "gate", "input": "input", "const": "const", "output": "output"}[p.kind]
        pid_attr = f' id="p-{pid}"' if page else ""
        out.append(f'<g class="part {cls}"{pid_attr}>')
        if p.kind == "gate":
            paint = 'fill="#ffffff" stroke="#24292f" stroke-width="1.5"'
            if b.half <= GATE_R:
                out.append(f'<circle cx="{b.x:.1f}" cy="{b.y:.1f}" r="{GATE_R:.0f}" {paint}/>')
            else:
                out.append(f'<rect x="{b.x - b.half:.1f}" y="{b.y - GATE_R:.1f}" '
                           f'width="{2 * b.half:.1f}" height="{2 * GATE_R:.0f}" '
                           f'rx="{GATE_R:.0f}" {paint}/>')
        else:
            out.append(f'<rect x="{b.x - b.half:.1f}" y="{b.y - 12:.1f}" width="{2 * b.half:.1f}" '
                       'height="24" rx="4" fill="#ffffff" stroke="none"/>')
        weight = ' font-weight="bold"' if p.kind in ("input", "output") else ""
        out.append(f'<text x="{b.x:.1f}" y="{b.y + 4.5:.1f}" text-anchor="middle" '
                   f'fill="#1f2328"{weight}>{_e(p.label)}</text>')
        if pid in r.sum_from:
            at, note = r.sum_from[pid]
            out.append(_text_block(b.x, b.y + GATE_R + 14, [note], "grad sum", step(at), False))
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def static_svg(r: Replay, prefix: str) -> str:
    """The circuit with every value and gradient shown: a picture for notebooks."""
    return svg(r, prefix)


def _asset(name: str) -> str:
    return (resources.files(__package__) / "assets" / name).read_text(encoding="utf-8")


def _checked(result: Result) -> str:
    """What was proved about each gradient, in the words of concepts/what-a-check-proves.md."""
    v = result.verification
    if v is None:
        return "Gradients not checked (--check none)."
    parts: list[tuple[str, str]] = []
    for chk in v.checks:
        if chk.status == "fail":
            how = "FAILED its check"
        elif chk.status == "unchecked":
            how = "not checked"
        elif chk.sympy_value is not None:
            how = "proved by sympy"
        elif chk.numeric is not None:
            how = "finite differences only"
        else:
            how = "not checked"
        if chk.status == "kink":
            how += " (a subgradient: not differentiable here)"
        parts.append((f"∂{result.output}/∂{chk.variable}", how))
    groups: dict[str, list[str]] = {}
    for name, how in parts:
        groups.setdefault(how, []).append(name)
    if len(groups) == 1 and len(parts) > 3:
        (how, names), = groups.items()
        said = [f"all {len(names)} gradients {how}"]
    else:
        said = [f"{name} {how}" for name, how in parts]
    if v.direction is not None:
        for name, d in v.direction.items():
            if isinstance(d, dict):
                ok = "held" if d.get("ok") else "did not hold"
                said.append(f"the random-direction check by {name} {ok}")
    return "Checks: " + "; ".join(said) + "." if said else "No gradients to check."


def _clip(s: str, limit: int = 120) -> str:
    return s if len(s) <= limit else s[:limit - 1] + "…"


def _long(text: str, summary: str, limit: int = 240) -> str:
    """Escaped text, folded into a <details> element when it is long."""
    if len(text) <= limit:
        return f'<p class="meta">{_e(text)}</p>'
    return (f'<details class="meta"><summary>{_e(summary)}</summary><p>{_e(text)}</p>'
            "</details>")


def replay_html(result: Result, *, title: str | None = None) -> str:
    """The whole page: self-contained, offline, no server."""
    return page_html(replay_data(result), title=title)


def page_html(r: Replay, *, title: str | None = None) -> str:
    """The page of laid-out replay data."""
    result = r.result
    data = {"steps": [{"kind": s.kind, "node": s.node, "caption": s.caption,
                       "wires": s.wires, "label": s.label} for s in r.stages],
            "labels": r.labels}
    point = ", ".join(f"{k} = {''.join(_lines(v, result.shaped))}"
                      for k, v in (result.point or {}).items())
    heading = title or f"Backprop replay: {_clip(' '.join(result.expression.split()))}"
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # No network: scripts, styles and images only from this file.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(heading)}</title><style>{_asset('replay.css')}</style></head><body>",
        '<main class="backprop-replay">',
        f"<h1>{_e(heading)}</h1>",
        _long(f"inputs: {point}", f"inputs ({len(result.point or {})})"),
        _long(f"{result.output} = {''.join(_lines(result.value, result.shaped))} · "
              f"upstream seed: {''.join(_lines(result.seed, result.shaped))}", "value"),
        _long(_checked(result), "what was checked"),
        '<p class="legend">On each wire: <span class="value">forward value</span> above, '
        f'<span class="grad">gradient ∂{_e(result.output)}/∂wire</span> below.</p>',
        '<div class="controls" role="toolbar" aria-label="replay controls">',
        '<button type="button" id="first" aria-label="first step">« first</button>',
        '<button type="button" id="prev" aria-label="previous step">◀ prev</button>',
        '<button type="button" id="play" aria-label="play" aria-pressed="false">▶ play</button>',
        '<button type="button" id="next" aria-label="next step">next ▶</button>',
        '<button type="button" id="last" aria-label="last step">last »</button>',
        f'<input type="range" id="slider" min="0" max="{len(r.stages) - 1}" value="0" '
        'aria-label="step">',
        '<span id="counter" aria-hidden="true"></span>',
        '<a id="permalink" href="#step-0">link to this step</a>',
        '<span class="zoom"><button type="button" id="zoom-out" aria-label="zoom out">−</button>'
        '<button type="button" id="zoom-fit" aria-label="fit to the window">fit</button>'
        '<button type="button" id="zoom-in" aria-label="zoom in">+</button></span>',
        "</div>",
        '<div id="caption" class="caption" aria-live="polite" aria-atomic="true" '
        'tabindex="-1"></div>',
        f'<div id="stage" class="stage" tabindex="0" aria-label="circuit; scroll to move">{svg(r)}'
        "</div>",
        '<p class="keys">Keys: → or n next, ← or p previous, Home/End first/last, space '
        "play/pause, + and − zoom. A link such as #step-3 opens that step.</p>",
        "</main>",
        f'<script type="application/json" id="replay-data">{script_json(data)}</script>',
        f"<script>{_asset('replay.js')}</script>",
        "</body></html>\n",
    ])
