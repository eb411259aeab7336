"""One verification policy for both engines (checks/policy.py): verdicts and what proved them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backprop_cli import evaluate
from backprop_cli.checks.policy import decide, flat
from backprop_cli.core.result import Check, Tolerance

from .conftest import invoke as run

# The same scalar computation through the scalar engine and the array engine (jacobian=True
# sends scalars to the array engine as 0-d arrays).
SAME = [
    ("(x+y)*z", {"x": -2, "y": 5, "z": -4}, ("sympy", "numeric")),
    ("sigmoid(w*x + b)", {"w": 2, "x": -1, "b": 0.5}, ("sympy", "numeric")),
    ("relu(x)*y", {"x": 0, "y": 2}, ("sympy", "numeric")),  # a kink at the point
    ("relu(x)*y", {"x": 0, "y": 2}, ("numeric",)),  # a kink, finite differences only
    ("abs(x - 0.0000001)", {"x": 0}, ("numeric",)),  # a kink inside the first step
    ("x^99999999", {"x": 1}, ("sympy", "numeric")),  # differences cannot resolve it
    ("x^99999999", {"x": 1}, ("numeric",)),
    ("1/x", {"x": 0.00001}, ("numeric",)),
    ("exp(x)", {"x": 709.7827128933}, ("numeric",)),  # every step overflows or leaves the domain
    ("log(x)*y", {"x": 2, "y": 3}, ()),
]


def _verdicts(r) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    if r.verification is None:
        return []
    return [(c.variable, c.status, c.proof) for c in r.verification.checks]


@pytest.mark.parametrize(("expr", "at", "check"), SAME)
def test_both_engines_give_the_same_verdicts_and_gradients(expr: str, at: dict[str, float],
                                                            check: tuple[str, ...]) -> None:
    scalar = evaluate(expr, at=at, check=check)
    array = evaluate(expr, at=at, check=check, jacobian=True)
    assert array.shaped and not scalar.shaped  # two engines did run
    assert _verdicts(scalar) == _verdicts(array)
    assert scalar.gradients is not None and array.gradients is not None
    for name, g in scalar.gradients.items():
        assert array.gradients[name] == pytest.approx(g, rel=1e-12, abs=1e-300)
    assert scalar.ok == array.ok


def test_a_difference_that_overflows_is_inconclusive_not_a_failure() -> None:
    r = evaluate("exp(x)", at={"x": 709.7827128933}, check=("numeric",))
    c = r.verification.checks[0]
    assert (c.status, c.proof) == ("unchecked", "none")
    assert r.ok  # not a failure: nothing could check it, and the row says so


def test_sympy_decides_when_differences_disagree() -> None:
    c = Check("x", 1.0, 1e8, sympy_value=1e8, sympy_how="formula", numeric=1.3e49,
              numeric_ok=False)
    decide(c, Tolerance(), at_kink=False)
    assert (c.status, c.proof) == ("pass", "sympy")
    assert any("cannot resolve" in n for n in c.notes)


def test_sympy_disagreeing_fails_whatever_differences_say() -> None:
    c = Check("x", 1.0, 2.0, sympy_value=3.0, sympy_how="gates", numeric=2.0, numeric_ok=True)
    decide(c, Tolerance(), at_kink=False)
    assert (c.status, c.proof) == ("fail", "sympy-gates")


def test_differences_alone_that_disagree_fail() -> None:
    c = Check("x", 1.0, 2.0, numeric=3.0, numeric_ok=False)
    decide(c, Tolerance(), at_kink=False)
    assert c.status == "fail"


def test_nothing_checked_because_of_the_budget_says_so() -> None:
    c = Check("x", 1.0, 2.0, why="budget: sympy did not finish within 1 s")
    decide(c, Tolerance(), at_kink=False)
    assert (c.status, c.proof) == ("unchecked", "budget")


def test_array_entries_are_compared_one_by_one() -> None:
    c = Check("W", [[1.0, 2.0]], [[1.0, 2.0]], sympy_value=[[1.0, 2.5]], sympy_how="formula")
    decide(c, Tolerance(), at_kink=False)
    assert c.status == "fail" and any("[0,1]" in n.replace(" ", "") for n in c.notes)


def test_flat_walks_nested_lists_in_row_major_order() -> None:
    assert flat([[1, 2], [3, [4, 5]]]) == [1, 2, 3, 4, 5]
    assert flat(7.0) == [7.0]


def test_json_says_which_check_proved_each_gradient() -> None:
    proc = run("eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--json")
    doc = json.loads(proc.stdout)
    assert [c["proof"] for c in doc["checks"]] == ["sympy"] * 3
    assert doc["checks"][0]["proved_by"] == "proved by sympy"
    summary = doc["check_summary"]
    assert summary["counts"] == {"sympy": 3}
    assert summary["complete"] is True and summary["checked_nothing"] is False


def test_table_names_the_proof_and_counts_each_kind() -> None:
    proc = run("eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--check", "numeric")
    assert "✓ pass (fin. diff. only)" in proc.stdout
    assert "checks: 3 finite differences only" in proc.stdout


def test_gate_by_gate_proof_where_the_formula_is_too_big() -> None:
    expr = "tanh(" * 60 + "x*y" + ")" * 60  # too deep for the whole formula
    r = evaluate(expr, at={"x": 0.3, "y": 0.2})
    assert {c.proof for c in r.verification.checks} == {"sympy-gates"}
    assert r.ok


def test_gate_by_gate_proof_catches_a_wrong_local_gradient(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from backprop_cli.core import ops
    from backprop_cli.core.parse import parse

    graph = parse("tanh(" * 60 + "x" + ")" * 60)
    tanh = graph.nodes[-1].op
    wrong = dataclasses.replace(tanh, local=lambda args, out: (2.0 * (1 - out * out),))
    for node in graph.nodes:
        if node.op is tanh:
            node.op = wrong
    monkeypatch.setattr("backprop_cli.checks.evaluate.parse", lambda text, bound=(): graph)
    r = evaluate("ignored", at={"x": 0.3}, check=("sympy",))
    assert ops.OPS  # the table itself is untouched
    assert r.verification.checks[0].status == "fail"
    assert not r.ok


def test_strict_exits_1_when_nothing_was_checked() -> None:
    assert run("eval", "x*y", "--at", "x=1,y=2", "--check", "none").code == 0
    assert run("eval", "x*y", "--at", "x=1,y=2", "--check", "none", "--strict").code == 1
    assert run("eval", "x*y", "--at", "x=1,y=2", "--strict").code == 0


def test_a_kink_nothing_can_check_is_named_and_not_verified() -> None:
    proc = run("eval", "relu(x)", "--at", "x=0", "--check", "numeric")
    assert proc.code == 0
    assert "no gradient was checked" in " ".join(proc.stdout.split())
    assert "verified" not in proc.stdout


def test_check_strict_fails_a_set_with_a_gradient_nothing_checked(tmp_path: Path) -> None:
    f = tmp_path / "set.toml"
    f.write_text('[a]\nexpression = "x*y"\nat = "x=1,y=2"\n'
                 '[b]\nexpression = "x+y"\nat = "x=1,y=2"\ncheck = []\n')
    plain = run("check", str(f), "--json")
    assert plain.code == 0, plain.output
    doc = json.loads(plain.stdout)
    assert [p["unchecked"] for p in doc["problems"]] == [[], ["x", "y"]]
    assert doc["summary"]["unchecked"] == 1
    assert "1 problem with gradients not checked" in doc["summary"]["line"]
    assert run("check", str(f), "--strict").code == 1
    f.write_text('[a]\nexpression = "x*y"\nat = "x=1,y=2"\n')
    assert run("check", str(f), "--strict").code == 0


def test_a_constant_has_nothing_to_check_and_spends_no_budget() -> None:
    v = evaluate("2^3^2").verification
    assert v is not None and v.checks == [] and v.seconds == 0.0
