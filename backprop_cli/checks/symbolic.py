"""sympy forms of a graph, built node by node from the graph (never from user text)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from functools import cache
from typing import Any, TypeVar

import sympy as sp
from sympy.printing.str import StrPrinter

from ..core.graph import Graph
from ..core.ops import CONST, CONSTANTS, VAR, Op

T = TypeVar("T")

# Digits used when sympy evaluates a derivative at the point: far beyond float64, so that
# the reference is exact as far as the comparison can tell.
DIGITS = 30
PREC = sp.core.evalf.dps_to_prec(DIGITS)  # the same in bits: sympy Floats and mpmath mpfs


class step(sp.Heaviside):  # type: ignore[misc]  # noqa: N801 - printed as step(x, 0)
    """Heaviside(x, h0) (h0: its value at 0) whose derivative is 0, not DiracDelta(x): the
    indicators' and relu's gradient as the tool takes it, 0 on either side of the jump (the
    jump itself is a kink the engine names). Subclassing Heaviside keeps its values, its
    printing in LaTeX, and what simplify knows of it."""

    def __new__(cls, arg: Any, h0: Any = sp.S.Half, **options: Any) -> Any:
        # Heaviside.__new__ calls super(cls, cls).__new__, which for a subclass is itself.
        return super(sp.Heaviside, cls).__new__(cls, arg, h0, **options)

    def fdiff(self, argindex: int = 1) -> Any:
        return sp.S.Zero


class relu(sp.Function):  # type: ignore[misc]  # noqa: N801 - printed as relu(x)
    """relu with the tool's convention relu'(0) = 0, so that sympy agrees at the kink."""

    is_real = True

    @classmethod
    def eval(cls, x: Any) -> Any:
        if x.is_Number:
            return x if x > 0 else sp.S.Zero
        if x.is_positive:
            return x
        if x.is_nonpositive:
            return sp.S.Zero
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        # step(x, 0) = Heaviside(x, 0): 0 at x = 0, the subgradient backprop takes (PyTorch's
        # choice); the same object as the indicator (x > 0), so sympy proves them equal.
        return step(self.args[0], 0)

    def _eval_rewrite_as_Max(self, x: Any, **kwargs: Any) -> Any:  # noqa: N802
        return sp.Max(0, x)


class leaky_relu(sp.Function):  # type: ignore[misc]  # noqa: N801 - printed as leaky_relu(x, k)
    """leaky_relu(x, slope) with the tool's (PyTorch's) convention: the derivative is 1 for
    x > 0 and the slope for x <= 0, so the slope at the kink, as backprop takes it. The
    slope is a constant parameter: its derivative is 0, as backprop's local gradient."""

    is_real = True

    @classmethod
    def eval(cls, x: Any, slope: Any) -> Any:
        if x.is_Number:
            return x if x > 0 else slope * x
        if x.is_positive:
            return x
        if x.is_nonpositive:
            return slope * x
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        x, slope = self.args
        if argindex == 2:
            return sp.S.Zero
        return sp.Piecewise((sp.S.One, x > 0), (slope, True))

    def _eval_rewrite_as_Piecewise(self, x: Any, slope: Any, **kwargs: Any) -> Any:  # noqa: N802
        return sp.Piecewise((x, x > 0), (slope * x, True))


class rowmax(sp.Function):  # type: ignore[misc]  # noqa: N801 - printed as rowmax(v_0, ...)
    """The largest of its arguments, with the tool's (torch.amax's) convention at a tie of any
    width: each of the k tied entries gets 1/k. sympy's Max gives each 1/2 (Heaviside(0)),
    which adds up to more than 1 for a tie of three."""

    is_real = True

    @classmethod
    def eval(cls, *args: Any) -> Any:
        if all(a.is_Number for a in args):
            return sp.Max(*args)
        return None

    def fdiff(self, argindex: int = 1) -> Any:
        return rowmax_share(sp.Integer(argindex - 1), *self.args)

    def _eval_rewrite_as_Max(self, *args: Any, **kwargs: Any) -> Any:  # noqa: N802
        return sp.Max(*args)


