"""--expand: compound gates as primitive gates, with the same function and the same gradients."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli import evaluate
from backprop_cli.core.expand import compound_ops, expand
from backprop_cli.core.ops import OPS
from backprop_cli.core.parse import parse

NEURON = "sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_POINT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}
# Inputs for a compound op of any arity: each argument is itself a small expression, so the
# expanded gates sit inside a larger graph (and x fans out).
ARGUMENTS = ["x*y + x", "y - x/2", "x + 1"]
SCALAR_COMPOUND = [op for op in compound_ops() if not OPS[op].array_only]
# Array compounds (softmax, log_softmax, cross_entropy) take vectors or matrices; their
# arguments are small array expressions, so x fans out and the expanded gates sit inside.
ARRAY_COMPOUND = [op for op in compound_ops() if OPS[op].array_only]
ARRAY_ARGUMENTS = ["x*2 - v", "v"]


def test_compound_ops_are_the_entries_with_an_expansion() -> None:
    # An op's expansion is its entry's ``expand``; the equivalence tests below cover every
    # such op automatically.
    assert compound_ops() == [name for name, op in OPS.items() if op.expand is not None]
    assert {"sigmoid", "tanh", "tan"} <= set(SCALAR_COMPOUND)
    assert {"softmax", "log_softmax", "cross_entropy"} <= set(ARRAY_COMPOUND)
    assert sorted(SCALAR_COMPOUND + ARRAY_COMPOUND) == sorted(compound_ops())


def test_an_expansion_builds_only_primitive_gates() -> None:
    # One level deep: every gate an expansion makes is a primitive (has no expansion).
    for name in compound_ops():
        args = ", ".join(["x", "y"][:OPS[name].arity])
        graph = expand(parse(f"{name}({args})"))
        made = {n.op.name for n in graph.nodes if n.inputs}
        assert all(OPS[m].expand is None for m in made), (name, made)


def _call(op: str) -> str:
    return f"{op}({', '.join(ARGUMENTS[:OPS[op].arity])})"


@pytest.mark.parametrize("op", SCALAR_COMPOUND)
@pytest.mark.parametrize("point", [
    {"x": 0.0, "y": 0.0}, {"x": -1.5, "y": 2.0}, {"x": 0.7, "y": -0.3}, {"x": 3.0, "y": 1.0},
])
def test_expanded_graph_gives_the_same_gradients(op: str, point: dict[str, float]) -> None:
    expr = _call(op)
    single = evaluate(expr, at=point)
    expanded = evaluate(expr, at=point, expand=True)
    assert expanded.value == pytest.approx(single.value, rel=1e-12, abs=1e-12)
    assert single.gradients is not None and expanded.gradients is not None
    for name, g in single.gradients.items():
        assert expanded.gradients[name] == pytest.approx(g, rel=1e-9, abs=1e-12)
    # The expanded graph is checked against sympy and finite differences in its own right.
    assert expanded.ok
    assert not any(n.op == op for n in expanded.nodes)
    assert len(expanded.nodes) > len(single.nodes)


@pytest.mark.parametrize("op", SCALAR_COMPOUND)
@settings(max_examples=25, deadline=None)
@given(x=st.floats(-6, 6), y=st.floats(-6, 6), seed=st.floats(-3, 3))
def test_expanded_equivalence_property(op: str, x: float, y: float, seed: float) -> None:
    expr = _call(op)
    single = evaluate(expr, at={"x": x, "y": y}, upstream=seed, check=())
    expanded = evaluate(expr, at={"x": x, "y": y}, upstream=seed, check=(), expand=True)
    assert single.gradients is not None and expanded.gradients is not None
    for name, g in single.gradients.items():
        assert expanded.gradients[name] == pytest.approx(g, rel=1e-9, abs=1e-12)


def _array_call(op: str) -> str:
    call = f"{op}({', '.join(ARRAY_ARGUMENTS[:OPS[op].arity])})"
    return call if op == "cross_entropy" else f"sum(w * {call})"  # a scalar loss


def _same_gradients(expr: str, at: dict[str, object], **kw: object) -> None:
    import numpy as np

    single = evaluate(expr, at=at, **kw)  # type: ignore[arg-type]
    expanded = evaluate(expr, at=at, expand=True, **kw)  # type: ignore[arg-type]
    assert np.allclose(expanded.value, single.value, rtol=1e-12, atol=1e-12)
    assert single.gradients is not None and expanded.gradients is not None
    for name, g in single.gradients.items():
        assert np.allclose(expanded.gradients[name], g, rtol=1e-9, atol=1e-12), name
    if kw.get("check", True):
        assert expanded.ok  # checked against sympy and finite differences in its own right
    assert len(expanded.nodes) > len(single.nodes)


@pytest.mark.parametrize("op", ARRAY_COMPOUND)
@pytest.mark.parametrize("at", [
    {"x": [2.0, 1.0, 0.1], "v": [0.0, 1.0, 0.0], "w": [1.0, -2.0, 0.5]},
    {"x": [0.0, 0.0, 0.0], "v": [1.0, 0.0, 0.0], "w": [0.3, 0.3, 0.3]},  # a tie in the max
    {"x": [[1.0, -1.0], [3.0, 0.5]], "v": [[0.0, 1.0], [1.0, 0.0]],      # row by row
     "w": [[1.0, 2.0], [-1.0, 0.5]]},
    {"x": [400.0, -400.0], "v": [1.0, 0.0], "w": [1.0, 1.0]},  # the max keeps exp finite
])
def test_expanded_array_graph_gives_the_same_gradients(op: str, at: dict[str, object]) -> None:
    expr = _array_call(op)
    # sympy proves the expanded graph at the first point (an array sympy check of the
    # expanded graph costs seconds); finite differences at the others.
    first = at["x"] == [2.0, 1.0, 0.1]
    _same_gradients(expr, {k: v for k, v in at.items() if k in expr},
                    check=("sympy", "numeric") if first else ("numeric",))
    expanded = evaluate(expr, at={k: v for k, v in at.items() if k in expr}, check=(),
                        expand=True)
    assert not any(n.op == op for n in expanded.nodes)
    assert {"rowmax", "exp", "rowsum"} <= {n.op for n in expanded.nodes}


@pytest.mark.parametrize("op", ARRAY_COMPOUND)
@settings(max_examples=15, deadline=None)
@given(data=st.data(), rows=st.integers(0, 3), cols=st.integers(1, 4))
def test_expanded_array_equivalence_property(op: str, data: st.DataObject, rows: int,
                                             cols: int) -> None:
    n = cols * max(rows, 1)
    entries = st.lists(st.floats(-8, 8), min_size=n, max_size=n)

    def arr(xs: list[float]) -> list[object]:
        return list(xs) if rows == 0 else [xs[r * cols:(r + 1) * cols] for r in range(rows)]

    at = {"x": arr(data.draw(entries)), "v": arr(data.draw(entries)),
          "w": arr(data.draw(entries))}
    expr = _array_call(op)
    _same_gradients(expr, {k: v for k, v in at.items() if k in expr}, check=())


def test_expanded_softmax_max_branch_carries_no_gradient() -> None:
    # softmax ignores the shift by max z: the gradient down the rowmax branch adds to 0.
    import numpy as np

    r = evaluate("sum(w * softmax(z))", at={"z": [2.0, 1.0, 0.1], "w": [1.0, -2.0, 0.5]},
                 check=(), expand=True)
    rowmax = next(n for n in r.nodes if n.op == "rowmax")
    assert rowmax.upstream == pytest.approx(0.0, abs=1e-12)
    assert np.allclose(rowmax.downstream[0], 0.0, atol=1e-12)


def test_sigmoid_neuron_expands_into_the_lectures_circuit() -> None:
    r = evaluate(NEURON, at=NEURON_POINT, expand=True)
    gates = [n for n in r.nodes if n.op not in ("var", "const")]
    assert [n.op for n in gates] == ["mul", "mul", "add", "add", "neg", "exp", "add", "div"]
    # The lecture's values on the wires, left to right.
    assert [round(n.value, 2) for n in gates] == [-2, 6, 4, 1, -1, 0.37, 1.37, 0.73]
    mul0, mul1, add0, add1, neg, exp, plus1, recip = gates
    assert recip.upstream == 1.0  # 1.00 at the output
    assert round(recip.downstream[-1], 2) == -0.53  # through 1/x
    assert round(plus1.upstream, 2) == -0.53 and round(plus1.downstream[0], 2) == -0.53
    assert round(exp.downstream[0], 2) == -0.20  # through exp
    assert round(neg.downstream[0], 2) == 0.20
    for add in (add0, add1):
        assert round(add.upstream, 2) == 0.20
        assert [round(d, 2) for d in add.downstream] == [0.2, 0.2]
    assert [round(d, 2) for d in mul0.downstream + mul1.downstream] == [-0.2, 0.39, -0.39, -0.59]
    rounded = {k: round(v, 2) for k, v in (r.gradients or {}).items()}
    assert rounded == {"w0": -0.20, "x0": 0.39, "w1": -0.39, "x1": -0.59, "w2": 0.20}
    assert r.ok


def test_expanded_neuron_matches_the_hand_written_circuit() -> None:
    by_hand = evaluate("1/(1+exp(-(w0*x0+w1*x1+w2)))", at=NEURON_POINT)
    expanded = evaluate(NEURON, at=NEURON_POINT, expand=True)
    assert [round(n.value, 12) for n in expanded.nodes if n.op != "const"] == \
        [round(n.value, 12) for n in by_hand.nodes if n.op != "const"]
    assert expanded.gradients == pytest.approx(by_hand.gradients)


def test_names_and_output_survive_expansion() -> None:
    g = expand(parse("s = w*x + b; a = sigmoid(s); f = tanh(a) * s"))
    assert set(g.named) == {"s", "a", "f"}
    assert g.nodes[g.named["a"]].op.name == "div"  # the last gate of the expanded sigmoid
    assert g.output == g.named["f"]
    assert list(g.variables) == ["w", "x", "b"]
    # Topological order holds: every input comes before the gate that reads it.
    assert all(j < node.id for node in g.nodes for j in node.inputs)


def test_expand_without_compound_ops_is_the_same_graph() -> None:
    g = parse("(x+y)*z")
    e = expand(g)
    assert [(n.op.name, n.inputs) for n in e.nodes] == [(n.op.name, n.inputs) for n in g.nodes]


def test_expand_is_not_recursive_on_deep_graphs() -> None:
    depth = 10_000
    g = expand(parse("tanh(" * depth + "x" + ")" * depth))
    assert sum(1 for n in g.nodes if n.op.name == "exp") == 2 * depth
    assert not any(n.op.name == "tanh" for n in g.nodes)
