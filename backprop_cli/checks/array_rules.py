"""The array ops' rules proved by sympy, once per op and shape class (the gate proof's rules).

An array op (``@``, sum, softmax, ...) has two rules in the op table: ``np_forward`` and
``vjp``, numpy code that the engine runs on floats. Here the same code runs on small arrays
of sympy symbols (numpy's object arrays; the module ``np`` it receives is ``SymbolicNumpy``,
numpy with sympy's exp and log) and is compared with sympy's own answer:

- forward: ``np_forward(args)`` equals the op's sympy form ``sympy_array(args)``;
- backward: ``vjp(args, out, G)`` equals, entry by entry, the derivative of
  ``sum(G ⊙ sympy_array(args))`` with respect to that entry of each input (G: a symbol per
  entry of the upstream gradient): the vector-Jacobian product, from sympy's derivative.

An identity is proved when sympy reduces the difference to 0 (expanded, exponentials and
logarithms as symbols, then as one fraction; sympy's ``simplify`` last); it is refuted only
by a counterexample: a rational point where the difference, evaluated at 30 digits, is not
0. Neither: the rule is not proved, and the gate proof says so.

Shape class: the inputs' shapes with every size other than 1 replaced by a small size
(2, 3, 4, ... in order of first appearance; equal sizes stay equal, 1s stay 1, and so do
the number of axes and a constant axis argument). A 128×784 @ 784 product is proved on
2×3 @ 3. Sizes 2, 3, 4 are all different, so a transpose in the wrong place cannot hide.

``PROOF_FORMS`` is the table, keyed by op name, of how each array op's rule is proved:
``identity`` (one symbolic instance; a row maximum that the rule only subtracts, as softmax
does, is a fresh symbol per row, so the rule is proved for every shift), or ``pieces``
(a router such as rowmax, whose rule compares entries: proved on every smooth piece of the
instance, each row's largest entry in each position, the others below it by positive
symbols). Elementwise ops need no entry: the gate proof takes their local derivatives from
their scalar sympy forms at every entry (symbolic.local_forms), as the scalar engine does.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from ..core.ops import Op
from . import symbolic

Shapes = tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class RuleProof:
    """What sympy found for one op's rules on one shape class."""

    proved: bool
    why: str = ""  # not proved: the counterexample, or why sympy could not decide
    refuted: bool = False  # a counterexample shows the rule wrong


# How each array op's rule is proved (see the module's docstring); an array op missing
# here is never proved by the gate proof (tests/test_array_gates.py checks the table).
PROOF_FORMS: dict[str, str] = {
    "matmul": "identity", "transpose": "identity", "sum": "identity", "mean": "identity",
    "dot": "identity", "softmax": "identity", "log_softmax": "identity",
    "cross_entropy": "identity", "outer": "identity", "rowsum": "identity",
    "rowmax": "pieces",
}


def shape_class(shapes: Shapes) -> Shapes:
    """Each size other than 1 replaced by 2, 3, 4, ... in order of first appearance."""
    small: dict[int, int] = {}
    out = []
    for shape in shapes:
        out.append(tuple(1 if n == 1 else small.setdefault(n, len(small) + 2)
                         for n in shape))
    return tuple(out)


class SymbolicNumpy:
    """numpy for the op table's rules on object arrays of sympy expressions: exp and log
    entry by entry; ``max`` a fresh symbol per reduced entry when ``shift`` (an identity
    proof: the rule may only subtract it, as a stable softmax does), numpy's own otherwise."""

    def __init__(self, shift: bool) -> None:
        self.shift = shift
        self.count = 0

    def exp(self, a: Any) -> Any:
        return _each(sp.exp, a)

    def log(self, a: Any) -> Any:
        return _each(sp.log, a)

    def max(self, a: Any, axis: Any = None, keepdims: bool = False) -> Any:
        if not self.shift:
            out = np.apply_along_axis(_largest, -1 if axis is None else axis,
                                      np.reshape(a, -1) if axis is None else a)
            return np.expand_dims(out, -1 if axis is None else axis) if keepdims else out
        shape = np.max(np.zeros(np.shape(a)), axis=axis, keepdims=keepdims).shape
        out = np.empty(shape, dtype=object)
        for idx in np.ndindex(shape):
            self.count += 1
            out[idx] = sp.Symbol(f"_shift{self.count}", real=True)
        return out if shape else out[()]

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def _largest(row: Any) -> Any:
    """The largest entry, where sympy can tell (on a piece: the row's top); TypeError if
    it cannot tell that one entry is at least every other."""
    best = row[0]
    for x in row[1:]:
        if (x - best).is_positive:
            best = x
    if not all(sp.expand(best - x).is_nonnegative for x in row):
        raise TypeError("the largest entry is not decided")
    return best


