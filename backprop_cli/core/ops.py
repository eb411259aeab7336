"""The op table: every gate's forward rule, local gradients, sympy form and gate pattern.

Adding an op is adding one entry to ``OPS``; the parser, the fast lexer, both engines,
the checker, --expand and the renderers only read this table. (An infix, prefix or postfix
op also needs its rule in grammars/backprop.lark, aliased to the op's name, and its
``token``: the parser's callback for it is made from this table.) tests/test_ops.py walks
the table and names any entry's missing field; CONTRIBUTING.md "Adding an op" lists the fields.
Functions here take and return plain floats; sympy forms receive
sympy objects and the module ``sp`` (so that this module does not import sympy itself:
`backprop --help` must stay fast).

Array fields (used by the array engine, backprop_cli/arrays.py) receive the module ``np``
for the same reason: scalar expressions never import numpy. An elementwise op gives
``np_forward`` and ``np_local`` (its local gradient entry by entry: the diagonal of a
Jacobian that is never formed); an array op (``@``, sum, softmax, ...) gives ``np_forward``
and ``vjp``, the vector-Jacobian product: upstream in, one downstream per input, each of its
input's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from .formatting import number

Floats = tuple[float, ...]
Shapes = tuple[tuple[int, ...], ...]


class Gates(Protocol):
    """What an op's ``expand`` builds its primitive gates with (expand.Builder): a gate by
    op name, and a constant."""

    def gate(self, op: str, *inputs: int) -> int: ...

    def const(self, value: float) -> int: ...


@dataclass(frozen=True, slots=True)
class Param:
    """A constant argument after an op's inputs: the axis of sum(A, 0), the slope of
    leaky_relu(x, 0.2). The parser checks it against ``accepts`` (the literal as typed) and
    the node gets the constant as one more input, which forward, local, sympy and the array
    rules then receive (a 0-d array in the array rules); its local gradient is 0: it is not
    differentiated. Omitted, the rules use their own default."""

    name: str  # "axis": how the error message names it
    usage: str  # "A, axis": the call with it, for "takes 1 argument (or 2: sum(A, axis))"
    what: str  # "the constant 0 or 1": what it must be
    accepts: Callable[[str], bool]  # the constant's literal -> allowed
    hint: str  # {name}: the function's name


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
    # The kink is a tie between the two inputs (max, min): none when both inputs are one node,
    # since max(x, x) = x is smooth (the 0.5/0.5 split then adds up to the gradient, 1).
    tie: bool = False
    # The value itself jumps at the kink (an indicator): named even where no gradient reaches
    # it, since s*(s > 0) is relu however small the upstream of the indicator.
    jump: bool = False
    # (args) -> why the forward value does not exist, for a domain error message.
    domain: Callable[[Floats], str] | None = None
    aliases: tuple[str, ...] = ()
    # An associative chain that sympy flattens into one node: "Add" or "Mul", sympy's class.
    # A chain of these gates is one level deep for sympy (graph.flat_depth) and is built as
    # one Add/Mul (symbolic.build); ``chain_right`` is how the right input's terms join it.
    chain: str = ""
    chain_right: Callable[[Any], Any] | None = None  # a - b: b's terms join negated
    # How the gate is written. ``label``: its label in pictures (default: symbol or name);
    # ``form``: the gate applied to its inputs' names {0}, {1} (default: `a + b`, `exp(a)`);
    # ``commutative``: an infix gate whose inputs commute, so 2*x is drawn as *2.
    label: str = ""
    form: str = ""
    commutative: bool = False
    # The swap multiplier: each input's local gradient is the other input (expect.py hints
    # at an answer that took the input itself).
    swaps: bool = False
    # --- arrays (all optional; ``np`` is the numpy module, passed in) ---
    np_forward: Callable[..., Any] | None = None  # (np, *arrays) -> array
    np_local: Callable[..., tuple[Any, ...]] | None = None  # (np, args, out): entrywise
    vjp: Callable[..., tuple[Any, ...]] | None = None  # (np, args, out, upstream)
    # The same two rules over a batch of rows (fit's mini-batches, core/batched.py): every
    # argument has a leading batch axis (size 1 for a value all rows share, a parameter),
    # then its row's shape; a downstream may keep the batch axis of a shared input (the
    # engine sums it: the copy gate). Elementwise ops need neither: np_forward and np_local
    # broadcast over the batch axis as they are. An array op without them makes fit run
    # that graph row by row.
    np_batched: Callable[..., Any] | None = None  # (np, *arrays) -> array
    vjp_batched: Callable[..., tuple[Any, ...]] | None = None  # (np, args, out, upstream)
    np_branch: Callable[..., Any] | None = None  # (np, *args) -> sign; 0 marks a kink
    sympy_array: Callable[..., Any] | None = None  # (sp, np, *object arrays) -> object array
    shapes: Callable[[Shapes], str | None] | None = None  # why not
    # The result's shape from the inputs' shapes, for an op whose result can hold more entries
    # than any input without being elementwise broadcasting (@: an m×1 column @ a 1×n row).
    # The array engine bounds every node's size with it before allocating (core/limits.py).
    out_shape: Callable[[Shapes], tuple[int, ...]] | None = None
    # How vjp forms each downstream, for the node table; {0}, {1} stand for the inputs.
    implicit: tuple[str, ...] = ()
    # The same in the step-by-step replay's words (steps.py), which fall back to
    # ``implicit``; one entry serves every input (an elementwise max).
    words: tuple[str, ...] = ()
    array_only: bool = False  # needs the array engine (not defined on plain floats)
    # An optional constant argument after the inputs (the axis of sum(A, 0), the slope of
    # leaky_relu(x, 0.2)); see Param.
    param: Param | None = None
    # The grammar terminal that writes the op and its text ("STAR", "*"): the fast lexer
    # lexes it and syntax errors name it ("expected '*'"). None for a function call only;
    # with no ``symbol`` it is a postfix op (A.T), whose grammar rule is aliased to its name.
    token: tuple[str, str] | None = None
    # --expand: the op written as primitive gates, (gates, input ids) -> output id; None for
    # a primitive gate (its local gradient is already one simple expression).
    expand: Callable[[Gates, tuple[int, ...]], int] | None = None
    # A hint for a shape mismatch (what to write instead), after ``shapes`` said why not.
    shape_hint: Callable[[Shapes], str] | None = None
    # An op the inputs' shapes decide (juxtaposition): (shapes, each input written
    # transposed) -> (the name of the op it reads as, "") or ("", why it is ambiguous).
    reads_as: Callable[[Shapes, tuple[bool, ...]], tuple[str, str]] | None = None

    def __reduce__(self) -> tuple[Callable[[str], Op], tuple[str]]:
        # An op pickles as its name (its fields are functions): a graph sent to the sympy
        # worker (checks/worker.py) finds the same entry of this table there.
        return op_named, (self.name,)

    @property
    def axis(self) -> bool:
        """Takes a constant axis (sum(A, 0)): the array engine checks it against the shape."""
        return self.param is AXIS


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
    return number(v)  # formatting.number, as the tables print it


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


def _np_sigmoid(np: Any, x: Any) -> Any:
    e = np.exp(-np.abs(x))  # never overflows
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _np_pow_local(np: Any, args: tuple[Any, ...], out: Any) -> tuple[Any, ...]:
    a, b = args
    d_base = b * np.power(a, b - 1.0)
    d_base = np.where((a == 0.0) & (b == 1.0), 1.0, d_base)
    d_base = np.where((a == 0.0) & (b == 0.0), 0.0, d_base)  # x^0 is the constant 1
    safe = np.where(a > 0.0, a, 1.0)
    d_exp = np.where(a > 0.0, out * np.log(safe), np.where((a == 0.0) & (b > 0.0), 0.0, np.nan))
    return (d_base, d_exp)


def _np_router(np: Any, args: tuple[Any, ...], bigger: bool) -> tuple[Any, ...]:
    a, b = args
    first = (a > b) if bigger else (a < b)
    second = (b > a) if bigger else (b < a)
    da = np.where(first, 1.0, np.where(second, 0.0, 0.5))
    return (da, 1.0 - da)


def _needs_arrays(*_: Any) -> Any:
    raise AssertionError("an array-only op reached the scalar engine")


def _matmul_shapes(shapes: Shapes) -> str | None:
    a, b = shapes
    if not a or not b:
        return "@ needs a vector or a matrix on both sides (use * to scale by a scalar)"
    if a[-1] != b[0]:
        return f"the inner dimensions differ ({a[-1]} vs {b[0]})"
    return None


def _matmul_out(shapes: Shapes) -> tuple[int, ...]:
    a, b = shapes  # a's last axis meets b's first; a 1-D side contributes no axis
    return tuple(a[:-1]) + (tuple(b[1:]) if len(b) == 2 else ())


def _matmul_vjp(np: Any, args: tuple[Any, ...], out: Any, g: Any) -> tuple[Any, ...]:
    # Vectors as 1×n rows on the left and n×1 columns on the right: dA = G Bᵀ, dB = Aᵀ G.
    a, b = args
    a2 = a if a.ndim == 2 else a[None, :]
    b2 = b if b.ndim == 2 else b[:, None]
    g2 = np.reshape(g, (a2.shape[0], b2.shape[1]))
    return (np.reshape(g2 @ b2.T, a.shape), np.reshape(a2.T @ g2, b.shape))


def _matmul_hint(shapes: Shapes) -> str:
    if len(shapes[0]) == 1 and len(shapes[1]) == 2:
        return "a vector on the left of @ is a row; to use it as a column put it on the right"
    return "A @ B needs A's columns to equal B's rows; A.T transposes a matrix"


def _outer_shapes(shapes: Shapes) -> str | None:
    if any(len(s) != 1 for s in shapes):
        return "outer needs two vectors (1-D); for columns write u @ v.T"
    return None


def _vectors(name: str) -> Callable[[Shapes], str | None]:
    def check(shapes: Shapes) -> str | None:
        if any(len(s) != 1 for s in shapes):
            return f"{name} needs vectors"
        if len({s[0] for s in shapes}) > 1:
            return f"{name} needs vectors of the same length"
        return None

    return check


def _last_axis(name: str) -> Callable[[Shapes], str | None]:
    def check(shapes: Shapes) -> str | None:
        if any(len(s) == 0 for s in shapes):
            return f"{name} needs a vector (or a matrix, row by row), not a scalar"
        if len(set(shapes)) > 1:
            return f"{name} needs logits and labels of the same shape"
        return None

    return check


def _np_softmax(np: Any, z: Any) -> Any:
    # The lecture's stable form: subtract the largest entry before exp (per row).
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _np_log_softmax(np: Any, z: Any) -> Any:
    # log-sum-exp with the max subtracted: never overflows, never takes log(0).
    shifted = z - np.max(z, axis=-1, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))


def _softmax_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    # Over the last axis: the same rule for one row's softmax and for a batch of rows.
    return (o * (g - np.sum(g * o, axis=-1, keepdims=True)),)


def _log_softmax_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    return (g - np.exp(o) * np.sum(g, axis=-1, keepdims=True),)


def _rows(np: Any, a: Any, fn: Callable[[list[Any]], list[Any]]) -> Any:
    """Apply ``fn`` to each row (last axis) of an object array of sympy entries."""
    out = np.empty(a.shape, dtype=object)
    flat_in = a.reshape(-1, a.shape[-1])
    flat_out = out.reshape(-1, a.shape[-1])
    for r in range(flat_in.shape[0]):
        flat_out[r, :] = fn(list(flat_in[r]))
    return out


def _sympy_softmax(sp: Any, np: Any, z: Any) -> Any:
    def row(v: list[Any]) -> list[Any]:
        e = [sp.exp(x) for x in v]
        total = sp.Add(*e)
        return [x / total for x in e]

    return _rows(np, z, row)


def _sympy_log_softmax(sp: Any, np: Any, z: Any) -> Any:
    def row(v: list[Any]) -> list[Any]:
        lse = sp.log(sp.Add(*(sp.exp(x) for x in v)))
        return [x - lse for x in v]

    return _rows(np, z, row)


def _pow_sympy(sp: Any, a: Any, b: Any) -> Any:
    # ``sp`` is checks.symbolic's namespace: sympy plus the tool's power and relu.
    return sp.power(a, b)


def _np_rows(np: Any, z: Any, reduce: Any) -> Any:
    # A row reduction: a vector to a scalar, an m×n matrix to an m×1 column, which broadcasts
    # back against the matrix (``z - rowmax(z)``): what softmax's expansion needs.
    return reduce(z, axis=-1, keepdims=z.ndim > 1)


def _np_rowmax_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    # The gradient router, row by row: upstream to the largest entry (ties share it evenly).
    z = x[0]
    top = z == np.max(z, axis=-1, keepdims=True)
    share = top / np.sum(top, axis=-1, keepdims=True)
    return (share * (g if z.ndim > 1 else np.reshape(g, (1,))),)


def _np_rowmax_branch(np: Any, z: Any) -> Any:
    # The smooth piece, entry by entry: 1 for the one largest entry of its row, -1 below it,
    # 0 for an entry tied with others for the largest: a kink (a tie of any width).
    top = z == np.max(z, axis=-1, keepdims=True)
    tied = np.sum(top, axis=-1, keepdims=True) > 1
    return np.where(top, np.where(tied, 0, 1), -1)


def _rowmax_kink(x: Floats) -> str:
    return ("rowmax at a tie for the largest entry: upstream shared evenly by the k tied "
            "entries, 1/k each (as torch.amax)")


def _sympy_rows(sp: Any, np: Any, z: Any, reduce: Any) -> Any:
    if z.ndim == 1:
        return reduce(*z)
    out = np.empty((z.shape[0], 1), dtype=object)
    for r in range(z.shape[0]):
        out[r, 0] = reduce(*z[r])
    return out


def _axis(ax: Any) -> int | None:
    """The axis of a reduction: None for all entries, else the constant's integer value."""
    return None if ax is None else int(ax.reshape(-1)[0])


