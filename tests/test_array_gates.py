"""The array gate proof (checks/array_gates.py, checks/array_rules.py): every array gradient
proved by sympy gate by gate, at any size; a wrong rule fails; the budget is honest."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import evaluate
from backprop_cli.checks import array_rules
from backprop_cli.core.ops import OPS, Op

from .conftest import invoke

ARRAY_OPS = sorted(name for name, op in OPS.items() if op.vjp is not None)


@contextmanager
def patched(op: Op, **fields: Any) -> Iterator[None]:
    """An op-table entry with some fields replaced for the test (the entry is frozen and
    shared by the parser's tables, so it is changed in place and restored)."""
    old = {k: getattr(op, k) for k in fields}
    for k, v in fields.items():
        object.__setattr__(op, k, v)
    try:
        yield
    finally:
        for k, v in old.items():
            object.__setattr__(op, k, v)


def proofs(r: Any) -> set[tuple[str, str]]:
    return {(c.proof, c.status) for c in r.verification.checks}


# ---------------------------------------------------------------- the rules


def test_every_array_op_has_a_proof_form() -> None:
    assert set(ARRAY_OPS) <= set(array_rules.PROOF_FORMS)


def test_shape_class_keeps_ones_equal_sizes_and_axes() -> None:
    assert array_rules.shape_class(((128, 784), (784,))) == ((2, 3), (3,))
    assert array_rules.shape_class(((8, 8), (8, 1), ())) == ((2, 2), (2, 1), ())


@pytest.mark.parametrize(("name", "shapes", "params"), [
    ("matmul", ((5, 7), (7, 3)), ()), ("matmul", ((5, 7), (7,)), ()),
    ("matmul", ((7,), (7, 3)), ()), ("matmul", ((7,), (7,)), ()),
    ("transpose", ((5, 7),), ()), ("sum", ((5, 7),), ()), ("sum", ((5, 7),), (0,)),
    ("mean", ((5, 7),), (1,)), ("dot", ((7,), (7,)), ()), ("softmax", ((5, 7),), ()),
    ("log_softmax", ((7,),), ()), ("cross_entropy", ((5, 7), (5, 7)), ()),
    ("outer", ((5,), (7,)), ()), ("rowmax", ((5, 7),), ()), ("rowmax", ((7,),), ()),
    ("rowsum", ((5, 7),), ()),
])
def test_each_array_rule_is_proved_on_its_shape_class(name: str, shapes: tuple[Any, ...],
                                                      params: tuple[int, ...]) -> None:
    proof = array_rules.prove_rule(OPS[name], array_rules.shape_class(shapes), params)
    assert proof.proved, proof.why


def test_a_wrong_rule_is_refuted_with_a_counterexample() -> None:
    op = OPS["softmax"]
    # The Jacobian's diagonal alone: s ⊙ upstream, without the - s sᵀ part.
    with patched(op, vjp=lambda np, x, o, g: (o * g,)):
        proof = array_rules.prove_rule(op, ((2, 3),), ())
    assert proof.refuted and not proof.proved
    assert "sympy disproves softmax's rule on 2×3" in proof.why


def test_broadcasting_copy_gate_is_proved() -> None:
    assert array_rules.prove_broadcast((3,), (2, 3)).proved
    assert array_rules.prove_broadcast((2, 1), (2, 3)).proved
    assert array_rules.prove_broadcast((), (2, 3)).proved


# ---------------------------------------------------------------- at every size


def _mlp_layer(m: int, n: int, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {"W": rng.uniform(-0.1, 0.1, (m, n)), "x": rng.uniform(-1, 1, n),
            "b": rng.uniform(-1, 1, m)}


def test_mlp_layer_784_by_128_is_proved_by_gates() -> None:
    # Its time against the default budget is benchmarks/array_gates.py's (no timed asserts).
    r = evaluate("sum(tanh(W@x + b)^2)", at=_mlp_layer(128, 784), check=("sympy",))
    assert proofs(r) == {("sympy-gates", "pass")}
    assert r.verification.checks[0].sympy_derivative == \
        "skipped: 101264 input entries > limit 64"


def test_gate_proof_agrees_with_the_per_entry_formula_below_the_limit() -> None:
    from backprop_cli.checks.array_gates import prove_gradients
    from backprop_cli.core.arrays import backward, forward
    from backprop_cli.core.parse import parse
    from backprop_cli.core.point import as_point

    at = _mlp_layer(3, 4)
    expr = "sum(softmax(tanh(W@x + b)) * log_softmax(W@x)) + sum(rowmax(W).T @ b)"
    r = evaluate(expr, at=at, check=("sympy",))
    assert proofs(r) == {("sympy", "pass")}
    graph = parse(expr)
    point = as_point(at)
    values = {k: np.asarray(v, dtype=float) for k, v in at.items()}
    run_ = backward(graph, forward(graph, values), np.asarray(1.0))
    gates = prove_gradients(graph, point, [v.shape for v in run_.values], ["W", "x", "b"],
                            run_.seed, deadline=float("inf"))
    for c in r.verification.checks:
        assert np.allclose(gates.gradients[c.variable], c.sympy_value, rtol=1e-12, atol=0)


ELEMENTWISE_OPS = sorted(name for name, op in OPS.items() if op.np_local is not None)


@pytest.mark.parametrize("name", ELEMENTWISE_OPS)
def test_every_elementwise_op_is_proved_by_gates_with_broadcasting(name: str) -> None:
    # A 9×9 matrix and a vector of 9 broadcast as its rows, all in log's and sqrt's domain.
    op = OPS[name]
    if op.arity == 2 and op.jump:  # an indicator is written in its own parentheses
        expr = f"sum((A {op.symbol} v) * A)"
    elif op.arity == 2:
        expr = f"sum(A {op.symbol} v)" if op.symbol else f"sum({name}(A, v))"
    else:
        expr = f"sum({op.symbol}A)" if op.symbol else f"sum({name}(A))"
    rng = np.random.default_rng(4)
    r = evaluate(expr, at={"A": rng.uniform(0.5, 1.5, (9, 9)), "v": rng.uniform(0.5, 1.5, 9)}
                 if op.arity == 2 else {"A": rng.uniform(0.5, 1.5, (9, 9))}, check=("sympy",))
    assert proofs(r) == {("sympy-gates", "pass")}, (expr, r.verification.notes)


# One expression per array op, over 64 entries (A, C 9×10, B 10×8, u, w of 70).
ARRAY_CASES = {
    "matmul": "sum(tanh(A @ B))", "transpose": "sum(sin(A.T) * C.T)",
    "sum": "sum(sum(A, 0)^2) + sum(sum(A, 1)^2) + sum(A)", "mean": "sum(mean(A, 0)^2)",
    "dot": "dot(u, w)^2", "softmax": "sum(softmax(A) * C)",
    "log_softmax": "sum(log_softmax(A) * C)", "cross_entropy": "cross_entropy(A, C)",
    "outer": "sum(tanh(outer(u, w)))", "rowmax": "sum(rowmax(A) * C)",
    "rowsum": "sum(rowsum(A)^2)",
}


def test_every_array_op_has_a_case() -> None:
    assert set(ARRAY_OPS) <= set(ARRAY_CASES)


@pytest.mark.parametrize("name", sorted(ARRAY_CASES))
def test_every_array_op_is_proved_by_gates_at_the_point(name: str) -> None:
    rng = np.random.default_rng(6)
    shapes = {"A": (9, 10), "C": (9, 10), "B": (10, 8), "u": (70,), "w": (70,)}
    expr = ARRAY_CASES[name]
    at = {k: rng.uniform(-1, 1, s) for k, s in shapes.items() if re.search(rf"\b{k}\b", expr)}
    r = evaluate(expr, at=at, check=("sympy",))
    assert proofs(r) == {("sympy-gates", "pass")}, (expr, r.verification.notes)


# Random expressions over arrays: each step applies one op, drawn from every array op and
# the elementwise ones, to terms already built whose shapes fit; the loss sums the last
# few terms and tanh(A). Inputs: A, C m×n, B n×p, u of n, v of m, with m, n, p >= 9, so A
# alone has over 64 entries.
Term = tuple[str, tuple[int, ...]]


def _pick(draw: Any, pool: list[Term], fits: Callable[[tuple[int, ...]], bool]) -> Term | None:
    choices = [t for t in pool if fits(t[1])]
    return draw(st.sampled_from(choices)) if choices else None


def _step(draw: Any, name: str, pool: list[Term]) -> Term | None:
    mat = lambda s: len(s) == 2  # noqa: E731
    anyd = lambda s: len(s) >= 1  # noqa: E731
    if name == "matmul":
        a = _pick(draw, pool, anyd)
        b = a and _pick(draw, pool, lambda s: len(s) >= 1 and s[0] == a[1][-1]
                        and (len(a[1]) == 2 or len(s) == 2 or s == a[1]))
        if a is None or b is None:
            return None
        out = a[1][:-1] + b[1][1:]
        return f"({a[0]} @ {b[0]})", out
    if name == "dot":
        a = _pick(draw, pool, lambda s: len(s) == 1)
        b = a and _pick(draw, pool, lambda s: s == a[1])
        return (f"dot({a[0]}, {b[0]})", ()) if a and b else None
    if name == "outer":
        a = _pick(draw, pool, lambda s: len(s) == 1)
        b = _pick(draw, pool, lambda s: len(s) == 1)
        return (f"outer({a[0]}, {b[0]})", (a[1][0], b[1][0])) if a and b else None
    if name == "cross_entropy":
        a = _pick(draw, pool, anyd)
        b = a and _pick(draw, pool, lambda s: s == a[1])
        return (f"cross_entropy({a[0]}, {b[0]})", ()) if a and b else None
    if name in ("+", "-", "*", "max", "min", "/"):
        a = _pick(draw, pool, lambda s: True)
        b = a and _pick(draw, pool, lambda s: _broadcasts(s, a[1]))
        if a is None or b is None or a[0] == b[0]:
            return None
        out = tuple(np.broadcast_shapes(a[1], b[1]))
        if name == "/":
            return f"({a[0]} / (2 + sin({b[0]})))", out
        if name in ("max", "min"):
            return f"{name}({a[0]}, {b[0]})", out
        return f"({a[0]} {name} {b[0]})", out
    t = _pick(draw, pool, mat if name in ("transpose",) or "axis" in name else anyd)
    if t is None:
        return None
    text, s = t
    if name == "transpose":
        return f"{text}.T", (s[1], s[0])
    if name in ("sum axis", "mean axis"):
        axis = draw(st.sampled_from([0, 1]))
        return f"{name.split()[0]}({text}, {axis})", (s[1 - axis],)
    if name in ("sum", "mean"):
        return f"{name}({text})", ()
    if name in ("rowmax", "rowsum"):
        return f"{name}({text})", (s[0], 1) if len(s) == 2 else ()
    if name in ("softmax", "log_softmax"):
        return f"{name}({text})", s
    return name.format(text), s  # an elementwise function of one input


def _broadcasts(a: tuple[int, ...], b: tuple[int, ...]) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


ELEMENTWISE = ["tanh({})", "sigmoid({})", "sin({})", "cos({})", "relu({})", "abs({})",
               "softplus({})", "leaky_relu({}, 0.2)", "log(1 + {}^2)", "sqrt(1 + {}^2)",
               "exp(tanh({}))", "+", "-", "*", "/", "max", "min"]
STEPS = [*ARRAY_OPS, "sum axis", "mean axis", *ELEMENTWISE]


def test_the_random_expressions_draw_every_array_op() -> None:
    assert set(ARRAY_OPS) <= set(STEPS)


@st.composite
def array_expressions(draw: Any) -> tuple[str, dict[str, Any]]:
    m, n, p = (draw(st.integers(9, 12)) for _ in range(3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shapes = {"A": (m, n), "C": (m, n), "B": (n, p), "u": (n,), "v": (m,)}
    at = {k: rng.uniform(-1, 1, s) for k, s in shapes.items()}
    pool: list[Term] = [(k, s) for k, s in shapes.items()]
    built: list[Term] = []
    for name in draw(st.lists(st.sampled_from(STEPS), min_size=3, max_size=8)):
        term = _step(draw, name, pool)
        if term is not None:
            pool.append(term)
            built.append(term)
    loss = " + ".join(f"sum({t})" for t in [*(t for t, _ in built[-3:]), "tanh(A)"])
    return loss, {k: v for k, v in at.items() if re.search(rf"\b{k}\b", loss)}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(array_expressions())
def test_random_arrays_above_64_entries_are_proved_by_gates(
        case: tuple[str, dict[str, Any]]) -> None:
    expr, at = case
    r = evaluate(expr, at=at, check=("sympy",))
    used = [c for c in r.verification.checks]
    assert sum(np.size(at[c.variable]) for c in used) > 64
    for c in used:
        assert c.proof == "sympy-gates", (expr, c.variable, c.why, r.verification.notes)
        assert c.status in ("pass", "kink"), (expr, c.variable, c.notes)


# ---------------------------------------------------------------- the proof can fail


def test_a_wrong_vjp_rule_is_caught_by_the_gate_proof() -> None:
    op = OPS["matmul"]
    right = op.vjp
    assert right is not None

    def doubled(np: Any, x: Any, o: Any, g: Any) -> tuple[Any, ...]:
        return tuple(2 * d for d in right(np, x, o, g))

    with patched(op, vjp=doubled):
        r = evaluate("sum(tanh(W@x + b)^2)", at=_mlp_layer(10, 9), check=("sympy",))
    checks = {c.variable: c for c in r.verification.checks}
    assert (checks["W"].status, checks["W"].proof) == ("fail", "sympy-gates")
    assert any("sympy disproves matmul's rule on 2×3 and 3" in n for n in checks["W"].notes)
    assert checks["b"].status == "pass"  # b does not pass through the product
    assert not r.ok


def test_a_wrong_local_gradient_is_caught_by_the_gate_proof() -> None:
    op = OPS["tanh"]
    with patched(op, np_local=lambda np, x, o: (1.0 - o,)):  # not 1 - tanh²
        r = evaluate("sum(tanh(W@x + b)^2)", at=_mlp_layer(10, 9), check=("sympy",))
    assert proofs(r) == {("sympy-gates", "fail")}


def test_a_rule_sympy_cannot_prove_leaves_its_gradients_to_the_other_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(array_rules.PROOF_FORMS, "softmax")
    array_rules.prove_rule.cache_clear()
    try:
        r = evaluate("sum(softmax(W@x) * b) + sum(b^2)", at=_mlp_layer(10, 9))
    finally:
        array_rules.prove_rule.cache_clear()
    checks = {c.variable: c for c in r.verification.checks}
    assert (checks["W"].proof, checks["W"].status) == ("numeric", "pass")
    assert (checks["b"].proof, checks["b"].status) == ("sympy-gates", "pass")
    assert any("did not prove gate" in n and "softmax has no array rule proof form" in n
               for n in r.verification.notes)


def test_rowmax_at_a_tie_is_not_claimed_by_the_gate_proof() -> None:
    # Its rule is proved on the smooth pieces only; at a tie sympy's Max gives 1/2 per tied
    # entry where the rule shares the upstream: the point is a kink, not a proof.
    a = np.random.default_rng(3).uniform(-1, 1, (9, 9))
    a[2, 3] = a[2, 5] = 2.0
    r = evaluate("sum(rowmax(A)) + sum(tanh(A))", at={"A": a})
    assert r.verification.checks[0].proof != "sympy-gates"
    assert any("rowmax at a tie (2 entries of row 2 equal its largest)" in n
               for n in r.verification.notes)


# ---------------------------------------------------------------- the budget


def test_budget_exhaustion_says_not_checked_budget() -> None:
    r = evaluate("sum(tanh(W@x + b)^2)", at=_mlp_layer(128, 784), check=("sympy",),
                 budget=0.01)
    assert proofs(r) == {("budget", "unchecked")}
    assert r.verification.counts() == {"budget": 3}
    assert any("sympy stopped at the budget" in n for n in r.verification.notes)


def test_a_graph_too_big_for_decimals_is_said_and_left_to_the_other_checks(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_cli.checks import array_gates

    monkeypatch.setattr(array_gates, "MAX_ENTRIES", 1000)
    r = evaluate("sum(tanh(W@x + b)^2)", at=_mlp_layer(40, 30))
    assert proofs(r) == {("numeric", "pass")}
    assert any("sympy's gate proof skipped: 1," in n and "> limit 1,000" in n
               for n in r.verification.notes)


def test_the_cli_says_proved_by_sympy_gate_by_gate_for_an_8_by_8_matrix() -> None:
    rng = np.random.default_rng(0)
    w = np.round(rng.uniform(-1, 1, (8, 8)), 3).tolist()
    x = np.round(rng.uniform(-1, 1, 8), 3).tolist()
    r = invoke("eval", "sum(tanh(W@x)^2)", "--at", f"W={w}", "--at", f"x={x}")
    assert r.code == 0, r.output
    assert "checks: 2 proved by sympy gate by gate" in r.stdout
    assert "✓ pass (sympy gates)" in r.stdout
