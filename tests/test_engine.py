"""The forward and backward passes: fan-out, upstream seeds, kinks, and sizes far past homework."""

from __future__ import annotations

import math

import pytest

from backprop_cli import DomainError, evaluate
from backprop_cli.core.engine import backward, forward
from backprop_cli.core.ops import OPS, Op
from backprop_cli.core.parse import parse


def by_label(result):  # type: ignore[no-untyped-def]
    return {n.label: n for n in result.nodes}


# --- fan-out: the copy gate adds its branches ----------------------------------------------

def test_x_times_x_adds_both_branches() -> None:
    r = evaluate("x*x", at={"x": -1.5})
    assert r.gradients == {"x": 2 * -1.5}
    x = by_label(r)["x"]
    assert [g for _, g in x.fan_out] == [-1.5, -1.5]
    assert x.upstream == sum(g for _, g in x.fan_out)
    assert "gradient adder" in x.gate
    assert r.ok


def test_variable_used_three_times() -> None:
    x0 = 0.7
    r = evaluate("x*y + x + exp(x)", at={"x": x0, "y": 3})
    assert r.gradients["x"] == pytest.approx(3 + 1 + math.exp(x0))
    x = by_label(r)["x"]
    assert len(x.fan_out) == 3
    assert x.upstream == pytest.approx(sum(g for _, g in x.fan_out))
    assert r.ok and all(c.status == "pass" for c in r.verification.checks)


def test_named_intermediate_fans_out() -> None:
    r = evaluate("q = x + y; f = q*q + q", at="x=1,y=2")
    q = by_label(r)["q"]
    assert len(q.fan_out) == 3
    assert q.upstream == 2 * 3 + 1  # d(q^2 + q)/dq at q = 3
    assert r.gradients == {"x": 7, "y": 7}
    assert "fans out" in q.gate


def test_named_intermediates_appear_under_their_names() -> None:
    r = evaluate("q = x + y\nf = q * z", at="x=-2,y=5,z=-4")
    labels = [n.label for n in r.nodes]
    assert "q" in labels and "f" in labels
    f = by_label(r)["f"]
    assert f.inputs == ["q", "z"]
    assert r.output == "f"


def test_alias_statement_keeps_both_names() -> None:
    r = evaluate("q = x + y; r = q; f = r * 2", at="x=1,y=1")
    labels = by_label(r)
    assert labels["r"].op == "id" and labels["r"].inputs == ["q"]
    assert r.gradients == {"x": 2, "y": 2}


# --- the upstream seed ---------------------------------------------------------------------

@pytest.mark.parametrize("seed", [2.5, -1.0, 0.0, 1e-3])
def test_upstream_seed_scales_every_node(seed: float) -> None:
    expr, at = "sigmoid(w0*x0 + w1*x1 + w2)", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"
    one = evaluate(expr, at=at)
    scaled = evaluate(expr, at=at, upstream=seed)
    for a, b in zip(one.nodes, scaled.nodes):
        assert b.value == a.value
        assert b.upstream == pytest.approx(seed * a.upstream, abs=1e-15)
        assert b.local == a.local
    for name, g in one.gradients.items():
        assert scaled.gradients[name] == pytest.approx(seed * g, abs=1e-15)
    assert scaled.ok


# --- non-differentiable points: a documented subgradient, not a failure ---------------------

@pytest.mark.parametrize(("expr", "at", "grads"), [
    ("relu(x)", "x=0", {"x": 0.0}),
    ("abs(x)", "x=0", {"x": 0.0}),
    ("max(x, y)", "x=2,y=2", {"x": 0.5, "y": 0.5}),
    ("min(x, y)", "x=-1,y=-1", {"x": 0.5, "y": 0.5}),
    ("relu(x - y) * z", "x=3,y=3,z=5", {"x": 0.0, "y": 0.0, "z": 0.0}),
])
def test_kinks_report_kink_not_fail(expr: str, at: str, grads: dict[str, float]) -> None:
    r = evaluate(expr, at=at)
    assert r.gradients == grads
    kinked = [n for n in r.nodes if n.kink]
    assert kinked, "the node at the kink must say so"
    statuses = {c.variable: c.status for c in r.verification.checks}
    for name in grads:
        if name != "z":
            assert statuses[name] == "kink", statuses
        assert statuses[name] != "fail"
    assert r.ok


def test_kink_notes_name_the_subgradient() -> None:
    r = evaluate("max(x, y)", at="x=1,y=1")
    node = next(n for n in r.nodes if n.op == "max")
    assert node.local == [0.5, 0.5]
    assert "0.5/0.5" in node.kink
    assert any("not differentiable here" in note for c in r.verification.checks
               for note in c.notes)


