"""The student's notation (issue 28): every accepted form reads as its canonical form (the
same graph, values and gradients), every rejected one says what was meant and the fix."""

from __future__ import annotations

import json
import math

import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli import evaluate
from backprop_cli.core.errors import BackpropError
from backprop_cli.core.parse import parse
from backprop_cli.core.written import written

ARRAYS = "W=[[0.1,0.5],[-0.3,0.8]],x=[0.2,0.4],u=[1,2],v=[3,-1]"
_VALUES = {"W": [[0.1, 0.5], [-0.3, 0.8]], "x": [0.2, 0.4], "u": [1, 2], "v": [3, -1]}


def _point(expr: str, at: str) -> str | dict[str, object]:
    """ARRAYS, cut to the inputs of ``expr`` (--at may name no other)."""
    if at != ARRAYS:
        return at
    return {k: v for k, v in _VALUES.items() if k in parse(expr).variables}

# (as a student writes it, the canonical form, --at): the same graph, values and gradients.
ACCEPTED = [
    # constants
    ("e^x", "exp(x)", "x=0.7"),
    ("e**x", "exp(x)", "x=0.7"),
    ("e^(2x)", "exp(2*x)", "x=0.7"),
    ("pi*x", "3.141592653589793*x", "x=0.7"),
    ("π x", "pi*x", "x=0.7"),
    ("2 e x", "2*2.718281828459045*x", "x=0.7"),
    # transposes
    ("sum(W^T x)", "sum(W.T @ x)", ARRAYS),
    ("sum(Wᵀ x)", "sum(W.T @ x)", ARRAYS),
    ("sum(transpose(W) @ x)", "sum(W.T @ x)", ARRAYS),
    # juxtaposition
    ("2x", "2*x", "x=0.7"),
    ("2x^2", "2*(x^2)", "x=0.7"),
    ("-2x", "(-2)*x", "x=0.7"),
    ("x y", "x*y", "x=0.7,y=-3"),
    ("2 x y", "2*x*y", "x=0.7,y=-3"),
    ("(x+y)z", "(x+y)*z", "x=-2,y=5,z=-4"),
    ("x(y+z)", "x*(y+z)", "x=-2,y=5,z=-4"),
    ("(x+y)(x-y)", "(x+y)*(x-y)", "x=-2,y=5"),
    ("x^2 y", "(x^2)*y", "x=0.7,y=-3"),
    ("a -b", "a - b", "a=1,b=2"),
    ("sum(W x)", "sum(W @ x)", ARRAYS),
    ("sum(2 W x)", "sum((2*W) @ x)", ARRAYS),
    ("uᵀ v", "u.T @ v", ARRAYS),
    ("sum(u vᵀ)", "sum(outer(u, v.T))", ARRAYS),
    ("sum(3 u)", "sum(3*u)", ARRAYS),
    # unicode maths
    ("x × y", "x*y", "x=0.7,y=-3"),
    ("x · y", "x*y", "x=0.7,y=-3"),
    ("x ⋅ y", "x*y", "x=0.7,y=-3"),
    ("x − y", "x - y", "x=0.7,y=-3"),
    ("−x", "-x", "x=0.7"),
    ("x²", "x^2", "x=0.7"),
    ("x³ + x⁻¹", "x^3 + x^-1", "x=0.7"),
    ("(x+1)²", "(x+1)^2", "x=0.7"),
    ("√x", "sqrt(x)", "x=0.7"),
    ("√(x+1)", "sqrt(x+1)", "x=0.7"),
    ("√2 x", "sqrt(2)*x", "x=0.7"),
    ("|x|", "abs(x)", "x=-0.7"),
    ("|x - y| + 1", "abs(x - y) + 1", "x=0.7,y=-3"),
    ("σ(x)", "sigmoid(x)", "x=0.7"),
    ("sum(W · x)", "sum(W @ x)", ARRAYS),
    # function names
    ("ReLU(x)", "relu(x)", "x=0.7"),
    ("Tanh(x) + Exp(x)", "tanh(x) + exp(x)", "x=0.7"),
    ("SIGMOID(x)", "sigmoid(x)", "x=0.7"),
    ("ln(x)", "log(x)", "x=0.7"),
    ("log(x, 2)", "log(x)/log(2)", "x=0.7"),
    ("log(x, 10)", "log(x)/log(10)", "x=0.7"),
    ("log(x, e)", "log(x)", "x=0.7"),
    # the output's name
    ("f(x, y) = x*y", "x*y", "x=0.7,y=-3"),
    ("q = x + y; f(x, y, z) = q z", "q = x + y; f = q * z", "x=-2,y=5,z=-4"),
    ("f = x*y", "x*y", "x=0.7,y=-3"),
]


