"""Property tests: on random programs at random points away from kinks and domain edges,
backprop, sympy and central finite differences agree. This checks the checker too: the
reference here is built by the test itself, in parallel with the program text, from sympy
and plain Python; it never goes through backprop's own symbolic module or engine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import sympy as sp
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from backprop_cli import DomainError, evaluate

Env = dict[str, float]
VARIABLES = ("x", "y", "z")
SYMBOLS = {name: sp.Symbol(name, real=True) for name in VARIABLES}
CONSTANTS = ("2", "0.5", "3", "1.5", ".25")


@dataclass(frozen=True)
class Term:
    """One subexpression, three ways: program text, sympy form, and a float function."""

    text: str
    sym: sp.Expr
    fn: Callable[[Env], float]
    variables: frozenset[str]
    names: frozenset[str]  # named intermediates it reads directly


def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


UNARY: dict[str, tuple[Callable[[sp.Expr], sp.Expr], Callable[[float], float]]] = {
    "exp": (sp.exp, math.exp),
    "log": (sp.log, math.log),
    "ln": (sp.log, math.log),
    "sqrt": (sp.sqrt, math.sqrt),
    "sigmoid": (lambda a: 1 / (1 + sp.exp(-a)), _sigmoid),
    "σ": (lambda a: 1 / (1 + sp.exp(-a)), _sigmoid),
    # "log2" is written log(a, 2): the logarithm to a constant base.
    "log2": (lambda a: sp.log(a) / sp.log(2), math.log2),
    "tanh": (sp.tanh, math.tanh),
    "abs": (sp.Abs, abs),
    "relu": (lambda a: sp.Max(0, a), lambda v: max(0.0, v)),
    "sin": (sp.sin, math.sin),
    "cos": (sp.cos, math.cos),
    "tan": (sp.tan, math.tan),
    "softplus": (lambda a: sp.log(1 + sp.exp(a)),
                 lambda v: max(v, 0.0) + math.log1p(math.exp(-abs(v)))),
    # leaky_relu(a) takes the slope 0.01; "leaky_relu4" is written leaky_relu(a, 0.25).
    "leaky_relu": (lambda a: sp.Piecewise((a, a > 0), (a / 100, True)),
                   lambda v: v if v > 0 else 0.01 * v),
    "leaky_relu4": (lambda a: sp.Piecewise((a, a > 0), (a / 4, True)),
                    lambda v: v if v > 0 else 0.25 * v),
    "step": (lambda a: sp.Heaviside(a, 0), lambda v: 1.0 if v > 0 else 0.0),
}
# How a UNARY entry is written, where not name(a).
CALLS = {"leaky_relu4": "leaky_relu({}, 0.25)", "log2": "log({}, 2)"}
BINARY: dict[str, tuple[Callable[[sp.Expr, sp.Expr], sp.Expr], Callable[[float, float], float]]] = {
    "+": (lambda a, b: a + b, lambda a, b: a + b),
    "-": (lambda a, b: a - b, lambda a, b: a - b),
    "*": (lambda a, b: a * b, lambda a, b: a * b),
    "/": (lambda a, b: a / b, lambda a, b: a / b),
    "max": (sp.Max, max),
    "min": (sp.Min, min),
}
EXPONENTS = ("2", "3", "-1", "0.5", "1", "-2")


def test_the_generators_cover_every_scalar_function_of_the_op_table() -> None:
    # A new op in ops.OPS must be added here too, with its own reference (not the table's).
    from backprop_cli.core.ops import FUNCTIONS

    scalar = {name for name, op in FUNCTIONS.items() if not op.array_only}
    assert scalar - set(UNARY) - set(BINARY) == set()


def leaf(text: str) -> Term:
    if text in SYMBOLS:
        return Term(text, SYMBOLS[text], lambda env: env[text], frozenset([text]), frozenset())
    f = Fraction(text)
    value = float(f)
    return Term(text, sp.Rational(f.numerator, f.denominator), lambda env: value,
                frozenset(), frozenset())


def unary(name: str, a: Term) -> Term:
    sym_f, fn_f = UNARY[name]
    fa = a.fn
    try:
        sym = sym_f(a.sym)
    except (TypeError, ValueError):  # e.g. relu(sqrt(-2)): sympy cannot order a complex constant
        reject()
    text = CALLS.get(name, name + "({})").format(a.text)
    return Term(text, sym, lambda env: fn_f(fa(env)), a.variables, a.names)


def binary(name: str, a: Term, b: Term) -> Term:
    sym_f, fn_f = BINARY[name]
    fa, fb = a.fn, b.fn
    text = f"{name}({a.text}, {b.text})" if name.isalpha() else f"({a.text}) {name} ({b.text})"
    try:
        sym = sym_f(a.sym, b.sym)
    except (TypeError, ValueError):  # max/min of a complex constant, such as sqrt(-2)
        reject()
    return Term(text, sym, lambda env: fn_f(fa(env), fb(env)),
                a.variables | b.variables, a.names | b.names)


def power(a: Term, exponent: str, star: bool) -> Term:
    f = Fraction(exponent)
    e = float(f)
    fa = a.fn
    op = "**" if star else "^"
    return Term(f"({a.text}){op}{exponent}", a.sym ** sp.Rational(f.numerator, f.denominator),
                lambda env: fa(env) ** e, a.variables, a.names)


def negate(a: Term) -> Term:
    fa = a.fn
    return Term(f"-({a.text})", -a.sym, lambda env: -fa(env), a.variables, a.names)


@dataclass
class Program:
    text: str
    output: Term
    variables: list[str]


@st.composite
def programs(draw: st.DrawFn) -> Program:
    """A random program, built bottom-up in a loop (no recursion), reusing subexpressions
    (fan-out) and naming some of them (statements)."""
    pool: list[Term] = [leaf(v) for v in VARIABLES[: draw(st.integers(1, 3))]]
    pool.append(leaf(draw(st.sampled_from(CONSTANTS))))
    statements: list[str] = []
    named: dict[str, Term] = {}
    steps = draw(st.integers(1, 10))
    pick = st.integers(0, 10**6)
    for _ in range(steps):
        a = pool[draw(pick) % len(pool)]
        b = pool[draw(pick) % len(pool)]
        kind = draw(st.sampled_from(["unary", "binary", "binary", "power", "neg", "positive"]))
        if kind == "unary":
            term = unary(draw(st.sampled_from(sorted(UNARY))), a)
        elif kind == "binary":
            term = binary(draw(st.sampled_from(sorted(BINARY))), a, b)
        elif kind == "power":
            term = power(a, draw(st.sampled_from(EXPONENTS)), draw(st.booleans()))
        elif kind == "neg":
            term = negate(a)
        else:  # log/sqrt of something positive, so fewer draws are thrown away
            name = draw(st.sampled_from(["log", "sqrt"]))
            term = unary(name, binary("+", leaf("1"), power(a, "2", False)))
        if draw(st.integers(0, 3)) == 0:
            name = f"t{len(statements)}"
            statements.append(f"{name} = {term.text}")
            named[name] = term
            term = Term(name, term.sym, term.fn, term.variables, frozenset([name]))
        pool.append(term)
    out = pool[-1]
    # Every named intermediate must reach the output: add the ones that do not.
    used = set(out.names)
    for stmt in reversed(statements):
        name = stmt.split(" = ")[0]
        if name in used:
            used |= named[name].names
    for name in named:
        if name not in used:
            out = binary("+", out, Term(name, named[name].sym, named[name].fn,
                                        named[name].variables, frozenset([name])))
            used.add(name)
            used |= named[name].names
    text = "\n".join([*statements, out.text]) if draw(st.booleans()) else "; ".join(
        [*statements, out.text])
    return Program(text, out, sorted(out.variables | _vars_of_names(out, named)))


def _vars_of_names(out: Term, named: dict[str, Term]) -> frozenset[str]:
    found: set[str] = set(out.variables)
    for term in named.values():
        found |= term.variables
    return frozenset(found)


# Points: exact three-decimal values, the same number for the tool, sympy and Python.
coordinate = st.builds(lambda n, sign: Fraction(sign * n, 1000), st.integers(1, 2500),
                       st.sampled_from([1, -1]))

MARGIN = 1e-2  # distance kept from kinks and domain edges
LIMIT = 1e5  # magnitudes past this are not compared (rounding would dominate)


def away_from_edges(result) -> bool:  # type: ignore[no-untyped-def]
    graph = result.graph
    values = [n.value for n in result.nodes]
    for node in graph.nodes:
        args = [values[j] for j in node.inputs]
        name = node.op.name
        if abs(values[node.id]) > LIMIT:
            return False
        if name in ("relu", "abs", "log", "log2", "sqrt", "leaky_relu") and \
                abs(args[0]) < MARGIN:
            return False
        if name == "tan" and abs(math.cos(args[0])) < MARGIN:
            return False
        if name in ("max", "min") and abs(args[0] - args[1]) < MARGIN:
            return False
        if name == "div" and abs(args[1]) < MARGIN:
            return False
        if name == "pow" and abs(args[0]) < MARGIN:
            return False
    return all(abs(g) < LIMIT for g in result.gradients.values())


def central(fn: Callable[[Env], float], env: Env, name: str) -> float:
    h = 1e-6 * max(1.0, abs(env[name]))
    return (fn({**env, name: env[name] + h}) - fn({**env, name: env[name] - h})) / (2 * h)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(program=programs(), data=st.data())
def test_backprop_sympy_and_finite_differences_agree(program: Program, data: st.DataObject) -> None:
    point = {name: data.draw(coordinate, label=name) for name in program.variables}
    at = {name: repr(float(v)) for name, v in point.items()}  # "0.125": exact decimals
    try:
        result = evaluate(program.text, at=at)
    except DomainError:
        assume(False)
        raise
    assume(away_from_edges(result))
    env = {name: float(v) for name, v in point.items()}
    exact = {SYMBOLS[name]: sp.Rational(v.numerator, v.denominator) for name, v in point.items()}

    assert result.value == _approx(program.output.fn(env), 1e-9)
    assert set(result.gradients) == set(program.variables)
    for name, g in result.gradients.items():
        reference = float(sp.diff(program.output.sym, SYMBOLS[name]).xreplace(exact).evalf(30))
        assert abs(g - reference) <= 1e-9 + 1e-6 * abs(reference), (program.text, at, name)
        fd = central(program.output.fn, env, name)
        assert abs(g - fd) <= 1e-4 + 1e-3 * abs(g), (program.text, at, name, g, fd)
    # The tool's own checker agrees, and says every gradient passed.
    for check in result.verification.checks:
        assert check.status == "pass", (program.text, at, check)
    assert result.ok


def _approx(expected: float, rel: float):  # type: ignore[no-untyped-def]
    import pytest

    return pytest.approx(expected, rel=rel, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(program=programs(), data=st.data())
def test_upstream_seed_scales_every_gradient(program: Program, data: st.DataObject) -> None:
    point = {name: data.draw(coordinate, label=name) for name in program.variables}
    at = {name: repr(float(v)) for name, v in point.items()}  # "0.125": exact decimals
    # Powers of two: scaling by them is exact in floating point, so equality must hold.
    seed = data.draw(st.sampled_from([-2.0, 0.5, 4.0, -0.25]))
    try:
        one = evaluate(program.text, at=at, check=())
        scaled = evaluate(program.text, at=at, check=(), upstream=seed)
    except DomainError:
        assume(False)
        raise
    for name, g in one.gradients.items():
        assert scaled.gradients[name] == seed * g, (program.text, at, name)


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-1e6, 1e6), slope=st.sampled_from(["0.01", "0.2", "0.5", "1.5"]))
def test_leaky_relu_gradient_is_one_or_the_slope(x: float, slope: str) -> None:
    r = evaluate(f"leaky_relu(x, {slope})", at={"x": x}, check=())
    assert r.gradients == {"x": 1.0 if x > 0 else float(slope)}
    assert r.value == (x if x > 0 else float(slope) * x)


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-700, 700))
def test_softplus_identity_and_its_gradient(x: float) -> None:
    # softplus(x) - softplus(-x) = x, and the gradients σ(x) + σ(-x) = 1.
    r = evaluate("softplus(x) - softplus(-x)", at={"x": x}, check=())
    assert r.value == _approx(x, 1e-12)
    assert r.gradients is not None and r.gradients["x"] == _approx(1.0, 1e-12)


@settings(max_examples=60, deadline=None)
@given(x=st.floats(-1e3, 1e3))
def test_sin_and_cos_make_one(x: float) -> None:
    # sin² + cos² = 1 everywhere, so its gradient is 0 (2 sin cos - 2 cos sin).
    r = evaluate("sin(x)^2 + cos(x)^2", at={"x": x}, check=())
    assert r.value == _approx(1.0, 1e-12)
    assert r.gradients is not None and abs(r.gradients["x"]) <= 1e-12
