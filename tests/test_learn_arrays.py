"""Learning with vector and matrix parameters: optimizers entry by entry, `descend` on least
squares, `fit` of the matrix 2-2-1 MLP on XOR (--bind, --shape), arrays in tables and JSON."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.errors import InputError
from backprop_cli.learn.array_model import parse_binds, parse_shapes
from backprop_cli.learn.descend import descend
from backprop_cli.learn.fit import Fit, fit, read_csv
from backprop_cli.learn.optim import Penalty, norm

ROOT = Path(__file__).resolve().parents[1]
XOR_CSV = str(ROOT / "examples" / "xor.csv")
XOR_SCALAR = (ROOT / "examples" / "xor-mlp.txt").read_text()
XOR_MATRIX = (ROOT / "examples" / "xor-mlp-matrix.txt").read_text()
runner = CliRunner()

W0 = [1.0, 2.0]
C = [3.0, -1.0]
QUAD = "sum((w - c)^2)"  # minimum 0 at w = c; gradient 2 (w - c)


def by_hand(optimizer: str, lr: float, steps: int = 2) -> list[list[float]]:
    """The first steps of each update rule on sum((w - c)^2), entry by entry, in plain
    floats (Ruder 2016; gamma 0.9, beta1 0.9, beta2 0.999, eps 1e-8)."""
    gamma, b1, b2, eps = 0.9, 0.9, 0.999, 1e-8
    out = []
    for w, c in zip(W0, C):
        path = [w]
        v = m = s = 0.0
        for t in range(1, steps + 1):
            if optimizer == "sgd":
                w = w - lr * 2 * (w - c)
            elif optimizer == "momentum":
                v = gamma * v + lr * 2 * (w - c)
                w = w - v
            elif optimizer == "nesterov":
                v = gamma * v + lr * 2 * (w - gamma * v - c)
                w = w - v
            else:
                g = 2 * (w - c)
                m = b1 * m + (1 - b1) * g
                s = b2 * s + (1 - b2) * g * g
                w = w - lr * (m / (1 - b1 ** t)) / (math.sqrt(s / (1 - b2 ** t)) + eps)
            path.append(w)
        out.append(path)
    return [[path[t] for path in out] for t in range(steps + 1)]  # per step: [w_1, w_2]


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_first_two_steps_on_a_vector_quadratic(optimizer: str) -> None:
    run = descend(QUAD, {"w": W0, "c": C}, wrt=["w"], optimizer=optimizer, lr=0.1, steps=2,
                  tol=0)
    expected = by_hand(optimizer, 0.1)
    assert [s.params["w"] for s in run.trajectory] == [pytest.approx(e, rel=1e-12)
                                                       for e in expected]
    assert run.fixed == {"c": C}
    g0 = [2 * (w - c) for w, c in zip(W0, C)]
    assert run.trajectory[0].grad_norm == pytest.approx(math.hypot(*g0))
    assert run.trajectory[0].loss == pytest.approx(sum((w - c) ** 2 for w, c in zip(W0, C)))


@pytest.mark.parametrize("optimizer", ["momentum", "nesterov", "adam"])
def test_a_vector_runs_like_its_entries_as_scalars(optimizer: str) -> None:
    vec = descend(QUAD, {"w": W0, "c": C}, wrt=["w"], optimizer=optimizer, lr=0.05,
                  steps=30, tol=0)
    sca = descend("(w1 - 3)^2 + (w2 + 1)^2", {"w1": W0[0], "w2": W0[1]}, optimizer=optimizer,
                  lr=0.05, steps=30, tol=0)
    for a, b in zip(vec.trajectory, sca.trajectory):
        assert a.params["w"] == pytest.approx([b.params["w1"], b.params["w2"]], rel=1e-12)
        assert a.grad_norm == pytest.approx(b.grad_norm, rel=1e-12)


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam"])
def test_every_optimizer_finds_the_vector_minimum(optimizer: str) -> None:
    run = descend(QUAD, {"w": W0, "c": C}, wrt=["w"], optimizer=optimizer,
                  lr=0.1 if optimizer != "adam" else 0.05, steps=3000, tol=1e-7)
    assert run.status == "converged"
    assert run.final["w"] == pytest.approx(C, abs=1e-6)


def test_least_squares_reaches_the_known_minimum() -> None:
    # From W0, gradient descent on ||W x - y||^2 only moves W along r x^T, so it ends at the
    # minimum nearest W0: W0 + (y - W0 x) x^T / ||x||^2.
    w0 = np.array([[0.1, 0.5], [-0.3, 0.8]])
    x = np.array([0.2, 0.4])
    y = np.array([1.0, 2.0])
    known = w0 + np.outer(y - w0 @ x, x) / (x @ x)
    run = descend("sum((W@x - y)^2)", {"W": w0, "x": x.tolist(), "y": "[1,2]"}, wrt=["W"],
                  lr=0.5, steps=500, tol=1e-9)
    assert run.status == "converged"
    assert np.allclose(run.final["W"], known, atol=1e-8)
    assert run.trajectory[-1].loss == pytest.approx(0, abs=1e-15)
    # The gradient norm is over every entry: 2 r x^T at the start.
    g0 = 2 * np.outer(w0 @ x - y, x)
    assert run.trajectory[0].grad_norm == pytest.approx(float(np.linalg.norm(g0)))


def test_penalties_entry_by_entry() -> None:
    w = np.array([[1.5, -2.0], [0.0, 0.25]])
    pen = Penalty(l1=0.1, l2=0.2)
    flat = w.ravel().tolist()
    assert pen.value([w, 3.0]) == pytest.approx(pen.value([*flat, 3.0]))
    grad = pen.gradient([w, 3.0])
    assert grad[0].ravel().tolist() == pytest.approx(pen.gradient(flat))
    assert grad[1] == pytest.approx(pen.gradient([3.0])[0])
    assert norm([w, 3.0]) == pytest.approx(norm([*flat, 3.0]))


def test_l2_on_a_matrix_shrinks_it_entry_by_entry() -> None:
    # The expression is flat (its gradient is 0); the L2 gradient is 2*0.5*W = W, so each
    # step is W <- W - 0.5 W = W / 2, and 5 steps give W / 32.
    run = descend("sum(W @ x) * 0", {"W": [[1.0, -4.0]], "x": [1.0, 1.0]}, wrt=["W"],
                  l2=0.5, lr=0.5, steps=5, tol=0)
    assert run.final["W"] == [[1 / 32, -4 / 32]]
    assert run.trajectory[0].loss == pytest.approx(0.5 * (1 + 16))


def xor_fit(**kw: object) -> Fit:
    settings: dict[str, object] = dict(
        bind={"x": ["x1", "x2"]}, shape={"W1": (2, 2), "b1": (2,), "w2": (2,)},
        init="random", seed=1, optimizer="adam", lr=0.1, epochs=60, batch_size=8,
        val_split=0.25, predict="yhat", target="y")
    settings.update(kw)
    return fit(XOR_MATRIX, read_csv(XOR_CSV), **settings)  # type: ignore[arg-type]


def test_matrix_xor_reaches_100_percent() -> None:
    result = xor_fit()
    end = result.final_epoch
    assert end is not None and end.train_accuracy == 1.0 and end.val_accuracy == 1.0
    assert result.history[0].train_loss > 0.2 > 0.05 > end.train_loss
    final = result.final
    assert np.shape(final["W1"]) == (2, 2) and np.shape(final["b1"]) == (2,)
    assert np.shape(final["w2"]) == (2,) and isinstance(final["b2"], float)
    assert result.data_columns == ["y", "x1", "x2"]


def test_matrix_mlp_trains_exactly_like_the_unrolled_one() -> None:
    # The same start, the same shuffles: the matrix and the scalar MLP are one function.
    m1, b1, w2, b2 = [[0.5, -0.4], [-0.3, 0.6]], [0.1, -0.2], [0.7, -0.5], 0.05
    scalar_at = {"w11": m1[0][0], "w12": m1[0][1], "b1": b1[0], "w21": m1[1][0],
                 "w22": m1[1][1], "b2": b1[1], "v1": w2[0], "v2": w2[1], "c": b2}
    data = read_csv(XOR_CSV)
    common = dict(seed=3, optimizer="momentum", lr=0.5, epochs=4, batch_size=8,
                  val_split=0.25, predict="yhat", target="y")
    mat = fit(XOR_MATRIX, data, at={"W1": m1, "b1": b1, "w2": w2, "b2": b2},
              bind={"x": ["x1", "x2"]}, **common)  # type: ignore[arg-type]
    sca = fit(XOR_SCALAR, data, at=scalar_at, **common)  # type: ignore[arg-type]
    for a, b in zip(mat.history, sca.history, strict=True):
        assert a.train_loss == pytest.approx(b.train_loss, rel=1e-10)
        assert a.val_loss == pytest.approx(b.val_loss, rel=1e-10)
        p = b.params
        assert np.ravel(a.params["W1"]).tolist() == pytest.approx(
            [p["w11"], p["w12"], p["w21"], p["w22"]], rel=1e-10)
        assert a.params["w2"] == pytest.approx([p["v1"], p["v2"]], rel=1e-10)


def test_parse_shapes_and_binds() -> None:
    assert parse_shapes(["W1=2x3, b1=2", "V=4×1"]) == {"W1": (2, 3), "b1": (2,), "V": (4, 1)}
    assert parse_binds(["x=x1, x2", "z=a"]) == {"x": ["x1", "x2"], "z": ["a"]}


@pytest.mark.parametrize(("kw", "message"), [
    ({"shape": {"W1": (2, 2)}, "init": None, "at": {"b1": [0, 0], "w2": [0, 0], "b2": 0}},
     "--shape is for parameters drawn by --init random"),
    ({"shape": {"y": (2,)}}, "not a parameter"),
    ({"bind": {"x": ["x1", "nope"]}}, "no column nope"),
    ({"bind": {"x": ["x1", "x2"], "y": ["x1"]}}, "already a column"),
    ({"bind": {"x": ["x1", "x2"], "q": ["x1"]}}, "not an input"),
    ({"shape": {"W1": (3, 2), "b1": (2,), "w2": (2,)}}, "shape mismatch"),
    ({"at": {"W1": [[1, 2, 3]]}}, "--shape W1 is a 2×2 matrix but --at gives"),
    ({"predict": "h"}, "accuracy needs a scalar"),
])
def test_fit_bad_shapes(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        xor_fit(epochs=1, **kw)


@pytest.mark.parametrize(("text", "message"), [
    (["W=2x"], "not NAME=N or NAME=RxC"), (["W=0x2"], "at least 1"), (["W=2x2x2"], "NAME=RxC"),
    (["W=2,W=3"], "twice"), (["W=2000x2000"], "at most"),
])
def test_bad_shape_text(text: list[str], message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_shapes(text)


def test_an_array_loss_is_bad_input() -> None:
    with pytest.raises(InputError, match="not a scalar"):
        descend("W @ x", {"W": [[1.0, 0.0]], "x": [1.0, 2.0]}, wrt=["W"])


# --- the command line -----------------------------------------------------------------------

FIT_ARGS = ["fit", "-", "--data", XOR_CSV, "--bind", "x=x1,x2", "--init", "random",
            "--shape", "W1=2x2,b1=2", "--shape", "w2=2", "--seed", "1", "--optimizer", "adam",
            "--lr", "0.1", "--batch-size", "8", "--val-split", "0.25", "--predict", "yhat",
            "--target", "y"]


def test_cli_fit_matrix_xor_json() -> None:
    res = runner.invoke(app, [*FIT_ARGS, "--epochs", "60", "--json"], input=XOR_MATRIX)
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["final_train_accuracy"] == 1.0 and doc["bind"] == {"x": ["x1", "x2"]}
    assert np.shape(doc["final"]["W1"]) == (2, 2) and np.shape(doc["init"]["w2"]) == (2,)
    assert all(np.shape(e["params"]["b1"]) == (2,) for e in doc["history"])


def test_cli_fit_matrix_table() -> None:
    res = runner.invoke(app, [*FIT_ARGS, "--epochs", "3"], input=XOR_MATRIX)
    assert res.exit_code == 0, res.output
    assert "parameters: W1=[[" in res.stdout and "], [" in res.stdout


def test_cli_descend_arrays_table_and_json() -> None:
    args = ["descend", "sum((W@x - y)^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]], x=[0.2,0.4]",
            "--at", "y=[1,2]", "--wrt", "W", "--lr", "0.5", "--steps", "300"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "[[0.1, 0.5]," in res.stdout and "final: W=[[0.88, 2.06], [1.44, 4.28]]" in res.stdout
    doc = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert doc["final"]["W"] == [[pytest.approx(0.88), pytest.approx(2.06)],
                                 [pytest.approx(1.44), pytest.approx(4.28)]]
    assert doc["fixed"] == {"x": [0.2, 0.4], "y": [1.0, 2.0]}
    assert doc["trajectory"][0]["params"] == {"W": [[0.1, 0.5], [-0.3, 0.8]]}


@pytest.mark.parametrize(("args", "message"), [
    (["--shape", "W1=2by2"], "not NAME=N or NAME=RxC"),
    (["--bind", "x"], "not NAME=COLUMN"),
    (["--bind", "x=x1,zz"], "no column zz"),
    (["--shape", "y=3"], "not a parameter"),
])
def test_cli_fit_bad_shape_exit_2(args: list[str], message: str) -> None:
    base = FIT_ARGS
    if "--bind" in args:  # instead of the good one
        base = [a for a in FIT_ARGS if a not in ("--bind", "x=x1,x2")]
    res = runner.invoke(app, [*base, "--epochs", "1", *args], input=XOR_MATRIX)
    assert res.exit_code == 2
    assert message in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_cli_descend_shape_mismatch_exit_2() -> None:
    res = runner.invoke(app, ["descend", "sum(W@x)", "--at", "W=[[1,2,3]], x=[1,2]"])
    assert res.exit_code == 2 and "shape mismatch" in res.output


def test_real_subprocess_matrix_fit_and_scalar_path_without_numpy() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "backprop_cli", *FIT_ARGS, "--epochs", "2",
                           "--json"], input=XOR_MATRIX, capture_output=True, text=True,
                          env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert np.shape(json.loads(proc.stdout)["final"]["W1"]) == (2, 2)
    code = ("import sys\nfrom backprop_cli.learn.descend import descend\n"
            "from backprop_cli.learn.fit import fit, parse_csv\n"
            "descend('(w-3)^2', {'w': 0}, optimizer='adam')\n"
            "fit('(w*x-y)^2', parse_csv('x,y\\n1,2\\n2,4\\n'), at={'w': 0}, epochs=2)\n"
            "print('numpy' in sys.modules)")
    scalar = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env=env, timeout=120)
    assert scalar.returncode == 0, scalar.stderr
    assert scalar.stdout.strip() == "False"


def test_a_parameter_drawn_without_shape_gets_a_hint() -> None:
    with pytest.raises(InputError, match="shape mismatch") as info:
        xor_fit(epochs=1, shape={"b1": (2,), "w2": (2,)})
    assert info.value.hint is not None and "W1 was drawn as a scalar" in info.value.hint
