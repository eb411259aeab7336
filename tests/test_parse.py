"""The expression language: numbers, names, precedence, statements, comments, and bad input."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from backprop_cli import BackpropError, DomainError, InputError, evaluate
from backprop_cli.core.ops import CONST, OPS, VAR, Op
from backprop_cli.core.parse import parse, parse_bindings
from backprop_cli.core.point import parse_point


def value(expr: str, **at: float) -> float:
    r = evaluate(expr, at=at, check=())
    assert r.value is not None
    return r.value


def error(expr: str, at: str | None = None) -> BackpropError:
    with pytest.raises(BackpropError) as info:
        evaluate(expr, at=at, check=())
    return info.value


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.symbol], ids=lambda op: op.name)
def test_every_infix_and_prefix_op_of_the_table_parses_to_its_gate(op: Op) -> None:
    # The parser's callbacks for these ops are made from the table, not written one by one.
    # In parentheses: a comparison (an indicator, (a > b)) is only written in its own.
    text = f"a {op.symbol} b" if op.arity == 2 else f"{op.symbol}a"
    graph = parse(f"({text})")
    out = graph.nodes[graph.output]
    assert out.op is op
    assert [graph.nodes[j].name for j in out.inputs] == ["a", "b"][:op.arity]
    assert (out.start, out.end) == (1, 1 + len(text))


# --- numbers and names ---------------------------------------------------------------------

@pytest.mark.parametrize(("literal", "expected"), [
    ("3", 3.0), ("2.5", 2.5), (".5", 0.5), ("1e-3", 0.001), ("5.", 5.0), ("1E+2", 100.0),
    ("0.1", 0.1), ("7", 7.0), ("2.5e3", 2500.0), ("0e-400", 0.0), ("2.3e-308", 2.3e-308),
])
def test_numbers(literal: str, expected: float) -> None:
    graph = parse(f"{literal} * x")
    consts = [n for n in graph.nodes if n.op is CONST]
    assert len(consts) == 1
    assert consts[0].const == expected
    assert consts[0].literal == literal  # sympy gets the exact decimal, not the float


@pytest.mark.parametrize("name", ["w0", "x_1", "theta", "θ", "α", "Ω", "_h", "ln_x", "expx"])
def test_names(name: str) -> None:
    graph = parse(f"2 * {name}")
    assert list(graph.variables) == [name]
    assert graph.nodes[graph.variables[name]].op is VAR
    assert value(f"2 * {name}", **{name: 4}) == 8


def test_function_names_can_prefix_variables_and_names_can_be_reused() -> None:
    assert value("exp0 + log_1", exp0=1, log_1=2) == 3


# --- precedence ----------------------------------------------------------------------------

PRECEDENCE: list[tuple[str, Callable[[float], float]]] = [
    ("-x^2", lambda x: -(x**2)),
    ("-x**2", lambda x: -(x**2)),
    ("(-x)^2", lambda x: (-x) ** 2),
    ("2^3^2", lambda x: 2 ** (3**2)),
    ("2**3**2", lambda x: 2 ** (3**2)),
    ("(2^3)^2", lambda x: (2**3) ** 2),
    ("2^-1", lambda x: 2**-1),
    ("2^-x", lambda x: 2**-x),
    ("x^-2^2", lambda x: x ** -(2**2)),
    ("-2^2", lambda x: -(2**2)),
    ("2*x^2", lambda x: 2 * x**2),
    ("x^2*3", lambda x: x**2 * 3),
    ("1+2*x", lambda x: 1 + 2 * x),
    ("(1+2)*x", lambda x: (1 + 2) * x),
    ("8/x/2", lambda x: 8 / x / 2),
    ("8-x-2", lambda x: 8 - x - 2),
    ("8-(x-2)", lambda x: 8 - (x - 2)),
    ("- -x", lambda x: x),
    ("+x", lambda x: x),
    ("-x*3", lambda x: -x * 3),
    ("x*-3", lambda x: x * -3),
    ("2^x^0.5", lambda x: 2 ** (x**0.5)),
    ("exp(x)^2", lambda x: math.exp(x) ** 2),
    ("-exp(x)", lambda x: -math.exp(x)),
]


@pytest.mark.parametrize(("expr", "python"), PRECEDENCE, ids=[e for e, _ in PRECEDENCE])
@pytest.mark.parametrize("x", [3.0, 0.5])
def test_precedence(expr: str, python: Callable[[float], float], x: float) -> None:
    at = {"x": x} if "x" in expr else {}  # no inputs: evaluated at the empty point
    got = evaluate(expr, at=at, check=()).value
    assert got == pytest.approx(python(x), rel=1e-12)


def test_power_and_double_star_build_the_same_graph() -> None:
    a, b = parse("x^y^z"), parse("x**y**z")
    assert [(n.op.name, n.inputs) for n in a.nodes] == [(n.op.name, n.inputs) for n in b.nodes]


def test_unary_minus_binds_looser_than_power_in_the_graph() -> None:
    g = parse("-x^2")
    out = g.nodes[g.output]
    assert out.op.name == "neg"
    assert g.nodes[out.inputs[0]].op.name == "pow"


# --- statements and comments ---------------------------------------------------------------

@pytest.mark.parametrize("program", [
    "q = x + y; f = q * z",
    "q = x + y\nf = q * z",
    "q = x + y\r\nf = q * z\r\n",
    "\n\nq = x + y;\n\nf = q * z;;\n",
    "# the lecture's example\nq = x + y  # add gate\nf = q * z  # mul gate\n",
])
def test_statements(program: str) -> None:
    r = evaluate(program, at="x=-2,y=5,z=-4")
    assert r.value == (-2 + 5) * -4
    assert r.gradients == {"x": -4.0, "y": -4.0, "z": 3.0}
    labels = [n.label for n in r.nodes]
    assert labels.count("q") == 1 and labels[-1] == "f"
    assert r.output == "f"


def test_last_statement_names_the_output() -> None:
    r = evaluate("h = x * 2; loss = h + 1", at="x=1")
    assert r.output == "loss" and r.nodes[-1].label == "loss"


def test_bare_output_is_called_f_unless_f_is_taken() -> None:
    assert evaluate("x + 1", at="x=1").output == "f"
    assert evaluate("f + 1", at="f=1").output == "out"


def test_comment_only_lines_are_ignored() -> None:
    assert value("# nothing here\n\nx*2 # twice\n# end", x=3) == 6


@pytest.mark.parametrize(("program", "message"), [
    ("q = x; q = y; f = q", "'q' is assigned twice"),
    ("f = x * q; q = y; g = f*q", "'q' is used as an input before it is assigned"),
    ("x + 1; f = x", "only the last statement may be a bare expression"),
    ("q = x + 1; f = x * 2", "'q' is assigned but the output never uses it"),
    ("exp + 1", "'exp' is a function"),
    ("", "the expression is empty"),
    ("  \n # only a comment", "syntax error"),
])
def test_statement_errors(program: str, message: str) -> None:
    exc = error(program)
    assert isinstance(exc, InputError)
    assert message in exc.message


# --- syntax errors: the input with a caret, and what was expected ---------------------------

@pytest.mark.parametrize(("expr", "col", "expected"), [
    ("x +", 4, "expected '(', '+', '-', '|', '√', a name or a number"),
    ("(x + y", 7, "')'"),
    ("x 2", 3, "'*'"),
    ("x)", 2, "'*'"),
    ("2 ** * 3", 6, "a number"),
    ("x = = 1", 5, "a name or a number"),
    ("f(x", 4, "')'"),
    ("max(x,)", 7, "a name or a number"),
])
def test_syntax_error_shows_caret_and_expected(expr: str, col: int, expected: str) -> None:
    exc = error(expr)
    assert isinstance(exc, InputError)
    assert "syntax error" in exc.message
    assert expected in exc.message
    line, caret = exc.context().split("\n")
    assert line == expr
    assert caret.index("^") == col - 1
    assert exc.line_col() == (1, col)


def test_unexpected_number_is_quoted() -> None:
    exc = error("1.2.3 * x")
    assert "unexpected '.3'" in exc.message
    assert "unexpected a number" not in exc.message


def test_syntax_error_on_a_later_line_gives_line_and_column() -> None:
    exc = error("q = x + y\nf = q * * z")
    assert exc.line_col() == (2, 9)
    assert exc.context().split("\n")[0] == "f = q * * z"


def test_syntax_error_in_a_huge_input_is_cut_around_the_caret() -> None:
    expr = "+".join(["x"] * 5000) + " ) + 1"
    exc = error(expr)
    line, caret = exc.context().split("\n")
    assert len(line) < 100
    assert line[caret.index("^")] == ")"


@pytest.mark.parametrize(("expr", "hint"), [
    ("x 2", "write the product with '*'"),
    ("(x+1) 2", "write the product with '*'"),
    ("x[0]", "only round parentheses group"),
    ("x.real", "attributes and methods are not part of the language"),
    ("(x + 1", "is never closed"),
    ("x + 1)", "has no matching '('"),
    ("x *", "complete it"),
    ("'x'", "no strings"),
])
def test_syntax_error_hints(expr: str, hint: str) -> None:
    exc = error(expr)
    assert exc.hint is not None and hint in exc.hint


def test_unknown_function_suggests_the_nearest_name() -> None:
    exc = error("sigmod(x)", at="x=1")
    assert exc.message == "unknown function 'sigmod'"
    assert exc.hint is not None and exc.hint.startswith("did you mean sigmoid(x)?")
    assert "relu" in exc.hint  # and lists what exists
    assert error("tahn(x)").hint.startswith("did you mean tanh(x)?")  # type: ignore[union-attr]


def test_unknown_function_far_from_any_name_lists_the_known_ones() -> None:
    exc = error("zzzzzz(x)")
    assert "did you mean" not in (exc.hint or "")
    assert "known functions" in (exc.hint or "")


@pytest.mark.parametrize(("expr", "message"), [
    ("max(x)", "max takes 2 arguments, got 1"),
    ("min(x, y, z)", "min takes 2 arguments, got 3"),
    ("exp(x, y)", "exp takes 1 argument, got 2"),
    ("ln(x, 2, y)", "ln takes 1 argument (or 2: ln(x, base)), got 3"),
])
def test_wrong_arity(expr: str, message: str) -> None:
    assert error(expr).message == message


def test_ln_is_log() -> None:
    assert value("ln(x)", x=2) == value("log(x)", x=2) == math.log(2)


# --- untrusted input: nothing runs, numbers are plain ASCII --------------------------------

@pytest.mark.parametrize("expr", [
    "__import__('os').system('echo pwned')",
    "__import__(\"os\").system(\"echo pwned\")",
    "exec('1')",
    "x.__class__",
    "lambda: 1",
    "[x for x in y]",
    "x if y else z",
    "x; import os",
])
def test_code_is_a_syntax_error(expr: str) -> None:
    exc = error(expr)
    assert isinstance(exc, InputError)
    assert "syntax error" in exc.message or "unknown function" in exc.message


@pytest.mark.parametrize("literal", [
    "1e309", "1_000", "١", "١٢", "１", "٣.٥", "²", "0x10", "1j", "1e3_0", "1.2.3", "..5",
])
def test_non_numbers_are_rejected_in_the_grammar(literal: str) -> None:
    exc = error(f"{literal} * x", at="x=1")
    assert isinstance(exc, InputError)
    assert "no value" not in exc.message  # not read as a product with a new variable


def test_1e309_says_it_is_not_finite() -> None:
    exc = error("x + 1e309", at="x=1")
    assert "'1e309' is not a finite number" in exc.message
    assert exc.context().split("\n")[1] == "    ^^^^^"


@pytest.mark.parametrize("word", ["nan", "inf", "NaN", "infinity"])
def test_nan_and_inf_are_neither_numbers_nor_names(word: str) -> None:
    # Rejected as docs/guides/expressions.md says (issue 16): no NaN, infinity or variable.
    exc = error(f"x * {word}", at="x=1")
    assert exc.message == f"'{word}' is not a number an expression can use"


# --- --at ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "values"), [
    ("x=-2,y=5,z=-4", {"x": -2.0, "y": 5.0, "z": -4.0}),
    ("x=1;y=2", {"x": 1.0, "y": 2.0}),
    ("x=1 y=2", {"x": 1.0, "y": 2.0}),
    (" x = +2 , y = -.5 ", {"x": 2.0, "y": -0.5}),
    ("w0=1e-3,θ=2.5E+2", {"w0": 0.001, "θ": 250.0}),
])
def test_at_values(text: str, values: dict[str, float]) -> None:
    assert parse_point([text]).values == values


def test_at_keeps_the_exact_decimal() -> None:
    from fractions import Fraction

    assert parse_point(["x=0.1"]).exact == {"x": Fraction(1, 10)}


def test_at_repeated() -> None:
    assert parse_point(["x=1", "y=2,z=3"]).values == {"x": 1, "y": 2, "z": 3}


@pytest.mark.parametrize("text", [
    "x", "x=", "=1", "x==1", "x=1,,y=2", "x=1,", "x=--1", "x=nan", "x=inf", "x=-inf",
    "x=1e309", "x=-1e309", "x=1_000", "x=١", "x=１", "x=0x10", "x=1j", "x:1", "x=1e", "x=(1)",
    "x=2*3", "",
])
def test_malformed_at(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_point([text])
    assert info.value.where == "--at"


def test_duplicate_at_name() -> None:
    with pytest.raises(InputError, match="--at gives 'x' twice"):
        parse_point(["x=1,x=2"])
    with pytest.raises(InputError, match="--at gives 'x' twice"):
        parse_point(["x=1", "y=2,x=3"])


def test_bindings_keep_positions() -> None:
    text = "x=1, yy=-2"
    bindings = parse_bindings(text)
    assert [(n, v) for n, v, _, _ in bindings] == [("x", "1"), ("yy", "-2")]
    _, _, start, end = bindings[1]
    assert text[start:end] == "yy=-2"


def test_missing_value() -> None:
    exc = error("(x+y)*z", at="x=1,y=2")
    assert exc.message == "no value for 'z'"
    assert "--at z=1" in (exc.hint or "")


def test_value_for_an_unused_name() -> None:
    exc = error("x*y", at="x=1,y=2,xx=3")
    assert "--at gives a value for 'xx', which the expression does not use" in exc.message
    assert exc.hint == "did you mean x?"


def test_value_for_an_intermediate() -> None:
    exc = error("q = x + 1; f = q*2", at="x=1,q=2")
    assert "computed by the expression" in (exc.hint or "")


def test_mapping_values_must_be_finite() -> None:
    for bad in (math.nan, math.inf, "nan", "1_0"):
        with pytest.raises(InputError):
            evaluate("x", at={"x": bad})


# --- domain errors name the node -----------------------------------------------------------

@pytest.mark.parametrize(("expr", "at", "node", "why"), [
    ("log(x)", "x=0", "log(x)", "log of a non-positive number (0)"),
    ("log(x)", "x=-1", "log(x)", "log of a non-positive number (-1)"),
    ("ln(x - 2)", "x=1", "ln(x - 2)", "non-positive"),
    ("1/x", "x=0", "1/x", "division by zero"),
    ("y/(x-x)", "x=3,y=1", "y/(x-x)", "division by zero"),
    ("sqrt(x)", "x=-4", "sqrt(x)", "sqrt of a negative number (-4)"),
    ("exp(x)", "x=1000", "exp(x)", "exp(1000) overflows a float"),
    ("exp(exp(x))", "x=7", "exp(exp(x))", "overflows a float"),
    ("x^-1", "x=0", "x^-1", "0 raised to a negative power"),
    ("x^(1/3)", "x=-8", "x^(1/3)", "a negative base (-8) raised to a non-integer power"),
    ("x*y", "x=1e200,y=1e200", "x*y", "overflows a float"),
    ("q = log(x); f = q*y", "x=0,y=1", "q", "log of a non-positive number"),
])
def test_domain_errors_name_the_node(expr: str, at: str, node: str, why: str) -> None:
    exc = error(expr, at=at)
    assert isinstance(exc, DomainError)
    assert exc.message.startswith("domain error at node")
    assert node in exc.message and why in exc.message
    line, caret = exc.context().split("\n")
    assert line == expr and "^" in caret


def test_gradient_that_does_not_exist_is_a_domain_error() -> None:
    exc = error("sqrt(x)", at="x=0")
    assert isinstance(exc, DomainError) and "no finite gradient" in exc.message


def test_constant_only_subexpression_with_infinite_local_is_fine() -> None:
    # sqrt(0) has an infinite local gradient, but nothing upstream of it needs a gradient.
    assert value("x + sqrt(0)", x=2) == 2


@pytest.mark.parametrize("literal", ["1e-320", "1e-400", "4.9e-324", "2e-308"])
def test_numbers_below_the_smallest_normal_float_are_rejected(literal: str) -> None:
    # Subnormal floats keep few digits (1e-320 is stored as 9.99989e-321): backprop would run
    # at another point than the one typed, and sympy's exact reference would not match.
    for exc in (error(f"x * {literal}", at="x=1"), error("x", at=f"x={literal}")):
        assert isinstance(exc, InputError)
        assert "too small" in exc.message


def test_zero_and_the_smallest_normal_float_are_fine() -> None:
    assert value("x * 0.0", x=1) == 0
    assert evaluate("sqrt(x)", at="x=2.3e-308").ok


def _fast_tokens(text: str) -> list[tuple[str, str]]:
    from types import SimpleNamespace

    from backprop_cli.core.parse import _fast_lexer

    return [(t.type, str(t)) for t in _fast_lexer().lex(SimpleNamespace(text=text), None)]


def test_the_fast_lexer_lexes_an_array_expression_once() -> None:
    # @ and .T are in the op table (Op.token), so the fast lexer knows them: an array
    # expression is no longer lexed twice (fast lexer, then Lark's after it gave up).
    assert _fast_tokens("sum((h.T @ v) ** 2)") == [
        ("NAME", "sum"), ("LPAR", "("), ("LPAR", "("), ("NAME", "h"), ("TRANSPOSE", ".T"),
        ("AT", "@"), ("NAME", "v"), ("RPAR", ")"), ("POW", "**"), ("NUMBER", "2"),
        ("RPAR", ")")]


@pytest.mark.parametrize("op", [op for op in OPS.values() if op.token], ids=lambda op: op.name)
def test_every_op_token_is_lexed_by_the_fast_lexer(op: Op) -> None:
    assert op.token is not None
    kind, text = op.token
    assert (kind, text) in _fast_tokens(f"a {text} b")
