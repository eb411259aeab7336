"""The replay page in a real browser: headless Chromium (Debian's `chromium` package) driven by
Playwright. Each page is opened from disk; any console error, page error or network request
fails the test. The numbers in each caption are compared with `backprop eval --json`.

Skipped, saying why, where Playwright for Python or /usr/bin/chromium is missing
(`pip install -e '.[browser]'`, `apt-get install chromium`; .ci/run installs both).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import CHROMIUM, invoke, playwright_or_skip

sync_api = playwright_or_skip()

LECTURE = ("(x+y)*z", ["--at", "x=-2,y=5,z=-4"])
NEURON = ("sigmoid(w0*x0 + w1*x1 + w2)", ["--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3", "--expand"])
ARRAYS = ("sum((W@x)^2)", ["--at", "W=[[0.1,0.5],[-0.3,0.8]]", "--at", "x=[0.2,0.4]"])
FAN_OUT = ("x*y + x", ["--at", "x=3,y=2"])
CASES = {"lecture": LECTURE, "neuron": NEURON, "arrays": ARRAYS, "fan-out": FAN_OUT}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM)
        except Exception as exc:  # a broken install: say so rather than fail every test
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        yield b
        b.close()


class Page:
    """One page opened from disk, recording whatever should never happen."""

    def __init__(self, browser: Any, path: Path, fragment: str = "") -> None:
        self.problems: list[str] = []
        self.page = browser.new_page()
        self.page.on("console", lambda m: self.problems.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith("file://")
                     else self.problems.append(f"request: {r.url}"))
        self.page.goto(path.as_uri() + fragment)

    def press(self, key: str, times: int = 1) -> None:
        for _ in range(times):
            self.page.keyboard.press(key)

    def caption(self) -> str:
        return str(self.page.text_content("#caption"))

    def active(self) -> list[str]:
        return list(self.page.eval_on_selector_all(".part.active", "els => els.map(e => e.id)"))

    def step(self) -> int:
        return int(str(self.page.input_value("#slider")))

    def close(self) -> None:
        self.page.close()
        assert self.problems == []


def make(tmp_path: Path, expr: str, args: list[str]) -> tuple[Path, dict[str, Any]]:
    out = tmp_path / "replay.html"
    r = invoke("replay", expr, *args, "-o", str(out))
    assert r.code == 0, r.output
    doc = invoke("eval", expr, *args, "--json")
    assert doc.code == 0, doc.output
    return out, json.loads(doc.stdout)


def numbers(text: str) -> list[float]:
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def flat(v: Any) -> list[float]:
    out: list[float] = []
    stack = [v]
    while stack:
        x = stack.pop()
        if isinstance(x, list):
            stack.extend(reversed(x))
        else:
            out.append(float(x))
    return out


def close(got: list[float], want: list[float]) -> bool:
    # Captions round: six significant digits for scalars, three for arrays.
    return len(got) == len(want) and all(
        math.isclose(g, w, rel_tol=5e-3, abs_tol=5e-4) for g, w in zip(got, want))


def result_of(line: str) -> list[float]:
    """The numbers after a caption line's last `=` (its shape note and gate label cut)."""
    tail = line.rsplit(" = ", 1)[1]
    return numbers(re.split(r"\s{3}[(\[]", tail)[0])


def check_caption(caption: str, node: dict[str, Any], forward: bool,
                  consts: set[str]) -> None:
    """The caption's numbers are the node's numbers in `--json`."""
    lines = caption.splitlines()
    if forward:
        line = next(t for t in lines if t.startswith("Forward step"))
        assert close(result_of(line), flat(node["value"])), (line, node["value"])
        return
    if node["op"] == "var":  # a fan-out: the branches add to the input's gradient
        line = next(t for t in lines if "the branches add" in t)
        assert close(result_of(line), flat(node["upstream"])), (line, node["upstream"])
        branches = [g["gradient"] for g in node["fan_out"]]
        shown = [result_of("x = " + t.split(": ", 1)[1]) for t in lines if "branch from" in t]
        assert sorted(map(tuple, shown)) == sorted(map(tuple, map(flat, branches)))
        return
    downs = [t for t in lines if t.startswith("  downstream to ")]
    want = [flat(d) for d, name in zip(node["downstream"], node["inputs"])
            if d is not None and name not in consts]  # constants need no gradient
    got = [result_of(t) for t in downs]
    assert len(got) == len(want) and all(close(g, w) for g, w in zip(got, want)), \
        (downs, node["downstream"])
    up = next(t for t in lines if "upstream gradient arriving" in t)
    assert close(numbers(up.split(" = ")[-1].split(" (")[0]), flat(node["upstream"])), up


