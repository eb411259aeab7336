"""numpy broadcasting for elementwise ops, and gradients summed back to each input's shape.

Expected gradients are numpy formulas written here (dW = Xᵀ dZ, db = Σ_rows dZ, ...), never
the tool's own output; the tool's finite differences and sympy must agree with them too.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import InputError, evaluate
from backprop_cli.core.arrays import broadcast_violation, unbroadcast
from tests.conftest import Backprop, assert_bad_input, no_crash

X = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
W = [[0.5, -0.3], [0.2, 0.8]]
B = [0.1, -0.2]
Y = [[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]
MLP = "sum((sigmoid(X @ W + b) - Y)^2)"


def sigmoid(v: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-v))


def statuses(r) -> set[str]:
    return {c.status for c in r.verification.checks}


def shapes_follow_variables(r) -> None:
    for name, g in r.gradients.items():
        assert np.shape(g) == np.shape(r.point[name]), name


def both_references_agree(r) -> None:
    """sympy and finite differences ran for every gradient and agree with backprop."""
    for c in r.verification.checks:
        assert c.status == "pass", c
        assert c.sympy_value is not None and c.numeric is not None, c
        assert np.allclose(np.asarray(c.sympy_value, dtype=float), c.backprop)
        assert np.allclose(np.asarray(c.numeric, dtype=float), c.backprop, atol=1e-6)


# ---------------------------------------------------------------- a batch MLP


def test_batch_mlp_bias_vector_broadcasts_over_the_rows() -> None:
    r = evaluate(MLP, at={"X": X, "W": W, "b": B, "Y": Y})
    x, w, b, y = (np.array(v) for v in (X, W, B, Y))
    s = sigmoid(x @ w + b)  # b (2,) is added to every row of the 4×2 product
    d = s - y
    dz = 2 * d * s * (1 - s)
    assert r.value == pytest.approx(float(np.sum(d**2)))
    assert np.allclose(r.gradients["W"], x.T @ dz)
    assert np.allclose(r.gradients["b"], dz.sum(axis=0))  # summed over the broadcast rows
    assert np.allclose(r.gradients["X"], dz @ w.T)
    assert np.allclose(r.gradients["Y"], -2 * d)
    assert np.shape(r.gradients["b"]) == (2,)
    shapes_follow_variables(r)
    both_references_agree(r)


def test_batch_mlp_shapes_in_json_and_the_node_table(backprop: Backprop) -> None:
    at = "X=[[0,0],[0,1],[1,0],[1,1]], W=[[0.5,-0.3],[0.2,0.8]], b=[0.1,-0.2], " \
         "Y=[[0,1],[1,0],[1,0],[0,1]]"
    out = backprop("eval", MLP, "--at", at, "--json")
    no_crash(out)
    assert out.code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["shapes"] == {"X": [4, 2], "W": [2, 2], "b": [2], "Y": [4, 2]}
    by_text = {n["expression"]: n["shape"] for n in doc["nodes"]}
    assert by_text["X @ W"] == [4, 2] and by_text["X @ W + b"] == [4, 2]
    assert np.shape(doc["gradients"]["b"]) == (2,)
    assert doc["ok"]
    table = backprop("eval", MLP, "--at", at)
    assert table.code == 0 and "4×2" in table.stdout and "✓ all 4 gradients verified" in \
        table.stdout


# ---------------------------------------------------------------- rows and columns


@pytest.mark.parametrize("expr", ["sum(A * r)", "sum(r * A)", "sum(A - r)", "sum(r / (A + 3))"])
@pytest.mark.parametrize("r_value", [[1.0, -2.0, 0.5], [[1.0, -2.0, 0.5]]])
def test_a_row_broadcasts_down_the_rows_both_ways(expr: str, r_value: list) -> None:
    a = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 2.0]])
    row = np.array(r_value)
    res = evaluate(expr, at={"A": a, "r": row})
    ones = np.ones_like(a)
    grad_a, grad_r = {  # d/dA and d/dr of each, before r's broadcast rows are summed
        "sum(A * r)": (ones * row, a),
        "sum(r * A)": (ones * row, a),
        "sum(A - r)": (ones, -ones),
        "sum(r / (A + 3))": (-row / (a + 3) ** 2, 1 / (a + 3)),
    }[expr]
    assert np.allclose(res.gradients["A"], grad_a)
    assert np.allclose(res.gradients["r"], grad_r.sum(axis=0).reshape(row.shape))
    shapes_follow_variables(res)
    both_references_agree(res)


@pytest.mark.parametrize("expr", ["sum(A * c)", "sum(c * A)", "sum(c - A)"])
def test_a_column_broadcasts_across_the_columns_both_ways(expr: str) -> None:
    a = np.array([[1.0, 2.0, -1.0], [0.5, -0.5, 2.0]])
    col = np.array([[2.0], [-1.0]])
    res = evaluate(expr, at={"A": a, "c": col})
    if expr == "sum(c - A)":
        want_a, want_c = -np.ones_like(a), np.full((2, 1), 3.0)
    else:
        want_a, want_c = np.broadcast_to(col, a.shape), a.sum(axis=1, keepdims=True)
    assert np.allclose(res.gradients["A"], want_a)
    assert np.allclose(res.gradients["c"], want_c)
    assert np.shape(res.gradients["c"]) == (2, 1)
    both_references_agree(res)


def test_a_column_and_a_row_make_an_outer_sum() -> None:
    res = evaluate("sum(tanh(c + r))", at={"c": [[1.0], [0.0], [-1.0]], "r": [0.5, -0.5]})
    t = np.tanh(np.array([[1.0], [0.0], [-1.0]]) + np.array([0.5, -0.5]))  # 3×2
    local = 1 - t**2
    assert res.nodes[2].shape == [3, 2]
    assert np.allclose(res.gradients["c"], local.sum(axis=1, keepdims=True))
    assert np.allclose(res.gradients["r"], local.sum(axis=0))
    both_references_agree(res)


def test_non_scalar_output_with_broadcast_and_upstream() -> None:
    g = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    res = evaluate("A * v", at={"A": np.ones((3, 2)), "v": [2.0, -1.0]}, upstream=str(g))
    assert np.allclose(res.gradients["v"], np.array(g).sum(axis=0))
    assert np.allclose(res.gradients["A"], np.array(g) * [2.0, -1.0])
    both_references_agree(res)


def test_unbroadcast_sums_the_stretched_and_the_added_axes() -> None:
    g = np.arange(24.0).reshape(2, 3, 4)
    assert unbroadcast(g, (4,)).tolist() == g.sum(axis=(0, 1)).tolist()
    assert unbroadcast(g, (3, 1)).tolist() == g.sum(axis=(0, 2)).reshape(3, 1).tolist()
    assert unbroadcast(g, ()).tolist() == g.sum()
    assert unbroadcast(g, (2, 3, 4)) is g


# ---------------------------------------------------------------- bad shapes


@pytest.mark.parametrize("a, b, last", [
    ((2, 3), (2,), "3 on the left and 2 on the right"),
    ((3,), (2,), "3 on the left and 2 on the right"),
    ((2, 3), (3, 3), "axis -2 is 2 on the left and 3 on the right"),
    ((4, 1), (3, 4), "axis -2 is 4 on the left and 3 on the right"),
])
def test_the_rule_says_which_axis_fails(a, b, last) -> None:
    why = broadcast_violation(a, b)
    assert why is not None and last in why
    with pytest.raises(ValueError):
        np.broadcast_shapes(a, b)  # numpy agrees that they do not broadcast


@pytest.mark.parametrize("a, b", [((2, 3), (3,)), ((2, 1), (1, 5)), ((), (4, 4)), ((3, 1), (3,)),
                                  ((1,), (2, 2))])
def test_the_rule_accepts_what_numpy_broadcasts(a, b) -> None:
    np.broadcast_shapes(a, b)
    assert broadcast_violation(a, b) is None


@pytest.mark.parametrize("expr, at, words", [
    ("sum(X @ W + b)", "X=[[1,2],[3,4],[5,6]], W=[[1,0],[0,1]], b=[1,2,3]",
     ["X @ W + b", "3×2 matrix", "vector of 3", "last axis is 2 on the left and 3 on the right"]),
    ("sum(A * c)", "A=[[1,2,3],[4,5,6]], c=[[1],[2],[3]]",
     ["A * c", "2×3 matrix", "3×1 matrix", "axis -2 is 2 on the left and 3 on the right"]),
    ("sum(u - v)", "u=[1,2], v=[1,2,3]", ["u - v", "vector of 2", "vector of 3"]),
])
def test_bad_shapes_exit_2_naming_the_node_both_shapes_and_the_rule(
        backprop: Backprop, expr: str, at: str, words: list) -> None:
    err = assert_bad_input(backprop("eval", expr, "--at", at), "shape mismatch", *words,
                           "numpy's rule", "equal or one of them 1")
    assert "hint:" in err
    with pytest.raises(InputError):
        evaluate(expr, at=at)


# ---------------------------------------------------------------- property


@st.composite
def broadcastable(draw):
    """Two shapes that broadcast: a full shape, and a copy with axes dropped on the left
    and sizes set to 1; either may be on either side."""
    full = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    drop = draw(st.integers(0, len(full)))
    other = [1 if draw(st.booleans()) else n for n in full[drop:]]
    a, b = (full, tuple(other)) if draw(st.booleans()) else (tuple(other), full)
    floats = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 2))

    def array(shape: tuple[int, ...]) -> np.ndarray:
        size = int(np.prod(shape))
        return np.array([draw(floats) for _ in range(size)]).reshape(shape)

    op = draw(st.sampled_from(["+", "-", "*"]))
    return array(a), array(b), op


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broadcastable())
def test_property_broadcast_gradients_sum_back_to_each_shape(case) -> None:
    a, b, op = case
    res = evaluate(f"sum(tanh(A {op} B))", at={"A": a, "B": b})
    z = {"+": a + b, "-": a - b, "*": a * b}[op]
    local = 1 - np.tanh(z) ** 2
    da = {"+": local, "-": local, "*": local * b}[op]
    db = {"+": local, "-": -local, "*": local * a}[op]
    assert np.allclose(res.gradients["A"], unbroadcast_ref(da, a.shape))
    assert np.allclose(res.gradients["B"], unbroadcast_ref(db, b.shape))
    shapes_follow_variables(res)
    both_references_agree(res)


def unbroadcast_ref(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Reference reduction, independent of the tool's: the gradient of x ↦ broadcast_to(x)
    against g, entry by entry (each input entry adds up the output entries it fed)."""
    g = np.broadcast_to(g, np.broadcast_shapes(g.shape, shape))
    out = np.zeros(shape)
    pad = (1,) * (g.ndim - len(shape)) + shape
    for idx in np.ndindex(g.shape):
        src = tuple(0 if n == 1 else i for i, n in zip(idx, pad))[g.ndim - len(shape):]
        out[src] += g[idx]
    return out