def _each(fn: Callable[[Any], Any], a: Any) -> Any:
    return np.frompyfunc(fn, 1, 1)(a) if isinstance(a, np.ndarray) else fn(a)


def obj(x: Any) -> Any:
    """An object array (0-d for a scalar)."""
    if isinstance(x, np.ndarray):
        return x.astype(object)
    a = np.empty((), dtype=object)
    a[()] = x
    return a


def symbols(prefix: str, shape: tuple[int, ...], **assumptions: bool) -> Any:
    a = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        a[idx] = sp.Symbol(prefix + "_".join(str(i) for i in idx), real=True, **assumptions)
    return a


# ---------------------------------------------------------------- the proofs


@cache
def prove_rule(op: Op, shapes: Shapes, params: tuple[Any, ...]) -> RuleProof:
    """Prove ``op``'s np_forward and vjp on its shape class ``shapes`` (already small, see
    ``shape_class``); ``params``: the constant arguments after the inputs (sum's axis)."""
    form = PROOF_FORMS.get(op.name)
    if form is None or op.vjp is None or op.sympy_array is None or op.np_forward is None:
        return RuleProof(False, f"{op.name} has no array rule proof form (array_rules.py)")
    args = [symbols(f"_a{k}_", s) for k, s in enumerate(shapes)]
    consts = [obj(sp.Integer(p)) for p in params]
    if form == "identity":
        return _prove(op, args, consts, [{}], SymbolicNumpy(shift=True))
    return _prove(op, args, consts, list(_row_pieces(args[0])), SymbolicNumpy(shift=False))


def _row_pieces(z: Any) -> Iterator[dict[Any, Any]]:
    """Every smooth piece of a row maximum: in each row, one entry the largest, every other
    entry below it by its own positive symbol."""
    rows = z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1)
    for tops in itertools.product(range(rows.shape[1]), repeat=rows.shape[0]):
        piece: dict[Any, Any] = {}
        for r, top in enumerate(tops):
            for c, s in enumerate(rows[r]):
                if c != top:
                    piece[s] = rows[r][top] - sp.Symbol(f"_below{r}_{c}", positive=True)
        yield piece


def off_the_pieces(op: Op, z: Any) -> str | None:
    """Why the point ``z`` (an op's first input, at the point) lies on none of the pieces
    its rule was proved on, or None: a row maximum whose largest entry is tied (a kink,
    where sympy's derivative and the subgradient the rule takes differ)."""
    if PROOF_FORMS.get(op.name) != "pieces":
        return None
    rows = z.reshape(-1, z.shape[-1]) if z.ndim else z.reshape(1, 1)
    for r, row in enumerate(rows):
        top = max(row)
        tied = sum(1 for x in row if x == top)
        if tied > 1:
            return (f"{op.name} at a tie ({tied} entries of row {r} equal its largest): its "
                    "rule is proved off ties only, where it is differentiable")
    return None


def _prove(op: Op, args: list[Any], consts: list[Any], pieces: list[dict[Any, Any]],
           snp: SymbolicNumpy) -> RuleProof:
    assert op.sympy_array is not None and op.np_forward is not None and op.vjp is not None
    # On a piece no row is tied, so the tool's tie convention (symbolic.rowmax) is sympy's Max
    # there, whose derivative _settled decides.
    plain_max = np.frompyfunc(lambda e: sp.sympify(e).replace(
        lambda x: isinstance(x, symbolic.rowmax), lambda x: sp.Max(*x.args)), 1, 1)
    out = obj(plain_max(obj(op.sympy_array(symbolic.SP, np, *args, *consts))))
    g = symbols("_g", out.shape)
    loss = sp.Add(*obj(g * out).reshape(-1))
    truth = [[loss.diff(s) for s in a.reshape(-1)] for a in args]
    for piece in pieces:
        put = np.frompyfunc(lambda e, piece=piece: e.xreplace(piece), 1, 1)
        at = [obj(put(a)) for a in args]
        sub_out = obj(put(out))
        try:
            forward = obj(op.np_forward(snp, *at, *consts))
            down = op.vjp(snp, (*at, *consts), sub_out, g)
        except (TypeError, ValueError, ArithmeticError) as exc:
            return _undecided(op, args, exc)
        pairs = [("its forward value", e, f) for e, f in
                 zip(sub_out.reshape(-1), np.broadcast_to(forward, out.shape).reshape(-1))]
        for k in range(len(args)):
            d = obj(np.asarray(down[k], dtype=object)).reshape(-1)
            pairs += [(f"its gradient for input {k + 1}", _settled(t.xreplace(piece), piece), r)
                      for t, r in zip(truth[k], d)]
        for what, expected, got in pairs:
            verdict = is_zero(sp.sympify(expected) - sp.sympify(got))
            if verdict is True:
                continue
            if verdict is False:
                return RuleProof(False, f"sympy disproves {op.name}'s rule on "
                                 f"{_shapes(args)}: {what} is {got}, not {expected}",
                                 refuted=True)
            return RuleProof(False, f"sympy could not decide {op.name}'s rule on "
                             f"{_shapes(args)}")
    return RuleProof(True)


