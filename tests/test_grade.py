"""Grading (`backprop check KEY --answers STUDENT`): points, diagnoses, error carried forward,
malformed submissions, and the Gradescope and PrairieLearn results files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.errors import InputError
from backprop_cli.course import grade as gr
from backprop_cli.course import make as mk
from backprop_cli.course.problems import parse_problems

from .result_schemas import errors, validate

runner = CliRunner()

KEY = '''
title = "Week 3"
digits = 2

[circuit]
expression = "q = x + y; f = q * z"
at = { x = -2, y = 5, z = -4 }
expect = { q = 3, value = -12, dq = -4, dx = -4, dy = -4, dz = 3 }
points = { q = 1, value = 1, dq = 2, dx = 2, dy = 2, dz = 2 }

[neuron]
expression = "s = w0*x0 + w1*x1 + w2; f = sigmoid(s)"
at = { w0 = 2, x0 = -1, w1 = -3, x1 = -2, w2 = -3 }
expect = { value = 0.73, dw0 = -0.20, dx0 = 0.39 }
carried_forward = 0.5

[fan]
expression = "a = x + y; f = a * x"
at = { x = 3, y = 3 }
expect = { a = 6, value = 18, dx = 9, dy = 3 }
points = 2
'''

RIGHT = '''
[circuit]
q = 3
value = -12
dq = -4
dx = -4
dy = -4
dz = 3

[neuron]
value = 0.73
dw0 = -0.20
dx0 = 0.39

[fan]
a = 6
value = 18
dx = 9
dy = 3
'''


def _grade(student: str, key: str = KEY, **kw: object) -> gr.GradeReport:
    pset = parse_problems(key, "toml", "key.toml")
    return gr.grade(pset, gr.read_submission("s.toml", student), **kw)  # type: ignore[arg-type]


def _answer(report: gr.GradeReport, problem: str, key: str) -> gr.AnswerGrade:
    pg = next(p for p in report.problems if p.name == problem)
    return next(a for a in pg.answers if a.key == key)


def _replace(text: str, table: str, key: str, value: str) -> str:
    head, _, rest = text.partition(f"[{table}]\n")
    body, sep, tail = rest.partition("\n\n")
    lines = [f"{key} = {value}" if ln.split(" = ")[0] == key else ln for ln in body.split("\n")]
    return head + f"[{table}]\n" + "\n".join(lines) + sep + tail


def test_right_answers_score_every_point() -> None:
    report = _grade(RIGHT)
    assert report.score == report.max_score == 10 + 3 + 8
    assert all(a.status == "correct" for p in report.problems for a in p.answers)


def test_points_come_from_the_key_per_answer() -> None:
    report = _grade(_replace(RIGHT, "circuit", "dz", "-3"))
    dz = _answer(report, "circuit", "dz")
    assert (dz.status, dz.points, dz.max_points) == ("wrong", 0, 2)
    assert report.score == report.max_score - 2


def test_file_wide_points_fill_in_what_a_problem_table_leaves_out() -> None:
    key = "points = 3\n" + KEY
    report = _grade(RIGHT, key)
    assert _answer(report, "circuit", "dz").max_points == 2  # the table's own
    assert _answer(report, "neuron", "dw0").max_points == 3  # no table: the file's number
    assert _answer(report, "fan", "a").max_points == 2  # a problem's number wins


def test_rounding_rule_comes_from_the_key_not_the_student() -> None:
    # digits = 2: 0.7 is not 0.73 (the student's one decimal does not widen the tolerance).
    assert _answer(_grade(_replace(RIGHT, "neuron", "value", "0.7")), "neuron",
                   "value").status == "wrong"
    assert _answer(_grade(_replace(RIGHT, "neuron", "value", "0.731")), "neuron",
                   "value").status == "correct"
    assert _answer(_grade(_replace(RIGHT, "neuron", "value", '"0.73"')), "neuron",
                   "value").status == "correct"


def test_wrong_answer_gets_the_diagnosis_as_feedback() -> None:
    dx = _answer(_grade(_replace(RIGHT, "circuit", "dx", "4")), "circuit", "dx")
    assert dx.points == 0
    assert any("sign is flipped" in f for f in dx.feedback)


def test_missed_fan_out_branch_is_named() -> None:
    dx = _answer(_grade(_replace(RIGHT, "fan", "dx", "6")), "fan", "dx")
    assert dx.status == "wrong"
    assert any("branch" in f for f in dx.feedback)


def test_error_carried_forward_through_the_forward_pass() -> None:
    # q wrong (x - y instead of x + y); value = q z with their q: carried, full points.
    student = _replace(_replace(RIGHT, "circuit", "q", "-7"), "circuit", "value", "28")
    report = _grade(student)
    assert _answer(report, "circuit", "q").status == "wrong"
    value = _answer(report, "circuit", "value")
    assert (value.status, value.points) == ("carried", 1)
    assert "q = -7" in value.feedback[0]


def test_error_carried_forward_through_the_backward_pass_and_local_gradients() -> None:
    # dq wrong: dx and dy (= dq) carried; dz = q from their wrong q: carried as well.
    student = _replace(RIGHT, "circuit", "dq", "4")
    for k in ("dx", "dy"):
        student = _replace(student, "circuit", k, "4")
    student = _replace(_replace(student, "circuit", "q", "7"), "circuit", "dz", "7")
    student = _replace(student, "circuit", "value", "-28")
    report = _grade(student)
    assert [_answer(report, "circuit", k).status for k in ("q", "value", "dq", "dx", "dy",
                                                           "dz")] == \
        ["wrong", "carried", "wrong", "carried", "carried", "carried"]


def test_carried_forward_share_is_what_the_key_allows() -> None:
    student = _replace(_replace(RIGHT, "neuron", "value", "0.5"), "neuron", "dw0", "-0.25")
    # value 0.5 wrong; dw0 = x0 * value (1 - value) with their 0.5: -0.25, carried at 0.5.
    dw0 = _answer(_grade(student), "neuron", "dw0")
    assert (dw0.status, dw0.points, dw0.max_points) == ("carried", 0.5, 1)


def test_an_answer_computed_from_a_rounded_right_answer_is_right() -> None:
    key = 'digits = 2\n[r]\nexpression = "p = sigmoid(x); f = 1 / p"\nat = { x = 0.3 }\n' \
        'expect = { p = 0.57, value = 1.74 }\n'
    # p = 0.5744 written 0.57 (right); 1 / 0.57 = 1.754, written 1.75: not within 0.005 of
    # 1.7408, but exactly what the rounded p gives.
    report = _grade("[r]\np = 0.57\nvalue = 1.75\n", key)
    value = _answer(report, "r", "value")
    assert (value.status, value.points) == ("correct", 1)
    assert "rounded p = 0.57" in value.feedback[0]
    assert _answer(_grade("[r]\np = 0.57\nvalue = 1.80\n", key), "r", "value").status == \
        "wrong"


def test_a_wrong_answer_with_no_earlier_mistake_is_not_carried_forward() -> None:
    value = _answer(_grade(_replace(RIGHT, "circuit", "value", "12")), "circuit", "value")
    assert value.status == "wrong"


def test_missing_problem_and_missing_answer_score_zero_and_the_rest_is_graded() -> None:
    student = RIGHT.split("[fan]")[0].replace("dz = 3\n", "")
    report = _grade(student)
    fan = next(p for p in report.problems if p.name == "fan")
    assert fan.points == 0 and "no [fan] table" in (fan.note or "")
    assert _answer(report, "circuit", "dz").status == "missing"
    assert _answer(report, "neuron", "dw0").status == "correct"


def test_bad_toml_in_one_table_costs_that_table_only() -> None:
    student = RIGHT.replace("dw0 = -0.20", "dw0 = = -0.20")
    report = _grade(student)
    assert report.gradable
    neuron = next(p for p in report.problems if p.name == "neuron")
    assert neuron.points == 0 and "not valid TOML" in (neuron.note or "")
    assert _answer(report, "circuit", "q").status == "correct"
    assert _answer(report, "fan", "a").status == "correct"


@pytest.mark.parametrize(("value", "says"), [
    ("true", "not a boolean"), ('"twelve"', "not a number"), ("{ a = 1 }", "not a table"),
    ('"[1, x]"', "not a vector"), ('""', "empty"),
])
def test_text_where_a_number_belongs_costs_that_answer_with_a_reason(value: str,
                                                                      says: str) -> None:
    report = _grade(_replace(RIGHT, "circuit", "dz", value))
    dz = _answer(report, "circuit", "dz")
    assert dz.status == "invalid" and dz.points == 0
    assert says in " ".join(dz.feedback)
    assert _answer(report, "circuit", "dy").status == "correct"


@pytest.mark.parametrize("text", ["", "   \n", "not toml at all", "[[x"])
def test_an_unreadable_file_is_not_gradable_and_scores_zero(text: str) -> None:
    report = _grade(text)
    assert not report.gradable and report.score == 0 and report.notes


def test_not_utf8_is_not_gradable(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_bytes(b"\xff\xfe[circuit]")
    sub = gr.read_submission(path)
    assert not sub.readable and "UTF-8" in sub.errors[0]


def test_stray_tables_and_keys_are_noted_not_graded() -> None:
    report = _grade(RIGHT + "\n[circuitt]\nq = 3\n").notes
    assert any("did you mean [circuit]" in n for n in report)
    fan = next(p for p in _grade(RIGHT.replace("dy = 3\n", "dy = 3\nzz = 1\n")).problems
               if p.name == "fan")
    assert "zz" in (fan.note or "")


def test_answers_may_use_the_other_names_expect_allows() -> None:
    student = RIGHT.replace("dx = -4", "\"df/dx\" = -4").replace("dz = 3", "\"∂f/∂z\" = 3")
    report = _grade(student)
    assert _answer(report, "circuit", "dx").status == "correct"
    assert _answer(report, "circuit", "dz").status == "correct"
    assert report.score == report.max_score


def test_a_formula_checker_plugs_in_for_text_answers() -> None:
    calls = []

    def checker(problem, result, key, text):  # type: ignore[no-untyped-def]
        calls.append((problem.name, key, text))
        return text == "z", ["d/dx of (x+y) z is z"]

    report = _grade(_replace(RIGHT, "circuit", "dx", '"z"'), formula=checker)
    dx = _answer(report, "circuit", "dx")
    assert calls == [("circuit", "dx", "z")] and dx.status == "correct" and dx.points == 2
    plain = _answer(_grade(_replace(RIGHT, "circuit", "dx", '"z"')), "circuit", "dx")
    assert plain.status == "invalid" and "grades numbers" in plain.feedback[0]


def test_array_answers_are_graded_entry_by_entry_and_by_shape() -> None:
    key = mk.key_toml(mk.make("wx-norm", seed=3), command="c", title="t")
    (p,) = parse_problems(key, "toml", "k.toml").problems
    assert isinstance(p.expect, dict)
    lines = [f"[{p.name}]"] + [f"{k} = {json.dumps(v) if isinstance(v, list) else v}"
                               for k, v in p.expect.items()]
    right = "\n".join(lines)
    report = _grade(right, key)
    assert report.score == report.max_score
    wrong_shape = "\n".join(ln if not ln.startswith("dW =") else "dW = [1, 2, 3, 4]"
                            for ln in right.splitlines())
    dw = _answer(_grade(wrong_shape, key), p.name, "dW")
    assert dw.status == "wrong" and "shape" in " ".join(dw.feedback)


def test_a_key_asking_for_a_node_that_does_not_exist_is_a_broken_key() -> None:
    with pytest.raises(gr.BrokenKeyError, match="cannot be run"):
        _grade(RIGHT, 'digits = 2\n[p]\nexpression = "x*y"\nat = {x = 1, y = 2}\n'
               'expect = { dq = 1 }\n')


def test_broken_key_raises_before_grading() -> None:
    with pytest.raises(gr.BrokenKeyError):
        _grade(RIGHT, KEY + '\n[oops]\nexpression = "x +"\nat = {x = 1}\n'.replace(
            "expression", "expresion"))


# ---------------------------------------------------------------- the platforms' files


def _files(tmp_path: Path, student: str | bytes, key: str = KEY) -> tuple[dict, dict]:
    (tmp_path / "key.toml").write_text(key)
    sub = tmp_path / "s.toml"
    if isinstance(student, bytes):
        sub.write_bytes(student)
    else:
        sub.write_text(student)
    gr.grade_files(tmp_path / "key.toml", sub, gradescope=str(tmp_path / "gs.json"),
                   prairielearn=str(tmp_path / "pl.json"))
    return (json.loads((tmp_path / "gs.json").read_text()),
            json.loads((tmp_path / "pl.json").read_text()))


def test_results_files_follow_the_documented_schemas(tmp_path: Path) -> None:
    gs, pl = _files(tmp_path, _replace(RIGHT, "circuit", "dz", "-3"))
    validate(gs, "gradescope")
    validate(pl, "prairielearn")
    assert gs["score"] == 19 and sum(t["score"] for t in gs["tests"]) == 19
    assert [t["max_score"] for t in gs["tests"]] == [10, 3, 8]
    assert gs["tests"][0]["status"] == "failed" and gs["tests"][1]["status"] == "passed"
    assert gs["output_format"] == "md" and gs["tests"][0]["output_format"] == "md"
    assert pl["gradable"] is True and pl["score"] == pytest.approx(19 / 21)
    assert [t["points"] for t in pl["tests"]] == [8, 3, 8]


def test_the_schema_validator_rejects_what_the_platforms_do_not_document() -> None:
    schema = json.loads((Path(__file__).parent / "schemas" /
                         "gradescope-results.schema.json").read_text())
    assert errors({"score": 1, "tests": [{"name": "a", "score": 1, "max_score": 1,
                                          "status": "ok"}]}, schema)
    assert errors({"score": "1"}, schema) and errors({"score": 1, "grade": 2}, schema)


@pytest.mark.parametrize("student", [b"", b"\xff\xfe", b"[[[", b"[circuit]\nq = true\n"])
def test_a_broken_submission_still_writes_both_files(tmp_path: Path, student: bytes) -> None:
    gs, pl = _files(tmp_path, student)
    validate(gs, "gradescope")
    validate(pl, "prairielearn")
    assert gs["score"] == 0 and pl["score"] == 0
    assert gs["output"] and pl["message"]


def test_a_broken_key_still_writes_both_files(tmp_path: Path) -> None:
    gs, pl = _files(tmp_path, RIGHT, key="[circuit]\nexpression = 3\n")
    validate(gs, "gradescope")
    validate(pl, "prairielearn")
    assert pl["gradable"] is False and gs["score"] == 0 and "malformed" in pl["message"]


def test_an_internal_error_still_writes_both_files(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kw: object) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(gr, "grade", boom)
    with pytest.raises(RuntimeError, match="simulated bug"):  # raised again once written
        _files(tmp_path, RIGHT)
    gs, pl = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("gs", "pl"))
    validate(gs, "gradescope")
    validate(pl, "prairielearn")
    assert "simulated bug" in gs["output"] and pl["gradable"] is False


def test_markdown_feedback_is_escaped(tmp_path: Path) -> None:
    key = KEY.replace('[fan]', '["<img src=x onerror=alert(1)>"]').replace(
        "[circuit]", '[circuit]\ndescription = "*bold* <b>html</b> [link](http://x)"')
    student = RIGHT.replace("[fan]", '["<img src=x onerror=alert(1)>"]').replace(
        "dz = 3", 'dz = "<script>alert(1)</script>"')
    gs, _ = _files(tmp_path, student, key)
    markdown = json.dumps([gs["output"]] + [t["output"] for t in gs["tests"]])
    assert "<" not in markdown and ">" not in markdown and "&lt;script&gt;" in markdown
    assert "\\\\*bold\\\\*" in markdown
    # Names are plain text (name_format text): Gradescope shows them as text, unrendered.
    assert all(t["name_format"] == "text" for t in gs["tests"])


def test_files_are_written_atomically(tmp_path: Path) -> None:
    _files(tmp_path, RIGHT)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gs.json", "key.toml", "pl.json",
                                                          "s.toml"]


# ---------------------------------------------------------------- the command


def test_cli_exit_codes_and_files(tmp_path: Path) -> None:
    (tmp_path / "key.toml").write_text(KEY)
    (tmp_path / "right.toml").write_text(RIGHT)
    (tmp_path / "wrong.toml").write_text(_replace(RIGHT, "fan", "dx", "6"))
    (tmp_path / "empty.toml").write_text("")
    key = str(tmp_path / "key.toml")
    res = runner.invoke(app, ["check", key, "--answers", str(tmp_path / "right.toml")])
    assert res.exit_code == 0 and "score 21 of 21" in res.output
    res = runner.invoke(app, ["check", key, "--answers", str(tmp_path / "wrong.toml"),
                              "--gradescope", str(tmp_path / "gs.json")])
    assert res.exit_code == 1 and json.loads((tmp_path / "gs.json").read_text())["score"] == 19
    res = runner.invoke(app, ["check", key, "--answers", str(tmp_path / "empty.toml"),
                              "--prairielearn", str(tmp_path / "pl.json")])
    assert res.exit_code == 2
    assert json.loads((tmp_path / "pl.json").read_text())["gradable"] is False


def test_cli_json_and_stdin(tmp_path: Path) -> None:
    (tmp_path / "key.toml").write_text(KEY)
    res = runner.invoke(app, ["check", str(tmp_path / "key.toml"), "--answers", "-", "--json"],
                        input=RIGHT)
    assert res.exit_code == 0
    doc = json.loads(res.output)
    assert doc["score"] == doc["max_score"] == 21 and doc["gradable"] is True


def test_cli_platform_file_without_answers_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "key.toml").write_text(KEY)
    res = runner.invoke(app, ["check", str(tmp_path / "key.toml"), "--gradescope", "r.json"])
    assert res.exit_code == 2 and "--answers" in res.output


def test_plain_check_of_a_key_with_points_still_passes(tmp_path: Path) -> None:
    (tmp_path / "key.toml").write_text(KEY)
    assert runner.invoke(app, ["check", str(tmp_path / "key.toml")]).exit_code == 0


_TOML_BITS = st.sampled_from(["[circuit]", "[neuron]", "[fan]", "[[circuit]]", "q = 3",
                              "dx = -4", "dz = 1e400", "dx = nan", "dy = inf", "dx = [1, [2]]",
                              'dx = "[1,2"', "value = 0.73", "= 3", "dx = ", "a.b = 1",
                              "dw0 = -0.20", "dx = 2024-01-01", "[circuit.dx]", '"df/dx" = 4',
                              "dx = [[1, 2], [3]]", "\x00", "é = 1", "dx = true"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_TOML_BITS, max_size=12) | st.text(max_size=200).map(lambda s: [s]))
def test_any_submission_is_graded_without_raising(bits: list[str]) -> None:
    report = _grade("\n".join(bits))
    assert 0 <= report.score <= report.max_score == 21
    validate(gr.gradescope_results(report), "gradescope")
    validate(gr.prairielearn_results(report), "prairielearn")


# ---------------------------------------------------------------- error carried forward, arrays


def _array_key(family: str, level: int = 1) -> tuple[str, str]:
    key = mk.key_toml(mk.make(family, seed=3, level=level), command="c", title="t")
    (p,) = parse_problems(key, "toml", "k.toml").problems
    return key, p.name


def test_an_array_answer_built_on_an_earlier_wrong_array_is_carried_forward() -> None:
    # ||W x||^2 with W = [[-2, -2], [-2, 2]], x = [1, 2]: q = [-6, 2]. With their q = [-6, 3]:
    # value = 45, dq = 2 q = [-12, 6], dW = dq x^T, dx = W^T dq: all follow from q.
    key, name = _array_key("wx-norm")
    student = (f"[{name}]\nq = [-6, 3]\nvalue = 45\ndq = [-12, 6]\n"
               "dW = [[-12, -24], [6, 12]]\ndx = [12, 36]\n")
    report = _grade(student, key)
    got = {a.key: (a.status, a.points) for a in report.problems[0].answers}
    assert got == {"q": ("wrong", 0), "value": ("carried", 1), "dq": ("carried", 2),
                   "dW": ("carried", 2), "dx": ("carried", 2)}
    assert "follows from your earlier" in _answer(report, name, "dq").feedback[0]


def test_an_array_carried_forward_gets_the_keys_share() -> None:
    key, name = _array_key("wx-norm")
    key = key.replace("carried_forward = 1.0", "carried_forward = 0.25")
    dq = _answer(_grade(f"[{name}]\nq = [-6, 3]\ndq = [-12, 6]\n", key), name, "dq")
    assert (dq.status, dq.points, dq.max_points) == ("carried", 0.5, 2)


def test_an_array_answer_off_in_one_entry_from_the_rerun_is_wrong() -> None:
    key, name = _array_key("wx-norm")
    dq = _answer(_grade(f"[{name}]\nq = [-6, 3]\ndq = [-12, 7]\n", key), name, "dq")
    assert (dq.status, dq.points) == ("wrong", 0)


def test_relu_passes_a_carried_upstream_where_their_input_is_positive() -> None:
    # h = W x + b = [3.3, -3.4], upstream [2, 4]; their h = [3.3, 3.4] lets the 4 through.
    key, name = _array_key("relu-layer", level=2)
    report = _grade(f"[{name}]\nh = [3.3, 3.4]\nvalue = [3.3, 3.4]\ndh = [2, 4]\n"
                    "db = [2, 4]\n", key)
    got = {a.key: a.status for a in report.problems[0].answers}
    assert got["value"] == got["dh"] == got["db"] == "carried" and got["h"] == "wrong"


def test_an_array_answer_of_the_wrong_shape_carries_nothing_forward() -> None:
    key, name = _array_key("wx-norm")
    dq = _answer(_grade(f"[{name}]\nq = [-6, 3, 1]\ndq = [-12, 6]\n", key), name, "dq")
    assert dq.status == "wrong"


# ---------------------------------------------------------------- show_correct = false

HIDDEN_KEY = '''
title = "hidden"
digits = 2
show_correct = false

[circuit]
expression = "q = x + y; f = q * z"
at = { x = 1.37, y = 2.91, z = -3.3 }
expect = { q = 4.28, value = -14.124, dq = -3.3, dx = -3.3, dz = 4.28 }

[wx]
expression = "q = W@x; f = sum(q^2)"
at = { W = [[1.5, 2], [3, -1]], x = [0.7, 1.3] }
[wx.expect]
q = [3.65, 0.8]
value = 13.9625
dq = [7.3, 1.6]
dW = [[5.11, 9.49], [1.12, 2.08]]
dx = [15.75, 13]
'''

# Wrong everywhere, by slips whose diagnosis would give the value away when shown: a flipped
# sign, a constant factor, a near miss a rounding hint would correct.
HIDDEN_WRONG = '''
[circuit]
q = -4.28
value = 14.124
dq = 3.3
dx = -3.31
dz = "z"

[wx]
q = [3.65, 0.9]
dq = [14.6, 3.2]
dW = [[-5.11, -9.49], [-1.12, -2.08]]
dx = [1, 2, 3]
'''

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _numbers(text: str) -> set[float]:
    return {round(float(m), 6) for m in _NUMBER.findall(text)}


def _hidden_truths() -> set[float]:
    """Every correct value of the key that the student was not given (inputs, their own
    answers and these values' negatives, which flipped-sign answers write, are excluded)."""
    given = {1.37, 2.91, -3.3, 1.5, 2, 3, -1, 0.7, 1.3}
    truths = {4.28, -14.124, -14.12, 3.65, 0.8, 13.9625, 13.96, 7.3, 1.6, 5.11, 9.49, 1.12,
              2.08, 15.75, 13}
    return {round(t, 6) for t in truths - given} - _numbers(HIDDEN_WRONG)


def test_show_correct_false_leaks_no_correct_value_to_students(tmp_path: Path) -> None:
    gs, pl = _files(tmp_path, HIDDEN_WRONG, key=HIDDEN_KEY)
    validate(gs, "gradescope")
    validate(pl, "prairielearn")
    seen = [gs["output"], pl["message"], pl.get("output", "")]
    seen += [t["output"] for t in gs["tests"]]
    seen += [t["message"] + "\n" + t["output"] for t in pl["tests"]]
    table = runner.invoke(app, ["check", str(tmp_path / "key.toml"), "--answers",
                                str(tmp_path / "s.toml")])
    assert table.exit_code == 1
    seen.append(table.output)
    report = _grade(HIDDEN_WRONG, HIDDEN_KEY)
    leaked = _numbers("\n".join(seen)) & _hidden_truths()
    assert not leaked, leaked
    # value = q z from their q is carried forward, and says so without the correct value.
    assert report.score == 1 and all(a.feedback for p in report.problems for a in p.answers)


def test_show_correct_false_still_says_which_entries_are_wrong() -> None:
    dq = _answer(_grade(HIDDEN_WRONG, HIDDEN_KEY), "wx", "dq")
    assert dq.feedback == ["dq: 2 of 2 entries are not right: dq[0], dq[1]"]


def test_show_correct_false_keeps_carried_forward_credit() -> None:
    report = _grade("[circuit]\nq = 5\nvalue = -16.5\n", HIDDEN_KEY)
    value = _answer(report, "circuit", "value")
    assert value.status == "carried" and "-14.1" not in value.feedback[0]


def test_shown_by_default_the_feedback_states_the_correct_value() -> None:
    shown = HIDDEN_KEY.replace("show_correct = false", "")
    q = _answer(_grade(HIDDEN_WRONG, shown), "circuit", "q")
    assert "4.28" in " ".join(q.feedback)


def test_show_correct_must_be_true_or_false() -> None:
    with pytest.raises(InputError, match="true or false"):
        parse_problems(HIDDEN_KEY.replace("show_correct = false", 'show_correct = "no"'),
                       "toml", "k.toml")


def test_show_correct_false_hides_a_formula_checkers_feedback() -> None:
    def checker(problem, result, key, text):  # type: ignore[no-untyped-def]
        return False, ["the correct value is 4.28"]

    dz = _answer(_grade('[circuit]\ndz = "z"\n', HIDDEN_KEY, formula=checker), "circuit", "dz")
    assert dz.status == "wrong" and "4.28" not in " ".join(dz.feedback)


# ---------------------------------------------------------------- feedback in the student's words


def test_feedback_names_unnamed_nodes_by_their_expression_never_by_id() -> None:
    key = mk.key_toml(mk.make("neuron", seed=7, level=2), command="c", title="t")
    (p,) = parse_problems(key, "toml", "k.toml").problems
    report = _grade(f"[{p.name}]\ns = 1\ndw0 = 5\ndx1 = 5\n", key)
    said = "\n".join(f for a in report.problems[0].answers for f in a.feedback)
    assert "d(w0*x0 + w1*x1)" in said
    assert not re.search(r"#\d", said), said


def test_an_array_feedback_says_the_wrong_shape_once() -> None:
    key, name = _array_key("wx-norm")
    dw = _answer(_grade(f"[{name}]\ndW = [1, 2, 3, 4]\n", key), name, "dW")
    assert sum("shape" in f for f in dw.feedback) == 1
    assert len(dw.feedback) == len(set(dw.feedback))


def test_prairielearn_top_level_does_not_repeat_the_tests(tmp_path: Path) -> None:
    _, pl = _files(tmp_path, _replace(RIGHT, "circuit", "dz", "-3"))
    top = pl.get("output", "") + pl["message"]
    assert all(t["output"] not in top for t in pl["tests"])