def _np_reduce(np: Any, a: Any, ax: Any, mean: bool) -> Any:
    k = _axis(ax)
    return (np.mean if mean else np.sum)(a, axis=k)


def _reduce_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any, mean: bool) -> tuple[Any, ...]:
    # Each entry fed one output entry (its column's for axis 0, its row's for axis 1): it gets
    # that entry's upstream, divided by the number of entries averaged for mean.
    a = x[0]
    k = _axis(x[1]) if len(x) > 1 else None
    n = a.size if k is None else a.shape[k]
    g = g if k is None else np.expand_dims(g, k)
    down = np.broadcast_to(g / n if mean else g, a.shape).copy()
    return (down,) if len(x) == 1 else (down, np.zeros(np.shape(x[1])))


def _sympy_reduce(sp: Any, np: Any, a: Any, ax: Any, mean: bool) -> Any:
    k = _axis(ax)
    if k is None:
        return sp.Add(*a.flat) / (a.size if mean else 1)
    moved = np.moveaxis(a, k, 0)
    out = np.empty(moved.shape[1:], dtype=object)
    for idx in np.ndindex(out.shape):
        column = (slice(None), *idx)  # not moved[:, *idx]: that needs Python 3.11
        out[idx] = sp.Add(*moved[column]) / (moved.shape[0] if mean else 1)
    return out


