"""The playground (playground/) in headless Chromium, offline: built into a temporary folder
(playground/build.py), served by `python -m http.server` on a free localhost port, and loaded
once with every request to anything but that server aborted. The page is driven as a student
would: the lecture's circuit, a bad expression, a wrong answer, an array; what it shows is
compared with `backprop eval` itself.

Skipped, saying why, where Playwright for Python or /usr/bin/chromium is missing (as
tests/test_replay_browser.py), or Pyodide's npm package (`npm ci` in playground/; .ci/run does
it). Loading Pyodide and importing sympy takes 10-30 s: one page load for the whole module.
Where BACKPROP_PLAYGROUND_DIST names a build (.ci/run sets it), that build is served instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import CHROMIUM, invoke, playwright_or_skip

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND = ROOT / "playground"
sync_api = playwright_or_skip()
if not (PLAYGROUND / "node_modules" / "pyodide" / "pyodide.asm.wasm").exists():
    pytest.skip("no Pyodide in playground/node_modules: run `npm ci` in playground/ "
                "(node and npm needed)", allow_module_level=True)

LOAD_SECONDS = 240  # Pyodide's first load and sympy's import, on a busy 2-core machine
RUN_SECONDS = 120
LECTURE = ("(x+y)*z", "x=-2,y=5,z=-4")


def _build(out: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("playground_build", PLAYGROUND / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build(out)  # type: ignore[no-any-return]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Shown:
    """What the page showed for one Run."""

    report: str
    error: str
    numpy: str
    replay_caption: str | None  # the replay's caption (None: no replay shown)
    replay_svgs: int
    elements: int  # <script> and <b> elements inside the report and the error box


@dataclass
class Session:
    """Everything seen in the one page load, in the order the student did it."""

    manifest: dict[str, Any]
    figures: dict[str, str]
    runs: dict[str, Shown] = field(default_factory=dict)
    outside: list[str] = field(default_factory=list)  # requests beyond the local server
    problems: list[str] = field(default_factory=list)  # console errors, page errors


def _shown(page: Any) -> Shown:
    frame = page.query_selector("#replay")
    caption, svgs = None, 0
    if frame is not None and frame.is_visible():
        inner = page.frame_locator("#replay")
        inner.locator("#caption").wait_for(state="attached", timeout=RUN_SECONDS * 1000)
        caption = inner.locator("#caption").text_content()
        svgs = inner.locator("svg").count()
    elements = page.eval_on_selector_all(
        "#report script, #report b, #error script, #error b", "els => els.length")
    return Shown(report=page.text_content("#report") or "",
                 error=page.inner_text("#error"), numpy=page.text_content("#numpy") or "",
                 replay_caption=caption, replay_svgs=svgs, elements=int(elements))


def _run(page: Any, expr: str, at: str, expect: str = "") -> Shown:
    before = int(page.get_attribute("body", "data-runs") or 0)
    page.fill("#expr", expr)
    page.fill("#at", at)
    page.fill("#expect", expect)
    page.click("#run")
    page.wait_for_function(f"Number(document.body.dataset.runs || 0) > {before}",
                           timeout=RUN_SECONDS * 1000)
    return _shown(page)


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    built = os.environ.get("BACKPROP_PLAYGROUND_DIST")  # .ci/run's build, made once for all
    if built and (Path(built) / "manifest.json").is_file():
        site = Path(built)
        manifest = json.loads((site / "manifest.json").read_text(encoding="utf-8"))
    else:
        site = tmp_path_factory.mktemp("playground")
        manifest = _build(site)
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind",
                               "127.0.0.1", "--directory", str(site)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):  # until it listens
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield from _visit(f"http://127.0.0.1:{port}", manifest)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _visit(origin: str, manifest: dict[str, Any]) -> Iterator[Session]:
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-sync", "--no-first-run"])
        except Exception as exc:  # a broken install: say so rather than fail every test
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        try:
            page = browser.new_page()
            seen = Session(manifest=manifest, figures={})

            def route(r: Any) -> None:
                parts = urlsplit(r.request.url)
                if f"{parts.scheme}://{parts.netloc}" == origin:
                    r.continue_()
                else:
                    seen.outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: seen.problems.append(f"console {m.type}: {m.text}")
                    if m.type == "error" else None)
            page.on("pageerror", lambda e: seen.problems.append(f"page error: {e}"))
            page.goto(origin + "/index.html")
            page.wait_for_selector("#figures:not([hidden])", timeout=LOAD_SECONDS * 1000)
            seen.figures = {k: str(page.get_attribute("#figures", f"data-{k}"))
                            for k in ("bytes", "ms")}
            seen.figures["text"] = page.text_content("#figures") or ""
            seen.runs["first"] = _shown(page)  # the lecture's circuit, run as the page opens
            seen.runs["lecture"] = _run(page, *LECTURE)
            seen.runs["bad"] = _run(page, "(x+*y", "x=1")
            seen.runs["missing"] = _run(page, "x*y", "x=1")
            seen.runs["wrong"] = _run(page, *LECTURE, "dx=-4,dy=4,dz=3")
            seen.runs["array"] = _run(page, "sum(x^2)", "x=[1,2]")
            before = int(page.get_attribute("body", "data-runs") or 0)
            page.click("#numpy button")  # "try (x+y)*z"
            page.wait_for_function(f"Number(document.body.dataset.runs) > {before}",
                                   timeout=RUN_SECONDS * 1000)
            seen.runs["offered"] = _shown(page)
            seen.runs["script"] = _run(page, "<script>alert(1)</script>", "x=1")
            seen.runs["injected"] = _run(page, "x*y", "x=1,y=<b>2</b>")
            print(f"\nplayground first load: {seen.figures['text']}")
            yield seen
        finally:
            browser.close()


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def _gradient_rows(report: str) -> dict[str, list[str]]:
    """The gradient table's rows by input: value, backprop, sympy's derivative, sympy's value,
    finite differences, check."""
    rows: dict[str, list[str]] = {}
    part = report.split("Gradients of f", 1)[1]
    for line in part.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) == 7:
            rows[cells[0]] = cells[1:]
    return rows


def test_lecture_value(session: Session) -> None:
    assert "f = -12" in session.runs["lecture"].report


def test_lecture_each_gradient_proved_by_sympy(session: Session) -> None:
    rows = _gradient_rows(session.runs["lecture"].report)
    assert {name: (row[1], row[5]) for name, row in rows.items()} == {
        "x": ("-4", "✓ pass (sympy)"), "y": ("-4", "✓ pass (sympy)"),
        "z": ("3", "✓ pass (sympy)")}
    assert "checks: 3 proved by sympy" in session.runs["lecture"].report


def test_lecture_as_the_cli_prints_it(session: Session) -> None:
    cli = invoke("eval", LECTURE[0], "--at", LECTURE[1])
    assert cli.code == 0
    assert _lines(session.runs["lecture"].report) == _lines(cli.stdout)


def test_first_result_is_the_lecture(session: Session) -> None:
    assert session.runs["first"].report == session.runs["lecture"].report


def test_lecture_replay_renders(session: Session) -> None:
    shown = session.runs["lecture"]
    assert shown.replay_svgs >= 1
    assert shown.replay_caption


def test_bad_expression_one_message(session: Session) -> None:
    cli = invoke("eval", "(x+*y", "--at", "x=1")
    assert cli.code == 2
    shown = session.runs["bad"]
    assert _lines(shown.error) == _lines(cli.stderr)
    assert shown.report == "" and shown.replay_caption is None


def test_missing_value_message_and_hint(session: Session) -> None:
    cli = invoke("eval", "x*y", "--at", "x=1")
    assert _lines(session.runs["missing"].error) == _lines(cli.stderr)
    assert "hint: add it to --at, e.g. --at y=1" in session.runs["missing"].error


def test_no_traceback_shown(session: Session) -> None:
    for name, shown in session.runs.items():
        assert "Traceback" not in shown.report + shown.error + shown.numpy, name


def test_wrong_answer_gets_the_slip_diagnosis(session: Session) -> None:
    report = session.runs["wrong"].report
    assert "dy: you wrote 4, the gradient df/dy is -4" in report
    assert "df/dy = df/d(x+y) * d(x+y)/dy = (-4) * 1 = -4" in report
    assert "hint: the sign is flipped" in report
    assert "✗ 1 of 3 answers differ" in report


def test_wrong_answer_as_the_cli_prints_it(session: Session) -> None:
    cli = invoke("eval", LECTURE[0], "--at", LECTURE[1], "--expect", "dx=-4,dy=4,dz=3")
    assert cli.code == 1
    assert _lines(session.runs["wrong"].report) == _lines(cli.stdout)


def test_array_without_numpy_says_so(session: Session) -> None:
    assert not session.manifest["numpy"]  # the build carries no numpy unless told to
    shown = session.runs["array"]
    assert "need numpy" in shown.numpy
    assert "does not carry Pyodide's numpy wheel" in shown.numpy
    assert shown.report == "" and shown.error == ""


def test_scalar_offered_after_numpy_message(session: Session) -> None:
    assert "f = -12" in session.runs["offered"].report
    assert session.runs["offered"].numpy == ""


def test_user_text_is_escaped(session: Session) -> None:
    # Shown as text (the error's echo of the expression), never made into an element.
    assert "<script>" in session.runs["script"].error
    assert "<b>2</b>" in session.runs["injected"].error
    assert session.runs["script"].elements == session.runs["injected"].elements == 0


def test_no_request_leaves_the_local_server(session: Session) -> None:
    assert session.outside == []


def test_no_console_error(session: Session) -> None:
    assert session.problems == []


def test_first_load_figures(session: Session) -> None:
    # Every file the page fetched is one of the build's: no more bytes than the build wrote.
    fetched = int(session.figures["bytes"])
    wheels = sum(w["bytes"] for w in session.manifest["wheels"])
    assert wheels < fetched <= session.manifest["bytes"] + 10_000  # + manifest.json
    assert int(session.figures["ms"]) > 0
    assert "MB downloaded" in session.figures["text"]


def test_manifest_lists_only_needed_wheels(session: Session) -> None:
    names = sorted(w["name"].split("-")[0] for w in session.manifest["wheels"])
    assert names == ["backprop_cli", "lark", "mpmath", "rich", "sympy"]
