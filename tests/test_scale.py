"""Correctness at scale: 100,000 nodes, 10,000 levels deep, and a light `backprop --help`.

No timing here (benchmarks/bench.py measures); these check that big and deep inputs go
through parse, forward, backward, verification and printing with the right numbers and no
RecursionError, and that the fast lexer reads every program exactly as Lark's lexer does.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backprop_cli import evaluate
from backprop_cli.cli import app
from backprop_cli.core import parse as parse_mod
from backprop_cli.core.errors import InputError
from backprop_cli.core.result import Check, Verification

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], input=stdin,
                          capture_output=True, text=True, env=env, check=False, timeout=300)


def sum_of_products(terms: int) -> tuple[str, dict[str, float]]:
    text = " + ".join(f"a{i}*b{i}" for i in range(terms))
    point = {}
    for i in range(terms):
        point[f"a{i}"] = 0.5 + (i % 7) / 10
        point[f"b{i}"] = -1.0 + (i % 5) / 4
    return text, point


def at_text(point: dict[str, float]) -> str:
    return ",".join(f"{k}={v!r}" for k, v in point.items())


def nested_functions(depth: int) -> str:
    names = ("tanh", "sigmoid")
    return "".join(names[i % 2] + "(" for i in range(depth)) + "x" + ")" * depth


def chain_rule_by_hand(depth: int, x: float) -> tuple[float, float]:
    """Value and derivative of nested_functions(depth) at x, innermost function first."""
    names = ("tanh", "sigmoid")
    value, grad = x, 1.0
    for i in reversed(range(depth)):
        if names[i % 2] == "tanh":
            value = math.tanh(value)
            grad *= 1.0 - value * value
        else:
            value = 1.0 / (1.0 + math.exp(-value))
            grad *= value * (1.0 - value)
    return value, grad


# --- 100,000 nodes ------------------------------------------------------------------------

BIG_TERMS = 33_334  # 4 nodes a term, minus one add: 133,335 nodes


@pytest.fixture(scope="module")
def big_sum() -> tuple[str, dict[str, float]]:
    return sum_of_products(BIG_TERMS)


def test_sum_of_100k_nodes_evaluates_and_verifies(big_sum: tuple[str, dict[str, float]]) -> None:
    text, point = big_sum
    r = evaluate(text, at=point)
    assert len(r.nodes) >= 100_000
    expected = math.fsum(point[f"a{i}"] * point[f"b{i}"] for i in range(BIG_TERMS))
    assert r.value == pytest.approx(expected, rel=1e-12)
    assert r.gradients is not None
    for i in (0, 1, BIG_TERMS // 2, BIG_TERMS - 1):
        assert r.gradients[f"a{i}"] == point[f"b{i}"]
        assert r.gradients[f"b{i}"] == point[f"a{i}"]
    assert r.verification is not None and r.verification.mode == "random direction"
    assert r.ok  # the direction check passed, so the result is ok (exit 0)


def test_sum_of_100k_nodes_cli_tables_and_json() -> None:
    # 100 inputs, each used 1,000 times (66,668 inputs would not fit in one argument).
    k, terms = 50, 50_000  # 2 nodes a term: 100,099 nodes
    text = " + ".join(f"a{i % k}*b{i % k}" for i in range(terms))
    point = {f"{v}{i}": 0.25 + i / 100 + (v == "b") for i in range(k) for v in "ab"}
    uses = [terms // k + (i < terms % k) for i in range(k)]
    at = at_text(point)
    # The tables without checks (the JSON run below checks): the fact here is their size.
    tables = run_cli("eval", "-", "--at", at, "--max-rows", "10", "--check", "none",
                     stdin=text)
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert "Traceback" not in tables.stderr
    assert "rows hidden" in tables.stdout
    assert len(tables.stdout.splitlines()) < 200  # abbreviated, not 133,000 rows
    doc = run_cli("eval", "-", "--at", at, "--json", stdin=text)
    assert doc.returncode == 0, doc.stderr[-2000:]
    data = json.loads(doc.stdout)
    assert len(data["nodes"]) == 2 * terms - 1 + 2 * k >= 100_000
    assert data["ok"] is True
    for i in (0, 7, k - 1):
        assert data["gradients"][f"a{i}"] == pytest.approx(uses[i] * point[f"b{i}"])


# --- 10,000 deep --------------------------------------------------------------------------

DEEP = 10_000


def test_functions_nested_10k_deep() -> None:
    r = evaluate(nested_functions(DEEP), at={"x": 0.3})
    value, grad = chain_rule_by_hand(DEEP, 0.3)
    assert r.graph.depth() == DEEP
    assert r.value == pytest.approx(value, rel=1e-12)
    assert r.gradients is not None
    assert r.gradients["x"] == pytest.approx(grad, rel=1e-9)
    assert r.ok
    assert r.verification is not None
    # sympy cannot differentiate the formula that deep: the fallback (its derivative of every
    # gate, through the graph) is said, not silent.
    assert any("did not differentiate the whole formula" in note
               for note in r.verification.notes)


def test_parentheses_nested_10k_deep() -> None:
    levels = DEEP
    text = "(" * levels + "x" + ")*0.5+y" * levels
    r = evaluate(text, at={"x": 0.7, "y": -0.2})
    assert r.graph.depth() >= levels
    # f_k = 0.5 f_{k-1} + y: df/dx = 0.5^L, df/dy = sum of 0.5^k for k < L.
    assert r.gradients is not None
    assert r.gradients["x"] == pytest.approx(0.5**levels, abs=1e-300)
    assert r.gradients["y"] == pytest.approx(math.fsum(0.5**k for k in range(levels)))
    assert r.ok


def test_symbolic_mode_deep() -> None:
    # Without --at: every node's local derivative as a formula (sympy, ~1 ms a node, so 2,000
    # deep here), sympy's derivative of the output skipped (too deep), and said so.
    depth = 2_000
    r = evaluate(nested_functions(depth))
    assert r.value is None
    funcs = [n for n in r.nodes if n.op != "var"]
    assert len(funcs) == depth
    assert all(n.local_symbolic is not None and len(n.local_symbolic) == 1 for n in funcs)
    x = sympy.Symbol("x", real=True)
    innermost = nested_functions(depth).split("(")[depth - 1]  # the function applied to x
    form = sympy.tanh(x) if innermost == "tanh" else 1 / (1 + sympy.exp(-x))
    assert funcs[0].local_symbolic == [str(sympy.diff(form, x))]
    assert any("not shown" in note for note in r.notes)
    result = CliRunner().invoke(app, ["eval", "-", "--max-rows", "6"],
                                input=nested_functions(300))  # the table's rows are cut
    assert result.exit_code == 0, result.output[-2000:]
    assert "rows hidden" in result.output


def test_deep_chain_through_the_cli() -> None:
    text = nested_functions(DEEP)
    tables = run_cli("eval", "-", "--at", "x=0.3", "--max-rows", "6", stdin=text)
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert "RecursionError" not in tables.stdout + tables.stderr
    assert "rows hidden" in tables.stdout
    # Too deep for the whole formula: said, and sympy checks it gate by gate instead.
    assert "did not differentiate the whole formula" in " ".join(tables.stdout.split())
    doc = run_cli("eval", "-", "--at", "x=0.3", "--json", stdin=text)
    assert doc.returncode == 0, doc.stderr[-2000:]
    data = json.loads(doc.stdout)
    assert len(data["nodes"]) == DEEP + 1
    assert data["gradients"]["x"] == pytest.approx(chain_rule_by_hand(DEEP, 0.3)[1], rel=1e-9)
    assert data["ok"] is True


def test_deep_parentheses_through_clirunner() -> None:
    levels = 3_000
    text = "(" * levels + "x" + ")*0.5+y" * levels
    result = CliRunner().invoke(app, ["eval", "-", "--at", "x=1,y=1", "--max-rows", "4"],
                                input=text)
    assert result.exit_code == 0, result.output[-2000:]
    assert "rows hidden" in result.output
    # The expression cell is clipped; the full text would fold into thousands of lines.
    assert len(result.output.splitlines()) < 150


def test_gradient_table_is_abbreviated_too() -> None:
    text, point = sum_of_products(200)  # 400 inputs
    result = CliRunner().invoke(app, ["eval", text, "--at", at_text(point), "--max-rows", "8"])
    assert result.exit_code == 0, result.output[-2000:]
    assert "392 of 400 rows hidden" in result.output


# --- verification verdict in random-direction mode ------------------------------------------


def test_direction_mode_verdict_follows_the_direction_check() -> None:
    checks = [Check("x", 1.0, 2.0, status="unchecked"), Check("y", 1.0, 3.0, status="unchecked")]
    passed = Verification(checks, "random direction", direction={"numeric": {"ok": True}})
    failed = Verification(checks, "random direction", direction={"numeric": {"ok": False}})
    assert passed.ok
    assert not failed.ok
    per_input = Verification(checks, "per-variable")
    # per input, an unchecked input is no failure (exit 0), but not complete (--strict: 1)
    assert per_input.ok and not per_input.complete


# --- start-up -----------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"]])
def test_help_imports_neither_sympy_nor_numpy_nor_pydantic(argv: list[str]) -> None:
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['backprop', *{argv!r}]\n"
        "try:\n"
        "    runpy.run_module('backprop_cli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "heavy = [m for m in ('sympy', 'numpy', 'mpmath', 'pydantic', 'typer')\n"
        "         if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Usage" in proc.stdout
    assert "HEAVY []" in proc.stderr


def test_saved_help_texts_are_current() -> None:
    """backprop_cli/_help.py matches cli/*.py and typer; if not, regenerate it with
    python -c "from backprop_cli._fasthelp import write_help; write_help()"."""
    from backprop_cli import _fasthelp, _help

    assert _help.KEY == _fasthelp.key()
    for words in _fasthelp.CACHED:
        assert _help.TEXTS[words] == _fasthelp.typer_help(words)


def test_help_in_a_narrow_terminal_is_typer_s() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "60"}
    code = ("import sys, runpy\nsys.argv = ['backprop', '--help']\n"
            "try:\n    runpy.run_module('backprop_cli', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print('TYPER', 'typer' in sys.modules, file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False, timeout=60)
    assert "TYPER True" in proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 60


def test_scalar_eval_imports_no_pydantic() -> None:
    """A scalar `eval` needs sympy, never pydantic (typer 0.29's option coercion: ~110 ms)."""
    code = (
        "import sys, runpy\n"
        "sys.argv = ['backprop', 'eval', '(x+y)*z', '--at', 'x=-2,y=5,z=-4', '--json']\n"
        "try:\n"
        "    runpy.run_module('backprop_cli', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print('HEAVY', [m for m in ('pydantic', 'numpy') if m in sys.modules], file=sys.stderr)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["value"] == -12.0
    assert "HEAVY []" in proc.stderr


# --- the fast lexer reads exactly what Lark's lexer reads -------------------------------------


def lark_parse(text: str) -> Any:
    """The program through Lark's own (contextual) lexer, as before the fast lexer."""
    lark, builder = parse_mod._parser()
    with parse_mod._LOCK:
        builder.reset(text)
        try:
            return lark.parse(text, start="program")
        except (parse_mod.UnexpectedInput, InputError) as exc:
            return exc
        finally:
            builder.reset("")


def fast_parse(text: str) -> Any:
    try:
        return parse_mod.parse(text)
    except InputError as exc:
        return exc


def shape(outcome: Any) -> Any:
    if isinstance(outcome, InputError):
        return ("error", outcome.message, outcome.pos)
    return ([(n.op.name, n.inputs, n.start, n.end, n.name, n.const, n.literal)
             for n in outcome.nodes], outcome.variables, outcome.named, outcome.output,
            outcome.output_name)


def check_agrees(text: str) -> None:
    if not text.strip():
        return
    fast = fast_parse(text)
    slow = lark_parse(text)
    if isinstance(slow, parse_mod.UnexpectedInput):
        # A syntax error: parse() reports Lark's own error, converted to an InputError.
        assert isinstance(fast, InputError)
        expected = parse_mod._syntax_error(slow, text, "expression")
        assert (fast.message, fast.pos) == (expected.message, expected.pos)
    else:
        assert shape(fast) == shape(slow)


def test_fast_parser_loop_builds_the_graph_itself() -> None:
    """The one-function LALR loop parses a program with no fallback to Lark's parse."""
    text = "q = x*y + sigmoid(-x)\nq^2 / (y - 1e-3)"
    _, builder = parse_mod._parser()
    with parse_mod._LOCK:
        builder.reset(text)
        try:
            graph = parse_mod._run_lalr(text)
        finally:
            builder.reset("")
    assert shape(graph) == shape(lark_parse(text))


def test_parse_falls_back_to_lark_without_the_fast_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    def unavailable(source: str) -> Any:
        raise NotImplementedError("Lark's parser internals")

    monkeypatch.setattr(parse_mod, "_run_lalr", unavailable)
    text = "q = x*y + sigmoid(-x)\nq^2 / (y - 1e-3)"
    assert shape(parse_mod.parse(text)) == shape(lark_parse(text))


PIECES = ["x", "y", "w0", "θ", "x_1", "exp", "sigmoid", "max", "2", ".5", "1e-3", "2.", "3E+2",
          "+", "-", "*", "/", "^", "**", "(", ")", ",", "=", ";", "\n", "\r\n", " ", "\t",
          "# note\n", "q", "f", "1_0", "[", "'", "é", "\r", "!"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), min_size=1, max_size=25))
def test_fast_lexer_agrees_with_lark(pieces: list[str]) -> None:
    check_agrees("".join(pieces))


@pytest.mark.parametrize("text", [
    "q = x + y; f = q * z", "x**2 ^ y", "a\r\nb = a*2\nb", "# c\nx # d\n", "-x^-2", "2.^.5e1*x",
    "max(x, min(y, 2))", "θ*λ", "x;;y", "x +", "x y", "exp x", "(x", "x)", "x[0]", "x @ y",
])
def test_fast_lexer_agrees_with_lark_on_examples(text: str) -> None:
    check_agrees(text)


# --- the saved LALR tables ------------------------------------------------------------------


def test_saved_tables_are_made_from_the_current_grammar() -> None:
    from backprop_cli.core import _tables

    grammar = parse_mod.load_grammar()
    # The grammar's hash; the Lark version may differ (then the tables are simply not used).
    regenerate = "python -c 'from backprop_cli.core.parse import write_tables; write_tables()'"
    assert _tables.KEY.split()[0] == parse_mod._grammar_key(grammar).split()[0], regenerate


@pytest.mark.parametrize("text", [
    "q = x + y; f = q * z", "1/(1+exp(-(w0*x0+w1*x1+w2)))", "-x^2^-y", "max(a, b) - min(a, 2)",
    "x +", "(x", "f(x)", "x y", "a = 1\nb = a*a\n\nb + a", "x ** 2 ** 3 / 4",
])
def test_saved_tables_parse_like_the_grammar(text: str) -> None:
    from lark import Lark

    fresh_builder = parse_mod._Builder(text)
    fresh = Lark(parse_mod.load_grammar(), parser="lalr", start=["program", "bindings"],
                 transformer=fresh_builder)
    try:
        expected: Any = fresh.parse(text, start="program")
    except (parse_mod.UnexpectedInput, InputError) as exc:
        expected = exc
    got = lark_parse(text)
    if isinstance(expected, parse_mod.UnexpectedInput):
        assert isinstance(got, parse_mod.UnexpectedInput)
        assert (type(got), got.pos_in_stream) == (type(expected), expected.pos_in_stream)
    else:
        assert shape(got) == shape(expected)
