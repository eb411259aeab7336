"""Short text reprs (issue 25 item 8): `print(r)` and a terminal IPython show a few lines
saying what was computed, like sympy's, not kilobytes of dataclass fields."""

from __future__ import annotations

from pathlib import Path

from backprop_cli import check_answers, evaluate, run_problems
from backprop_cli.course import grade as gr

ROOT = Path(__file__).resolve().parent.parent


def _short(text: str, lines: int = 10) -> bool:
    return len(text.splitlines()) <= lines and max(map(len, text.splitlines())) <= 240


def test_a_result_is_a_few_lines_with_value_gradients_and_checks() -> None:
    r = evaluate("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
    assert repr(r) == str(r) == ("Result f = (x+y)*z at x=-2, y=5, z=-4\n  value: -12\n"
                                 "  gradients: dx=-4, dy=-4, dz=3\n  checks: 3 proved by sympy")


def test_an_array_result_is_short_too() -> None:
    r = evaluate("q = W@x; f = sum(q^2)", at="W=[[0.1,0.5],[-0.3,0.8]],x=[0.2,0.4]")
    text = repr(r)
    assert text.startswith("Result q = W@x; f = sum(q^2) at W=[[0.1, 0.5]")
    assert "dW=[[0.088, 0.176], [0.104, 0.208]]" in text and _short(text)


def test_a_large_result_stays_a_few_lines() -> None:
    names = [f"x{k}" for k in range(300)]
    r = evaluate("+".join(f"{n}*{n}" for n in names), at={n: 1.0 for n in names},
                 check=())
    assert _short(repr(r)) and "more)" in repr(r)


def test_answers_say_how_many_match_and_each_verdict() -> None:
    a = check_answers("(x+y)*z", at="x=-2,y=5,z=-4", expect="dx=-4,dy=4,value=-12")
    assert repr(a).splitlines() == ["Answers: 2 of 3 match (rounding as written)",
                                    "  ✓ dx = -4", "  ✗ dy: answer 4, correct -4",
                                    "  ✓ value = -12"]


def test_a_batch_report_is_its_summary_and_what_did_not_pass() -> None:
    text = repr(run_problems(ROOT / "examples" / "student-attempt.toml"))
    lines = text.splitlines()
    assert lines[0].endswith("1 passed, 2 failed") and len(lines) == 3
    assert lines[1].startswith("  ✗ simple: dz: answer -4, correct 3") and _short(text)


def test_a_grade_report_is_whose_file_and_the_score() -> None:
    report, _ = gr.grade_files(ROOT / "examples" / "gradescope" / "key.toml",
                               ROOT / "examples" / "gradescope" / "example-answers.toml")
    assert report is not None
    assert repr(report).splitlines()[1].startswith("  score ") and _short(repr(report))
