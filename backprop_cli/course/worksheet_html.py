"""The HTML worksheet of `make --worksheet FILE.html`: one self-contained page a student can read
and print, each circuit drawn as the replay draws it with a blank on each wire.

Each problem: its expression, its point, the circuit (views/replay.py's layout, laid out
with the numbers so that each wire keeps their room, then drawn without them), a dashed box
above a wire where its forward value is asked and below it where its gradient is, labelled
with the answer's name, and a table with a blank for every answer the key grades. Print CSS:
one problem per page where it fits, no borders cut. Every piece of text is escaped; no
script, nothing from the network.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: #1f2328; background: #fff; margin: 0 auto; padding: 12px 20px; max-width: 1000px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.4em; }
pre { background: #f6f8fa; padding: 6px 10px; border-radius: 6px; }
.circuit { overflow-x: auto; margin: 8px 0; }
.circuit svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; margin: 6px 0 18px; }
th, td { border: 1px solid #8c959f; padding: 4px 10px; text-align: left; }
td.blank { min-width: 14em; height: 1.6em; }
.blank-box { fill: none; stroke: #57606a; stroke-dasharray: 3 2; }
.blank-label { fill: #57606a; font-size: 10px; }
@media print {
  body { max-width: none; padding: 0; }
  section.problem { break-inside: avoid; page-break-inside: avoid; }
  .circuit { overflow: visible; }
  pre { background: none; border: 1px solid #8c959f; }
}
"""
BLANK_H = 15.0


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _answer_nodes(result: Any, keys: Sequence[str]) -> dict[tuple[str, int], str]:
    """(kind, node) -> the answer's name, for the answers the key asks."""
    from ..checks.answers import _Keys

    resolve = _Keys(result).resolve
    return {resolve(k): k for k in keys}


@dataclass
class Blank:
    """Where an answer goes on the circuit: a box (top left, width) and the answer's name."""

    x: float
    y: float
    width: float
    name: str


def blanks(data: Any, result: Any, keys: Sequence[str]) -> list[Blank]:
    """A box above a wire whose forward value is asked (over its name, if it has one), below
    it for its gradient; a fan-out input's gradient (the sum of its branches) under it."""
    from ..views.replay import LINE_H, _wire_lines, wire_path

    c = data.circuit
    asked = _answer_nodes(result, keys)
    wires_out: dict[str, int] = {}
    for w in c.wires:
        wires_out[w.source] = wires_out.get(w.source, 0) + 1
    out: list[Blank] = []
    for k, w in enumerate(c.wires):
        if not w.source.startswith("n"):
            continue
        nid = int(w.source[1:])
        a = data.boxes[w.source]
        corners, (mx, y) = wire_path(data, k)
        width = max(36.0, 2 * (mx - corners[0][0]) - 8)
        above = y - 6 - BLANK_H - (LINE_H if _wire_lines(c, k)[2] else 0)
        for kind, top in (("value", above), ("gradient", y + 4)):
            name = asked.pop((kind, nid), None)
            if name is None:
                continue
            if kind == "gradient" and wires_out[w.source] > 1:
                out.append(Blank(a.x - 24, a.y + 10, 48, name))
            else:
                out.append(Blank(mx - width / 2, top, width, name))
    return out


def laid_out(result: Any) -> Any:
    """The replay's layout of the circuit, made with its numbers (so each wire keeps their
    room) and then stripped of them: values, gradients and fan-out sums are answers."""
    from ..views.replay import replay_data

    data = replay_data(result)
    data.circuit.numeric = False
    for p in data.circuit.parts:
        p.note = None
    data.sum_from = {}
    return data


def circuit_with_blanks(result: Any, keys: Sequence[str], prefix: str) -> str:
    """The circuit as SVG, no numbers, a labelled dashed box where each answer goes."""
    from ..views.replay import svg

    data = laid_out(result)
    drawing = svg(data, prefix=prefix)
    boxes = [_blank(b.x, b.y, b.width, b.name) for b in blanks(data, result, keys)]
    head, sep, tail = drawing.rpartition("</svg>")
    return head + "".join(boxes) + sep + tail


def _blank(x: float, y: float, width: float, name: str) -> str:
    """A dashed box for an answer, its name written small inside."""
    return (f'<rect class="blank-box" x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" '
            f'height="{BLANK_H:.0f}" fill="none" stroke="#57606a" stroke-dasharray="3 2"/>'
            f'<text class="blank-label" x="{x + 3:.1f}" y="{y + 11:.1f}" font-size="10" '
            f'fill="#57606a">{_e(name)}</text>')


def worksheet_html(made: Sequence[Any], title: str, number: Callable[[Any], str]) -> str:
    """The page: each problem's statement, its circuit with blanks, its answer table.
    ``number`` writes a point's value as the key does (make.py)."""
    from ..checks.evaluate import evaluate

    body = [f"<h1>{_e(title)}</h1>",
            "<p>Work each circuit forward (values), then backward (gradients). Write answers "
            "exactly, or rounded to two decimals. A dashed box above a wire is its forward "
            "value, below it its gradient. Where an upstream gradient arrives at the output, "
            "L is the loss the output feeds: ∂L/∂x = upstream × ∂f/∂x.</p>"]
    for k, m in enumerate(made, 1):
        d = m.draft
        result = evaluate(d.expression, d.at, upstream=1.0 if d.upstream is None
                          else d.upstream, check=())
        point = ", ".join(f"{n} = {number(v)}" for n, v in d.at.items())
        up = (f", with upstream gradient {number(d.upstream)} arriving at the output"
              if d.upstream is not None else "")
        body += [f'<section class="problem"><h2>Problem {k}: {_e(m.name)}</h2>',
                 f"<p>{_e(m.description)}.</p>", f"<pre>{_e(d.expression)}</pre>",
                 f"<p>At {_e(point)}{_e(up)}.</p>",
                 f'<div class="circuit">{circuit_with_blanks(result, list(m.answers), f"w{k}")}'
                 "</div>",
                 "<table><tr><th>answer</th><th>what</th><th>your answer</th></tr>"]
        body += [f'<tr><td><code>{_e(key)}</code></td><td>{_e(m.what(key))}</td>'
                 '<td class="blank"></td></tr>' for key in m.answers]
        body.append("</table></section>")
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        *body, "</main></body></html>\n"])
