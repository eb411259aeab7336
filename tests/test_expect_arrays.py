"""Checking answers for vectors and matrices: --expect array literals, entry-by-entry rounding,
shapes, the backward story, problem sets with arrays, JUnit, the CLI and a real subprocess.

The correct answers are computed here with numpy (dW = 2 q xᵀ, dx = 2 Wᵀ q, softmax(z) - y,
relu's mask times upstream), never taken from the tool itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backprop_cli import InputError, check_answers, evaluate
from backprop_cli.checks.answers import AnswerTolerance, match_answers, parse_expect
from backprop_cli.cli import app
from backprop_cli.course.batch import junit_xml, run_problems
from backprop_cli.course.problems import Invalid, Problem, parse_problems

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

W = np.array([[0.1, 0.5], [-0.3, 0.8]])
X = np.array([0.2, 0.4])
Q = W @ X
DW = 2 * np.outer(Q, X)  # the lecture: dW = 2 q xᵀ
DX = 2 * W.T @ Q  # dx = 2 Wᵀ q
NORM = "sum((W@x)^2)"
NORM_AT = ["W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]"]


def lit(a: np.ndarray, decimals: int) -> str:
    """An answer as a student writes it: rounded, in literal syntax."""
    if a.ndim == 1:
        return "[" + ",".join(f"{v:.{decimals}f}" for v in a) + "]"
    return "[" + ",".join(lit(row, decimals) for row in a) + "]"


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


# ---------------------------------------------------------------- parsing


def test_parse_expect_reads_arrays_with_the_grammar_and_keeps_each_entry_written() -> None:
    got = parse_expect("dW=[[0.088, 0.176],[0.104,0.2]] , dx=[-0.112,1]; value=0.116")
    assert [a.key for a in got] == ["dW", "dx", "value"]
    dw, dx, value = got
    assert dw.shape == (2, 2) and dx.shape == (2,) and value.shape is None
    assert [e.written for e in dw.entries] == ["0.088", "0.176", "0.104", "0.2"]
    assert [e.decimals for e in dw.entries] == [3, 3, 3, 1]
    assert [e.key for e in dx.entries] == ["dx[0]", "dx[1]"]
    assert dx.entries[1].decimals is None  # "1" has no decimal point: exact


@pytest.mark.parametrize(("text", "message", "column"), [
    ("dx=[1,2", "the input ends too early", 8),
    ("dx=[1,,2]", "unexpected ','", 7),
    ("dx=[[1,2],[3]]", "ragged matrix: row 2 has 1 entry, row 1 has 2", 11),
    ("dx=[1,abc]", "unexpected 'abc'", 7),
    ("dx=[]", "empty arrays are not supported", 4),
    ("dW=[[[1]]]", "unexpected '['", 6),
    ("dx=[1,2],dx=[3,4]", "gives 'dx' twice", 10),
    ("value=1, dx=[1,1e999]", "is not a finite number", 16),
])
def test_malformed_array_answers_are_bad_input_that_points_into_the_option(
        text: str, message: str, column: int) -> None:
    with pytest.raises(InputError) as info:
        parse_expect(text)
    assert message in info.value.message
    assert info.value.source == text
    lc = info.value.line_col()
    assert lc is not None and lc[1] == column


# ---------------------------------------------------------------- matching


def test_exact_and_rounded_answers_match_entry_by_entry() -> None:
    exact = check_answers(NORM, NORM_AT, {"dW": DW.tolist(), "dx": DX}, digits="exact")
    assert exact.ok
    rounded = check_answers(NORM, NORM_AT, f"dW={lit(DW, 3)},dx={lit(DX, 2)}")
    assert rounded.ok
    dw, dx = rounded.checks
    assert dw.shape == [2, 2] and dw.answer_shape == [2, 2]
    assert [e.rounding for e in dx.entries] == ["2 decimals, as written"] * 2
    assert np.allclose(dw.truth, DW)


def test_digits_applies_to_every_entry() -> None:
    cut = "[" + ",".join(f"{v:.1f}" for v in DX) + "]"  # one decimal each
    assert check_answers(NORM, NORM_AT, f"dx={cut}").ok
    assert not check_answers(NORM, NORM_AT, f"dx={cut}", digits=3).ok
    ints = [round(v) for v in DX]  # ints are exact unless digits says how they were rounded
    assert check_answers(NORM, NORM_AT, {"dx": ints}, digits=0).ok
    assert not check_answers(NORM, NORM_AT, {"dx": ints}).ok


def test_a_wrong_entry_is_named_with_its_index_yours_and_correct() -> None:
    wrong = DW.round(3).copy()
    wrong[1, 0] += 0.03
    answers = check_answers(NORM, NORM_AT, f"dW={lit(wrong, 3)}")
    (c,) = answers.checks
    assert not c.ok and c.shape == c.answer_shape == [2, 2]
    bad = [e for e in c.entries if not e.ok]
    assert [e.index for e in bad] == [(1, 0)]
    assert bad[0].truth == pytest.approx(DW[1, 0])
    assert f"dW[1,0]: yours {wrong[1, 0]:.3f}, correct {DW[1, 0]:.6g}" in c.explanation[0]
    assert "3 of 4 entries match" in "\n".join(c.explanation)
    assert c.verdict().startswith("dW: 1 of 4 entries differ: dW[1,0] answer")
    assert c.difference[1][0] == pytest.approx(wrong[1, 0] - DW[1, 0])


def test_the_story_of_a_wrong_array_gradient_goes_node_by_node() -> None:
    answers = check_answers("q = W@x; f = sum(q^2)", NORM_AT, {"dW": (DW * 0.5).tolist()})
    (c,) = answers.checks
    story = "\n".join(c.explanation)
    # upstream arriving at q (2q), then the matmul's vector-Jacobian product from the op table
    assert f"dq = d(q^2) ⊙ local = [1, 1] ⊙ [{2 * Q[0]:.6g}, {2 * Q[1]:.6g}]" in story
    assert "at q = W@x (matmul): dW = dq @ xᵀ = " in story
    assert "the backward pass starts with 1" in story
    assert any("every entry is 0.5 × the correct one" in h for h in c.hints)


def test_a_wrong_shape_is_called_out_as_such() -> None:
    answers = check_answers(NORM, NORM_AT, {"dW": DW.ravel().tolist(), "dx": float(DX[0]),
                                           "value": [float(np.sum(Q ** 2))]})
    dw, dx, value = answers.checks
    assert not dw.ok and dw.answer_shape == [4] and dw.shape == [2, 2] and not dw.entries
    assert "the gradient has the variable's shape, always" in dw.explanation[0]
    assert "dW is a 2×2 matrix, like W" in dw.verdict()
    assert any("the numbers are right, in row-major order" in h for h in dw.hints)
    assert "yours is a scalar, but dx is a vector of 2" in dx.explanation[0]
    assert not value.ok and value.shape == [] and value.answer_shape == [1]
    assert dw.difference is None


def test_a_transposed_matrix_is_spotted() -> None:
    answers = check_answers(NORM, NORM_AT, {"dW": DW.T.tolist()})
    assert any("transpose" in h for h in answers.checks[0].hints)
    wide = evaluate("sum(A)", at={"A": np.ones((2, 3))})
    got = match_answers(wide, {"dA": np.ones((3, 2))})
    assert got.checks[0].answer_shape == [3, 2]
    assert any("transpose" in h for h in got.checks[0].hints)


def test_unknown_names_are_still_bad_input() -> None:
    with pytest.raises(InputError, match="neither an input nor an intermediate"):
        check_answers(NORM, NORM_AT, "dz=[1,2]")


def test_named_intermediates_values_and_gradients() -> None:
    answers = check_answers("q = W@x; f = sum(q^2)", NORM_AT,
                            f"q={lit(Q, 2)},dq={lit(2 * Q, 2)}")
    assert answers.ok
    q, dq = answers.checks
    assert q.kind == "value" and dq.kind == "gradient" and dq.quantity == "df/dq"
    wrong = check_answers("q = W@x; f = sum(q^2)", NORM_AT, {"q": (Q + 0.1).tolist()})
    assert "q = W@x = " in wrong.checks[0].explanation[-1]  # the forward computation


def test_relu_slide_with_an_array_upstream() -> None:
    x = np.array([1.0, -2.0, 3.0, -1.0])
    up = np.array([4.0, -1.0, 5.0, 9.0])
    truth = up * (x > 0)
    ok = check_answers("relu(x)", {"x": x}, {"dx": truth.astype(int).tolist()},
                       upstream="[4,-1,5,9]")
    assert ok.ok and ok.checks[0].quantity == "dL/dx"
    bad = check_answers("relu(x)", {"x": x}, {"dx": up.astype(int).tolist()}, upstream=up)
    story = "\n".join(bad.checks[0].explanation)
    assert "dL/df = [4, -1, 5, 9] (the upstream given)" in story
    assert "⊙ [1, 0, 1, 0]" in story  # relu's local gradient, entry by entry


@pytest.mark.parametrize("expr", ["cross_entropy(z, y)", "-sum(y*log(softmax(z)))"])
def test_softmax_cross_entropy_answer_is_softmax_minus_y(expr: str) -> None:
    z, y = np.array([2.0, 1.0, 0.1]), np.array([0.0, 1.0, 0.0])
    answers = check_answers(expr, {"z": z, "y": y}, f"dz={lit(softmax(z) - y, 3)}")
    assert answers.ok


def test_scalar_answers_in_an_array_job_still_work_and_explain_without_paths() -> None:
    r = evaluate("sigmoid(b + dot(x, t))", at={"b": 0.5, "x": [1.0, 2.0], "t": [0.3, -0.2]})
    s = 1 / (1 + np.exp(-(0.5 + 0.3 - 0.4)))
    assert match_answers(r, {"db": f"{s * (1 - s):.4f}"}).ok
    wrong = match_answers(r, {"db": 1})
    assert any("dot" in line or "sigmoid" in line for line in wrong.checks[0].explanation)


def test_json_document_has_shapes_and_every_entry() -> None:
    given = DW.round(3)
    given[0, 1] += 0.002
    res = runner.invoke(app, ["eval", NORM, "--at", NORM_AT[0], "--at", NORM_AT[1],
                              "--expect", f"dW={lit(given, 3)}", "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    (c,) = doc["answers"]["checks"]
    assert c["shape"] == [2, 2] and c["answer_shape"] == [2, 2] and len(c["entries"]) == 4
    assert [e["ok"] for e in c["entries"]] == [abs(g - t) <= 0.0005 + 1e-9
                                               for g, t in zip(given.ravel(), DW.ravel())]
    assert np.allclose(c["difference"], given - DW)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(0, 4),
       st.lists(st.floats(-3, 3), min_size=12, max_size=12), st.data())
def test_rounded_answers_pass_and_a_nudged_entry_fails_at_its_index(
        m: int, n: int, decimals: int, numbers: list[float], data: st.DataObject) -> None:
    a = np.array(numbers[:m * n]).reshape(m, n)
    v = np.array(numbers[6:6 + n])
    r = evaluate("sum(A@v)", at={"A": a, "v": v}, check=())
    da = np.outer(np.ones(m), v)  # d sum(A v) / dA = 1 vᵀ
    text = lit(da, decimals) if decimals else lit(da, 1)
    assert match_answers(r, f"dA={text}").ok
    k = data.draw(st.integers(0, m * n - 1))
    nudged = da.round(3).copy()
    nudged.flat[k] += 0.01
    got = match_answers(r, f"dA={lit(nudged, 3)}")
    assert [e.index for e in got.checks[0].entries if not e.ok] == [divmod(k, n)]


# ---------------------------------------------------------------- problem sets

TOML = f'''
[norm]
expression = "{NORM}"
at = {{ W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4] }}
expect = {{ dW = {lit(DW, 3).replace(",", ", ")}, dx = "{lit(DX, 3)}" }}

[relu]
expression = "relu(x)"
at = "x=[1,-2,3,-1]"
upstream = [4, -1, 5, 9]
expect = {{ dx = [4, 0, 5, 0] }}

[ragged]
expression = "relu(x)"
at = {{ x = [[1, 2], [3]] }}

[bad-literal]
expression = "relu(x)"
at = {{ x = [1, 2] }}
expect = {{ dx = "[1,,2]" }}

[too-deep]
expression = "relu(x)"
at = {{ x = [1, 2] }}
upstream = [[[1]]]

[wrong-shape]
expression = "q = W@x; f = sum(q^2)"
at = {{ W = "[[0.1,0.5],[-0.3,0.8]]", x = [0.2, 0.4] }}
expect = {{ q = {lit(Q, 2)}, dW = {lit(DW.ravel(), 3)} }}
'''


def test_toml_with_arrays_passes_fails_and_reports_malformed_arrays_with_their_line() -> None:
    pset = parse_problems(TOML, source="arrays.toml")
    norm = pset.items[0]
    assert isinstance(norm, Problem)
    assert isinstance(pset.items[2], Invalid)  # ragged: caught when the file is read
    assert norm.at["W"] == [[Decimal("0.1"), Decimal("0.5")], [Decimal("-0.3"), Decimal("0.8")]]
    report = run_problems(pset)
    status = {r.name: r.status for r in report.results}
    assert status == {"norm": "pass", "relu": "pass", "ragged": "error",
                      "bad-literal": "error", "too-deep": "error", "wrong-shape": "fail"}
    by = {r.name: r for r in report.results}
    lines = TOML.splitlines()
    for name, key in [("ragged", "at ="), ("bad-literal", "expect ="), ("too-deep", "upstream")]:
        line = by[name].line
        assert line is not None and lines[line - 1].startswith(key), (name, line)
    assert "ragged matrix" in (by["ragged"].error or "")
    assert "syntax error" in (by["bad-literal"].error or "")
    assert "at most two levels" in (by["too-deep"].error or "")
    (diff,) = by["wrong-shape"].differences()
    assert diff.startswith("dW: the shape is wrong: yours is a vector of 4, but dW is a 2×2")
    assert report.exit_status == 2


def test_jsonl_with_lists_and_literal_strings() -> None:
    z, y = [2.0, 1.0, 0.1], [0, 1, 0]
    truth = softmax(np.array(z)) - np.array(y)
    rows = [
        {"name": "ce", "expression": "cross_entropy(z, y)", "at": {"z": z, "y": y},
         "expect": {"dz": [round(v, 3) for v in truth]}},
        {"name": "relu", "expression": "relu(x)", "at": {"x": "[1,-2,3,-1]"},
         "upstream": "[4,-1,5,9]", "expect": "dx=[4,0,5,0]"},
        {"name": "null", "expression": "relu(x)", "at": {"x": [1, None]}},
        {"name": "wrong", "expression": "relu(x)", "at": {"x": [1, -2]},
         "upstream": [3, 3], "expect": {"dx": [3, 3]}},
    ]
    text = "\n".join(json.dumps(r) for r in rows)
    report = run_problems(parse_problems(text, source="p.jsonl"))
    assert [r.status for r in report.results] == ["pass", "pass", "error", "fail"]
    assert report.results[2].line == 3
    assert report.results[3].differences()[0].startswith("dx: 1 of 2 entries differ: dx[1]")


def test_junit_failure_names_the_wrong_entries_and_the_shape() -> None:
    report = run_problems(parse_problems(TOML, source="arrays.toml"))
    root = ET.fromstring(ET.tostring(junit_xml(report), encoding="unicode"))
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert root.get("tests") == "6" and root.get("failures") == "1" and root.get("errors") == "3"
    failure = cases["wrong-shape"].find("failure")
    assert failure is not None
    assert "the shape is wrong" in (failure.get("message") or "")
    assert "the gradient has the variable's shape, always" in (failure.text or "")
    assert cases["norm"].find("failure") is None


def test_the_lecture_problem_set_has_its_vectorised_examples_and_all_pass() -> None:
    report = run_problems(ROOT / "examples" / "lecture.toml")
    names = {r.name for r in report.results}
    assert {"wx-norm", "wx-norm-named", "relu-slide", "softmax-cross-entropy",
            "softmax-cross-entropy-by-hand"} <= names
    assert report.ok, report.summary_line()


# ---------------------------------------------------------------- the CLI


def test_cli_array_answers_pass_and_fail() -> None:
    ok = runner.invoke(app, ["eval", NORM, "--at", NORM_AT[0], "--at", NORM_AT[1],
                             "--expect", f"dW={lit(DW, 3)},dx={lit(DX, 3)}"])
    assert ok.exit_code == 0, ok.output
    assert "all 2 answers match" in ok.output
    wrong = DX.round(3).copy()
    wrong[0] = -wrong[0]
    bad = runner.invoke(app, ["eval", NORM, "--at", NORM_AT[0], "--at", NORM_AT[1],
                              "--expect", f"dx={lit(wrong, 3)}", "--expect",
                              f"dW={lit(DW.ravel(), 3)}"])
    assert bad.exit_code == 1
    assert f"dx[0]: yours {wrong[0]:.3f}, correct {DX[0]:.6g}" in bad.output
    assert "wrong shape: yours is a vector of 4, but dW is a 2×2 matrix" in bad.output
    assert "Traceback" not in bad.output
    syntax = runner.invoke(app, ["eval", NORM, "--at", NORM_AT[0], "--at", NORM_AT[1],
                                 "--expect", "dx=[1,2"])
    assert syntax.exit_code == 2
    assert "hint: write a vector as [0.2,0.4]" in syntax.output


def test_cli_check_a_toml_file_with_arrays(tmp_path: Path) -> None:
    f = tmp_path / "arrays.toml"
    f.write_text(TOML)
    res = runner.invoke(app, ["check", str(f)])
    assert res.exit_code == 2
    assert res.output.strip().splitlines()[-1] == "2 passed, 1 failed, 3 errors"


def test_subprocess_eval_with_array_answers(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    good = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", NORM, "--at",
                           NORM_AT[0], "--at", NORM_AT[1], "--expect",
                           f"dW={lit(DW, 3)},dx={lit(DX, 3)}"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert good.returncode == 0, good.stderr
    assert "all 2 answers match" in good.stdout
    bad = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", NORM, "--at",
                          NORM_AT[0], "--at", NORM_AT[1], "--expect", f"dx={lit(DX, 3)},dW=0"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 1
    assert "wrong shape: yours is a scalar, but dW is a 2×2 matrix" in bad.stdout


def test_answer_tolerance_is_per_entry_not_per_array() -> None:
    # 0.1 (one decimal) and 0.636 (three) in one answer: each entry keeps its own allowance
    r = evaluate(NORM, at=NORM_AT)
    got = match_answers(r, f"dx=[{DX[0]:.1f},{DX[1]:.3f}]", AnswerTolerance())
    assert got.ok
    assert [e.allowed for e in got.checks[0].entries] == pytest.approx([0.05, 0.0005], rel=1e-5)
