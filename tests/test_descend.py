"""`descend` and `backprop descend`: stopping, divergence, the trajectory, tables and pictures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.errors import DomainError, InputError
from backprop_cli.learn.descend import descend
from backprop_cli.learn.plot import sample

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def run_cli(*args: str) -> tuple[int, str, str]:
    r = runner.invoke(app, list(args))
    return r.exit_code, r.stdout, r.stderr


def test_stops_on_tol() -> None:
    run = descend("(w-3)^2", {"w": 0}, lr=0.1, steps=1000, tol=1e-4)
    assert run.status == "converged"
    last = run.trajectory[-1]
    assert last.grad_norm <= 1e-4 < run.trajectory[-2].grad_norm
    assert last.step < 1000 and last.step == len(run.trajectory) - 1


def test_finishes_without_converging() -> None:
    run = descend("(w-3)^2", {"w": 0}, lr=0.01, steps=5, tol=1e-9)
    assert run.status == "finished" and len(run.trajectory) == 6
    assert run.exit_status == 0


def test_zero_steps_reports_the_start() -> None:
    run = descend("(w-3)^2", {"w": 0}, steps=0)
    assert [s.params for s in run.trajectory] == [{"w": 0.0}]
    assert run.trajectory[0].loss == 9 and run.trajectory[0].grad_norm == 6


def test_lr_too_big_diverges_with_a_hint() -> None:
    # w <- w - 1.5*2w = -2w: the loss quadruples each step.
    run = descend("w^2", {"w": 1}, lr=1.5, steps=1000)
    assert run.status == "diverged" and run.exit_status == 1
    losses = [s.loss for s in run.trajectory]
    assert losses[:4] == [1, 4, 16, 64]
    assert len(losses) < 50  # caught long before the float overflows
    assert run.hint is not None and "lower --lr" in run.hint


def test_lr_at_the_edge_oscillates_but_does_not_diverge() -> None:
    # lr = 1 on w^2: w <- -w forever, the loss stays 1.
    run = descend("w^2", {"w": 1}, lr=1.0, steps=20)
    assert run.status == "finished"
    assert {s.loss for s in run.trajectory} == {1.0}


def test_leaving_the_domain_mid_run_is_divergence() -> None:
    # sqrt(w) from w = 1 with eta 4: w = 1 - 4*0.5 = -1, where sqrt has no value.
    run = descend("sqrt(w)", {"w": 1}, lr=4, steps=10)
    assert run.status == "diverged"
    assert "step 1" in run.message and "sqrt" in run.message
    assert len(run.trajectory) == 1


def test_domain_error_at_the_start_is_bad_input() -> None:
    with pytest.raises(DomainError):
        descend("log(w)", {"w": -1}, steps=3)


def test_unbounded_below_says_so() -> None:
    run = descend("-w^2", {"w": 1}, lr=0.1, steps=1000)
    assert run.status == "diverged"
    assert "falling" in run.message or "fallen" in run.message
    assert run.hint is not None and "no minimum" in run.hint


def test_wrt_subset_keeps_the_others_fixed() -> None:
    run = descend("(w-a)^2", "w=0,a=2", wrt=["w"], lr=0.25, steps=50)
    assert run.final == {"w": pytest.approx(2)}
    assert run.fixed == {"a": 2}
    with pytest.raises(InputError, match="not an input"):
        descend("(w-a)^2", "w=0,a=2", wrt=["v"])


def test_json_document_has_the_whole_trajectory() -> None:
    doc = descend("(w0-1)^2 + (w1+1)^2", "w0=0,w1=0", lr=0.5, steps=10).to_dict()
    assert doc["status"] == "converged"
    assert doc["final"] == {"w0": pytest.approx(1), "w1": pytest.approx(-1)}
    assert [r["step"] for r in doc["trajectory"]] == list(range(len(doc["trajectory"])))
    assert set(doc["trajectory"][0]) == {"step", "lr", "loss", "grad_norm", "params"}


def test_the_expression_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from backprop_cli.learn import descend as module

    calls: list[str] = []
    original = module.parse

    def counting(text: str, bound: object = ()) -> object:
        calls.append(text)
        return original(text, bound)  # type: ignore[arg-type]

    monkeypatch.setattr(module, "parse", counting)
    run = module.descend("(w-3)^2", {"w": 0}, steps=50, tol=0)
    assert len(run.trajectory) == 51 and calls == ["(w-3)^2"]


def test_sample_keeps_first_and_last() -> None:
    assert sample(5, 10) == [0, 1, 2, 3, 4]
    rows = sample(1001, 20)
    assert rows[0] == 0 and rows[-1] == 1000 and len(rows) == 20


# --- the command -------------------------------------------------------------------------

def test_cli_table_and_chart() -> None:
    code, out, _ = run_cli("descend", "(w-3)^2", "--at", "w=0", "--optimizer", "nesterov",
                           "--steps", "500", "--max-rows", "8")
    assert code == 0
    assert "step" in out and "learning rate" in out and "‖gradient‖" in out
    assert "converged at step" in out and "final: w=3" in out
    assert "8 of " in out  # sampled
    assert any("\u2800" < ch <= "\u28ff" for ch in out)  # the braille loss chart


def test_cli_json_and_exit_codes() -> None:
    code, out, _ = run_cli("descend", "(w-3)^2", "--at", "w=0", "--optimizer", "momentum",
                           "--momentum", "0.5", "--steps", "3", "--tol", "0", "--json")
    assert code == 0
    doc = json.loads(out)
    # v = 0.5v + 0.1g: w1 = 0.6; v2 = -0.3 - 0.48 = -0.78, w2 = 1.38
    assert [r["params"]["w"] for r in doc["trajectory"]][:3] == pytest.approx([0, 0.6, 1.38])
    assert doc["optimizer"] == {"name": "momentum", "momentum": 0.5}
    assert doc["final"]["w"] == doc["trajectory"][-1]["params"]["w"]


def test_cli_diverged_exit_1_with_hint() -> None:
    code, out, _ = run_cli("descend", "w^2", "--at", "w=1", "--lr", "1.5")
    assert code == 1
    assert "diverged" in out and "lower --lr" in out


def test_cli_json_of_a_diverged_run_is_valid_json() -> None:
    code, out, _ = run_cli("descend", "sqrt(w)", "--at", "w=1", "--lr", "4", "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["status"] == "diverged" and doc["hint"]


@pytest.mark.parametrize(("args", "message"), [
    (["(w-3)^2"], "starting point"),
    (["(w-3)^2", "--at", "w=0", "--optimizer", "adamw"], "unknown optimizer"),
    (["(w-3)^2", "--at", "w=0", "--decay", "exp"], "--decay"),
    (["(w-3)^2", "--at", "w=0", "--lr", "-1"], "--lr"),
    (["(w-3)^2", "--at", "w=0", "--lr", "nan"], "not a finite number"),
    (["(w-3)^2", "--at", "w=0", "--wrt", "v"], "not an input"),
    (["(w-3)^2", "--at", "w=0", "--plot", "loss.txt"], ".svg or .png"),
    (["log(w)", "--at", "w=0"], "domain error"),
    (["(w-3", "--at", "w=0"], "syntax error"),
])
def test_cli_bad_input_exit_2(args: list[str], message: str) -> None:
    code, out, err = run_cli("descend", *args)
    assert code == 2
    assert message in err
    assert "Traceback" not in out + err


def test_cli_svg_plot(tmp_path: Path) -> None:
    svg = tmp_path / "loss.svg"
    code, _, err = run_cli("descend", "(w-3)^2", "--at", "w=0", "--plot", str(svg))
    assert code == 0 and "written" in err
    root = ET.parse(svg).getroot()
    lines = root.findall("{http://www.w3.org/2000/svg}polyline")
    # the axes and the loss curve, with one point per step
    curve = [p for p in lines if p.get("stroke") != "black"]
    assert len(curve) == 1
    assert len(curve[0].get("points", "").split()) > 10


def test_cli_png_without_matplotlib_is_exit_2(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    code, _, err = run_cli("descend", "(w-3)^2", "--at", "w=0", "--plot",
                           str(tmp_path / "loss.png"))
    assert code == 2
    assert "matplotlib" in err and ".svg" in err
    assert not (tmp_path / "loss.png").exists()


def test_cli_png_plot_with_matplotlib(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    png = tmp_path / "loss.png"
    code, _, _ = run_cli("descend", "(w-3)^2", "--at", "w=0", "--plot", str(png))
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_real_subprocess() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "backprop_cli", "descend", "(w0-1)^2 + 10*(w1+2)^2",
         "--at", "w0=4,w1=3", "--optimizer", "adam", "--lr", "0.1", "--steps", "3000",
         "--json"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["status"] == "converged"
    assert doc["final"] == {"w0": pytest.approx(1, abs=1e-5), "w1": pytest.approx(-2, abs=1e-5)}
    bad = subprocess.run([sys.executable, "-m", "backprop_cli", "descend", "w^2", "--at", "w=1",
                          "--lr", "1.5"], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=120)
    assert bad.returncode == 1 and "lower --lr" in bad.stdout
