"""Honest verdicts at kinks, ties and singular points (issue 24, section 2): a tie of any width
in max, min and rowmax is a kink with its subgradient named, in both engines; where sympy's
derivative is undefined a finite difference alone never makes a gradient verified."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import invoke

FEW = settings(max_examples=12, deadline=None)
value = st.integers(-20, 20).map(lambda k: k / 4)


def run_json(*args: str) -> tuple[int, dict[str, Any]]:
    r = invoke(*args, "--json")
    assert r.code in (0, 1), r.output
    return r.code, json.loads(r.stdout)


def kinks(doc: dict[str, Any]) -> list[str]:
    return [n["kink"] for n in doc["nodes"] if n["kink"]]


def nested(op: str, names: list[str]) -> str:
    expr = names[0]
    for name in names[1:]:
        expr = f"{op}({expr}, {name})"
    return expr


# ---------------------------------------------------------------- ties


@FEW
@given(width=st.integers(2, 5), extra=st.integers(0, 3), top=value, data=st.data())
def test_a_tie_of_any_width_in_rowmax_is_a_kink_with_its_share_named(
        width: int, extra: int, top: float, data: st.DataObject) -> None:
    below = data.draw(st.lists(st.integers(1, 8).map(lambda k: top - k / 4), min_size=extra,
                               max_size=extra))
    entries = data.draw(st.permutations([top] * width + below))
    code, doc = run_json("eval", "rowmax(v)", "--at", f"v={list(entries)}")
    assert code == 0
    assert [c["status"] for c in doc["checks"]] == ["kink"]
    assert any("rowmax at a tie" in k and f"at {width} of {len(entries)} entries" in k
               for k in kinks(doc))
    assert doc["gradients"]["v"] == pytest.approx(
        [1 / width if e == top else 0.0 for e in entries])


@FEW
@given(width=st.integers(2, 5), extra=st.integers(0, 2), top=value,
       op=st.sampled_from(["max", "min"]), data=st.data())
def test_a_tie_of_any_width_in_nested_max_or_min_is_a_kink(
        width: int, extra: int, top: float, op: str, data: st.DataObject) -> None:
    names = [f"a{k}" for k in range(width + extra)]
    sign = 1 if op == "max" else -1
    others = data.draw(st.lists(st.integers(1, 8).map(lambda k: top - sign * k / 4),
                                min_size=extra, max_size=extra))
    values = data.draw(st.permutations([top] * width + others))
    at = ",".join(f"{n}={v}" for n, v in zip(names, values))
    code, doc = run_json("eval", nested(op, names), "--at", at)
    assert code == 0
    tied = {n for n, v in zip(names, values) if v == top}
    # Every input that feeds the tie's gate is marked (a loser under it too: policy.note_kinks).
    assert tied <= {c["variable"] for c in doc["checks"] if c["status"] == "kink"}
    assert "fail" not in {c["status"] for c in doc["checks"]}
    assert any(f"{op} at a tie" in k and "gradient split 0.5/0.5" in k for k in kinks(doc))
    # A subgradient: the shares of the tied inputs add up to 1, the rest get 0.
    grads = doc["gradients"]
    assert sum(grads[n] for n in tied) == pytest.approx(1.0)
    assert all(grads[n] == 0.0 for n in names if n not in tied)


@FEW
@given(width=st.integers(2, 5), op=st.sampled_from(["max", "min"]), data=st.data())
def test_ties_in_an_elementwise_max_or_min_are_kinks_in_the_array_engine(
        width: int, op: str, data: st.DataObject) -> None:
    v = data.draw(st.lists(value, min_size=width, max_size=width))
    ties = data.draw(st.lists(st.booleans(), min_size=width, max_size=width).filter(any))
    w = [a if tie else a + 1 for a, tie in zip(v, ties)]
    code, doc = run_json("eval", f"sum({op}(v, w))", "--at", f"v={v}", "--at", f"w={w}")
    assert code == 0
    assert {c["status"] for c in doc["checks"]} == {"kink"}
    assert any(f"{op} at a tie" in k and f"at {sum(ties)} of {width} entries" in k
               for k in kinks(doc))


def test_a_two_way_tie_is_a_subgradient_not_a_pass() -> None:
    for args in (("max(a, b)", "a=1,b=1"), ("rowmax(v)", "v=[1,1,0]")):
        r = invoke("eval", *args[:1], "--at", args[1])
        assert r.code == 0, r.output
        assert "✓ subgradient (sympy)" in r.stdout
        assert "✓ pass" not in r.stdout


def test_rowmax_of_three_equal_entries_shares_a_third_each() -> None:
    # The example: FAIL before (sympy's Max gives 1/2 to each tied entry).
    r = invoke("eval", "rowmax(v)", "--at", "v=[1,1,1]")
    assert r.code == 0, r.output
    assert "✓ subgradient (sympy)" in r.stdout
    assert "rowmax at a tie for the largest entry: upstream shared evenly by the k tied " \
        "entries, 1/k each (as torch.amax), at 3 of 3 entries ([0], [1], [2])" in \
        " ".join(r.stdout.split())
    _, doc = run_json("eval", "rowmax(v)", "--at", "v=[1,1,1]")
    assert doc["gradients"]["v"] == pytest.approx([1 / 3] * 3)
    assert doc["checks"][0]["sympy"] == pytest.approx([1 / 3] * 3)  # sympy's rowmax: 1/k


def test_rowmax_ties_row_by_row_in_a_matrix() -> None:
    code, doc = run_json("eval", "sum(rowmax(A))", "--at", "A=[[1,1,0],[2,3,3]]")
    assert code == 0
    assert doc["gradients"]["A"] == [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]]
    assert doc["checks"][0]["status"] == "kink"


def test_rowmax_without_a_tie_is_no_kink() -> None:
    code, doc = run_json("eval", "rowmax(v)", "--at", "v=[1,3,2]")
    assert code == 0 and not kinks(doc)
    assert doc["checks"][0]["status"] == "pass"


# ---------------------------------------------------------------- singular points


def test_a_cusp_is_a_domain_error_naming_the_node_as_sqrt_at_0_is() -> None:
    # The example: "verified ... finite differences only" before.
    for expr in ("(x^2)^0.25", "sqrt(x)"):
        r = invoke("eval", expr, "--at", "x=0")
        assert r.code == 2, r.output
        assert "has no finite gradient with respect to" in r.stderr
    r = invoke("eval", "(x^2)^0.25", "--at", "x=0")
    assert "domain error at node #4 `(x^2)^0.25`: pow has no finite gradient with respect " \
        "to #2 at (0, 0.25)" in r.stderr


@FEW
@given(a=value, power=st.sampled_from([0.25, 0.3, 0.4, 0.45]), even=st.sampled_from([2, 4]),
       scale=st.integers(1, 5))
def test_a_root_of_an_even_power_at_its_zero_is_never_verified(a: float, power: float,
                                                               even: int, scale: int) -> None:
    # |x - a|^(even*power) with even*power < 2 ... and not 1 or smooth: a cusp at x = a.
    if (even * power) >= 1:
        return
    r = invoke("eval", f"({scale}*(x - {a})^{even})^{power}", "--at", f"x={a}")
    assert r.code == 2, r.output
    assert "domain error at node" in r.stderr and "no finite gradient" in r.stderr


def test_an_array_cusp_is_a_domain_error_too() -> None:
    r = invoke("eval", "sum((x^2)^0.25)", "--at", "x=[0, 1]")
    assert r.code == 2, r.output
    assert "pow has no finite gradient with respect to #2" in r.stderr


@pytest.mark.parametrize("expr,at,grad", [
    ("sqrt(relu(y))", "y=-0.8", 0.0),
    ("sum(sqrt(relu(y)))", "y=[-0.8, 4]", [0.0, 0.25]),
])
def test_a_flat_gate_stopping_an_infinite_gradient_is_a_named_convention(
        expr: str, at: str, grad: object) -> None:
    code, doc = run_json("eval", expr, "--at", at)
    assert code == 0
    assert doc["gradients"]["y"] == grad
    check = doc["checks"][0]
    assert check["status"] == "kink" and check["proof"] == "none"
    assert any("0·∞ taken as 0, as PyTorch's masked backward" in k for k in kinks(doc))


def test_sqrt_of_relu_at_relus_kink_is_a_domain_error() -> None:
    # Right of 0 the slope is infinite: no convention makes it finite.
    r = invoke("eval", "sqrt(relu(y))", "--at", "y=0")
    assert r.code == 2 and "sqrt has no finite gradient" in r.stderr, r.output


def test_where_sympy_is_undefined_finite_differences_alone_verify_nothing() -> None:
    r = invoke("eval", "x^y", "--at", "x=0,y=2")
    assert r.code == 0, r.output
    assert "verified" not in r.stdout
    assert "sympy's derivative is undefined at this point (finite differences agree, but " \
        "cannot prove a gradient there)" in " ".join(r.stdout.split())
    _, doc = run_json("eval", "x^y", "--at", "x=0,y=2")
    assert {c["proof"] for c in doc["checks"]} == {"none"}
    assert invoke("eval", "x^y", "--at", "x=0,y=2", "--strict").code == 1


# ---------------------------------------------------------------- the policy, evidence by evidence


def decided(c: Any, at_kink: bool = False, direction: dict[str, Any] | None = None) -> Any:
    from backprop_cli.checks.policy import decide
    from backprop_cli.core.result import Tolerance

    decide(c, Tolerance(), at_kink, direction)
    return c


def test_an_undefined_sympy_value_and_an_agreeing_difference_is_not_a_proof() -> None:
    from backprop_cli.core.result import Check

    c = decided(Check("x", 0.0, 0.0, sympy_how="undefined", numeric=0.0, numeric_ok=True))
    assert (c.status, c.proof) == ("unchecked", "none")
    assert c.why.startswith("sympy's derivative is undefined at this point")
    k = decided(Check("x", 0.0, 0.0, sympy_how="undefined", numeric=0.0, numeric_ok=True),
                at_kink=True)
    assert (k.status, k.proof) == ("kink", "none")


def test_undefined_entries_of_an_array_are_proved_by_nothing() -> None:
    from backprop_cli.core.result import Check

    c = decided(Check("v", [1.0, 2.0], [0.0, 0.25], sympy_value=[None, 0.25],
                      sympy_how="formula", numeric=[0.0, 0.25], numeric_ok=True))
    assert (c.status, c.proof) == ("unchecked", "none")
    assert "undefined at [0]" in c.why
    # ... but a defined entry that disagrees is still a failure.
    bad = decided(Check("v", [1.0, 2.0], [0.0, 0.5], sympy_value=[None, 0.25],
                        sympy_how="formula"))
    assert bad.status == "fail"


def test_an_undefined_random_direction_is_no_proof_for_a_difference() -> None:
    from backprop_cli.core.result import Check

    c = decided(Check("x", 0.0, 0.0, numeric=0.0, numeric_ok=True),
                direction={"sympy": {"backprop": 0.0, "reference": None, "ok": False}})
    assert (c.status, c.proof) == ("unchecked", "none")


def test_sympys_disagreement_at_the_engines_kink_neither_proves_nor_fails() -> None:
    from backprop_cli.core.result import Check

    c = decided(Check("b", 1.0, 0.25, sympy_value=0.5, sympy_how="formula"), at_kink=True)
    assert (c.status, c.proof) == ("kink", "none")
    assert any("sympy's convention differs" in n for n in c.notes)
    # Away from a kink the same disagreement is a failure.
    assert decided(Check("b", 1.0, 0.25, sympy_value=0.5, sympy_how="formula")).status == "fail"


# ---------------------------------------------------------------- kinks no gradient reaches


@pytest.mark.parametrize("args", [
    ("relu(x)^2", "--at", "x=0"),
    ("y*relu(x)", "--at", "x=0,y=0"),
    ("cross_entropy(z, y)", "--at", "z=[0,0,0]", "--at", "y=[1,0,0]", "--expand"),
    ("sum(w * softmax(z))", "--at", "z=[1,1,0.5]", "--at", "w=[1,-2,0.5]", "--expand"),
])
def test_a_kink_no_gradient_reaches_is_not_named(args: tuple[str, ...]) -> None:
    # Its upstream is 0, or cancels to 0 (softmax's shift by rowmax): whichever share the
    # gate takes, nothing flows on, and the function is smooth there.
    code, doc = run_json("eval", *args)
    assert code == 0
    assert not kinks(doc)
    assert {c["status"] for c in doc["checks"]} == {"pass"}


def test_a_tiny_gradient_through_a_kink_is_still_a_kink() -> None:
    # Small is not cancelled: 1e-20 * relu(x) is not differentiable at 0.
    _, doc = run_json("eval", "1e-20*relu(x)", "--at", "x=0")
    assert kinks(doc) == ["relu at 0: took subgradient 0"]
    assert doc["checks"][0]["status"] == "kink"


@pytest.mark.parametrize("expr,at", [("s*(s >= 0)", "s=0"), ("s*step(s)", "s=0"),
                                     ("sum(s*(s > 0))", "s=[0, 1]")])
def test_an_indicators_jump_is_named_even_where_no_gradient_reaches_it(expr: str,
                                                                       at: str) -> None:
    # s*(s >= 0) is relu(s): the indicator's upstream s is 0 at 0, but its value jumps.
    code, doc = run_json("eval", expr, "--at", at)
    assert code == 0 and kinks(doc)
    assert doc["checks"][0]["status"] == "kink"
