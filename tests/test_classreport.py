"""`backprop report`: a simulated class (tests/classsim.py: a `make` key, students with known
slips, graded by the real grader) read back from each platform's files, its rates recovered
exactly; malformed files listed and skipped; every output escaped."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli.course.classreport import ClassReport, summarise, to_csv
from backprop_cli.course.classresults import NO_SLIP, load_results, slips_of

from . import classsim as cs
from .conftest import Backprop, invoke

FORMATS = ("json", "gradescope", "prairielearn")


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("class")
    text, pset = cs.make_key()
    (root / "key.toml").write_text(text, encoding="utf-8")
    students = cs.simulate(pset)
    reports = cs.graded(pset, students, root / "submissions")
    cs.write_check_json(reports, root / "json")
    cs.write_gradescope(reports, root / "gradescope")
    cs.write_prairielearn(reports, root / "prairielearn")
    return {"root": root, "pset": pset, "students": students, "reports": reports}


def _report(klass: dict[str, Any], fmt: str) -> ClassReport:
    students, skipped = load_results([str(klass["root"] / fmt)])
    assert skipped == []
    return summarise(students, skipped, klass["pset"])


def _answer(report: ClassReport, problem: str, key: str) -> Any:
    (p,) = [p for p in report.problems if p.name == problem]
    (a,) = [a for a in p.answers if a.key == key]
    return a


def _expected_slips(students: list[cs.Student]) -> dict[str, set[str]]:
    who: dict[str, set[str]] = {}
    for s in students:
        for slip in s.slips.values():
            if slip != "missing":
                who.setdefault(slip, set()).add(s.id)
    return who


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_slip_is_recovered_with_its_students_exactly(klass: dict[str, Any],
                                                           fmt: str) -> None:
    report = _report(klass, fmt)
    got = {s.name: s.students for s in report.slips}
    want = {name: len(ids) for name, ids in _expected_slips(klass["students"]).items()}
    assert got == want


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_answer_counts_its_slips_wrong_missing_and_carried_exactly(
        klass: dict[str, Any], fmt: str) -> None:
    report = _report(klass, fmt)
    students: list[cs.Student] = klass["students"]
    n = len(students)
    for p in klass["pset"].problems:
        for key in p.expect:
            slips = Counter(s.slips[(p.name, key)] for s in students
                            if (p.name, key) in s.slips)
            carried = sum((p.name, key) in s.carried for s in students)
            a = _answer(report, p.name, key)
            missing = slips.pop("missing", 0)
            assert dict(a.slips) == dict(slips), (p.name, key)
            assert a.counts == {"correct": n - sum(slips.values()) - missing - carried,
                                "carried": carried, "wrong": sum(slips.values()),
                                "missing": missing}, (p.name, key)


def test_the_first_wrong_answer_is_where_the_single_slip_is(klass: dict[str, Any]) -> None:
    # One slip per student and problem: the first wrong answer is that slip's answer.
    report = _report(klass, "json")
    students: list[cs.Student] = klass["students"]
    for p in report.problems:
        for a in p.answers:
            want = sum(s.slips.get((p.name, a.key)) not in (None, "missing") for s in students)
            assert a.first_wrong == want, (p.name, a.key)
        assert p.no_wrong == len(students) - sum(a.first_wrong for a in p.answers)


def test_with_the_key_answers_are_in_the_order_they_are_computed(
        klass: dict[str, Any]) -> None:
    report = _report(klass, "json")
    (fanout,) = [p for p in report.problems if p.name == "fanout-1"]
    assert [a.key for a in fanout.answers] == ["a", "value", "da", "dy", "dx"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_scores_and_ids_are_the_graders(klass: dict[str, Any], fmt: str) -> None:
    students, _ = load_results([str(klass["root"] / fmt)])
    want = {Path(r.submission).stem: (round(r.score, 6), round(r.max_score, 6))
            for r in klass["reports"]}
    assert {s.id: (round(s.score, 6), round(s.max_score, 6)) for s in students} == want


def test_the_histogram_mean_and_median_are_the_scores(klass: dict[str, Any]) -> None:
    report = _report(klass, "json")
    pct = sorted(100 * r.score / r.max_score for r in klass["reports"])
    assert sum(report.histogram) == len(pct)
    assert report.mean == pytest.approx(sum(pct) / len(pct))
    assert report.median == pytest.approx((pct[19] + pct[20]) / 2)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(n=st.integers(5, 20), shares=st.lists(st.floats(0, 1), min_size=4, max_size=4),
       seed=st.integers(0, 10**6))
def test_random_slip_rates_are_recovered_exactly(klass: dict[str, Any], tmp_path_factory: Any,
                                                 n: int, shares: list[float],
                                                 seed: int) -> None:
    # Four slips on four problems, each made by a drawn number of the n students.
    slips = (("wx-norm-1", "dW", "transpose"), ("fanout-1", "dx", "missing fan-out branch"),
             ("mul-1", "dx", "swap gate: own input used"), ("neuron-1", "ds", "sign"))
    plan = tuple((p, k, slip, int(share * n)) for (p, k, slip), share in zip(slips, shares))
    students = cs.simulate(klass["pset"], n=n, seed=seed, plan=plan, carried=None)
    folder = tmp_path_factory.mktemp("random")
    cs.write_check_json(cs.graded(klass["pset"], students, folder / "subs"), folder / "json")
    got, skipped = load_results([str(folder / "json")])
    report = summarise(got, skipped)
    assert {s.name: s.students for s in report.slips} == {
        slip: count for _, _, slip, count in plan if count}


# ---------------------------------------------------------------- what is read, what skipped


def test_one_file_for_a_folder_and_json_lines_read_as_many_students(
        klass: dict[str, Any], tmp_path: Path) -> None:
    docs = [r.to_dict() for r in klass["reports"]]
    (tmp_path / "all.json").write_text(json.dumps(docs), encoding="utf-8")
    (tmp_path / "all.jsonl").write_text("\n".join(json.dumps(d) for d in docs[:5]),
                                        encoding="utf-8")
    students, skipped = load_results([str(tmp_path / "all.json")])
    assert len(students) == 40 and skipped == []
    students, skipped = load_results([str(tmp_path / "all.jsonl")])
    assert len(students) == 5 and skipped == []


def test_malformed_and_partial_files_are_listed_and_skipped(klass: dict[str, Any],
                                                            tmp_path: Path) -> None:
    good = klass["reports"][0].to_dict()
    (tmp_path / "good.json").write_text(json.dumps(good), encoding="utf-8")
    bad = {
        "truncated.json": json.dumps(good)[:500],
        "empty.json": "",
        "binary.json": b"\xff\xfe\x00garbage",
        "other.json": json.dumps({"hello": "world"}),
        "list.json": json.dumps([1, 2, 3]),
        "no_status.json": json.dumps({**good, "problems": [{"name": "p", "answers": [
            {"key": "dx", "points": 1, "max_points": 1}]}]}),
        "pl_failure.json": json.dumps({"gradable": False, "score": 0, "message": "broken key",
                                       "tests": []}),
        "gs_other.json": json.dumps({"score": 3, "tests": [{"name": "t1", "score": 3,
                                                            "output": "all good"}]}),
    }
    for name, content in bad.items():
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    students, skipped = load_results([str(tmp_path), str(tmp_path / "nowhere")])
    assert [s.id for s in students] == [Path(good["submission"]).stem]
    assert sorted(Path(s.source).name for s in skipped) == sorted([*bad, "nowhere"])
    why = {Path(s.source).name: s.why for s in skipped}
    assert why["truncated.json"].startswith("not JSON")
    assert why["pl_failure.json"].endswith("broken key")
    assert "not from the backprop grader" in why["gs_other.json"]


def test_a_second_result_for_a_student_is_skipped(klass: dict[str, Any],
                                                  tmp_path: Path) -> None:
    doc = klass["reports"][0].to_dict()
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps(doc), encoding="utf-8")
    students, skipped = load_results([str(tmp_path)])
    assert len(students) == 1
    assert len(skipped) == 1 and "a second result" in skipped[0].why


def test_gradescope_names_a_student_by_the_metadata(klass: dict[str, Any]) -> None:
    students, _ = load_results([str(klass["root"] / "gradescope" / "submission_1001")])
    assert [s.id for s in students] == ["s001"]


@pytest.mark.parametrize(("line", "slip"), [
    ("hint: the sign is flipped", "sign"),
    ("hint: the sign is flipped in every entry", "sign"),
    ("hint: your answer is path 2 alone: where a value is used more than once, ...",
     "missing fan-out branch"),
    ("hint: every entry is 2 × the correct one: a constant factor is off", "factor 2"),
    ("hint: every entry is 3 × the correct one: a constant factor is off", "constant factor"),
    ("hint: transpose: A transpose: dW is ...", "transpose"),
    ("hint: activation derivative at the wrong value: The activation's ...",
     "activation derivative at the wrong value"),
    ("dW: the shape is wrong: yours is a 3-vector, but ...", "wrong shape"),
])
def test_the_graders_hints_are_named(line: str, slip: str) -> None:
    assert slips_of([line]) == [slip]


# ---------------------------------------------------------------- the command and its outputs


def _run(klass: dict[str, Any], *args: str) -> Any:
    root = klass["root"]
    return invoke("report", str(root / "json"), "--key", str(root / "key.toml"), *args)


def test_the_terminal_report_names_each_slip_with_its_students(klass: dict[str, Any],
                                                               backprop: Backprop) -> None:
    root = klass["root"]
    r = backprop("report", str(root / "json"), "--key", str(root / "key.toml"))
    assert r.code == 0, r.stderr
    assert "40 students: mean" in r.stdout
    assert "transpose" in r.stdout and "9 of 40" in r.stdout


def test_json_has_the_counts(klass: dict[str, Any]) -> None:
    r = _run(klass, "--json")
    doc = json.loads(r.stdout)
    assert doc["students"] == 40
    assert {s["slip"]: s["students"] for s in doc["slips"]}["transpose"] == 9
    assert len(doc["scores"]) == 40


def test_csv_has_a_row_per_student_and_answer(klass: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "class.csv"
    assert _run(klass, "-o", str(out)).code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    answers = sum(len(p.expect) for p in klass["pset"].problems)
    assert len(rows) == 40 * answers  # a missing answer is a row too
    assert sum(r["status"] == "missing" for r in rows) == 6
    transposed = [r for r in rows if r["slips"] == "transpose"]
    assert len(transposed) == 9 and {r["answer"] for r in transposed} == {"dW"}


def test_markdown_and_html_are_written(klass: dict[str, Any], tmp_path: Path) -> None:
    for suffix in ("md", "html"):
        out = tmp_path / f"class.{suffix}"
        assert _run(klass, "-o", str(out)).code == 0
        text = out.read_text(encoding="utf-8")
        assert "missing fan-out branch" in text
    page = (tmp_path / "class.html").read_text(encoding="utf-8")
    assert page.count('class="break"') == 8  # the nodes where someone first went wrong
    assert "<script" not in page and "http://" not in page and "https://" not in page


def test_anonymous_leaves_the_ids_out(klass: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "class.html"
    r = _run(klass, "--anonymous", "--json", "-o", str(out))
    assert "s001" not in r.stdout and "s001" not in out.read_text(encoding="utf-8")


def test_no_readable_results_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text("{", encoding="utf-8")
    r = invoke("report", str(tmp_path))
    assert r.code == 2
    assert "no graded results could be read" in r.stderr and "x.json" in r.stderr


def test_an_unknown_output_suffix_is_bad_input(klass: dict[str, Any]) -> None:
    r = _run(klass, "-o", "report.pdf")
    assert r.code == 2 and ".html, .md, .csv or .json" in r.stderr


# ---------------------------------------------------------------- escaping


HOSTILE = "<script>alert(1)</script>[bold]x[/bold]|=cmd()"


def _hostile_report(klass: dict[str, Any], tmp_path: Path) -> Path:
    doc = klass["reports"][0].to_dict()
    doc["submission"] = HOSTILE + ".toml"
    doc["problems"][0]["answers"][0].update(status="wrong", written=HOSTILE,
                                            feedback=[HOSTILE, "hint: the sign is flipped"])
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_student_text_is_escaped_in_html_markdown_and_csv(klass: dict[str, Any],
                                                          tmp_path: Path) -> None:
    path = _hostile_report(klass, tmp_path)
    for suffix in ("html", "md", "csv"):
        assert invoke("report", str(path), "-o", str(tmp_path / f"r.{suffix}")).code == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "<script>" not in md and "\\[bold\\]" in md and "\\|=cmd" in md
    rows = list(csv.reader(io.StringIO((tmp_path / "r.csv").read_text(encoding="utf-8"))))
    assert all(not cell.startswith("=") for row in rows for cell in row)


def test_student_text_is_not_rich_markup(klass: dict[str, Any], tmp_path: Path) -> None:
    r = invoke("report", str(_hostile_report(klass, tmp_path)), "--width", "250")
    assert r.code == 0
    assert "[bold]x[/bold]" in r.stdout


def test_a_plain_negative_number_stays_a_number_in_csv(klass: dict[str, Any]) -> None:
    students, skipped = load_results([str(klass["root"] / "json")])
    rows = list(csv.DictReader(io.StringIO(to_csv(summarise(students, skipped)))))
    assert any(r["written"].startswith("-") for r in rows)


def test_follow_up_names_low_scores_and_repeated_slips(klass: dict[str, Any]) -> None:
    students, skipped = load_results([str(klass["root"] / "json")])
    low = students[0]
    for row in low.answers:
        row.status, row.points, row.slips = "wrong", 0.0, ["sign"]
    low.score = 0.0
    report = summarise(students, skipped)
    (f,) = report.follow_up
    assert f.id == low.id and f.reasons[0] == "score 0 %"
    assert f.reasons[1].startswith("sign on ")
    assert NO_SLIP not in f.reasons[1]
