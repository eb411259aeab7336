"""The lecture's worked examples, number for number."""

from __future__ import annotations

import pytest

from backprop_cli import evaluate

NEURON_POINT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


def test_simple_example_x_plus_y_times_z() -> None:
    r = evaluate("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
    assert r.value == -12
    assert r.gradients == {"x": -4, "y": -4, "z": 3}
    assert r.ok and all(c.status == "pass" for c in r.verification.checks)


def test_named_intermediates_keep_their_names() -> None:
    r = evaluate("q = x + y; f = q * z", at="x=-2,y=5,z=-4")
    by_label = {n.label: n for n in r.nodes}
    assert by_label["q"].value == 3
    assert by_label["q"].local == [1, 1]  # dq/dx, dq/dy
    assert by_label["q"].upstream == -4  # df/dq = z
    assert by_label["f"].local == [-4, 3]  # df/dq = z, df/dz = q
    assert r.output == "f" and r.value == -12


@pytest.mark.parametrize("expr", [
    "1/(1+exp(-(w0*x0+w1*x1+w2)))",
    "sigmoid(w0*x0 + w1*x1 + w2)",
])
def test_sigmoid_neuron(expr: str) -> None:
    r = evaluate(expr, at=NEURON_POINT)
    rounded = {k: round(v, 2) for k, v in r.gradients.items()}
    assert round(r.value, 2) == 0.73
    assert rounded == {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert r.ok


def test_sigmoid_local_gradient_is_one_minus_s_times_s() -> None:
    r = evaluate("sigmoid(w0*x0 + w1*x1 + w2)", at=NEURON_POINT)
    gate = next(n for n in r.nodes if n.op == "sigmoid")
    s = gate.value
    assert gate.local == [pytest.approx((1 - s) * s)]
    assert round(gate.local[0], 2) == 0.20


def test_gate_patterns() -> None:
    add = evaluate("x + y", at="x=3,y=-1")
    assert add.gradients == {"x": 1, "y": 1}  # distributor
    mul = evaluate("x * y", at="x=3,y=-1")
    assert mul.gradients == {"x": -1, "y": 3}  # swap multiplier
    mx = evaluate("max(x, y)", at="x=3,y=-1")
    assert mx.gradients == {"x": 1, "y": 0}  # router
    copy = evaluate("x * x", at="x=3")
    assert copy.gradients == {"x": 6}  # copy gate: gradient adder
    x = next(n for n in copy.nodes if n.label == "x")
    assert [g for _, g in x.fan_out] == [3, 3]


def test_upstream_seed_scales_every_gradient() -> None:
    r = evaluate("(x+y)*z", at="x=-2,y=5,z=-4", upstream=2.5)
    assert r.gradients == {"x": -10, "y": -10, "z": 7.5}
    assert r.ok


def test_constant_subexpressions_carry_no_gradient_not_nan() -> None:
    # d/db a^b has no real value at a < 0; the exponent is a constant, so nothing needs it.
    import json

    r = evaluate("x^(2*1) + x", at="x=-2")
    assert r.gradients == {"x": -3} and r.ok
    pow_node = next(n for n in r.nodes if n.op == "pow")
    assert pow_node.local == [-4, None]
    assert json.loads(json.dumps(r.to_dict(), allow_nan=False))["ok"] is True
