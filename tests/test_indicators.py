"""Indicators: (s > 0), (s >= 0), (s < 0), (s <= 0), (a == b), (a != b) and step(s), 1 where
true and 0 elsewhere, in expressions, formula claims, --expect formulas and both engines."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from backprop_cli import evaluate
from backprop_cli.core.ops import OPS

from .conftest import invoke

INDICATORS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "eq": "==", "ne": "!="}
HOLDS = {">": lambda a, b: a > b, ">=": lambda a, b: a >= b, "<": lambda a, b: a < b,
         "<=": lambda a, b: a <= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b}


@pytest.mark.parametrize("symbol", list(HOLDS))
@pytest.mark.parametrize("a,b", [(1.0, 2.0), (2.0, 1.0), (-1.5, -1.5)])
def test_a_comparison_is_1_where_it_holds_and_0_elsewhere(symbol: str, a: float,
                                                          b: float) -> None:
    r = evaluate(f"(a {symbol} b)", at={"a": a, "b": b}, check=())
    assert r.value == (1.0 if HOLDS[symbol](a, b) else 0.0)
    assert r.gradients == {"a": 0.0, "b": 0.0}


@pytest.mark.parametrize("s,value", [(-1.0, 0.0), (0.0, 0.0), (0.5, 1.0)])
def test_step_is_0_at_0_as_pytorch_takes_relus_gradient(s: float, value: float) -> None:
    r = evaluate("step(s)", at={"s": s}, check=())
    assert r.value == value and r.gradients == {"s": 0.0}


def test_each_indicator_is_one_entry_of_the_op_table_with_its_kink_and_array_rule() -> None:
    for name in (*INDICATORS, "step"):
        op = OPS[name]
        assert op.kink is not None and op.branch is not None and op.np_branch is not None
        assert op.np_forward is not None and op.np_local is not None
        assert op.gate.startswith("indicator")
    assert {OPS[n].symbol for n in INDICATORS} == set(HOLDS)


@pytest.mark.parametrize("expr,at,kink", [
    ("(s >= 0)*s", "s=0", "indicator >= at its jump (0 = 0): took local gradient 0"),
    ("step(s)*s", "s=0", "step at 0: took local gradient 0 (step(0) = 0)"),
])
def test_an_indicator_at_its_jump_is_a_named_kink(expr: str, at: str, kink: str) -> None:
    r = invoke("eval", expr, "--at", at, "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert any(kink in (n["kink"] or "") for n in doc["nodes"])
    assert [c["status"] for c in doc["checks"]] == ["kink"]


def test_a_comparison_outside_parentheses_is_bad_input_with_a_hint() -> None:
    r = invoke("eval", "s > 0", "--at", "s=1")
    assert r.code == 2
    assert "unexpected '>'" in r.stderr
    assert "written in its own parentheses: (s > 0)" in r.stderr


def test_a_chained_comparison_needs_its_parentheses() -> None:
    assert invoke("eval", "(a < b < c)", "--at", "a=1,b=2,c=3").code == 2
    r = evaluate("((a < b) < c)", at={"a": 1, "b": 2, "c": 3}, check=())
    assert r.value == 1.0


def test_an_assignment_and_an_equality_are_told_apart() -> None:
    r = evaluate("q = (x == 1); f = q*x", at={"x": 1.0}, check=())
    assert r.value == 1.0 and r.gradients == {"x": 1.0}


# ---------------------------------------------------------------- the examples


def test_the_lectures_relu_gradient_holds_as_a_formula() -> None:
    r = invoke("formula", "relu(s)", "ds = (s > 0)", "--json")
    assert r.code == 0, r.output
    assert json.loads(r.stdout)["claims"][0]["verdict"] == "proved"


def test_step_holds_as_relus_gradient() -> None:
    r = invoke("formula", "relu(s)", "ds = step(s)", "--json")
    assert r.code == 0 and json.loads(r.stdout)["claims"][0]["verdict"] == "proved"


def test_the_lectures_relu_layer_gradient_holds_with_an_indicator() -> None:
    r = invoke("formula", "sum(relu(W@x))", "dW = (W@x > 0)@x.T", "--shape", "W=m,n",
               "--shape", "x=n,1", "--json")
    assert r.code == 0, r.output
    claim = json.loads(r.stdout)["claims"][0]
    assert claim["verdict"] == "holds"
    assert any("no random point lands exactly on a kink" in n for n in claim["notes"])


@pytest.mark.parametrize("expression,claim,shapes", [
    ("relu(s)", "ds = (s < 0)", []),
    ("relu(s)", "ds = (s <= 0)", []),
    ("sum(relu(W@x))", "dW = (W@x < 0)@x.T", ["--shape", "W=m,n", "--shape", "x=n,1"]),
])
def test_a_wrong_indicator_differs(expression: str, claim: str, shapes: list[str]) -> None:
    r = invoke("formula", expression, claim, *shapes, "--json")
    assert r.code == 1, r.output
    assert json.loads(r.stdout)["claims"][0]["verdict"] == "differs"


def test_an_indicator_that_differs_only_at_the_kink_holds_and_says_why() -> None:
    r = invoke("formula", "relu(s)", "ds = (s >= 0)")
    assert r.code == 0, r.output
    assert "no random point lands exactly on a kink" in r.stdout


def test_an_expect_formula_may_use_an_indicator() -> None:
    r = invoke("eval", "sum(relu(W@x))", "--at", "W=[[1,2],[-3,1]]", "--at", "x=[1,1]",
               "--expect", "dW = outer((W@x > 0), x)")
    assert r.code == 0, r.output
    assert "✓ the answer matches" in r.stdout


def test_an_answer_key_may_use_an_indicator(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key.toml"
    key.write_text('[relu]\nexpression = "h = W@x; f = sum(relu(h))"\n'
                   'at = { W = [[1, 2], [-3, 1]], x = [1, 1] }\n'
                   'expect = { dh = "(h > 0)", dW = "outer(step(h), x)" }\n')
    r = invoke("check", str(key))
    assert r.code == 0, r.output


# ---------------------------------------------------------------- properties

# A random smooth inner expression of x and y: E = a*x + b*y*x + c*tanh(y) + d.
coef = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 3))
point = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 4))


def inner(a: float, b: float, c: float, d: float) -> str:
    return f"({a}*x + {b}*y*x + {c}*tanh(y) + {d})"


def _gradients_equal(one: str, other: str, at: dict[str, float]) -> None:
    r1 = evaluate(one, at=at, check=())
    r2 = evaluate(other, at=at, check=())
    assert r1.value == pytest.approx(r2.value, rel=1e-12, abs=1e-12)
    assert r1.gradients is not None and r2.gradients is not None
    for name in at:
        assert r1.gradients[name] == pytest.approx(r2.gradients[name], rel=1e-12, abs=1e-12)


@given(a=coef, b=coef, c=coef, d=coef, x=point, y=point,
       form=st.sampled_from(["({e})*({e} > 0)", "({e})*step({e})", "({e})*(1 - ({e} <= 0))",
                             "({e})*(0 < {e})", "({e})*(1 - (0 >= {e}))"]))
def test_relu_written_with_an_indicator_has_relus_values_and_gradients(
        a: float, b: float, c: float, d: float, x: float, y: float, form: str) -> None:
    e = inner(a, b, c, d)
    at = {"x": x, "y": y}
    s = evaluate(e, at=at, check=()).value
    assert isinstance(s, float)
    if s == 0.0:  # the kink, where conventions differ: a test of its own
        return
    _gradients_equal(f"relu({e})", form.format(e=e), at)


@given(a=coef, b=coef, c=coef, d=coef, x=point, y=point)
def test_max_and_abs_written_with_indicators_match(a: float, b: float, c: float, d: float,
                                                   x: float, y: float) -> None:
    e = inner(a, b, c, d)
    at = {"x": x, "y": y}
    if evaluate(f"{e} - y", at=at, check=()).value == 0.0:
        return
    _gradients_equal(f"max({e}, y)", f"({e})*({e} > y) + y*({e} <= y)", at)
    _gradients_equal(f"abs({e})", f"({e})*({e} > 0) - ({e})*({e} < 0)", at)


@given(st.lists(st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3)).filter(
    lambda v: v != 0.0), min_size=6, max_size=6))
def test_the_array_engine_reads_indicators_as_the_relu_layer(entries: list[float]) -> None:
    w = [entries[0:3], entries[3:6]]
    at = {"W": w, "x": [0.7, -1.3, 0.4]}
    if 0.0 in np.array(w) @ np.array(at["x"]):  # the kink, where conventions differ
        return
    one = evaluate("sum(relu(W@x))", at=at, check=())
    other = evaluate("sum((W@x)*(W@x > 0))", at=at, check=())
    assert one.gradients is not None and other.gradients is not None
    for name in at:
        assert np.allclose(other.gradients[name], one.gradients[name], rtol=1e-12, atol=1e-12)


def test_an_indicator_gradient_is_proved_by_sympy() -> None:
    r = invoke("eval", "(s > 0)*s + step(t)*t^2", "--at", "s=1.5,t=-0.5", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert {c["proof"] for c in doc["checks"]} <= {"sympy", "sympy-gates"}
    assert doc["gradients"] == {"s": 1.0, "t": 0.0}
    assert not math.isnan(doc["value"])


@pytest.mark.parametrize("name", list(INDICATORS))
def test_an_indicators_kink_is_exactly_where_both_sides_are_equal(name: str) -> None:
    op = OPS[name]
    assert op.kink is not None and op.branch is not None
    for a in (0.0, -2.0, 3.5):
        up = math.nextafter(a, math.inf)
        assert op.kink((a, a)) is not None
        assert op.kink((a, up)) is None and op.kink((up, a)) is None
        assert op.branch((a, up)) != op.branch((a, a)) != op.branch((up, a))
        assert op.local((a, a), op.forward(a, a)) == (0.0, 0.0)