def _undecided(op: Op, args: list[Any], exc: Exception) -> RuleProof:
    return RuleProof(False, f"sympy could not run {op.name}'s rule on {_shapes(args)} "
                     f"({exc})")


def _shapes(args: list[Any]) -> str:
    """"2×3 and 3": the instance's shapes, as the tables write them."""
    return " and ".join("×".join(map(str, a.shape)) or "scalar" for a in args)


def _settled(e: Any, piece: dict[Any, Any]) -> Any:
    """sympy's derivative of a maximum on a piece, its comparisons settled: each Max or Min
    of entries top - t (t > 0) written as top + Max(-t, ...), which sympy then decides."""
    tops = {s for v in piece.values() for s in v.free_symbols if not s.is_positive}

    def shift(m: Any) -> Any:
        top = next((s for s in tops if s in m.free_symbols), None)
        return m if top is None else top + m.func(*(sp.expand(x - top) for x in m.args))

    return e.replace(lambda x: isinstance(x, (sp.Max, sp.Min)), shift)


def is_zero(e: Any) -> bool | None:
    """True: sympy reduces ``e`` to 0. False: a rational point where it is not 0 (30
    digits). None: neither."""
    e = sp.expand(e, power_exp=True)
    if e == 0:
        return True
    # log(Σ exp(z - m)) is log(Σ exp z) - m: factor each log's argument and split it (only
    # into factors sympy knows are positive: no force).
    logs = {f: sp.expand_log(sp.log(sp.factor(f.args[0])))
            for f in e.atoms(sp.log)}
    e = sp.expand(e.xreplace(logs), power_exp=True)
    named: dict[Any, Any] = {}
    for f in sorted(e.atoms(sp.exp, sp.log), key=sp.default_sort_key):
        named[f] = sp.Symbol(f"_f{len(named)}", positive=f.func is sp.exp)
    if sp.cancel(sp.together(e.xreplace(named))) == 0:
        return True
    if _counterexample(e):
        return False
    return True if sp.simplify(e) == 0 else None


def _counterexample(e: Any) -> bool:
    rng = random.Random(0)
    free = sorted(e.free_symbols, key=sp.default_sort_key)
    for _ in range(3):
        at = {s: sp.Rational(rng.randint(1 if s.is_positive else -9, 9), rng.randint(2, 7))
              for s in free}
        v = e.xreplace(at).evalf(symbolic.DIGITS)
        if v.is_number and v.is_real and abs(v) > sp.Float(10) ** -20:
            return True
    return False


@cache
def prove_broadcast(shape: tuple[int, ...], out: tuple[int, ...]) -> RuleProof:
    """The copy gate of broadcasting (arrays.unbroadcast) on one shape class: an input of
    ``shape`` stretched to ``out`` gets the sum of the upstream over what it was stretched
    to; proved against sympy's derivative of sum(G ⊙ broadcast(A))."""
    from ..core.arrays import unbroadcast

    a = symbols("_a", shape)
    g = symbols("_g", out)
    loss = sp.Add(*obj(g * np.broadcast_to(a, out)).reshape(-1))
    got = obj(unbroadcast(g, shape))
    for s, r in zip(a.reshape(-1), got.reshape(-1)):
        if is_zero(loss.diff(s) - r) is not True:
            return RuleProof(False, f"sympy disproves the copy gate of broadcasting "
                             f"{shape} to {out}", refuted=True)
    return RuleProof(True)
