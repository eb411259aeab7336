"""Hostile input, round two (issue 16): one test per class of finding, at the CLI level.

Where the behaviour is the process's own (exit codes, signals, a full or closed stdout,
memory caps), the command runs as a real subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backprop_cli.core.errors import ExitStatus

from .conftest import REPO, invoke, no_crash

ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
ENV.pop("BACKPROP_DEBUG", None)
LECTURE = ["(x+y)*z", "--at", "x=-2,y=5,z=-4"]


def process(*args: str, stdin: int | None = None, env: dict[str, str] | None = None,
            **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True,
                          text=True, env=env or ENV, cwd=REPO, timeout=120, stdin=stdin,
                          **kw)  # type: ignore[call-overload]


# --- 4. exit codes: a crash is not a wrong answer ----------------------------------------------

# A real process whose evaluate() has a bug: the one handler turns it into exit 3.
_BUGGY = textwrap.dedent("""
    import sys
    import backprop_cli.checks.evaluate as ev
    def broken(*a, **k):
        raise ZeroDivisionError("a bug planted by the test")
    ev.evaluate = broken
    from backprop_cli.cli import app
    app(prog_name="backprop")
""")


def _buggy(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", _BUGGY, *args], capture_output=True,
                          text=True, env=env or ENV, cwd=REPO, timeout=120)


def test_an_internal_error_exits_3_with_one_line_asking_for_a_report() -> None:
    p = _buggy("eval", *LECTURE)
    assert p.returncode == ExitStatus.INTERNAL == 3
    assert "Traceback" not in p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("internal error: ZeroDivisionError")
    assert "please report" in lines[0] and "--debug" in lines[0]


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_prints_the_traceback(how: str) -> None:
    if how == "option":
        p = _buggy("--debug", "eval", *LECTURE)
    else:
        p = _buggy("eval", *LECTURE, env={**ENV, "BACKPROP_DEBUG": "1"})
    assert p.returncode == 3
    assert "Traceback" in p.stderr and "a bug planted by the test" in p.stderr


def test_an_internal_error_in_check_is_an_error_row_and_exit_3(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import backprop_cli.checks.evaluate as ev

    def broken(*a: object, **k: object) -> None:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(ev, "evaluate", broken)
    f = tmp_path / "p.toml"
    f.write_text('[a]\nexpression = "x"\nat = {x = 1}\n')
    r = invoke("check", str(f), "--json")
    assert r.code == 3, r.output
    doc = json.loads(r.stdout)
    assert doc["exit_status"] == 3 and "internal error" in doc["problems"][0]["error"]


# Output leaves by rich tables (app._print), by JSON written whole, or as help; every error
# on the way out reaches the one handler in app.py: each way once, and check's many tables.
@pytest.mark.parametrize("args", [
    ["eval", *LECTURE], ["eval", *LECTURE, "--json"], ["check", "examples/lecture.toml"],
    ["steps", *LECTURE], ["--help"],
], ids=["eval", "eval-json", "check", "steps", "help"])
def test_a_full_stdout_is_one_message_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        p = subprocess.run([sys.executable, "-m", "backprop_cli", *args], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=ENV, cwd=REPO, timeout=120)
    assert p.returncode == 2, p.stderr
    assert p.stderr == "error: cannot write to standard output: No space left on device\n"


@pytest.mark.parametrize("args", [
    ["eval", *LECTURE], ["eval", *LECTURE, "--json"], ["check", "examples/lecture.toml"],
    ["--help"],
], ids=["eval", "eval-json", "check", "help"])
def test_a_closed_pipe_exits_quietly(args: list[str]) -> None:
    # The reader is gone before the first byte is written (as `| head -1` after its line).
    p = subprocess.Popen([sys.executable, "-m", "backprop_cli", *args], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV, cwd=REPO)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=120) == ExitStatus.PIPE_CLOSED == 141
    assert err == b""


def test_bad_input_still_exits_2_through_the_one_handler() -> None:
    r = invoke("eval", "x +", "--at", "x=1")
    no_crash(r)
    assert r.code == 2 and r.stderr.startswith("error: ")


# --- 8. JSON at the edge of float range ------------------------------------------------------

def _strict(text: str) -> object:
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def test_an_infinite_finite_difference_is_never_a_pass() -> None:
    r = invoke("eval", "x", "--at", "x=1.7976931348623157e308", "--check", "numeric", "--json")
    doc = _strict(r.stdout)
    assert isinstance(doc, dict)
    (check,) = doc["checks"]
    assert check["status"] == "unchecked" and check["numeric"] is None


def test_an_infinite_array_finite_difference_is_never_a_pass() -> None:
    r = invoke("eval", "sum(x)", "--at", "x=[1.7976931348623157e308, 1]", "--check", "numeric",
               "--json")
    no_crash(r)
    doc = _strict(r.stdout)
    assert isinstance(doc, dict)
    (check,) = doc["checks"]
    assert check["status"] != "pass" or check["numeric"][0] is None


def test_the_encoder_writes_non_finite_numbers_as_null_and_says_where() -> None:
    from backprop_cli.core.jsonout import dumps

    doc = _strict(dumps({"a": [1.0, float("inf")], "b": {"c/d": float("-inf")},
                         "e": float("nan"), "f": 2.5}))
    assert doc == {"a": [1.0, None], "b": {"c/d": None}, "e": None, "f": 2.5,
                   "non_finite": {"/a/1": "inf", "/b/c~1d": "-inf", "/e": "nan"}}


def test_the_encoder_bounds_its_list_of_places() -> None:
    from backprop_cli.core.jsonout import MAX_LISTED, dumps

    doc = _strict(dumps({"x": [float("inf")] * 1000}))
    assert isinstance(doc, dict)
    assert len(doc["non_finite"]) == MAX_LISTED and doc["non_finite_omitted"] == 1000 - MAX_LISTED


@pytest.mark.parametrize("args", [
    ["eval", "x", "--at", "x=1.7976931348623157e308", "--json"],
    ["eval", "x*y", "--at", "x=1e-300,y=1e300", "--json"],
    ["eval", "sum(x)", "--at", "x=[1.7976931348623157e308, -1.7976931348623157e308]", "--json"],
    ["descend", "w^2", "--at", "w=1", "--lr", "1e200", "--json"],
])
def test_every_json_output_is_strict(args: list[str]) -> None:
    r = invoke(*args)
    no_crash(r)
    if r.code != 2:
        _strict(r.stdout)


# --- memory caps for the subprocess tests --------------------------------------------------------

CAP_BYTES = 2 << 30  # 2 GB of address space: plenty for a run, far too little to read /dev/zero


def capped(*args: str, stdin: int | None = None,
           cap: int = CAP_BYTES) -> subprocess.CompletedProcess[str]:
    """`backprop ARGS` as a real process whose address space is capped (resource.setrlimit):
    a read or an allocation without a bound ends in MemoryError instead of the machine."""
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**ENV, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120, stdin=stdin,
                          preexec_fn=limit)


def assert_refused(p: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert p.stderr.startswith("error: ") and "Traceback" not in p.stderr, p.stderr[-2000:]
    for f in fragments:
        assert f in " ".join(p.stderr.split()), (f, p.stderr)


# --- 2. input read whole: bounded reads, devices refused ----------------------------------------

@pytest.mark.parametrize("args", [
    ["check", "/dev/zero"], ["check", "/dev/urandom"], ["fit", "x", "--data", "/dev/zero"],
])
def test_a_device_is_refused_before_reading(args: list[str]) -> None:
    assert_refused(capped(*args), "is a device, not a file")


@pytest.mark.parametrize("args", [["check", "-"], ["eval", "-", "--at", "x=1"]])
def test_a_device_on_stdin_is_refused(args: list[str]) -> None:
    with open("/dev/zero", "rb") as zero:
        assert_refused(capped(*args, stdin=zero.fileno()), "standard input is a device")


def test_a_pipe_that_never_ends_stops_at_the_limit() -> None:
    # `yes | backprop eval -`: not a device, so the bounded read is what stops it.
    yes = subprocess.Popen(["yes", "x+"], stdout=subprocess.PIPE)
    try:
        assert yes.stdout is not None
        p = capped("eval", "-", stdin=yes.stdout.fileno())
    finally:
        yes.kill()
        yes.wait()
    assert_refused(p, "standard input is larger than 4 MB, the limit for an expression")


def test_a_large_problem_set_is_refused_by_size(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from backprop_cli.core.limits import PROBLEM_SET_BYTES

    big = tmp_path / "big.toml"
    with open(big, "wb") as fh:
        fh.truncate(PROBLEM_SET_BYTES + 1)  # sparse: costs no disk
    assert_refused(capped("check", str(big)), "is larger than 32 MB, the limit for a problem set")


def test_dev_null_is_an_empty_input_not_a_device() -> None:
    with open(os.devnull, "rb") as null:
        assert_refused(process("eval", "-", stdin=null.fileno()), "the expression is empty")


# --- 5. a file lost: outputs never replace inputs, are written atomically, checked first ---------

def test_an_output_over_the_input_is_refused_and_the_input_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key.toml"
    key.write_text((REPO / "examples" / "lecture.toml").read_text())
    before = key.read_bytes()
    r = invoke("check", str(key), "--junit", str(key))
    assert r.code == 2 and "is also this run's input" in r.stderr, r.output
    assert key.read_bytes() == before
    # The same file by another name (a symbolic link) is the same input.
    link = tmp_path / "link.toml"
    link.symlink_to(key)
    assert invoke("check", str(key), "--junit", str(link)).code == 2
    assert key.read_bytes() == before


def test_an_unwritable_output_is_found_before_the_work(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import backprop_cli.course.batch as batch

    ran: list[object] = []
    monkeypatch.setattr(batch, "run_problems", lambda *a, **k: ran.append(a))
    r = invoke("check", "examples/lecture.toml", "--junit", str(tmp_path / "no" / "r.xml"))
    assert r.code == 2 and "does not exist" in r.stderr and ran == []
    r = invoke("check", "examples/lecture.toml", "--junit", str(tmp_path))
    assert r.code == 2 and "is a folder" in r.stderr and ran == []


def test_a_failed_write_leaves_the_old_file_whole(
        tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import backprop_cli.core.fileio as fileio

    out = tmp_path / "g.dot"
    out.write_text("the old picture\n")

    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "fsync", broken_fsync)
    r = invoke("graph", *LECTURE, "-o", str(out))
    assert r.code == 2 and "cannot write" in r.stderr and "No space left" in r.stderr
    assert out.read_text() == "the old picture\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.dot"]  # no temporary file left


@pytest.mark.parametrize("args,name", [
    (["graph", *LECTURE, "-o", "{}"], "g.dot"),
    (["check", "examples/lecture.toml", "--junit", "{}"], "r.xml"),
    (["descend", "(w-3)^2", "--at", "w=0", "--plot", "{}"], "loss.svg"),
])
def test_every_output_file_is_written_atomically(
        args: list[str], name: str, tmp_path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import backprop_cli.core.fileio as fileio

    replaced: list[str] = []
    real = os.replace
    monkeypatch.setattr(fileio.os, "replace",
                        lambda a, b: (replaced.append(str(b)), real(a, b))[1])
    target = str(tmp_path / name)
    r = invoke(*[a.replace("{}", target) for a in args])
    assert r.code == 0, r.output
    assert replaced == [target] and os.path.getsize(target) > 0


# --- 1. memory without a bound: every node's size checked from shapes, before allocating -----

def _column_and_row_set(tmp_path, n: int = 40_000):  # type: ignore[no-untyped-def]
    """The audit's 240 KB problem file: a 40000×1 column plus a 40000-vector is 1.6e9 entries."""
    col = "[" + ",".join(["[1]"] * n) + "]"
    vec = "[" + ",".join(["1"] * n) + "]"
    f = tmp_path / "big.toml"
    f.write_text(f'[big]\nexpression = "sum(x + y)"\nat = {{x = {col}, y = {vec}}}\n')
    return f


