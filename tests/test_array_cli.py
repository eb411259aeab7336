"""`backprop eval` with vectors and matrices, as a user runs it: CliRunner and a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ["eval", "sum((W@x)^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--at", "x=[0.2,0.4]"]
RELU = ["eval", "relu(x)", "--at", "x=[1,-2,3,-1]", "--upstream", "[4,-1,5,9]"]


def run(args: list[str]):
    return CliRunner().invoke(app, args)


def real(args: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True,
                          text=True, env=env, input=stdin, timeout=120)


def test_lecture_example_prints_the_slide_numbers() -> None:
    r = run(LECTURE)
    assert r.exit_code == 0, r.output
    for number in ("0.088", "0.176", "0.104", "0.208", "-0.112", "0.636", "2×2"):
        assert number in r.stdout
    assert "✓ all 2 gradients verified" in r.stdout


def test_lecture_example_in_a_real_process_with_json() -> None:
    p = real([*LECTURE, "--json"])
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert np.allclose(doc["gradients"]["W"], [[0.088, 0.176], [0.104, 0.208]])
    assert np.allclose(doc["gradients"]["x"], [-0.112, 0.636])
    assert doc["ok"] is True and doc["shapes"]["W"] == [2, 2]
    assert all(c["status"] == "pass" for c in doc["checks"])


def test_relu_slide_with_jacobian() -> None:
    r = run([*RELU, "--jacobian"])
    assert r.exit_code == 0, r.output
    assert "[4, 0, 5, 0]" in r.stdout
    assert "never forms" in r.stdout
    for row in ("[[1, 0, 0, 0]", "[0, 0, 0, 0]", "[0, 0, 1, 0]"):
        assert row in r.stdout
    doc = json.loads(run([*RELU, "--jacobian", "--json"]).stdout)
    relu = next(n for n in doc["nodes"] if n["op"] == "relu")
    assert relu["jacobian"] == [np.diag([1.0, 0, 1, 0]).tolist()]
    assert doc["gradients"]["x"] == [4, 0, 5, 0]


def test_large_arrays_are_abbreviated_in_tables_and_full_in_json() -> None:
    values = [round(0.01 * i - 0.3, 2) for i in range(60)]
    at = "x=[" + ",".join(str(v) for v in values) + "]"
    r = run(["eval", "sum(tanh(x)^2)", "--at", at])
    assert r.exit_code == 0, r.output
    assert "60: [" in r.stdout and "…" in r.stdout
    doc = json.loads(run(["eval", "sum(tanh(x)^2)", "--at", at, "--json"]).stdout)
    assert doc["point"]["x"] == values
    assert np.allclose(doc["gradients"]["x"], 2 * np.tanh(values) * (1 - np.tanh(values) ** 2))


def test_sympy_limit_is_stated_in_the_table() -> None:
    at = "M=[" + ",".join("[" + ",".join(str(0.1 * (i - j)) for j in range(9)) + "]"
                          for i in range(9)) + "]"
    r = run(["eval", "sum(sigmoid(M))", "--at", at])
    assert r.exit_code == 0, r.output
    assert "skipped: 81 input" in r.stdout and "limit 64" in r.stdout


def test_softmax_cross_entropy_both_forms_from_the_shell() -> None:
    for expr in ("cross_entropy(z, y)", "-sum(y*log(softmax(z)))"):
        p = real(["eval", expr, "--at", "z=[2,1,0.1], y=[0,1,0]", "--json"])
        assert p.returncode == 0, p.stderr
        doc = json.loads(p.stdout)
        z = np.array([2, 1, 0.1])
        s = np.exp(z) / np.exp(z).sum()
        assert np.allclose(doc["gradients"]["z"], s - np.array([0, 1, 0]))


def test_mixed_scalars_and_arrays_in_one_at_and_stdin() -> None:
    p = real(["eval", "-", "--at", "theta0=-0.5, x=[1,2]; theta=[0.3,-0.2]"],
             stdin="sigmoid(theta0 + dot(x, theta))")
    assert p.returncode == 0, p.stderr
    assert "✓ all 3 gradients verified" in p.stdout


@pytest.mark.parametrize("args, words", [
    (["eval", "W@x", "--at", "W=[[1,2],[3,4]], x=[1,2,3]"],
     ["shape mismatch", "W@x", "2×2 matrix", "vector of 3"]),
    (["eval", "x*y", "--at", "x=[1,2,3]", "--at", "y=[[1,2],[3,4]]"],
     ["shape mismatch", "vector of 3", "2×2 matrix"]),
    (["eval", "W@x", "--at", "W=[[1,2],[3,4]], x=[1,2]"], ["not a scalar", "sum(W@x)",
                                                          "--upstream"]),
    (["eval", "sum(x)", "--at", "x=[[1,2],[3]]"], ["ragged", "^^^"]),
    (["eval", "2*x", "--at", "x=[1,2]", "--upstream", "[1,2,3]"], ["vector of 3"]),
    (["eval", "sum(log(x))", "--at", "x=[1,-2]"], ["log of a non-positive", "entry [1]"]),
    (["eval", "sum(x)", "--at", "x=[1,nan]"], ["syntax error"]),
])
def test_bad_array_input_exits_2_with_a_message(args: list[str], words: list[str]) -> None:
    r = run(args)
    assert r.exit_code == 2
    assert "Traceback" not in r.stderr and r.stdout == ""
    message = " ".join(r.stderr.split())  # the console wraps long lines
    for w in words:
        assert w in message


def test_bad_shapes_exit_2_in_a_real_process() -> None:
    p = real(["eval", "W@x", "--at", "W=[[1,2],[3,4]], x=[1,2,3]"])
    assert p.returncode == 2
    message = " ".join(p.stderr.split())
    assert "2×2 matrix" in message and "vector of 3" in message
    assert "Traceback" not in p.stderr


def test_scalar_path_never_imports_numpy() -> None:
    code = ("import sys; from typer.testing import CliRunner; from backprop_cli.cli import app; "
            "r = CliRunner().invoke(app, ['eval', '(x+y)*z', '--at', 'x=-2,y=5,z=-4']); "
            "assert r.exit_code == 0, r.output; print('numpy' in sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "False"


def test_help_mentions_the_array_examples() -> None:
    r = run(["eval", "--help"])
    assert r.exit_code == 0
    assert "--jacobian" in r.stdout and "W@x" in r.stdout