# ---------------------------------------------------------------- sum and mean over an axis

A = [[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]]


@pytest.mark.parametrize("reduce", ["sum", "mean"])
@pytest.mark.parametrize("axis", [0, 1])
def test_reduce_over_an_axis_with_upstream(reduce: str, axis: int) -> None:
    a = np.array(A)
    up = np.array([1.0, -2.0, 3.0])[: a.shape[1 - axis]]  # one entry per column / per row
    res = evaluate(f"{reduce}(A, {axis})", at={"A": A}, upstream=str(up.tolist()))
    want = a.sum(axis=axis) / (a.shape[axis] if reduce == "mean" else 1)
    assert np.allclose(res.value, want)
    n = a.shape[axis] if reduce == "mean" else 1
    # Each entry gets the upstream of the column (axis 0) or row (axis 1) it was reduced into.
    grad = np.tile(up, (a.shape[0], 1)) if axis == 0 else np.tile(up[:, None], (1, a.shape[1]))
    assert np.allclose(res.gradients["A"], grad / n)
    assert res.nodes[-1].shape == list(want.shape)
    both_references_agree(res)


def test_reduce_without_an_axis_is_unchanged() -> None:
    res = evaluate("sum(A) + mean(A)", at={"A": A})
    a = np.array(A)
    assert res.value == pytest.approx(a.sum() + a.mean())
    assert np.allclose(res.gradients["A"], np.full(a.shape, 1 + 1 / a.size))
    both_references_agree(res)


