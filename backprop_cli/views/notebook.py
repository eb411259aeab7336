"""Jupyter's rich display: HTML for results, answer checks and problem-set reports, and the
interactive replay inline.

Importing this module registers the renderers with core/display.py (the public API imports
it on first use); each renderer imports what it needs when it first runs, so the import
itself costs nothing. All text is escaped (html.escape); numbers are formatted as the tables
format them.
"""

from __future__ import annotations

import html
import itertools
from pathlib import Path
from typing import Any

from ..core import display
from ..core.result import Result

TABLE_ROWS = 60  # longer node tables keep their first and last rows, as `eval` does
PICTURE_MAX_NODES = 300  # larger circuits: no static picture (result.replay() scrolls)
_ids = itertools.count()

_STYLE = ("border-collapse:collapse;font-family:ui-monospace,Menlo,Consolas,monospace;"
          "font-size:12px;margin:4px 0")
_CELL = "border:1px solid #d0d7de;padding:2px 6px;text-align:left;vertical-align:top"
_VALUE = "color:#1a7f37"
_GRAD = "color:#cf222e"


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _table(head: list[str], rows: list[list[tuple[str, str]]], caption: str = "") -> str:
    """An HTML table; each cell is (text, inline style)."""
    out = [f'<table style="{_STYLE}">']
    if caption:
        out.append(f'<caption style="text-align:left;font-weight:bold">{_e(caption)}</caption>')
    out.append("<thead><tr>" + "".join(f'<th style="{_CELL}">{_e(h)}</th>' for h in head)
               + "</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join(f'<td style="{_CELL};{style}">{_e(text)}</td>'
                                    for text, style in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def result_html(result: Result) -> str:
    """The node table (value, local, upstream and downstream gradients), the gradients with
    what checked them, and the circuit as an inline SVG picture."""
    from .names import node_names
    from .render import elided, fmt
    from .replay import _checked, replay_data, static_svg

    names = node_names(result)
    numeric = result.value is not None
    rows: list[list[tuple[str, str]]] = []
    for rec in elided(result.nodes, TABLE_ROWS):
        if rec is None:
            rows.append([("…", "")] * 7)
            continue
        ins = [names[j] for j, const in zip(result.graph.nodes[rec.id].inputs,
                                            rec.input_is_const) if not const]
        local = ", ".join(fmt(v) for v, c in zip(rec.local or [], rec.input_is_const)
                          if not c) if numeric else ", ".join(rec.local_symbolic or [])
        down = ", ".join(fmt(v) for v, c in zip(rec.downstream or [], rec.input_is_const)
                         if not c)
        rows.append([(names[rec.id], "font-weight:bold"), (rec.gate, ""),
                     (", ".join(ins), ""), (fmt(rec.value) if numeric else "", _VALUE),
                     (local, ""), (fmt(rec.upstream) if rec.upstream is not None else "",
                                   _GRAD), (down, _GRAD)])
    out = [f'<div class="backprop-result"><p style="margin:2px 0"><b>{_e(result.output)} = '
           f"{_e(fmt(result.value) if numeric else result.expression)}</b> "
           f"<span>{_e(result.expression)}</span></p>",
           _table(["node", "gate", "inputs", "value", "local", "upstream", "downstream"],
                  rows, "nodes, in topological order")]
    if result.gradients:
        grads = [[(f"∂{result.output}/∂{k}", ""), (fmt(v), _GRAD)]
                 for k, v in result.gradients.items()]
        out.append(_table(["gradient", "backprop"], grads))
        out.append(f'<p style="margin:2px 0">{_e(_checked(result))}</p>')
    if numeric and len(result.graph.nodes) <= PICTURE_MAX_NODES:
        out.append('<div style="overflow:auto;max-height:480px">'
                   f"{static_svg(replay_data(result), f'c{next(_ids)}')}</div>")
    elif numeric:
        out.append(f"<p>The circuit ({len(result.graph.nodes):,} nodes) is not drawn here: "
                   "result.replay() shows it, scrollable.</p>")
    out.append("</div>")
    return "".join(out)


def answers_html(answers: Any) -> str:
    """Each answer: yours, the correct value, the verdict, and the hints."""
    from .render import fmt

    rows = []
    for c in answers.checks:
        mark = ("✓ right", "color:#1a7f37;font-weight:bold") if c.ok else \
            ("✗ wrong", "color:#cf222e;font-weight:bold")
        rows.append([(c.key, "font-weight:bold"), (c.written, ""), (fmt(c.truth), ""), mark,
                     (c.rounding, ""), ("; ".join(c.hints), "")])
    verdict = "all answers right" if answers.ok else \
        f"{len(answers.mismatches)} of {len(answers.checks)} answers wrong"
    return _table(["answer", "yours", "correct", "verdict", "rounding", "hints"], rows,
                  verdict)


def batch_html(report: Any) -> str:
    """One row per problem, then the summary line."""
    rows = []
    for r in report.results:
        colour = {"pass": "color:#1a7f37", "fail": "color:#cf222e",
                  "error": "color:#9a6700"}.get(r.status, "")
        rows.append([(r.name, "font-weight:bold"), (r.status, colour + ";font-weight:bold"),
                     (r.expression, ""), ("; ".join(r.differences()), "")])
    title = report.title or report.source
    return _table(["problem", "status", "expression", "what differed"], rows,
                  f"{title}: {report.summary_line()}")


class ReplayFrame:
    """The replay page, shown inline in Jupyter in a sandboxed iframe (scripts only: no
    access to the notebook), or saved as a file."""

    def __init__(self, result: Result, height: int | None = None) -> None:
        from .replay import page_html, replay_data

        data = replay_data(result)
        self.result = result
        self.html = page_html(data)
        self.height = height or int(min(900, 380 + data.height))

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{_e(self.html)}" sandbox="allow-scripts" '
                f'title="backprop replay of {_e(self.result.expression)}" '
                f'style="width:100%;height:{self.height}px;border:1px solid #d0d7de"></iframe>')

    def save(self, path: str | Path) -> Path:
        """Write the page (self-contained, as `backprop replay -o`); returns the path."""
        out = Path(path)
        out.write_text(self.html, encoding="utf-8")
        return out

    def __repr__(self) -> str:
        return f"<backprop replay of {self.result.expression!r}: {len(self.html):,} bytes>"


display.register("result", result_html)
display.register("answers", answers_html)
display.register("batch", batch_html)
display.register("replay", ReplayFrame)
