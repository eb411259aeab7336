"""`fit` on arrays in batches (learn/array_model.py over core/batched.py) against the same
fit row by row (array_model.BATCHED = False): the loss and gradients of a mini-batch, the
accuracy, whole runs, and the row-by-row fallbacks (an error in a batch, a loss that no row
changes, an op without a batched rule)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.core.errors import DomainError
from backprop_cli.core.parse import parse
from backprop_cli.learn import array_model
from backprop_cli.learn.array_model import ArrayModel
from backprop_cli.learn.fit import Dataset, fit, read_csv

ROOT = Path(__file__).resolve().parents[1]
XOR = read_csv(ROOT / "examples" / "xor.csv")
XOR_MATRIX = (ROOT / "examples" / "xor-mlp-matrix.txt").read_text()
XOR_ARGS: dict[str, Any] = dict(bind={"x": ["x1", "x2"]}, init="random",
                                shape={"W1": (2, 2), "b1": 2, "w2": 2}, seed=1,
                                optimizer="adam", lr=0.1, batch_size=8, val_split=0.25,
                                predict="yhat", target="y")
# A softmax classifier: 3 features, 3 classes one-hot, a hidden relu layer (every array op
# a classifier uses: @, +, relu, cross_entropy; softmax for the prediction's node).
SOFTMAX = ("h = relu(W1 @ x + b1); z = W2 @ h; p = sum(softmax(z) * y); "
           "cross_entropy(z, y) + (1 - p)^2")
SOFTMAX_COLUMNS = ["x1", "x2", "x3", "y1", "y2", "y3"]
SOFTMAX_BIND = {"x": ["x1", "x2", "x3"], "y": ["y1", "y2", "y3"]}
SHAPES = {"W1": (4, 3), "b1": (4,), "W2": (3, 4)}


def softmax_rows(rng: random.Random, n: int) -> list[list[float]]:
    rows = []
    for _ in range(n):
        label = rng.randrange(3)
        rows.append([rng.uniform(-2, 2) for _ in range(3)]
                    + [1.0 if k == label else 0.0 for k in range(3)])
    return rows


def model_and_theta(seed: int) -> tuple[ArrayModel, list[Any]]:
    graph = parse(SOFTMAX, bound=[*SOFTMAX_COLUMNS, "x", "y"])
    params = [n for n in graph.variables if n not in SOFTMAX_BIND]
    rng = np.random.default_rng(seed)
    theta = [rng.uniform(-1, 1, SHAPES[p]) for p in params]
    return ArrayModel(graph, SOFTMAX_COLUMNS, params, "p", SOFTMAX_BIND), theta


def both(monkeypatch: pytest.MonkeyPatch, run: Any) -> tuple[Any, Any]:
    """``run()`` batched, then row by row."""
    monkeypatch.setattr(array_model, "BATCHED", True)
    batched = run()
    monkeypatch.setattr(array_model, "BATCHED", False)
    return batched, run()


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 12), seed=st.integers(0, 2**16), chunk=st.sampled_from([1, 3, 1 << 20]))
def test_a_mini_batch_has_the_rows_loss_and_gradients(monkeypatch: pytest.MonkeyPatch, n: int,
                                                      seed: int, chunk: int) -> None:
    # chunk: CHUNK_ENTRIES as small as one row's values x 1 or 3 rows, so that a batch is
    # split into passes whose last one is partial, or the whole batch in one pass.
    model, theta = model_and_theta(seed)
    rows = softmax_rows(random.Random(seed), n)
    monkeypatch.setattr(array_model, "CHUNK_ENTRIES", chunk * 60)
    (loss, grads), (loss_rows, grads_rows) = both(
        monkeypatch, lambda: model.loss_grad(theta, rows))
    assert loss == pytest.approx(loss_rows, rel=1e-12)
    for g, r in zip(grads, grads_rows):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_loss_and_accuracy_of_a_data_set_are_the_rows(monkeypatch: pytest.MonkeyPatch, n: int,
                                                      seed: int) -> None:
    model, theta = model_and_theta(seed)
    rows = softmax_rows(random.Random(seed), n)
    target = SOFTMAX_COLUMNS.index("y1")
    got, want = both(monkeypatch, lambda: model.loss_acc(theta, rows, target))
    assert got[0] == pytest.approx(want[0], rel=1e-12)
    assert got[1] == want[1]


def test_the_xor_fit_ends_at_the_same_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    # 30 training rows in batches of 8: the last batch of each epoch is 6 rows.
    batched, rows = both(monkeypatch, lambda: fit(XOR_MATRIX, XOR, epochs=20, **XOR_ARGS))
    assert batched.final.keys() == rows.final.keys()
    for name, value in rows.final.items():
        np.testing.assert_allclose(batched.final[name], value, rtol=1e-12)
    assert [e.train_accuracy for e in batched.history] == [e.train_accuracy for e in rows.history]
    assert [e.train_loss for e in batched.history] == pytest.approx(
        [e.train_loss for e in rows.history], rel=1e-12)


def test_the_softmax_fit_ends_at_the_same_parameters(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Dataset(SOFTMAX_COLUMNS, softmax_rows(random.Random(3), 50))
    batched, rows = both(monkeypatch, lambda: fit(
        SOFTMAX, data, bind=SOFTMAX_BIND, init="random", shape=SHAPES, seed=2, lr=0.05,
        epochs=5, batch_size=16, optimizer="momentum", l2=0.01))
    for name, value in rows.final.items():
        np.testing.assert_allclose(batched.final[name], value, rtol=1e-9, atol=1e-12)


def test_an_error_in_a_batch_is_the_rows_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # Row 5 makes log's argument negative (0.5 * -4 + 1): the batched pass sees a value that
    # is not finite, the chunk runs row by row, which raises the error naming the node.
    data = Dataset(["x", "y"], [[float(i), 1.0] for i in range(5)] + [[-4.0, 1.0]])

    def message() -> str:
        with pytest.raises(DomainError) as err:
            fit("sum((log(w * x + 1) - y)^2)", data, at={"w": [0.5, 0.5]}, epochs=2,
                batch_size=4)
        return err.value.message

    batched, rows = both(monkeypatch, message)
    assert batched == rows and "domain error at node #5" in rows


def test_a_step_into_an_error_diverges_as_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first step takes w below 0; the next batch's log(w) has no value.
    data = Dataset(["x", "y"], [[float(i), 1.0] for i in range(1, 9)])
    batched, rows = both(monkeypatch, lambda: fit(
        "sum((log(w) + y * x)^2)", data, at={"w": [1.0, 1.0]}, epochs=2, batch_size=3, lr=1.0))
    assert batched.status == rows.status == "diverged"
    assert batched.message == rows.message and "domain error" in rows.message


def test_a_loss_no_row_changes_runs_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    data = Dataset(["x", "y"], [[float(i), 1.0] for i in range(7)])
    batched, rows = both(monkeypatch, lambda: fit(
        "sum((w - 1)^2)", data, at={"w": [3.0, -2.0]}, epochs=3, batch_size=4))
    np.testing.assert_allclose(batched.final["w"], rows.final["w"], rtol=1e-15)


def test_an_op_without_a_batched_rule_runs_row_by_row(monkeypatch: pytest.MonkeyPatch) -> None:
    graph = parse("h = W @ x; (sum(h) - y)^2", bound=["x1", "x2", "y", "x"])
    for node in graph.nodes:
        if node.op.name == "matmul":
            monkeypatch.setattr(node, "op", dataclasses.replace(node.op, np_batched=None))
    model = ArrayModel(graph, ["x1", "x2", "y"], ["W"], None, {"x": ["x1", "x2"]})
    theta = [np.array([[0.5, -1.0], [2.0, 0.25]])]
    rows = [[1.0, 2.0, 0.5], [-1.0, 0.5, 2.0], [0.0, 1.0, 1.0]]
    loss, grads = model.loss_grad(theta, rows)
    assert model._per_pass == 0  # decided at the first call: row by row
    monkeypatch.setattr(array_model, "BATCHED", False)
    loss_rows, grads_rows = model.loss_grad(theta, rows)
    assert loss == loss_rows
    np.testing.assert_array_equal(grads[0], grads_rows[0])
