"""`backprop graph` with vectors and matrices: shapes on the wires, values abbreviated."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.views import picture as pic

from .conftest import NO_DOT, REPO, golden

WX = "sum((W@x)^2)"
WX_AT = ["W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]"]
XOR = "h = sigmoid(W1 @ x + b1); y = sigmoid(dot(w2, h) + b2)"
XOR_AT = ["W1=[[20,20],[-20,-20]], b1=[-10,30], w2=[20,20], b2=-30", "x=[1,0]"]
CASES = {"wx": (WX, WX_AT), "xor": (XOR, XOR_AT)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_dot_golden(case: str) -> None:
    expr, at = CASES[case]
    golden(f"arrays_{case}.dot", pic.to_dot(evaluate(expr, at=at, check=())))


@pytest.mark.parametrize("case", sorted(CASES))
def test_mermaid_golden(case: str) -> None:
    expr, at = CASES[case]
    golden(f"arrays_{case}.mmd", pic.to_mermaid(evaluate(expr, at=at, check=())))


def test_wx_wires_carry_shapes_values_and_gradients() -> None:
    r = evaluate(WX, at=WX_AT, check=())
    c = pic.circuit(r)
    wires = {(w.source, w.target): w for w in c.wires}
    w_in, x_in, q = wires[("n0", "n2")], wires[("n1", "n2")], wires[("n2", "n4")]
    assert (w_in.shape, x_in.shape, q.shape) == ([2, 2], [2], [2])
    # The lecture's slide: q = Wx = [0.22, 0.26], df/dq = 2q, dW = 2q xᵀ, dx = 2Wᵀq.
    w, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    qv = w @ x
    assert np.allclose(q.value, qv) and np.allclose(q.grad, 2 * qv)
    assert np.allclose(w_in.grad, np.outer(2 * qv, x))
    assert np.allclose(x_in.grad, 2 * w.T @ qv)
    assert pic.value_lines(q.value, True) == ["[0.22, 0.26]"]
    assert pic.value_lines(q.grad, True) == ["[0.44, 0.52]"]
    assert pic.value_lines(w_in.grad, True) == ["[[0.088, 0.176],", " [0.104, 0.208]]"]
    assert pic.value_lines(x_in.grad, True) == ["[-0.112, 0.636]"]
    dot = pic.to_dot(r)
    assert ">2×2<" in dot and "[0.22, 0.26]" in dot and "[-0.112, 0.636]" in dot


def test_big_arrays_are_abbreviated_with_their_shape() -> None:
    r = evaluate("sum(x*x) + sum(A@x)", at={"x": list(range(1, 11)),
                                            "A": [[float(i + j) for j in range(10)]
                                                  for i in range(7)]}, check=())
    c = pic.circuit(r)
    xw = next(w for w in c.wires if w.source == "n0")
    assert xw.shape == [10]
    assert pic.value_lines(xw.value, True) == ["[1, 2, 3, …, 10]"]
    aw = next(w for w in c.wires if w.shape == [7, 10])
    lines = pic.value_lines(aw.value, True)
    assert len(lines) == 5 and lines[3].strip() == "…,"
    assert lines[0] == "[[0, 1, 2, …, 9],"
    dot = pic.to_dot(r)
    assert "7×10" in dot and "10<" in dot
    mmd = pic.to_mermaid(r)
    assert "7×10<br/>" in mmd and "value [1, 2, 3, …, 10]" in mmd


def test_text_tree_shows_shapes() -> None:
    r = evaluate(WX, at=WX_AT, check=())
    plain = pic.to_text(r).plain
    assert "W: 2×2" in plain and "x: 2   value [0.2, 0.4]   grad [-0.112, 0.636]" in plain
    assert "(W@x): 2  [@]   value [0.22, 0.26]   grad [0.44, 0.52]" in plain
    assert "f  [sum]   value 0.116   grad 1" in plain


def test_fan_out_array_input_shows_the_sum() -> None:
    c = pic.circuit(evaluate("sum(x*x)", at={"x": [1.0, -2.0]}, check=()))
    note = next(p.note for p in c.parts if p.kind == "input")
    assert note == "grad [2, -4] (sum of 2 branches)"


def test_array_upstream_on_the_output_wire() -> None:
    r = evaluate("relu(x)", at="x=[1,-2,3,-1]", upstream="[4,-1,5,9]", check=())
    c = pic.circuit(r)
    out = next(w for w in c.wires if w.target == "out")
    assert pic.value_text(out.grad, True) == "[4, -1, 5, 9]"
    xw = next(w for w in c.wires if w.source == "n0")
    assert pic.value_text(xw.grad, True) == "[4, 0, 5, 0]"  # the lecture's ReLU slide


@pytest.mark.parametrize("fmt", ["dot", "mermaid", "text"])
def test_cli_formats(fmt: str) -> None:
    args = ["graph", WX, "--format", fmt] + [a for at in WX_AT for a in ("--at", at)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "[0.22, 0.26]" in result.output


def test_cli_subprocess_dot() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "graph", XOR, "--format", "dot",
                           *[a for at in XOR_AT for a in ("--at", at)]],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "<i>h</i>: <font" in done.stdout and "[[20, 20]," in done.stdout


@NO_DOT
@pytest.mark.parametrize("case", sorted(CASES))
def test_svg_has_every_node_and_shape(case: str, tmp_path: Path) -> None:
    expr, at = CASES[case]
    out = tmp_path / "g.svg"
    result = CliRunner().invoke(app, ["graph", expr, "-o", str(out)] +
                                [a for v in at for a in ("--at", v)])
    assert result.exit_code == 0, result.output
    svg = ET.parse(out).getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    titles = {t.text for g in svg.iterfind(".//s:g[@class='node']", ns)
              for t in g.iterfind("s:title", ns)}
    c = pic.circuit(evaluate(expr, at=at, check=()))
    assert titles == {p.id for p in c.parts}
    texts = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    for w in c.wires:
        shape = pic.shape_text(w.shape)
        assert not shape or any(shape in (t or "") for t in texts)
        for line in pic.value_lines(w.value, True) + pic.value_lines(w.grad, True):
            assert line.strip() in [(t or "").strip() for t in texts]


@pytest.mark.parametrize("value,lines", [
    (0.116, ["0.116"]),
    (3001.0, ["3001"]),
    (1.5e-7, ["1.5e-07"]),
    ([0.0, -0.112, 2e6], ["[0, -0.112, 2e+06]"]),
    ([[1.0], [2.0]], ["[[1],", " [2]]"]),
    ([float(i) for i in range(9)], ["[0, 1, 2, …, 8]"]),
])
def test_value_lines(value: object, lines: list[str]) -> None:
    assert pic.value_lines(value, True) == lines