def _relu_sympy(sp: Any, x: Any) -> Any:
    return sp.relu(x)


# --- the array rules over a batch of rows (np_batched, vjp_batched) ---------------------------
# Each is its op's rule above with a leading batch axis on every argument (a.ndim - 1 is the
# row's rank): the same products and reductions over the row's axes, numpy's broadcasting of
# the leading axis sharing a parameter (size 1) among the rows. Checked against the row-by-row
# rules at random shapes and values in tests/test_batched.py.


def _batch_matmul(np: Any, a: Any, b: Any) -> Any:
    if a.ndim == 3 and a.shape[0] == 1 and b.ndim == 2:  # W @ x, W shared: one product
        return b @ a[0].T
    a2 = a if a.ndim == 3 else a[:, None, :]  # as _matmul_vjp: a vector is a row on the left,
    b2 = b if b.ndim == 3 else b[:, :, None]  # a column on the right
    out = np.matmul(a2, b2)
    out = out if b.ndim == 3 else out[:, :, 0]
    return out if a.ndim == 3 else out[:, 0]


def _batch_matmul_vjp(np: Any, args: tuple[Any, ...], out: Any, g: Any) -> tuple[Any, ...]:
    a, b = args
    if a.ndim == 3 and a.shape[0] == 1 and b.ndim == 2:  # dW = Σ_rows g xᵀ, dx = Wᵀ g
        return ((g.T @ b)[None], g @ a[0])
    a2 = a if a.ndim == 3 else a[:, None, :]
    b2 = b if b.ndim == 3 else b[:, :, None]
    g2 = np.reshape(g, (g.shape[0], a2.shape[1], b2.shape[2]))
    da = np.matmul(g2, np.swapaxes(b2, 1, 2))
    db = np.matmul(np.swapaxes(a2, 1, 2), g2)
    return (np.reshape(da, (da.shape[0], *a.shape[1:])),
            np.reshape(db, (db.shape[0], *b.shape[1:])))


def _batch_transpose(np: Any, a: Any) -> Any:
    return np.swapaxes(a, 1, 2) if a.ndim == 3 else a  # a vector's .T is itself, as a.T


def _batch_reduce(np: Any, a: Any, ax: Any, mean: bool) -> Any:
    k = _axis(ax)
    if k is None:  # every entry of the row
        a = np.reshape(a, (a.shape[0], -1))
        k = 0
    return (np.mean if mean else np.sum)(a, axis=k + 1)


def _batch_reduce_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any,
                      mean: bool) -> tuple[Any, ...]:
    a = x[0]
    k = _axis(x[1]) if len(x) > 1 else None
    n = math.prod(a.shape[1:]) if k is None else a.shape[k + 1]
    g = np.reshape(g, (g.shape[0],) + (1,) * (a.ndim - 1)) if k is None \
        else np.expand_dims(g, k + 1)
    down = np.broadcast_to(g / n if mean else g, (g.shape[0], *a.shape[1:])).copy()
    return (down,) if len(x) == 1 else (down, np.zeros(np.shape(x[1])))


