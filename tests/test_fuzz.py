"""Hostile input (issue 7): random and adversarial strings for the parser, the API and the CLI.

Every outcome must be a result, or bad input reported as a BackpropError (exit 2 with a
message on stderr): never a traceback, an uncaught exception, a hang or code execution.
Inputs are bounded in size so that every example finishes quickly.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from backprop_cli import BackpropError, evaluate
from backprop_cli.core.errors import InputError
from backprop_cli.core.parse import parse, parse_bindings

from .conftest import REPO, invoke, no_crash

TOKENS = [
    "x", "y", "w0", "θ", "q", "f", "_", "exp", "log", "ln", "sqrt", "sigmoid", "tanh", "relu",
    "abs", "max", "min", "sin", "cos", "tan", "softplus", "leaky_relu", "@", ".T",
    "sigmod", "(", ")", ",", "+", "-", "*", "/", "^", "**", "=", ";", "\n",
    "#", " ", "0", "1", "2.5", ".5", "1e-3", "1e309", "1e308", "1e-320", "1_000", "nan", "inf",
    "١", "[", "]", "[/]", "[link=x]", "\x1b", "\x00", "\r", "\t", "'", '"', ".", "__import__",
    "99", "1e300", "x=1", "1.0000001", "100000000", "2^", "1e-320",
]
AT_TOKENS = ["x", "y", "w0", "θ", "=", ",", ";", " ", "-", "+", "0", "1", "2.5", ".5", "1e-3",
             "1e309", "nan", "inf", "1_000", "١", "[red]", "\x1b", "e", "x=1", "y=-2"]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=40).map("".join)
random_text = st.text(max_size=120)
weird_text = st.text(
    st.characters(categories=["Cc", "Cf", "Zs", "Nd", "No", "Lo", "Sm", "Sk", "Po", "Ps", "Pe"]),
    max_size=60)
nested = st.builds(lambda o, body, c: "(" * o + body + ")" * c,
                   st.integers(0, 3000), st.sampled_from(["x", "", "x+", "exp(x", "-x"]),
                   st.integers(0, 3000))
long_chain = st.builds(lambda op, n: op.join(["x"] * n), st.sampled_from(["+", "*", "-", "^",
                                                                          "/"]),
                       st.integers(1000, 5000))
expressions = st.one_of(token_soup, token_soup, random_text, weird_text, nested, long_chain)
# Without --at every node gets a symbolic local gradient from sympy (about 0.5 ms a node):
# the symbolic path is fuzzed with inputs of a few hundred nodes at most.
small_nested = st.builds(lambda o, body, c: "(" * o + body + ")" * c,
                         st.integers(0, 200), st.sampled_from(["x", "", "sigmoid(x", "-x"]),
                         st.integers(0, 200))
small_expressions = st.one_of(token_soup, token_soup, random_text, weird_text, small_nested)
at_texts = st.one_of(st.lists(st.sampled_from(AT_TOKENS), max_size=12).map("".join),
                     st.text(max_size=30), st.just("x=0.5,y=-1.5,w0=2,θ=0.25"))


def _well_formed(result) -> None:  # type: ignore[no-untyped-def]
    """A result is plain data: finite numbers and a JSON document with no NaN."""
    if result.value is not None:
        assert math.isfinite(result.value)
        assert all(math.isfinite(g) for g in result.gradients.values())
    json.dumps(result.to_dict(), allow_nan=False)


FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@FUZZ
@given(expressions)
@example("__import__('os').system('echo PWNED')")
@example("(" * 3000 + "x")
@example("x" + ")" * 3000)
@example("exp(" * 2000 + "x" + ")" * 2000)
def test_parse_never_crashes(text: str) -> None:
    try:
        graph = parse(text)
    except BackpropError as exc:
        assert exc.message
        exc.context()  # the message with a caret renders for any input
        return
    assert graph.nodes and 0 <= graph.output < len(graph.nodes)


@FUZZ
@given(at_texts)
@example("x=1e309")
@example("x=nan,y=inf")
@example("x=١")
def test_bindings_never_crash(text: str) -> None:
    try:
        bindings = parse_bindings(text)
    except BackpropError as exc:
        assert exc.message and exc.where == "--at"
        return
    for name, number, _, _ in bindings:
        assert name and number


def _point(variables: list[str], draw_value: float) -> dict[str, float]:
    return dict.fromkeys(variables, draw_value)


@FUZZ
@given(expressions, st.sampled_from([0.0, -1.0, 0.5, 3.0, 1e-300, 1e300, -1000.0]),
       st.sampled_from([(), ("numeric",), ("sympy", "numeric")]))
def test_evaluate_never_crashes(text: str, value: float, check: tuple[str, ...]) -> None:
    try:
        graph = parse(text)
    except BackpropError:
        return
    if graph.depth() > 200 or len(graph.nodes) > 20_000:
        check = ()
    try:
        result = evaluate(text, at=_point(list(graph.variables), value), check=check)
    except BackpropError as exc:
        assert exc.message
        return
    _well_formed(result)


@FUZZ
@given(expressions, at_texts, st.booleans(), st.sampled_from(["numeric", "none", "sympy,numeric"]))
@example("x", "x=1e309", False, "none")
@example("[bold]x", "x=1", False, "none")
@example("x\x1b[2J", "x=1", True, "none")
@example("--help", "x=1", False, "none")
@example("-x^2", "x=3", False, "numeric")
def test_cli_never_crashes(text: str, at: str, as_json: bool, check: str) -> None:
    if "\x00" in text or "\x00" in at:  # argv cannot hold NUL: the shell never passes one
        text, at = text.replace("\x00", ""), at.replace("\x00", "")
    args = ["eval", text, "--at", at, "--check", check]
    if as_json:
        args.append("--json")
    if len(text) > 2000 or text.count("(") > 100:
        args += ["--max-rows", "20"]
    r = invoke(*args)
    _cli_contract(r, as_json)


@settings(FUZZ, max_examples=100)
@given(small_expressions)
def test_cli_stdin_and_symbolic_never_crash(text: str) -> None:
    r = invoke("eval", "-", "--max-rows", "20", input=text)
    _cli_contract(r, as_json=False)


def _cli_contract(r, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    no_crash(r)
    assert r.code in (0, 1, 2), (r.code, r.output)
    assert "\x1b" not in r.output  # nothing drives the terminal
    if r.code == 2:
        # Our message ("error: ...") or click's usage error ("Usage: ... Error: ..."), on stderr.
        assert r.stderr.startswith(("error: ", "Usage: ")), r.output
        assert r.stdout == ""
    else:
        assert r.stdout
        if as_json:
            doc = json.loads(r.stdout)
            assert doc["ok"] is (r.code == 0)


# --- numeric edges that hurt exact arithmetic ------------------------------------------------
# sympy computes powers of exact rationals exactly: 1.0000001^100000000 has 700 million digits
# and 2^100000000000 does not fit in memory; and it cannot print integers past 4,300 digits.

HUGE_CONSTANTS = [
    "x*1.0000001^100000000",
    "x*2^100000000000",
    "x*1e300^20",
    "x*(1.5^100000)^2",
    "x*1.0000001^100000000*1.0000001^100000000",
    "x*2^1000000",
    "x^(7^100000)",
    "x*(1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300*1e300)",
]


@pytest.mark.parametrize("expr", HUGE_CONSTANTS)
def test_huge_exact_constants_symbolic(expr: str) -> None:
    r = invoke("eval", expr, "--max-rows", "20")
    _cli_contract(r, as_json=False)


# At x = 0.5 each constant either fits a float (1.0000001^100000000 is e^10: the run passes)
# or overflows one: a domain error naming the node that overflowed, never a pass or a crash.
HUGE_AT_A_POINT = {
    "x*1.0000001^100000000": None,
    "x*2^100000000000": "`2^100000000000`: 2^1e+11 overflows a float",
    "x*1e300^20": "`1e300^20`: 1e+300^20 overflows a float",
    "x*(1.5^100000)^2": "`1.5^100000`: 1.5^100000 overflows a float",
    "x*1.0000001^100000000*1.0000001^100000000": None,
    "x*2^1000000": "`2^1000000`: 2^1e+06 overflows a float",
    "x^(7^100000)": "`7^100000`: 7^100000 overflows a float",
    HUGE_CONSTANTS[-1]: "`1e300*1e300`: mul(1e+300, 1e+300) overflows a float",
}


@pytest.mark.parametrize("expr", HUGE_CONSTANTS)
def test_huge_exact_constants_at_a_point(expr: str) -> None:
    r = invoke("eval", expr, "--at", "x=0.5", "--json")
    _cli_contract(r, as_json=True)
    overflow = HUGE_AT_A_POINT[expr]
    if overflow is None:
        assert r.code == 0, r.output
        doc = json.loads(r.stdout)
        assert doc["ok"] is True and math.isfinite(doc["value"])
    else:
        assert r.code == 2, r.output
        assert r.stderr.startswith("error: domain error at node #3 ") and overflow in r.stderr


@pytest.mark.parametrize("data", [b"x*\xff\xfe", b"x\x00", b"\x1b[2Jx"])
def test_undecodable_or_binary_stdin(data: bytes) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", "-", "--at", "x=1"],
                       input=data, capture_output=True, env=env, timeout=60)
    out = p.stdout + p.stderr
    assert b"Traceback" not in out and b"\x1b" not in out
    assert p.returncode == 2 and p.stderr.startswith(b"error: ")


# --- files and options (issue 16): problem sets, CSV data, output paths, every option ----------

TOML_TOKENS = ["[p]", "[q]", "[[r]]", "\n", "expression = ", '"x*y"', '"sum(x)"', '"(x+y)*z"',
               "at = ", "{x = 1, y = 2}", "{x = [1, 2]}", "{x = [[1],[2]]}", "expect = ",
               "{dx = 2}", "{dx = [1, 1]}", "digits = 2", "check = ", '["numeric"]', "[", "]",
               "{", "}", "=", ",", '"', "'", "'''", '"""', "#", " ", "nan", "inf", "1e309",
               "010", "-0", "title = ", "\x00", "\ufeff", "[" * 40, "]" * 40, "{" * 40]