def test_a_broadcast_too_large_is_an_error_row_under_a_memory_cap(tmp_path) -> None:  # type: ignore[no-untyped-def]
    p = capped("check", str(_column_and_row_set(tmp_path)), "--json")
    assert p.returncode == 2, p.stderr[-2000:]
    (row,) = json.loads(p.stdout)["problems"]
    assert row["status"] == "error"
    for fragment in ("node #2 `x + y`", "40000×40000 = 1,600,000,000 entries",
                     "limit of 4,000,000 entries per node"):
        assert fragment in row["error"], row["error"]
    assert "--max-entries" in row["hint"]


@pytest.mark.parametrize("args,fragment", [
    (["eval", "sum(A @ B)", "--at", "A=[[1],[2],[3]], B=[[1,2,3]]"],
     "matmul of a 3×1 matrix and a 1×3 matrix: its result would be 3×3 = 9 entries"),
    (["eval", "sum(x + y)", "--at", "x=[[1],[2],[3]], y=[1,2,3]"],
     "add of a 3×1 matrix and a vector of 3: its result would be 3×3 = 9 entries"),
    (["descend", "sum(x * y)", "--at", "x=[[1],[2],[3]], y=[1,2,3]"], "3×3 = 9 entries"),
])
def test_the_limit_names_the_node_the_shape_and_the_option(args: list[str], fragment: str) -> None:
    r = invoke("--max-entries", "8", *args)
    no_crash(r)
    assert r.code == 2 and r.stderr.startswith("error: array too large at node #2"), r.output
    flat = " ".join(r.stderr.split())
    assert fragment in flat and "over the limit of 8 entries per node" in flat
    assert "--max-entries N" in flat
    assert invoke("--max-entries", "9", *args).code in (0, 1)  # the option raises it