def test_axis_reductions_inside_a_batch_loss() -> None:
    # Per-column mean squared error of a batch, and a per-row log-sum-exp.
    x, w, b, y = (np.array(v) for v in (X, W, B, Y))
    res = evaluate("sum(mean((X @ W + b - Y)^2, 0)) + sum(log(sum(exp(X @ W), 1)))",
                   at={"X": X, "W": W, "b": B, "Y": Y})
    z = x @ w
    d = z + b - y
    soft = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    dz = 2 * d / x.shape[0] + soft
    assert res.value == pytest.approx(float((d**2).mean(axis=0).sum()
                                            + np.log(np.exp(z).sum(axis=1)).sum()))
    assert np.allclose(res.gradients["W"], x.T @ dz)
    assert np.allclose(res.gradients["b"], (2 * d / x.shape[0]).sum(axis=0))
    both_references_agree(res)


def test_the_axis_is_a_constant_node_that_needs_no_gradient() -> None:
    res = evaluate("sum(A, 1)", at={"A": A}, upstream="[1,1]")
    axis = res.nodes[1]
    assert axis.op == "const" and axis.shape == []
    node = res.nodes[2]
    assert node.shape == [2] and node.local is not None and node.local[1] is None
    assert node.downstream is not None and node.downstream[1] is None
    doc = res.to_dict()
    json.dumps(doc, allow_nan=False)
    assert [n["shape"] for n in doc["nodes"]] == [[2, 3], [], [2]]