def test_near_but_not_at_a_kink_is_checked_normally() -> None:
    r = evaluate("relu(x)", at="x=1e-3")
    assert r.gradients == {"x": 1.0}
    assert r.verification.checks[0].status == "pass"


# --- domain errors name the node -----------------------------------------------------------

def test_domain_error_names_the_node() -> None:
    with pytest.raises(DomainError) as info:
        evaluate("q = x - 1; f = log(q) * y", at="x=1,y=2")
    msg = info.value.message
    assert "log(q)" in msg and "non-positive" in msg
    assert info.value.context().splitlines()[0] == "q = x - 1; f = log(q) * y"


# --- the engine's own contract -------------------------------------------------------------

def test_engine_rejects_a_rule_with_the_wrong_number_of_gradients(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bad = OPS["mul"]
    broken = Op(bad.name, bad.arity, bad.forward, lambda x, o: (x[1],), bad.sympy, bad.gate,
                bad.symbol)
    graph = parse("x*y")
    for node in graph.nodes:
        if node.op is bad:
            node.op = broken
    values = forward(graph, {"x": 2.0, "y": 3.0})
    with pytest.raises(AssertionError, match="mul returned 1 local gradients for 2 inputs"):
        backward(graph, values)


def test_forward_is_topological_and_backward_accumulates() -> None:
    graph = parse("a = x*y; b = a + x; f = b*a")
    values = forward(graph, {"x": 2.0, "y": -3.0})
    run_ = backward(graph, values, seed=1.0)
    # f = (xy + x) * xy: df/dx = (y + 1)*xy + (xy + x)*y, df/dy = x*xy + (xy + x)*x
    x, y = 2.0, -3.0
    assert run_.upstream[graph.variables["x"]] == (y + 1) * x * y + (x * y + x) * y
    assert run_.upstream[graph.variables["y"]] == x * x * y + (x * y + x) * x
    for node in graph.nodes:
        assert all(j < node.id for j in node.inputs)


# --- sizes: no recursion anywhere ----------------------------------------------------------

DEEP = 10_000


@pytest.mark.parametrize(("name", "expr", "at"), [
    ("parentheses", "(" * DEEP + "x" + ")" * DEEP, 0.5),
    ("sigmoid chain", "sigmoid(" * DEEP + "x" + ")" * DEEP, 0.5),
    ("log(exp( chain", "log(exp(" * (DEEP // 2) + "x" + "))" * (DEEP // 2), 0.5),
    ("unary minus", "-" * DEEP + "x", 0.5),
    ("right-nested power", "x^" * (DEEP // 10) + "1", 0.5),
], ids=["parentheses", "sigmoid chain", "log(exp( chain", "unary minus", "right-nested power"])
def test_ten_thousand_deep(name: str, expr: str, at: float) -> None:
    r = evaluate(expr, at={"x": at}, check=())
    assert r.value is not None and math.isfinite(r.value)
    assert math.isfinite(r.gradients["x"])
    if name == "parentheses":
        assert (r.value, r.gradients["x"]) == (0.5, 1.0)
    if name == "log(exp( chain":
        assert r.value == pytest.approx(0.5) and r.gradients["x"] == pytest.approx(1.0)
    if name == "unary minus":
        assert (r.value, r.gradients["x"]) == (0.5, 1.0)  # an even number of minus signs


def test_ten_thousand_deep_checked_gate_by_gate_and_says_so() -> None:
    # Too deep for sympy's whole-formula diff: sympy checks every gate through the graph
    # (or, on a very slow machine, the budget stops it and finite differences alone check).
    r = evaluate("tanh(" * DEEP + "x" + ")" * DEEP, at={"x": 0.3}, budget=30)
    notes = r.verification.notes
    assert any("did not differentiate the whole formula" in n for n in notes), notes
    check = r.verification.checks[0]
    assert check.numeric is not None and check.status == "pass"
    assert check.proof == "sympy-gates"


def test_each_node_keeps_a_bounded_excerpt_of_its_source() -> None:
    # The spans of a left-nested sum add up quadratically (gigabytes at 100,000 nodes, which
    # tests/test_scale.py runs end to end) if every node keeps its whole text.
    expr = "+".join(f"x{i % 50}*y{i % 7}" for i in range(2_000))
    r = evaluate(expr, at={**{f"x{i}": 1.0 for i in range(50)}, **{f"y{i}": 2.0 for i in range(7)}},
                 check=())
    assert sum(len(n.expression) for n in r.nodes) < 100 * len(r.nodes)
    assert r.nodes[-1].expression.startswith("x0*y0+x1*y1")
    assert r.nodes[-1].expression.endswith("x49*y4")  # the last term, 1999


def _wide(n: int) -> tuple[str, dict[str, float]]:
    expr = " + ".join(f"sigmoid(x{i})*x{i}" for i in range(n))
    return expr, {f"x{i}": (i % 13 - 6) / 5 for i in range(n)}


def test_random_direction_mode_is_ok_when_the_direction_checks_pass() -> None:
    expr, at = _wide(300)  # 300 inputs x ~1,200 nodes: past the per-variable budget
    r = evaluate(expr, at=at)
    v = r.verification
    assert v.mode == "random direction"  # finite differences: one direction
    # sympy still proves every input, gate by gate
    assert all(c.status == "pass" and c.proof == "sympy-gates" for c in v.checks)
    assert v.direction and all(d["ok"] for d in v.direction.values())
    assert r.ok
    assert r.to_dict()["ok"] is True


def test_random_direction_mode_fails_when_a_gradient_is_wrong(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import backprop_cli.core.ops as ops

    wrong = dataclasses.replace(ops.OPS["sigmoid"], local=lambda x, o: (o,))
    monkeypatch.setitem(ops.OPS, "sigmoid", wrong)
    monkeypatch.setitem(ops.FUNCTIONS, "sigmoid", wrong)
    expr, at = _wide(300)
    r = evaluate(expr, at=at)
    assert r.verification.mode == "random direction"
    assert not r.ok


# --- numeric edges -------------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "at"), [
    ("exp(x)/exp(x)", "x=700"),  # b*b overflows in -a/b^2 although a/b^2 does not
    ("x/y", "x=1e300,y=1e200"),
    ("x/y", "x=1e-300,y=1e-300"),  # b*b underflows to 0
])
def test_division_gradient_without_intermediate_overflow(expr: str, at: str) -> None:
    # (Only sympy here: central differences step by 1e-6*max(1, |y|), which crosses the pole
    # at y = 0 when y = 1e-300; see the report on the numeric check at tiny scales.)
    r = evaluate(expr, at=at, check=("sympy",))
    assert r.ok, [(c.variable, c.backprop, c.sympy_value) for c in r.verification.checks]
    assert all(c.status == "pass" for c in r.verification.checks)


@pytest.mark.parametrize(("expr", "at"), [
    ("exp(x)", "x=-1000"), ("sigmoid(x)*x", "x=-1000"), ("log(sigmoid(x))", "x=1000"),
    ("tanh(x)", "x=1e308"), ("x*y", "x=1e300,y=1e-300"), ("x*y", "x=1e-200,y=1e-200"),
    ("max(x, y)", "x=1e308,y=1e308"), ("exp(x) - exp(x)", "x=709"),
])
def test_huge_and_tiny_values_give_stable_results(expr: str, at: str) -> None:
    r = evaluate(expr, at=at)
    assert r.value is not None and math.isfinite(r.value)
    assert r.ok


@pytest.mark.parametrize(("expr", "at", "node", "why"), [
    ("0*exp(x)", "x=1000", "`exp(x)`", "overflows a float"),
    ("1/(1+exp(-x))", "x=-1000", "`exp(-x)`", "overflows a float"),
    ("x*1e308*10", "x=1", "`x*1e308*10`", "overflows a float"),
    ("x - y", "x=1e308,y=-1e308", "`x - y`", "overflows a float"),
    ("1/x", "x=1e-300", "`1/x`", "no finite gradient with respect to x"),  # -1/x^2 = -1e600
])
def test_overflow_is_a_domain_error_naming_the_node(expr: str, at: str, node: str,
                                                    why: str) -> None:
    with pytest.raises(DomainError) as info:
        evaluate(expr, at=at)
    assert node in info.value.message and why in info.value.message


def test_deep_parentheses_without_a_point_show_symbolic_tables() -> None:
    # No --at: every node's local gradient as a formula (2,000 nested functions: test_scale).
    expr, nodes = "(" * DEEP + "x*y" + ")" * DEEP, 3
    r = evaluate(expr)
    assert len(r.nodes) == nodes
    assert all(n.local_symbolic for n in r.nodes if n.inputs)
    out = r.nodes[-1]
    assert out.local_symbolic is not None
    for inp, formula in zip(out.inputs, out.local_symbolic):
        assert inp in formula or formula in ("x", "y")  # d(x*y)/dx = y: in its inputs' names