def _batch_rows(np: Any, z: Any, reduce: Any) -> Any:
    return reduce(z, axis=-1, keepdims=z.ndim > 2)  # as _np_rows, one axis further in


def _batch_rowmax_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    z = x[0]
    top = z == np.max(z, axis=-1, keepdims=True)
    share = top / np.sum(top, axis=-1, keepdims=True)
    return (share * (g if z.ndim > 2 else g[:, None]),)


def _batch_rowsum_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    z = x[0]
    return (np.broadcast_to(g if z.ndim > 2 else g[:, None], z.shape).copy(),)


def _batch_dot_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    return (g[:, None] * x[1], g[:, None] * x[0])


def _batch_cross_entropy(np: Any, z: Any, y: Any) -> Any:
    each = y * _np_log_softmax(np, z)
    return -np.sum(np.reshape(each, (each.shape[0], -1)), axis=1)


def _batch_cross_entropy_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    z, y = x
    g = np.reshape(g, (g.shape[0],) + (1,) * (max(z.ndim, y.ndim) - 1))
    return (g * (_np_softmax(np, z) * np.sum(y, axis=-1, keepdims=True) - y),
            -g * _np_log_softmax(np, z))


def _batch_outer_vjp(np: Any, x: tuple[Any, ...], o: Any, g: Any) -> tuple[Any, ...]:
    a, b = x
    return (np.matmul(g, b[:, :, None])[:, :, 0],
            np.matmul(np.swapaxes(g, 1, 2), a[:, :, None])[:, :, 0])


# --- expansions into primitive gates (--expand); each entry's ``expand`` ---------------------
# The lecture: "Computational graph representation may not be unique. Choose one where local
# gradients at each node can be easily expressed."


def _expand_sigmoid(b: Gates, args: tuple[int, ...]) -> int:
    # The lecture's circuit: 1/(1+exp(-x)) as the gates *-1, exp, +1, 1/x.
    (x,) = args
    e = b.gate("exp", b.gate("neg", x))
    s = b.gate("add", e, b.const(1))
    return b.gate("div", b.const(1), s)


def _expand_tanh(b: Gates, args: tuple[int, ...]) -> int:
    # (e^x - e^-x) / (e^x + e^-x): x, e^x and e^-x each fan out, so the backward pass shows
    # the copy gate adding branches. Finite for |x| < 709 (beyond, exp overflows a float).
    (x,) = args
    ep = b.gate("exp", x)
    en = b.gate("exp", b.gate("neg", x))
    return b.gate("div", b.gate("sub", ep, en), b.gate("add", ep, en))


def _expand_tan(b: Gates, args: tuple[int, ...]) -> int:
    # sin(x) / cos(x): x fans out into both.
    (x,) = args
    return b.gate("div", b.gate("sin", x), b.gate("cos", x))


def _shifted(b: Gates, z: int) -> tuple[int, int]:
    # The lecture's stable softmax: subtract the largest entry (of each row) first. The
    # rowmax gate's branch carries a gradient that adds up to 0: softmax ignores the shift.
    d = b.gate("sub", z, b.gate("rowmax", z))
    e = b.gate("exp", d)
    return d, e


def _expand_softmax(b: Gates, args: tuple[int, ...]) -> int:
    # exp(z - max z) / Σ exp(z - max z): z fans out into the sub and the rowmax, e into the
    # rowsum and the division.
    (z,) = args
    _, e = _shifted(b, z)
    return b.gate("div", e, b.gate("rowsum", e))


def _expand_log_softmax(b: Gates, args: tuple[int, ...]) -> int:
    # log-sum-exp: (z - max z) - log Σ exp(z - max z).
    (z,) = args
    d, e = _shifted(b, z)
    return b.gate("sub", d, b.gate("log", b.gate("rowsum", e)))


def _expand_cross_entropy(b: Gates, args: tuple[int, ...]) -> int:
    # -Σ y ⊙ log_softmax(z), over every entry (a matrix: summed over its rows too).
    z, y = args
    return b.gate("neg", b.gate("sum", b.gate("mul", y, _expand_log_softmax(b, (z,)))))


# --- sin, cos, tan, softplus, leaky_relu -----------------------------------------------------


def _cos_is_zero(x: float) -> bool:
    # tan's pole: cos(x) is 0 to float precision (within a couple of ulps of x from an odd
    # multiple of π/2, math.cos returns ~1e-16 and tan a meaningless ±1e16).
    return abs(math.cos(x)) <= 2.0 * math.ulp(x)


def _tan(x: float) -> float:
    if _cos_is_zero(x):
        raise OverflowError
    return math.tan(x)


def _np_tan(np: Any, a: Any) -> Any:
    pole = np.abs(np.cos(a)) <= 2.0 * np.spacing(np.abs(a))
    return np.where(pole, np.inf, np.tan(a))


def _softplus(x: float) -> float:
    # log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


# The slope of leaky_relu(x) when none is given (PyTorch's default negative_slope).
SLOPE = 0.01


def _leaky_relu(x: float, slope: float = SLOPE) -> float:
    return x if x > 0.0 else slope * x


def _leaky_relu_local(args: Floats, out: float) -> Floats:
    # PyTorch's leaky_relu backward: x > 0 ? 1 : slope (so slope at 0). The slope is a
    # constant parameter: local gradient 0.
    slope = args[1] if len(args) > 1 else SLOPE
    d = 1.0 if args[0] > 0.0 else slope
    return (d,) if len(args) == 1 else (d, 0.0)


def _leaky_relu_kink(args: Floats) -> str | None:
    if args[0] != 0.0:
        return None
    slope = args[1] if len(args) > 1 else SLOPE
    return f"leaky_relu at 0: took subgradient {_fmt(slope)} (the slope)"


def _np_leaky_relu_local(np: Any, x: tuple[Any, ...], o: Any) -> tuple[Any, ...]:
    slope = x[1] if len(x) > 1 else SLOPE
    d = np.where(x[0] > 0.0, 1.0, slope)
    return (d,) if len(x) == 1 else (d, np.zeros(np.shape(x[1])))


