"""One wall-clock budget for the whole check (checks/worker.py): sympy is stopped there."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backprop_cli import evaluate
from backprop_cli.checks import sympy_jobs, worker
from backprop_cli.checks.worker import Job
from backprop_cli.core.errors import InputError
from backprop_cli.course.problems import parse_problems

from .conftest import run
from .worker_jobs import boom as _boom
from .worker_jobs import first_then_forever as _first_then_forever
from .worker_jobs import forever as _forever
from .worker_jobs import two as _two


def test_a_job_past_its_deadline_is_stopped_and_keeps_what_it_sent() -> None:
    start = time.monotonic()
    job = Job(_first_then_forever, (), time.monotonic() + 0.5)
    assert job._worker is not None
    pid = job._worker.pid
    got = list(job.results())
    assert got == [("first", 1)]
    assert not job.finished
    assert time.monotonic() - start < 30  # it ends (a generous bound, not a speed test)
    with pytest.raises(ChildProcessError):  # killed and reaped
        os.waitpid(pid, os.WNOHANG)


def test_a_finished_job_says_so_and_the_next_job_reuses_its_worker() -> None:
    job = Job(_two, (), time.monotonic() + 60)
    assert list(job.results()) == [("x", 2)] and job.finished and job.error is None
    warm = worker._worker
    again = Job(_two, (), time.monotonic() + 60)
    assert list(again.results()) == [("x", 2)] and worker._worker is warm


def test_an_error_in_the_worker_is_reported_not_raised() -> None:
    job = Job(_boom, (), time.monotonic() + 60)
    assert list(job.results()) == []
    assert job.error is not None and "boom" in job.error


def test_a_worker_that_died_between_jobs_is_replaced() -> None:
    assert list(Job(_two, (), time.monotonic() + 60).results()) == [("x", 2)]
    dead = worker._worker
    assert dead is not None
    os.kill(dead.pid, signal.SIGKILL)
    assert list(Job(_two, (), time.monotonic() + 60).results()) == [("x", 2)]
    assert worker._worker is not dead


def test_sympy_that_does_not_finish_leaves_not_checked_budget(
        monkeypatch: pytest.MonkeyPatch,
        fresh_worker: None) -> None:
    # The worker is forked after this patch: its sympy never finishes.
    monkeypatch.setattr(sympy_jobs, "gates", _forever)
    r = evaluate("x*y + sin(x)", at={"x": 0.5, "y": 2}, check=("sympy",), budget=0.5)
    v = r.verification
    assert [(c.status, c.proof) for c in v.checks] == [("unchecked", "budget")] * 2
    assert all(c.why.startswith("budget") for c in v.checks)
    assert any("budget" in n for n in v.notes)
    assert r.ok and not v.complete  # not a failure; --strict makes it one
    assert v.counts() == {"budget": 2}


def test_finite_differences_still_prove_what_sympy_could_not(
        monkeypatch: pytest.MonkeyPatch,
        fresh_worker: None) -> None:
    monkeypatch.setattr(sympy_jobs, "gates", _forever)
    r = evaluate("x*y", at={"x": 0.5, "y": 2}, budget=0.5)
    assert [c.proof for c in r.verification.checks] == ["numeric", "numeric"]


def test_symbolic_mode_is_budgeted(monkeypatch: pytest.MonkeyPatch,
        fresh_worker: None) -> None:
    from backprop_cli.checks import symbolic

    monkeypatch.setattr(symbolic, "output_expr", _forever)
    r = evaluate("x*y + tanh(x)", budget=0.5)
    assert r.symbolic == {}
    assert any("budget" in n for n in r.notes)


def test_an_expression_sympy_cannot_handle_in_time_ends_and_says_what_it_proved() -> None:
    # 30 levels of nested tanh/log/sigmoid over 20 inputs, each level using the one below
    # twice (written out as one formula: 2^30 terms).
    names = [f"x{i}" for i in range(20)]
    lines = ["q0 = " + " + ".join(names)]
    for k in range(30):
        fn = ("tanh", "sigmoid", "tanh")[k % 3]
        lines.append(f"q{k + 1} = {fn}({names[k % 20]} * q{k}) + log(1 + sigmoid(q{k}))")
    f = "; ".join(lines)
    at = ",".join(f"{n}=0.{i + 1}" for i, n in enumerate(names))
    start = time.monotonic()
    proc = run("eval", "-", "--at", at, "--budget", "1", "--json", input=f, timeout=120)
    assert time.monotonic() - start < 60  # it ends; a generous bound, not a speed test
    assert proc.code in (0, 1), proc.stderr[-2000:]
    import json

    doc = json.loads(proc.stdout)
    for c in doc["checks"]:
        assert c["status"] != "fail"
        assert c["proof"] in ("sympy-gates", "sympy", "numeric", "budget")


def test_budget_option_and_api_reject_a_non_positive_budget() -> None:
    with pytest.raises(InputError):
        evaluate("x", at={"x": 1}, budget=0)
    proc = run("eval", "x", "--at", "x=1", "--budget", "-1")
    assert proc.code == 2 and "Traceback" not in proc.stderr


def test_problem_sets_take_a_budget_per_problem_and_for_the_file() -> None:
    pset = parse_problems('budget = 2\n[a]\nexpression = "x*y"\nat = "x=1,y=2"\n'
                          '[b]\nexpression = "x"\nat = "x=1"\nbudget = 0.5\n')
    assert [p.budget for p in pset.items] == [2.0, 0.5]


def test_problem_budget_must_be_positive() -> None:
    pset = parse_problems('[a]\nexpression = "x"\nat = "x=1"\nbudget = 0\n')
    assert "budget" in pset.items[0].message  # an error row, not a crash


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the worker process needs os.fork")
def test_the_warm_worker_leaves_with_its_process() -> None:
    code = ("from backprop_cli import evaluate; from backprop_cli.checks import worker; "
            "evaluate('x*y', at={'x': 1, 'y': 2}); print(worker._worker.pid)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    pid = int(done.stdout)
    with pytest.raises(ProcessLookupError):  # killed and reaped at exit
        os.kill(pid, 0)


def test_check_budget_option_applies_to_problems_without_their_own(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_cli.course import batch

    from .conftest import invoke

    key = tmp_path / "set.toml"
    key.write_text('[own]\nexpression = "x*y"\nat = { x = 2, y = 3 }\nbudget = 7\n\n'
                   '[plain]\nexpression = "x+y"\nat = { x = 2, y = 3 }\n')
    seen: dict[str, float | None] = {}
    real = batch.run_problems

    def spy(pset, **kw):  # type: ignore[no-untyped-def]
        seen.update({p.name: p.budget for p in pset.items})
        return real(pset, **kw)

    monkeypatch.setattr(batch, "run_problems", spy)
    assert invoke("check", str(key), "--budget", "1.5").code == 0
    assert seen == {"own": 7.0, "plain": 1.5}
    bad = invoke("check", str(key), "--budget", "-1")
    assert bad.code == 2 and "--budget" in bad.stderr
