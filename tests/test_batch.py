"""Running problem sets: results, summary, exit codes, JSON, JUnit XML, the CLI (`check`,
`eval --expect`) through CliRunner and a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backprop_cli import (
    BatchReport,
    ProblemResult,
    evaluate,
    load_problems,
    parse_problems,
    run_problems,
    write_junit,
)
from backprop_cli.cli import app
from backprop_cli.core.errors import ExitStatus
from backprop_cli.course.batch import PARALLEL_MIN_PROBLEMS, junit_xml

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ROOT / "examples" / "lecture.toml"
runner = CliRunner()

# Problem 1 passes, 2 has a wrong answer, 3 has a bad expression, 4 passes (after the bad one).
MIXED = '''
[good]
expression = "(x+y)*z"
at = { x = -2, y = 5, z = -4 }
expect = { value = -12, dx = -4, dy = -4, dz = 3 }

[wrong]
expression = "q = x + y; f = q * z"
at = "x=-2,y=5,z=-4"
expect = { dx = 4, q = 3 }

[broken]
expression = "x * (y +"
at = "x=1,y=2"

[still-runs]
expression = "x * x"
at = { x = 3 }
expect = { dx = 6 }
'''


def mixed() -> BatchReport:
    return run_problems(parse_problems(MIXED, source="mixed.toml"))


def test_lecture_answer_key_passes_every_problem() -> None:
    report = run_problems(LECTURE)
    assert report.ok and report.exit_status == ExitStatus.OK
    assert report.passed == len(report.results) == len(load_problems(LECTURE).items)
    assert report.summary_line() == f"{report.passed} passed, 0 failed"
    for r in report.results:
        assert r.answers and all(c.ok for c in r.answers), r.name
        assert r.verified_by == ["sympy", "numeric"]


def test_a_bad_problem_does_not_hide_the_others() -> None:
    report = mixed()
    assert [r.status for r in report.results] == ["pass", "fail", "error", "pass"]
    assert report.summary_line() == "2 passed, 1 failed, 1 error"
    assert report.exit_status == ExitStatus.BAD_INPUT  # 2 wins over 1
    broken = report.results[2]
    assert broken.line == 13 and "syntax error" in (broken.error or "")
    wrong = report.results[1]
    (diff,) = wrong.differences()
    assert diff.startswith("dx: answer 4, correct -4") and "sign is flipped" in diff
    (bad,) = [c for c in wrong.answers if not c.ok]
    assert bad.explanation == ["df/dx = df/dq * dq/dx = (-4) * 1 = -4"]


def test_only_mismatches_exit_1() -> None:
    text = MIXED.split("[broken]")[0]
    report = run_problems(parse_problems(text))
    assert report.exit_status == ExitStatus.CHECK_FAILED
    assert report.summary_line() == "1 passed, 1 failed"


def test_errors_from_evaluation_point_at_their_key() -> None:
    text = ('[p]\nexpression = "log(x)"\nat = { x = -1 }\n'
            '[q]\nexpression = "x"\nat = { x = 1 }\nexpect = { dy = 1 }\n'
            '[r]\nexpression = """\nq = x + 1\nf = q * (x +\n"""\nat = { x = 1 }\n')
    r = run_problems(parse_problems(text)).results
    assert [x.status for x in r] == ["error"] * 3
    assert r[0].line == 3 and r[1].line == 7 and "neither an input" in (r[1].error or "")
    assert r[2].line == 11  # the line inside the multi-line expression


def test_problem_without_answers_is_checked_by_the_verifiers_only() -> None:
    (r,) = run_problems(parse_problems('[p]\nexpression = "tanh(x)*y"\nat = "x=0.3,y=2"\n'))\
        .results
    assert r.status == "pass" and not r.answers and r.gradients
    assert any("no answers" in n for n in r.notes)


def test_batch_honours_check_option_and_per_problem_check() -> None:
    text = '[a]\nexpression = "x*y"\nat = "x=1,y=2"\n' \
           '[b]\nexpression = "x*y"\nat = "x=1,y=2"\ncheck = ["sympy"]\n'
    a, b = run_problems(parse_problems(text), check=("numeric",)).results
    assert a.verified_by == ["numeric"] and b.verified_by == ["sympy"]
    a, b = run_problems(parse_problems(text), check=()).results
    assert a.verified_by == [] and b.verified_by == ["sympy"]


def test_digits_default_applies_to_problems_that_do_not_say() -> None:
    r = evaluate("x * y", at="x=1.1,y=2")
    dy = round((r.gradients or {})["y"])
    text = f'[p]\nexpression = "x*y"\nat = "x=1.1,y=2"\nexpect = {{ dy = {dy} }}\n'
    assert run_problems(parse_problems(text)).results[0].status == "fail"
    assert run_problems(parse_problems(text), digits=0).results[0].status == "pass"


def test_json_document() -> None:
    doc = mixed().to_dict()
    json.dumps(doc, allow_nan=False)
    assert doc["summary"] == {"total": 4, "passed": 2, "failed": 1, "errors": 1, "unchecked": 0,
                              "line": "2 passed, 1 failed, 1 error"}
    assert doc["exit_status"] == 2 and doc["ok"] is False
    wrong = doc["problems"][1]
    assert set(wrong) >= {"name", "status", "line", "answers", "differences", "error"}
    assert wrong["answers"][0]["truth"] == -4.0


def test_junit_xml_structure(tmp_path: Path) -> None:
    report = mixed()
    path = tmp_path / "junit.xml"
    write_junit(report, path)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    for el in (root, suite):
        assert (el.get("tests"), el.get("failures"), el.get("errors")) == ("4", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["good", "wrong", "broken", "still-runs"]
    assert all(c.get("classname") == "backprop.mixed" for c in cases)
    assert [len(c.findall("failure")) for c in cases] == [0, 1, 0, 0]
    assert [len(c.findall("error")) for c in cases] == [0, 0, 1, 0]
    failure = cases[1].find("failure")
    assert failure is not None and "dx: answer 4" in (failure.get("message") or "")
    assert "df/dx = df/dq * dq/dx" in (failure.text or "")
    error = cases[2].find("error")
    assert error is not None and "mixed.toml, line 13" in (error.text or "")
    allowed = {"testsuites": {"name", "tests", "failures", "errors", "skipped", "time"},
               "testsuite": {"name", "tests", "failures", "errors", "skipped", "time"},
               "testcase": {"name", "classname", "time"},
               "failure": {"message", "type"}, "error": {"message", "type"},
               "system-out": set()}
    for el in root.iter():
        assert el.tag in allowed and set(el.attrib) <= allowed[el.tag], el.tag


def test_junit_xml_survives_control_characters() -> None:
    report = BatchReport("x.toml", [ProblemResult("bell\x07\x1b[31m", 1, 1, "error",
                                                  error="bad \x00 byte")])
    text = ET.tostring(junit_xml(report), encoding="unicode")
    root = ET.fromstring(text)  # well-formed XML 1.0
    case = root.find("testsuite/testcase")
    assert case is not None and case.get("name") == "bell\\x07\\x1b[31m"


def test_jobs_give_the_same_results_as_one_process() -> None:
    pset = load_problems(LECTURE)
    items = (pset.items * (PARALLEL_MIN_PROBLEMS // len(pset.items) + 1))
    seen: list[int] = []
    parallel = run_problems(items, jobs=2, progress=lambda done, total: seen.append(done))
    serial = run_problems(items)
    assert [r.to_dict() | {"seconds": 0} for r in parallel.results] == \
        [r.to_dict() | {"seconds": 0} for r in serial.results]
    assert seen == sorted(seen) and seen[-1] == len(items)  # progress counts up to the end


# ---------------------------------------------------------------- CLI: check


def test_cli_check_lecture_passes() -> None:
    res = runner.invoke(app, ["check", str(LECTURE)])
    assert res.exit_code == 0, res.output
    last = res.output.strip().splitlines()[-1]
    n = len(load_problems(LECTURE).items)
    assert last == f"{n} passed, 0 failed"
    assert "neuron-sigmoid" in res.output


def test_cli_check_mixed_file_reports_every_row(tmp_path: Path) -> None:
    f = tmp_path / "mixed.toml"
    f.write_text(MIXED)
    junit = tmp_path / "out" / "junit.xml"
    junit.parent.mkdir()
    res = runner.invoke(app, ["check", str(f), "--junit", str(junit)])
    assert res.exit_code == 2
    out = res.output
    for needle in ("good", "wrong", "broken", "still-runs", "✗ FAIL", "! ERROR",
                   "line 13", "df/dx = df/dq * dq/dx = (-4) * 1 = -4"):
        assert needle in out, needle
    assert out.strip().splitlines()[-1] == "2 passed, 1 failed, 1 error"
    assert ET.parse(junit).getroot().get("tests") == "4"
    quiet = runner.invoke(app, ["check", str(f), "--no-details"])
    assert "df/dx = df/dq" not in quiet.output


def test_cli_check_json_from_stdin_jsonl() -> None:
    lines = [json.dumps({"name": "mul", "expression": "x*y", "at": "x=3,y=-4",
                         "expect": {"dx": -4, "dy": 3}}),
             json.dumps({"name": "off", "expression": "x*y", "at": "x=3,y=-4",
                         "expect": {"dx": 3}})]
    res = runner.invoke(app, ["check", "-", "--json"], input="\n".join(lines) + "\n")
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert [p["status"] for p in doc["problems"]] == ["pass", "fail"]
    assert doc["source"] == "<stdin>"


@pytest.mark.parametrize(("args", "message"), [
    (["check", "/nonexistent/set.toml"], "cannot read"),
    (["check", "-", "--format", "yaml"], "unknown format"),
    (["check", "-", "--check", "symbolic"], "unknown check"),
    (["check", "-", "--digits", "many"], "--digits"),
])
def test_cli_check_bad_input_exits_2(args: list[str], message: str) -> None:
    res = runner.invoke(app, args, input='[p]\nexpression = "x"\nat = {x = 1}\n')
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output


def test_cli_check_bad_toml_syntax_names_the_line() -> None:
    res = runner.invoke(app, ["check", "-"], input='[p]\nexpression = "x\nat = {x = 1}\n'
                        '[q]\nexpression = "x"\nat = {x = 1}\n')
    assert res.exit_code == 2
    assert "bad TOML at line 2" in res.output and "1 passed, 0 failed, 1 error" in res.output


# ---------------------------------------------------------------- CLI: eval --expect


def test_cli_eval_expect_all_match() -> None:
    res = runner.invoke(app, ["eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4",
                              "--expect", "dx=-4,dy=-4,dz=3", "--expect", "value=-12"])
    assert res.exit_code == 0, res.output
    assert "Your answers" in res.output and "all 4 answers match" in res.output


def test_cli_eval_expect_mismatch_exits_1_with_the_chain_rule() -> None:
    res = runner.invoke(app, ["eval", "q = x + y; f = q * z", "--at", "x=-2,y=5,z=-4",
                              "--expect", "dx=4,dq=-4,q=3"])
    assert res.exit_code == 1
    assert "df/dx = df/dq * dq/dx = (-4) * 1 = -4" in res.output
    assert "1 of 3 answers differ" in res.output


def test_cli_eval_one_answer_summary_reads_as_english() -> None:
    args = ["eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--expect"]
    wrong = runner.invoke(app, [*args, "dx=4"])
    assert wrong.exit_code == 1
    assert "✗ the answer differs" in wrong.output and "1 of 1" not in wrong.output
    right = runner.invoke(app, [*args, "dx=-4"])
    assert right.exit_code == 0 and "✓ the answer matches" in right.output


def test_cli_eval_expect_rounded_and_digits() -> None:
    args = ["eval", "sigmoid(w0*x0 + w1*x1 + w2)", "--at", "w0=2,x0=-1,w1=-3,x1=-2,w2=-3"]
    assert runner.invoke(app, [*args, "--expect", "value=0.73,dw0=-0.20"]).exit_code == 0
    assert runner.invoke(app, [*args, "--expect", "dw0=-0.2", "--digits", "2"]).exit_code == 0
    assert runner.invoke(app, [*args, "--expect", "dw0=-0.20", "--digits", "exact"]) \
        .exit_code == 1


def test_cli_eval_expect_unknown_name_exits_2_with_a_suggestion() -> None:
    res = runner.invoke(app, ["eval", "(x+y)*z", "--at", "x=-2,y=5,z=-4", "--expect", "dzz=3"])
    assert res.exit_code == 2
    assert "neither an input nor an intermediate" in res.output
    assert "did you mean dz?" in res.output and "Traceback" not in res.output


def test_cli_eval_expect_json() -> None:
    res = runner.invoke(app, ["eval", "x*y", "--at", "x=3,y=-4", "--expect", "dx=-4,dy=4",
                              "--json"])
    assert res.exit_code == 1
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["answers"]["ok"] is False
    assert [c["ok"] for c in doc["answers"]["checks"]] == [True, False]


# ---------------------------------------------------------------- a real subprocess


def test_subprocess_check_and_junit(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    junit = tmp_path / "junit.xml"
    proc = subprocess.run([sys.executable, "-m", "backprop_cli", "check", str(LECTURE),
                           "--junit", str(junit)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith("passed, 0 failed")
    assert ET.parse(junit).getroot().get("failures") == "0"
    bad = subprocess.run([sys.executable, "-m", "backprop_cli", "eval", "(x+y)*z", "--at",
                          "x=-2,y=5,z=-4", "--expect", "dx=-3"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 1 and "df/dx = df/d(x+y) * d(x+y)/dx" in bad.stdout
    assert "Traceback" not in bad.stderr


def test_readme_python_api_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    section = (ROOT / "docs" / "guides" / "python-api.md").read_text(encoding="utf-8")
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    printed = section.split("prints\n\n```\n", 1)[1].split("```", 1)[0]
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "lecture.toml").write_text(LECTURE.read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "python-api.md", "exec"), {})  # our own docs, not user input
    assert capsys.readouterr().out == printed
    assert ET.parse(tmp_path / "junit.xml").getroot().get("failures") == "0"