@pytest.mark.parametrize("case", list(CASES))
def test_each_step_highlights_its_gate_and_captions_its_numbers(
        browser: Any, tmp_path: Path, case: str) -> None:
    expr, args = CASES[case]
    path, doc = make(tmp_path, expr, args)
    nodes = {f"p-n{n['id']}": n for n in doc["nodes"]}
    gates = [n for n in doc["nodes"] if n["inputs"]]
    consts = {n["label"] for n in doc["nodes"] if n["op"] == "const"}
    page = Page(browser, path)
    assert page.active() == [] and "Forward pass" in page.caption()
    k = 0
    seen_backward = 0
    while True:
        page.press("ArrowRight")
        if page.step() == k:  # the last step: next does nothing
            break
        k = page.step()
        active = page.active()
        assert len(active) == 1, active
        node = nodes[active[0]]
        forward = k <= len(gates)
        if forward:  # forward steps go through the gates in topological order
            assert node["id"] == gates[k - 1]["id"]
        else:
            seen_backward += 1
        check_caption(page.caption(), node, forward, consts)
    assert seen_backward >= len([g for g in gates if g["upstream"] is not None])
    assert "Gradients:" in page.caption()
    grads = doc["gradients"]
    final = page.caption().splitlines()[-1]
    for name, g in grads.items():
        part = re.search(rf"∂{doc['output']}/∂{re.escape(name)} = ([^∂]*?)(?:, ∂|$)", final)
        assert part is not None and close(numbers(part.group(1)), flat(g)), (name, final)
    page.close()


def test_the_lecture_step_by_step(browser: Any, tmp_path: Path) -> None:
    path, doc = make(tmp_path, *LECTURE)
    page = Page(browser, path)
    page.press("ArrowRight", 3)  # start, x+y, (x+y)*z, then the first backward step
    mul = next(n for n in doc["nodes"] if n["op"] == "mul")
    assert page.active() == [f"p-n{mul['id']}"]
    assert "upstream -4" not in page.caption()  # the lecture's words are steps.py's
    assert "downstream to (x+y): ∂f/∂(x+y) = ∂f/∂f · ∂f/∂(x+y) = 1 · (-4) = -4" in page.caption()
    assert "downstream to z: ∂f/∂z = ∂f/∂f · ∂f/∂z = 1 · 3 = 3" in page.caption()
    # The gradients on the wires into the * gate are now shown, those into + not yet.
    shown = page.page.eval_on_selector_all(
        "text.grad:not(.hidden)", "els => els.map(e => e.textContent)")
    assert sorted(shown) == sorted(["-4", "3", "1"])  # as the caption writes them
    page.close()


def test_the_fragment_opens_a_step_and_follows_it(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, *NEURON)
    page = Page(browser, path, "#step-7")
    assert page.step() == 7
    assert page.page.text_content("#counter") == "forward step 7 of 8"
    page.press("ArrowRight")
    assert page.page.evaluate("location.hash") == "#step-8"
    assert page.page.get_attribute("#permalink", "href") == "#step-8"
    page.page.evaluate("location.hash = '#step-2'")
    page.page.wait_for_function("() => document.querySelector('#slider').value === '2'")
    assert page.caption().startswith("Forward step 2:")
    page.close()


def test_keyboard_only(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, *LECTURE)
    page = Page(browser, path)
    page.press("End")
    assert page.step() == 4
    page.press("ArrowLeft")
    assert page.step() == 3
    page.press("Home")
    assert page.step() == 0
    # Tab reaches the buttons; Enter presses the focused one.
    for _ in range(10):
        page.press("Tab")
        if page.page.evaluate("document.activeElement.id") == "next":
            break
    assert page.page.evaluate("document.activeElement.id") == "next"
    page.press("Enter")
    assert page.step() == 1
    # The slider moves with the arrow keys when it has the focus.
    page.page.focus("#slider")
    page.press("ArrowRight")
    assert page.step() == 2 and page.caption().startswith("Forward step 2:")
    page.close()


def test_buttons_slider_and_play(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, *FAN_OUT)
    page = Page(browser, path)
    page.page.click("#last")
    assert "fans out into 2 branches" in page.caption()
    assert page.page.is_disabled("#next")
    assert page.page.is_visible("text.sum:not(.hidden)")
    page.page.click("#first")
    assert page.page.locator("text.sum.hidden").count() == 1
    page.page.locator("#slider").fill("3")
    assert page.step() == 3
    page.page.click("#play")
    assert page.page.get_attribute("#play", "aria-pressed") == "true"
    page.page.wait_for_function("() => document.querySelector('#slider').value === '4'",
                                timeout=5000)
    page.page.click("#play")
    assert page.page.get_attribute("#play", "aria-pressed") == "false"
    page.close()


def test_the_caption_is_announced(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, *LECTURE)
    page = Page(browser, path)
    assert page.page.get_attribute("#caption", "aria-live") == "polite"
    page.close()