def test_fit_with_huge_shapes_is_refused_before_allocating() -> None:
    p = capped("fit", "sum(a + c)", "--data", "examples/xor.csv", "--init", "random",
               "--shape", "a=1000000,c=1000000x1", "--epochs", "1")
    assert_refused(p, "1000000×1000000 = 1,000,000,000,000 entries")


def test_the_graph_total_is_bounded_too() -> None:
    # Each node within the per-node limit, all of them together over it.
    r = invoke("--max-entries", "4", "eval", "sum(x*x*x*x*x*x*x*x*x*x)", "--at", "x=[1,2,3,4]")
    assert r.code == 2 and "for all nodes together" in r.stderr, r.output


BIG = "x+" * (2 * 1024 * 1024) + "x"  # over 4 MB, as a command-line value


@pytest.mark.parametrize(("args", "named"), [
    (["eval", BIG, "--at", "x=1"], "EXPR"),
    (["eval", "--json", BIG], "EXPR"),
    (["formula", BIG], "EXPR"),
    (["eval", "x", "--at", "x=1" + "0" * (4 * 1024 * 1024)], "--at"),
    (["eval", "x", "--at=x=1" + "0" * (4 * 1024 * 1024)], "--at"),
    (["eval", "x", "--at", "x=1", "--expect", "dx=1" + "0" * (4 * 1024 * 1024)], "--expect"),
    (["eval", "x", "--at", "x=1", "--expect", "dx=" + "é" * (2 * 1024 * 1024 + 1)], "--expect"),
])
def test_a_command_line_value_has_the_expression_limit(args: list[str], named: str) -> None:
    r = invoke(*args)
    no_crash(r)
    assert r.code == 2 and r.stdout == "", r.output[:300]
    assert r.stderr.startswith(f"error: {named} is larger than 4 MB"), r.stderr[:300]
    assert len(r.stderr) < 500