def _leaky_relu_sympy(sp: Any, x: Any, slope: Any = None) -> Any:
    return sp.leaky_relu(x, sp.Rational(1, 100) if slope is None else slope)


# --- indicators: (a > b), step(s) -------------------------------------------------------------
# The lecture writes relu's local gradient as an indicator, 1[s > 0]: 1 where the comparison
# holds, 0 elsewhere. Piecewise constant, so its local gradient is 0 on both sides; where the
# two sides are equal it jumps, a kink named like max's tie (the gradient 0 taken there).


def _indicator(name: str, symbol: str, token: str, holds: Callable[[float, float], bool],
               sympy_form: Callable[[Any, Any, Any], Any]) -> Op:
    def kink(args: Floats) -> str | None:
        a, b = args
        if a != b:
            return None
        return (f"indicator {symbol} at its jump ({_fmt(a)} = {_fmt(b)}): took local gradient "
                "0, its value on either side")

    return Op(name, 2, lambda a, b: 1.0 if holds(a, b) else 0.0, lambda x, o: (0.0, 0.0),
              sympy_form, "indicator: local gradient 0 (no gradient flows)", symbol,
              token=(token, symbol), kink=kink, branch=_tie, tie=True, jump=True,
              np_forward=lambda np, a, b: np.where(holds(a, b), 1.0, 0.0),
              np_local=lambda np, x, o: (0.0, 0.0),
              np_branch=lambda np, a, b: np.sign(a - b),
              words=(f"0: {{0}} {symbol} {{1}} is 1 or 0, flat on either side",))


def _sympy_eq(sp: Any, a: Any, b: Any) -> Any:
    return sp.Piecewise((sp.S.One, sp.Eq(a, b)), (sp.S.Zero, True))


def _is_number(literal: str) -> bool:
    return True  # any constant as typed: the parser already made it a number


def _log(x: float, base: float | None = None) -> float:
    return math.log(x) if base is None else math.log(x) / math.log(base)


def _log_local(args: Floats, out: float) -> Floats:
    # d/dx log_b(x) = 1/(x ln b); the base is a constant parameter: local gradient 0.
    if len(args) == 1:
        return (1.0 / args[0],)
    return (1.0 / (args[0] * math.log(args[1])), 0.0)


def _log_sympy(sp: Any, x: Any, base: Any = None) -> Any:
    return sp.log(x) if base is None else sp.log(x) / sp.log(base)


def _np_log(np: Any, a: Any, base: Any = None) -> Any:
    return np.log(a) if base is None else np.log(a) / np.log(base)


def _np_log_local(np: Any, x: tuple[Any, ...], o: Any) -> tuple[Any, ...]:
    if len(x) == 1:
        return (1.0 / x[0],)
    return (1.0 / (x[0] * np.log(x[1])), np.zeros(np.shape(x[1])))


def _is_base(literal: str) -> bool:
    # A positive constant other than 1 (log base 1 divides by log 1 = 0); e and pi count.
    if literal in CONSTANTS:
        return True
    try:
        value = float(literal)
    except ValueError:
        return False
    return value > 0.0 and value != 1.0


AXIS = Param("axis", "A, axis", "the constant 0 or 1", lambda lit: lit in ("0", "1"),
             "{name}(A, 0) reduces down the columns (one entry per column), {name}(A, 1) "
             "across each row (one per row); {name}(A) reduces every entry")
LEAK = Param("slope", "x, slope", "a constant number", _is_number,
             "{name}(x, 0.2) multiplies x < 0 by 0.2; {name}(x) takes the slope "
             f"{SLOPE}")
BASE = Param("base", "x, base", "a positive constant other than 1", _is_base,
             "{name}(x, 2) is the logarithm to base 2, {name}(x, 10) to base 10; "
             "{name}(x) is the natural logarithm")


