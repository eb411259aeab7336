"""The gate-by-gate proof in the warm worker (issue 26): the graph travels packed, the worker
makes each op's sympy rules while it waits, the check starts before the passes, and a large
whole formula is never started."""

from __future__ import annotations

import os

import pytest

from backprop_cli import evaluate
from backprop_cli.checks import child, symbolic, sympy_jobs, verify, worker
from backprop_cli.core.errors import DomainError
from backprop_cli.core.ops import OPS
from backprop_cli.core.parse import parse
from backprop_cli.core.point import as_point

from .worker_jobs import forever as _forever

TEXT = "q = x*y + e; q*tanh(q) - 0.1*x/y + pi"
AT = {"x": 0.5, "y": -2}


def _shape(graph: object) -> list[tuple[str, tuple[int, ...], str | None, str]]:
    return [(n.op.name, n.inputs, n.name, n.literal) for n in graph.nodes]  # type: ignore[attr-defined]


def test_a_packed_graph_unpacks_to_the_same_nodes_names_and_output() -> None:
    graph, point = parse(TEXT), as_point(AT)
    again, at = sympy_jobs.unpack(sympy_jobs.pack(graph, point))
    assert _shape(again) == _shape(graph)
    assert (again.variables, again.named, again.output) == (graph.variables, graph.named,
                                                            graph.output)
    assert at.exact == point.exact


def test_the_gates_on_a_packed_graph_are_the_gates_on_the_graph() -> None:
    graph, point = parse(TEXT), as_point(AT)
    sent: list[object] = []
    sympy_jobs.gates(graph, point, ["x", "y"], 1.0, sent.append)
    sympy_jobs.plan_packed(sympy_jobs.pack(graph, point), ["x", "y"], 1.0, False, True,
                           sent.append)
    assert sent[0] == sent[1]


def test_once_warmed_the_gate_pass_differentiates_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for _ in symbolic.warm_rules():
        pass

    def no_diff(*args: object) -> None:
        raise AssertionError("sympy.diff called by the gate pass")

    monkeypatch.setattr(symbolic.sp, "diff", no_diff)
    graph = parse("sigmoid(tanh(x) * exp(y) - log(x) / y) + x^y")
    sent: list[object] = []
    sympy_jobs.gates(graph, as_point({"x": 0.5, "y": 2}), ["x", "y"], 1.0, sent.append)
    assert sent and sent[0][0] == "gates"  # type: ignore[index]


def test_warm_rules_makes_every_scalar_op_one_step_at_a_time() -> None:
    scalar = [op for op in OPS.values() if not op.array_only and op.arity]
    assert sum(1 for _ in symbolic.warm_rules()) == len(scalar)


def test_the_idle_worker_stops_warming_when_a_job_can_be_read() -> None:
    read, write = os.pipe()
    try:
        os.write(write, b"j")
        steps = iter(range(5))
        child._idle_until_job(read, (None for _ in steps))
        assert next(steps) == 0  # not one step taken
    finally:
        os.close(read)
        os.close(write)


def test_the_idle_worker_runs_every_step_while_no_job_comes() -> None:
    read, write = os.pipe()
    try:
        done: list[int] = []
        child._idle_until_job(read, (done.append(k) for k in range(5)))
        assert done == [0, 1, 2, 3, 4]
    finally:
        os.close(read)
        os.close(write)


def test_past_the_per_input_budget_the_whole_formula_is_not_started(
        monkeypatch: pytest.MonkeyPatch, fresh_worker: None) -> None:
    # A formula that never finishes: not started, it neither costs its slice nor the budget,
    # and every input stands proved gate by gate.
    monkeypatch.setattr(sympy_jobs, "formula", _forever)
    monkeypatch.setattr(verify, "SYMPY_PER_VARIABLE_BUDGET", 0)
    v = evaluate("x*y + sin(x)", at={"x": 0.5, "y": 2}, check=("sympy",),
                 budget=60.0).verification
    assert [(c.variable, c.status, c.proof) for c in v.checks] == [
        ("x", "pass", "sympy-gates"), ("y", "pass", "sympy-gates")]
    assert any("2 inputs x 6 terms is past its budget (0)" in n for n in v.notes), v.notes
    assert not any("slice" in n or "stopped" in n for n in v.notes)


def test_a_formula_within_the_per_input_budget_proves_every_input() -> None:
    graph = parse("x*y + sin(x)")
    assert 2 * graph.tree_size(10**6) <= verify.SYMPY_PER_VARIABLE_BUDGET
    v = evaluate("x*y + sin(x)", at={"x": 0.5, "y": 2}, check=("sympy",)).verification
    assert [c.proof for c in v.checks] == ["sympy", "sympy"]


def test_a_domain_error_after_the_check_began_leaves_the_worker_free() -> None:
    with pytest.raises(DomainError):
        evaluate("log(x - 1) * y", at={"x": 0.5, "y": 2})
    warm = worker._worker
    assert warm is None or not warm.busy


def test_sympy_begins_before_the_forward_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_cli.checks import evaluate as module

    order: list[str] = []
    begin, forward = module.begin, module.forward

    def begin_(*args: object, **kwargs: object) -> verify.Begun:
        order.append("begin")
        return begin(*args, **kwargs)  # type: ignore[arg-type]

    def forward_(*args: object, **kwargs: object) -> object:
        order.append("forward")
        return forward(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "begin", begin_)
    monkeypatch.setattr(module, "forward", forward_)
    v = evaluate("x*y", at={"x": 1, "y": 2}).verification
    assert order == ["begin", "forward"]
    assert v is not None and v.counts() == {"sympy": 2}


@pytest.mark.parametrize(("argv", "early"), [
    (["eval", "x*y", "--at", "x=1,y=2"], True),
    (["eval", "x*y", "--at", "x=1,y=2", "--check", "numeric"], False),
    (["eval", "x*y", "--check=sympy"], False),
    (["check", "problems.toml"], False),
    ([], False),
])
def test_the_cli_starts_the_worker_first_for_a_default_eval(argv: list[str],
                                                            early: bool) -> None:
    from backprop_cli._fasthelp import proves_by_default

    assert proves_by_default(argv) is early
