"""Rich display in Jupyter: `_repr_html_` of results, answer checks and problem-set reports,
and `result.replay()`, through the core's display registry (no Jupyter needed here; the
example notebook is executed in tests/test_notebook.py)."""

from __future__ import annotations

import html
import re
import subprocess
import sys
from pathlib import Path

import backprop_cli as bp
from backprop_cli.core import display
from backprop_cli.views.notebook import ReplayFrame

ROOT = Path(__file__).resolve().parents[1]
LECTURE = ("(x+y)*z", "x=-2,y=5,z=-4")


def test_a_result_shows_its_node_table_gradients_and_circuit() -> None:
    page = bp.evaluate(*LECTURE)._repr_html_()
    assert page is not None
    assert "<table" in page and "<svg" in page
    assert ">(x+y)<" in page and ">-12<" in page  # a node, the output's value
    assert "∂f/∂x" in page and "proved by sympy" in page
    assert " id=" not in page.replace('id="c', "")  # no ids but the arrowhead's, made unique


def test_an_array_result_shows_matrices() -> None:
    r = bp.evaluate("sum((W@x)^2)", at="W=[[0.1,0.5],[-0.3,0.8]] x=[0.2,0.4]")
    page = r._repr_html_()
    assert page is not None and "[[0.088, 0.176], [0.104, 0.208]]" in " ".join(page.split())
    assert "shape 2×2" in page


def test_a_symbolic_result_shows_its_table_without_a_picture() -> None:
    page = bp.evaluate("(x+y)*z")._repr_html_()
    assert page is not None and "<table" in page and "<svg" not in page


def test_answers_show_each_verdict() -> None:
    page = bp.check_answers(*LECTURE, "dx=-4,dy=4")._repr_html_()
    assert page is not None
    assert "1 of 2 answers wrong" in page and "✗ wrong" in page and "✓ right" in page


def test_a_problem_set_report_shows_each_problem() -> None:
    report = bp.run_problems(ROOT / "examples" / "lecture.toml")
    page = report._repr_html_()
    assert page is not None and page.count("<tr>") == len(report.results) + 1
    assert report.summary_line() in page


def test_the_replay_is_an_inline_sandboxed_frame_of_the_page() -> None:
    frame = bp.evaluate(*LECTURE).replay()
    assert isinstance(frame, ReplayFrame)
    shown = frame._repr_html_()
    assert shown.startswith("<iframe ") and 'sandbox="allow-scripts"' in shown
    m = re.search(r'srcdoc="([^"]*)"', shown)
    assert m is not None and html.unescape(m.group(1)) == frame.html


def test_the_replay_saves_the_page(tmp_path: Path) -> None:
    out = bp.evaluate(*LECTURE).replay().save(tmp_path / "r.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_hostile_text_is_escaped_in_the_notebook() -> None:
    r = bp.evaluate("(x+y)*z # <script>alert(1)</script>", at=LECTURE[1])
    page = r._repr_html_()
    assert page is not None and "<script" not in page and "&lt;script&gt;" in page
    assert "<script" not in r.replay()._repr_html_().split("srcdoc=", 1)[1].split('"')[1]


def test_without_the_views_core_objects_fall_back_to_their_repr() -> None:
    # A fresh interpreter that imports the core alone: no renderer, so Jupyter uses repr.
    code = ("from backprop_cli.core import display; "
            "print(display.html('result', object()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    assert out.stdout.strip() == "None"


def test_the_registry_reports_a_missing_renderer() -> None:
    try:
        display.call("no-such-kind", object())
    except RuntimeError as exc:
        assert "no no-such-kind renderer" in str(exc)
    else:
        raise AssertionError("expected a RuntimeError")
