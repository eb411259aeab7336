"""Tables fit the terminal: at 60, 80, 100 and 120 columns every line fits, every table keeps
its borders, and every number of --json appears whole (never cut to `0.0077…`)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from rich.cells import cell_len

from backprop_cli.core.formatting import number, value, wrap_code

from .conftest import invoke

WIDTHS = (60, 80, 100, 120)
XOR = ["fit", "-", "--data", "examples/xor.csv", "--init", "random", "--seed", "2",
       "--optimizer", "adam", "--lr", "0.1", "--epochs", "30", "--batch-size", "8",
       "--val-split", "0.25", "--predict", "yhat", "--target", "y"]
EVALS = {
    "headline": ["eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4"],
    "neuron": ["eval", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"],
    "fan-out and kink": ["eval", "relu(x)*x + max(x, y)", "--at", "x=0,y=0"],
    "matrix": ["eval", "sum((W@x)^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--at",
               "x=[0.2,0.4]"],
    "vector upstream": ["eval", "relu(x)", "--at", "x=[1.23456,-2,3,-1]", "--upstream",
                        "[4,-1,5,9]"],
    "symbolic": ["eval", "sigmoid(w0*x0 + w1*x1 + w2)"],
    "long vector": ["eval", "sum(tanh(x)^2)", "--at",
                    "x=[0.0123456,-0.7654321,1.5,2.25,-3.125,0.333333,0.4,-0.5,0.6,0.77777]"],
    "wide matrix": ["eval", "sum((W@x)^2)", "--at",
                    "W=[[0.11,0.52,-0.33,0.44,0.55],[0.6,-0.7,0.8,0.9,1.1],[1.2,1.3,-1.4,1.5,1.6]]",
                    "--at", "x=[0.21,0.42,-0.63,0.84,1.05]"],
}
_NUM = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]\d+)?(?![\w.])")
_LEFT, _RIGHT = "┏┃┡│└├┌┗┠┢", "┓┃┩│┘┤┐┛┨┪"


def lines_fit(out: str, width: int) -> None:
    for line in out.splitlines():
        assert cell_len(line) <= width, f"{cell_len(line)} > {width}: {line!r}"


def borders_kept(out: str) -> None:
    """A line that starts a table row or rule also ends it with the right border."""
    for line in out.splitlines():
        s = line.rstrip()
        if s and s[0] in _LEFT:
            assert s[-1] in _RIGHT, f"lost its right border: {line!r}"


def numbers(v: Any) -> list[float]:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return []
    if isinstance(v, (int, float)):
        return [float(v)]
    if isinstance(v, list):
        return [x for item in v for x in numbers(item)]
    return []


def whole(out: str, wanted: list[float]) -> None:
    tokens = set(_NUM.findall(out))
    missing = [number(v) for v in wanted if number(v) not in tokens]
    assert not missing, f"not shown whole: {missing}\n{out}"


def _shown(v: Any) -> list[float]:
    """The numbers a table cell shows of ``v``: every one of a scalar or a small array, the
    entries formatting.value keeps of a big one (first ones and the last, by entries)."""
    if not isinstance(v, list):
        return numbers(v)
    return [float(t) for t in _NUM.findall(value(v).split(" ", 1)[-1] if len(v) > 4
                                            or (v and isinstance(v[0], list)
                                                and len(v[0]) > 4) else value(v))]


def _eval_numbers(doc: dict[str, Any]) -> list[float]:
    found: list[float] = []
    for node in doc["nodes"]:
        for key in ("value", "upstream"):
            found += _shown(node.get(key))
        for key in ("local", "downstream"):
            for item in node.get(key) or []:
                found += _shown(item)
    return found


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("name", list(EVALS))
def test_eval_tables_fit(name: str, width: int) -> None:
    args = EVALS[name]
    r = invoke(*args, "--width", str(width))
    assert r.code in (0, 1), r.output
    lines_fit(r.stdout, width)
    borders_kept(r.stdout)
    if "--at" in args:
        whole(r.stdout, _eval_numbers(json.loads(invoke(*args, "--json").stdout)))


@pytest.mark.parametrize("width", WIDTHS)
def test_fit_table_fits(width: int) -> None:
    mlp = open("examples/xor-mlp.txt", encoding="utf-8").read()
    r = invoke(*XOR, "--width", str(width), input=mlp)
    assert r.code == 0, r.output
    lines_fit(r.stdout, width)
    borders_kept(r.stdout)
    doc = json.loads(invoke(*XOR, "--json", "--max-rows", "100", input=mlp).stdout)
    epochs = {int(line.split("│")[1].strip(" *")) for line in r.stdout.splitlines()
              if line.startswith("│") and line.split("│")[1].strip(" *").isdigit()}
    shown = [e for e in doc["history"] if e["epoch"] in epochs]
    assert len(shown) >= 10
    whole(r.stdout, [x for e in shown for x in numbers([e["train_loss"], e["val_loss"]])])


@pytest.mark.parametrize("width", WIDTHS)
def test_descend_table_fits(width: int) -> None:
    args = ["descend", "(1-x)^2 + 100*(y-x^2)^2", "--at", "x=-1,y=1", "--optimizer", "adam",
            "--lr", "0.05", "--steps", "300"]
    r = invoke(*args, "--width", str(width))
    lines_fit(r.stdout, width)
    borders_kept(r.stdout)
    doc = json.loads(invoke(*args, "--json").stdout)
    whole(r.stdout, numbers([doc["trajectory"][-1]["loss"]]))


def test_check_report_fits() -> None:
    for width in WIDTHS:
        r = invoke("check", "examples/student-attempt.toml", "--width", str(width))
        lines_fit(r.stdout, width)
        borders_kept(r.stdout)


def test_headline_at_80_keeps_gate_patterns_whole() -> None:
    out = invoke(*EVALS["headline"], "--width", "80").stdout
    assert "gradient distributor" in " ".join(out.split())
    assert "swap multiplier" in " ".join(out.split())
    assert "local ∂…" not in out


def test_piped_default_is_120_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = invoke(*EVALS["headline"]).stdout  # 112 wide: the full layout, gate column and all
    assert re.search(r"gate pattern +┃", out)
    assert out == invoke(*EVALS["headline"], "--width", "120").stdout


def test_piped_lines_end_without_spaces() -> None:
    # rich pads centred captions and chart rows to the width; piped, nothing trails.
    for args in (EVALS["headline"], ["descend", "(w-3)^2", "--at", "w=0", "--max-rows", "4"]):
        out = invoke(*args).stdout
        assert out.strip() and all(line == line.rstrip() for line in out.splitlines()), out


def test_one_runs_width_is_not_the_next_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # In one process (a test, a notebook): --width of one command is forgotten by the next.
    monkeypatch.delenv("COLUMNS", raising=False)
    invoke(*EVALS["headline"], "--width", "60")
    assert invoke(*EVALS["headline"]).stdout == invoke(*EVALS["headline"], "--width", "120").stdout


def test_columns_is_honoured_and_width_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "70")
    lines_fit(invoke(*EVALS["headline"]).stdout, 70)
    assert not re.search(r"gate pattern +┃", invoke(*EVALS["headline"]).stdout)
    out = invoke(*EVALS["headline"], "--width", "100").stdout
    assert max(cell_len(line) for line in out.splitlines()) > 70


def test_width_below_the_minimum_is_bad_input() -> None:
    r = invoke(*EVALS["headline"], "--width", "10")
    assert r.code == 2


def test_long_vector_is_abbreviated_by_entries() -> None:
    text = value([0.123456789 * k for k in range(1, 11)])
    assert text == "10: [0.123457, 0.246914, …, 1.23457]"


def test_matrix_has_one_row_per_line() -> None:
    assert value([[1, 2], [3, 4]]) == "[[1, 2],\n [3, 4]]"


def test_wrap_code_breaks_after_operators_only() -> None:
    expr = "sigmoid(w0*x0 + w1*x1 + w2) + tanh(alpha_beta*gamma)"
    lines = wrap_code(expr, 12).split("\n")
    assert "".join(lines).replace(" ", "") == expr.replace(" ", "")
    for line in lines:
        assert len(line) <= 12 or "*" not in line
    assert "alpha_beta*" in lines or any(line.startswith("alpha_beta") for line in lines)


def test_wrap_code_keeps_derivative_names_and_unary_minus_whole() -> None:
    text = "∂/∂x_0 = 4*Heaviside(x_0, 0); ∂/∂x_1 = -Heaviside(x_1, 0)"
    for width in range(8, 30):
        lines = wrap_code(text, width).split("\n")
        assert not any(line.endswith("∂/") or line.endswith("= -") for line in lines), lines


@pytest.mark.parametrize("width", WIDTHS)
def test_answers_table_fits_and_keeps_answers_whole(width: int) -> None:
    r = invoke("eval", "q = W@x; f = sum(q^2)", "--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--at",
               "x=[0.2,0.4]", "--expect",
               "q=[0.22,0.26], dW=[[0.088,0.104],[0.176,0.208]], dx=[-0.112,0.636,0]",
               "--width", str(width))
    assert r.code == 1, r.output
    lines_fit(r.stdout, width)
    borders_kept(r.stdout)
    table = r.stdout.split("Your answers", 1)[1]
    for written in ("[0.22, 0.26]", "[[0.088, 0.104], [0.176, 0.208]]", "[-0.112, 0.636, 0]"):
        assert written in table or all(p in table for p in written.split())
    whole(table, [0.088, 0.104, 0.176, 0.208, -0.112, 0.636])
