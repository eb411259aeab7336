"""`backprop steps`: the backward pass replayed gate by gate, in the lecture's words."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.views.steps import backward_steps, forward_steps, render, render_lines

ROOT = Path(__file__).resolve().parents[1]
LECTURE = "q = x + y; f = q * z"
AT = "x=-2,y=5,z=-4"


def lines(expr: str, at: str, forward: bool = False, **kw: object) -> list[str]:
    r = evaluate(expr, at=at, check=(), **kw)  # type: ignore[arg-type]
    return [line for _, line in render_lines(r, backward_steps(r),
                                             forward_steps(r) if forward else None)]


def test_lecture_example_line_by_line() -> None:
    # The lecture: upstream 1 at f; df/dq = z = -4; df/dz = q = 3; df/dx = df/dq * dq/dx = -4*1.
    assert lines(LECTURE, AT) == [
        "Backward pass: from the output back to the inputs, one gate at a time "
        "(reverse topological order)",
        "Step 1: f = q * z   [* gate: swap multiplier]",
        "  upstream gradient arriving: ∂f/∂f = 1 (the seed at the output)",
        "  local gradient: ∂f/∂q = z = -4",
        "  local gradient: ∂f/∂z = q = 3",
        "  downstream to q: ∂f/∂q = ∂f/∂f · ∂f/∂q = 1 · (-4) = -4",
        "  downstream to z: ∂f/∂z = ∂f/∂f · ∂f/∂z = 1 · 3 = 3",
        "Step 2: q = x + y   [+ gate: gradient distributor]",
        "  upstream gradient arriving: ∂f/∂q = -4",
        "  local gradient: ∂q/∂x = 1",
        "  local gradient: ∂q/∂y = 1",
        "  downstream to x: ∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4",
        "  downstream to y: ∂f/∂y = ∂f/∂q · ∂q/∂y = -4 · 1 = -4",
        "Gradients: ∂f/∂x = -4, ∂f/∂y = -4, ∂f/∂z = 3",
    ]


def test_unnamed_intermediates_are_called_by_their_text() -> None:
    got = lines("(x+y)*z", AT)
    assert "  local gradient: ∂f/∂(x+y) = z = -4" in got
    assert "  downstream to x: ∂f/∂x = ∂f/∂(x+y) · ∂(x+y)/∂x = -4 · 1 = -4" in got


def test_same_text_twice_is_told_apart() -> None:
    r = evaluate("x*y + x*y", at="x=3,y=2", check=())
    steps = backward_steps(r)
    assert [s.node for s in steps if s.kind == "gate"] == ["f", "#3", "#2"]


def test_forward_replay_comes_first() -> None:
    got = lines(LECTURE, AT, forward=True)
    assert got[:4] == [
        "Forward pass: from the inputs to the output, one gate at a time",
        "  inputs: x = -2, y = 5, z = -4",
        "Forward step 1: q = x + y = -2 + 5 = 3   [+ gate]",
        "Forward step 2: f = q * z = 3 * (-4) = -12   [* gate]",
    ]
    assert got.index("Step 1: f = q * z   [* gate: swap multiplier]") > 4


def test_fan_out_branches_are_added() -> None:
    r = evaluate("x*y + x*x", at="x=3,y=2", check=())
    steps = backward_steps(r)
    fan = [s for s in steps if s.kind == "fan-out"]
    assert [s.node for s in fan] == ["x"]
    assert sum(g for _, g in fan[0].branches) == r.gradients["x"]  # type: ignore[index]
    text = [line for _, line in render_lines(r, steps)]
    assert "Step 4: input x fans out into 3 branches [copy gate: gradient adder]" in text
    assert "  the branches add: ∂f/∂x = 2 + 3 + 3 = 8" in text
    assert "  branch from (x*x), input 2: 3" in text


def test_named_intermediate_fan_out_is_added_in_its_step() -> None:
    r = evaluate("q = x + y; f = q * q + q", at="x=1,y=2", check=())
    step = next(s for s in backward_steps(r) if s.node == "q")
    assert len(step.branches) == 3
    assert step.upstream == pytest.approx(sum(g for _, g in step.branches))
    assert "fans out" in step.pattern


@pytest.mark.parametrize("expr,at", [
    (LECTURE, AT),
    ("sigmoid(w0*x0 + w1*x1 + w2)", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"),
    ("max(x, y) * log(abs(z) + 1) - x / y", "x=1.5,y=-0.5,z=2"),
])
@pytest.mark.parametrize("expand", [False, True])
def test_every_step_is_upstream_times_local(expr: str, at: str, expand: bool) -> None:
    r = evaluate(expr, at=at, check=(), expand=expand)
    steps = backward_steps(r)
    gates = [n for n in r.nodes if n.op not in ("var", "const")]
    assert sum(s.kind == "gate" for s in steps) == len(gates)  # one step per gate
    for s in steps:
        for loc in s.inputs:
            assert loc.downstream == pytest.approx(s.upstream * loc.local)


def test_expanded_neuron_steps_tell_the_lecture_numbers() -> None:
    r = evaluate("sigmoid(w0*x0 + w1*x1 + w2)", at="w0=2,x0=-1,w1=-3,x1=-2,w2=-3",
                 check=(), expand=True)
    steps = backward_steps(r)
    assert [s.gate for s in steps[:4]] == ["1/x", "+1", "exp", "*-1"]
    assert steps[0].upstream == 1.0
    assert round(steps[0].inputs[-1].downstream, 2) == -0.53  # through 1/x
    assert round(steps[1].inputs[0].downstream, 2) == -0.53  # through +1
    assert round(steps[2].inputs[0].downstream, 2) == -0.20  # through exp
    assert round(steps[3].inputs[0].downstream, 2) == 0.20  # into the adds


def test_deep_expression_replays_without_recursion() -> None:
    depth = 10_000
    r = evaluate("x" + "+x" * depth, at="x=0.5", check=())
    steps = backward_steps(r)
    assert sum(s.kind == "gate" for s in steps) == depth
    shown = render(r, steps)
    assert isinstance(shown, str)  # long replays are plain text
    assert shown.rstrip().endswith(f"Gradients: ∂f/∂x = {depth + 1}")
    assert "more branches" in shown  # a 10,001-way fan-out is summarised


def test_control_characters_never_reach_the_terminal() -> None:
    # The grammar keeps them out of names; the renderer is safe even if one got through.
    r = evaluate(LECTURE, at=AT, check=())
    r.graph.nodes[r.graph.named["q"]].name = "q\x1b[31m[bold]"
    shown = render(r, backward_steps(r))
    assert "\x1b" not in str(shown)
    assert "[bold]" in str(shown)  # printed literally, not as markup


def test_cli_steps() -> None:
    result = CliRunner().invoke(app, ["steps", LECTURE, "--at", AT, "--forward"])
    assert result.exit_code == 0, result.output
    assert "∂f/∂x = ∂f/∂q · ∂q/∂x = -4 · 1 = -4" in result.output
    assert "Forward step 1: q = x + y = -2 + 5 = 3" in result.output


def test_cli_steps_needs_values() -> None:
    result = CliRunner().invoke(app, ["steps", LECTURE])
    assert result.exit_code == 2
    assert "no value for 'x', 'y' and 'z'" in result.output
    assert "Traceback" not in result.output


def test_cli_steps_constant_expression_needs_no_values() -> None:
    result = CliRunner().invoke(app, ["steps", "2*3"])
    assert result.exit_code == 0, result.output
    assert "Backward pass" in result.output


def test_steps_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "backprop_cli", "steps", "(x+y)*z", "--at", AT,
                           "--expand"], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "upstream gradient arriving: ∂f/∂f = 1 (the seed at the output)" in done.stdout
    assert "Gradients: ∂f/∂x = -4, ∂f/∂y = -4, ∂f/∂z = 3" in done.stdout
