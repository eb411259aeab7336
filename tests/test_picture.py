"""`backprop graph`: DOT, Mermaid, the text tree, and SVG/PNG through Graphviz."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.core.parse import parse
from backprop_cli.views import picture as pic
from backprop_cli.views.names import node_names

from .conftest import NO_DOT, REPO, golden

AT = "x=-2,y=5,z=-4"
NEURON = "sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"

CASES = {
    "simple": ("(x+y)*z", AT, False),
    "named": ("q = x + y; f = q * z", AT, False),
    "neuron": (NEURON, NEURON_AT, False),
    "neuron_expanded": (NEURON, NEURON_AT, True),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_golden(case: str) -> None:
    expr, at, expand = CASES[case]
    golden(f"{case}.dot", pic.to_dot(evaluate(expr, at=at, check=(), expand=expand)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_mermaid_golden(case: str) -> None:
    expr, at, expand = CASES[case]
    golden(f"{case}.mmd", pic.to_mermaid(evaluate(expr, at=at, check=(), expand=expand)))


def test_lecture_circuit_numbers_on_the_wires() -> None:
    c = pic.circuit(evaluate("(x+y)*z", at=AT, check=()))
    wires = {(w.source, w.target): (w.value, w.grad) for w in c.wires}
    # x, y into +: values -2 and 5, gradient -4 each; q into *: 3 and -4; z: -4 and 3.
    assert wires[("n0", "n2")] == (-2, -4)
    assert wires[("n1", "n2")] == (5, -4)
    assert wires[("n2", "n4")] == (3, -4)
    assert wires[("n3", "n4")] == (-4, 3)
    assert wires[("n4", "out")] == (-12, 1)
    assert [p.label for p in c.parts if p.kind == "gate"] == ["+", "*"]


def test_expanded_neuron_circuit_is_the_lectures() -> None:
    c = pic.circuit(evaluate(NEURON, at=NEURON_AT, check=(), expand=True))
    assert [p.label for p in c.parts if p.kind == "gate"] == \
        ["*", "*", "+", "+", "*-1", "exp", "+1", "1/x"]
    assert not any(p.kind == "const" for p in c.parts)  # constants folded into +1 and 1/x
    chain = [w for w in c.wires if w.source not in ("n0", "n1", "n3", "n4", "n7")]
    assert [round(w.value, 2) for w in chain][-5:] == [1, -1, 0.37, 1.37, 0.73]
    assert [round(w.grad, 2) for w in chain][-5:] == [0.2, -0.2, -0.53, -0.53, 1.0]


@pytest.mark.parametrize("expr,label", [
    ("x + 1", "+1"), ("1 + x", "+1"), ("2 * x", "*2"), ("x - 3", "-3"), ("3 - x", "3-x"),
    ("1 / x", "1/x"), ("x / 4", "/4"), ("x ^ 2", "x^2"), ("2 ^ x", "2^x"), ("-x", "*-1"),
    ("max(x, 0)", "max(x, 0)"), ("x * y", "*"), ("exp(x)", "exp"),
])
def test_gate_labels_fold_constants(expr: str, label: str) -> None:
    g = parse(expr)
    assert pic.gate_label(g, g.output) == label


def test_all_constant_gate_draws_its_constants() -> None:
    c = pic.circuit(evaluate("2 * 3 + x", at="x=1", check=()))
    assert sorted(p.label for p in c.parts if p.kind == "const") == ["2", "3"]


def test_fan_out_input_shows_the_summed_gradient() -> None:
    c = pic.circuit(evaluate("x*y + x*x", at="x=3,y=2", check=()))
    x = next(p for p in c.parts if p.label == "x")
    assert x.note == "grad 8.00 (sum of 3 branches)"
    assert sorted(w.grad for w in c.wires if w.source == "n0") == [2, 3, 3]


def test_symbolic_picture_has_no_numbers() -> None:
    dot = pic.to_dot(evaluate("(x+y)*z"))
    assert "font color" not in dot
    assert "n0 -> n2" in dot


def test_labels_are_escaped() -> None:
    # Names are identifiers by the grammar; the pictures escape them anyway.
    r = evaluate("q = x + y; f = q * z", at=AT, check=())
    evil = 'q"]; a [label=<<b>x</b>>]; #<'
    r.graph.nodes[r.graph.named["q"]].name = evil
    r.graph.nodes[r.graph.variables["x"]].name = "x|y\"]"
    dot = pic.to_dot(r)
    assert evil not in dot and "&quot;]; a [label=&lt;&lt;b&gt;" in dot
    mermaid = pic.to_mermaid(r)
    assert evil not in mermaid and "x|y" not in mermaid
    assert "#quot;]; a [label=#lt;#lt;b#gt;x#lt;/b#gt;#gt;]; #35;#lt;" in mermaid
    if shutil.which("dot"):  # and Graphviz still reads the file
        ET.fromstring(pic.render_graphviz(dot, "svg"))


def test_text_tree() -> None:
    r = evaluate("q = x + y; f = q * z", at=AT, check=())
    rows = pic.tree_lines(r, node_names(r))
    assert [f"{a}{b}   {c}" for a, b, c in rows] == [
        "f  [*]   value -12.00   grad 1.00",
        "├── q  [+]   value 3.00   grad -4.00",
        "│   ├── x   value -2.00   grad -4.00",
        "│   └── y   value 5.00   grad -4.00",
        "└── z   value -4.00   grad 3.00",
    ]


def test_text_tree_does_not_repeat_shared_gates() -> None:
    # a fans out twice at every level: a tree that repeated gates would have 2^30 lines.
    expr = "a0 = x*y; " + "; ".join(f"a{k} = a{k - 1} * a{k - 1}" for k in range(1, 31))
    r = evaluate(expr, at="x=1,y=1", check=())
    rows = pic.tree_lines(r, node_names(r))
    assert len(rows) < 100
    assert any("(gate shown above)" in c for _, _, c in rows)


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "text"])
def test_deep_expression_pictures(fmt: str) -> None:
    depth = 10_000
    result = CliRunner().invoke(app, ["graph", "-", "--at", "x=0.5", "--format", fmt],
                                input="x" + "+x" * depth)
    assert result.exit_code == 0, result.output
    if fmt == "text":
        assert "tree cut at 40 levels (10,001 nodes in all)" in result.output
    else:
        assert f"n{depth}" in result.output and "out" in result.output
    if fmt == "mermaid":
        assert result.output.startswith("%% 20,001 edges: Mermaid draws at most 500")


@NO_DOT
@pytest.mark.parametrize("case", sorted(CASES))
def test_svg_has_every_node(case: str, tmp_path: Path) -> None:
    expr, at, expand = CASES[case]
    out = tmp_path / "g.svg"
    args = ["graph", expr, "--at", at, "-o", str(out)] + (["--expand"] if expand else [])
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    svg = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {t.text for g in svg.iterfind(".//s:g[@class='node']", ns)
              for t in g.iterfind("s:title", ns)}
    r = evaluate(expr, at=at, check=(), expand=expand)
    c = pic.circuit(r)
    assert titles == {p.id for p in c.parts}
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    for p in c.parts:
        assert p.label in texts
    for w in c.wires:  # every wire shows its value and its gradient
        assert pic.num(w.value) in texts and pic.num(w.grad) in texts
    edges = svg.findall(".//s:g[@class='edge']", ns)
    assert len(edges) >= len(c.wires)


@NO_DOT
def test_png_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "g.png"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "graph", "(x+y)*z", "--at", AT,
                           "-o", str(out)], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_missing_graphviz_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                              tmp_path: Path) -> None:
    monkeypatch.setattr(pic.shutil, "which", lambda name: None)
    result = CliRunner().invoke(app, ["graph", "(x+y)*z", "--at", AT, "-o",
                                      str(tmp_path / "g.svg")])
    assert result.exit_code == 2
    said = " ".join(result.output.split())  # the console wraps long lines
    assert "needs Graphviz's `dot` program" in said
    assert "apt-get install graphviz" in said
    assert "brew install graphviz" in said
    assert "Traceback" not in said
    assert not (tmp_path / "g.svg").exists()


def test_missing_graphviz_subprocess(tmp_path: Path) -> None:
    # No `dot` on an empty PATH: the real command must still exit 2 with the install hint.
    env = {**os.environ, "PYTHONPATH": str(REPO), "PATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "graph", "(x+y)*z", "--at", AT,
                           "--format", "svg"], capture_output=True, text=True, env=env,
                          check=False)
    assert done.returncode == 2
    assert "apt-get install graphviz" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("suffix,start", [(".dot", "digraph backprop {"), (".gv", "digraph"),
                                          (".mmd", "flowchart LR"), (".txt", "f, from the")])
def test_format_from_suffix(suffix: str, start: str, tmp_path: Path) -> None:
    out = tmp_path / f"g{suffix}"
    result = CliRunner().invoke(app, ["graph", "(x+y)*z", "--at", AT, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8").startswith(start)


def test_dot_to_stdout_matches_library() -> None:
    result = CliRunner().invoke(app, ["graph", "(x+y)*z", "--at", AT, "--format", "dot"])
    assert result.exit_code == 0
    assert result.stdout == pic.to_dot(evaluate("(x+y)*z", at=AT, check=()))


@pytest.mark.parametrize("args,message", [
    (["-o", "g.pdf"], "cannot tell the picture format"),
    (["--format", "jpeg"], "unknown --format 'jpeg'"),
    (["--format", "png"], "--format png needs a file"),
    (["--at", "x=1"], "no value"),
])
def test_bad_picture_requests_exit_2(args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["graph", "(x+y)*z", "--at", AT, *args]
                                if "--at" not in args else ["graph", "(x+y)*z", *args])
    assert result.exit_code == 2
    assert re.search(re.escape(message), result.output, re.IGNORECASE), result.output
    assert "Traceback" not in result.output
