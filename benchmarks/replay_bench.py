"""Size and build time of the `backprop replay` page, and (with Playwright and Chromium) its
load and step times in a headless browser.

    PYTHONPATH=. python benchmarks/replay_bench.py          # 100 to 2,000 nodes

The family: a sum of products, x0*y0 + x1*y1 + ..., the widest circuit at a given size (a
column per term). Build: `replay_html` of an evaluated result (up to 400 nodes it includes
sympy's symbolic local gradients, as `backprop steps` does). Step: one key press and the read
of the counter, through Playwright. Prints markdown; asserts nothing (tests/test_replay*.py
check behaviour). README: In the browser and in Jupyter quotes its numbers.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from backprop_cli import evaluate
from backprop_cli.views.replay import replay_html

CHROMIUM = os.environ.get("BACKPROP_CHROMIUM", "/usr/bin/chromium")


def page(terms: int) -> tuple[int, str, float]:
    expr = " + ".join(f"x{i}*y{i}" for i in range(terms))
    at = {**{f"x{i}": 0.5 for i in range(terms)}, **{f"y{i}": 0.25 for i in range(terms)}}
    result = evaluate(expr, at=at, check=())
    start = time.perf_counter()
    html = replay_html(result)
    return len(result.graph.nodes), html, time.perf_counter() - start


def browser_times(path: Path) -> tuple[float, float] | None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    if not os.path.exists(CHROMIUM):
        return None
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM)
        tab = browser.new_page(viewport={"width": 1100, "height": 800})
        start = time.perf_counter()
        tab.goto(path.as_uri())
        load = time.perf_counter() - start
        steps = []
        for key in ("End", "Home") * 10:
            start = time.perf_counter()
            tab.keyboard.press(key)
            tab.text_content("#counter")
            steps.append(time.perf_counter() - start)
        browser.close()
    return load, statistics.median(steps)


def main() -> None:
    print("| nodes | page bytes | build s | load s | step s |")
    print("|---:|---:|---:|---:|---:|")
    page(3)  # imports (sympy for the symbolic local gradients) outside the timing
    with tempfile.TemporaryDirectory() as tmp:
        for terms in (25, 125, 250, 499):
            nodes, html, build = page(terms)
            path = Path(tmp) / f"replay-{terms}.html"
            path.write_text(html, encoding="utf-8")
            times = browser_times(path)
            load, step = (f"{t:.2f}" for t in times) if times else ("–", "–")
            print(f"| {nodes:,} | {len(html.encode()):,} | {build:.2f} | {load} | {step} |")


if __name__ == "__main__":
    main()
