"""examples/backprop.ipynb runs top to bottom in a real kernel, and shows the lecture's numbers.

Needs the `notebook` extra (nbclient, ipykernel, nbformat: `pip install -e '.[notebook]'`);
skipped, saying so, without it. The expected numbers come from `evaluate` in this process,
not from the notebook's saved state (it is saved without outputs).
"""

from __future__ import annotations

import html
import math
import re
from pathlib import Path
from typing import Any

import pytest

from backprop_cli import evaluate

nbformat = pytest.importorskip("nbformat", reason="the notebook extra is not installed: "
                               "pip install -e '.[notebook]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook extra is not installed: "
                               "pip install -e '.[notebook]'")
pytest.importorskip("ipykernel", reason="no ipykernel: pip install -e '.[notebook]'")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "backprop.ipynb"


@pytest.fixture(scope="module")
def cells() -> dict[str, dict[str, Any]]:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()
    return {c.metadata["tags"][0]: c for c in nb.cells if c.cell_type == "code"}


def text(cell: dict[str, Any]) -> str:
    return "".join(o.get("text", "") for o in cell["outputs"] if o["output_type"] == "stream")


def rich(cell: dict[str, Any]) -> str:
    out = [o for o in cell["outputs"] if o["output_type"] == "execute_result"]
    assert out, cell["outputs"]
    return str(out[0]["data"]["text/html"])


def numbers(s: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?", s)]


def test_no_cell_fails(cells: dict[str, dict[str, Any]]) -> None:
    for tag, cell in cells.items():
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"], tag


def test_the_simple_example_prints_the_lecture_numbers(cells: dict[str, dict[str, Any]]) -> None:
    r = evaluate("q = x + y; f = q * z", at="x=-2,y=5,z=-4", check=())
    printed = text(cells["simple-numbers"])
    assert f"f = {r.value}" in printed
    assert str(r.gradients) in printed  # {'x': -4.0, 'y': -4.0, 'z': 3.0}


def test_the_simple_result_shows_its_table_and_circuit(cells: dict[str, dict[str, Any]]) -> None:
    page = rich(cells["simple"])
    assert "<table" in page and "<svg" in page and "proved by sympy" in page
    assert ">-12<" in page and ">-4<" in page and ">3<" in page


def test_the_neuron_rounds_to_the_slide(cells: dict[str, dict[str, Any]]) -> None:
    r = evaluate("sigmoid(w0*x0 + w1*x1 + w2)", at="w0=2,x0=-1,w1=-3,x1=-2,w2=-3", check=())
    printed = text(cells["neuron-numbers"])
    assert f"f = {round(r.value or 0, 2)}" in printed
    want = {name: round(g, 2) for name, g in (r.gradients or {}).items()}
    assert str(want) in printed  # {'w0': -0.2, 'x0': 0.39, ...}, as on the slide


def test_the_patterns(cells: dict[str, dict[str, Any]]) -> None:
    printed = text(cells["patterns"])
    for expr, at, up in (("x + y", "x=3,y=-4", 2.0), ("x * y", "x=3,y=-4", 2.0),
                         ("max(z, w)", "z=2,w=-1", 2.0), ("x * x", "x=3", 1.0)):
        assert str(evaluate(expr, at=at, upstream=up, check=()).gradients) in printed, expr


def test_each_replay_is_shown_inline(cells: dict[str, dict[str, Any]]) -> None:
    for tag in ("simple-replay", "neuron-replay", "fan-out-replay", "arrays-replay"):
        page = rich(cells[tag])
        assert page.startswith("<iframe ") and 'sandbox="allow-scripts"' in page, tag
        inner = html.unescape(page.split('srcdoc="', 1)[1].split('"', 1)[0])
        assert 'id="replay-data"' in inner and "<svg" in inner, tag


def test_the_answers_and_the_problem_set(cells: dict[str, dict[str, Any]]) -> None:
    assert "1 of 3 answers wrong" in rich(cells["answers"])
    report = rich(cells["problems"])
    m = re.search(r"(\d+) passed, (\d+) failed", report)
    assert m is not None and int(m.group(1)) > 10 and m.group(2) == "0"


def test_the_arrays_show_the_slide_gradients(cells: dict[str, dict[str, Any]]) -> None:
    page = " ".join(rich(cells["arrays"]).split())
    r = evaluate("sum((W@x)^2)", at="W=[[0.1,0.5],[-0.3,0.8]] x=[0.2,0.4]", check=())
    for name, g in (r.gradients or {}).items():
        flat = [v for row in g for v in row] if isinstance(g[0], list) else g  # type: ignore[index]
        for v in flat:
            assert any(math.isclose(v, n, rel_tol=1e-3) for n in numbers(page)), (name, v)
