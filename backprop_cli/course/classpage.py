"""How `backprop report` shows a ClassReport: rich tables for the terminal, one self-contained
offline HTML page (SVG charts, the circuits shaded where the chain breaks first), Markdown.

Every string from a results file (ids, problem and answer names, what a student wrote, the
grader's feedback) is escaped for where it lands: rich Text (never markup), html.escape, and
Markdown's specials plus HTML entities. ``names=False`` leaves the students' ids out (a page
to show the class); the teacher's default has them, in "students to follow up".
"""

from __future__ import annotations

import html
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table

from ..views.render import text
from .classreport import BINS, SHARES, ClassReport, ProblemSummary, SlipSummary
from .results import _md

SHARE_WORDS = {"correct": "right", "carried": "carried forward", "wrong": "wrong",
               "missing": "missing"}
SHARE_COLOURS = {"correct": "#1a7f37", "carried": "#0969da", "wrong": "#cf222e",
                 "missing": "#8c959f"}
BREAK_RGB = "207,34,46"  # the shade of a node where the chain breaks first


def _pct(k: int, n: int) -> str:
    return f"{100 * k / n:.0f} %" if n else "–"


def _of(k: int, n: int) -> str:
    return f"{k} of {n}"


def headline(r: ClassReport) -> str:
    return (f"{r.n} students: mean {r.mean:.1f} %, median {r.median:.1f} %"
            + (f"; {len(r.skipped)} files skipped" if r.skipped else ""))


def _example(s: SlipSummary) -> str:
    """One anonymised example: the problem and the grader's verdict on the answer."""
    prob, key, written, line = s.example
    return f"{prob}: {line or key + ' = ' + written}"


def _where(answers: list[tuple[str, str, int]], limit: int = 6) -> str:
    said = [f"{k} of {p} ({n})" for p, k, n in answers[:limit]]
    return ", ".join(said) + (f", … {len(answers) - limit} more" if len(answers) > limit else "")


# ---------------------------------------------------------------- terminal


def terminal(r: ClassReport, names: bool = True) -> Group:
    """The report as rich renderables, printed once by the CLI."""
    parts: list[RenderableType] = [text(headline(r), "bold")]
    most = max(r.histogram, default=0)
    hist = Table(title=text("Scores"), title_justify="left", header_style="bold")
    hist.add_column("score", no_wrap=True)
    hist.add_column("students", justify="right")
    hist.add_column("", no_wrap=True)
    for k, c in enumerate(r.histogram):
        bar = "█" * round(30 * c / most) if most else ""
        hist.add_row(text(f"{100 * k // BINS}–{100 * (k + 1) // BINS} %"), text(str(c)),
                     text(bar, "cyan"))
    parts.append(hist)
    shares = Table(title=text("Per answer"), title_justify="left", header_style="bold")
    for col in ("problem", "answer", "right", "carried", "wrong", "missing", "first wrong"):
        shares.add_column(col, justify="left" if col in ("problem", "answer") else "right")
    for p in r.problems:
        for k, a in enumerate(p.answers):
            shares.add_row(text(p.name if k == 0 else "", "bold cyan"), text(a.key),
                           *(text(_of(a.counts[s], a.students)) for s in SHARES),
                           text(str(a.first_wrong)), end_section=k == len(p.answers) - 1)
    parts.append(shares)
    slips = Table(title=text("Misconceptions"), title_justify="left", header_style="bold")
    slips.add_column("slip", style="bold", no_wrap=True)
    slips.add_column("students", justify="right", no_wrap=True)
    slips.add_column("on")
    slips.add_column("example (anonymised)")
    for slip in r.slips:
        slips.add_row(text(slip.name), text(_of(slip.students, r.n)),
                      text(_where(slip.answers)), text(_example(slip)))
    parts.append(slips if r.slips else text("No wrong answers.", "green"))
    if names and r.follow_up:
        fu = Table(title=text("Students to follow up"), title_justify="left",
                   header_style="bold")
        fu.add_column("student", style="bold cyan")
        fu.add_column("score", justify="right")
        fu.add_column("why")
        for f in r.follow_up:
            fu.add_row(text(f.id), text(f"{f.score:g}/{f.max_score:g}"),
                       text("; ".join(f.reasons)))
        parts.append(fu)
    for s in r.skipped:
        parts.append(text(f"skipped {s.source}: {s.why}", "yellow"))
    for n in r.notes:
        parts.append(text(f"note: {n}", "dim"))
    return Group(*parts)


# ---------------------------------------------------------------- Markdown


