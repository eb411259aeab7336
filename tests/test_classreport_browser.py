"""The class report's HTML page in headless Chromium, opened from disk: it renders its charts and
circuits with no network request, no console error and no script run (as the replay's page is
tested in test_replay_browser.py; skipped, saying why, without Playwright or Chromium)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from . import classsim as cs
from .conftest import CHROMIUM, invoke, playwright_or_skip

sync_api = playwright_or_skip()


def test_the_class_page_opens_offline_and_shows_where_the_chain_breaks(tmp_path: Path) -> None:
    text, pset = cs.make_key()
    (tmp_path / "key.toml").write_text(text, encoding="utf-8")
    students = cs.simulate(pset)
    cs.write_check_json(cs.graded(pset, students, tmp_path / "subs"), tmp_path / "json")
    page_path = tmp_path / "report.html"
    r = invoke("report", str(tmp_path / "json"), "--key", str(tmp_path / "key.toml"),
               "-o", str(page_path))
    assert r.code == 0, r.stderr
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM)
        except Exception as exc:  # a broken install: say so rather than fail
            pytest.skip(f"Chromium at {CHROMIUM} does not start: {exc}")
        page: Any = browser.new_page()
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("request", lambda q: None if q.url.startswith("file://")
                else problems.append(f"request: {q.url}"))
        page.goto(page_path.as_uri())
        circuits = page.locator(".circuit svg").count()
        # Each shaded node says how many students first went wrong there; together they are
        # every student's first wrong answer in every problem.
        shaded = page.eval_on_selector_all(
            "rect.break", "els => els.map(e => Number(e.dataset.students))")
        visible = page.locator("rect.break").first.is_visible()
        slips = page.locator("h2:text('Misconceptions') + table tr").count()
        browser.close()
    assert problems == []
    assert circuits == len(pset.problems)
    first_wrong = sum(1 for s in students for (prob, key), slip in s.slips.items()
                      if slip != "missing")
    assert sum(shaded) == first_wrong
    assert visible
    assert slips == 1 + 6  # the header and the six slips of the simulated class