def _run(expr: str, at: str):  # type: ignore[no-untyped-def]
    return evaluate(expr, at=_point(expr, at), check=())


@pytest.mark.parametrize(("typed", "canonical", "at"), ACCEPTED)
def test_an_accepted_notation_reads_as_its_canonical_form(typed: str, canonical: str,
                                                          at: str) -> None:
    got, want = _run(typed, at), _run(canonical, at)
    assert numpy.allclose(got.value, want.value, rtol=1e-12, atol=0)
    assert got.gradients is not None and want.gradients is not None
    assert got.gradients.keys() == want.gradients.keys()
    for name, g in want.gradients.items():
        assert numpy.allclose(got.gradients[name], g, rtol=1e-12, atol=0)


# Where the canonical form is written with the same ops: the graphs are the same, op by op.
SAME_GRAPH = [(t, c, a) for t, c, a in ACCEPTED
              if "." not in c.replace(".T", "") and "log(x)" not in c]


@pytest.mark.parametrize(("typed", "canonical", "at"), SAME_GRAPH)
def test_an_accepted_notation_builds_the_canonical_graph(typed: str, canonical: str,
                                                         at: str) -> None:
    got, want = _run(typed, at), _run(canonical, at)
    assert [(n.op, n.inputs) for n in got.nodes] == [(n.op, n.inputs) for n in want.nodes] \
        or written(got.graph) == written(want.graph)
    assert got.inputs == want.inputs


def test_e_to_the_x_is_exp_with_exps_gate_and_proof() -> None:
    r = evaluate("e^x", at="x=0.7")
    assert [n.op for n in r.nodes] == ["var", "exp"]
    assert r.nodes[1].gate == "local = its own output"
    assert r.verification is not None
    assert [c.proof for c in r.verification.checks] == ["sympy"]
    assert r.verification.checks[0].sympy_derivative == "exp(x)"


def test_pi_is_proved_as_sympys_pi() -> None:
    r = evaluate("pi*x^2", at="x=0.5")
    assert r.verification is not None and r.verification.checks[0].proof == "sympy"
    assert r.verification.checks[0].sympy_derivative == "2*pi*x"


def test_the_table_says_a_name_was_read_as_a_constant() -> None:
    r = evaluate("pi*x", at="x=1")
    assert r.nodes[0].gate == "constant: the constant π = 3.14159"
    assert any("'pi' is read as the constant π" in n and "--at pi=" in n for n in r.notes)


@pytest.mark.parametrize(("expr", "at", "inputs"), [
    ("e^x", "x=1,e=2", ["e", "x"]),
    ("pi*x", "x=1,pi=3", ["pi", "x"]),
    ("e = x + 1; f = e^2", "x=1", ["x"]),
])
def test_a_bound_name_is_an_input_not_a_constant(expr: str, at: str, inputs: list[str]) -> None:
    r = evaluate(expr, at=at, check=())
    assert r.inputs == inputs
    assert r.read_as is None


def test_e_bound_by_at_is_a_power() -> None:
    r = evaluate("e^x", at="x=1,e=2", check=())
    assert r.value == 2.0 and [n.op for n in r.nodes][-1] == "pow"


