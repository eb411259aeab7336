"""Formula answers everywhere answers go (issue 13): `eval --expect "dx = 2*x"`, problem sets
(`expect = { dW = "2*(W@x)@x.T" }` with `shape = {...}`, TOML and JSON Lines), the grader,
and the commands of docs/guides/formulas.md for them.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from backprop_cli.checks.answers import parse_expect
from backprop_cli.course.batch import run_problems
from backprop_cli.course.problems import Invalid, parse_problems

from .conftest import assert_bad_input, invoke, no_crash, squash

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "guides" / "formulas.md"
W = "W=[[0.1,0.5],[-0.3,0.8]]"
X = "x=[[0.2],[0.4]]"
WX_SHAPES = ("--shape", "W=m,n", "--shape", "x=n,1")

NORM = '''[norm]
expression = "sum((W@x)^2)"
at = { W = [[0.1, 0.5], [-0.3, 0.8]], x = [[0.2], [0.4]] }
shape = { W = "m,n", x = "n,1" }
expect = { dW = "%s" }
'''


def _checks(r) -> list[dict]:  # type: ignore[no-untyped-def]
    return json.loads(r.stdout)["answers"]["checks"]


def _slips(check: dict) -> list[str]:
    return [s["slip"] for s in check["diagnosis"]]


# --- parsing --expect ------------------------------------------------------------------------


def test_text_that_is_not_a_number_is_a_formula() -> None:
    (a,) = parse_expect("dx = 2*x*cos(x^2)")
    assert a.formula == "2*x*cos(x^2)" and a.key == "dx"


def test_a_formula_keeps_its_commas_and_ends_at_the_next_answer() -> None:
    answers = parse_expect("du = A@v, dA = outer(u, v); dx=-4 value = 2 * x")
    assert [(a.key, a.formula) for a in answers] == [
        ("du", "A@v"), ("dA", "outer(u, v)"), ("dx", None), ("value", "2 * x")]
    assert answers[2].value == -4


def test_number_like_text_stays_a_bad_number() -> None:
    from backprop_cli.core.errors import InputError

    for text in ("dx=1e999", "dx=nan", "dx=1_000"):
        with pytest.raises(InputError, match="not a finite number"):
            parse_expect(text)


# --- eval --expect ---------------------------------------------------------------------------


def test_a_right_scalar_formula_is_proved_and_exits_0() -> None:
    r = invoke("eval", "sin(x^2)", "--at", "x=1.5", "--expect", "dx = 2*x*cos(x^2)")
    no_crash(r)
    assert r.code == 0 and "proved by sympy" in r.stdout and "✓ the answer matches" in r.stdout


def test_a_wrong_scalar_formula_exits_1_and_names_the_slip() -> None:
    r = invoke("eval", "sin(x^2)", "--at", "x=1.5", "--expect", "dx = x*cos(x^2)")
    assert r.code == 1
    out = squash(r.stdout)
    assert "factor 2" in out and "A factor 2 is missing" in out
    assert "at your point: wrong" in out


def test_a_right_array_formula_holds_at_random_shapes() -> None:
    r = invoke("eval", "sum((W@x)^2)", "--at", W, "--at", X, "--expect",
               "dW = 2*(W@x)@x.T", *WX_SHAPES, "--json")
    assert r.code == 0, r.output
    (c,) = _checks(r)
    assert c["ok"] and c["verdict"] == "holds" and c["at_point"] is True
    assert len(c["shapes_tried"]) > 3 and c["summary"] == f"holds at {c['trials']} points"


def test_a_transposed_formula_exits_1_with_the_shape_and_transpose_named() -> None:
    r = invoke("eval", "sum((W@x)^2)", "--at", W, "--at", X, "--expect",
               "dW = 2*x@(W@x).T", *WX_SHAPES, "--json")
    assert r.code == 1
    (c,) = _checks(r)
    assert c["verdict"] == "differs" and not c["ok"]
    assert {"wrong shape", "transpose"} <= set(_slips(c))
    cex = c["counterexample"]
    assert set(cex) >= {"shapes", "point", "yours", "correct"}
    assert cex["shapes"]["W"][0] != cex["shapes"]["W"][1]  # letters drawn distinct


def test_shapes_default_to_the_sizes_of_the_point() -> None:
    r = invoke("eval", "sum((W@x)^2)", "--at", "W=[[1,2,3],[4,5,6]]", "--at", "x=[[1],[0],[2]]",
               "--expect", "dx = 2*W.T@(W@x)", "--json")
    (c,) = _checks(r)
    assert r.code == 0 and c["verdict"] == "holds"
    assert any(s["W"] != [2, 3] for s in c["shapes_tried"])  # not only the point's sizes


def test_a_square_point_without_shapes_says_how_to_tell_a_transpose_apart() -> None:
    r = invoke("eval", "sum((W@x)^2)", "--at", W, "--at", X, "--expect", "dW = x@(W@x).T")
    assert r.code == 1
    assert "W is square at your point" in squash(r.stdout) and "--shape W=m,n" in r.stdout


def test_right_at_the_point_but_wrong_in_general_differs() -> None:
    # d(x^2)/dx is 2 at x = 1, and so is x + 1, but x + 1 is not 2*x.
    r = invoke("eval", "x^2", "--at", "x=1", "--expect", "dx = x + 1", "--json")
    assert r.code == 1
    (c,) = _checks(r)
    assert c["at_point"] is True and c["verdict"] == "differs"
    assert "in general" in " ".join(c["explanation"])


def test_formula_and_number_answers_mix_in_one_table() -> None:
    r = invoke("eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4",
               "--expect", "dx = z, dz=3", "--expect", "dy = x + y")
    assert r.code == 1
    out = squash(r.stdout)
    assert "formula: proved by sympy" in out and "dy: you wrote x + y" in out
    assert "1 of 3 answers differ" in out


def test_json_fields_of_a_formula_answer() -> None:
    r = invoke("eval", "sin(x^2)", "--at", "x=1.5", "--expect", "dx = -2*x*cos(x^2)", "--json")
    (c,) = _checks(r)
    for key in ("formula", "verdict", "summary", "trials", "shapes_tried", "counterexample",
                "diagnosis", "at_point", "truth", "answer"):
        assert key in c
    assert c["formula"] == "-2*x*cos(x^2)" and "sign" in _slips(c)
    assert c["answer"] == pytest.approx(-c["truth"])  # your value at the point
    assert all(set(s) == {"slip", "sentence"} for s in c["diagnosis"])


def test_check_answers_takes_formulas_and_shapes_from_python() -> None:
    from backprop_cli import check_answers

    answers = check_answers("sum((W@x)^2)", {"W": "[[1,2],[3,4]]", "x": "[[1],[2]]"},
                            {"dW": "2*(W@x)@x.T", "dx": "W.T@(W@x)"},
                            shapes={"W": "m,n", "x": "n,1"})
    dw, dx = answers.checks
    assert dw.ok and dw.formula is not None and dw.formula.verdict == "holds"
    assert not dx.ok and "factor 2" in [s.name for s in dx.formula.diagnosis]  # type: ignore[union-attr]


# --- bad input -------------------------------------------------------------------------------


def test_a_syntax_error_in_a_formula_answer_is_one_located_message() -> None:
    r = invoke("eval", "sin(x^2)", "--at", "x=1", "--expect", "dx = 2*x*cos(x^2")
    err = assert_bad_input(r, "--expect dx: syntax error", "^")
    assert [line for line in err.splitlines() if line.startswith("error")] == [
        err.splitlines()[0]]
    assert "(column 17)" in err  # of the claim as typed, under the caret


def test_an_unknown_name_in_a_formula_answer_suggests_the_input() -> None:
    r = invoke("eval", "W*x", "--at", "W=2,x=3", "--expect", "dW = w")
    assert_bad_input(r, "unknown name 'w'", "did you mean W?")


def test_a_formula_for_a_forward_value_is_bad_input() -> None:
    r = invoke("eval", "q = x + y; f = q*z", "--at", "x=1,y=2,z=3", "--expect", "q = x + y")
    assert_bad_input(r, "a formula answer is for a gradient", "dq = FORMULA")


def test_a_formula_answer_with_another_upstream_is_bad_input() -> None:
    r = invoke("eval", "x^2", "--at", "x=1", "--upstream", "3", "--expect", "dx = 6*x")
    assert_bad_input(r, "needs the default upstream gradient 1")


def test_a_bad_shape_option_is_bad_input() -> None:
    r = invoke("eval", "sum(W@x)", "--at", "W=[[1,2],[3,4]]", "--at", "x=[1,2]",
               "--expect", "dx = W.T@(x*0+1)", "--shape", "W=m,0")
    assert_bad_input(r, "'0' is not a dimension")


# --- problem sets ----------------------------------------------------------------------------


def test_a_problem_set_reads_formula_expects_and_shapes() -> None:
    (p,) = parse_problems(NORM % "2*(W@x)@x.T", "toml").items
    assert not isinstance(p, Invalid)
    assert p.expect == {"dW": "2*(W@x)@x.T"} and p.shape == {"W": "m,n", "x": "n,1"}


def test_check_passes_a_right_formula_and_reports_its_verdict(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(NORM % "2*(W@x)@x.T", encoding="utf-8")
    r = invoke("check", str(path))
    assert r.code == 0 and "dW = 2*(W@x)@x.T: holds at" in squash(r.stdout)


def test_check_fails_a_wrong_formula_in_table_json_and_junit(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(NORM % "2*x@(W@x).T", encoding="utf-8")
    junit = tmp_path / "junit.xml"
    r = invoke("check", str(path), "--junit", str(junit))
    assert r.code == 1 and "transpose" in squash(r.stdout)
    doc = json.loads(invoke("check", str(path), "--json").stdout)
    (c,) = doc["problems"][0]["answers"]
    assert c["verdict"] == "differs" and "transpose" in _slips(c)
    failure = ET.parse(junit).getroot().find("testsuite/testcase/failure")
    assert failure is not None and "differs" in (failure.get("message") or "")
    assert "transpose" in (failure.get("message") or "") + (failure.text or "")


def test_json_lines_problems_take_formulas_and_shapes() -> None:
    lines = "\n".join(json.dumps(d) for d in [
        {"name": "right", "expression": "sum((W@x)^2)", "at": {"W": [[1, 2], [3, 4]],
         "x": [[1], [2]]}, "shape": {"W": "m,n", "x": "n,1"},
         "expect": {"dx": "2*W.T@(W@x)"}},
        {"name": "wrong", "expression": "sin(x^2)", "at": {"x": 1.5},
         "expect": {"dx": "x*cos(x^2)"}},
    ])
    report = run_problems(parse_problems(lines, "jsonl"))
    right, wrong = report.results
    assert right.status == "pass" and right.answers[0].formula is not None
    assert wrong.status == "fail" and "factor 2" in " ".join(wrong.differences())


@pytest.mark.parametrize(("formula", "says"), [
    ("2*(W@x", "syntax error"), ("2*(w@x)@x.T", "did you mean W?"),
])
def test_a_bad_formula_in_a_problem_set_is_an_error_row(formula: str, says: str) -> None:
    (p,) = parse_problems(NORM % formula, "toml").items
    assert isinstance(p, Invalid) and p.line == 5
    assert "'expect.dW'" in p.message and says in p.message + (p.hint or "")


def test_a_bad_shape_table_is_an_error_row() -> None:
    (p,) = parse_problems(NORM.replace('"n,1"', '"n,x"').replace('"m,n"', '"m,0"')
                          % "2*(W@x)@x.T", "toml").items
    assert isinstance(p, Invalid) and "'shape'" in p.message and "not a dimension" in p.message


# --- the grader ------------------------------------------------------------------------------


def test_a_students_formula_is_graded_by_check_formula(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text((NORM % "2*(W@x)@x.T").replace('expect = { dW = "2*(W@x)@x.T" }',
                                                  'expect = { dW = "2*(W@x)@x.T", '
                                                  'dx = "2*W.T@(W@x)" }'), encoding="utf-8")
    student = tmp_path / "student.toml"
    student.write_text('[norm]\ndW = "2*(W@x)@x.T"\ndx = "W.T@(W@x)"\n', encoding="utf-8")
    r = invoke("check", str(key), "--answers", str(student), "--json")
    assert r.code == 1, r.output
    (norm,) = json.loads(r.stdout)["problems"]
    dw, dx = norm["answers"]
    assert dw["status"] == "correct" and dw["points"] == dw["max_points"]
    assert dx["status"] == "wrong" and dx["points"] == 0
    assert "factor 2" in " ".join(dx["feedback"])


# --- a formula problem needs no point (issue 24 §1) --------------------------------------------

POINTLESS = NORM.replace("at = { W = [[0.1, 0.5], [-0.3, 0.8]], x = [[0.2], [0.4]] }\n", "")


def test_a_problem_of_formulas_only_needs_no_point() -> None:
    (p,) = parse_problems(POINTLESS % "2*(W@x)@x.T", "toml").items
    assert not isinstance(p, Invalid) and p.at is None
    (r,) = run_problems([p]).results
    assert r.status == "pass" and r.answers[0].at_point is None
    assert r.answers[0].rounding.startswith("holds at")


def test_a_wrong_formula_without_a_point_differs_with_its_slip_named() -> None:
    (r,) = run_problems(parse_problems(POINTLESS % "2*x@(W@x).T", "toml")).results
    assert r.status == "fail" and "transpose" in " ".join(r.differences())
    assert "differs in general" in r.answers[0].verdict()


def test_a_number_answer_still_needs_a_point() -> None:
    (p,) = parse_problems(POINTLESS.replace('{ dW = "%s" }', '{ dW = "2*(W@x)@x.T", '
                                            'value = 0.116 }'), "toml").items
    assert isinstance(p, Invalid) and "missing 'at'" in p.message


def test_a_students_formula_for_a_problem_without_a_point(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text((POINTLESS % "2*(W@x)@x.T").replace(
        'expect = { dW = "2*(W@x)@x.T" }', 'expect = { dW = "2*(W@x)@x.T", dx = "2*W.T@(W@x)"'
        ', ds = "2*x" }').replace("sum((W@x)^2)", "s = sum((W@x)^2); f = s^2"),
        encoding="utf-8")
    student = tmp_path / "student.toml"
    student.write_text('[norm]\ndW = "2*(W@x)@x.T"\ndx = "2*x@(W@x).T"\nds = 3\n',
                       encoding="utf-8")
    assert invoke("check", str(key)).code == 1  # the key's own ds = 2*x is wrong: 2*s
    r = invoke("check", str(key), "--answers", str(student), "--json")
    (norm,) = json.loads(r.stdout)["problems"]
    dw, dx, ds = norm["answers"]
    assert dw["status"] == "wrong" and dx["status"] == "wrong" and ds["status"] == "wrong"
    assert "shape" in " ".join(dx["feedback"]) and "asks for a formula" in ds["feedback"][0]


# --- docs/guides/formulas.md --------------------------------------------------------------


def _readme_commands() -> list[tuple[str, int]]:
    section = PAGE.read_text(encoding="utf-8")
    return [(m.group(1), int(m.group(2))) for m in
            re.finditer(r"^backprop ((?:eval|check) .*?)\s+# exit (\d)", section, re.M)]


def test_the_readme_shows_formula_answers_in_eval_and_check() -> None:
    commands = [c for c, _ in _readme_commands()]
    assert any(c.startswith("eval") and "--expect" in c for c in commands)
    assert any(c.startswith("check") for c in commands)


@pytest.mark.parametrize(("command", "code"), _readme_commands())
def test_each_readme_answer_example_exits_as_written(command: str, code: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the examples name files under examples/
    r = invoke(*shlex.split(command))
    no_crash(r)
    assert r.code == code, r.output
