"""The circuit as a self-contained SVG drawn here, without Graphviz: for web pages that
cannot run programs (a PrairieLearn question, a worksheet in the browser).

The lecture's picture (views/picture.py's parts and wires), laid out left to right in
columns: a part's column is one more than the furthest of its inputs, found in one pass in
the graph's (topological) order, so a deep circuit needs no recursion. Names are escaped;
numbers are drawn only when the result has them (worksheets and questions pass a circuit
without numbers, as make._symbolic does).
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..core.result import Result
from .picture import GRAD_COLOUR, VALUE_COLOUR, circuit, value_text

COLUMN = 130  # pixels between columns
ROW = 70  # pixels between rows
MARGIN = 40
RADIUS = 20
MAX_PARTS = 400  # past this a picture is no help: the caller shows the expression only


def circuit_svg(result: Result, *, title: str | None = None) -> str | None:
    """The circuit as an ``<svg>`` element (a string), or None when it is too large to draw."""
    c = circuit(result)
    if len(c.parts) > MAX_PARTS:
        return None
    column: dict[str, int] = {p.id: 0 for p in c.parts}
    inputs: dict[str, list[str]] = {p.id: [] for p in c.parts}
    for w in c.wires:  # wires come in the graph's order: a source's column is final first
        inputs[w.target].append(w.source)
        column[w.target] = max(column[w.target], column[w.source] + 1)
    rows: dict[int, list[str]] = {}
    for p in c.parts:
        rows.setdefault(column[p.id], []).append(p.id)
    pos: dict[str, tuple[float, float]] = {}
    tallest = max(len(ids) for ids in rows.values())
    for col, ids in rows.items():
        top = MARGIN + (tallest - len(ids)) * ROW / 2
        for k, pid in enumerate(ids):
            pos[pid] = (MARGIN + col * COLUMN, top + k * ROW)
    width = MARGIN * 2 + max(rows) * COLUMN + 60
    height = MARGIN * 2 + (tallest - 1) * ROW + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="14" '
           f'role="img">']
    if title:
        out.append(f"<title>{escape(title)}</title>")
    out.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
               'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
               '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>')
    kinds = {p.id: p.kind for p in c.parts}
    for w in c.wires:
        (x1, y1), (x2, y2) = pos[w.source], pos[w.target]
        x1 += RADIUS if kinds[w.source] == "gate" else 12
        x2 -= RADIUS if kinds[w.target] == "gate" else 14
        out.append(f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#555" '
                   'marker-end="url(#arrow)"/>')
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        if w.name:
            out.append(_text(mx, my - 6, w.name, "#000", italic=True))
        if c.numeric:
            out.append(_text(mx, my - (22 if w.name else 6), _num(w.value), VALUE_COLOUR))
            if w.grad is not None:
                out.append(_text(mx, my + 16, _num(w.grad), GRAD_COLOUR))
    for p in c.parts:
        x, y = pos[p.id]
        if p.kind == "gate":
            out.append(f'<circle cx="{x:g}" cy="{y:g}" r="{RADIUS}" fill="#fff" '
                       'stroke="#333" stroke-width="1.5"/>')
            out.append(_text(x, y + 5, p.label, "#000", size=13 if len(p.label) < 4 else 10))
        elif p.kind == "output":
            out.append(_text(x + 6, y + 5, p.label, "#000", anchor="start", italic=True))
        else:
            out.append(_text(x - 4, y + 5, p.label, "#000", anchor="end", italic=True))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _num(v: Any) -> str:
    return value_text(v, isinstance(v, list))


def _text(x: float, y: float, s: str, colour: str, *, anchor: str = "middle",
          italic: bool = False, size: int | None = None) -> str:
    style = ' font-style="italic"' if italic else ""
    font = f' font-size="{size}"' if size else ""
    return (f'<text x="{x:g}" y="{y:g}" text-anchor="{anchor}" fill="{colour}"{style}{font}>'
            f"{escape(s)}</text>")