class rowmax_share(sp.Function):  # type: ignore[misc]  # noqa: N801
    """rowmax_share(i, v_0, ..., v_n) = d rowmax(v) / d v_i: 1/k where v_i is one of the k
    entries tied for the largest, 0 below. One function node rather than a Heaviside of a Max
    per entry (half the time of sympy's check of an expanded softmax); its derivative is 0."""

    is_real = True

    @classmethod
    def eval(cls, i: Any, *args: Any) -> Any:
        if not all(a.is_Number for a in args):
            return None
        top = max(args)
        tied = sum(1 for a in args if a == top)
        return sp.Rational(1, tied) if args[int(i)] == top else sp.S.Zero

    def fdiff(self, argindex: int = 1) -> Any:
        return sp.S.Zero

    def _eval_evalf(self, prec: int) -> Any:
        values = [a.evalf(sp.core.evalf.prec_to_dps(prec)) for a in self.args[1:]]
        if not all(v.is_Number for v in values):
            return None
        return self.func(self.args[0], *values)


def symbol(name: str) -> sp.Symbol:
    # real=True: |x|' is sign(x) and Max/Min differentiate to Heaviside, as for real inputs.
    return sp.Symbol(name, real=True)


def exact(literal: str) -> sp.Expr:
    """An already validated decimal literal as an exact rational: 0.1 is 1/10; a named
    constant (e, pi) as sympy's own (E, pi)."""
    from ..core.numbers import parse_number

    named = CONSTANTS.get(literal)
    if named is not None:
        return named.sympy(sp)

    # The parser's own reading (Fraction(text) fails past 4,300 digits: 1. and 4,400 zeros).
    f = parse_number(literal, source=literal, pos=0, leading_zeros=True)[1]
    return sp.Rational(f.numerator, f.denominator)


def build(graph: Graph) -> list[Any]:
    """One sympy expression per node (None where a node only feeds a flattened sum/product).

    Chains of + and * are gathered into one Add/Mul: adding terms one at a time would make
    sympy re-flatten the whole sum at every step, quadratic in the length of the chain.
    """
    nodes = graph.nodes
    uses = [0] * len(nodes)
    consumer_chain = [""] * len(nodes)
    for node in nodes:
        for j in node.inputs:
            uses[j] += 1
            consumer_chain[j] = node.op.chain
    expr: list[Any] = [None] * len(nodes)
    parts: list[list[Any] | None] = [None] * len(nodes)
    for node in nodes:
        nid, op = node.id, node.op
        if op is VAR:
            expr[nid] = symbol(node.name or "")
            continue
        if op is CONST:
            expr[nid] = exact(node.literal)
            continue
        if op.chain:
            a, b = node.inputs
            left = _take(parts, expr, a)
            right = _take(parts, expr, b)
            if op.chain_right is not None:
                right = [op.chain_right(term) for term in right]
            if len(left) < len(right):
                left, right = right, left
            left.extend(right)
            mine = left
            if uses[nid] == 1 and consumer_chain[nid] == op.chain and node.name is None:
                parts[nid] = mine
            else:
                expr[nid] = getattr(sp, op.chain)(*mine)
            continue
        expr[nid] = op.sympy(SP, *(expr[j] for j in node.inputs))
    return expr


def _take(parts: list[list[Any] | None], expr: list[Any], j: int) -> list[Any]:
    p = parts[j]
    if p is not None:
        parts[j] = None
        return p
    return [expr[j]]


def output_expr(graph: Graph) -> Any:
    return build(graph)[graph.output]


def at_point(values: dict[str, Fraction]) -> dict[Any, Any]:
    """xreplace map {symbol: Float}: xreplace is linear, subs with a big dict is not."""
    return {symbol(k): sp.Float(sp.Rational(v.numerator, v.denominator), DIGITS)
            for k, v in values.items()}