def markdown(r: ClassReport, names: bool = True) -> str:
    out = ["# Class report", "", _md(headline(r)), "", "## Scores", "",
           "| score | students |", "|---|---:|"]
    out += [f"| {100 * k // BINS}–{100 * (k + 1) // BINS} % | {c} |"
            for k, c in enumerate(r.histogram)]
    out += ["", "## Per answer", "",
            "| problem | answer | right | carried | wrong | missing | first wrong |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for p in r.problems:
        for a in p.answers:
            cells = " | ".join(f"{a.counts[s]} ({_pct(a.counts[s], a.students)})" for s in SHARES)
            out.append(f"| {_md(p.name)} | {_md(a.key)} | {cells} | {a.first_wrong} |")
    out += ["", "## Misconceptions", "", "| slip | students | on | example (anonymised) |",
            "|---|---:|---|---|"]
    for slip in r.slips:
        out.append(f"| {_md(slip.name)} | {_of(slip.students, r.n)} | "
                   f"{_md(_where(slip.answers))} | {_md(_example(slip))} |")
    if names and r.follow_up:
        out += ["", "## Students to follow up", "", "| student | score | why |", "|---|---:|---|"]
        out += [f"| {_md(f.id)} | {f.score:g}/{f.max_score:g} | {_md('; '.join(f.reasons))} |"
                for f in r.follow_up]
    if r.skipped:
        out += ["", "## Skipped files", ""]
        out += [f"- {_md(s.source)}: {_md(s.why)}" for s in r.skipped]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
  color: #1f2328; background: #fff; margin: 0 auto; padding: 12px 20px; max-width: 1100px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.15rem; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 6px 0; }
th, td { border-bottom: 1px solid #d0d7de; padding: 3px 8px; text-align: left;
  vertical-align: top; overflow-wrap: anywhere; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.meta { color: #424a53; } .skipped { color: #9a6700; }
.circuit { overflow: auto; border: 1px solid #d0d7de; border-radius: 6px; margin: 6px 0; }
code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9em; }
.key span { display: inline-block; width: 0.9em; height: 0.9em; margin: 0 4px 0 10px;
  vertical-align: middle; }
@media print { .circuit { overflow: visible; } }
"""


def _e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _histogram_svg(r: ClassReport) -> str:
    w, h, bar, gap = 520, 170, 44, 6
    most = max(r.histogram, default=0) or 1
    out = [f'<svg role="img" aria-labelledby="hist-title" width="{w}" height="{h + 40}" '
           f'viewBox="0 0 {w} {h + 40}" font-size="11" font-family="system-ui, sans-serif">',
           '<title id="hist-title">Scores: students per tenth of the points</title>']
    for k, c in enumerate(r.histogram):
        x = 10 + k * (bar + gap)
        bh = h * c / most
        out.append(f'<rect x="{x}" y="{h - bh + 14:.1f}" width="{bar}" height="{bh:.1f}" '
                   f'fill="#0969da"><title>{100 * k // BINS}–{100 * (k + 1) // BINS} %: '
                   f'{c} students</title></rect>')
        out.append(f'<text x="{x + bar / 2}" y="{h - bh + 10:.1f}" text-anchor="middle">{c}'
                   "</text>")
        out.append(f'<text x="{x + bar / 2}" y="{h + 28}" text-anchor="middle">'
                   f"{100 * k // BINS}–{100 * (k + 1) // BINS}</text>")
    out.append("</svg>")
    return "".join(out)


def _shares_svg(counts: dict[str, int], n: int) -> str:
    """One stacked bar: right, carried, wrong, missing, as shares of the students."""
    w = 240
    out = [f'<svg role="img" width="{w}" height="14" viewBox="0 0 {w} 14">',
           "<title>" + _e(", ".join(f"{SHARE_WORDS[s]} {counts[s]}" for s in SHARES))
           + "</title>"]
    x = 0.0
    for s in SHARES:
        width = w * counts[s] / n if n else 0.0
        if width:
            out.append(f'<rect x="{x:.1f}" y="0" width="{width:.1f}" height="14" '
                       f'fill="{SHARE_COLOURS[s]}"/>')
        x += width
    out.append("</svg>")
    return "".join(out)


def _circuit_svg(p: ProblemSummary, n: int, k: int) -> str:
    """The problem's circuit as the replay draws it, with a halo under each node where
    students' first wrong answer is: the darker, the more students."""
    from ..core.errors import BackpropError
    from ..views.replay import replay_data, svg

    try:
        data = replay_data(p.result)
    except BackpropError:
        return ""
    drawing = svg(data, prefix=f"class-{k}")
    per_node: dict[int, int] = {}
    for a in p.answers:
        if a.node is not None and a.first_wrong:
            per_node[a.node] = per_node.get(a.node, 0) + a.first_wrong
    halos = []
    for nid, c in per_node.items():
        box = data.boxes.get(f"n{nid}")
        if box is None:  # a constant folded into its gate: not drawn
            continue
        alpha = 0.15 + 0.75 * c / n
        halos.append(f'<rect x="{box.x - box.half - 9:.1f}" y="{box.y - 27:.1f}" '
                     f'width="{2 * box.half + 18:.1f}" height="54" rx="27" '
                     f'fill="rgba({BREAK_RGB},{alpha:.2f})" class="break" '
                     f'data-students="{c}"><title>{c} of {n} students</title></rect>')
    head, sep, tail = drawing.partition("</defs>")
    return head + sep + "".join(halos) + tail if sep else drawing


def html_page(r: ClassReport, names: bool = True, title: str = "Class report") -> str:
    """The whole page: self-contained, offline (no script, no network)."""
    body = [f"<h1>{_e(title)}</h1>", f'<p class="meta">{_e(headline(r))}</p>',
            "<h2>Scores</h2>", _histogram_svg(r)]
    body += ["<h2>Per problem and answer</h2>",
             '<p class="key">' + "".join(f'<span style="background:{SHARE_COLOURS[s]}">'
                                         f"</span>{SHARE_WORDS[s]}" for s in SHARES) + "</p>",
             "<table><tr><th>problem</th><th>answer</th><th>what</th><th></th><th>right</th>"
             "<th>carried</th><th>wrong</th><th>missing</th></tr>"]
    for p in r.problems:
        for a in p.answers:
            cells = "".join(f'<td class="n">{a.counts[s]}</td>' for s in SHARES)
            body.append(f"<tr><td>{_e(p.name)}</td><td><code>{_e(a.key)}</code></td>"
                        f"<td>{_e(a.what)}</td><td>{_shares_svg(a.counts, a.students)}</td>"
                        f"{cells}</tr>")
    body.append("</table>")
    body += ["<h2>Misconceptions</h2>"]
    if r.slips:
        body.append("<table><tr><th>slip</th><th>students</th><th>on</th>"
                    "<th>example (anonymised)</th></tr>")
        for slip in r.slips:
            body.append(f"<tr><td>{_e(slip.name)}</td>"
                        f'<td class="n">{_of(slip.students, r.n)}</td>'
                        f"<td>{_e(_where(slip.answers))}</td><td>{_e(_example(slip))}</td></tr>")
        body.append("</table>")
    else:
        body.append("<p>No wrong answers.</p>")
    body += ["<h2>Where the chain breaks first</h2>",
             '<p class="meta">Per problem, the answer where each student first went wrong, in '
             "the order the answers are computed (forward values, then gradients from the "
             "output back); in the circuit, each node is shaded by the share of students whose "
             "first wrong answer is there.</p>"]
    for k, p in enumerate(r.problems):
        broke = [a for a in p.answers if a.first_wrong]
        said = "; ".join(f"{a.key} ({_of(a.first_wrong, r.n)})" for a in broke) or "none"
        body.append(f"<h3>{_e(p.name)}</h3><p>First wrong answer: {_e(said)}; no wrong "
                    f"answer: {_of(p.no_wrong, r.n)}.</p>")
        if p.result is not None:
            body.append(f'<div class="circuit">{_circuit_svg(p, r.n, k)}</div>')
    if names:
        body.append("<h2>Students to follow up</h2>")
        if r.follow_up:
            body.append("<table><tr><th>student</th><th>score</th><th>why</th></tr>")
            body += [f'<tr><td>{_e(f.id)}</td><td class="n">{f.score:g}/{f.max_score:g}</td>'
                     f"<td>{_e('; '.join(f.reasons))}</td></tr>" for f in r.follow_up]
            body.append("</table>")
        else:
            body.append("<p>Nobody: every score is at least half the points and no slip "
                        "repeats.</p>")
    if r.skipped:
        body.append("<h2>Skipped files</h2><ul>")
        body += [f'<li class="skipped">{_e(s.source)}: {_e(s.why)}</li>' for s in r.skipped]
        body.append("</ul>")
    if r.notes:
        body.append("<ul>" + "".join(f'<li class="meta">{_e(n)}</li>' for n in r.notes)
                    + "</ul>")
    return "".join([
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        *body, "</main></body></html>\n"])


def render(r: ClassReport, fmt: str, names: bool = True) -> Any:
    """``fmt``: terminal (rich renderables), html, md, csv or json (text)."""
    from .classreport import to_csv

    if fmt == "html":
        return html_page(r, names)
    if fmt == "md":
        return markdown(r, names)
    if fmt == "csv":
        return to_csv(r, names)
    if fmt == "json":
        from ..core import jsonout

        return jsonout.dumps(r.to_dict(names))
    return terminal(r, names)