JSON_TOKENS = ["{", "}", "[", "]", ",", ":", '"expression"', '"at"', '"expect"', '"name"',
               '"x"', '"x*y"', '"sum(x)"', "1", "2.5", "-0", "1e400", "NaN", "Infinity", "null",
               "true", '"\\u0000"', "\n", " ", "[" * 40, "]" * 40, '{"expression": "x", "at": '
               '{"x": 1}}']
toml_texts = st.one_of(st.lists(st.sampled_from(TOML_TOKENS), max_size=60).map("".join),
                       st.text(max_size=200))
jsonl_texts = st.one_of(st.lists(st.sampled_from(JSON_TOKENS), max_size=60).map("".join),
                        st.text(max_size=200))


def _strict_json(text: str) -> object:
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


def _file_contract(r, as_json: bool) -> None:  # type: ignore[no-untyped-def]
    no_crash(r)
    assert r.code in (0, 1, 2), (r.code, r.output)
    if r.code == 2 and not r.stdout:
        assert r.stderr.startswith(("error: ", "Usage: ")), r.output
    elif as_json:
        doc = _strict_json(r.stdout)
        assert isinstance(doc, dict) and doc["exit_status"] == r.code


@settings(FUZZ, max_examples=60)
@given(toml_texts, st.booleans())
@example("[p]\nexpression = \"x\"\nat = {x = " + "[" * 600 + "1" + "]" * 600 + "}\n", True)
@example("[p]\nexpression = \"x\"\nat = {x = []}\n", True)
def test_check_never_crashes_on_toml(text: str, as_json: bool) -> None:
    r = invoke("check", "-", "--input-format", "toml", *(["--json"] if as_json else []), input=text)
    _file_contract(r, as_json)