OPS: dict[str, Op] = {
    op.name: op
    for op in (
        Op("add", 2, lambda a, b: a + b, lambda x, o: (1.0, 1.0),
           lambda sp, a, b: a + b, "gradient distributor", "+", chain="Add", token=("PLUS", "+"),
           commutative=True,
           np_forward=lambda np, a, b: a + b, np_local=lambda np, x, o: (1.0, 1.0)),
        Op("sub", 2, lambda a, b: a - b, lambda x, o: (1.0, -1.0),
           lambda sp, a, b: a - b, "distributor, negated to b", "-", token=("MINUS", "-"),
           chain="Add", chain_right=lambda term: -term,
           np_forward=lambda np, a, b: a - b, np_local=lambda np, x, o: (1.0, -1.0)),
        Op("mul", 2, lambda a, b: a * b, lambda x, o: (x[1], x[0]),
           lambda sp, a, b: a * b, "swap multiplier", "*", chain="Mul", token=("STAR", "*"),
           commutative=True, swaps=True,
           np_forward=lambda np, a, b: a * b, np_local=lambda np, x, o: (x[1], x[0])),
        # -out/b rather than -a/b²: b*b overflows or underflows where out/b does not.
        Op("div", 2, lambda a, b: a / b, lambda x, o: (1.0 / x[1], -o / x[1]),
           lambda sp, a, b: a / b, "1/b to a, -a/b² to b", "/", token=("SLASH", "/"),
           domain=lambda x: "division by zero",
           np_forward=lambda np, a, b: a / b,
           np_local=lambda np, x, o: (1.0 / x[1], -o / x[1])),
        Op("pow", 2, _pow, _pow_local, _pow_sympy,
           "b·a^(b-1) to a", "^", domain=_pow_domain, token=("POW", "^"),
           np_forward=lambda np, a, b: np.power(a, b), np_local=_np_pow_local),
        Op("neg", 1, lambda a: -a, lambda x, o: (-1.0,), lambda sp, a: -a,
           "gradient negator", "-", label="*-1", form="-{0}", token=("MINUS", "-"),
           np_forward=lambda np, a: -a, np_local=lambda np, x, o: (-1.0,)),
        Op("exp", 1, math.exp, lambda x, o: (o,), lambda sp, a: sp.exp(a),
           "local = its own output",
           domain=lambda x: f"exp({_fmt(x[0])}) overflows a float",
           np_forward=lambda np, a: np.exp(a), np_local=lambda np, x, o: (o,)),
        # log(x) or log(x, b): the base is a constant, like sum's axis (log(x, 2) = log2).
        Op("log", 1, _log, _log_local, _log_sympy,
           "local 1/x", domain=lambda x: f"log of a non-positive number ({_fmt(x[0])})",
           aliases=("ln",), param=BASE,
           np_forward=_np_log, np_local=_np_log_local),
        Op("sqrt", 1, math.sqrt,
           lambda x, o: (0.5 / o if o else math.inf,), lambda sp, a: sp.sqrt(a),
           "local 1/(2√x)",
           domain=lambda x: f"sqrt of a negative number ({_fmt(x[0])})",
           np_forward=lambda np, a: np.sqrt(a), np_local=lambda np, x, o: (0.5 / o,)),
        Op("sigmoid", 1, _sigmoid, lambda x, o: (o * (1.0 - o),),
           lambda sp, a: 1 / (1 + sp.exp(-a)), "local (1-σ)σ", expand=_expand_sigmoid,
           aliases=("σ",),
           np_forward=_np_sigmoid, np_local=lambda np, x, o: (o * (1.0 - o),)),
        Op("tanh", 1, math.tanh, lambda x, o: (1.0 - o * o,), lambda sp, a: sp.tanh(a),
           "local 1-tanh²", expand=_expand_tanh,
           np_forward=lambda np, a: np.tanh(a), np_local=lambda np, x, o: (1.0 - o * o,)),
        Op("relu", 1, lambda a: a if a > 0.0 else 0.0,
           lambda x, o: (1.0 if x[0] > 0.0 else 0.0,), _relu_sympy,
           "gradient gate (x > 0)",
           kink=lambda x: "relu at 0: took subgradient 0" if x[0] == 0.0 else None,
           branch=lambda x: _sign(x[0]),
           np_forward=lambda np, a: np.where(a > 0.0, a, 0.0),
           np_local=lambda np, x, o: (np.where(x[0] > 0.0, 1.0, 0.0),),
           np_branch=lambda np, a: np.sign(a), words=("passes where {0} > 0, 0 elsewhere",)),
        Op("abs", 1, abs, lambda x, o: (float(_sign(x[0])),), lambda sp, a: sp.Abs(a),
           "local sign(x)",
           kink=lambda x: "abs at 0: took subgradient 0" if x[0] == 0.0 else None,
           branch=lambda x: _sign(x[0]),
           np_forward=lambda np, a: np.abs(a), np_local=lambda np, x, o: (np.sign(x[0]),),
           np_branch=lambda np, a: np.sign(a), words=("upstream times sign({0})",)),
        Op("max", 2, max, _max_local, lambda sp, a, b: sp.Max(a, b),
           "gradient router", kink=_tie_kink("max"), branch=_tie, tie=True,
           np_forward=lambda np, a, b: np.maximum(a, b),
           np_local=lambda np, x, o: _np_router(np, x, True),
           np_branch=lambda np, a, b: np.sign(a - b),
           words=("routed to the larger of {0} and {1}, entry by entry",)),
        Op("min", 2, min, _min_local, lambda sp, a, b: sp.Min(a, b),
           "gradient router", kink=_tie_kink("min"), branch=_tie, tie=True,
           np_forward=lambda np, a, b: np.minimum(a, b),
           np_local=lambda np, x, o: _np_router(np, x, False),
           np_branch=lambda np, a, b: np.sign(a - b),
           words=("routed to the smaller of {0} and {1}, entry by entry",)),
        # sin, cos, tan: the local gradient of each is another trig function.
        Op("sin", 1, math.sin, lambda x, o: (math.cos(x[0]),), lambda sp, a: sp.sin(a),
           "local cos(x)",
           np_forward=lambda np, a: np.sin(a), np_local=lambda np, x, o: (np.cos(x[0]),)),
        Op("cos", 1, math.cos, lambda x, o: (-math.sin(x[0]),), lambda sp, a: sp.cos(a),
           "local -sin(x)",
           np_forward=lambda np, a: np.cos(a), np_local=lambda np, x, o: (-np.sin(x[0]),)),
        Op("tan", 1, _tan, lambda x, o: (1.0 + o * o,), lambda sp, a: sp.tan(a),
           "local 1+tan²",
           domain=lambda x: f"tan at a pole: cos({_fmt(x[0])}) is 0 to float precision",
           expand=_expand_tan,
           np_forward=_np_tan, np_local=lambda np, x, o: (1.0 + o * o,)),
        Op("softplus", 1, _softplus, lambda x, o: (_sigmoid(x[0]),),
           lambda sp, a: sp.log(1 + sp.exp(a)), "local σ(x)",
           np_forward=lambda np, a: np.maximum(a, 0.0) + np.log1p(np.exp(-np.abs(a))),
           np_local=lambda np, x, o: (_np_sigmoid(np, x[0]),)),
        # leaky_relu(x) or leaky_relu(x, slope): the slope is a constant, like sum's axis.
        Op("leaky_relu", 1, _leaky_relu, _leaky_relu_local, _leaky_relu_sympy,
           "gradient gate, slope below 0", kink=_leaky_relu_kink,
           branch=lambda x: _sign(x[0]),
           np_forward=lambda np, a, k=SLOPE: np.where(a > 0.0, a, k * a),
           np_local=_np_leaky_relu_local,
           np_branch=lambda np, a, k=None: np.sign(a),
           words=("passes where {0} > 0, times the slope elsewhere",), param=LEAK),
        # Indicators: 1 where the comparison holds, 0 elsewhere (written in parentheses,
        # (s > 0)); symbolic.step(x, 0) is sympy's Heaviside(x, 0), 0 at x = 0 (step(x, 1) is
        # 1 there), with derivative 0, not DiracDelta.
        _indicator("gt", ">", "GT", lambda a, b: a > b,
                   lambda sp, a, b: sp.step(a - b, 0)),
        _indicator("ge", ">=", "GE", lambda a, b: a >= b,
                   lambda sp, a, b: sp.step(a - b, 1)),
        _indicator("lt", "<", "LT", lambda a, b: a < b,
                   lambda sp, a, b: sp.step(b - a, 0)),
        _indicator("le", "<=", "LE", lambda a, b: a <= b,
                   lambda sp, a, b: sp.step(b - a, 1)),
        _indicator("eq", "==", "EQ", lambda a, b: a == b, _sympy_eq),
        _indicator("ne", "!=", "NE", lambda a, b: a != b,
                   lambda sp, a, b: 1 - _sympy_eq(sp, a, b)),
        # step(s) = (s > 0): step(0) = 0, PyTorch's convention for relu'(0).
        Op("step", 1, lambda a: 1.0 if a > 0.0 else 0.0, lambda x, o: (0.0,),
           lambda sp, a: sp.step(a, 0), "indicator: local gradient 0 (no gradient flows)",
           kink=lambda x: "step at 0: took local gradient 0 (step(0) = 0)" if x[0] == 0.0
           else None,
           branch=lambda x: _sign(x[0]), jump=True,
           np_forward=lambda np, a: np.where(a > 0.0, 1.0, 0.0),
           np_local=lambda np, x, o: (0.0,), np_branch=lambda np, a: np.sign(a),
           words=("0: step({0}) is 1 or 0, flat on either side",)),
        # --- array ops: forward, vjp (the implicit Jacobian product), sympy, shapes ---
        Op("matmul", 2, _needs_arrays, _needs_arrays, _needs_arrays,
           "matrix multiply", "@", token=("AT", "@"), shape_hint=_matmul_hint,
           np_forward=lambda np, a, b: a @ b, vjp=_matmul_vjp,
           sympy_array=lambda sp, np, a, b: np.matmul(a, b), shapes=_matmul_shapes,
           out_shape=_matmul_out, np_batched=_batch_matmul, vjp_batched=_batch_matmul_vjp,
           implicit=("upstream @ {1}ᵀ", "{0}ᵀ @ upstream"),
           words=("upstream · {1}ᵀ", "{0}ᵀ · upstream"), array_only=True),
        Op("transpose", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "transposes the gradient back", token=("TRANSPOSE", ".T"),
           np_forward=lambda np, a: a.T, vjp=lambda np, x, o, g: (g.T,),
           sympy_array=lambda sp, np, a: a.T, implicit=("upstreamᵀ",), array_only=True,
           np_batched=_batch_transpose,
           vjp_batched=lambda np, x, o, g: (_batch_transpose(np, g),)),
        # sum(A) and mean(A) reduce every entry; sum(A, 0) / sum(A, 1) down the columns /
        # across the rows (numpy's axis), upstream then copied back along that axis.
        Op("sum", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "gradient distributor (to every entry)",
           np_forward=lambda np, a, ax=None: _np_reduce(np, a, ax, False),
           vjp=lambda np, x, o, g: _reduce_vjp(np, x, o, g, False),
           sympy_array=lambda sp, np, a, ax=None: _sympy_reduce(sp, np, a, ax, False),
           implicit=("upstream copied to every entry",),
           words=("upstream copied to every entry of {0}",), array_only=True, param=AXIS,
           np_batched=lambda np, a, ax=None: _batch_reduce(np, a, ax, False),
           vjp_batched=lambda np, x, o, g: _batch_reduce_vjp(np, x, o, g, False)),
        Op("mean", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "distributor, scaled by 1/n",
           np_forward=lambda np, a, ax=None: _np_reduce(np, a, ax, True),
           vjp=lambda np, x, o, g: _reduce_vjp(np, x, o, g, True),
           sympy_array=lambda sp, np, a, ax=None: _sympy_reduce(sp, np, a, ax, True),
           implicit=("upstream / n to every entry",),
           words=("upstream / n copied to every entry of {0} (n: the number of entries "
                  "averaged)",),
           array_only=True, param=AXIS,
           np_batched=lambda np, a, ax=None: _batch_reduce(np, a, ax, True),
           vjp_batched=lambda np, x, o, g: _batch_reduce_vjp(np, x, o, g, True)),
        Op("dot", 2, _needs_arrays, _needs_arrays, _needs_arrays,
           "swap multiplier, vector form",
           np_forward=lambda np, a, b: np.dot(a, b), vjp=lambda np, x, o, g: (g * x[1], g * x[0]),
           sympy_array=lambda sp, np, a, b: sp.Add(*(a * b).flat), shapes=_vectors("dot"),
           implicit=("upstream · {1}", "upstream · {0}"), array_only=True,
           np_batched=lambda np, a, b: np.sum(a * b, axis=-1), vjp_batched=_batch_dot_vjp),
        Op("softmax", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "Jacobian diag(s) - s sᵀ, applied implicitly",
           np_forward=_np_softmax,
           vjp=_softmax_vjp, np_batched=_np_softmax, vjp_batched=_softmax_vjp,
           sympy_array=_sympy_softmax, shapes=_last_axis("softmax"), expand=_expand_softmax,
           implicit=("s ⊙ (upstream - Σ upstream ⊙ s)",),
           words=("s ⊙ (upstream - Σ upstream ⊙ s) with s = softmax({0}): the Jacobian "
                  "diag(s) - s sᵀ applied",), array_only=True),
        Op("log_softmax", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "log-sum-exp; upstream - softmax·Σupstream",
           np_forward=_np_log_softmax,
           vjp=_log_softmax_vjp, np_batched=_np_log_softmax, vjp_batched=_log_softmax_vjp,
           sympy_array=_sympy_log_softmax, shapes=_last_axis("log_softmax"),
           expand=_expand_log_softmax,
           implicit=("upstream - softmax({0}) Σ upstream",),
           words=("upstream - softmax({0}) · Σ upstream",), array_only=True),
        Op("cross_entropy", 2, _needs_arrays, _needs_arrays, _needs_arrays,
           "fused: softmax(z) - y to the logits",
           np_forward=lambda np, z, y: -np.sum(y * _np_log_softmax(np, z)),
           vjp=lambda np, x, o, g: (
               g * (_np_softmax(np, x[0]) * np.sum(x[1], axis=-1, keepdims=True) - x[1]),
               -g * _np_log_softmax(np, x[0])),
           sympy_array=lambda sp, np, z, y: -sp.Add(*(y * _sympy_log_softmax(sp, np, z)).flat),
           shapes=_last_axis("cross_entropy"), expand=_expand_cross_entropy,
           implicit=("upstream · (softmax({0})·Σ{1} - {1}), = softmax({0}) - {1} if one-hot",
                     "upstream · (-log_softmax({0}))"),
           words=("upstream · (softmax({0}) - {1}) for one-hot {1}",
                  "upstream · (-log_softmax({0}))"), array_only=True,
           np_batched=_batch_cross_entropy, vjp_batched=_batch_cross_entropy_vjp),
        # outer(u, v) = u vᵀ for 1-D vectors (the tool's vectors have no orientation), so a
        # 1-D formula can write the lecture's 2q xᵀ as outer(2*q, x); m×n from vectors m, n.
        Op("outer", 2, _needs_arrays, _needs_arrays, _needs_arrays,
           "outer product: u vᵀ", np_forward=lambda np, a, b: np.outer(a, b),
           vjp=lambda np, x, o, g: (g @ x[1], g.T @ x[0]),
           sympy_array=lambda sp, np, a, b: np.multiply.outer(a, b), shapes=_outer_shapes,
           implicit=("upstream @ {1}", "upstreamᵀ @ {0}"),
           words=("upstream · {1} (row by row)", "upstreamᵀ · {0}"), array_only=True,
           np_batched=lambda np, a, b: a[:, :, None] * b[:, None, :],
           vjp_batched=_batch_outer_vjp),
        # Row reductions: the primitive gates that --expand writes softmax with.
        Op("rowmax", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "gradient router (to the largest entry)",
           np_forward=lambda np, z: _np_rows(np, z, np.max), vjp=_np_rowmax_vjp,
           np_batched=lambda np, z: _batch_rows(np, z, np.max), vjp_batched=_batch_rowmax_vjp,
           kink=_rowmax_kink, np_branch=_np_rowmax_branch,
           sympy_array=lambda sp, np, z: _sympy_rows(sp, np, z, sp.rowmax),
           shapes=_last_axis("rowmax"),
           implicit=("upstream to the largest entry of {0} (per row; ties share it)",),
           words=("upstream routed to the largest entry of {0} (of each row; ties share it)",),
           array_only=True),
        Op("rowsum", 1, _needs_arrays, _needs_arrays, _needs_arrays,
           "gradient distributor (to every entry of the row)",
           np_forward=lambda np, z: _np_rows(np, z, np.sum),
           vjp=lambda np, x, o, g: (np.broadcast_to(g, x[0].shape).copy(),),
           np_batched=lambda np, z: _batch_rows(np, z, np.sum), vjp_batched=_batch_rowsum_vjp,
           sympy_array=lambda sp, np, z: _sympy_rows(sp, np, z, sp.Add),
           shapes=_last_axis("rowsum"),
           implicit=("upstream copied to every entry of {0} (per row)",),
           words=("upstream copied to every entry of {0} (of each row)",), array_only=True),
    )
}

