"""Hostile input, round three (issue 30): the grader always answers, outputs never replace
inputs, every size checked before the work, and the library leaves its caller alone.

One test per finding; where the behaviour is the process's own (exit codes, a FIFO, memory
caps, inherited descriptors, warnings in a threaded process) it runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from backprop_cli.course.grade import read_submission
from backprop_cli.course.toml_recovery import MAX_FULL_READS, read_toml

from .conftest import REPO, assert_bad_input, invoke
from .test_hostile import ENV, assert_refused, capped, process

KEY_ARGS = ["make", "mul", "--seed", "1"]


@pytest.fixture
def key(tmp_path: Path) -> Path:
    """A one-problem answer key ([mul-1]: value, dx, dy) and its blank template."""
    out = invoke(*KEY_ARGS, "-o", str(tmp_path / "key.toml"),
                 "--template", str(tmp_path / "blank.toml"))
    assert out.code == 0, out.output
    return tmp_path / "key.toml"


def grade_process(key: Path, submission: str | Path, *extra: str,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`backprop check KEY --answers SUBMISSION ...` as a real process; ``timeout``: the
    platform's (PrairieLearn's questions allow 20 s), past which the grader has failed."""
    return subprocess.run([sys.executable, "-m", "backprop_cli", "check", str(key),
                           "--answers", str(submission), *extra], capture_output=True,
                          text=True, env=ENV, cwd=REPO, timeout=timeout)


# --- 3. TOML error recovery in one pass, messages capped ----------------------------------

BROKEN_9000 = "".join(f"[t{i}]\nx = = 1\n" for i in range(9000))


def test_nine_thousand_broken_tables_are_each_set_aside() -> None:
    got = read_toml("[first]\nx = 1\n" + BROKEN_9000 + "[last]\ny = 2\n")
    assert got.fatal is None
    assert got.doc == {"first": {"x": 1}, "last": {"y": 2}}
    assert len(got.broken) == 9000
    assert got.broken[0].name == "t0" and got.broken[0].line == 4


def test_a_broken_table_costs_only_its_own_problem_and_its_other_tables() -> None:
    text = "[a]\nx = 1\n[b]\ny = ]\n[c]\nz = 3\n[b.expect]\nw = 4\n"
    got = read_toml(text)
    assert got.doc == {"a": {"x": 1}, "c": {"z": 3}}
    assert [(b.name, b.line) for b in got.broken] == [("b", 4)]


def test_a_multi_line_string_holding_a_bracket_line_is_not_cut() -> None:
    text = '[a]\nd = """\n[not a table\n"""\n[b]\ny = ]\n'
    got = read_toml(text)
    assert got.doc == {"a": {"d": "[not a table\n"}}
    assert [b.name for b in got.broken] == ["b"]


def test_tables_declared_twice_end_in_one_message_after_a_bounded_number_of_reads() -> None:
    got = read_toml("".join(f"[a]\nx = {i}\n" for i in range(3000)) + "[z\n")
    assert got.doc is None and got.fatal is not None
    assert f"more than {MAX_FULL_READS} tables" in got.fatal


def test_a_submission_of_broken_tables_is_graded_with_a_short_message(
        key: Path, tmp_path: Path) -> None:
    sub = tmp_path / "answers.toml"
    sub.write_text(BROKEN_9000)
    results = tmp_path / "pl.json"
    p = grade_process(key, sub, "--prairielearn", str(results), timeout=20)
    assert p.returncode == 2, p.stderr
    doc = json.loads(results.read_text())
    assert doc["gradable"] is False
    assert results.stat().st_size < 5_000
    assert "and 8,995 more tables" in doc["message"]


def test_a_key_of_broken_tables_reports_each_as_an_error_row(tmp_path: Path) -> None:
    path = tmp_path / "key.toml"
    path.write_text('[ok]\nexpression = "x*y"\nat = {x = 2, y = 3}\n'
                    + "".join(f"[t{i}]\nx = = 1\n" for i in range(3000)))
    from backprop_cli.course.problems import load_problems

    pset = load_problems(path)
    assert len(pset.invalid) == 3000 and [p.name for p in pset.problems] == ["ok"]
    assert pset.items[0].name == "ok" and pset.items[1].name == "t0"


# --- 4. deep nesting in a student's file -----------------------------------------------

@pytest.mark.parametrize("deep", ["[mul-1]\ndx = " + "[" * 4000,
                                  "[mul-1]\ndx = " + "{a=" * 1400,
                                  "dx = " + "{a=" * 1400,
                                  "[mul-1]\ndx = " + "[\n" * 2000])