# The echo: how the expression was read, when it was not read as typed.
@pytest.mark.parametrize(("expr", "at", "read_as"), [
    ("2x^2", "x=1", "2 * x^2"),
    ("-2x", "x=1", "-2 * x"),
    ("2 W x", ARRAYS, "2 * W @ x"),
    ("e^x", "x=1", "exp(x)"),
    ("Wᵀ x", ARRAYS, "W.T @ x"),
    ("x⁻¹", "x=1", "x^-1"),
    ("√x + |x|", "x=1", "sqrt(x) + abs(x)"),
    ("ReLU(x)", "x=1", "relu(x)"),
    ("π x", "x=1", "pi * x"),
    ("(x+y)*z", "x=1,y=2,z=3", None),
    ("x**2", "x=1", None),
])
def test_the_echo_shows_the_reading(expr: str, at: str, read_as: str | None) -> None:
    up = "[1,1]" if "W" in expr else 1.0
    assert evaluate(expr, at=_point(expr, at), check=(), upstream=up).read_as == read_as


def test_eval_prints_the_reading_first(backprop) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from backprop_cli.cli import app

    out = CliRunner().invoke(app, ["eval", "2x^2", "--at", "x=3"])
    assert out.exit_code == 0
    assert out.stdout.splitlines()[0] == "read as: 2 * x^2"


@pytest.mark.parametrize(("expr", "at", "message", "hint"), [
    ("sum(u v)", ARRAYS, "`u v` could mean two things: two vectors side by side could be "
     "the dot product u @ v or the entrywise product u * v", "write u @ v or u * v"),
    ("sin x", "x=1", "'sin' is a function", "did you mean sin(x)?"),
    ("sqrt x", "x=1", "'sqrt' is a function", "did you mean sqrt(x)?"),
    ("sigmod(x)", "x=1", "unknown function 'sigmod'", "did you mean sigmoid(x)?"),
    ("Sigmod(x)", "x=1", "unknown function 'Sigmod'", "did you mean sigmoid(x)?"),
    ("x 2", "x=1", "syntax error: unexpected '2'", "write the product with '*' (x*2) or "
     "the power with '^' (x^2)"),
    ("2|x|", "x=1", "syntax error: unexpected '|'", "2*|x|"),
    ("log(x, 1)", "x=1", "the base of log must be a positive constant other than 1",
     "log(x, 2)"),
    ("log(x, y)", "x=1,y=2", "the base of log must be a positive constant other than 1",
     "log(x, 2)"),
    ("f(x+1) = x", "x=1", "the parameters of f(...) = ... must be names", "f(x, y) = ..."),
    ("f(x) = x; g = 2", "x=1", "f(x, ...) = ... names the output", "then the output"),
    ("x if y else z", "x=1", "syntax error: unexpected 'if'", "maths, not Python"),
    ("np.exp(x)", "x=1", "syntax error", "did you mean exp(...)? (no 'np.')"),
    ("math.log(x)", "x=1", "syntax error", "did you mean log(...)? (no 'math.')"),
    ("x.real", "x=1", "syntax error", "attributes and methods"),
    ("∑(x)", "x=1", "syntax error", "sums are written sum(...)"),
    ("Σ(x)", "x=1", "unknown function 'Σ'", "did you mean sum(x)?"),
    ("x ÷ 2", "x=1", "syntax error", "division is written /"),
])
def test_a_rejected_notation_says_what_was_meant(expr: str, at: str, message: str,
                                                 hint: str) -> None:
    with pytest.raises(BackpropError) as info:
        evaluate(expr, at=_point(expr, at) if "(u v)" not in expr else "u=[1,2],v=[3,-1]",
                 check=())
    assert message in info.value.message
    assert info.value.hint is not None and hint in info.value.hint


# --- the command line ---------------------------------------------------------------------