@settings(FUZZ, max_examples=60)
@given(jsonl_texts, st.booleans())
@example('{"expression": "x", "at": {"x": ' + "[" * 5000 + "1" + "]" * 5000 + "}}", True)
def test_check_never_crashes_on_json_lines(text: str, as_json: bool) -> None:
    r = invoke("check", "-", "--input-format", "jsonl", *(["--json"] if as_json else []),
               input=text)
    _file_contract(r, as_json)


CSV_TOKENS = ["x", "y", "w", ",", "\n", "1", "0", "-2.5", "010", "1e309", "nan", "", " ", '"',
              "\ufeff", "x,y\n", "1,2\n", "\x00"]


@settings(FUZZ, max_examples=40)
@given(st.lists(st.sampled_from(CSV_TOKENS), max_size=40).map("".join))
@example("x,y\n" + "1,2\n" * 3)
def test_fit_never_crashes_on_csv(tmp_path_factory, text: str) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("csv") / "d.csv"
    data.write_text(text, encoding="utf-8")
    r = invoke("fit", "(w*x - y)^2", "--data", str(data), "--at", "w=0", "--epochs", "2",
               "--json")
    no_crash(r)
    assert r.code in (0, 1, 2), r.output
    if r.code != 2:
        _strict_json(r.stdout)