def to_float(value: Any) -> float | None:
    """A real number, or None where sympy says the value is undefined, infinite or complex."""
    try:
        v = value.evalf(DIGITS) if hasattr(value, "evalf") else value
        if v.is_real is False or v.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            return None
        return float(v)
    except (TypeError, ValueError, AttributeError):
        return None


# Past this many bits an exact power of two rationals is replaced by its 30-digit value:
# sympy would compute 1.0000001^100000000 (700 million digits) or 2^100000000000 exactly.
MAX_EXACT_BITS = 4096


def power(a: Any, b: Any) -> Any:
    """a**b, except that a huge exact power of numbers becomes a 30-digit Float."""
    if a.is_Rational and b.is_Rational and abs(a) not in (0, 1):
        bits = max(abs(a.p).bit_length(), a.q.bit_length()) * abs(b)
        if bits > MAX_EXACT_BITS:
            return sp.Pow(a, b, evaluate=False).evalf(DIGITS)
    return a**b


class _Namespace:
    """What the op table's sympy forms receive as ``sp``: sympy itself, plus the tool's own
    relu, leaky_relu, rowmax, step and power (the op table imports no sympy, so it cannot
    name them)."""

    relu = relu
    leaky_relu = leaky_relu
    rowmax = rowmax
    step = step
    power = staticmethod(power)

    def __getattr__(self, name: str) -> Any:
        return getattr(sp, name)


SP: Any = _Namespace()


class SharedPrinter(StrPrinter):  # type: ignore[misc]
    """str(expr), printing each subexpression object once: a derivative repeats the same
    subexpressions (the same objects, from sympy's cache) many times over, and sympy orders
    the terms of every Add it prints anew (as_ordered_terms: most of a formula check's time).
    Keyed by identity, never by equality (Float(1, 30) == Float(1, 15) prints otherwise), and
    below the top level only (a Float prints its trailing zeros at the top level alone), so
    the text is str's. One printer may print several expressions: the memo holds each object,
    so no id is reused while it lives. Not for deep expressions: each level costs two frames."""

    def __init__(self) -> None:
        super().__init__()
        self._memo: dict[int, tuple[Any, str]] = {}

    def _print(self, expr: Any, **kwargs: Any) -> str:
        if kwargs or self._print_level == 0:
            return super()._print(expr, **kwargs)  # type: ignore[no-any-return]
        hit = self._memo.get(id(expr))
        if hit is not None:
            return hit[1]
        text: str = super()._print(expr)
        self._memo[id(expr)] = (expr, text)
        return text


def printed(expr: Any, printer: SharedPrinter | None = None) -> str:
    """str(expr); integers past Python's 4,300-digit limit are printed as 30-digit Floats."""
    try:
        return str(expr) if printer is None else printer.doprint(expr)
    except ValueError:
        return str(expr.evalf(DIGITS))


def short(expr: Any, width: int = 60, printer: SharedPrinter | None = None) -> str:
    """sympy's printed form, cut to ``width`` characters for tables."""
    text = printed(expr, printer)
    return text if len(text) <= width else text[: width - 1] + "…"


@cache
def local_forms(op: Op, inputs: int | None = None) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """An op's local gradients in placeholder inputs, differentiated once per op: sympy's
    diff costs milliseconds, and a 10,000-node graph would otherwise pay it per node.
    ``inputs``: the node's number of inputs, one more than the arity with a constant
    parameter (leaky_relu(x, 0.2))."""
    n = op.arity if inputs is None else inputs
    dummies = tuple(sp.Dummy(f"a{k}", real=True) for k in range(n))
    form = op.sympy(SP, *dummies)
    return dummies, tuple(sp.diff(form, d) for d in dummies)


