"""`backprop replay`: the HTML page itself, without a browser (tests/test_replay_browser.py
drives it in Chromium)."""

from __future__ import annotations

import itertools
import json
import os
import re
from pathlib import Path

import pytest

from backprop_cli import evaluate
from backprop_cli.core.errors import InputError
from backprop_cli.core.fileio import write_atomic
from backprop_cli.views import replay as rp
from backprop_cli.views.names import short_names
from backprop_cli.views.steps import backward_steps, forward_steps, render_lines

from .conftest import assert_bad_input, invoke

LECTURE = ("(x+y)*z", "x=-2,y=5,z=-4")
NEURON = ("sigmoid(w0*x0 + w1*x1 + w2)", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3")
HOSTILE = "(x+y)*z # </script><script>window.pwned=1</script><img src=x onerror=alert(1)> &amp;"


def page(expr: str, at: str, **kw: object) -> str:
    return rp.replay_html(evaluate(expr, at=at, **kw))  # type: ignore[arg-type]


def data(html: str) -> dict:  # type: ignore[type-arg]
    m = re.search(r'<script type="application/json" id="replay-data">(.*?)</script>', html,
                  re.S)
    assert m is not None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def test_the_page_loads_nothing_from_elsewhere() -> None:
    html = page(*NEURON, expand=True)
    assert not re.search(r"https?:", html)
    assert not re.search(r"""\ssrc\s*=""", html)
    # The only links: the page's own steps (#step-N) and the SVG's own marker.
    assert set(re.findall(r"""href="([^"]*)\"""", html)) == {"#step-0"}
    assert set(re.findall(r"url\(([^)]*)\)", html)) == {"#arrow"}
    assert "default-src 'none'" in html  # and the browser is told to refuse any request


def test_the_captions_are_the_lines_of_backprop_steps() -> None:
    for expr, at in (LECTURE, NEURON, ("x*y + x", "x=3,y=2"),
                     ("sum((W@x)^2)", "W=[[0.1,0.5],[-0.3,0.8]] x=[0.2,0.4]")):
        r = evaluate(expr, at=at, check=())
        shown = [line for stage in data(rp.replay_html(r))["steps"] for line in stage["caption"]]
        names, _ = short_names(r)  # long unnamed gates are g1, g2, ... on the page
        want = [t for _, t in render_lines(r, backward_steps(r, names=names),
                                           forward_steps(r, names)) if t]
        assert shown == want, expr


def test_a_long_unnamed_gate_is_a_short_label_with_its_text_on_hover() -> None:
    r = evaluate("sigmoid(w0*x0 + w1*x1 + w2)", at="w0=2,x0=-1,w1=-3,x1=-2,w2=-3", check=())
    doc = data(rp.replay_html(r))
    assert doc["labels"] == {"g1": "(w0*x0 + w1*x1)", "g2": "(w0*x0 + w1*x1 + w2)"}
    captions = "\n".join(line for stage in doc["steps"] for line in stage["caption"])
    assert "∂f/∂g2 = 0.196612" in captions and "(w0*x0 + w1*x1 + w2)" not in captions
    named = evaluate("q = w0*x0 + w1*x1 + w2; f = sigmoid(q)",
                     at="w0=2,x0=-1,w1=-3,x1=-2,w2=-3", check=())
    assert data(rp.replay_html(named))["labels"] == {"g1": "(w0*x0 + w1*x1)"}  # q stays q


def test_one_step_per_gate_forward_then_backward() -> None:
    r = evaluate(*NEURON, check=(), expand=True)
    steps = data(rp.replay_html(r))["steps"]
    kinds = [s["kind"] for s in steps]
    fwd, back = forward_steps(r), backward_steps(r)
    assert kinds == ["start"] + ["forward"] * len(fwd) + [s.kind for s in back]
    gates = [n.id for n in r.graph.nodes if n.inputs]
    assert [s["node"] for s in steps[1:1 + len(fwd)]] == [f"n{g}" for g in gates]
    assert [s["node"] for s in steps[1 + len(fwd):]] == [f"n{g}" for g in reversed(gates)]


def test_a_fan_out_step_lights_each_branch_and_writes_their_sum() -> None:
    r = evaluate("x*y + x", at="x=3,y=2", check=())
    d = rp.replay_data(r)
    fan = [k for k, s in enumerate(d.stages) if s.kind == "fan-out"]
    assert len(fan) == 1
    stage = d.stages[fan[0]]
    assert stage.node == "n0" and len(stage.wires) == 2
    assert all(d.circuit.wires[w].source == "n0" for w in stage.wires)
    assert d.sum_from["n0"] == (fan[0], "Σ 2 branches = 3")


def test_values_show_from_their_forward_step_and_gradients_from_their_backward_step() -> None:
    d = rp.replay_data(evaluate(*LECTURE, check=()))
    by_node = {s.node: k for k, s in enumerate(d.stages) if s.kind == "gate"}
    for k, w in enumerate(d.circuit.wires):
        if w.source in ("n0", "n1", "n3"):  # inputs: known from the start
            assert d.value_from[k] == 0
        if w.target == "out":
            assert d.grad_from[k] == by_node[w.source]  # the seed, at the first gate step
        else:
            assert d.grad_from[k] == by_node[w.target]


def test_hostile_text_is_escaped_everywhere() -> None:
    html = page(HOSTILE, LECTURE[1])
    assert "<script>window.pwned" not in html and "<img" not in html
    assert "&lt;/script&gt;&lt;script&gt;window.pwned=1" in html  # the title and heading
    blob = re.search(r'id="replay-data">(.*?)</script>', html, re.S)
    assert blob is not None and "<" not in blob.group(1) and "&" not in blob.group(1)
    assert html.count("<script") == 2  # the data block and the page's own script


def test_script_json_escapes_what_a_script_element_would_misread() -> None:
    text = rp.script_json({"a": "</script><!-- & \u2028\u2029"})
    assert not set(text) & {"<", ">", "&", "\u2028", "\u2029"}
    assert json.loads(text) == {"a": "</script><!-- & \u2028\u2029"}


def test_inputs_on_the_left_the_output_on_the_right_and_every_wire_runs_rightward() -> None:
    d = rp.replay_data(evaluate(*NEURON, check=(), expand=True))
    xs = {pid: b.x for pid, b in d.boxes.items()}
    inputs = [pid for pid, b in d.boxes.items() if b.part.kind == "input"]
    assert max(xs[i] for i in inputs) < min(x for pid, x in xs.items() if pid not in inputs)
    assert xs["out"] == max(xs.values())
    assert all(xs[w.source] < xs[w.target] for w in d.circuit.wires)


def test_parts_of_one_column_do_not_overlap() -> None:
    d = rp.replay_data(evaluate("x*x + 2*x + x*y*z + exp(y)", at="x=3,y=2,z=1", check=()))
    cols: dict[float, list[float]] = {}
    for b in d.boxes.values():
        cols.setdefault(b.x, []).append(b.y)
    for ys in cols.values():
        ys.sort()
        assert all(b - a >= 2 * rp.GATE_R for a, b in itertools.pairwise(ys))


def test_arrays_show_small_matrices_and_shapes_on_the_wires() -> None:
    html = page("sum((W@x)^2)", "W=[[0.1,0.5],[-0.3,0.8]] x=[0.2,0.4]")
    assert ">shape 2×2<" in html and ">shape 2<" in html
    assert ">[[0.1, 0.5],<" in html and "> [-0.3, 0.8]]<" in html  # one line per row
    assert ">[-0.112, 0.636]<" in html  # the gradient of x


def test_a_deep_chain_is_laid_out_without_recursion() -> None:
    expr = "x" + "*1.001" * 900
    d = rp.replay_data(evaluate(expr, at="x=1", check=()))
    assert len(d.stages) == 1 + 900 + 900
    assert d.boxes["out"].x > d.boxes["n0"].x


def test_too_big_for_a_page_is_one_clear_error() -> None:
    expr = "+".join(f"x{i}" for i in range(rp.MAX_NODES + 1))
    at = ",".join(f"x{i}=1" for i in range(rp.MAX_NODES + 1))
    with pytest.raises(InputError, match="too many for the replay page"):
        rp.replay_data(evaluate(expr, at=at, check=()))


def test_the_page_says_what_was_proved() -> None:
    assert "proved by sympy" in page(*LECTURE)
    assert "Gradients not checked (--check none)" in page(*LECTURE, check=())


def test_cli_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "replay.html"
    r = invoke("replay", LECTURE[0], "--at", LECTURE[1], "-o", str(out))
    assert r.code == 0, r.output
    assert "wrote" in r.stderr
    assert data(out.read_text(encoding="utf-8"))["steps"][0]["kind"] == "start"


def test_cli_stdout_with_dash() -> None:
    r = invoke("replay", LECTURE[0], "--at", LECTURE[1], "-o", "-", "--check", "none")
    assert r.code == 0 and r.stdout.startswith("<!DOCTYPE html>")


def test_graph_html_is_the_replay_page(tmp_path: Path) -> None:
    replay, by_suffix = tmp_path / "replay.html", tmp_path / "page.html"
    at = ["--at", LECTURE[1], "--expand"]
    assert invoke("replay", LECTURE[0], *at, "-o", str(replay)).code == 0
    assert invoke("graph", LECTURE[0], *at, "-o", str(by_suffix)).code == 0
    by_flag = invoke("graph", LECTURE[0], *at, "--format", "html")
    assert by_flag.code == 0, by_flag.output
    assert by_suffix.read_text(encoding="utf-8") == replay.read_text(encoding="utf-8")
    assert by_flag.stdout == replay.read_text(encoding="utf-8")


def test_cli_without_values_is_bad_input(tmp_path: Path) -> None:
    assert_bad_input(invoke("replay", "(x+y)*z", "-o", str(tmp_path / "r.html")), "x")


def test_cli_unwritable_path_is_one_line_and_exit_2(tmp_path: Path) -> None:
    err = assert_bad_input(invoke("replay", LECTURE[0], "--at", LECTURE[1], "-o",
                                  str(tmp_path / "no" / "such" / "r.html")), "cannot write")
    assert len(err.strip().splitlines()) == 1


def test_an_interrupted_write_leaves_no_half_file(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "replay.html"
    target.write_text("old page")

    def interrupted(src: str, dst: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(str(target), b"new page", where="-o")
    assert target.read_text() == "old page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["replay.html"]


def test_a_long_wire_runs_in_its_own_slot_through_the_columns_it_crosses() -> None:
    # w2 joins two columns later than w0*x0 and w1*x1: its wire crosses the * column.
    d = rp.replay_data(evaluate(*NEURON, check=()))
    w2 = next(k for k, w in enumerate(d.circuit.wires)
              if d.boxes[w.source].part.label == "w2")
    crossed = d.boxes[d.circuit.wires[w2].target].layer - 1
    assert len(d.points[w2]) == crossed
    for x, y, _ in d.points[w2]:
        parts = [b for b in d.boxes.values() if b.x == x]
        assert parts and all(abs(b.y - y) > rp.GATE_R for b in parts)


def _contrast(hex_colour: str) -> float:
    """WCAG contrast ratio of a colour against white."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    lum = 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)
    return 1.05 / (lum + 0.05)


def test_text_colours_have_enough_contrast_on_white() -> None:
    css = (Path(rp.__file__).parent / "assets" / "replay.css").read_text(encoding="utf-8")
    colours = set(re.findall(r"(?<![-\w])(?:color|fill):\s*(#[0-9a-fA-F]{6})", css))
    colours |= set(rp._FILL.values())
    assert {"#1a7f37", "#cf222e"} <= colours  # values green, gradients red
    for colour in colours - {"#ffffff", "#f6f8fa", "#ddf4ff", "#eaeef2"}:  # backgrounds
        assert _contrast(colour) >= 4.5, colour


def test_unicode_names_and_an_upstream_seed() -> None:
    r = evaluate("α*β + exp(α)", at="α=1,β=2", upstream=2.0, check=())
    html = rp.replay_html(r)
    assert ">α<" in html and ">β<" in html  # the inputs' labels in the circuit
    captions = "\n".join(line for s in data(html)["steps"] for line in s["caption"])
    assert "∂f/∂f = 2 (the seed at the output)" in captions
    assert "upstream seed: 2" in html