OPTION_VALUES = ["0", "-1", "1e-7", "1e309", "nan", "inf", "abc", "", " ", "3", "010", "[1,2]",
                 "[]", "1" + "0" * 5000, "exact", "auto", "none", "sympy", "numeric,sympy",
                 "markdown", "latex", "table", "dot", "svg", "\x1b[2J", "[red]x[/red]"]
EVAL_OPTIONS = ["--rtol", "--atol", "--upstream", "--digits", "--check", "--format", "--wrt",
                "--expect", "--max-rows"]
DESCEND_OPTIONS = ["--lr", "--steps", "--optimizer", "--momentum", "--beta1", "--beta2", "--eps",
                   "--decay", "--l1", "--l2", "--tol", "--max-rows"]


@settings(FUZZ, max_examples=80)
@given(st.lists(st.tuples(st.sampled_from(EVAL_OPTIONS), st.sampled_from(OPTION_VALUES)),
                max_size=4), st.booleans())
def test_eval_options_never_crash(options: list[tuple[str, str]], as_json: bool) -> None:
    args = ["eval", "sum(x*y)", "--at", "x=[1,2], y=[3,4]"]
    for name, value in options:
        args += [name, value]
    r = invoke(*args, *(["--json"] if as_json else []))
    no_crash(r)
    assert r.code in (0, 1, 2), r.output
    assert "\x1b" not in r.output
    if r.code != 2 and as_json and r.stdout.startswith("{"):
        _strict_json(r.stdout)


@settings(FUZZ, max_examples=60)
@given(st.lists(st.tuples(st.sampled_from(DESCEND_OPTIONS), st.sampled_from(OPTION_VALUES)),
                max_size=4), st.booleans())
def test_descend_options_never_crash(options: list[tuple[str, str]], as_json: bool) -> None:
    args = ["descend", "(w-3)^2 + relu(v)", "--at", "w=0,v=1"]
    for name, value in options:
        if name == "--steps" and value.isdigit() and len(value) > 4:
            value = "50"  # a number of steps is a duration, not an attack on memory
        args += [name, value]
    r = invoke(*args, *(["--json"] if as_json else []))
    no_crash(r)
    assert r.code in (0, 1, 2), r.output
    if r.code != 2 and as_json:
        _strict_json(r.stdout)


@pytest.mark.parametrize("where", ["missing-folder", "folder", "input", "ok", "dev-full"])
@pytest.mark.parametrize("option", ["--junit", "-o"])
def test_output_paths_never_crash_and_never_lose_the_input(tmp_path, where: str,
                                                           option: str) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "key.toml"
    key.write_text('[a]\nexpression = "x*y"\nat = {x = 1, y = 2}\nexpect = {dx = 2}\n')
    before = key.read_bytes()
    target = {"missing-folder": str(tmp_path / "no" / "out"), "folder": str(tmp_path),
              "input": str(key), "ok": str(tmp_path / "out.xml"), "dev-full": "/dev/full"}[where]
    if option == "--junit":
        r = invoke("check", str(key), "--junit", target)
    else:
        r = invoke("graph", "x*y", "--at", "x=1,y=2", "-o", target, "--format", "dot")
    no_crash(r)
    assert os.path.exists("/dev/full") and not os.path.isfile("/dev/full")  # never replaced
    if where == "input" and option == "-o":
        # graph reads no file: asked to, it replaces key.toml by the picture.
        assert r.code == 0 and key.read_text().startswith("digraph"), r.output
        return
    assert key.read_bytes() == before
    if where == "ok":
        assert r.code == 0 and os.path.getsize(target) > 0, r.output
    else:
        assert r.code == 2 and r.stderr.startswith("error: "), r.output


