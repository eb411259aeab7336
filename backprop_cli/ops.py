"""The op table: every gate's forward rule, local gradients, sympy form and gate pattern.

Adding an op is adding one entry to ``OPS``; the parser, engine, checker and renderers
only read this table. Functions here take and return plain floats; sympy forms receive
sympy objects and the module ``sp`` (so that this module does not import sympy itself:
`backprop --help` must stay fast).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Floats = tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Op:
    """One gate. ``local(args, out)`` returns d out / d input, one per input."""

    name: str
    arity: int  # -1 for leaves (variables, constants)
    forward: Callable[..., float]
    local: Callable[[Floats, float], Floats]
    sympy: Callable[..., Any]  # (sp, *sympy_args) -> sympy expression
    gate: str  # the lecture's gate pattern
    symbol: str = ""  # infix symbol, or "" for a function call
    # Where the op is not differentiable: (args) -> description of the kink and the
    # subgradient taken, or None. Also used to tell whether two points lie on the
    # same smooth piece (``branch``).
    kink: Callable[[Floats], str | None] | None = None
    branch: Callable[[Floats], int] | None = None
    # (args) -> why the forward value does not exist, for a domain error message.
    domain: Callable[[Floats], str] | None = None
    aliases: tuple[str, ...] = ()


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def _sigmoid(x: float) -> float:
    # Two branches so that exp never overflows: exp(-x) for x >= 0, exp(x) otherwise.
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _pow(a: float, b: float) -> float:
    return math.pow(a, b)


def _pow_local(args: Floats, out: float) -> Floats:
    a, b = args
    if a == 0.0:
        # x^0 is the constant 1 and x^1 is x; 0 < b < 1 has an infinite slope at 0.
        d_base = 0.0 if b == 0.0 else (b * math.pow(a, b - 1.0) if b >= 1.0 else math.inf)
    else:
        d_base = b * math.pow(a, b - 1.0)
    # d/db a^b = a^b ln a: real only for a > 0 (and 0 for a == 0, b > 0).
    if a > 0.0:
        d_exp = out * math.log(a)
    elif a == 0.0 and b > 0.0:
        d_exp = 0.0
    else:
        d_exp = math.nan
    return (d_base, d_exp)


def _pow_domain(args: Floats) -> str:
    a, b = args
    if a == 0.0 and b < 0.0:
        return f"0 raised to a negative power ({_fmt(b)}) divides by zero"
    if a < 0.0 and b != int(b):
        return f"a negative base ({_fmt(a)}) raised to a non-integer power ({_fmt(b)}) is not real"
    return f"{_fmt(a)}^{_fmt(b)} overflows a float"


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def _tie(args: Floats) -> int:
    return _sign(args[0] - args[1])


def _max_local(args: Floats, out: float) -> Floats:
    a, b = args
    return (1.0, 0.0) if a > b else (0.0, 1.0) if b > a else (0.5, 0.5)


def _min_local(args: Floats, out: float) -> Floats:
    a, b = args
    return (1.0, 0.0) if a < b else (0.0, 1.0) if b < a else (0.5, 0.5)


def _tie_kink(which: str) -> Callable[[Floats], str | None]:
    def kink(args: Floats) -> str | None:
        if args[0] == args[1]:
            return f"{which} at a tie ({_fmt(args[0])} = {_fmt(args[1])}): gradient split 0.5/0.5"
        return None

    return kink


def _pow_sympy(sp: Any, a: Any, b: Any) -> Any:
    from .symbolic import power

    return power(a, b)


def _relu_sympy(sp: Any, x: Any) -> Any:
    from .symbolic import relu

    return relu(x)


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("add", 2, lambda a, b: a + b, lambda x, o: (1.0, 1.0),
           lambda sp, a, b: a + b, "gradient distributor", "+"),
        Op("sub", 2, lambda a, b: a - b, lambda x, o: (1.0, -1.0),
           lambda sp, a, b: a - b, "distributor, negated to b", "-"),
        Op("mul", 2, lambda a, b: a * b, lambda x, o: (x[1], x[0]),
           lambda sp, a, b: a * b, "swap multiplier", "*"),
        Op("div", 2, lambda a, b: a / b, lambda x, o: (1.0 / x[1], -o / x[1]),
           lambda sp, a, b: a / b, "1/b to a, -a/b² to b", "/",
           domain=lambda x: "division by zero"),
        Op("pow", 2, _pow, _pow_local, _pow_sympy,
           "b·a^(b-1) to a", "^", domain=_pow_domain),
        Op("neg", 1, lambda a: -a, lambda x, o: (-1.0,), lambda sp, a: -a,
           "gradient negator", "-"),
        Op("exp", 1, math.exp, lambda x, o: (o,), lambda sp, a: sp.exp(a),
           "local = its own output",
           domain=lambda x: f"exp({_fmt(x[0])}) overflows a float"),
        Op("log", 1, math.log, lambda x, o: (1.0 / x[0],), lambda sp, a: sp.log(a),
           "local 1/x", domain=lambda x: f"log of a non-positive number ({_fmt(x[0])})",
           aliases=("ln",)),
        Op("sqrt", 1, math.sqrt,
           lambda x, o: (0.5 / o if o else math.inf,), lambda sp, a: sp.sqrt(a),
           "local 1/(2√x)",
           domain=lambda x: f"sqrt of a negative number ({_fmt(x[0])})"),
        Op("sigmoid", 1, _sigmoid, lambda x, o: (o * (1.0 - o),),
           lambda sp, a: 1 / (1 + sp.exp(-a)), "local (1-σ)σ"),
        Op("tanh", 1, math.tanh, lambda x, o: (1.0 - o * o,), lambda sp, a: sp.tanh(a),
           "local 1-tanh²"),
        Op("relu", 1, lambda a: a if a > 0.0 else 0.0,
           lambda x, o: (1.0 if x[0] > 0.0 else 0.0,), _relu_sympy,
           "gradient gate (x > 0)",
           kink=lambda x: "relu at 0: took subgradient 0" if x[0] == 0.0 else None,
           branch=lambda x: _sign(x[0])),
        Op("abs", 1, abs, lambda x, o: (float(_sign(x[0])),), lambda sp, a: sp.Abs(a),
           "local sign(x)",
           kink=lambda x: "abs at 0: took subgradient 0" if x[0] == 0.0 else None,
           branch=lambda x: _sign(x[0])),
        Op("max", 2, max, _max_local, lambda sp, a, b: sp.Max(a, b),
           "gradient router", kink=_tie_kink("max"), branch=_tie),
        Op("min", 2, min, _min_local, lambda sp, a, b: sp.Min(a, b),
           "gradient router", kink=_tie_kink("min"), branch=_tie),
    )
}

# Leaves: they have no inputs, so they are not gates; kept here so every node has an Op.
VAR = Op("var", -1, float, lambda x, o: (), lambda sp, a: a, "input")
CONST = Op("const", -1, float, lambda x, o: (), lambda sp, a: a, "constant")
# `r = q` makes a node of its own so that r carries its name in every table.
IDENTITY = Op("id", 1, lambda a: a, lambda x, o: (1.0,), lambda sp, a: a,
              "passes through")

FUNCTIONS: dict[str, Op] = {
    alias: op
    for op in OPS.values()
    if not op.symbol
    for alias in (op.name, *op.aliases)
}

FAN_OUT = "copy gate: gradient adder"
