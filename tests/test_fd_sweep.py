"""Finite differences that explain themselves (checks/numeric.py): issue 12's false alarms."""

from __future__ import annotations

import pytest

from backprop_cli import evaluate
from backprop_cli.checks.numeric import difference
from backprop_cli.core.result import Tolerance

from .conftest import invoke

# Issue 12: each printed a correct sympy gradient beside a wrong difference and said FAIL.
FALSE_ALARMS = [
    ("x^99999999", 1.0, 99999999.0),
    ("1/x", 0.00001, -1e10),
    ("log(x)", 0.00001, 1e5),
    ("sqrt(x)", 0.000001, 500.0),
    ("x^30000", 1.0, 30000.0),
]


@pytest.mark.parametrize(("expr", "x", "grad"), FALSE_ALARMS)
def test_false_alarm_passes_when_sympy_proves_it(expr: str, x: float, grad: float) -> None:
    r = evaluate(expr, at={"x": x})
    c = r.verification.checks[0]
    assert c.backprop == pytest.approx(grad, rel=1e-9)
    assert (c.status, c.proof) == ("pass", "sympy")
    assert r.ok


@pytest.mark.parametrize(("expr", "x", "grad"), FALSE_ALARMS)
def test_false_alarm_is_no_failure_with_differences_alone(expr: str, x: float,
                                                          grad: float) -> None:
    r = evaluate(expr, at={"x": x}, check=("numeric",))
    c = r.verification.checks[0]
    assert c.status != "fail"
    if c.status == "pass":  # the sweep found a step that resolves it
        assert c.numeric == pytest.approx(grad, rel=1e-4)
    else:  # no step does (x^99999999): said, with the reason
        assert c.proof == "none" and any("do not settle" in n for n in c.notes)


def test_the_cli_exit_code_of_a_false_alarm_is_0() -> None:
    assert invoke("eval", "x^99999999", "--at", "x=1").code == 0


def test_a_stable_wrong_difference_still_fails() -> None:
    # f(t) = t^2, backprop claiming 3 at t = 1: every step agrees on 2, so this is a failure.
    d = difference(lambda t: (t * t, ()), 1.0, 3.0, Tolerance())
    assert d.ok is False and d.value == pytest.approx(2.0, rel=1e-6)


def test_the_sweep_runs_from_1e_2_to_1e_9() -> None:
    d = difference(lambda t: (t**3, ()), 1.0, 3.0, Tolerance(), explain=True)
    steps = [h for h, _, _ in d.sweep or []]
    assert max(steps) == pytest.approx(1e-2) and min(steps) == pytest.approx(1e-9)
    assert d.ok is True


def test_a_kink_inside_the_first_step_is_stepped_over() -> None:
    # |x - 1e-7| at 0: the first step (1e-6) crosses the kink; smaller ones do not.
    r = evaluate("abs(x - 0.0000001)", at={"x": 0}, check=("numeric",))
    c = r.verification.checks[0]
    assert (c.status, c.proof) == ("pass", "numeric")
    assert c.numeric == pytest.approx(-1.0, rel=1e-6)


def test_a_kink_at_the_point_is_named_not_failed() -> None:
    r = evaluate("relu(x)", at={"x": 0}, check=("numeric",))
    c = r.verification.checks[0]
    assert c.status == "kink" and r.ok
    assert any("relu" in n for n in c.notes)


def test_explain_shows_the_sweep_as_a_table() -> None:
    proc = invoke("eval", "x^99999999", "--at", "x=1", "--explain")
    assert proc.code == 0
    assert "Finite differences of ∂f/∂x against the step" in proc.stdout
    assert "← trusted" in proc.stdout and "1e-09" in proc.stdout


def test_explain_sweeps_an_array_entry_too() -> None:
    r = evaluate("sum(x^3)", at={"x": [1.0, 2.0]}, explain=True)
    c = r.verification.checks[0]
    assert c.sweep and c.status == "pass"
    steps = [row["h"] for row in r.to_dict()["checks"][0]["fd_sweep"]]
    assert steps == sorted(steps, reverse=True) and len(steps) >= 8


def test_a_problem_with_a_right_answer_is_not_failed_by_a_false_alarm() -> None:
    from backprop_cli import parse_problems, run_problems

    pset = parse_problems('[big-power]\nexpression = "x^99999999"\nat = "x=1"\n'
                          'expect = { dx = 99999999 }\n')
    assert [r.status for r in run_problems(pset).results] == ["pass"]


def test_finite_differences_reuse_the_forward_pass_at_the_point(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two probes (x0 +- h) per input where the first step agrees: the run at x0 itself is
    # the forward pass evaluate made already.
    from backprop_cli.checks import verify

    calls: list[object] = []
    forward = verify.forward

    def counted(*args: object) -> object:
        calls.append(args)
        return forward(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(verify, "forward", counted)
    v = evaluate("x*y + relu(x)", at={"x": 0.5, "y": 2}, check=("numeric",)).verification
    assert v is not None and [c.proof for c in v.checks] == ["numeric", "numeric"]
    assert len(calls) == 4