# Leaves: they have no inputs, so they are not gates; kept here so every node has an Op.
VAR = Op("var", -1, float, lambda x, o: (), lambda sp, a: a, "input")
CONST = Op("const", -1, float, lambda x, o: (), lambda sp, a: a, "constant")
# `r = q` makes a node of its own so that r carries its name in every table.
IDENTITY = Op("id", 1, lambda a: a, lambda x, o: (1.0,), lambda sp, a: a,
              "passes through", label="=", form="{0}",
              np_forward=lambda np, a: a, np_local=lambda np, x, o: (1.0,))




def _juxt_reads(shapes: Shapes, transposed: tuple[bool, ...]) -> tuple[str, str]:
    """What juxtaposition (2x, W x, q xᵀ) and × · stand for, from the inputs' shapes (and
    whether each input is written transposed): (op name, "") or ("", the two readings)."""
    a, b = shapes
    if not a or not b:
        return "mul", ""  # a scalar beside anything scales it
    if len(a) == 1 and len(b) == 1:
        # The lecture's notation: q xᵀ is the outer product, qᵀ x the dot product.
        if transposed[1] and not transposed[0]:
            return "outer", ""
        if transposed[0] and not transposed[1]:
            return "matmul", ""
        return "", "two vectors side by side could be the dot product {0} @ {1} or the " \
            "entrywise product {0} * {1}"
    return "matmul", ""  # a matrix beside a vector or a matrix: the matrix product


