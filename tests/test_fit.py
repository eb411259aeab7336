"""`fit` and `backprop fit`: CSV binding, mini-batches and epochs, validation, early stopping,
and the lecture's 2-2-1 MLP learning XOR."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.errors import InputError
from backprop_cli.learn import fit as fit_module
from backprop_cli.learn.fit import Dataset, fit, parse_csv, read_csv

ROOT = Path(__file__).resolve().parents[1]
XOR_CSV = ROOT / "examples" / "xor.csv"
XOR_MLP = (ROOT / "examples" / "xor-mlp.txt").read_text()
runner = CliRunner()

LINE = "(w*x + b - y)^2"


def line_data(n: int = 8) -> Dataset:
    # y = 2x + 1 exactly: the loss has its minimum 0 at w = 2, b = 1.
    return Dataset(["x", "y"], [[float(i), 2.0 * i + 1.0] for i in range(n)])


def test_parse_csv() -> None:
    d = parse_csv("x1,x2,y\n0,0,0\n0,1,1\n\n1,0,1\n1,1,0\n")
    assert d.columns == ["x1", "x2", "y"] and len(d) == 4
    assert d.rows[1] == [0.0, 1.0, 1.0]
    assert len(read_csv(XOR_CSV)) == 40


@pytest.mark.parametrize(("raw", "message"), [
    ("", "empty"),
    ("x,y\n", "no rows"),
    ("x,y\n1,2,3\n", "line 2: 3 cells"),
    ("x,y\n1,nan\n", "line 2: 'nan' is not a finite number"),
    ("x,y\n1,1e999\n", "not a finite number"),
    ("x,x\n1,2\n", "appears twice"),
])
def test_bad_csv(raw: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_csv(raw, "d.csv")


def test_full_batch_step_by_hand() -> None:
    # Two rows (x, y) = (1, 3), (2, 5); w = b = 0, eta = 0.1, one full batch per epoch.
    # per-row gradients of (w x + b - y)^2: dw = 2(wx+b-y)x, db = 2(wx+b-y)
    #   row 1: r = -3: dw = -6,  db = -6;   row 2: r = -5: dw = -20, db = -10
    #   mean: dw = -13, db = -8  ->  w = 1.3, b = 0.8
    data = Dataset(["x", "y"], [[1.0, 3.0], [2.0, 5.0]])
    r = fit(LINE, data, at={"w": 0, "b": 0}, lr=0.1, epochs=1, batch_size=2)
    assert r.final == {"w": pytest.approx(1.3), "b": pytest.approx(0.8)}
    assert r.history[0].train_loss == pytest.approx((9 + 25) / 2)
    # loss after: rows give (1.3+0.8-3)^2 = 0.81 and (2.6+0.8-5)^2 = 2.56
    assert r.history[1].train_loss == pytest.approx((0.81 + 2.56) / 2)


def test_linear_regression_recovers_the_line() -> None:
    r = fit(LINE, line_data(), at={"w": 0, "b": 0}, lr=0.02, epochs=400, batch_size=4)
    assert r.status == "finished"
    assert r.final == {"w": pytest.approx(2, abs=1e-3), "b": pytest.approx(1, abs=1e-3)}
    assert r.history[-1].updates == 400 * 2  # 8 rows in batches of 4: two updates per epoch


def test_epochs_visit_every_row_once_in_shuffled_order(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[list[float]] = []
    original = fit_module._Model.loss_grad

    def spy(self: fit_module._Model, theta: list[float],
            rows: list[list[float]]) -> tuple[float, list[float]]:
        batches.append([row[0] for row in rows])
        return original(self, theta, rows)

    monkeypatch.setattr(fit_module._Model, "loss_grad", spy)
    fit(LINE, line_data(10), at={"w": 0, "b": 0}, lr=0.001, epochs=3, batch_size=3, seed=1)
    assert [len(b) for b in batches] == [3, 3, 3, 1] * 3  # the last batch of an epoch is short
    epochs = [[x for b in batches[4 * e:4 * e + 4] for x in b] for e in range(3)]
    for rows in epochs:
        assert sorted(rows) == [float(i) for i in range(10)]  # without replacement
    assert epochs[0] != epochs[1] or epochs[1] != epochs[2]  # reshuffled each epoch


def test_val_split_holds_out_rows() -> None:
    r = fit(XOR_MLP, read_csv(XOR_CSV), init="random", seed=0, epochs=1, val_split=0.25)
    assert (r.n_train, r.n_val) == (30, 10)
    assert r.history[0].val_loss is not None


def test_early_stopping_restores_the_best_epoch() -> None:
    # Train on y = 0, validate on y = 1, loss (w - y)^2, w from 2, eta = 0.1, full batch:
    # w <- 0.8 w, so w = 2, 1.6, 1.28, 1.024, 0.8192, 0.65536, ...
    # val loss (w-1)^2 = 1, 0.36, 0.0784, 0.000576, 0.03272, 0.11878: best at epoch 3;
    # with patience 2 training stops after epoch 5 and restores w = 1.024.
    train = Dataset(["y"], [[0.0], [0.0]])
    val = Dataset(["y"], [[1.0]])
    r = fit("(w - y)^2", train, validation=val, at={"w": 2}, lr=0.1, epochs=50,
            batch_size=2, early_stopping=2)
    assert r.status == "early-stopped"
    assert [e.params["w"] for e in r.history] == pytest.approx(
        [2, 1.6, 1.28, 1.024, 0.8192, 0.65536])
    assert [e.val_loss for e in r.history][:4] == pytest.approx([1, 0.36, 0.0784, 0.000576])
    assert r.best_epoch == 3
    assert r.final == {"w": pytest.approx(1.024)}
    assert r.to_dict()["final_val_loss"] == pytest.approx(0.000576)


def test_xor_mlp_reaches_100_percent() -> None:
    # docs/guides/learning.md's example: the lecture's 2-2-1 MLP, unrolled, with Adam.
    r = fit(XOR_MLP, read_csv(XOR_CSV), init="random", seed=2, optimizer="adam", lr=0.1,
            epochs=150, batch_size=8, val_split=0.25, predict="yhat", target="y")
    assert r.status == "finished"
    assert r.parameters == ["w11", "w12", "b1", "w21", "w22", "b2", "v1", "v2", "c"]
    assert r.data_columns == ["x1", "x2", "y"]
    end = r.history[-1]
    assert end.train_accuracy == 1.0 and end.val_accuracy == 1.0
    assert end.train_loss < 0.01 < r.history[0].train_loss
    # The same seed gives the same run.
    again = fit(XOR_MLP, read_csv(XOR_CSV), init="random", seed=2, optimizer="adam", lr=0.1,
                epochs=3, batch_size=8, val_split=0.25)
    assert again.init == r.init


def test_diverging_fit() -> None:
    r = fit(LINE, line_data(), at={"w": 0, "b": 0}, lr=1.0, epochs=500, batch_size=8)
    assert r.status == "diverged" and r.exit_status == 1
    assert r.hint is not None and "lower --lr" in r.hint


@pytest.mark.parametrize(("kw", "message"), [
    ({}, "no starting value for parameters w, b"),
    ({"at": {"w": 0, "b": 0, "x": 1}}, "data column"),
    ({"at": {"w": 0, "b": 0, "q": 1}}, "does not use"),
    ({"init": "random", "early_stopping": 3}, "give --val-split"),
    ({"init": "random", "val_split": 1.0}, "fraction"),
    ({"init": "random", "predict": "yhat", "target": "y"}, "does not compute"),
    ({"init": "random", "predict": "f", "target": "z"}, "not a column"),
    ({"init": "random", "predict": "f"}, "go together"),
    ({"init": "normal"}, "--init"),
])
def test_fit_bad_input(kw: dict[str, object], message: str) -> None:
    with pytest.raises(InputError, match=message):
        fit(LINE, line_data(), **kw)  # type: ignore[arg-type]


# --- the command -------------------------------------------------------------------------

def test_cli_fit_xor_json(tmp_path: Path) -> None:
    svg = tmp_path / "xor.svg"
    r = runner.invoke(app, ["fit", "-", "--data", str(XOR_CSV), "--init", "random", "--seed",
                            "2", "--optimizer", "adam", "--lr", "0.1", "--epochs", "150",
                            "--batch-size", "8", "--val-split", "0.25", "--predict", "yhat",
                            "--target", "y", "--json", "--plot", str(svg)], input=XOR_MLP)
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["final_train_accuracy"] == 1.0 and doc["final_val_accuracy"] == 1.0
    assert len(doc["history"]) == 151 and set(doc["final"]) == set(doc["parameters"])
    assert svg.read_text().count("<polyline") == 3  # axes, training curve, validation curve


def test_cli_fit_table() -> None:
    r = runner.invoke(app, ["fit", LINE, "--data", str(XOR_CSV.parent / "line.csv"),
                            "--at", "w=0,b=0", "--lr", "0.02", "--epochs", "50",
                            "--val-split", "0.25", "--early-stopping", "5"])
    assert r.exit_code == 0, r.stderr
    assert "train loss" in r.stdout and "val loss" in r.stdout
    assert "parameters: w=" in r.stdout
    assert "early stopping" in r.stdout or "restored the best validation epoch" in r.stdout
    assert " * " in r.stdout or "* │" in r.stdout  # the best epoch is marked


def test_cli_fit_diverged_exit_1() -> None:
    r = runner.invoke(app, ["fit", LINE, "--data", str(XOR_CSV.parent / "line.csv"),
                            "--at", "w=0,b=0", "--lr", "5", "--epochs", "50"])
    assert r.exit_code == 1
    assert "diverged" in r.stdout and "lower --lr" in r.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--data", "missing.csv", "--at", "w=0,b=0"], "cannot read"),
    (["--data", "XOR", "--at", "w=0,b=0"], "no starting value for parameter x"),
    (["--data", "XOR", "--init", "random", "--val-split", "1.5"], "fraction"),
    (["--data", "XOR", "--init", "random", "--plot", "a.jpg"], ".svg or .png"),
])
def test_cli_fit_bad_input(args: list[str], message: str) -> None:
    args = [str(XOR_CSV) if a == "XOR" else a for a in args]
    r = runner.invoke(app, ["fit", LINE, *args])
    assert r.exit_code == 2
    assert message in r.stderr and "Traceback" not in r.stdout + r.stderr
