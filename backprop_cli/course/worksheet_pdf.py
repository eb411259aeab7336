"""The PDF worksheet of `make --worksheet FILE.pdf`: LaTeX with each circuit as a TikZ picture,
compiled by pdflatex when it is installed.

The picture is the HTML worksheet's (worksheet_html.py): the replay's layout, no numbers, a
dashed blank where each answer goes; its pixels become TikZ points, the whole picture scaled
down to the text width when it is wider. Every piece of text goes through export.tex.
pdflatex runs in a temporary folder, without shell escape, with a time limit; when it is
missing or fails, the command says so (exit 2) and writes nothing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import InputError

PX = 0.75  # TikZ points per pixel of the replay's layout
TEXT_WIDTH_PT = 455.0  # the article class's \textwidth with the margins below, in points
PDFLATEX_SECONDS = 120


def _pt(x: float, y: float) -> str:
    return f"({x * PX:.1f}pt,{-y * PX:.1f}pt)"


def tikz_circuit(result: Any, keys: Sequence[str]) -> str:
    """The circuit as a tikzpicture: wires with arrows, gates as circles (long labels as
    rounded boxes), inputs and the output by name, wire names, and the answers' blanks."""
    from ..views.export import tex
    from ..views.replay import GATE_R, _wire_lines, wire_path
    from .worksheet_html import BLANK_H, blanks, laid_out

    data = laid_out(result)
    c = data.circuit
    out = [r"\begin{tikzpicture}[font=\ttfamily\scriptsize, >=stealth]"]
    for k in range(len(c.wires)):
        corners, (mx, my) = wire_path(data, k)
        out.append(r"\draw[->, gray!70!black] " + " -- ".join(_pt(x, y) for x, y in corners)
                   + ";")
        head = _wire_lines(c, k)[2]
        if head:
            out.append(rf"\node[gray!70!black, above] at {_pt(mx, my - 2)} {{{tex(head)}}};")
    for b in data.boxes.values():
        label = tex(b.part.label)
        if b.part.kind == "gate":  # a circle; a long label (sigmoid) a rounded box
            shape = (f"circle, minimum size={2 * GATE_R * PX:.1f}pt" if b.half <= GATE_R else
                     f"rectangle, rounded corners={GATE_R * PX:.1f}pt, minimum width="
                     f"{2 * b.half * PX:.1f}pt, minimum height={2 * GATE_R * PX:.1f}pt")
            out.append(rf"\node[draw, {shape}, fill=white, inner sep=1pt] at "
                       rf"{_pt(b.x, b.y)} {{{label}}};")
        else:
            out.append(rf"\node[fill=white, inner sep=1pt] at {_pt(b.x, b.y)} "
                       rf"{{\textbf{{{label}}}}};")
    for bl in blanks(data, result, keys):
        out.append(rf"\draw[dashed, gray] {_pt(bl.x, bl.y)} rectangle "
                   rf"{_pt(bl.x + bl.width, bl.y + BLANK_H)};")
        out.append(rf"\node[gray, anchor=west, inner sep=1pt] at "
                   rf"{_pt(bl.x + 1, bl.y + BLANK_H / 2)} {{\tiny {tex(bl.name)}}};")
    out.append(r"\end{tikzpicture}")
    picture = "\n".join(out)
    if data.width * PX > TEXT_WIDTH_PT:  # too wide for the page: scaled to fit
        picture = r"\resizebox{\textwidth}{!}{%" + "\n" + picture + "\n}"
    return picture


def worksheet_tikz(made: Sequence[Any], title: str, number: Callable[[Any], str]) -> str:
    """A complete LaTeX document: each problem's statement, its circuit in TikZ with the
    blanks, and a table with a line for every answer."""
    from ..checks.evaluate import evaluate
    from ..views.export import tex

    out = [r"\documentclass[11pt]{article}", r"\usepackage[utf8]{inputenc}",
           r"\usepackage[T1]{fontenc}", r"\usepackage[margin=2cm]{geometry}",
           r"\usepackage{amsmath}", r"\usepackage{tikz}", r"\begin{document}",
           rf"\section*{{{tex(title)}}}",
           tex("Work each circuit forward (values), then backward (gradients). Write answers "
               "exactly, or rounded to two decimals. A dashed box above a wire is its forward "
               "value, below it its gradient.")]
    for k, m in enumerate(made, 1):
        d = m.draft
        result = evaluate(d.expression, d.at, upstream=1.0 if d.upstream is None
                          else d.upstream, check=())
        point = ", ".join(f"{n} = {number(v)}" for n, v in d.at.items())
        up = (f", with upstream gradient {number(d.upstream)} arriving at the output"
              if d.upstream is not None else "")
        out += [r"\begin{samepage}", rf"\subsection*{{Problem {k}: {tex(m.name)}}}",
                r"\noindent " + tex(m.description) + ".", "",
                r"\noindent\texttt{" + r"\\".join(tex(ln) for ln in d.expression.splitlines())
                + "}", "", r"\noindent " + tex(f"At {point}{up}."), "", r"\medskip",
                r"\noindent",
                tikz_circuit(result, list(m.answers)), r"\end{samepage}", "", r"\medskip",
                r"\begin{tabular}{lll}", r"answer & what & your answer \\ \hline"]
        out += [rf"\texttt{{{tex(key)}}} & {tex(m.what(key))} & \rule{{5cm}}{{0.4pt}} \\[6pt]"
                for key in m.answers]
        out += [r"\end{tabular}", ""]
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def worksheet_pdf(made: Sequence[Any], title: str, number: Callable[[Any], str]) -> bytes:
    """The TikZ worksheet compiled by pdflatex (once: nothing refers ahead); InputError
    when pdflatex is missing or fails."""
    exe = shutil.which("pdflatex")
    if exe is None:
        raise InputError("a PDF worksheet needs pdflatex, which is not installed",
                         where="--worksheet", hint="install TeX Live (apt-get install "
                         "texlive-latex-base texlive-pictures), or write FILE.tex or "
                         "FILE.html instead")
    source = worksheet_tikz(made, title, number)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "sheet.tex").write_text(source, encoding="utf-8")
        try:
            done = subprocess.run([exe, "-interaction=nonstopmode", "-halt-on-error",
                                   "-no-shell-escape", "sheet.tex"], cwd=folder,
                                  capture_output=True, timeout=PDFLATEX_SECONDS, check=False)
        except subprocess.TimeoutExpired:
            raise InputError(f"pdflatex did not finish in {PDFLATEX_SECONDS} s",
                             where="--worksheet") from None
        pdf = folder / "sheet.pdf"
        if done.returncode != 0 or not pdf.exists():
            log = done.stdout.decode("utf-8", "replace")
            first = next((ln for ln in log.splitlines() if ln.startswith("!")), "no message")
            raise InputError(f"pdflatex could not compile the worksheet: {first}",
                             where="--worksheet", hint="write FILE.tex and run pdflatex "
                             "on it to see the whole log")
        return pdf.read_bytes()
