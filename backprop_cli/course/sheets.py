"""A worksheet per student from a roster CSV: each row's own numbers (the variant settings
and the row's id, normalised as the graders normalise it), as a self-contained HTML page
with the circuits drawn (views/svg.py), ready to print or to send.

The roster is the platform's export: the id is the `email` column (Gradescope's roster and
submission_metadata.json), else `id` or `sid`, else the first column.
"""

from __future__ import annotations

import csv
import io
import re
from html import escape
from pathlib import Path

from ..core.errors import InputError
from . import make as mk
from .variants import VariantSettings

MAX_ROWS = 5000
ID_COLUMNS = ("email", "e-mail", "id", "sid", "student id")


def roster_ids(text: str, where: str = "--roster") -> list[str]:
    """The normalised ids of a roster CSV, in its order; duplicates are an error (two
    students would get one sheet)."""
    rows = list(csv.reader(io.StringIO(text)))
    rows = [r for r in rows if any(c.strip() for c in r)]
    if not rows:
        raise InputError("the roster is empty", where=where)
    header = [c.strip().casefold() for c in rows[0]]
    column = next((header.index(n) for n in ID_COLUMNS if n in header), None)
    body = rows[1:] if column is not None else rows
    column = column or 0
    if len(body) > MAX_ROWS:
        raise InputError(f"the roster has {len(body)} rows; at most {MAX_ROWS}", where=where)
    ids: list[str] = []
    seen: dict[str, int] = {}
    for k, row in enumerate(body, 2 if body is not rows else 1):
        raw = row[column] if column < len(row) else ""
        if not raw.strip():
            raise InputError(f"row {k} of the roster has no id", where=where)
        vid = mk.normalise_id(raw)
        if vid in seen:
            raise InputError(f"rows {seen[vid]} and {k} of the roster are the same student "
                             f"({vid})", where=where)
        seen[vid] = k
        ids.append(vid)
    return ids


def file_name(vid: str) -> str:
    return re.sub(r"[^a-z0-9@._+-]", "_", vid) + ".html"


def sheet_html(settings: VariantSettings, vid: str) -> str:
    from ..views.svg import circuit_svg

    title = settings.title(vid)
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:52em;margin:2em auto}"
           "td,th{border:1px solid #999;padding:.3em .6em}table{border-collapse:collapse}"
           "td.blank{min-width:12em}section{page-break-inside:avoid}</style></head><body>",
           f"<h1>{escape(title)}</h1>",
           f"<p>For <strong>{escape(vid)}</strong>: these numbers are yours. Work each "
           "circuit forward (values), then backward (gradients); write answers exactly or "
           "rounded to two decimals.</p>"]
    for k, m in enumerate(settings.made(vid), 1):
        point = ", ".join(f"{n} = {mk._point_text(v)}" for n, v in m.draft.at.items())
        up = (f", with upstream gradient {escape(mk._point_text(m.draft.upstream))} arriving "
              "at the output" if m.draft.upstream is not None else "")
        out += ["<section>", f"<h2>Problem {k}: {escape(m.name)}</h2>",
                f"<p>{escape(m.description)}.</p>",
                f"<pre>{escape(m.draft.expression.strip())}</pre>",
                circuit_svg(mk._symbolic(m), title=f"the circuit of {m.name}") or "",
                f"<p>At {escape(point)}{up}.</p>",
                "<table><tr><th>answer</th><th>what</th><th>your answer</th></tr>"]
        out += [f"<tr><td><code>{escape(key)}</code></td><td>{escape(m.what(key))}</td>"
                '<td class="blank"></td></tr>' for key in m.answers]
        out += ["</table>", "</section>"]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def write_sheets(settings: VariantSettings, ids: list[str], folder: Path) -> list[Path]:
    names: dict[str, str] = {}
    for vid in ids:
        name = file_name(vid)
        if name in names:
            raise InputError(f"'{names[name]}' and '{vid}' would share the file {name}",
                             where="--roster")
        names[name] = vid
    from ..core.fileio import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, vid in names.items():
        path = folder / name
        write_atomic(path, sheet_html(settings, vid), where="-o")
        written.append(path)
    return written