def test_a_command_line_value_just_under_the_limit_is_read() -> None:
    from backprop_cli.core.limits import ARGUMENT_BYTES, too_large_argument

    assert not too_large_argument("x" * ARGUMENT_BYTES)
    assert too_large_argument("x" * (ARGUMENT_BYTES + 1))
    assert too_large_argument("é" * (ARGUMENT_BYTES // 2 + 1))  # 2 bytes each in UTF-8


# --- 9. output that grows without need ------------------------------------------------------------

def test_descend_keeps_a_bounded_trajectory() -> None:
    from backprop_cli.learn.descend import TRAJECTORY_KEEP, descend

    run = descend("(w-3)^2", {"w": 0.0}, lr=1e-9, steps=5000, tol=0.0)
    steps = [s.step for s in run.trajectory]
    assert TRAJECTORY_KEEP <= len(steps) <= 2 * TRAJECTORY_KEEP
    assert steps[0] == 0 and steps[-1] == 5000 and run.stride == 4
    assert all(t % run.stride == 0 for t in steps[:-1]) and steps == sorted(steps)
    doc = run.to_dict()
    assert doc["trajectory_stride"] == 4 and doc["steps"] == 5000


def test_a_huge_literal_is_not_echoed_whole() -> None:
    digits = "1" + "0" * 100_000
    for args in (["eval", f"x*{digits}", "--at", "x=1"], ["eval", "x", "--at", f"x={digits}"],
                 ["eval", "x", "--at", "x=1", "--expect", f"dx={digits}"]):
        r = invoke(*args)
        no_crash(r)
        assert r.code in (1, 2) and len(r.output) < 5_000, (args[1][:20], len(r.output))


def test_a_huge_wrong_shape_answer_is_not_echoed_whole() -> None:
    answer = "[" + ",".join(["1"] * 20_000) + "]"
    r = invoke("eval", "sum(x)", "--at", "x=[1,2]", "--expect", f"dx={answer}")
    assert r.code == 1 and "a vector of 20000 [1, 1, 1, 1, …]" in r.stdout
    assert len(r.output) < 10_000


MILLION = "a" * 1_000_000


def short(text: str) -> str:
    """A test id for a huge input: its start and its length."""
    return f"{text[:12]!r}+{len(text)}"


KEY = ('[neuron]\nexpression = "w0*x0 + w1*x1"\nat = {w0 = 2, x0 = -1, w1 = -3, x1 = -2}\n'
       'expect = {dw0 = -1}\n')


@pytest.mark.parametrize("problems", [
    f'[{MILLION}]\nexpression = "x*y"\nat = {{x = 1, y = 2}}\n',
    f'["{MILLION} x"]\nexpression = "x*y"\nat = {{x = 1, y = 2}}\n',
    f'[p]\nexpression = "x*y"\nat = {{x = 1, y = 2, {MILLION} = 3}}\n',
    f'[p]\nexpression = "x*y"\nat = {{x = 1, y = 2}}\nexpect = {{{MILLION} = 3}}\n',
    f'[p]\nexpression = "x*y"\nat = {{x = 1, y = 2}}\n{MILLION} = 3\n',
    f'[p]\nexpression = "x"\nat = {{x = 1{"0" * 1_000_000}}}\n',  # past int()'s 4,300 digits
], ids=short)
def test_a_problem_set_key_is_not_echoed_whole(problems: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "set.toml"
    f.write_text(problems)
    r = invoke("check", str(f))
    no_crash(r)
    assert r.code in (0, 2) and len(r.output) < 5_000, (r.code, len(r.output))


@pytest.mark.parametrize("args", [
    ["formula", "sum(W)", "dW = 1", "--shape", f"W={MILLION}"],  # a dimension letter
    ["formula", "sum(W)", "dW = 1", "--shape", f"W={MILLION},2"],
    ["formula", "sum(W)", "dW = 1", "--shape", f"{MILLION}=m,n"],
    ["formula", "sum(W)", f"d{MILLION} = 1"],
    ["formula", "sum(W)", f"dW = {MILLION}"],
    ["formula", "sum(W)", MILLION],
    ["descend", "(w-3)^2", "--at", "w=0", "--wrt", MILLION],
])
def test_a_formula_claim_or_shape_is_not_echoed_whole(args: list[str]) -> None:
    r = invoke(*args)
    no_crash(r)
    assert r.code in (1, 2) and len(r.output) < 5_000, (args[-1][:20], len(r.output))


@pytest.mark.parametrize("csv", [f"x,y,{MILLION}\n1,2,3\n", f"x,y\n1,{MILLION}\n"],
                         ids=["header", "cell"])
def test_a_huge_csv_cell_is_bad_input(csv: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "d.csv"
    f.write_text(csv)  # past the csv module's 131,072-character field limit
    r = invoke("fit", "(w*x-y)^2", "--data", str(f), "--at", "w=0")
    no_crash(r)
    assert r.code == 2 and len(r.output) < 5_000, r.output[:300]


@pytest.mark.parametrize("answers", [
    f'[neuron]\ndw0 = "{MILLION[:900_000]}"\n',  # the submission limit is 1,000,000 bytes
    f'[neuron]\ndw0 = "1{"0" * 900_000}"\n',
    f'[neuron]\ndw0 = 1{"0" * 900_000}\n',  # past int()'s 4,300 digits
    f'[neuron]\n{MILLION[:900_000]} = 2\n',
    f'[{MILLION[:900_000]}]\ndw0 = 2\n',
    f'[neuron]\ndw0 = {MILLION[:900_000]}\n',
    f'[neuron]\ndw0 = "[{"1," * 20_000}1]"\n',  # a wrong shape (450,000 entries: a minute)
], ids=short)
def test_a_student_answer_is_not_echoed_whole(answers: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    key, sub = tmp_path / "key.toml", tmp_path / "student.toml"
    key.write_text(KEY)
    sub.write_text(answers)
    r = invoke("check", str(key), "--answers", str(sub))
    no_crash(r)
    assert r.code in (1, 2) and len(r.output) < 5_000, (r.code, len(r.output))


# --- 3. deep nesting in problem files: refused before the parser, as a located error row --------

def test_deep_toml_is_an_error_row_and_the_others_run(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "deep.toml"
    f.write_text('[ok]\nexpression = "x"\nat = {x = 1}\n\n[deep]\nexpression = "x"\n'
                 'at = {x = 1}\nexpect = {dx = ' + "[" * 3000 + "1" + "]" * 3000 + "}\n")
    p = process("check", str(f), "--json")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    ok, deep = json.loads(p.stdout)["problems"]
    assert ok["status"] == "pass"
    assert deep["status"] == "error" and deep["line"] == 8
    assert "nested more than 32 levels deep" in deep["error"]


def test_deep_json_lines_are_an_error_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "deep.jsonl"
    f.write_text('{"expression": "x", "at": {"x": 1}}\n{"expression": "x", "at": {"x": '
                 + "[" * 5000 + "1" + "]" * 5000 + "}}\n")
    p = process("check", str(f), "--json")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr[-2000:]
    ok, deep = json.loads(p.stdout)["problems"]
    assert ok["status"] == "pass" and deep["line"] == 2
    assert "nested more than 32 levels deep" in deep["error"]


def test_brackets_inside_strings_and_comments_do_not_count() -> None:
    from backprop_cli.core.limits import too_deep

    text = ('a = "[[[[[[[[[[" # {{{{{{{{{{{{\nb = \'[[[[[[[[\'\nc = """\n[[[[[[[[\n"""\n'
            "d = [[1, 2], [3, 4]]\n")
    assert too_deep(text, limit=2) is None
    assert too_deep(text + "e = [[[1]]]\n", limit=2) == 7
    assert too_deep('{"a": "[[[[[[", "b": [[[1]]]}', limit=3, toml=False) == 1
    assert too_deep('{"a": "\\"[[[[[["}', limit=1, toml=False) is None


# --- 7. Ctrl-C with --jobs: the workers stop at once, the results so far are printed ----------

@pytest.mark.parametrize("to", ["group", "parent"])
def test_ctrl_c_with_jobs_stops_at_once_and_prints_the_results_so_far(
        to: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import signal
    import time

    f = tmp_path / "many.toml"
    total = 3000  # far from finished when Ctrl-C comes (tens of ms a problem)
    f.write_text("\n".join(
        f'[p{k}]\nexpression = "sigmoid(x*y + {k})^3 * tanh(x - y) + exp(sin(x*y))"\n'
        f"at = {{x = 0.5, y = {k / 100}}}\n" for k in range(total)))
    p = subprocess.Popen([sys.executable, "-m", "backprop_cli", "check", str(f), "-j", "2",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=ENV, cwd=REPO, start_new_session=True)
    # Ctrl-C once both workers are up and have had a moment for some problems (a fixed
    # sleep long enough for a slow machine kept two cores busy for seconds).
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children")
    if children.exists():  # Linux with CONFIG_PROC_CHILDREN
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(children.read_text().split()) < 2:
            time.sleep(0.05)
        time.sleep(0.5)
    else:
        time.sleep(2.5)
    sent = time.monotonic()
    # A terminal's Ctrl-C reaches the whole process group; `kill -INT` the parent alone.
    (os.killpg if to == "group" else os.kill)(p.pid, signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - sent < 5, "the workers were waited for"
    assert p.returncode == ExitStatus.INTERRUPTED == 130, err[-2000:]
    assert "Traceback" not in err
    doc = json.loads(out)
    finished = doc["interrupted"]["finished"]
    assert doc["interrupted"]["of"] == total and finished < total
    assert len(doc["problems"]) == finished and doc["exit_status"] == 130
    assert all(r["status"] == "pass" for r in doc["problems"])
    assert f"interrupted (Ctrl-C) after {finished} of {total} problems" in doc["summary"]["line"]


def test_ctrl_c_with_jobs_keeps_every_problem_finished_before_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A worker busy with one slow problem: the problems finished beside it (which a chunk
    of several problems would have held back until the slow one ended) are all reported."""
    import multiprocessing
    import time

    from backprop_cli.course import batch

    if multiprocessing.get_start_method() != "fork":
        pytest.skip("the planted slow problem reaches the workers only when they are forked")
    real = batch.run_problem

    def run(problem, check, digits):  # type: ignore[no-untyped-def]
        if getattr(problem, "name", "") == "slow":
            time.sleep(120)  # never finishes within the test: Ctrl-C must not wait for it
        return real(problem, check, digits)

    monkeypatch.setattr(batch, "run_problem", run)
    fast = 39
    f = tmp_path / "set.toml"
    # The slow one last, where it shares a chunk with fast ones under any chunking, and a
    # single worker (one core) still finishes every fast one before reaching it.
    f.write_text("\n".join([f'[p{k}]\nexpression = "x*y + {k}"\nat = {{x = 1, y = 2}}\n'
                            for k in range(fast)]
                           + ['[slow]\nexpression = "x*y"\nat = {x = 1, y = 2}\n']))

    def progress(done: int, total: int) -> None:
        if done == fast:  # every fast problem is back: Ctrl-C now
            raise KeyboardInterrupt

    sent = time.monotonic()
    report = batch.run_problems(f, jobs=2, progress=progress)
    assert time.monotonic() - sent < 60, "the slow problem was waited for"
    assert report.interrupted and report.total == fast + 1
    assert sorted(r.name for r in report.results) == sorted(f"p{k}" for k in range(fast))
    assert all(r.status == "pass" for r in report.results)


# --- 10. small misreadings ---------------------------------------------------------------------

@pytest.mark.parametrize("expr", ["x + nan", "x * inf", "Infinity*x", "NaN = 2; NaN * x"])
def test_nan_and_inf_are_not_names(expr: str) -> None:
    r = invoke("eval", expr, "--at", "x=1")
    no_crash(r)
    assert r.code == 2 and "is not a number an expression can use" in r.stderr, r.output


@pytest.mark.parametrize("args", [
    ["eval", "010*x", "--at", "x=1"], ["eval", "x", "--at", "x=007.5"],
    ["eval", "x", "--at", "x=1", "--expect", "dx=01"]])
def test_a_leading_zero_is_rejected(args: list[str]) -> None:
    r = invoke(*args)
    no_crash(r)
    assert r.code == 2 and "has a leading zero" in r.stderr, r.output


def test_zero_itself_and_csv_data_with_leading_zeros_are_fine(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert invoke("eval", "0*x + 0.5*x + 0e3*x", "--at", "x=0").code == 0
    data = tmp_path / "d.csv"
    data.write_text("x,y\n01,02\n003,006\n")
    r = invoke("fit", "(w*x - y)^2", "--data", str(data), "--at", "w=0", "--epochs", "1",
               "--json")
    assert r.code == 0, r.output


@pytest.mark.parametrize("value", ["x=[]", "x=[[]]", "x=[[ ]]"])
def test_an_empty_array_is_named_as_such(value: str) -> None:
    r = invoke("eval", "sum(x)", "--at", value)
    no_crash(r)
    assert r.code == 2 and "empty arrays are not supported" in r.stderr, r.output


def test_a_literal_past_pythons_digit_limit_is_read_exactly() -> None:
    one = "1." + "0" * 4400
    doc = json.loads(invoke("eval", f"x*{one}", "--at", "x=2", "--json").stdout)
    assert doc["value"] == 2.0 and doc["ok"] is True
    assert {c["status"] for c in doc["checks"]} == {"pass"}  # sympy read it too


def test_a_literal_with_too_many_digits_is_refused_quickly() -> None:
    r = invoke("eval", "x*1." + "0" * 100_000 + "1", "--at", "x=1")
    assert r.code == 2 and "more than the 1,000 a number may have" in r.stderr, r.output[:500]


def test_min_of_a_variable_with_itself_is_not_a_kink() -> None:
    for expr, at in (("min(x,x)", "x=1"), ("sum(max(x,x))", "x=[1,2]")):
        doc = json.loads(invoke("eval", expr, "--at", at, "--json").stdout)
        assert [c["status"] for c in doc["checks"]] == ["pass"], expr
        assert all(n["kink"] is None for n in doc["nodes"]), expr
        assert doc["gradients"]["x"] in (1.0, [1.0, 1.0])
    # Two different inputs that tie are still a kink.
    doc = json.loads(invoke("eval", "min(x,y)", "--at", "x=1,y=1", "--json").stdout)
    assert {c["status"] for c in doc["checks"]} == {"kink"}


def test_a_missing_data_file_is_a_sentence() -> None:
    r = invoke("fit", "(w*x - y)^2", "--data", "no-such-file.csv")
    no_crash(r)
    assert r.code == 2
    assert r.stderr.startswith("error: cannot read no-such-file.csv: No such file or directory")
    assert "FileNotFoundError" not in r.stderr


@pytest.mark.parametrize("expr,at,grad", [
    ("sqrt(relu(y))", "y=-0.8", 0.0),
    ("sum(sqrt(relu(y)))", "y=[-0.8, 4]", [0.0, 0.25]),
])
def test_a_gradient_stopped_by_a_zero_local_gradient_is_zero(expr: str, at: str,
                                                             grad: object) -> None:
    # PyTorch: sqrt'(0) is inf, relu' is 0 below 0, and the masked backward gives 0.
    r = invoke("eval", expr, "--at", at, "--json")
    assert r.code == 0, r.output
    assert json.loads(r.stdout)["gradients"]["y"] == grad


@pytest.mark.parametrize("expr,at", [("sqrt(y)", "y=0"), ("sum(sqrt(y))", "y=[0, 1]")])
def test_an_infinite_gradient_that_reaches_a_variable_is_still_a_domain_error(
        expr: str, at: str) -> None:
    r = invoke("eval", expr, "--at", at)
    assert r.code == 2 and "has no finite gradient with respect to y" in r.stderr, r.output


def test_an_output_that_is_a_pipe_is_written_as_a_stream_not_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import stat
    import threading

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = invoke("graph", *LECTURE, "-o", str(fifo), "--format", "dot")
    reader.join(timeout=60)
    assert r.code == 0, r.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and got and got[0].startswith(b"digraph")


def test_an_output_through_a_symbolic_link_keeps_the_link(tmp_path) -> None:  # type: ignore[no-untyped-def]
    real = tmp_path / "real.dot"
    real.write_text("old\n")
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    assert invoke("graph", *LECTURE, "-o", str(link), "--format", "dot").code == 0
    assert link.is_symlink() and real.read_text().startswith("digraph")