@pytest.mark.parametrize("expr, shown", [
    ("sum(A, k)", "'k'"), ("sum(A, -1)", "'-1'"), ("mean(A, 2)", "'2'"),
    ("sum(A, 0.0)", "'0.0'"), ("sum(A, 1e0)", "'1e0'"), ("mean(A, 0 + 1)", "'0 + 1'"),
])
def test_the_axis_must_be_the_constant_0_or_1(backprop: Backprop, expr: str, shown: str) -> None:
    err = assert_bad_input(backprop("eval", expr, "--at", "A=[[1,2],[3,4]], k=1",
                                    "--upstream", "[1,1]"),
                           "must be the constant 0 or 1", shown)
    assert "hint:" in err and "(A, 0)" in err


def test_too_many_arguments_for_a_reduction() -> None:
    with pytest.raises(InputError, match=r"sum takes 1 argument \(or 2: sum\(A, axis\)\), got 3"):
        evaluate("sum(A, 0, 1)", at={"A": A})


@pytest.mark.parametrize("expr, at, words", [
    ("sum(sum(x, 1))", "x=[1,2]", ["sum(x, 1)", "vector of 2 over axis 1", "only axis 0"]),
    ("sum(s, 0) + s", "s=2", ["sum(s, 0)", "a scalar over axis 0", "no axes"]),
])
def test_an_axis_the_value_does_not_have(backprop: Backprop, expr: str, at: str,
                                         words: list) -> None:
    assert_bad_input(backprop("eval", expr, "--at", at), "shape mismatch", *words)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 3), st.integers(1, 3), st.sampled_from(["sum", "mean"]),
       st.sampled_from([0, 1]), st.data())
def test_property_axis_reductions(rows: int, cols: int, reduce: str, axis: int, data) -> None:
    floats = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 2))
    a = np.array([[data.draw(floats) for _ in range(cols)] for _ in range(rows)])
    v = np.array([data.draw(floats) for _ in range(a.shape[1 - axis])])
    res = evaluate(f"sum(tanh({reduce}(A, {axis}) * v))", at={"A": a, "v": v})
    red = a.sum(axis=axis) / (a.shape[axis] if reduce == "mean" else 1)
    g = (1 - np.tanh(red * v) ** 2) * v / (a.shape[axis] if reduce == "mean" else 1)
    assert np.allclose(res.gradients["A"], np.expand_dims(g, axis) * np.ones_like(a))
    assert np.allclose(res.gradients["v"], (1 - np.tanh(red * v) ** 2) * red)
    shapes_follow_variables(res)
    both_references_agree(res)


def test_steps_say_a_broadcast_vector_adds_back_to_its_shape() -> None:
    from backprop_cli.views.steps import backward_steps, render_lines

    r = evaluate("sum(A * b)", at={"A": A, "b": [1.0, 2.0, 3.0]}, check=())
    got = [line for _, line in render_lines(r, backward_steps(r))]
    want_b = np.array(A).sum(axis=0)
    line = next(x for x in got if x.startswith("  downstream to b:"))
    assert "b was broadcast, so its entries add back over the axes it was stretched along, " \
           "to 3" in line
    assert line.endswith(f"= [{', '.join(f'{v:g}' for v in want_b)}]")
    r = evaluate("mean(A, 0)", at={"A": A}, upstream="[1,1,1]", check=())
    got = [line for _, line in render_lines(r, backward_steps(r))]
    assert any("n: the number of entries averaged" in x for x in got)


def test_a_named_axis_argument_gets_a_hint(backprop: Backprop) -> None:
    assert_bad_input(backprop("eval", "mean(A, axis=1)", "--at", "A=[[1,2],[3,4]]"),
                     "syntax error", "unexpected '='", "the axis of sum and mean is the second "
                     "argument, e.g. sum(A, 0)")