def test_deep_nesting_in_a_submission_is_a_clear_message_not_a_crash(
        deep: str, key: Path, tmp_path: Path) -> None:
    sub = tmp_path / "answers.toml"
    sub.write_text(deep + "\n[other]\ny = 1\n")
    results = tmp_path / "gs.json"
    p = grade_process(key, sub, "--gradescope", str(results))
    assert p.returncode in (1, 2), p.stderr
    assert "RecursionError" not in p.stdout + p.stderr + results.read_text()
    assert "internal error" not in p.stdout + p.stderr + results.read_text()


def test_deep_nesting_sets_aside_only_its_own_table() -> None:
    sub = read_submission("s.toml", "[p]\nx = " + "[" * 4000 + "\n[q]\ny = 1\n")
    assert "nested more than 32 levels" in sub.broken["p"]
    assert sub.answers["q"]["y"].raw == 1


@pytest.mark.parametrize("answer", ["[" * 3000 + "1" + "]" * 3000,
                                    "(" * 3000 + "x" + ")" * 3000,
                                    "sin(" * 3000 + "x" + ")" * 3000])
def test_deep_nesting_inside_an_answer_string_is_graded(
        answer: str, key: Path, tmp_path: Path) -> None:
    sub = tmp_path / "answers.toml"
    sub.write_text(f'[mul-1]\nvalue = 1\ndx = "{answer}"\n')
    p = grade_process(key, sub, "--gradescope", str(tmp_path / "gs.json"))
    assert p.returncode == 1, p.stderr
    assert "internal error" not in p.stdout + p.stderr


_GRADER_BUG = """
import sys
import backprop_cli.course.grade as g
def broken(*a, **k):
    raise ZeroDivisionError("a bug planted by the test")
g.grade = broken
from backprop_cli.cli import app
app(prog_name="backprop")
"""


def test_an_internal_error_in_the_grader_exits_3_and_still_writes_the_results(
        key: Path, tmp_path: Path) -> None:
    results = tmp_path / "gs.json"
    sub = tmp_path / "blank.toml"
    p = subprocess.run([sys.executable, "-c", _GRADER_BUG, "check", str(key), "--answers",
                        str(sub), "--gradescope", str(results)], capture_output=True,
                       text=True, env=ENV, cwd=REPO, timeout=120)
    assert p.returncode == 3, p.stderr
    assert "ZeroDivisionError" in json.loads(results.read_text())["output"]


# --- 6. outputs never replace inputs ----------------------------------------------------

@pytest.mark.parametrize("option,which", [("--gradescope", "key"), ("--prairielearn", "sub"),
                                          ("--gradescope", "sub")])
def test_a_results_file_never_replaces_the_key_or_the_submission(
        option: str, which: str, key: Path, tmp_path: Path) -> None:
    sub = tmp_path / "blank.toml"
    target = key if which == "key" else sub
    before = target.read_bytes()
    out = invoke("check", str(key), "--answers", str(sub), option, str(target))
    assert_bad_input(out, "is also this run's input")
    assert target.read_bytes() == before


def test_an_empty_results_path_is_an_error_not_ignored(key: Path, tmp_path: Path) -> None:
    out = invoke("check", str(key), "--answers", str(tmp_path / "blank.toml"),
                 "--gradescope", "")
    assert_bad_input(out, "--gradescope was given an empty file name")


