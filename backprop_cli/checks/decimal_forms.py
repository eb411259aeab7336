"""Numbers for the array gate proof: an op's sympy forms and rules evaluated on numpy object
arrays of 30-digit decimals.

Python's decimal (C): arithmetic, exp, ln and square roots correctly rounded at 30 significant
digits, about a microsecond an entry in a numpy object array; other smooth functions (tanh,
sin, cos, tan) by mpmath at the same precision, entry by entry; kinks (Heaviside, sign, max,
relu, Piecewise) by exact comparisons, with sympy's and the tool's conventions at 0. No traps:
1/0 is Infinity and log(-1) NaN, which the proof reports as undefined.
"""

from __future__ import annotations

import decimal
import functools
import operator
import time
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..core.ops import Op
from . import array_rules, symbolic

CHUNK = 4096  # entries of a function evaluated between two looks at the deadline
CONTEXT = decimal.Context(prec=symbolic.DIGITS, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN,
                          traps=[])


def check_deadline(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError



class _DecimalNumpy:
    """numpy for the op table's array rules on object arrays of Decimals: exp and log
    entry by entry (correctly rounded), a mean that divides by a Decimal count, and a sum of
    a mask that counts in Decimals (a router's share, 1/k, stays a Decimal)."""

    def exp(self, a: Any) -> Any:
        return _each(Decimal.exp, a)

    def log(self, a: Any) -> Any:
        return _each(Decimal.ln, a)

    def sum(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        a = np.asarray(a)
        if a.dtype == bool:
            a = np.where(a, Decimal(1), Decimal(0))  # type: ignore[call-overload]
        return np.sum(a, axis=axis, keepdims=keepdims)

    def mean(self, a: Any, axis: Any = None) -> Any:
        n = a.size if axis is None else a.shape[axis]
        return np.sum(a, axis=axis) / Decimal(n)

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


DECIMAL_NUMPY = _DecimalNumpy()


def _each(fn: Callable[[Any], Any], a: Any) -> Any:
    return np.frompyfunc(fn, 1, 1)(a) if isinstance(a, np.ndarray) else fn(a)


Form = Callable[[list[Any], float], Any]  # (input arrays, deadline) -> array


@cache
def forms(op: Op, wanted: tuple[bool, ...]) -> Callable[[list[Any], float], list[Any]]:
    """The op's sympy form and its local derivatives for the ``wanted`` inputs
    (symbolic.local_forms), as one function of decimal arrays (broadcast as numpy does);
    what they share (sympy's cse: sigmoid's exp(-x)) is computed once."""
    dummies, derivatives = symbolic.local_forms(op, len(wanted))
    # powsimp: sympy writes d(a^b)/da as b*a^b/a, which is 0/0 at a = 0 (relu(x)^2 below 0);
    # b*a^(b-1) is the same where a != 0 and its limit at 0.
    shared, forms = sp.cse([op.sympy(symbolic.SP, *dummies),
                            *(sp.powsimp(d) for d, w in zip(derivatives, wanted) if w)])
    names = list(dummies)
    steps = []
    for name, expr in shared:
        steps.append(_compile(expr, tuple(names)))
        names.append(name)
    outs = [_compile(expr, tuple(names)) for expr in forms]

    def run(args: list[Any], deadline: float) -> list[Any]:
        known = list(args)
        for step in steps:
            known.append(step(known, deadline))
        return [out(known, deadline) for out in outs]

    return run


def _compile(expr: Any, dummies: tuple[Any, ...]) -> Form:
    """A sympy expression (an op's local form: a handful of terms) as a function of its
    inputs' decimal arrays. Arithmetic is numpy's on the Decimal objects; exp, log and
    square roots are Decimal's; comparisons, Heaviside, sign, max and Piecewise exact; any
    other function mpmath's at the same precision, entry by entry."""
    if expr in dummies:
        k = dummies.index(expr)
        return lambda args, deadline: args[k]
    if expr.is_Rational:
        p, q = int(expr.p), int(expr.q)
        return lambda args, deadline: Decimal(p) / Decimal(q)
    if expr.is_Float:
        r = sp.Rational(expr)
        return _compile(r, dummies)
    if expr is sp.true or expr is sp.false:
        truth = bool(expr)
        return lambda args, deadline: truth
    if isinstance(expr, sp.Piecewise):  # its arguments are (value, condition) pairs
        pieces = [(_compile(e, dummies), _compile(c, dummies)) for e, c in expr.args]
        return lambda args, deadline: _piecewise(pieces, args, deadline)
    parts = [_compile(a, dummies) for a in expr.args]
    if expr.is_Add or expr.is_Mul:
        join = operator.add if expr.is_Add else operator.mul
        return lambda args, deadline: functools.reduce(join, (p(args, deadline)
                                                              for p in parts))
    if expr.is_Pow:
        base, power = parts
        exponent = expr.args[1]
        if exponent.is_Integer:
            n = int(exponent)
            return lambda args, deadline: _each(lambda b: b ** n, base(args, deadline))
        if exponent == sp.Rational(1, 2):
            return lambda args, deadline: _entrywise(Decimal.sqrt, [base(args, deadline)],
                                                     deadline)
        return lambda args, deadline: _entrywise(operator.pow, [base(args, deadline),
                                                                power(args, deadline)],
                                                 deadline)
    if expr.is_Relational:
        compare = _COMPARE[type(expr)]
        return lambda args, deadline: compare(parts[0](args, deadline),
                                              parts[1](args, deadline))
    fn = _function(expr)
    return lambda args, deadline: _entrywise(fn, [p(args, deadline) for p in parts], deadline)


_COMPARE: dict[type, Callable[[Any, Any], Any]] = {
    sp.StrictGreaterThan: operator.gt, sp.GreaterThan: operator.ge,
    sp.StrictLessThan: operator.lt, sp.LessThan: operator.le,
    sp.Equality: operator.eq, sp.Unequality: operator.ne,
}


def _piecewise(pieces: list[tuple[Form, Form]], args: list[Any], deadline: float) -> Any:
    result: Any = Decimal("NaN")
    for e, c in reversed(pieces):
        result = np.where(c(args, deadline), e(args, deadline), result)
    return result


def _heaviside(x: Decimal, at_zero: Decimal = Decimal("0.5")) -> Decimal:
    return Decimal(1) if x > 0 else Decimal(0) if x < 0 else at_zero


def _dirac(x: Decimal, order: Decimal = Decimal(0)) -> Decimal:
    # A step's derivative: 0 away from the step, undefined on it.
    return Decimal(0) if x != 0 else Decimal("NaN")


def _share(i: int, xs: tuple[Decimal, ...]) -> Decimal:
    """d rowmax / d x_i with the tool's convention: 1/k to each of k entries tied on top."""
    top = max(xs)
    return Decimal(1) / sum(1 for x in xs if x == top) if xs[i] == top else Decimal(0)


def _sign(x: Decimal) -> Decimal:
    return Decimal((x > 0) - (x < 0))


# Functions with an exact or correctly rounded decimal form; sympy's conventions at the
# kinks (Heaviside(0) = 1/2 unless given, sign(0) = 0; relu and leaky_relu are the tool's).
_DECIMAL: dict[Any, Callable[..., Decimal]] = {
    sp.exp: Decimal.exp, sp.log: Decimal.ln, sp.Abs: abs, sp.sign: _sign,
    sp.Heaviside: _heaviside, sp.DiracDelta: _dirac, sp.Max: max, sp.Min: min,
    symbolic.step: lambda x, at_zero=Decimal("0.5"): _heaviside(x, at_zero),
    symbolic.rowmax: lambda *xs: max(xs),
    symbolic.rowmax_share: lambda i, *xs: _share(int(i), xs),
    symbolic.relu: lambda x: x if x > 0 else Decimal(0),
    symbolic.leaky_relu: lambda x, k: x if x > 0 else k * x,
}
# Smooth functions decimal lacks: mpmath's, at the working precision.
_MPMATH = {sp.tanh: mpmath.tanh, sp.sin: mpmath.sin, sp.cos: mpmath.cos, sp.tan: mpmath.tan,
           sp.sinh: mpmath.sinh, sp.cosh: mpmath.cosh}


def _function(expr: Any) -> Callable[..., Decimal]:
    if expr.func in _DECIMAL:
        return _DECIMAL[expr.func]
    if expr.func in _MPMATH:
        fn = _MPMATH[expr.func]
        return lambda *xs: _from_mpf(fn(*(_to_mpf(x) for x in xs)))
    raise NotImplementedError(f"no 30-digit form for {expr.func}")


def _to_mpf(x: Decimal) -> Any:
    return mpmath.mpf(str(x)) if x.is_finite() else mpmath.nan


def _from_mpf(v: Any) -> Decimal:
    if not mpmath.isfinite(v):
        return Decimal("NaN")
    return Decimal(mpmath.libmp.to_str(v._mpf_, symbolic.DIGITS + 5))


def _entrywise(fn: Callable[..., Any], arrays: list[Any], deadline: float) -> Any:
    """``fn`` at every entry of the broadcast arrays, CHUNK entries between two looks at
    the deadline."""
    b = np.broadcast_arrays(*(array_rules.obj(a) for a in arrays))
    shape = b[0].shape
    flat = [a.reshape(-1) for a in b]
    ufunc = np.frompyfunc(fn, len(flat), 1)
    out = np.empty(len(flat[0]) if shape else 1, dtype=object)
    for start in range(0, out.size, CHUNK):
        check_deadline(deadline)
        out[start:start + CHUNK] = ufunc(*(f[start:start + CHUNK] for f in flat))
    return out.reshape(shape)
