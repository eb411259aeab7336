"""`backprop practice`: a learner's history, spaced repetition, slips that come back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from backprop_cli.course import practice as pr
from backprop_cli.course import quiz, quizdraw

from .conftest import Backprop, invoke


def _typed(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_typed(x) for x in v) + "]"
    return repr(float(v))


def _negated(v: Any) -> Any:
    return [_negated(x) for x in v] if isinstance(v, list) else -v


def _session(path: Path, seed: int, slip: bool) -> tuple[pr.Pick, Any]:
    """One `backprop practice` run: every answer right, or (``slip``) the last nonzero one
    with its sign flipped. Returns what was picked and the command's outcome."""
    chosen = pr.pick(pr.load(path))
    _, made = quizdraw.draw(chosen.family, seed, chosen.level)
    answers = [q.truth for q in quiz.questions(made)[1]][:quizdraw.MAX_QUESTIONS]
    if slip:
        k = max(i for i, t in enumerate(answers) if any(x != 0 for x in _flat(t)))
        answers[k] = _negated(answers[k])
    r = invoke("practice", "--progress", str(path), "--seed", str(seed),
               input="".join(_typed(a) + "\n" for a in answers))
    return chosen, r


def _flat(v: Any) -> list[float]:
    return [y for x in v for y in _flat(x)] if isinstance(v, list) else [float(v)]


def test_ten_sessions_bring_the_slips_back_and_the_progress_grows(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    picks = []
    for session in range(1, 11):
        chosen, r = _session(path, seed=session, slip=session == 3)
        picks.append(chosen)
        assert r.code == (1 if session == 3 else 0), r.output
        assert f"practice session {session}: {chosen.family}" in r.stdout
    # The sign slip of session 3 comes back in session 4, in a family that exercises it.
    assert "'sign' comes back" in picks[3].why
    assert picks[3].family in pr.SLIP_FAMILIES["sign"]
    history = pr.load(path)
    assert history["session"] == 10
    assert history["slips"]["sign"]["count"] == 1
    assert history["slips"]["sign"]["box"] >= 1  # met again without being made
    # New families keep coming: at least five of the curriculum after ten sessions.
    assert len(history["families"]) >= 5
    new = [p.family for p in picks if p.why.startswith("new")]
    assert new == list(pr.CURRICULUM[:len(new)])
    assert any(p.why.startswith("due for review") for p in picks)
    stats = invoke("practice", "--progress", str(path), "--stats")
    assert stats.code == 0 and "sign" in stats.stdout and "Score per session" in stats.stdout


def test_a_drill_without_a_slip_moves_up_a_box_and_comes_back_later() -> None:
    h = pr.empty()
    pr.record(h, "add", 1, 0, 4, 4, True, [])
    assert h["families"]["add"]["box"] == 1 and h["families"]["add"]["due"] == 3
    pr.record(h, "mul", 1, 0, 4, 3, True, ["swap gate: own input used"])
    assert h["families"]["mul"]["box"] == 0 and h["families"]["mul"]["due"] == 3
    # Session 3: the slip is due, and it comes back in mul.
    chosen = pr.pick(h)
    assert chosen.family == "mul" and "comes back" in chosen.why


def test_new_families_come_in_the_curriculums_order() -> None:
    h = pr.empty()
    seen = []
    for _ in range(4):
        chosen = pr.pick(h)
        seen.append(chosen.family)
        pr.record(h, chosen.family, chosen.level, 0, 3, 3, True, [])
    assert seen[:2] == ["add", "mul"] and "add" in seen[2:]  # add is due again at session 3


def test_a_family_levels_up_after_clean_drills_and_down_after_many_slips() -> None:
    h = pr.empty()
    for _ in range(3):
        pr.record(h, "add", 1, 0, 4, 4, True, [])
    assert h["families"]["add"]["level"] == 2
    pr.record(h, "add", 2, 0, 4, 1, True, ["sign"] * 3)
    assert h["families"]["add"]["level"] == 1 and h["families"]["add"]["box"] == 0


def test_a_file_that_is_not_a_history_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.json"
    path.write_text('{"my": "notes"}', encoding="utf-8")
    r = invoke("practice", "--progress", str(path), "--stats")
    assert r.code == 2 and "not a backprop progress file" in r.stderr
    assert json.loads(path.read_text(encoding="utf-8")) == {"my": "notes"}  # untouched


def test_the_history_lives_in_the_users_data_folder(monkeypatch: pytest.MonkeyPatch,
                                                   tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert pr.default_path() == tmp_path / "backprop" / "progress.json"


def test_stats_json_counts_per_family_and_slip(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    h = pr.record(pr.empty(), "mul", 1, 5, 4, 3, True, ["sign"])
    pr.save(path, h)
    doc = json.loads(invoke("practice", "--progress", str(path), "--stats", "--json").stdout)
    assert doc["families"][0]["family"] == "mul" and doc["families"][0]["right"] == 3
    assert doc["slips"][0] == {"slip": "sign", "made": 1, "last": 1, "box": 0, "next": 1}


def test_stopping_at_once_records_nothing(tmp_path: Path, backprop: Backprop) -> None:
    path = tmp_path / "p.json"
    r = backprop("practice", "--progress", str(path), "--seed", "1", input="q\n")
    assert r.code == 1 and not path.exists()


def test_the_python_api_practises_with_input(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    import backprop_cli

    path = tmp_path / "p.json"
    _, made = quizdraw.draw("add", 7, 1)
    answers = iter(repr(float(q.truth)) for q in quiz.questions(made)[1])
    monkeypatch.setattr("builtins.input", lambda: next(answers))
    score = backprop_cli.practice(path, seed=7)
    assert score.right == score.asked == 4
    assert "practice session 1: add" in capsys.readouterr().out
    assert pr.load(path)["session"] == 1


def test_in_a_notebook_the_drill_runs_in_widgets(tmp_path: Path) -> None:
    pytest.importorskip("ipywidgets", reason="ipywidgets is not installed: pip install "
                        "-e '.[notebook]'")
    import backprop_cli

    path = tmp_path / "p.json"
    _, made = quizdraw.draw("add", 7, 1)
    ui = backprop_cli.practice(path, seed=7, ui="widgets")
    for q in quiz.questions(made)[1]:
        ui.box_in.value = repr(float(q.truth))  # as typed and Enter pressed
    ui.thread.join(timeout=60)
    assert ui.score is not None and ui.score.right == ui.score.asked == 4
    assert "score 4 of 4" in ui.shown.value and ui.box_in.disabled
    assert pr.load(path)["session"] == 1
