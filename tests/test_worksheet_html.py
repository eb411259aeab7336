"""`make --worksheet FILE.html` (one offline page) and `FILE.pdf` (TikZ through pdflatex): each
circuit drawn with a blank where each answer goes, and no answer on it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from backprop_cli.course import make as mk
from backprop_cli.course.problems import parse_problems

from .conftest import invoke


def _sheet(tmp_path: Path, *args: str) -> tuple[str, list[dict[str, object]]]:
    key, sheet = tmp_path / "k.toml", tmp_path / "w.html"
    r = invoke("make", "--seed", "2", "--count", str(len(mk.FAMILIES)), "-o", str(key),
               "--worksheet", str(sheet), *args)
    assert r.code == 0, r.stderr
    pset = parse_problems(key.read_text(encoding="utf-8"), "toml", "k.toml")
    return sheet.read_text(encoding="utf-8"), [p.expect for p in pset.problems
                                               if isinstance(p.expect, dict)]


def test_each_circuit_has_a_blank_for_every_answer(tmp_path: Path) -> None:
    page, expects = _sheet(tmp_path)
    sections = page.split('<section class="problem">')[1:]
    assert len(sections) == len(expects) == len(mk.FAMILIES)
    for section, expect in zip(sections, expects):
        drawn = re.findall(r'class="blank-label"[^>]*>([^<]+)</text>', section)
        assert sorted(drawn) == sorted(expect), section[:80]
        rows = re.findall(r"<tr><td><code>([^<]+)</code>", section)
        assert rows == list(expect)


def test_no_answer_is_drawn_on_the_circuit(tmp_path: Path) -> None:
    page, _ = _sheet(tmp_path)
    for section in page.split('<section class="problem">')[1:]:
        svg = section.split('<div class="circuit">')[1].split("</div>")[0]
        texts = re.findall(r">([^<>]+)</(?:text|tspan)>", svg)
        numbers = {t for t in texts if re.fullmatch(r"-?[\d.]+", t.strip())}
        assert not numbers, numbers


def test_the_page_is_offline_printable_and_escaped(tmp_path: Path) -> None:
    page, _ = _sheet(tmp_path, "--variant", "<script>alert(1)</script>")
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "https://" not in page and "http://" not in page
    assert "@media print" in page and "default-src 'none'" in page


# ---------------------------------------------------------------- the PDF (TikZ) worksheet


def test_the_tikz_worksheet_has_a_dashed_blank_per_answer_and_escaped_text() -> None:
    from backprop_cli.course.worksheet_pdf import worksheet_tikz

    made = mk.make(None, seed=2, count=len(mk.FAMILIES), level=2)
    text = worksheet_tikz(made, "Week 3 & $5 #1 <b>", mk._point_text)
    assert text.count(r"\draw[dashed") == sum(len(m.answers) for m in made)
    assert r"\& \$5 \#1" in text
    assert text.count(r"\begin{tikzpicture}") == text.count(r"\end{tikzpicture}") == len(made)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_the_pdf_worksheet_compiles(tmp_path: Path) -> None:
    sheet = tmp_path / "w.pdf"
    r = invoke("make", "--seed", "2", "--count", str(len(mk.FAMILIES)), "--level", "2",
               "-o", str(tmp_path / "k.toml"), "--worksheet", str(sheet))
    assert r.code == 0, r.stderr
    assert sheet.read_bytes().startswith(b"%PDF")


def test_without_pdflatex_a_pdf_worksheet_is_refused(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    r = invoke("make", "--worksheet", str(tmp_path / "w.pdf"), "-o", str(tmp_path / "k.toml"))
    assert r.code == 2 and "needs pdflatex" in r.stderr
    assert not (tmp_path / "w.pdf").exists()
