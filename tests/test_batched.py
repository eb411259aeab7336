"""The batched array engine (core/batched.py) against the row-by-row one (core/arrays.py),
op by op: for every op of the table with a batched rule (array ops: np_batched/vjp_batched;
elementwise ops: their own rules over the batch axis), at shapes and values drawn by
hypothesis, batch sizes 1 to 5, each input either one per row or shared by the rows, the
batched forward values equal the rows' and the batched gradients equal the rows' (a row's
input) or their sum (a shared input), to rtol 1e-12. Then each array op's batched rules proved
by sympy on a batch of two symbolic rows, as checks/array_rules.py proves the row rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.core import arrays, batched
from backprop_cli.core.ops import OPS
from backprop_cli.core.parse import parse

RTOL = 1e-12

# Per op: its expression in A (and B), and the rows' shapes it takes as (m, n, p) -> shapes.
# Sizes m, n, p are drawn from 1..4; the elementwise binary ops get broadcasting pairs below.
UNARY = ["neg", "exp", "sigmoid", "tanh", "relu", "abs", "sin", "cos", "tan", "softplus",
         "step"]
POSITIVE = {"log", "sqrt"}  # drawn in (0.1, 3): their domain
BINARY = ["add", "sub", "mul", "div", "pow", "max", "min", "gt", "ge", "lt", "le", "eq", "ne"]
Dims = tuple[int, int, int]
ARRAY_CASES: dict[str, list[tuple[str, Any]]] = {
    "matmul": [("A @ B", lambda m, n, p: ((m, n), (n, p))),
               ("A @ B", lambda m, n, p: ((m, n), (n,))),
               ("A @ B", lambda m, n, p: ((n,), (n, p))),
               ("A @ B", lambda m, n, p: ((n,), (n,)))],
    "transpose": [("A.T", lambda m, n, p: ((m, n),)), ("A.T", lambda m, n, p: ((n,),))],
    "sum": [("sum(A)", lambda m, n, p: ((),)), ("sum(A)", lambda m, n, p: ((n,),)),
            ("sum(A)", lambda m, n, p: ((m, n),)), ("sum(A, 0)", lambda m, n, p: ((n,),)),
            ("sum(A, 0)", lambda m, n, p: ((m, n),)), ("sum(A, 1)", lambda m, n, p: ((m, n),))],
    "mean": [("mean(A)", lambda m, n, p: ((m, n),)), ("mean(A)", lambda m, n, p: ((n,),)),
             ("mean(A, 0)", lambda m, n, p: ((m, n),)),
             ("mean(A, 1)", lambda m, n, p: ((m, n),))],
    "dot": [("dot(A, B)", lambda m, n, p: ((n,), (n,)))],
    "outer": [("outer(A, B)", lambda m, n, p: ((m,), (n,)))],
    **{name: [(f"{name}(A)", lambda m, n, p: ((n,),)), (f"{name}(A)", lambda m, n, p: ((m, n),))]
       for name in ("softmax", "log_softmax", "rowmax", "rowsum")},
    "cross_entropy": [("cross_entropy(A, B)", lambda m, n, p: ((n,), (n,))),
                      ("cross_entropy(A, B)", lambda m, n, p: ((m, n), (m, n)))],
}
# Broadcasting pairs for the binary elementwise ops, as (m, n) -> (shape of A, shape of B).
PAIRS = [lambda m, n: ((), ()), lambda m, n: ((n,), ()), lambda m, n: ((), (m, n)),
         lambda m, n: ((n,), (n,)), lambda m, n: ((m, n), (n,)), lambda m, n: ((m, 1), (m, n)),
         lambda m, n: ((1, n), (m, 1))]
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "^", "gt": ">", "ge": ">=",
          "lt": "<", "le": "<=", "eq": "==", "ne": "!="}


def cases() -> list[tuple[str, str, Any]]:
    """(op name, expression, shapes from (m, n, p)) for every op the tests draw."""
    out: list[tuple[str, str, Any]] = []
    for name in UNARY:
        text = "-A" if name == "neg" else f"{name}(A)"
        out += [(name, text, lambda m, n, p: ((m, n),)), (name, text, lambda m, n, p: ((),))]
    out += [("log", "log(A)", lambda m, n, p: ((n,),)),
            ("log", "log(A, 2)", lambda m, n, p: ((m, n),)),
            ("sqrt", "sqrt(A)", lambda m, n, p: ((m, n),)),
            ("leaky_relu", "leaky_relu(A)", lambda m, n, p: ((n,),)),
            ("leaky_relu", "leaky_relu(A, 0.2)", lambda m, n, p: ((m, n),))]
    for name in BINARY:
        text = f"{name}(A, B)" if name in ("max", "min") else (
            f"(A {SYMBOL[name]} B)" if name in ("gt", "ge", "lt", "le", "eq", "ne")
            else f"A {SYMBOL[name]} B")
        out += [(name, text, lambda m, n, p, k=k: PAIRS[k](m, n)) for k in range(len(PAIRS))]
    for name, forms in ARRAY_CASES.items():
        out += [(name, text, shapes) for text, shapes in forms]
    return out


CASES = cases()


def test_every_op_with_a_batched_rule_is_drawn() -> None:
    drawn = {name for name, _, _ in CASES}
    rules = {name for name, op in OPS.items()
             if op.np_local is not None or op.np_batched is not None}
    assert rules - drawn == set()


def test_every_array_op_has_a_batched_rule() -> None:
    # No op falls back to the row-by-row path today (core/batched.batchable lists them).
    assert [name for name, op in OPS.items() if op.np_local is None
            and (op.np_batched is None or op.vjp_batched is None)] == []


def values_for(name: str, data: st.DataObject, shape: tuple[int, ...], pos: int) -> Any:
    lo, hi = (-3.0, 3.0)
    if name in POSITIVE or (name == "pow" and pos == 0):
        lo = 0.1
    if name == "div" and pos == 1:
        lo = 0.5
    if name == "tan":
        lo, hi = -1.2, 1.2
    if name == "cross_entropy" and pos == 1:
        lo = 0.0  # label weights: a one-hot row or any non-negative row
    size = int(np.prod(shape))
    flat = data.draw(st.lists(st.floats(lo, hi, allow_nan=False), min_size=size,
                              max_size=size))
    return np.array(flat, dtype=float).reshape(shape)


def close(got: Any, want: Any, scale: float) -> None:
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * (1.0 + scale))


@pytest.mark.parametrize(("name", "text", "shapes"), CASES,
                         ids=[f"{n}:{t}:{k}" for k, (n, t, _) in enumerate(CASES)])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), batch=st.integers(1, 5), dims=st.tuples(*[st.integers(1, 4)] * 3),
       shared=st.tuples(st.booleans(), st.booleans()))
def test_batched_pass_equals_the_rows(name: str, text: str, shapes: Any, data: st.DataObject,
                                      batch: int, dims: Dims, shared: tuple[bool, bool]) -> None:
    graph = parse(text)
    row_shapes = shapes(*dims)
    names = sorted(graph.variables)
    assert len(names) == len(row_shapes)
    lead = {v: 1 if shared[k] else batch for k, v in enumerate(names)}
    point = {v: np.stack([values_for(name, data, s, k) for _ in range(lead[v])])
             for k, (v, s) in enumerate(zip(names, row_shapes))}
    if not any(lead[v] == batch for v in names):
        lead[names[0]] = batch  # at least one input changes from row to row
        point[names[0]] = np.repeat(point[names[0]], batch, axis=0)

    def row(b: int) -> dict[str, Any]:
        return {v: point[v][0 if lead[v] == 1 else b] for v in names}

    rows = [arrays.forward(graph, row(b)) for b in range(batch)]
    out_shape = rows[0][graph.output].shape
    seeds = np.array([values_for("g", data, out_shape, 0) for _ in range(batch)])
    want_out = np.stack([r[graph.output] for r in rows])
    runs = [arrays.backward(graph, rows[b], seeds[b]) for b in range(batch)]

    values = batched.forward(graph, point)
    assert values is not None
    close(values[graph.output], want_out, float(np.abs(want_out).max(initial=0.0)))
    upstream = batched.backward(graph, values, seeds)
    assert upstream is not None
    for v in names:
        nid = graph.variables[v]
        per_row = np.stack([run.upstream[nid] for run in runs])
        want = per_row if lead[v] == batch else per_row.sum(axis=0, keepdims=True)
        got = upstream[nid]
        assert got is not None and got.shape == point[v].shape
        close(got, want, float(np.abs(per_row).sum()))


def test_a_value_that_is_not_finite_gives_none() -> None:
    # The caller then runs the rows one by one, which names the node (arrays.forward).
    graph = parse("log(A)")
    assert batched.forward(graph, {"A": np.array([[1.0], [-1.0]])}) is None


def test_a_gradient_that_is_not_finite_gives_none() -> None:
    graph = parse("sqrt(A)")  # d/dA at 0 is infinite
    values = batched.forward(graph, {"A": np.array([0.0, 4.0])})
    assert values is not None
    assert batched.backward(graph, values, np.ones(2)) is None


def test_batchable_names_an_op_without_a_batched_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    graph = parse("sum(A @ B)")
    node = next(n for n in graph.nodes if n.op.name == "matmul")
    monkeypatch.setattr(node, "op", dataclasses.replace(node.op, np_batched=None))
    assert batched.batchable(graph) == ["matmul"]
    assert batched.batchable(parse("sum(A @ B)")) == []


# --- the batched rules proved by sympy, as checks/array_rules.py proves the row rules -------
# Every array op whose row rule is proved as an identity (PROOF_FORMS): on a batch of 2
# symbolic rows (each input per row, or shared: a batch axis of 1), the batched forward value
# equals the op's sympy form row by row, and the batched vjp equals sympy's derivative of
# Σ_rows Σ G ⊙ sympy_array(row), summed over the rows for a shared input. (rowmax's rule is
# proved piece by piece; its batched rule is held to the row rule by the float test above.)
PROVED_SHAPES = (2, 3, 4)


def sympy_cases() -> list[tuple[str, str, Any, tuple[bool, ...]]]:
    from backprop_cli.checks.array_rules import PROOF_FORMS

    out = []
    for name, forms in ARRAY_CASES.items():
        if PROOF_FORMS.get(name) != "identity":
            continue
        for text, shapes in forms:
            arity = len(shapes(*PROVED_SHAPES))
            for shared in ([(False,)] if arity == 1 else
                           [(False, False), (True, False), (False, True)]):
                out.append((name, text, shapes, shared))
    return out


@pytest.mark.parametrize(("name", "text", "shapes", "shared"), sympy_cases(),
                         ids=[f"{n}:{t}:{s}" for n, t, _, s in sympy_cases()])
def test_batched_rule_proved_by_sympy(name: str, text: str, shapes: Any,
                                      shared: tuple[bool, ...]) -> None:
    import sympy as sp

    from backprop_cli.checks import symbolic
    from backprop_cli.checks.array_rules import SymbolicNumpy, is_zero, obj, symbols

    op = OPS[name]
    assert op.np_batched is not None and op.vjp_batched is not None
    assert op.sympy_array is not None
    graph = parse(text)
    params = [n.const for n in graph.nodes if n.op.name == "const"]
    batch = 2
    args = [symbols(f"_a{k}_", (1 if sh else batch, *s))
            for k, (s, sh) in enumerate(zip(shapes(*PROVED_SHAPES), shared))]
    consts = [obj(np.array([sp.Integer(int(p))], dtype=object)) for p in params]
    rows = [obj(op.sympy_array(symbolic.SP, np,
                               *[obj(a[0 if a.shape[0] == 1 else b]) for a in args],
                               *[obj(sp.Integer(int(p))) for p in params]))
            for b in range(batch)]
    want = np.stack(rows)
    g = symbols("_g", want.shape)
    loss = sp.Add(*obj(g * want).reshape(-1))
    snp = SymbolicNumpy(shift=True)
    got = obj(np.asarray(op.np_batched(snp, *args, *consts), dtype=object))
    assert got.shape == want.shape
    for e, f in zip(got.reshape(-1), want.reshape(-1)):
        assert is_zero(sp.sympify(e) - sp.sympify(f)) is True
    down = op.vjp_batched(snp, (*args, *consts), want, g)
    for k, a in enumerate(args):
        d = obj(np.asarray(down[k], dtype=object))
        if d.shape != a.shape:  # a shared input: summed over the rows (the engine's step)
            d = d.sum(axis=0, keepdims=True)
        assert d.shape == a.shape
        for s, r in zip(a.reshape(-1), d.reshape(-1)):
            assert is_zero(loss.diff(s) - sp.sympify(r)) is True, (name, k, s)
