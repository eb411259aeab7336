"""`fit` keeps a bounded history however many epochs (as `descend` keeps a bounded
trajectory): every ``trajectory_stride``-th epoch, the best validation epoch and the last."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.learn import fit as fit_module
from backprop_cli.learn.fit import Dataset, fit

LINE = "(w*x + b - y)^2"
runner = CliRunner()


def one_row() -> Dataset:
    return Dataset(["x", "y"], [[1.0, 3.0]])


def test_long_fit_keeps_a_bounded_history() -> None:
    epochs = 4500  # over 2 * HISTORY_KEEP (2,000): the stride doubles twice
    r = fit(LINE, one_row(), at={"w": 0, "b": 0}, lr=1e-4, epochs=epochs, batch_size=1)
    assert r.status == "finished"
    assert len(r.history) <= 2 * fit_module.HISTORY_KEEP
    assert r.stride == 4
    assert r.history[0].epoch == 0 and r.history[-1].epoch == epochs
    assert all(e.epoch % r.stride == 0 for e in r.history[:-1])
    assert r.to_dict()["epochs"] == epochs and r.to_dict()["trajectory_stride"] == 4


def test_the_best_epoch_survives_striding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit_module, "HISTORY_KEEP", 4)
    # The validation row pulls the other way from the training row: its loss falls, then
    # rises, so early stopping restores an epoch that is not a multiple of the stride.
    data = Dataset(["x", "y"], [[1.0, 3.0]])
    val = Dataset(["x", "y"], [[1.0, 0.7]])
    r = fit(LINE, data, validation=val, at={"w": 0, "b": 0}, lr=0.01, epochs=400,
            batch_size=1, early_stopping=1000)
    assert len(r.history) <= 2 * 4 + 1  # the best one may be held beside the others
    assert r.best_epoch is not None and r.best_epoch % r.stride != 0
    kept = [e for e in r.history if e.epoch == r.best_epoch]
    assert len(kept) == 1 and r.final == kept[0].params


def test_cli_fit_json_reports_the_stride(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fit_module, "HISTORY_KEEP", 5)
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,3\n2,5\n")
    r = runner.invoke(app, ["fit", LINE, "--data", str(csv), "--at", "w=0,b=0", "--lr",
                            "0.001", "--epochs", "100", "--json"])
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["epochs"] == 100 and doc["trajectory_stride"] == 16
    assert len(doc["history"]) <= 10 and doc["history"][-1]["epoch"] == 100
