"""Hostile submissions against the results files (issue 25 item 5, issue 30 items 7 and 13):
whatever a student uploads, both platforms' files are schema-valid and well under 1 MB, a
bad answer costs that answer only, and no control or bidi character reaches any output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.limits import visible
from backprop_cli.course import grade as gr
from backprop_cli.course import results
from backprop_cli.course.problems import load_problems, parse_problems

from .result_schemas import validate

runner = CliRunner()

KEY = '''
digits = 2

[circuit]
expression = "q = x + y; f = q * z"
at = { x = -2, y = 5, z = -4 }
expect = { q = 3, value = -12, dx = -4, dz = 3 }

[wx]
expression = "q = W@x; f = sum(q^2)"
at = { W = [[1, 2], [3, 4]], x = [1, 1] }
expect = { q = [3, 7], dW = [[6, 6], [14, 14]] }
'''

UNDER = 500_000  # "well under" the platforms' 1 MB
# Anything a terminal, an ANSI-to-HTML converter or a bidi renderer would act on.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def _run(tmp_path: Path, student: str) -> tuple[dict, dict, str]:
    (tmp_path / "key.toml").write_text(KEY)
    (tmp_path / "s.toml").write_text(student, encoding="utf-8")
    gs, pl = tmp_path / "gs.json", tmp_path / "pl.json"
    res = runner.invoke(app, ["check", str(tmp_path / "key.toml"), "--answers",
                              str(tmp_path / "s.toml"), "--gradescope", str(gs),
                              "--prairielearn", str(pl)])
    assert res.exit_code in (1, 2), res.output
    for path in (gs, pl):
        assert path.stat().st_size < UNDER, path.stat().st_size
    gdoc, pdoc = json.loads(gs.read_text()), json.loads(pl.read_text())
    validate(gdoc, "gradescope")
    validate(pdoc, "prairielearn")
    return gdoc, pdoc, res.output


def _texts(gs: dict, pl: dict) -> list[str]:
    """Every string of both files, as the platforms would show them."""
    out: list[str] = []
    stack: list[object] = [gs, pl]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            out.append(v)
        elif isinstance(v, dict):
            stack += list(v.values())
        elif isinstance(v, list):
            stack += v
    return out


def _status(tmp_path: Path, student: str, key: str, problem: str = "circuit") -> str:
    report = gr.grade(load_problems(tmp_path / "key.toml"),
                      gr.read_submission("s.toml", student))
    return next(a.status for p in report.problems for a in p.answers
                if a.key == key and p.name == problem)


RIGHT_DX = "[circuit]\ndx = -4\n"


def test_junk_tables_of_almost_a_megabyte_give_small_files(tmp_path: Path) -> None:
    junk = "".join(f"[t{k}]\na = 1\n" for k in range(70_000))[:960_000]
    gs, pl, out = _run(tmp_path, RIGHT_DX + junk)
    assert any("more tables are not problems" in n for n in _texts(gs, pl))
    assert len(out) < UNDER


def test_a_401_digit_integer_costs_that_answer_only(tmp_path: Path) -> None:
    gs, pl, _ = _run(tmp_path, RIGHT_DX + "dz = " + "7" * 401 + "\n")
    assert "internal error" not in json.dumps([gs, pl])
    assert _status(tmp_path, RIGHT_DX + "dz = " + "7" * 401 + "\n", "dz") == "invalid"
    assert _status(tmp_path, RIGHT_DX + "dz = " + "7" * 401 + "\n", "dx") == "correct"
    assert "401 digits" in gs["tests"][0]["output"]


def test_a_401_digit_entry_of_an_array_costs_that_answer_only(tmp_path: Path) -> None:
    student = "[wx]\nq = [3, 7]\ndW = [[" + "7" * 401 + ", 6], [14, 14]]\n"
    gs, pl, _ = _run(tmp_path, student)
    assert "internal error" not in json.dumps([gs, pl])
    assert _status(tmp_path, student, "dW", "wx") == "invalid"
    assert _status(tmp_path, student, "q", "wx") == "correct"


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "[1, nan]", '"twelve"', "1e400",
                                   '"3 + "', "{ a = 1 }", "true"])
def test_a_value_that_is_not_a_number_costs_that_answer_only(tmp_path: Path,
                                                             value: str) -> None:
    student = RIGHT_DX + f"dz = {value}\n"
    gs, pl, _ = _run(tmp_path, student)
    assert "internal error" not in json.dumps([gs, pl])
    assert _status(tmp_path, student, "dz") == "invalid"
    assert _status(tmp_path, student, "dx") == "correct"


HOSTILE = ("3\u0000\u001b]8;;https://evil.example\u0007your grade was changed: click here"
           "\u001b]8;;\u0007 \u001b[8mhidden\u001b[0m \u202eevil\u202c \u2066x\u2069 \u0007")


def test_control_and_bidi_characters_reach_no_output_raw(tmp_path: Path) -> None:
    student = "[circuit]\ndz = " + json.dumps(HOSTILE) + "\n" + json.dumps(HOSTILE) + " = 1\n"
    gs, pl, out = _run(tmp_path, student)
    texts = _texts(gs, pl)
    assert not [t for t in texts if RAW.search(t)]
    assert not RAW.search(out)
    assert any("\\x1b]8;;https" in t for t in texts)  # shown, harmlessly
    doc = runner.invoke(app, ["check", str(tmp_path / "key.toml"), "--answers",
                              str(tmp_path / "s.toml"), "--json"])
    assert not RAW.search(json.loads(doc.output)["problems"][0]["answers"][-1]["written"])


def test_a_newline_in_an_answer_cannot_forge_a_line(tmp_path: Path) -> None:
    forged = "4\ndz (gradient ∂f/∂z): 3 [correct] 2/2"
    gs, pl, out = _run(tmp_path, "[circuit]\ndx = " + json.dumps(forged) + "\n")
    for text in [pl["tests"][0]["output"], gs["tests"][0]["output"]]:
        lines = [ln for ln in text.splitlines() if "correct" in ln and "2/2" in ln]
        assert lines and all("dx** (gradient" in ln or ln.startswith("dx (gradient")
                             for ln in lines)  # the forged text stays on dx's own line
    assert "4\\ndz" in out  # the terminal's table: the escape, not a line break


def test_a_500000_character_answer_name_is_echoed_cut(tmp_path: Path) -> None:
    gs, pl, out = _run(tmp_path, "[circuit]\n\"" + "n" * 500_000 + "\" = 1\ndx = -4\n")
    assert max(len(t) for t in _texts(gs, pl)) < 5_000
    assert "characters)" in json.dumps([gs, pl])
    assert len(out) < 20_000


def test_a_500000_character_table_name_is_echoed_cut(tmp_path: Path) -> None:
    gs, pl, _ = _run(tmp_path, RIGHT_DX + "[" + "t" * 500_000 + "]\na = 1\n")
    assert max(len(t) for t in _texts(gs, pl)) < 5_000


def test_the_last_guard_cuts_prose_and_keeps_the_file_valid() -> None:
    doc = {"score": 1.0, "output": "x" * 2_000_000, "tests": [
        {"name": "p", "score": 1, "max_score": 1, "output": "é\u0007" * 400_000}]}
    out = results.bounded(doc, limit=100_000)
    validate(out, "gradescope")
    assert len(json.dumps(out).encode()) <= 100_000
    assert out["tests"][0]["name"] == "p" and out["output"].endswith("small)")


def test_visible_escapes_what_a_terminal_would_act_on() -> None:
    assert visible("a\u001b[31mb\u202ec\nd") == "a\\x1b[31mb\\u202ec\\nd"
    assert visible("dw0 = -0.20 ∂f/∂x é") == "dw0 = -0.20 ∂f/∂x é"


# ---------------------------------------------------------------- what was uploaded


def test_a_missing_file_is_told_what_was_uploaded_not_a_server_path(tmp_path: Path) -> None:
    folder = tmp_path / "submission"
    folder.mkdir()
    (folder / "my answers.txt").write_text("dx = -4")
    sub = gr.read_submission(folder / "answers.toml")
    (message,) = sub.errors
    assert "'my answers.txt'" in message and "answers.toml" in message
    assert str(tmp_path) not in message


def test_a_missing_file_in_an_empty_folder_says_so(tmp_path: Path) -> None:
    (message,) = gr.read_submission(tmp_path / "answers.toml").errors
    assert "holds no file" in message and str(tmp_path) not in message


_HOSTILE_BITS = st.sampled_from([
    "[circuit]", "[wx]", "dx = -4", "dz = " + "9" * 401, "dz = nan", "dx = [1, inf]",
    'dz = "\\u001b]8;;https://x\\u0007hi\\u001b]8;;\\u0007"', 'dx = "a\\nb"',
    '"\\u202e" = 1', "[\"\\u0000\"]", "q = [3, 7]", "dW = [[6, 6], [14, 14]]",
    'dW = "2*x@W"', "dW = [[1e308, 1e308], [1, 1]]", "value = -12", "x = 1"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_HOSTILE_BITS, max_size=14) | st.text(max_size=300).map(lambda s: [s]))
def test_any_hostile_submission_gives_small_valid_inert_files(bits: list[str]) -> None:
    report = gr.grade(parse_problems(KEY, "toml", "key.toml"),
                      gr.read_submission("s.toml", "\n".join(bits)))
    assert 0 <= report.score <= report.max_score
    for doc, platform in ((results.gradescope_results(report), "gradescope"),
                          (results.prairielearn_results(report), "prairielearn")):
        validate(doc, platform)
        assert len(json.dumps(doc).encode()) < UNDER
        assert not [t for t in _texts(doc, {}) if RAW.search(t)]
        assert "internal error" not in json.dumps(doc)


def test_a_problem_sets_written_answers_cannot_forge_a_row_of_check(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[p]\nexpression = "x^2"\nat = { x = 1 }\nexpect = { dx = '
                    + json.dumps("3*x\n\u001b[32m2 │ q │ ✓ pass") + ' }\n', encoding="utf-8")
    res = runner.invoke(app, ["check", str(path)])
    assert res.exit_code == 2 and "3*x\\n\\x1b[32m2" in res.output
    assert not RAW.search(res.output)
