"""The `backprop` command, in-process (CliRunner) and as a real subprocess: output, JSON,
exit codes, options, and every bad-input case of issue 2 (exit 2, one message, no traceback).
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

import backprop_cli.core.ops as ops
from backprop_cli import evaluate

from .conftest import GOLDEN, Backprop, assert_bad_input, invoke, no_crash, run, squash

LECTURE = ("(x+y)*z", "--at", "x=-2,y=5,z=-4")
NEURON_AT = "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"


# --- the lecture's example ------------------------------------------------------------------

def test_lecture_example(backprop: Backprop) -> None:
    r = backprop("eval", *LECTURE)
    no_crash(r)
    assert r.code == 0, r.output
    rows = {line.split("│")[1].strip(): line for line in r.stdout.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    expected = evaluate("(x+y)*z", at="x=-2,y=5,z=-4")
    for name, grad in expected.gradients.items():
        cells = [c.strip() for c in rows[name].split("│")]
        assert f"{grad:g}" in cells  # the gradient table's row for this input
        assert "✓ pass" in rows[name]
    assert f"f = {expected.value:g}" in r.stdout
    assert "all 3 gradients verified" in r.stdout
    for pattern in ("gradient distributor", "swap multiplier"):
        assert pattern in r.stdout
    assert r.stderr == ""


def test_sigmoid_neuron_numbers() -> None:
    r = invoke("eval", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", NEURON_AT, "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert round(doc["value"], 2) == 0.73
    assert {k: round(v, 2) for k, v in doc["gradients"].items()} == {
        "w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if that is intended, rerun with UPDATE_GOLDEN=1 and review the diff")


@pytest.mark.parametrize(("args", "name"), [
    (LECTURE, "x_plus_y_times_z.txt"),
    (("(x+y)*z",), "x_plus_y_times_z.symbolic.txt"),
])
def test_golden_tables(backprop: Backprop, args: tuple[str, ...], name: str) -> None:
    # Piped output is 120 columns wide whatever the terminal, so this is byte for byte.
    r = backprop("eval", *args)
    assert r.code == 0, r.output
    assert max(len(line) for line in r.stdout.splitlines()) <= 120
    _golden(name, r.stdout)


# --- JSON ------------------------------------------------------------------------------------

def test_json_schema(backprop: Backprop) -> None:
    r = backprop("eval", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["value"] == -12
    assert doc["gradients"] == {"x": -4, "y": -4, "z": 3}
    assert doc["ok"] is True
    assert doc["output"] == "f"
    assert doc["point"] == {"x": -2, "y": 5, "z": -4}
    nodes = {n["label"]: n for n in doc["nodes"]}
    for n in doc["nodes"]:
        assert {"op", "value", "local", "upstream", "downstream"} <= set(n)
    assert nodes["q"]["op"] == "add" and nodes["q"]["value"] == 3
    assert nodes["q"]["local"] == [1, 1] and nodes["q"]["upstream"] == -4
    assert nodes["q"]["downstream"] == [-4, -4]
    assert nodes["f"]["local"] == [-4, 3] and nodes["f"]["upstream"] == 1
    assert nodes["x"]["local"] is None and nodes["x"]["upstream"] == -4
    checks = {c["variable"]: c for c in doc["checks"]}
    assert set(checks) == {"x", "y", "z"}
    for c in checks.values():
        assert c["status"] == "pass" and c["ok"] is True
        assert c["backprop"] == c["sympy"] == doc["gradients"][c["variable"]]
        assert c["numeric"] == pytest.approx(c["backprop"], rel=1e-6)
    assert checks["z"]["sympy_derivative"] == "x + y"


def test_json_fan_out_and_kinks() -> None:
    doc = json.loads(invoke("eval", "relu(x*x - y) + x", "--at", "x=2,y=4", "--json").stdout)
    x = next(n for n in doc["nodes"] if n["label"] == "x")
    assert len(x["fan_out"]) == 3
    assert sum(b["gradient"] for b in x["fan_out"]) == x["upstream"]
    relu = next(n for n in doc["nodes"] if n["op"] == "relu")
    assert relu["kink"] and "relu at 0" in relu["kink"]
    assert {c["variable"]: c["status"] for c in doc["checks"]} == {"x": "kink", "y": "kink"}
    assert doc["ok"] is True


def test_json_is_strict_even_for_huge_values() -> None:
    # The largest float: f(x + h) overflows, so the finite difference is inf.
    r = invoke("eval", "x", "--at", "x=1.7976931348623157e308", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert doc["value"] == 1.7976931348623157e308
    (check,) = doc["checks"]
    assert check["numeric"] is None and "overflows" in " ".join(check["notes"])
    assert check["status"] == "pass" and check["sympy"] == 1.0  # sympy's proof, not the inf


# --- exit codes ------------------------------------------------------------------------------

def test_exit_0_when_every_check_passes() -> None:
    assert invoke("eval", *LECTURE).code == 0


def test_exit_1_when_a_gradient_is_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = dataclasses.replace(ops.OPS["mul"], local=lambda x, o: (x[1], x[0] + 1.0))
    monkeypatch.setitem(ops.OPS, "mul", wrong)
    r = invoke("eval", *LECTURE)
    no_crash(r)
    assert r.code == 1, r.output
    assert "FAIL" in r.stdout
    z_row = [line for line in r.stdout.splitlines() if line.startswith("│ z ")][-1]
    assert "✗ FAIL" in z_row
    doc = json.loads(invoke("eval", *LECTURE, "--json").stdout)
    assert doc["ok"] is False
    assert {c["variable"]: c["status"] for c in doc["checks"]} == {
        "x": "pass", "y": "pass", "z": "fail"}


def test_exit_1_from_a_subprocess_with_zero_tolerance() -> None:
    # Float rounding in 1/(1+exp(-x)) differs from sympy's 30 digits in the last place.
    args = ("eval", "1/(1+exp(-x))", "--at", "x=0.3", "--check", "sympy")
    assert run(*args).code == 0
    r = run(*args, "--rtol", "0", "--atol", "0")
    no_crash(r)
    assert r.code == 1, r.output
    assert "FAIL" in r.stdout


def test_exit_2_on_bad_input() -> None:
    assert_bad_input(invoke("eval", "x +", "--at", "x=1"), "syntax error")


# --- options ---------------------------------------------------------------------------------

def test_at_repeated_and_scientific() -> None:
    r = invoke("eval", "x*y + z", "--at", "x=1e-3", "--at", "y=2.5E2,z=-1.5e+1", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["point"] == {"x": 1e-3, "y": 250.0, "z": -15.0}
    assert doc["gradients"] == {"x": 250.0, "y": 1e-3, "z": 1.0}


def test_stdin(backprop: Backprop) -> None:
    program = "# the lecture's example\nq = x + y\nf = q * z\n"
    r = backprop("eval", "-", "--at", "x=-2,y=5,z=-4", "--json", input=program)
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["value"] == -12 and doc["expression"] == program


def test_empty_stdin() -> None:
    assert_bad_input(invoke("eval", "-", "--at", "x=1", input=""), "the expression is empty")


@pytest.mark.parametrize("args", [
    ("eval", "-x^2", "--at", "x=3"),
    ("eval", "--at", "x=3", "-x^2"),
    ("eval", "--at", "x=3", "--", "-x^2"),
    ("eval", "-x^2", "--json", "--at", "x=3"),
])
def test_expression_starting_with_minus(args: tuple[str, ...]) -> None:
    r = invoke(*args)
    assert r.code == 0, r.output
    if "--json" in args:
        doc = json.loads(r.stdout)
        assert (doc["value"], doc["gradients"]) == (-9.0, {"x": -6.0})
    else:
        assert "f = -9" in r.stdout


def test_expression_starting_with_minus_from_a_shell() -> None:
    for args in (("eval", "-x^2", "--at", "x=3"), ("eval", "--at", "x=3", "--", "-x^2")):
        r = run(*args)
        assert r.code == 0, r.output
        assert "f = -9" in r.stdout


def test_wrt_limits_rows() -> None:
    r = invoke("eval", *LECTURE, "--wrt", "x,z", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["wrt"] == ["x", "z"]
    assert set(doc["gradients"]) == {"x", "z"}
    assert [c["variable"] for c in doc["checks"]] == ["x", "z"]
    table = invoke("eval", *LECTURE, "--wrt", "y").stdout
    assert "the gradient verified" in table


def test_wrt_unknown_name() -> None:
    assert_bad_input(invoke("eval", *LECTURE, "--wrt", "w"),
                     "--wrt names 'w', which is not an input of the expression")
    assert_bad_input(invoke("eval", "q = x*2; f = q+1", "--at", "x=1", "--wrt", "q"),
                     "'q' is an intermediate")


def test_upstream() -> None:
    r = invoke("eval", *LECTURE, "--upstream", "-0.5", "--json")
    assert r.code == 0, r.output
    doc = json.loads(r.stdout)
    base = evaluate("(x+y)*z", at="x=-2,y=5,z=-4").gradients
    assert doc["gradients"] == {k: -0.5 * v for k, v in base.items()}
    assert doc["upstream_seed"] == -0.5
    assert "upstream seed 2" in squash(invoke("eval", *LECTURE, "--upstream", "2").stdout)


def test_no_at_gives_symbolic_tables() -> None:
    r = invoke("eval", "(x+y)*z")
    assert r.code == 0, r.output
    out = r.stdout
    assert "∂/∂z = #2" in out and "∂/∂#2 = z" in out  # symbolic locals
    assert "x + y" in out  # sympy's df/dz
    assert "symbolic: give --at" in out
    assert "value" not in out.split("\n")[2]  # no value column
    doc = json.loads(invoke("eval", "(x+y)*z", "--json").stdout)
    assert doc["value"] is None and doc["gradients"] is None
    assert doc["symbolic_gradients"] == {"x": "z", "y": "z", "z": "x + y"}


def test_check_none_and_numeric_only() -> None:
    r = invoke("eval", *LECTURE, "--check", "none", "--json")
    doc = json.loads(r.stdout)
    assert r.code == 0 and doc["checks"] == []
    r = invoke("eval", *LECTURE, "--check", "numeric", "--json")
    doc = json.loads(r.stdout)
    assert all(c["sympy"] is None and c["numeric"] is not None for c in doc["checks"])


def test_max_rows_abbreviates() -> None:
    expr = "+".join(f"x{i}" for i in range(40))
    at = ",".join(f"x{i}=1" for i in range(40))
    r = invoke("eval", expr, "--at", at, "--max-rows", "10")
    assert r.code == 0, r.output
    assert "rows hidden" in r.stdout and "…" in r.stdout


def test_help_mentions_examples(backprop: Backprop) -> None:
    top = backprop("--help")
    assert top.code == 0
    assert 'backprop eval "(x+y)*z" --at x=-2,y=5,z=-4' in top.stdout
    sub = backprop("eval", "--help")
    assert sub.code == 0
    assert "Example" in sub.stdout and "backprop eval" in sub.stdout
    for option in ("--at", "--wrt", "--upstream", "--json", "--rtol", "--atol"):
        assert option in sub.stdout


COMMANDS = ("eval", "check", "graph", "steps", "descend", "fit")


def test_every_help_has_a_purpose_an_example_and_readable_metavars() -> None:
    """`backprop --help` lists each command with a whole one-line purpose; each command's help
    shows an example of itself and names its values (EXPR, X=V,..., N, FILE), not Python types."""
    top = invoke("--help")
    assert top.code == 0, top.output
    listed = top.stdout.split("Commands:", 1)[1].splitlines()
    for command in COMMANDS:
        line = next(ln for ln in listed if ln.split()[:1] == [command])
        purpose = line.split(None, 1)[1].strip()
        assert purpose and not purpose.endswith("..."), line  # not cut off by the formatter
    for command in COMMANDS:
        r = invoke(command, "--help")
        assert r.code == 0, r.output
        usage, _, rest = r.stdout.partition("\n")
        assert usage.startswith(f"Usage: backprop {command} [OPTIONS] "), usage
        assert "{EXPR}" in usage or "{FILE}" in usage or "{LOSS}" in usage, usage
        assert "Example" in rest and f"backprop {command} " in rest, command
        options = rest.split("Options:", 1)[1]
        for raw in ("<list[", "<str>", "<int", "<float", "{expr}", "{file}"):
            assert raw not in options and raw not in usage, (command, raw)
    assert "--at X=V,..." in invoke("eval", "--help").stdout


def test_no_arguments_shows_what_to_try() -> None:
    r = run()
    assert "Try this:" in r.output and "backprop --help" in r.output
    assert "Traceback" not in r.output


# --- bad input: exit 2, one clear message on stderr, no traceback ----------------------------

BAD_INPUT: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    # syntax errors show the input with a caret and what was expected
    (("x +", "--at", "x=1"), ("syntax error", "expected", "x +\n     ^")),
    (("(x+y", "--at", "x=1,y=2"), ("syntax error", "')'", "never closed")),
    (("x 2", "--at", "x=1"), ("syntax error", "write the product with '*'")),
    (("__import__('os').system('echo PWNED')", "--at", "x=1"),
     ("syntax error", "unexpected character \"'\"")),
    # unknown function, arity
    (("sigmod(x)", "--at", "x=1"), ("unknown function 'sigmod'", "did you mean sigmoid(x)?")),
    (("max(x)", "--at", "x=1"), ("max takes 2 arguments, got 1",)),
    (("exp(x, y)", "--at", "x=1,y=1"), ("exp takes 1 argument, got 2",)),
    # missing and unused values
    (("(x+y)*z", "--at", "x=1,y=2"), ("no value for 'z'", "--at z=1")),
    (("x*y", "--at", "x=1,y=2,w=3"), ("--at gives a value for 'w'",)),
    (("x*y", "--at", "x=1,y=2,yy=3"), ("'yy', which the expression does not use",
                                      "did you mean y?")),
    # malformed and duplicate --at
    (("x", "--at", "x"), ("--at: syntax error", "name=number")),
    (("x", "--at", "x=1,,"), ("--at: syntax error",)),
    (("x", "--at", "x:=1"), ("--at: syntax error",)),
    (("x", "--at", ""), ("--at is empty",)),
    (("x", "--at", "x=1,x=2"), ("--at gives 'x' twice",)),
    (("x", "--at", "x=1", "--at", "x=2"), ("--at gives 'x' twice",)),
    # numbers: ASCII digits only, finite
    (("x", "--at", "x=nan"), ("--at: syntax error", "'nan'")),
    (("x", "--at", "x=inf"), ("--at: syntax error", "'inf'")),
    (("x", "--at", "x=-inf"), ("--at: syntax error",)),
    (("x", "--at", "x=1e309"), ("'1e309' is not a finite number",)),
    (("x", "--at", "x=1_000"), ("--at: syntax error",)),
    (("x", "--at", "x=١"), ("--at: syntax error", "unexpected character '١'")),
    (("x*nan", "--at", "x=1"), ("'nan' is not a number an expression can use",)),
    (("x*inf", "--at", "x=1"), ("'inf' is not a number an expression can use",)),
    (("x*1e309", "--at", "x=1"), ("'1e309' is not a finite number",)),
    (("x*1_000", "--at", "x=1"), ("syntax error", "'1_000' is not a number")),
    (("x*١", "--at", "x=1"), ("syntax error", "unexpected character '١'")),
    # domain errors name the node
    (("log(x)", "--at", "x=0"), ("domain error at node #1 `log(x)`", "non-positive")),
    (("log(x)", "--at", "x=-2"), ("log of a non-positive number (-2)",)),
    (("q = x - x; f = 1/q", "--at", "x=1"), ("domain error at node f `1/q`", "division by zero")),
    (("sqrt(x)", "--at", "x=-1"), ("sqrt of a negative number (-1)",)),
    (("exp(x)", "--at", "x=1000"), ("`exp(x)`", "exp(1000) overflows a float")),
    (("x^-1", "--at", "x=0"), ("`x^-1`", "0 raised to a negative power")),
    (("x^(1/3)", "--at", "x=-8"), ("`x^(1/3)`", "negative base (-8)")),
    # other options
    (("x", "--at", "x=1", "--upstream", "nan"), ("'nan' is not a finite number",)),
    (("x", "--at", "x=1", "--upstream", "1e999"), ("'1e999' is not a finite number",)),
    (("x", "--at", "x=1", "--rtol", "-1"), ("--rtol must not be negative",)),
    (("x", "--at", "x=1", "--check", "magic"), ("unknown check 'magic'",)),
    (("", "--at", "x=1"), ("the expression is empty",)),
]


@pytest.mark.parametrize(("args", "fragments"), BAD_INPUT,
                         ids=[" ".join(a)[:40] for a, _ in BAD_INPUT])
def test_bad_input(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    err = assert_bad_input(invoke("eval", *args), *fragments)
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        err.splitlines()[0]], err  # one message


# The same through a real process, for a sample of the cases (each costs a Python start-up):
# every eighth, a spread over syntax, values, numbers and domains, enough to prove the one
# handler's exit status and stream.
@pytest.mark.parametrize(("args", "fragments"), BAD_INPUT[::8],
                         ids=[" ".join(a)[:40] for a, _ in BAD_INPUT[::8]])
def test_bad_input_subprocess(args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    assert_bad_input(run("eval", *args), *fragments)


def test_syntax_error_caret_is_under_the_place() -> None:
    err = assert_bad_input(invoke("eval", "x * (y + ) * z", "--at", "x=1,y=1,z=1"))
    lines = err.splitlines()
    src = next(i for i, line in enumerate(lines) if line.strip() == "x * (y + ) * z")
    assert lines[src + 1].index("^") == lines[src].index(")")


def test_code_never_runs(tmp_path: os.PathLike[str]) -> None:
    marker = os.path.join(tmp_path, "pwned")
    for expr in (f"__import__('os').system('touch {marker}')",
                 f"exec(\"open('{marker}','w')\")"):
        assert run("eval", expr, "--at", "x=1").code == 2
        assert invoke("eval", expr).code == 2
    assert not os.path.exists(marker)


@pytest.mark.parametrize("expr", ["x+[/]", "[link=https://example.com]x", "[bold red]x",
                                  "x\x1b[31m", "x\x1b]8;;http://e.com\x1b\\y", "x\x07"])
def test_user_text_prints_literally(backprop: Backprop, expr: str) -> None:
    r = backprop("eval", expr, "--at", "x=1")
    err = assert_bad_input(r)
    assert "\x1b" not in r.output and "\x07" not in r.output
    visible = expr.replace("\x1b", "?").replace("\x07", "?")
    assert visible in err  # the context line shows the input, control characters made visible
    if "[" in expr and "\x1b" not in expr:
        assert expr in err  # markup is printed as typed, not interpreted


@pytest.mark.parametrize("args", [
    ("x", "--at", "[red]x=1"),
    ("x", "--at", "x=1", "--wrt", "[/]"),
    ("x", "--at", "x=1", "--upstream", "[link=x]1"),
    ("x", "--at", "\x1b[2Jx=1"),
])
def test_markup_in_options_prints_literally(args: tuple[str, ...]) -> None:
    r = invoke("eval", *args)
    assert_bad_input(r)
    assert "\x1b" not in r.output
    for piece in ("[red]", "[/]", "[link=x]"):
        if any(piece in a for a in args):
            assert piece in r.stderr


def test_markup_in_a_valid_program_prints_literally() -> None:
    # Comments are the one place where brackets and escapes survive parsing.
    r = invoke("eval", "q = x*2 # [bold]not bold[/] \x1b[31m\nf = q + 1", "--at", "x=1")
    assert r.code == 0, r.output
    assert "\x1b" not in r.output


def test_kink_is_a_subgradient_not_a_failure(backprop: Backprop) -> None:
    r = backprop("eval", "max(x, y) + relu(z)", "--at", "x=2,y=2,z=0")
    assert r.code == 0, r.output
    out = squash(r.stdout)
    assert "not differentiable here" in out
    assert "✓ subgradient" in out and "FAIL" not in out
    assert "gradient split 0.5/0.5" in out and "relu at 0: took subgradient 0" in out


def test_wrt_repeated_name_is_checked_once() -> None:
    doc = json.loads(invoke("eval", "x*y", "--at", "x=1,y=2", "--wrt", "x,x", "--json").stdout)
    assert doc["wrt"] == ["x"]
    assert [c["variable"] for c in doc["checks"]] == ["x"]


def test_wrt_with_no_name_is_bad_input() -> None:
    assert_bad_input(invoke("eval", "x*y", "--at", "x=1,y=2", "--wrt", ","), "--wrt")