def warm_rules() -> Iterator[None]:
    """Make each scalar op's local_forms and numeric_forms (about 0.4 s for the table, a
    tenth of it sympy's own imports on the first diff), one op at a time, yielding after
    each: the worker runs this while it waits for a job (child.serve_jobs), so that the
    gate-by-gate pass meets every rule made, and stops at once when a job comes."""
    from ..core.ops import OPS

    first = ("add", "mul", "tanh", "sigmoid", "sub", "neg", "div", "exp", "log", "pow", "relu")
    for op in sorted(OPS.values(), key=lambda op: (op.name not in first, first.index(op.name)
                                                   if op.name in first else 0)):
        if op.array_only or not op.arity:
            continue
        try:
            local_forms(op, op.arity)
            numeric_forms(op, op.arity)
        except Exception:  # a job that needs this op says what went wrong
            pass
        yield


# The functions an op's sympy forms may use for numeric_forms to compile them: smooth ones,
# where mpmath and sympy agree wherever both give a finite real number. Kinks (Heaviside,
# sign, Piecewise, Max) have conventions at 0 (relu'(0) = 0, Heaviside(0) = 1/2 for ties)
# that only sympy's own evaluation is sure to keep: those ops stay with sympy.
_NUMERIC_FUNCTIONS = frozenset({sp.exp, sp.log, sp.tanh, sp.sin, sp.cos, sp.tan})


@cache
def numeric_forms(op: Op, inputs: int | None = None) -> tuple[Callable[..., Any],
                                                              Callable[..., Any]] | None:
    """(value, gate) of an op as mpmath functions of its inputs: its sympy form, and the
    list [form, *local_forms] with their common subexpressions computed once (tanh's in
    1 - tanh(x)**2), compiled once by sympy.lambdify, to evaluate a gate at the precision
    of the caller's mpmath context; None for an op outside _NUMERIC_FUNCTIONS."""
    dummies, derivatives = local_forms(op, inputs)
    form = op.sympy(SP, *dummies)
    for expr in (form, *derivatives):
        if any(f.func not in _NUMERIC_FUNCTIONS for f in expr.atoms(sp.Function)):
            return None
    value = sp.lambdify(dummies, form, modules="mpmath")
    gate = sp.lambdify(dummies, [form, *derivatives], modules="mpmath", cse=True)
    return value, gate


def local_symbolic(graph: Graph, nid: int) -> list[Any]:
    """d node / d input, in terms of the inputs' own names (q, z, #3) or constant values."""
    node = graph.nodes[nid]
    dummies, derivatives = local_forms(node.op, len(node.inputs))
    names: dict[Any, Any] = {}
    for k, j in enumerate(node.inputs):
        inp = graph.nodes[j]
        names[dummies[k]] = exact(inp.literal) if inp.op is CONST else symbol(graph.label(j))
    if all(graph.nodes[j].op is CONST for j in node.inputs):
        # Constants only (2^1000000): nothing needs this gradient; do not compute it exactly.
        with sp.evaluate(False):
            return [d.xreplace(names) for d in derivatives]
    return [d.xreplace(names) for d in derivatives]


def run_deep(fn: Callable[[], T], recursion_limit: int = 20_000) -> T:
    """Run a sympy call (sympy recurses over expression depth) with room to recurse.

    A thread with a large stack and a raised recursion limit: the graph walks of this tool
    are iterative, but sympy's diff, xreplace and printers are not. Where no thread can start
    (Pyodide), ``fn`` runs here, within this stack's own recursion limit.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, recursion_limit))
        try:
            box["value"] = fn()
        except BaseException as exc:
            box["error"] = exc
        finally:
            sys.setrecursionlimit(old)

    try:
        old_size = threading.stack_size()
        threading.stack_size(512 * 1024 * 1024)
    except (RuntimeError, ValueError):  # no stack size to set: no threads either, as a rule
        old_size = None
    try:
        worker = threading.Thread(target=target, name="sympy")
        worker.start()
    except RuntimeError:  # "can't start new thread": a RecursionError here says "too deep"
        return fn()
    finally:
        if old_size is not None:
            threading.stack_size(old_size)
    worker.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]
