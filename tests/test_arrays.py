"""Vectors and matrices: the lecture's vectorised examples, shapes, and backprop vs references.

Expected gradients come from the lecture's printed numbers or from closed forms written
here with numpy (2 q xᵀ, softmax(z) - y, s(1-s) x, ...), never from the tool itself.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import InputError, evaluate
from backprop_cli.core.errors import DomainError

W = [[0.1, 0.5], [-0.3, 0.8]]
X = [0.2, 0.4]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def sigmoid(v: np.ndarray | float) -> np.ndarray:
    return 1 / (1 + np.exp(-np.asarray(v, dtype=float)))


def statuses(r) -> set[str]:
    return {c.status for c in r.verification.checks}


def assert_shapes_follow_variables(r) -> None:
    for name, g in r.gradients.items():
        assert np.shape(g) == np.shape(r.point[name]), name


# ---------------------------------------------------------------- the lecture's examples


def test_lecture_norm_of_w_x() -> None:
    r = evaluate("sum((W@x)^2)", at={"W": W, "x": X})
    assert r.gradients["W"] == pytest.approx(np.array([[0.088, 0.176], [0.104, 0.208]]),
                                             abs=1e-12)
    assert r.gradients["x"] == pytest.approx([-0.112, 0.636], abs=1e-12)
    q = np.array(W) @ np.array(X)
    assert r.value == pytest.approx(float(q @ q))
    assert np.allclose(r.gradients["W"], 2 * np.outer(q, X))  # ∇_W f = 2 q xᵀ
    assert np.allclose(r.gradients["x"], 2 * np.array(W).T @ q)  # ∇_x f = 2 Wᵀ q
    assert r.ok and statuses(r) == {"pass"}
    assert_shapes_follow_variables(r)


def test_lecture_norm_from_at_text_and_named_intermediate() -> None:
    r = evaluate("q = W @ x; f = sum(q^2)",
                 at=["W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]"])
    q = next(n for n in r.nodes if n.label == "q")
    assert q.shape == [2]
    assert q.upstream == pytest.approx(2 * np.array(W) @ np.array(X))  # ∇_q f = 2q
    assert r.ok


def test_relu_slide_upstream_and_jacobian() -> None:
    r = evaluate("relu(x)", at="x=[1,-2,3,-1]", upstream="[4,-1,5,9]", jacobian=True)
    assert r.value == [1, 0, 3, 0]
    assert r.gradients["x"] == [4, 0, 5, 0]
    relu = next(n for n in r.nodes if n.op == "relu")
    x = np.array([1, -2, 3, -1])
    assert relu.jacobian == [np.diag((x > 0).astype(float)).tolist()]
    assert relu.local == [[1, 0, 1, 0]]  # the Jacobian's diagonal, all backprop uses
    assert any("never forms" in n for n in r.notes)
    assert r.ok


def test_jacobian_of_matmul_matches_the_lecture_formula() -> None:
    r = evaluate("sum(W @ x)", at={"W": W, "x": X}, jacobian=True)
    mm = next(n for n in r.nodes if n.op == "matmul")
    d_w, d_x = (np.array(j) for j in mm.jacobian)
    # ∂q_k/∂W_ij = 1{k=i} x_j and ∂q_k/∂x_i = W_ki
    expect_w = np.array([[float(k == i) * X[j] for i in range(2) for j in range(2)]
                         for k in range(2)])
    assert np.allclose(d_w, expect_w)
    assert np.allclose(d_x, W)


@pytest.mark.parametrize("z, y", [
    ([2.0, 1.0, 0.1], [0, 1, 0]),
    ([-0.5, 0.3, 1.7, 0.0], [0, 0, 0, 1]),
    ([3.0, -3.0], [1, 0]),
])
def test_softmax_cross_entropy_gradient_is_softmax_minus_y(z, y) -> None:
    fused = evaluate("cross_entropy(z, y)", at={"z": z, "y": y})
    by_hand = evaluate("-sum(y*log(softmax(z)))", at={"z": z, "y": y})
    expect = softmax(np.array(z)) - np.array(y)
    assert np.allclose(fused.gradients["z"], expect, atol=1e-12)
    assert np.allclose(by_hand.gradients["z"], expect, atol=1e-12)
    assert fused.value == pytest.approx(by_hand.value)
    assert fused.value == pytest.approx(-np.log(softmax(np.array(z)))[np.argmax(y)])
    assert fused.ok and by_hand.ok


def test_log_softmax_form_agrees() -> None:
    z, y = [0.3, -1.2, 2.0], [0, 0, 1]
    r = evaluate("-sum(y * log_softmax(z))", at={"z": z, "y": y})
    assert np.allclose(r.gradients["z"], softmax(np.array(z)) - np.array(y))
    assert r.ok


def test_softmax_is_stable_at_plus_minus_1000() -> None:
    r = evaluate("softmax(z)", at="z=[1000,-1000]", upstream="[1,0]")
    assert r.value == [1.0, 0.0]
    assert np.all(np.isfinite(r.gradients["z"]))
    ce = evaluate("cross_entropy(z, y)", at="z=[1000,-1000], y=[0,1]")
    assert ce.value == pytest.approx(2000.0)
    assert ce.gradients["z"] == pytest.approx([1.0, -1.0])  # softmax(z) - y
    assert ce.ok and statuses(ce) == {"pass"}


def test_written_out_cross_entropy_underflows_where_the_fused_op_does_not() -> None:
    # softmax(-2000 apart) has an exact 0 in float64; log(0) is a domain error, by name.
    with pytest.raises(DomainError, match="log"):
        evaluate("-sum(y*log(softmax(z)))", at="z=[1000,-1000], y=[0,1]")


def test_perceptron() -> None:
    at = {"theta0": -0.5, "x": [1.0, 2.0, -1.0], "theta": [0.3, -0.2, 0.8]}
    r = evaluate("sigmoid(theta0 + dot(x, theta))", at=at)
    s = sigmoid(at["theta0"] + np.dot(at["x"], at["theta"]))
    assert r.value == pytest.approx(float(s))
    assert r.gradients["theta0"] == pytest.approx(float(s * (1 - s)))
    assert np.allclose(r.gradients["theta"], s * (1 - s) * np.array(at["x"]))
    assert np.allclose(r.gradients["x"], s * (1 - s) * np.array(at["theta"]))
    assert r.ok and statuses(r) == {"pass"}


XOR_NET = "h = sigmoid(W1 @ x + b1); y = sigmoid(dot(w2, h) + b2)"
# The lecture's X xor Y = (X or Y) and (not X or not Y): hidden unit 1 is OR, hidden unit 2
# is NAND, the output is AND, each a sigmoid made step-like by large weights.
XOR_WEIGHTS = {"W1": [[20, 20], [-20, -20]], "b1": [-10, 30], "w2": [20, 20], "b2": -30}


@pytest.mark.parametrize("a, b", [(0, 0), (0, 1), (1, 0), (1, 1)])
def test_mlp_computes_xor(a: int, b: int) -> None:
    r = evaluate(XOR_NET, at={**XOR_WEIGHTS, "x": [a, b]})
    assert round(r.value) == (a ^ b)
    # Independent forward and backward pass written out with numpy.
    w1, b1 = np.array(XOR_WEIGHTS["W1"], float), np.array(XOR_WEIGHTS["b1"], float)
    w2, b2 = np.array(XOR_WEIGHTS["w2"], float), float(XOR_WEIGHTS["b2"])
    x = np.array([a, b], float)
    h = sigmoid(w1 @ x + b1)
    y = sigmoid(w2 @ h + b2)
    dz2 = y * (1 - y)
    dh = dz2 * w2
    dz1 = dh * h * (1 - h)
    assert r.value == pytest.approx(float(y))
    assert r.gradients["b2"] == pytest.approx(float(dz2))
    assert np.allclose(r.gradients["w2"], dz2 * h)
    assert np.allclose(r.gradients["b1"], dz1)
    assert np.allclose(r.gradients["W1"], np.outer(dz1, x))
    assert r.ok and statuses(r) == {"pass"}
    assert_shapes_follow_variables(r)


# ---------------------------------------------------------------- ops and shapes


def test_transpose_postfix_and_function_agree_and_matrix_products() -> None:
    a = [[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]]
    b = [[0.5, -1.0], [2.0, 1.0]]
    r1 = evaluate("sum((A.T @ B)^2)", at={"A": a, "B": b})
    r2 = evaluate("sum(transpose(A) @ B ^ 2)", at={"A": a, "B": b})
    p = np.array(a).T @ np.array(b)
    assert r1.value == pytest.approx(float((p**2).sum()))
    assert np.allclose(r1.gradients["B"], np.array(a) @ (2 * p))  # A (dL/dP)
    assert np.allclose(r1.gradients["A"], (np.array(b) @ (2 * p).T))  # B (dL/dP)ᵀ
    assert r1.ok
    # precedence: ^ binds tighter than @, so r2 is sum(Aᵀ @ (B^2)): a different function
    assert r2.value == pytest.approx(float((np.array(a).T @ np.array(b) ** 2).sum()))
    assert r2.ok


@pytest.mark.parametrize("expr, at", [
    ("u @ v", {"u": [1.0, 2.0], "v": [3.0, -1.0]}),
    ("sum(u @ M)", {"u": [1.0, 2.0], "M": [[1.0, 0.5, 2.0], [-1.0, 0.0, 1.0]]}),
    ("sum(M @ v)", {"v": [1.0, 2.0, -1.0], "M": [[1.0, 0.5, 2.0], [-1.0, 0.0, 1.0]]}),
    ("mean(exp(M) * 2)", {"M": [[0.1, -0.2], [0.3, 0.4]]}),
    ("dot(u, v) * sum(u)", {"u": [1.0, 2.0], "v": [3.0, -1.0]}),
])
def test_products_and_reductions_pass_every_check(expr: str, at: dict) -> None:
    r = evaluate(expr, at=at)
    assert r.ok and statuses(r) == {"pass"}
    assert_shapes_follow_variables(r)


def test_scalar_broadcasts_and_its_gradient_is_summed_back() -> None:
    r = evaluate("sum(a * x + b)", at={"a": 2.0, "x": [1.0, -2.0, 4.0], "b": 0.5})
    assert r.gradients["a"] == pytest.approx(3.0)  # sum(x)
    assert r.gradients["b"] == pytest.approx(3.0)  # one per entry
    assert r.gradients["x"] == [2.0, 2.0, 2.0]
    assert r.ok


def test_fan_out_of_an_array_adds_branches() -> None:
    r = evaluate("sum(x * x)", at="x=[1,-2,3]")
    assert r.gradients["x"] == [2, -4, 6]
    x = next(n for n in r.nodes if n.label == "x")
    assert [g for _, g in x.fan_out] == [[1, -2, 3], [1, -2, 3]]


def test_kink_in_one_entry_is_reported_not_failed() -> None:
    r = evaluate("sum(relu(x))", at="x=[1,0,-1]")
    assert r.gradients["x"] == [1, 0, 0]
    assert statuses(r) == {"kink"} and r.ok
    relu = next(n for n in r.nodes if n.op == "relu")
    assert "1 of 3 entries" in relu.kink and "[1]" in relu.kink


def test_sympy_limit_bounds_the_printed_derivative_not_the_proof() -> None:
    x = np.linspace(-1, 1, 81).reshape(9, 9)
    r = evaluate("sum(tanh(X))", at={"X": x})
    c = r.verification.checks[0]
    assert c.sympy_derivative.startswith("skipped: 81 input entries > limit 64")
    assert c.numeric is not None and c.status == "pass" and c.proof == "sympy-gates"
    assert any("sympy did not differentiate entry by entry (81 input entries > limit 64)"
               in n for n in r.to_dict()["notes"])


def test_json_has_no_nan_for_a_constant_exponent_of_a_negative_base() -> None:
    import json

    r = evaluate("sum(x^2)", at="x=[-1.5,2]")
    assert r.gradients["x"] == [-3.0, 4.0]
    json.dumps(r.to_dict(), allow_nan=False)  # d/db a^b is not real here; b needs none


def test_json_document_keeps_scalar_keys_and_nests_arrays() -> None:
    import json

    doc = evaluate("sum((W@x)^2)", at={"W": W, "x": X}).to_dict()
    json.dumps(doc, allow_nan=False)
    for key in ("expression", "value", "gradients", "ok", "nodes", "checks", "point"):
        assert key in doc
    assert doc["shapes"] == {"W": [2, 2], "x": [2]}
    assert np.shape(doc["gradients"]["W"]) == (2, 2)
    assert [n["shape"] for n in doc["nodes"]] == [[2, 2], [2], [2], [], [2], []]


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("expr, at, words", [
    ("W @ x", "W=[[1,2],[3,4]], x=[1,2,3]", ["W @ x", "2×2 matrix", "vector of 3"]),
    ("x + y", "x=[1,2], y=[1,2,3]", ["x + y", "vector of 2", "vector of 3"]),
    ("sum(x @ 2)", "x=[1,2]", ["x @ 2", "vector of 2", "a scalar"]),
    ("dot(x, y)", "x=[1,2], y=[[1,2],[3,4]]", ["dot", "vector of 2", "2×2 matrix"]),
    ("cross_entropy(z, y)", "z=[1,2], y=[1,0,0]", ["cross_entropy", "vector of 3"]),
])
def test_shape_errors_name_the_node_and_both_shapes(expr: str, at: str, words: list) -> None:
    with pytest.raises(InputError) as exc:
        evaluate(expr, at=at)
    for w in words:
        assert w in exc.value.message


def test_non_scalar_output_needs_upstream() -> None:
    with pytest.raises(InputError) as exc:
        evaluate("W @ x", at={"W": W, "x": X})
    assert "sum(W @ x)" in exc.value.hint and "--upstream" in exc.value.hint
    with pytest.raises(InputError, match="vector of 3"):
        evaluate("2 * x", at="x=[1,2]", upstream="[1,2,3]")


def test_ragged_matrix_is_an_at_error_with_position() -> None:
    text = "M=[[1,2],[3]]"
    with pytest.raises(InputError) as exc:
        evaluate("sum(M)", at=text)
    assert "ragged" in exc.value.message and exc.value.pos == text.index("[3]")


def test_array_literals_use_the_strict_number_rule() -> None:
    for bad in ("x=[1,nan]", "x=[1,1e309]", "x=[1_0]", "x=[١]", "x=[[[1]]]", "x=[]"):
        with pytest.raises(InputError):
            evaluate("sum(x)", at=bad)


def test_domain_error_names_the_entry() -> None:
    with pytest.raises(DomainError, match=r"entry \[1\]"):
        evaluate("sum(log(x))", at="x=[1,-2]")


def test_array_ops_without_values_ask_for_them() -> None:
    with pytest.raises(InputError, match="--at"):
        evaluate("sum(x)")


def test_a_broken_op_rule_fails_loudly_naming_the_op() -> None:
    from backprop_cli.core import arrays
    from backprop_cli.core.ops import OPS

    bad = OPS["sum"].__class__(**{**{f: getattr(OPS["sum"], f)
                                     for f in OPS["sum"].__dataclass_fields__},
                                  "name": "badsum",
                                  "vjp": lambda np, x, o, g: (g,)})  # a scalar, not x's shape
    x = np.array([1.0, 2.0])
    with pytest.raises(AssertionError, match=r"badsum.*variable's shape"):
        arrays.vjp(bad, (x,), np.asarray(3.0), np.asarray(1.0))


# ---------------------------------------------------------------- properties

UNARY = ["tanh({})", "sigmoid({})", "({})^2", "exp({} / 4)", "log(1 + ({})^2)", "relu({})",
         "-({})", "abs({}) + 1"]
REDUCE = ["sum({})", "mean({})", "sum(softmax({}) * c)", "cross_entropy({}, c)",
          "sum(log_softmax({}) * c)"]


@st.composite
def compositions(draw):
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, 3))
    floats = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))
    w = [[draw(floats) for _ in range(n)] for _ in range(m)]
    x = [draw(floats) for _ in range(n)]
    c = [0.0] * m
    c[draw(st.integers(0, m - 1))] = 1.0
    inner = draw(st.sampled_from(["W @ x", "W @ x + s", "W @ (x * s)", "(x.T @ W.T) * s"]))
    scaled = "s" in inner
    for _ in range(draw(st.integers(0, 3))):
        inner = draw(st.sampled_from(UNARY)).format(inner)
    reduce = draw(st.sampled_from(REDUCE))
    expr = reduce.format(inner)
    at = {"W": w, "x": x}
    if scaled:
        at["s"] = draw(floats)
    if "c)" in reduce:
        at["c"] = c
    return expr, at


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(compositions())
def test_property_backprop_agrees_with_finite_differences_and_sympy(case) -> None:
    expr, at = case
    r = evaluate(expr, at=at)
    assert_shapes_follow_variables(r)
    for c in r.verification.checks:
        assert c.status in ("pass", "kink"), (expr, at, c)
        if c.status == "pass":
            assert c.sympy_value is not None and c.numeric is not None


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.data())
def test_property_random_shapes_elementwise(rows: int, cols: int, data) -> None:
    floats = st.floats(-3, 3, allow_nan=False).map(lambda v: round(v, 2))
    a = [[data.draw(floats) for _ in range(cols)] for _ in range(rows)]
    b = [[data.draw(floats) for _ in range(cols)] for _ in range(rows)]
    r = evaluate("sum(tanh(A) * B + sigmoid(A - B) / 2)", at={"A": a, "B": b})
    ta = np.tanh(np.array(a))
    s = sigmoid(np.array(a) - np.array(b))
    assert np.allclose(r.gradients["A"], (1 - ta**2) * np.array(b) + s * (1 - s) / 2)
    assert np.allclose(r.gradients["B"], ta - s * (1 - s) / 2)
    assert r.ok


@settings(max_examples=30, deadline=None)
# No subnormals: --at rejects numbers below the smallest normal float (they lose digits).
@given(st.lists(st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False),
                         min_size=3, max_size=3), min_size=1, max_size=3),
       st.booleans())
def test_property_array_literals_round_trip(rows: list[list[float]], matrix: bool) -> None:
    value = rows if matrix else rows[0]
    text = repr(value).replace(" ", "")
    r = evaluate("sum(v * 0) + 1", at="v=" + text, check=())
    assert r.point["v"] == value


def test_numpy_inputs_and_entry_names_that_would_clash() -> None:
    r = evaluate("sum(x) * x_0", at={"x": np.array([1.0, 2.0]), "x_0": np.float64(3.0)})
    assert r.gradients == {"x": [3.0, 3.0], "x_0": 3.0}
    derivs = {c.variable: c.sympy_derivative for c in r.verification.checks}
    assert "x[0]" in derivs["x"] and "x[1]" in derivs["x"]  # x_0 is taken by the scalar
    assert r.ok


def test_sympy_keeps_its_digits_where_a_softmax_saturates() -> None:
    # Found by the property test above: exp(64) inside a softmax; the true gradient is about
    # 1e-136, and 30-digit Floats substituted first cancelled to -0.0625 (a false FAIL).
    r = evaluate("sum(softmax(exp(((W @ x + s)^2)^2 / 4)) * c)",
                 at={"W": [[0, 0, 0], [0, 0, 2]], "x": [0, 0, 1.5], "s": 1, "c": [0, 1]})
    assert r.verification is not None
    assert [c.status for c in r.verification.checks] == ["pass"] * 4
    assert all(c.proof == "sympy" for c in r.verification.checks)
