"""`backprop eval --format markdown|latex`: the node and gradient tables, ready to paste."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.views.export import latex, markdown, md, tex, tex_num

from .conftest import REPO, golden

AT = "x=-2,y=5,z=-4"
NEURON = "sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"

CASES = {
    "simple": ("(x+y)*z", AT, False),
    "named": ("q = x + y; f = q * z", AT, False),
    "neuron_expanded": (NEURON, NEURON_AT, True),
    "symbolic": ("(x+y)*z", None, False),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_markdown_golden(case: str) -> None:
    expr, at, expand = CASES[case]
    golden(f"{case}.md", markdown(evaluate(expr, at=at, expand=expand)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_latex_golden(case: str) -> None:
    expr, at, expand = CASES[case]
    golden(f"{case}.tex", latex(evaluate(expr, at=at, expand=expand)))


def test_markdown_lecture_rows() -> None:
    doc = markdown(evaluate("q = x + y; f = q * z", at=AT))
    assert "| q | add | x + y | 3 | ∂/∂x = 1<br>∂/∂y = 1 | -4 | → x: -4<br>→ y: -4 |" in doc
    assert "| z | -4 | 3 | x + y | 3 | 3 | pass |" in doc
    # Every table row has as many cells as its header.
    for block in doc.split("\n\n"):
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            assert len({r.count(" | ") for r in rows if not r.startswith("|-")}) == 1


def test_latex_uses_sympys_printer() -> None:
    doc = latex(evaluate(NEURON, at=NEURON_AT))
    # sympy's LaTeX: subscripts and fractions, not Python syntax
    assert "$w_{0}$" in doc and "\\frac{" in doc and "e^{" in doc
    assert "**" not in doc
    assert doc.count("\\begin{tabular}") == doc.count("\\end{tabular}")


def test_latex_unnamed_nodes_are_escaped() -> None:
    doc = latex(evaluate("(x+y)*z", at=AT))
    # \#2 everywhere, never a bare # (which LaTeX would reject)
    for line in doc.splitlines():
        if not line.startswith("%"):
            assert "#" not in line.replace("\\#", "")


def test_escaping_helpers() -> None:
    assert md("a|b*c_d`e<f>[g](h)") == "a\\|b\\*c\\_d\\`e\\<f\\>\\[g\\](h)"
    assert md("two\nlines") == "two lines"
    assert tex("a_b#c%d&e$f{g}h~i^j\\k") == (
        "a\\_b\\#c\\%d\\&e\\$f\\{g\\}h\\textasciitilde{}i\\textasciicircum{}j"
        "\\textbackslash{}k")
    assert tex("\x1b[31m") == "?[31m"
    assert tex_num(1e-5) == "1 \\cdot 10^{-5}"
    assert tex_num(-4.0) == "-4"


def test_long_tables_are_abbreviated() -> None:
    r = evaluate("x" + "+x" * 200, at="x=1", check=())
    doc = markdown(r, max_rows=20)
    assert "181 rows hidden at …" in doc
    assert latex(r, max_rows=20).count("\\ldots") >= 1


def test_cli_markdown_matches_library() -> None:
    result = CliRunner().invoke(app, ["eval", "(x+y)*z", "--at", AT, "--format", "markdown"])
    assert result.exit_code == 0
    assert result.stdout == markdown(evaluate("(x+y)*z", at=AT))


def test_cli_latex_expand_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", NEURON, "--at",
                           NEURON_AT, "--expand", "--format", "latex"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "& exp &" in done.stdout and "& neg &" in done.stdout
    assert "sigmoid &" not in done.stdout  # no sigmoid gate left


def test_cli_expand_table() -> None:
    result = CliRunner().invoke(app, ["eval", NEURON, "--at", NEURON_AT, "--expand", "--json"])
    assert result.exit_code == 0
    assert "\"op\": \"exp\"" in result.stdout and "\"op\": \"sigmoid\"" not in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--format", "html"], "unknown --format 'html'"),
    (["--format", "latex", "--json"], "--json and --format cannot be combined"),
])
def test_bad_format_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["eval", "(x+y)*z", "--at", AT, *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_latex_heaviside_is_not_theta() -> None:
    # sympy prints Heaviside as \theta, which would read as the variable theta.
    doc = latex(evaluate("relu(theta) * max(x, y)", at="theta=0.5,x=1,y=-2"))
    assert "H\\left(" in doc
    assert "\\theta\\left(" not in doc


def assert_compiles(body: str, tmp_path: Path) -> None:
    """pdflatex accepts ``body`` in a minimal amsmath document."""
    (tmp_path / "t.tex").write_text(
        "\\documentclass{article}\\usepackage{amsmath}\\usepackage[margin=1cm]{geometry}"
        "\\begin{document}\\tiny\n" + body + "\\end{document}\n", encoding="utf-8")
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-2000:]


# --- vectors and matrices: shapes and abbreviated values ---------------------------------------

ARRAY_CASES = {
    "arrays_wx": ("sum((W@x)^2)", ["W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]"]),
    "arrays_xor": ("h = sigmoid(W1 @ x + b1); y = sigmoid(dot(w2, h) + b2)",
                   ["W1=[[20,20],[-20,-20]], b1=[-10,30], w2=[20,20], b2=-30", "x=[1,0]"]),
    "arrays_ce": ("cross_entropy(z, y)", ["z=[2,1,0.1], y=[0,1,0]"]),
}


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_markdown_arrays_golden(case: str) -> None:
    expr, at = ARRAY_CASES[case]
    golden(f"{case}.md", markdown(evaluate(expr, at=at)))


@pytest.mark.parametrize("case", sorted(ARRAY_CASES))
def test_latex_arrays_golden(case: str) -> None:
    expr, at = ARRAY_CASES[case]
    golden(f"{case}.tex", latex(evaluate(expr, at=at)))


def test_markdown_arrays_rows_have_shapes_and_the_lectures_numbers() -> None:
    doc = markdown(evaluate("sum((W@x)^2)", at=ARRAY_CASES["arrays_wx"][1]))
    assert "| x | var | x | 2 | \\[0.2, 0.4\\] | – | \\[-0.112, 0.636\\] |" in doc
    assert "| W | 2×2 | \\[\\[0.1, 0.5\\], \\[-0.3, 0.8\\]\\] | " \
        "\\[\\[0.088, 0.176\\], \\[0.104, 0.208\\]\\] |" in doc
    for block in doc.split("\n\n"):  # every row has as many cells as its header
        rows = [r for r in block.splitlines() if r.startswith("|")]
        if rows:
            assert len({r.count(" | ") for r in rows if not r.startswith("|-")}) == 1


def test_big_arrays_are_abbreviated_in_exports() -> None:
    r = evaluate("sum(A@x)", at={"x": [float(i) for i in range(10)],
                                 "A": [[1.0] * 10 for _ in range(8)]}, check=("numeric",))
    doc = markdown(r)
    assert "| x | var | x | 10 | 10: \\[0, 1, …, 9\\] |" in doc
    assert "8×10 \\[\\[1, 1, …, 1\\]," in doc
    tex_doc = latex(r)
    assert "\\left[0,\\ 1,\\ 2,\\ \\ldots,\\ 9\\right]" in tex_doc
    assert "\\vdots & \\vdots & \\vdots & \\vdots" in tex_doc and "$8\\times 10$" in tex_doc


def test_cli_markdown_arrays_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    expr, at = ARRAY_CASES["arrays_wx"]
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", expr, "--format",
                           "latex", *[a for v in at for a in ("--at", v)]],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "\\begin{bmatrix}0.088 & 0.176 \\\\ 0.104 & 0.208\\end{bmatrix}" in done.stdout


@pytest.mark.skipif(shutil.which("pdflatex") is None,
                    reason="pdflatex is not installed (apt-get install texlive-latex-base)")
def test_every_latex_export_compiles(tmp_path: Path) -> None:
    # One document, one pdflatex run (each run costs a second): pdflatex's log names the line.
    bodies = [latex(evaluate(expr, at=at, expand=expand))
              for expr, at, expand in (CASES[c] for c in sorted(CASES))]
    bodies += [latex(evaluate(expr, at=at)) for expr, at in ARRAY_CASES.values()]
    assert_compiles("\\clearpage\n".join(bodies), tmp_path)
