"""`backprop course ...` in-process: variant settings, ids, the key's platform settings, the
graders' choices, the artefacts' contents and the commands' messages. The artefacts run on
the platforms' Pythons in tests/test_deploy_e2e.py."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from backprop_cli.core.errors import InputError
from backprop_cli.course import autograde, bundle, deploy, sheets
from backprop_cli.course import grade as g
from backprop_cli.course import make as mk
from backprop_cli.course.problems import parse_problems
from backprop_cli.course.variants import VariantSettings, gradescope_ids, prairielearn_id

from .conftest import invoke

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "examples" / "gradescope" / "key.toml"
SETTINGS = "circuit,fanout,neuron,wx-norm --seed 2026 --count 4"


# ---------------------------------------------------------------- variant settings, ids


def test_variant_settings_read_the_make_arguments() -> None:
    s = VariantSettings.parse("circuit,fanout --seed=7 -n 3 --level 2")
    assert (s.family, s.seed, s.count, s.level) == ("circuit,fanout", 7, 3, 2)
    assert s.args() == "circuit,fanout --seed 7 --count 3 --level 2"
    assert VariantSettings.parse(s.args()) == s


@pytest.mark.parametrize(("text", "said"), [
    ("circuit,fanot --seed 1", "unknown problem family 'fanot'"),
    ("circuit --seed one", "a whole number is needed"),
    ("circuit --sed 1", "'--sed', which is not a setting"),
    ("circuit --seed", "end after --seed"),
    ("circuit fanout", "name families twice"),
    ("circuit --level 9", "--level must be 1, 2 or 3"),
    ("circuit 'open", "cannot be read"),
])
def test_bad_variant_settings_say_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(InputError) as exc:
        VariantSettings.parse(text)
    assert said in exc.value.message


def test_ids_are_trimmed_and_case_folded_at_make() -> None:
    a = mk.make("circuit", seed=3, variant="  Alice@Uni.EDU ")
    b = mk.make("circuit", seed=3, variant="alice@uni.edu")
    assert a[0].draft == b[0].draft
    with pytest.raises(InputError):
        mk.make("circuit", seed=3, variant="   ")


def test_a_groups_ids_are_every_members_email_normalised() -> None:
    meta = {"users": [{"email": "Bob@X.org"}, {"email": " alice@x.org"}, {"name": "no email"},
                      {"email": "BOB@x.org"}]}
    assert gradescope_ids(meta) == ["alice@x.org", "bob@x.org"]
    assert gradescope_ids({"users": "nonsense"}) == [] == gradescope_ids([])


def test_prairielearn_ids_come_from_the_variant_seed() -> None:
    assert prairielearn_id(42) == prairielearn_id("42") == "pl-42"
    assert prairielearn_id("a b").startswith("pl-s")
    with pytest.raises(InputError):
        prairielearn_id(None)


# ---------------------------------------------------------------- the key's platform settings


def test_key_platform_settings_are_read_and_checked() -> None:
    body = KEY.read_text()
    pset = parse_problems('visibility = "after_due_date"\nexam = true\n' + body, "toml")
    assert pset.visibility == "after_due_date" and pset.malformed_gradable is False
    homework = parse_problems(body, "toml")
    assert homework.visibility == "visible" and homework.malformed_gradable is True
    graded_exam = parse_problems('exam = true\nmalformed = "graded"\n' + body, "toml")
    assert graded_exam.malformed_gradable is True
    with pytest.raises(InputError) as exc:
        parse_problems('visibility = "later"\n' + body, "toml")
    assert '"after_due_date"' in exc.value.message


# ---------------------------------------------------------------- the graders


def _gradescope_root(tmp_path: Path, answers: str, *, settings: str | None = None,
                     emails: list[str] | None = None, key_prefix: str = "") -> Path:
    (tmp_path / "source").mkdir()
    (tmp_path / "submission").mkdir()
    (tmp_path / "source" / "key.toml").write_text(key_prefix + KEY.read_text())
    if settings is not None:
        (tmp_path / "source" / "variant-settings").write_text(settings)
    if emails is not None:
        (tmp_path / "submission_metadata.json").write_text(
            json.dumps({"users": [{"email": e} for e in emails]}))
    (tmp_path / "submission" / "answers.toml").write_text(answers)
    return tmp_path


def _right(key_text: str) -> str:
    lines = []
    for p in parse_problems(key_text, "toml").problems:
        assert isinstance(p.expect, dict)
        lines += [f"[{p.name}]"] + [f"{k} = {json.dumps(_num(v))}" for k, v in p.expect.items()]
    return "\n".join(lines) + "\n"


def _num(v: object) -> object:
    return [_num(x) for x in v] if isinstance(v, list) else float(v)  # type: ignore[arg-type]


def test_gradescope_results_take_the_keys_visibility(tmp_path: Path) -> None:
    root = _gradescope_root(tmp_path, _right(KEY.read_text()),
                            key_prefix='visibility = "hidden"\n')
    doc = autograde.gradescope(root)
    assert doc["score"] == 40 and doc["visibility"] == "hidden"
    assert {t["visibility"] for t in doc["tests"]} == {"hidden"}
    assert json.loads((root / "results" / "results.json").read_text()) == doc


def test_gradescope_bad_settings_are_the_real_error_never_a_fallback_key(tmp_path: Path) -> None:
    root = _gradescope_root(tmp_path, _right(KEY.read_text()), settings="circuit --seed x",
                            emails=["a@b.c"])
    doc = autograde.gradescope(root)  # the fixed key's right answers: no points from it
    assert doc["score"] == 0 and doc["tests"] == []
    assert "--seed 'x': a whole number is needed" in doc["output"]


def test_gradescope_no_toml_names_what_was_uploaded(tmp_path: Path) -> None:
    root = _gradescope_root(tmp_path, "")
    (root / "submission" / "answers.toml").unlink()
    (root / "submission" / "homework.pdf").write_bytes(b"%PDF")
    doc = autograde.gradescope(root)
    assert doc["score"] == 0 and "homework.pdf" in doc["output"]


def test_a_group_is_graded_with_the_member_whose_numbers_fit(tmp_path: Path) -> None:
    settings = VariantSettings.parse(SETTINGS)
    root = _gradescope_root(tmp_path, _right(settings.key_text("bob@x.org")),
                            settings=SETTINGS, emails=["Alice@X.org", "bob@x.org"])
    doc = autograde.gradescope(root)
    assert doc["score"] == 40 and "bob@x.org" in doc["output"] and "group of 2" in doc["output"]


def _pl_root(tmp_path: Path, answers: str, key_prefix: str = "") -> Path:
    (tmp_path / "tests").mkdir()
    (tmp_path / "student").mkdir()
    (tmp_path / "tests" / "key.toml").write_text(key_prefix + KEY.read_text())
    (tmp_path / "student" / "answers.toml").write_text(answers)
    return tmp_path


def test_prairielearn_homework_grades_a_file_with_a_syntax_error_as_far_as_it_goes(
        tmp_path: Path) -> None:
    broken = _right(KEY.read_text()).replace("[fanout-1]", "[fanout-1")
    doc = autograde.prairielearn(_pl_root(tmp_path, broken))
    assert doc["gradable"] is True and 0 < doc["score"] < 1


def test_prairielearn_exam_sends_a_syntax_error_back_not_gradable(tmp_path: Path) -> None:
    broken = _right(KEY.read_text()).replace("[fanout-1]", "[fanout-1")
    doc = autograde.prairielearn(_pl_root(tmp_path, broken, "exam = true\n"))
    assert doc["gradable"] is False and doc["score"] == 0
    assert any("line" in e for e in doc["format_errors"])


def test_setup_check_refuses_settings_that_make_other_problems(tmp_path: Path) -> None:
    root = _gradescope_root(tmp_path, "", settings="circuit --seed 1 --count 2")
    with pytest.raises(InputError) as exc:
        autograde.check(root)
    assert "make the problems circuit-1, circuit-2, but the key has circuit-1, fanout-1" \
        in exc.value.message


# ---------------------------------------------------------------- the artefacts


def test_the_wheel_holds_the_package_the_grammar_and_its_metadata() -> None:
    name, data = bundle.wheel()
    assert name.startswith("backprop_cli-") and name.endswith("-py3-none-any.whl")
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = z.namelist()
        meta = z.read(next(n for n in names if n.endswith("METADATA"))).decode()
        record = z.read(next(n for n in names if n.endswith("RECORD"))).decode()
    assert "backprop_cli/grammars/backprop.lark" in names
    assert "backprop_cli/course/templates/gradescope/setup.sh" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert "Requires-Python: >=3.10" in meta
    assert len(record.splitlines()) == len(names)
    assert bundle.wheel()[1] == data  # the same installation, the same bytes


def test_gradescope_zip_holds_the_scripts_at_the_top(tmp_path: Path) -> None:
    built = deploy.gradescope(KEY, tmp_path / "autograder.zip", variants=SETTINGS,
                              visibility="after_published")
    assert built.total == 40
    with zipfile.ZipFile(built.path) as z:
        names = set(z.namelist())
        key = z.read("key.toml").decode()
        mode = z.getinfo("run_autograder").external_attr >> 16
        settings = z.read("variant-settings").decode()
    assert {"setup.sh", "run_autograder", "key.toml", "variant-settings"} < names
    assert mode & 0o111
    assert key.startswith('visibility = "after_published"\n')
    assert settings.strip() == VariantSettings.parse(SETTINGS).args()


def test_gradescope_build_refuses_a_key_that_does_not_pass(tmp_path: Path) -> None:
    bad = tmp_path / "key.toml"
    bad.write_text(KEY.read_text().replace("expect = { q = -3,", "expect = { q = 3,"))
    with pytest.raises(InputError) as exc:
        deploy.gradescope(bad, tmp_path / "a.zip")
    assert "does not pass `backprop check`" in exc.value.message
    assert not (tmp_path / "a.zip").exists()


def test_gradescope_build_refuses_a_visibility_the_key_contradicts(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text('visibility = "hidden"\n' + KEY.read_text())
    with pytest.raises(InputError) as exc:
        deploy.gradescope(key, tmp_path / "a.zip", visibility="visible")
    assert 'already says visibility = "hidden"' in exc.value.message


def test_prairielearn_build_needs_a_question_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError) as exc:
        deploy.prairielearn(KEY, tmp_path / "q")
    assert "COURSE/questions/NAME" in exc.value.message


def test_prairielearn_build_keeps_what_it_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "serverFilesCourse" / "backprop").mkdir(parents=True)
    (tmp_path / "questions").mkdir()
    with pytest.raises(InputError) as exc:
        deploy.prairielearn(KEY, tmp_path / "questions" / "q")
    assert "not written by backprop" in exc.value.message


def test_prairielearn_build_keeps_the_questions_uuid(tmp_path: Path) -> None:
    question = tmp_path / "questions" / "q"
    question.parent.mkdir()
    deploy.prairielearn(KEY, question, exam=True)
    first = json.loads((question / "info.json").read_text())["uuid"]
    deploy.prairielearn(KEY, question)
    assert json.loads((question / "info.json").read_text())["uuid"] == first
    assert (tmp_path / "serverFilesCourse" / "backprop" / "vendor" / "lark").is_dir()


# ---------------------------------------------------------------- sheets


def test_roster_ids_are_read_from_the_email_column_normalised() -> None:
    text = "First Name,Last Name,SID,Email\nAda,L,1, Ada@X.org \nBob,B,2,bob@x.org\n"
    assert sheets.roster_ids(text) == ["ada@x.org", "bob@x.org"]
    assert sheets.roster_ids("s1\ns2\n") == ["s1", "s2"]  # no header: the first column


def test_roster_with_one_student_twice_is_refused() -> None:
    with pytest.raises(InputError) as exc:
        sheets.roster_ids("email\nada@x.org\nADA@x.org\n")
    assert "rows 2 and 3" in exc.value.message


def test_a_sheet_per_roster_row_with_its_own_numbers(tmp_path: Path) -> None:
    settings = VariantSettings.parse("circuit,fanout --seed 5 --count 2")
    written = sheets.write_sheets(settings, ["ada@x.org", "bob@x.org"], tmp_path)
    assert [p.name for p in written] == ["ada@x.org.html", "bob@x.org.html"]
    ada = written[0].read_text()
    assert "<svg" in ada and "ada@x.org" in ada
    at = ", ".join(f"{n} = {mk._point_text(v)}"
                   for n, v in settings.made("ada@x.org")[0].draft.at.items())
    assert at in ada and written[1].read_text() != ada


# ---------------------------------------------------------------- the commands


def test_course_gradescope_prints_the_points_to_enter(tmp_path: Path) -> None:
    out = tmp_path / "autograder.zip"
    r = invoke("course", "gradescope", str(KEY), "-o", str(out))
    assert r.code == 0, r.output
    assert "worth 40 points (4 problems)" in r.stdout and out.is_file()


def test_course_gradescope_bad_variants_exit_2_with_the_reason(tmp_path: Path) -> None:
    r = invoke("course", "gradescope", str(KEY), "-o", str(tmp_path / "a.zip"),
               "--variants", "circuit,fanout --seed 2026 --count 4")
    assert r.code == 2
    assert "make the problems circuit-1, fanout-1, circuit-2, fanout-2, but the key has" \
        in r.stderr
    assert not (tmp_path / "a.zip").exists()


def test_course_sheets_writes_one_page_per_row(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("email\nada@x.org\nbob@x.org\n")
    r = invoke("course", "sheets", str(roster), "-o", str(tmp_path / "sheets"), "--variants",
               "circuit --seed 1")
    assert r.code == 0, r.output
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == [
        "ada@x.org.html", "bob@x.org.html"]


def test_course_commands_have_help_with_an_example() -> None:
    for command in ("gradescope", "prairielearn", "sheets"):
        r = invoke("course", command, "--help")
        assert r.code == 0 and f"backprop course {command} " in r.stdout, command


def test_blank_submission_grades_every_answer_missing() -> None:
    key = parse_problems(KEY.read_text(), "toml")
    report = g.grade(key, g.Submission("blank"))
    assert report.score == 0 and report.max_score == 40


def test_results_are_cut_to_fit_whatever_the_notes(tmp_path: Path) -> None:
    junk = "".join(f"[junk-{k}]\nvalue = 1\n" for k in range(40_000))
    root = _pl_root(tmp_path, junk)
    autograde.prairielearn(root)
    results = root / "results" / "results.json"
    assert results.stat().st_size < autograde.MAX_RESULTS
    doc = json.loads(results.read_text())
    # grade.py's own caps come first ("... more tables"); the size guard cuts what is left
    assert doc["score"] == 0 and ("more tables" in doc["message"]
                                  or "more characters" in doc["message"])


def test_gradescope_build_never_writes_over_the_key(tmp_path: Path) -> None:
    key = tmp_path / "key.toml"
    key.write_text(KEY.read_text())
    with pytest.raises(InputError) as exc:
        deploy.gradescope(key, key)
    assert "also this run's input" in exc.value.message
    assert key.read_text() == KEY.read_text()
