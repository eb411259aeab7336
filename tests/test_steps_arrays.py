"""`backprop steps` with vectors and matrices: upstream arrays, vector-Jacobian products in
words, and what flows downstream, checked against the lecture's ||Wx||² slide."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.views.steps import backward_steps, forward_steps, render_lines

ROOT = Path(__file__).resolve().parents[1]
W_AT = ["W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]"]


def lines(expr: str, at: object, forward: bool = False, **kw: object) -> list[str]:
    r = evaluate(expr, at=at, check=(), **kw)  # type: ignore[arg-type]
    return [line for _, line in render_lines(r, backward_steps(r),
                                             forward_steps(r) if forward else None)]


def test_lecture_wx_slide_line_by_line() -> None:
    # The lecture's f(x, W) = ||W x||²: q = Wx = [0.22, 0.26]; ∂f/∂q = 2q = [0.44, 0.52];
    # ∂f/∂W = 2q xᵀ = [[0.088, 0.176], [0.104, 0.208]]; ∂f/∂x = 2Wᵀq = [-0.112, 0.636].
    assert lines("q = W@x; f = sum(q^2)", W_AT, forward=True) == [
        "Forward pass: from the inputs to the output, one gate at a time",
        "  inputs: W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4]",
        "Forward step 1: q = W @ x = [[0.1, 0.5], [-0.3, 0.8]] @ [0.2, 0.4] = [0.22, 0.26]"
        "   [@ gate]",
        "Forward step 2: (q^2) = q ^ 2 = [0.22, 0.26] ^ 2 = [0.0484, 0.0676]   [x^2 gate]",
        "Forward step 3: f = sum(q^2) = sum([0.0484, 0.0676]) = 0.116   [sum gate]",
        "",
        "Backward pass: from the output back to the inputs, one gate at a time "
        "(reverse topological order)",
        "Step 1: f = sum(q^2)   [sum gate: gradient distributor (to every entry)]",
        "  upstream gradient arriving: ∂f/∂f = 1 (the seed at the output)",
        "  local rule for (q^2): ∂f/∂(q^2) = upstream copied to every entry of (q^2)   "
        "(vector-Jacobian product: the Jacobian ∂f/∂(q^2) is never formed)",
        "  downstream to (q^2): ∂f/∂(q^2) = upstream copied to every entry of (q^2) = [1, 1]"
        "   (2, the shape of (q^2))",
        "Step 2: (q^2): 2 = q ^ 2   [x^2 gate: b·a^(b-1) to a]",
        "  upstream gradient arriving: ∂f/∂(q^2) = [1, 1]",
        "  local gradient, entry by entry (the Jacobian's diagonal): ∂(q^2)/∂q = 2*q = "
        "[0.44, 0.52]",
        "  downstream to q: ∂f/∂q = upstream ⊙ local = [1, 1] ⊙ [0.44, 0.52] = [0.44, 0.52]"
        "   (2, the shape of q)",
        "Step 3: q: 2 = W @ x   [@ gate: matrix multiply]",
        "  upstream gradient arriving: ∂f/∂q = [0.44, 0.52]",
        "  local rule for W: ∂f/∂W = upstream · xᵀ   (vector-Jacobian product: the Jacobian "
        "∂q/∂W is never formed)",
        "  downstream to W: ∂f/∂W = upstream · xᵀ = [[0.088, 0.176], [0.104, 0.208]]"
        "   (2×2, the shape of W)",
        "  local rule for x: ∂f/∂x = Wᵀ · upstream   (vector-Jacobian product: the Jacobian "
        "∂q/∂x is never formed)",
        "  downstream to x: ∂f/∂x = Wᵀ · upstream = [-0.112, 0.636]   (2, the shape of x)",
        "Gradients: ∂f/∂W = [[0.088, 0.176], [0.104, 0.208]], ∂f/∂x = [-0.112, 0.636]",
    ]


def test_wx_step_data_agrees_with_numpy() -> None:
    # An independent oracle for the numbers the replay prints.
    w, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    q = w @ x
    r = evaluate("q = W@x; f = sum(q^2)", at=W_AT, check=())
    steps = {s.node: s for s in backward_steps(r)}
    assert np.allclose(steps["q"].value, q) and np.allclose(steps["q"].upstream, 2 * q)
    dw, dx = (loc.downstream for loc in steps["q"].inputs)
    assert np.allclose(dw, np.outer(2 * q, x)) and np.allclose(dx, 2 * w.T @ q)
    assert [loc.rule for loc in steps["q"].inputs] == ["upstream · xᵀ", "Wᵀ · upstream"]
    assert [loc.shape for loc in steps["q"].inputs] == [[2, 2], [2]]


def test_relu_slide_passes_where_positive() -> None:
    got = lines("relu(x)", "x=[1,-2,3,-1]", upstream="[4,-1,5,9]")
    assert "  upstream gradient arriving: ∂f/∂f = [4, -1, 5, 9] (the seed at the output)" in got
    assert ("  downstream to x: ∂f/∂x = upstream ⊙ local (passes where x > 0, 0 elsewhere) = "
            "[4, -1, 5, 9] ⊙ [1, 0, 1, 0] = [4, 0, 5, 0]   (4, the shape of x)") in got


def test_broadcast_scalar_adds_back() -> None:
    got = lines("sum(b*x)", {"x": [1.0, 2.0], "b": 3.0})
    assert ("  downstream to b: ∂f/∂b = Σ(upstream ⊙ local): b was broadcast, so its entries "
            "add back = Σ([1, 1] ⊙ [1, 2]) = 3") in got


def test_array_fan_out_branches_add() -> None:
    got = lines("sum(x*x) + sum(x)", {"x": [1.0, 2.0]})
    k = got.index("Step 5: input x: 2 fans out into 3 branches [copy gate: gradient adder]")
    assert got[k + 4] == "  the branches add: ∂f/∂x = [1, 2] + [1, 2] + [1, 1] = [3, 5]"


@pytest.mark.parametrize("expr,at,rule", [
    ("cross_entropy(z, y)", "z=[2,1,0.1], y=[0,1,0]", "upstream · (softmax(z) - y) for one-hot y"),
    ("sum(softmax(z)*y)", "z=[2,1,0.1], y=[0,1,0]", "s ⊙ (upstream - Σ upstream ⊙ s) with "
     "s = softmax(z): the Jacobian diag(s) - s sᵀ applied"),
    ("sigmoid(b + dot(x, t))", "b=-0.5, x=[1,2], t=[0.3,-0.2]", "upstream · x"),
    ("mean(A.T @ v)", "A=[[1,2],[3,4]], v=[1,-1]", "upstreamᵀ"),
])
def test_array_ops_say_their_rule(expr: str, at: str, rule: str) -> None:
    got = lines(expr, at)
    assert any(f"= {rule}   (vector-Jacobian product" in line for line in got), got


def test_cli_steps_arrays() -> None:
    args = ["steps", "sum((W@x)^2)", "--forward"] + [a for v in W_AT for a in ("--at", v)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "[[0.088, 0.176], [0.104, 0.208]]" in result.output


def test_cli_steps_array_upstream_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "steps", "relu(x)", "--at",
                           "x=[1,-2,3,-1]", "--upstream", "[4,-1,5,9]"],
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "Gradients: ∂f/∂x = [4, 0, 5, 0]" in done.stdout


def test_cli_bad_array_upstream_exit_2() -> None:
    result = CliRunner().invoke(app, ["steps", "relu(x)", "--at", "x=[1,-2]",
                                      "--upstream", "[1,2,3]"])
    assert result.exit_code == 2
    assert "--upstream is a vector of 3 but the output f is a vector of 2" in result.output