def _invoke(*args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from backprop_cli.cli import app

    return CliRunner().invoke(app, list(args))


def test_at_values_split_by_spaces_after_commas_are_joined() -> None:
    out = _invoke("eval", "(x+y)*z", "--at", "x=-2,", "y=5,", "z=-4", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_an_array_split_by_spaces_is_joined() -> None:
    out = _invoke("eval", "sum(W@x)", "--at", "W=[[1,", "2],", "[3,", "4]],", "x=[1,", "1]",
                  "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["value"] == 10.0


def test_a_binding_without_a_trailing_comma_is_not_joined() -> None:
    out = _invoke("eval", "x*y", "--at", "x=1", "y=2")
    assert out.exit_code == 2


def test_an_expression_where_a_command_is_expected_is_evaluated() -> None:
    out = _invoke("(x+y)*z", "--at", "x=-2,y=5,z=-4", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["value"] == -12.0


def test_a_misspelt_command_is_still_no_such_command() -> None:
    out = _invoke("evl", "x")
    assert out.exit_code == 2
    assert "No such command 'evl'" in out.output


def test_a_file_where_a_command_is_expected_is_not_an_expression() -> None:
    out = _invoke("lecture.toml")
    assert out.exit_code == 2 and "No such command 'lecture.toml'" in out.output


def test_backprop_alone_prints_what_to_try() -> None:
    out = _invoke()
    assert out.exit_code == 0
    assert out.stdout.startswith("backprop: ")
    assert 'backprop eval "(x+y)*z" --at x=-2,y=5,z=-4' in out.stdout


# --- property: any mix of accepted notations reads back as the canonical graph -------------

VARS = ("x", "y", "z")
# Each function in its canonical spelling and the other spellings a student may use.
SPELLINGS = {"sigmoid": ("sigmoid", "σ", "Sigmoid"), "tanh": ("tanh", "Tanh"),
             "exp": ("exp", "Exp", "e^"), "sqrt": ("sqrt", "√"), "abs": ("abs", "|"),
             "relu": ("relu", "ReLU"), "log": ("log", "ln")}
SUPERSCRIPT = {"2": "²", "3": "³"}


@st.composite
def trees(draw: st.DrawFn, depth: int = 0) -> tuple:  # type: ignore[type-arg]
    """A random expression tree: ("var", x), ("const", "2"), (fn, a), (op, a, b), ("pow", a, k)."""
    if depth >= 3 or draw(st.integers(0, 3)) == 0:
        return ("var", draw(st.sampled_from(VARS))) if draw(st.booleans()) else \
            ("const", draw(st.sampled_from(["2", "3", "0.5", "pi", "e"])))
    kind = draw(st.sampled_from(["+", "-", "*", "neg", "pow", "fn"]))
    if kind in "+-*":
        return (kind, draw(trees(depth + 1)), draw(trees(depth + 1)))
    if kind == "neg":
        return ("neg", draw(trees(depth + 1)))
    if kind == "pow":
        return ("pow", draw(trees(depth + 1)), draw(st.sampled_from(["2", "3"])))
    return (draw(st.sampled_from(sorted(SPELLINGS))), draw(trees(depth + 1)))


TIER = {"+": 1, "-": 1, "*": 2, "neg": 3, "pow": 4}


def show(tree: tuple, draw: st.DrawFn | None, need: int = 0) -> str:  # type: ignore[type-arg]
    """The tree written canonically (draw None) or in a random mix of the accepted notations.
    Recursion is fine here: the trees are at most 4 deep."""
    kind = tree[0]
    mix = draw is not None

    def pick(options: list[str]) -> str:
        return draw(st.sampled_from(options)) if draw is not None else options[0]

    if kind == "var":
        return str(tree[1])
    if kind == "const":
        text = str(tree[1])
        return pick(["pi", "π"]) if text == "pi" else text
    tier = TIER.get(kind, 5)
    if kind in ("+", "-"):
        sym = "+" if kind == "+" else pick(["-", "−"])
        out = f"{show(tree[1], draw, 1)} {sym} {show(tree[2], draw, 2)}"
    elif kind == "*":
        left, right = tree[1], tree[2]
        # Juxtaposition: its right-hand side must be an operand (a name, a call or a group),
        # never a number; a parenthesised right side is a group.
        sym = pick(["*", "×", "·", " "]) if mix and right[0] != "const" else "*"
        r = show(right, draw, 3)
        if sym == " " and (not (right[0] == "var" or right[0] in SPELLINGS)
                           or r.startswith("|")) and not r.startswith("("):
            r = f"({r})"
        gap = "" if sym == " " else " "
        out = f"{show(left, draw, 2)}{gap}{sym}{gap}{r}" if sym != " " else \
            f"{show(left, draw, 2)} {r}"
    elif kind == "neg":
        out = pick(["-", "−"]) + show(tree[1], draw, 3)
    elif kind == "pow":
        base = show(tree[1], draw, 5)
        out = base + pick(["^" + tree[2], "**" + tree[2], SUPERSCRIPT[tree[2]]])
    else:
        spelling = pick(list(SPELLINGS[kind]))
        arg = show(tree[1], draw, 0)
        if spelling == "e^":
            out, tier = f"e^({arg})", 4  # a power: (e^(x))^2 needs its parentheses
        elif spelling == "|":
            out = f"|{arg}|"
        elif spelling == "√":
            out = f"√({arg})"
        else:
            out = f"{spelling}({arg})"
    return f"({out})" if tier < need else out


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_random_mix_of_notations_reads_as_the_canonical_graph(data: st.DataObject) -> None:
    tree = data.draw(trees())
    canonical = show(tree, None)
    mixed = show(tree, data.draw)
    want, got = parse(canonical), parse(mixed)
    got.read_products(lambda nid: ())  # scalars: every juxtaposition is *
    assert written(got) == written(want), (canonical, mixed)
    assert list(got.variables) == list(want.variables)


def test_the_property_draws_every_notation() -> None:
    # The generator really writes each accepted form: a sample of its outputs has them all.
    import random

    seen: set[str] = set()
    rng = random.Random(0)

    def draw(strategy: st.SearchStrategy[str]) -> str:  # a sampled_from's elements, at random
        return rng.choice(strategy.elements)  # type: ignore[attr-defined, no-any-return]

    for _ in range(400):
        text = show(_random_tree(rng, 0), draw)  # type: ignore[arg-type]
        seen.update(ch for ch in "π−×·²³σ√|" if ch in text)
        seen.update(w for w in ("e^(", "Exp(", "ReLU(", "ln(", "**") if w in text)
        if " " in text.replace(" + ", "").replace(" - ", "").replace(" × ", "") \
                .replace(" · ", "").replace(" * ", "").replace(" − ", ""):
            seen.add("juxtaposition")
    assert seen >= {"π", "−", "×", "·", "²", "³", "σ", "√", "|", "e^(", "Exp(", "ReLU(", "ln(",
                    "**", "juxtaposition"}


def _random_tree(rng, depth: int) -> tuple:  # type: ignore[no-untyped-def, type-arg]
    if depth >= 3 or rng.random() < 0.25:
        return ("var", rng.choice(VARS)) if rng.random() < 0.5 else ("const", rng.choice(
            ["2", "3", "0.5", "pi", "e"]))
    kind = rng.choice(["+", "-", "*", "neg", "pow", "fn"])
    if kind in "+-*":
        return (kind, _random_tree(rng, depth + 1), _random_tree(rng, depth + 1))
    if kind == "neg":
        return ("neg", _random_tree(rng, depth + 1))
    if kind == "pow":
        return ("pow", _random_tree(rng, depth + 1), rng.choice(["2", "3"]))
    return (rng.choice(sorted(SPELLINGS)), _random_tree(rng, depth + 1))


def test_values_of_a_mixed_expression_match_the_canonical_one() -> None:
    r = evaluate("2x² + e^(−x) − |x|·σ(x)", at="x=0.3", check=())
    x = 0.3
    assert r.value == pytest.approx(2 * x**2 + math.exp(-x) - abs(x) / (1 + math.exp(-x)))


def test_a_formula_answer_may_use_the_notation() -> None:
    out = _invoke("eval", "x^2*y", "--at", "x=3,y=2", "--expect", "dx = 2x y", "--check",
                  "none", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["answers"]["ok"] is True


def test_a_matrix_formula_answer_in_the_lectures_notation() -> None:
    # The lecture's dW = 2 q xᵀ, with q = W x: juxtaposition and the transpose, read by shapes.
    out = _invoke("eval", "sum((W@x)^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--at",
                  "x=[0.2,0.4]", "--expect", "dW = 2 (W x) xᵀ", "--check", "none", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["answers"]["ok"] is True


def test_expand_keeps_the_reading() -> None:
    r = evaluate("x y + pi*sigmoid(x)", at="x=1,y=2", check=(), expand=True)
    assert r.read_as is not None and r.read_as.startswith("x * y + pi * ")
    assert "juxt" not in [n.op for n in r.nodes]
    assert r.nodes[next(n.id for n in r.nodes if n.op == "const" and n.expression == "pi")] \
        .gate.startswith("constant: the constant π")
