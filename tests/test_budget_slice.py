"""The whole-formula derivative gets a bounded slice of the budget (checks/verify.py
FORMULA_SLICE); past it the gate-by-gate proof stands, for every input."""

from __future__ import annotations

import pytest

from backprop_cli import evaluate
from backprop_cli.checks import sympy_jobs

from .worker_jobs import forever as _forever


def test_a_formula_that_never_finishes_leaves_every_input_proved_gate_by_gate(
        monkeypatch: pytest.MonkeyPatch, fresh_worker: None) -> None:
    # The worker is forked after this patch: its whole-formula derivative never ends, so
    # only the slice can stop it before the budget does.
    monkeypatch.setattr(sympy_jobs, "formula", _forever)
    v = evaluate("x*y + sin(x)", at={"x": 0.5, "y": 2}, check=("sympy",),
                 budget=2.0).verification
    assert [(c.variable, c.status, c.proof) for c in v.checks] == [
        ("x", "pass", "sympy-gates"), ("y", "pass", "sympy-gates")]
    assert v.counts() == {"sympy-gates": 2}
    assert v.complete
    assert any("slice of the budget (0.5 s of 2 s): 2 of 2 gradients proved gate by gate"
               in n for n in v.notes), v.notes
    assert not any("stopped at the budget" in n for n in v.notes)


def test_without_the_gates_proof_the_formula_keeps_the_whole_budget(
        monkeypatch: pytest.MonkeyPatch, fresh_worker: None) -> None:
    # The gates could not be done: nothing proved them, so the slice does not apply and
    # what the budget cut is said as before.
    monkeypatch.setattr(sympy_jobs, "gates", _forever)
    v = evaluate("x*y", at={"x": 0.5, "y": 2}, check=("sympy",), budget=0.5).verification
    assert v.counts() == {"budget": 2}
    assert not any("slice" in n for n in v.notes)


def test_a_cheap_formula_still_proves_every_input_within_its_slice() -> None:
    v = evaluate("x*y + sin(x)", at={"x": 0.5, "y": 2}, check=("sympy",)).verification
    assert [c.proof for c in v.checks] == ["sympy", "sympy"]
    assert all(c.sympy_derivative for c in v.checks)