def test_a_hostile_expression_runs_no_script(browser: Any, tmp_path: Path) -> None:
    expr = ("(x+y)*z # </script><script>window.pwned=1</script>"
            "<img src=x onerror=\"window.pwned=2\"> \u2028 ' \"")
    path, _ = make(tmp_path, expr, ["--at", "x=-2,y=5,z=-4"])
    page = Page(browser, path)
    assert page.page.evaluate("window.pwned === undefined")
    assert "<script>window.pwned=1</script>" in str(page.page.text_content("h1"))
    assert page.page.locator("img").count() == 0
    page.press("End")
    assert "Gradients:" in page.caption()
    page.close()


def test_a_few_hundred_nodes_scroll_to_the_active_gate(browser: Any, tmp_path: Path) -> None:
    terms = [f"tanh(w{i}*x{i % 7} + b{i % 5})*x{(i + 3) % 7}" for i in range(50)]
    at = ",".join([f"w{i}=0.{i % 9 + 1}" for i in range(50)] +
                  [f"x{i}=0.{i + 1}" for i in range(7)] + [f"b{i}=-0.{i + 1}" for i in range(5)])
    path, doc = make(tmp_path, " + ".join(terms), ["--at", at, "--check", "none"])
    assert len(doc["nodes"]) > 300
    page = Page(browser, path)
    page.press("End")
    scrolled = page.page.evaluate("[document.querySelector('#stage').scrollLeft, "
                                  "document.querySelector('#stage').scrollWidth]")
    assert scrolled[1] > 1000  # wider than the window: it scrolls
    last = page.step()
    for k in (last // 4, last // 2, 3 * last // 4):  # wherever the step, its gate is in view
        page.page.evaluate(f"location.hash = '#step-{k}'")
        page.page.wait_for_function(f"() => document.querySelector('#slider').value === '{k}'")
        inside = page.page.evaluate("""() => {
            const a = document.querySelector('.part.active').getBoundingClientRect();
            const s = document.querySelector('#stage').getBoundingClientRect();
            return a.right > s.left && a.left < s.right && a.bottom > s.top && a.top < s.bottom;
        }""")
        assert inside, k
    page.page.click("#zoom-fit")
    width = page.page.evaluate("document.querySelector('#circuit').getAttribute('width')")
    assert float(width) < scrolled[1]
    page.close()


def test_the_notebook_frame_runs_the_replay(browser: Any, tmp_path: Path) -> None:
    # What Jupyter shows for result.replay(): the page in a sandboxed iframe's srcdoc.
    import backprop_cli as bp

    frame = bp.evaluate(LECTURE[0], at=LECTURE[1][1])
    path = tmp_path / "notebook.html"
    path.write_text("<!DOCTYPE html><html><body>" + str(frame._repr_html_())
                    + frame.replay()._repr_html_() + "</body></html>", encoding="utf-8")
    page = Page(browser, path)
    inner = page.page.frames[1]
    inner.click("#next")
    inner.click("#next")
    assert str(inner.text_content("#caption")).startswith("Forward step 2: f = (x+y) * z")
    page.close()


def test_the_counter_says_the_captions_count(browser: Any, tmp_path: Path) -> None:
    """One count on the page: "Step 2" in the caption is "backward step 2 of 2" above it."""
    path, _ = make(tmp_path, *LECTURE)
    page = Page(browser, path)
    seen = []
    for k in range(5):
        page.page.evaluate(f"location.hash = '#step-{k}'")
        page.page.wait_for_function(f"() => document.querySelector('#slider').value === '{k}'")
        counted = re.search(r"^(Forward step|Step) \d+", page.caption(), re.M)
        seen.append((page.page.text_content("#counter"), counted and counted.group(0)))
    assert seen == [("start", None), ("forward step 1 of 2", "Forward step 1"),
                    ("forward step 2 of 2", "Forward step 2"),
                    ("backward step 1 of 2", "Step 1"), ("backward step 2 of 2", "Step 2")]
    page.close()


def test_a_small_circuit_opens_fitted_with_legible_labels(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, *LECTURE)
    page = Page(browser, path)
    sizes = page.page.evaluate("""() => {
        const svg = document.querySelector('#circuit');
        const stage = document.querySelector('#stage');
        const label = svg.querySelector('text.value').getBoundingClientRect();
        return [label.height, svg.getBoundingClientRect().width, stage.clientWidth];
    }""")
    label_h, svg_w, stage_w = sizes
    assert label_h >= 14  # 12 px labels at zoom >= 14/12
    assert svg_w >= 0.5 * stage_w  # the circuit fills its frame, not a corner of it
    page.close()


def test_a_short_label_shows_its_gates_text_on_hover(browser: Any, tmp_path: Path) -> None:
    path, _ = make(tmp_path, NEURON[0], NEURON[1][:2])  # not expanded: two long sums
    page = Page(browser, path, "#step-7")
    hover = page.page.eval_on_selector_all(
        "#caption abbr", "els => els.map(e => [e.textContent, e.title])")
    assert ["g2", "(w0*x0 + w1*x1 + w2)"] in hover and ["g1", "(w0*x0 + w1*x1)"] in hover
    assert page.caption().startswith("Step 2: g2 = g1 + w2")
    page.close()
