"""The sympy worker's in-process path (checks/worker.py, START "inline"): where no process can be
forked and no thread started (the browser's Pyodide), each job runs in the calling thread, the
budget checked between its results. Forced here on CPython, with fork and threads made to fail
as they do in Pyodide."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from backprop_cli.checks import worker
from backprop_cli.checks.evaluate import evaluate
from backprop_cli.checks.policy import sympy_stop_notes
from backprop_cli.core.result import Check, Tolerance


def _no_fork() -> int:
    raise OSError(38, "Function not implemented")


def _no_thread(self: threading.Thread) -> None:
    raise RuntimeError("can't start new thread")


@pytest.fixture
def browser_like(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No fork, no threads, START "inline"; the warm worker (if any) retired first."""
    worker.retire()
    monkeypatch.setattr(worker, "START", "inline")
    monkeypatch.setattr(os, "fork", _no_fork)
    monkeypatch.setattr(threading.Thread, "start", _no_thread)
    yield
    worker.retire()


def late(seconds: float, send: worker.Send) -> None:
    """A job whose one result comes after ``seconds`` (one long call, as sympy's can be)."""
    time.sleep(seconds)
    send(("late", 1))


def test_lecture_proved_by_sympy_in_process(browser_like: None) -> None:
    result = evaluate("(x+y)*z", ["x=-2,y=5,z=-4"])
    assert result.value == -12
    assert result.gradients == {"x": -4, "y": -4, "z": 3}
    assert result.verification is not None
    assert [(c.variable, c.status, c.proof) for c in result.verification.checks] == [
        ("x", "pass", "sympy"), ("y", "pass", "sympy"), ("z", "pass", "sympy")]
    assert [c.sympy_derivative for c in result.verification.checks] == ["z", "z", "x + y"]


def test_inline_job_is_soft(browser_like: None) -> None:
    job = worker.Job(late, (0.2,), time.monotonic() + 0.01)
    assert not job.hard
    assert list(job.results()) == []  # its result came after the deadline: not kept
    assert not job.finished


def test_budget_note_says_the_deadline_is_soft(browser_like: None) -> None:
    job = worker.Job(late, (0.2,), time.monotonic() + 0.01)
    notes: list[str] = []
    sympy_stop_notes(job, [Check("x", 1.0, 2.0)], Tolerance(time_budget=3), notes)
    assert len(notes) == 1
    assert notes[0].startswith("sympy stopped at the budget (3 s, --budget): 1 of 1 gradients")
    assert "checked between its results and could not cut one long sympy call short" in notes[0]


def test_pyodide_chooses_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "START", "auto")
    monkeypatch.setattr(sys, "platform", "emscripten")  # os.fork exists there, and fails
    assert worker._inline()


def test_linux_does_not_choose_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(worker, "START", "auto")
    monkeypatch.setattr(sys, "platform", "linux")
    assert worker._inline() is not hasattr(os, "fork")