# Juxtaposition and × ·: a product whose op (*, @ or outer) the inputs' shapes decide. The
# parser makes it (2x, W x) and the engines replace it by the op it reads as before they run
# it (Graph.read_products, arrays.forward); its scalar fields are mul's, so read on scalars
# it is mul.
JUXT = Op("juxt", 2, OPS["mul"].forward, OPS["mul"].local, OPS["mul"].sympy,
          "product, * or @ by the shapes", "*", commutative=True, swaps=True,
          reads_as=_juxt_reads)

# The constants a name stands for unless the user binds it (--at e=2, or e = ... in a
# statement): the value, the exact sympy form, and how the node table names it.
@dataclass(frozen=True, slots=True)
class Constant:
    name: str  # how the echo writes it (π is written pi)
    value: float
    sympy: Callable[[Any], Any]  # (sp) -> sympy's exact constant
    says: str


CONSTANTS: dict[str, Constant] = {
    "e": Constant("e", math.e, lambda sp: sp.E, "Euler's number e"),
    "pi": Constant("pi", math.pi, lambda sp: sp.pi, "the constant π"),
    "π": Constant("pi", math.pi, lambda sp: sp.pi, "the constant π"),
}


def op_named(name: str) -> Op:
    """The op of this table called ``name`` (leaves included): how an op is unpickled."""
    leaf = {VAR.name: VAR, CONST.name: CONST, IDENTITY.name: IDENTITY,
            JUXT.name: JUXT}.get(name)
    return leaf if leaf is not None else OPS[name]


FUNCTIONS: dict[str, Op] = {
    alias: op
    for op in OPS.values()
    if not op.symbol
    for alias in (op.name, *op.aliases)
}

FAN_OUT = "copy gate: gradient adder"