def test_a_results_folder_that_cannot_be_made_is_exit_2_and_the_other_file_is_written(
        key: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    ok = tmp_path / "pl.json"
    out = invoke("check", str(key), "--answers", str(tmp_path / "blank.toml"),
                 "--gradescope", str(tmp_path / "afile" / "x.json"), "--prairielearn", str(ok))
    assert out.code == 2, out.output
    assert "its folder cannot be made" in out.stderr and "Traceback" not in out.output
    assert json.loads(ok.read_text())["score"] == 0.0


@pytest.mark.parametrize("first,second", [("-o", "--template"), ("-o", "--worksheet"),
                                          ("--worksheet", "--template")])
def test_make_never_writes_one_output_over_another(first: str, second: str,
                                                   tmp_path: Path) -> None:
    path = tmp_path / "out.toml"
    path.write_text("mine\n")
    out = invoke(*KEY_ARGS, first, str(path), second, str(tmp_path / "." / "out.toml"))
    assert_bad_input(out, "one would replace the other")
    assert path.read_text() == "mine\n"


def test_make_checks_its_outputs_before_the_work(tmp_path: Path) -> None:
    out = invoke(*KEY_ARGS, "-o", str(tmp_path / "nowhere" / "k.toml"))
    assert_bad_input(out, "does not exist")


# --- 14. one rule for seeds --------------------------------------------------------------

@pytest.mark.parametrize("args", [["formula", "x^2", "dx = 2*x"], ["make", "mul"], ["quiz"]])
def test_a_negative_seed_is_refused_by_every_command(args: list[str]) -> None:
    out = invoke(*args, "--seed", "-1", input="")
    assert out.code == 2, out.output
    assert "-1 is not in the range x>=0" in out.output


def test_a_negative_seed_is_exit_2_in_a_real_process() -> None:
    p = process("formula", "x^2", "dx = 2*x", "--seed", "-1")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr


# --- 5. a FIFO as the submission, a file name holding newlines ---------------------------

def test_a_fifo_as_the_submission_is_refused_without_blocking(key: Path,
                                                             tmp_path: Path) -> None:
    fifo = tmp_path / "answers.toml"
    os.mkfifo(fifo)
    results = tmp_path / "pl.json"
    p = grade_process(key, fifo, "--prairielearn", str(results), timeout=20)
    assert p.returncode == 2, p.stderr
    doc = json.loads(results.read_text())
    assert doc["gradable"] is False and "not a regular file" in doc["message"]


def _gradescope_run(tmp_path: Path, make_submission: Callable[[Path], None],
                    stdin: bytes = b"") -> dict[str, Any]:
    """examples/gradescope/run_autograder in a folder laid out as Gradescope's, ``stdin``
    on its standard input (which it must never read)."""
    from .test_autograder import GRADESCOPE, _env

    (tmp_path / "source").mkdir()
    (tmp_path / "submission").mkdir()
    shutil.copy(GRADESCOPE / "key.toml", tmp_path / "source" / "key.toml")
    make_submission(tmp_path / "submission")
    done = subprocess.run(["bash", str(GRADESCOPE / "run_autograder")], input=stdin,
                          env=_env(AUTOGRADER_ROOT=str(tmp_path)), capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    doc: dict[str, Any] = json.loads((tmp_path / "results" / "results.json").read_text())
    return doc


def test_run_autograder_never_reads_standard_input_for_a_file_name_with_newlines(
        tmp_path: Path) -> None:
    from .test_autograder import EXAMPLE_ANSWERS

    # Sorted line by line, this name's line "-" would come first: standard input.
    def newline_name(folder: Path) -> None:
        (folder / "z\n-\n.toml").write_text("[circuit-1]\nvalue = 12345\n")

    doc = _gradescope_run(tmp_path, newline_name, stdin=EXAMPLE_ANSWERS.read_bytes())
    assert doc["score"] == 0  # graded the file (one wrong answer), not the answers on stdin
    assert "12345" in json.dumps(doc)


def test_run_autograder_with_a_fifo_still_writes_its_results(tmp_path: Path) -> None:
    doc = _gradescope_run(tmp_path, lambda folder: os.mkfifo(folder / "answers.toml"))
    assert doc["score"] == 0 and doc["output"]


# --- 15, 16. the worker holds none of its caller's descriptors, and is not forked from a
# process with threads -------------------------------------------------------------------

_CAT_FIRST = """
import subprocess, sys
cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
import threading
if sys.argv[1] == "threaded":
    stop = threading.Event()
    threading.Thread(target=stop.wait, daemon=True).start()
from backprop_cli import evaluate
r = evaluate("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
assert [c.proof for c in r.verification.checks] == ["sympy"] * 3
cat.stdin.close()
try:
    print("cat ended", cat.wait(timeout=30))
except subprocess.TimeoutExpired:
    print("cat still waits")
    cat.kill()
"""


@pytest.mark.parametrize("how", ["one-thread", "threaded"])
def test_a_pipe_the_caller_opened_ends_when_the_caller_closes_it(how: str) -> None:
    p = subprocess.run([sys.executable, "-c", _CAT_FIRST, how], capture_output=True,
                       text=True, env=ENV, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == "cat ended 0"


# Run in a process (or a kernel) that has another thread: every warning is recorded, and
# every os.fork() of this process counted (a fork server is started by exec, not os.fork).
_THREADED = """
import os, threading, warnings
stop = threading.Event()
threading.Thread(target=stop.wait, daemon=True).start()
forks = []
real_fork = os.fork
def counted_fork():
    forks.append(threading.active_count())
    return real_fork()
os.fork = counted_fork
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from backprop_cli import evaluate
    r = evaluate("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
    r2 = evaluate("sin(x)*y", at={"x": 1, "y": 2})
proofs = [c.proof for c in r.verification.checks + r2.verification.checks]
fork_warnings = [str(w.message) for w in caught if "fork" in str(w.message)]
print("RESULT", proofs, forks, fork_warnings)
stop.set()
"""
_SAFE = "RESULT ['sympy', 'sympy', 'sympy', 'sympy', 'sympy'] [] []"


def test_evaluate_in_a_threaded_process_never_forks_it() -> None:
    p = subprocess.run([sys.executable, "-W", "error", "-c", _THREADED], capture_output=True,
                       text=True, env=ENV, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == _SAFE
    assert "multi-threaded" not in p.stderr


def test_evaluate_in_a_jupyter_kernel_never_forks_it() -> None:
    nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed")
    nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed")
    pytest.importorskip("ipykernel", reason="no ipykernel")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_THREADED)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(REPO)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[0]["outputs"])
    assert out.strip() == _SAFE, nb.cells[0]["outputs"]


def test_the_fork_server_leaves_with_its_process() -> None:
    code = ("import threading; threading.Thread(target=threading.Event().wait, daemon=True)"
            ".start(); from backprop_cli import evaluate; from backprop_cli.checks import "
            "worker; evaluate('x*y', at={'x': 1, 'y': 2}); "
            "print(worker._server.process.pid, worker._worker.pid)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=ENV, cwd=REPO, timeout=120, check=True)
    for pid in map(int, done.stdout.split()):
        with pytest.raises(ProcessLookupError):  # ended and reaped with its process
            os.kill(pid, 0)


def test_a_worker_of_the_fork_server_is_stopped_at_the_deadline(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from backprop_cli.checks import worker

    from .worker_jobs import first_then_forever, two

    worker.retire()
    monkeypatch.setattr(worker, "START", "server")
    try:
        # The server's first worker waits for sympy's import (seconds on a busy machine):
        # a first job with time to spare, then one stopped at its deadline, then one more.
        assert list(worker.Job(two, (), time.monotonic() + 120).results()) == [("x", 2)]
        job = worker.Job(first_then_forever, (), time.monotonic() + 0.5)
        assert list(job.results()) == [("first", 1)] and not job.finished
        assert list(worker.Job(two, (), time.monotonic() + 120).results()) == [("x", 2)]
        assert worker._server is not None and worker._server.alive()
    finally:
        worker.retire()


# --- 8. a --variant id is escaped in every file, and the key is read back ----------------

@pytest.mark.parametrize("variant", ["a\nb = 1", "a\rb", "a\u2028b", "a\u202eb\"\\",
                                     "\x1b[31mred", "s\udc80"])
def test_a_variant_id_never_breaks_or_injects_into_the_key(variant: str,
                                                           tmp_path: Path) -> None:
    from backprop_cli.course.problems import load_problems

    key, sheet, blank = tmp_path / "k.toml", tmp_path / "w.md", tmp_path / "t.toml"
    out = invoke(*KEY_ARGS, "--variant", variant, "-o", str(key), "--worksheet", str(sheet),
                 "--template", str(blank))
    assert out.code == 0, out.output
    pset = load_problems(key)
    assert not pset.invalid and [p.name for p in pset.problems] == ["mul-1"]
    assert pset.title.isprintable() and "variant " in pset.title
    for path in (key, sheet, blank):  # no line of any file was added by the id
        assert all(line.isprintable() for line in path.read_text().split("\n"))
    assert "b = 1" not in key.read_text().split("\n")


def test_a_variant_gets_its_own_numbers_whatever_its_characters() -> None:
    from backprop_cli.course import make as mk

    one, other = (mk.make("mul", seed=1, variant=v)[0] for v in ("a\nb", "a\\nb"))
    assert one.draft.at != other.draft.at or one.answers != other.answers


def test_make_refuses_to_write_a_key_that_does_not_read_back(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from backprop_cli.course import make as mk

    monkeypatch.setattr(mk, "_toml_str", lambda s: s)  # a planted bug: nothing escaped
    key = tmp_path / "k.toml"
    out = invoke(*KEY_ARGS, "--variant", 'say "hi"', "-o", str(key))
    assert out.code == 3 and not key.exists()


# --- 9. array sizes from --shape, checked before allocating --------------------------------

@pytest.mark.parametrize("args", [
    ["formula", "sum(W)", "dW = W*0+1", "--shape", "W=15000,15000"],
    ["formula", "sum(W)", "dW = W*0+1", "--shape", "W=100000000000000000000000,1"],
    ["formula", "sum(W)", "dW = W*0+1", "--shape", "W=" + "9" * 5000 + ",n"],
    ["eval", "sum(W)", "--at", "W=[[1,2],[3,4]]", "--expect", "dW = W*0+1",
     "--shape", "W=15000,15000"],
])
def test_a_huge_shape_is_refused_before_allocating(args: list[str]) -> None:
    p = capped(*args, cap=1 << 30)  # 1 GB: a 15000x15000 matrix (1.8 GB) would not fit
    assert_refused(p, "array too large", "--shape W")


# --- 10. quiz reads a bounded standard input, and no device -------------------------------

def test_quiz_refuses_a_device_on_standard_input() -> None:
    with open("/dev/zero", "rb") as zero:
        p = capped("quiz", "--seed", "1", stdin=zero.fileno())
    assert p.returncode == 2 and "standard input is a device" in p.stderr, p.stderr


def test_quiz_stops_at_a_line_without_end() -> None:
    p = subprocess.run([sys.executable, "-m", "backprop_cli", "quiz", "--seed", "1"],
                       input=b"\0" * 30_000, capture_output=True, env=ENV, cwd=REPO,
                       timeout=120)
    assert p.returncode == 2 and b"longer than 10,000 characters" in p.stderr, p.stderr


def test_quiz_stops_at_an_input_without_end() -> None:
    # Not a number: asked again, line after line (a '?' would end the drill: a second '?'
    # shows the answer and moves on).
    out = invoke("quiz", "--seed", "1", input="abc\n" * 600_000)
    assert out.code == 2 and "standard input is longer than" in out.stderr, out.output


# --- 11. the array finite differences keep to the budget within one input -----------------

def test_finite_differences_stop_at_the_budget_inside_one_input() -> None:
    from backprop_cli import evaluate

    x = [float(k % 7) + 0.5 for k in range(25_000)]
    r = evaluate("sum(x*x)", at={"x": x}, check=("numeric",), budget=0.05)
    (c,) = r.verification.checks
    assert c.proof == "budget" and c.why and c.why.startswith("budget")


# --- 12. Graphviz gets a graph it can lay out, or a clear message -------------------------

def test_graph_refuses_too_many_nodes_for_graphviz(tmp_path: Path) -> None:
    from backprop_cli.views.picture import GRAPHVIZ_MAX_NODES

    expr = "+".join(f"x{k}*y{k}" for k in range(GRAPHVIZ_MAX_NODES // 3 + 1))
    out = invoke("graph", expr, "-o", str(tmp_path / "g.svg"))
    assert_bad_input(out, "too many for Graphviz", f"at most {GRAPHVIZ_MAX_NODES}")
    assert not (tmp_path / "g.svg").exists()


# --- 17. the Python API: a wrong type is the documented InputError ------------------------

def _api_cases() -> dict[str, Callable[[], object]]:
    import numpy as np

    from backprop_cli import (
        check_answers,
        check_formula,
        check_gradient,
        evaluate,
        load_problems,
        parse_problems,
        run_problems,
        write_junit,
    )

    one = {"x": 1}
    lecture = str(REPO / "examples" / "lecture.toml")
    return {
        "expression None": lambda: evaluate(None, at=one),  # type: ignore[arg-type]
        "expression int": lambda: evaluate(123),  # type: ignore[arg-type]
        "expression bytes": lambda: evaluate(b"x", at=one),  # type: ignore[arg-type]
        "expression list": lambda: evaluate(["x"]),  # type: ignore[arg-type]
        "at int": lambda: evaluate("x", at=5),  # type: ignore[arg-type]
        "at list of ints": lambda: evaluate("x", at=[1, 2]),
        "at [None]": lambda: evaluate("x", at=[None]),  # type: ignore[list-item]
        "value None": lambda: evaluate("x", at={"x": None}),
        "value object": lambda: evaluate("x", at={"x": object()}),
        "value dict": lambda: evaluate("x", at={"x": {}}),
        "value 10**400": lambda: evaluate("x", at={"x": 10**400}),
        "value complex": lambda: evaluate("x", at={"x": 1j}),
        "value a huge view": lambda: evaluate("x", at={"x": np.broadcast_to(
            np.zeros(1), (10**5, 10**5))}),
        "value 3-d": lambda: evaluate("x", at={"x": np.zeros((2, 2, 2))}),
        "wrt int": lambda: evaluate("x", at=one, wrt=5),  # type: ignore[arg-type]
        "wrt [1]": lambda: evaluate("x", at=one, wrt=[1]),  # type: ignore[list-item]
        "upstream None": lambda: evaluate("x", at=one, upstream=None),
        "upstream object": lambda: evaluate("x", at=one, upstream=object()),
        "upstream 10**400": lambda: evaluate("x", at=one, upstream=10**400),
        "check int": lambda: evaluate("x", at=one, check=5),  # type: ignore[arg-type]
        "check [None]": lambda: evaluate("x", at=one, check=[None]),  # type: ignore[list-item]
        "tolerance int": lambda: evaluate("x", at=one, tolerance=5),  # type: ignore[arg-type]
        "budget text": lambda: evaluate("x", at=one, budget="a"),  # type: ignore[arg-type]
        "budget 10**400": lambda: evaluate("x", at=one, budget=10**400),
        "answers expression None": lambda: check_answers(
            None, one, {"dx": 1}),  # type: ignore[arg-type]
        "answers expect int": lambda: check_answers("x", one, 5),  # type: ignore[arg-type]
        "answers expect 10**400": lambda: check_answers("x", one, {"dx": 10**400}),
        "answers rtol text": lambda: check_answers(
            "x", one, {"dx": 1}, rtol="a"),  # type: ignore[arg-type]
        "problems int": lambda: run_problems(5),  # type: ignore[arg-type]
        "problems None": lambda: run_problems(None),  # type: ignore[arg-type]
        "problems [1]": lambda: run_problems([1]),  # type: ignore[list-item]
        "jobs text": lambda: run_problems(lecture, jobs="a"),  # type: ignore[arg-type]
        "problems check int": lambda: run_problems(lecture, check=5),  # type: ignore[arg-type]
        "parse None": lambda: parse_problems(None),  # type: ignore[arg-type]
        "parse bytes": lambda: parse_problems(b"[a]"),  # type: ignore[arg-type]
        "parse fmt int": lambda: parse_problems("[a]", fmt=5),  # type: ignore[arg-type]
        "load None": lambda: load_problems(None),  # type: ignore[arg-type]
        "formula expression None": lambda: check_formula(
            None, "dx = 1"),  # type: ignore[arg-type]
        "formula claims int": lambda: check_formula("x", 5),  # type: ignore[arg-type]
        "formula claims None": lambda: check_formula("x", None),  # type: ignore[arg-type]
        "formula trials text": lambda: check_formula(
            "x", "dx = 1", trials="a"),  # type: ignore[arg-type]
        "formula seed -1": lambda: check_formula("x", "dx = 1", seed=-1),
        "formula seed text": lambda: check_formula(
            "x", "dx = 1", seed="a"),  # type: ignore[arg-type]
        "formula shapes int": lambda: check_formula(
            "x", "dx = 1", shapes=5),  # type: ignore[arg-type]
        "formula budget text": lambda: check_formula(
            "x", "dx = 1", time_budget="a"),  # type: ignore[arg-type]
        "gradient fn int": lambda: check_gradient("x*y", 5),  # type: ignore[arg-type]
        "gradient fn returns text": lambda: check_gradient(
            "x*y", lambda **k: {"x": "a", "y": 1}),
        "gradient fn takes other arguments": lambda: check_gradient("x*y", lambda a: a),
        "junit of None": lambda: write_junit(None, "j.xml"),  # type: ignore[arg-type]
    }


@pytest.mark.parametrize("case", list(_api_cases()))
def test_a_wrong_type_in_the_python_api_is_an_input_error(case: str) -> None:
    from backprop_cli import InputError

    with pytest.raises(InputError):
        _api_cases()[case]()


def test_check_gradient_stops_a_function_that_never_returns() -> None:
    from backprop_cli import InputError, check_gradient

    def spin(x: float, y: float) -> dict[str, float]:
        while True:
            pass

    with pytest.raises(InputError, match="did not return within the time budget"):
        check_gradient("x*y", spin, time_budget=0.5)


def test_check_gradient_lets_the_functions_own_error_through() -> None:
    from backprop_cli import check_gradient

    with pytest.raises(ZeroDivisionError):
        check_gradient("x*y", lambda x, y: 1 / 0)