# --- issue 30's surfaces: a student's file, a --variant id, quiz input ------------------------

TOML_TOKENS = ["[p]", "[p.expect]", "[q]", "[[r]]", "[", "]", "{", "}", "x", "dx", "=", " = ",
               "1", "-0.20", '"2*x"', '"""', "'''", "#", ",", "\n", "\n", "\n", "\r", "\u2028",
               "\x00", "a.b", "true", "[1, 2]", "{a = 1}", "1e400", "9" * 40, "[" * 40]
toml_soup = st.lists(st.sampled_from(TOML_TOKENS), max_size=60).map("".join)


@settings(FUZZ, max_examples=200)
@given(toml_soup)
def test_a_student_file_is_always_read_or_refused_by_message(text: str) -> None:
    from backprop_cli.course.grade import read_submission

    sub = read_submission("s.toml", text)  # never raises
    assert sub.readable or sub.errors


GOOD_LINES = ["x = 1", "dx = -0.20", 'f = "2*x"', "at = {x = 1, y = [1, 2]}",
              'd = """\n[not a table]\n"""', "m = [\n  [1, 2],\n  [3, 4],\n]", "# note"]
BAD_LINES = ["x = = 1", "x = [1, 2", "= 3", 'y = "open', "z = 1 2", "n = " + "[" * 40 + "1",
             "w = {a = " * 40, "v = {a = 1"]


@st.composite
def tables(draw: st.DrawFn) -> tuple[str, str, list[str], list[str]]:
    """A file of tables t0, t1, ..., each whole or with one broken line: the text, the text
    of its whole tables alone, and the names of the whole ones and of the broken ones."""
    good: list[str] = []
    bad: list[str] = []
    parts: list[str] = []
    whole: list[str] = []
    for k in range(draw(st.integers(1, 12))):
        lines = draw(st.lists(st.sampled_from(GOOD_LINES), max_size=3, unique=True))
        if draw(st.booleans()):
            at = draw(st.integers(0, len(lines)))
            lines.insert(at, draw(st.sampled_from(BAD_LINES)))
            bad.append(f"t{k}")
        else:
            good.append(f"t{k}")
            whole.append("\n".join([f"[t{k}]", *lines]))
        parts.append("\n".join([f"[t{k}]", *lines]))
    return "\n".join(parts) + "\n", "\n".join(whole), good, bad


@settings(FUZZ, max_examples=200)
@given(tables())
def test_toml_recovery_keeps_every_whole_table_and_names_every_broken_one(
        drawn: tuple[str, str, list[str], list[str]]) -> None:
    from decimal import Decimal

    from backprop_cli.core.tomlcompat import tomllib
    from backprop_cli.course.toml_recovery import read_toml

    text, whole, good, bad = drawn
    got = read_toml(text)
    assert got.fatal is None and got.doc is not None
    assert sorted(got.doc) == sorted(good)
    assert sorted(b.name for b in got.broken) == sorted(bad)
    assert got.doc == tomllib.loads(whole, parse_float=Decimal)


@settings(FUZZ, max_examples=30)
@given(weird_text.filter(bool) | random_text.filter(bool))
def test_any_variant_id_makes_a_key_that_reads_back(variant: str) -> None:
    from backprop_cli.course import make as mk

    if not variant.strip():  # ids are trimmed: a blank one is no student
        with pytest.raises(InputError, match="empty"):
            mk.make("mul", seed=1, variant=variant)
        return
    made = mk.make("mul", seed=1, variant=variant)
    key = mk.key_toml(made, command=f"backprop make --variant {variant}", title=variant)
    assert all(line.isprintable() for line in key.split("\n"))


@settings(FUZZ, max_examples=40)
@given(st.lists(st.sampled_from(["2", "-6", "?", "q", "", "[1, 2]", "\x1b[2J", "1e400",
                                 "x" * 300, "nan", " 3 ", "١"]), max_size=12))
def test_quiz_takes_any_lines(lines: list[str]) -> None:
    out = invoke("quiz", "circuit", "--seed", "1", input="\n".join(lines))
    no_crash(out)
    assert out.code in (0, 1)
