"""The shipped autograders: examples/gradescope/run_autograder and the PrairieLearn grader,
run as the platforms run them, in a temporary folder laid out as they lay it out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backprop_cli.core.tomlcompat import tomllib
from backprop_cli.course.batch import run_problems
from backprop_cli.course.problems import load_problems

from .result_schemas import validate

ROOT = Path(__file__).resolve().parent.parent
GRADESCOPE = ROOT / "examples" / "gradescope"
PRAIRIELEARN = ROOT / "examples" / "prairielearn"
PL_QUESTION = PRAIRIELEARN / "questions" / "backprop-upload"  # graded by grade.sh
PL_NATIVE = PRAIRIELEARN / "questions" / "backprop-practice"  # graded by its server.py
TEMPLATES = ROOT / "backprop_cli" / "course" / "templates"
EXAMPLE_ANSWERS = GRADESCOPE / "example-answers.toml"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # This interpreter's environment stands for the one setup.sh makes (BACKPROP_VENV), and
    # its Python for PrairieLearn's (grade.sh's BACKPROP_PYTHON; no vendor/ in examples).
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env["BACKPROP_VENV"] = sys.prefix
    env["BACKPROP_PYTHON"] = sys.executable
    env.update(extra)
    return env


def _options(question: Path) -> dict[str, str]:
    return {"question_path": str(question),
            "server_files_course_path": str(PRAIRIELEARN / "serverFilesCourse")}


def _gradescope(tmp_path: Path, submission: dict[str, bytes]) -> dict:
    (tmp_path / "source").mkdir()
    (tmp_path / "submission").mkdir()
    for name in ("key.toml", "setup.sh", "run_autograder"):
        shutil.copy(GRADESCOPE / name, tmp_path / "source" / name)
    shutil.copy(GRADESCOPE / "run_autograder", tmp_path / "run_autograder")
    for name, data in submission.items():
        (tmp_path / "submission" / name).write_bytes(data)
    done = subprocess.run(["bash", str(tmp_path / "run_autograder")], cwd=tmp_path,
                          env=_env(AUTOGRADER_ROOT=str(tmp_path)), capture_output=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(doc, "gradescope")
    return doc


def test_gradescope_grades_the_example_submission(tmp_path: Path) -> None:
    doc = _gradescope(tmp_path, {"answers.toml": EXAMPLE_ANSWERS.read_bytes()})
    assert [t["name"] for t in doc["tests"]] == ["circuit-1", "fanout-1", "neuron-1",
                                                  "wx-norm-1"]
    assert 0 < doc["score"] < sum(t["max_score"] for t in doc["tests"])
    assert "carried forward" in doc["tests"][0]["output"]


def test_gradescope_finds_a_toml_file_of_another_name(tmp_path: Path) -> None:
    doc = _gradescope(tmp_path, {"my-homework.toml": EXAMPLE_ANSWERS.read_bytes()})
    assert doc["score"] > 0


@pytest.mark.parametrize("submission", [{}, {"answers.toml": b""},
                                        {"answers.toml": b"\x00\xff garbage"},
                                        {"notes.txt": b"I did it on paper"}])
def test_gradescope_always_writes_a_valid_file(tmp_path: Path,
                                               submission: dict[str, bytes]) -> None:
    doc = _gradescope(tmp_path, submission)
    assert doc["score"] == 0 and doc["output"]


def test_gradescope_writes_a_file_even_when_backprop_cannot_run(tmp_path: Path) -> None:
    (tmp_path / "submission").mkdir()
    shutil.copy(GRADESCOPE / "run_autograder", tmp_path / "run_autograder")
    env = _env(AUTOGRADER_ROOT=str(tmp_path), BACKPROP_VENV=str(tmp_path / "no-venv"))
    subprocess.run(["bash", str(tmp_path / "run_autograder")], env=env, capture_output=True,
                   timeout=60, check=True)
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(doc, "gradescope")
    assert doc["score"] == 0 and "could not run" in doc["output"]


def _prairielearn(tmp_path: Path, answers: bytes | None) -> dict:
    shutil.copytree(PRAIRIELEARN / "serverFilesCourse", tmp_path / "serverFilesCourse")
    shutil.copytree(PL_QUESTION / "tests", tmp_path / "tests")
    (tmp_path / "student").mkdir()
    if answers is not None:
        (tmp_path / "student" / "answers.toml").write_bytes(answers)
    script = tmp_path / "serverFilesCourse" / "backprop" / "grade.sh"
    done = subprocess.run(["bash", str(script)], env=_env(PL_GRADE_ROOT=str(tmp_path)),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(doc, "prairielearn")
    return doc


def test_prairielearn_grades_the_example_submission(tmp_path: Path) -> None:
    doc = _prairielearn(tmp_path, EXAMPLE_ANSWERS.read_bytes())
    assert doc["gradable"] is True and 0 < doc["score"] < 1
    assert [t["name"] for t in doc["tests"]] == ["circuit-1", "fanout-1", "neuron-1",
                                                  "wx-norm-1"]


@pytest.mark.parametrize("answers", [None, b"", b"[[[["])
def test_prairielearn_unreadable_submission_is_not_gradable(tmp_path: Path,
                                                             answers: bytes | None) -> None:
    doc = _prairielearn(tmp_path, answers)
    assert doc["gradable"] is False and doc["score"] == 0 and doc["format_errors"]


def test_native_question_has_a_box_for_every_answer_of_the_key() -> None:
    from backprop_cli.course import plquestion

    data: dict = {"params": {}, "correct_answers": {}, "variant_seed": 1,
                  "options": _options(PL_NATIVE)}
    plquestion.generate(data, None, PL_NATIVE)
    boxes = {p["name"]: [b["key"] for b in p["boxes"]] for p in data["params"]["problems"]}
    key = tomllib.loads((PL_NATIVE / "key.toml").read_text())
    assert boxes == {name: list(t["expect"]) for name, t in key.items()
                     if isinstance(t, dict)}
    assert len(data["correct_answers"]) == sum(len(b) for b in boxes.values())


def test_shipped_keys_pass_check_and_match_each_other() -> None:
    key = GRADESCOPE / "key.toml"
    assert run_problems(load_problems(key)).ok
    for copy in (PL_QUESTION / "tests" / "key.toml", PL_NATIVE / "key.toml",
                 PL_VARIANTS / "key.toml"):
        assert key.read_bytes() == copy.read_bytes(), copy


def test_example_scripts_are_the_package_templates() -> None:
    """examples/ hold copies of what `backprop course ...` writes (course/templates/)."""
    for name in ("setup.sh", "run_autograder"):
        assert (GRADESCOPE / name).read_bytes() == (TEMPLATES / "gradescope" / name).read_bytes()
    assert (PRAIRIELEARN / "serverFilesCourse" / "backprop" / "grade.sh").read_bytes() == \
        (TEMPLATES / "prairielearn" / "grade.sh").read_bytes()
    for question, html in ((PL_NATIVE, "question.html"), (PL_VARIANTS, "question.html"),
                           (PL_QUESTION, "question-upload.html")):
        assert (question / "question.html").read_bytes() == \
            (TEMPLATES / "prairielearn" / html).read_bytes()


def test_example_questions_are_what_the_command_writes(tmp_path: Path) -> None:
    from backprop_cli.course import deploy

    (tmp_path / "questions").mkdir()
    for question, kind, variants in ((PL_NATIVE, "native", None),
                                     (PL_VARIANTS, "native", VARIANT_SETTINGS),
                                     (PL_QUESTION, "upload", None)):
        out = tmp_path / "questions" / question.name
        out.mkdir()
        shutil.copy(question / "info.json", out / "info.json")  # keeps the uuid
        deploy.prairielearn(GRADESCOPE / "key.toml", out, kind=kind, variants=variants)
        for path in sorted(p for p in out.rglob("*") if p.is_file()):
            rel = path.relative_to(out)
            assert path.read_bytes() == (question / rel).read_bytes(), rel


def test_shipped_key_is_what_its_make_command_writes(tmp_path: Path) -> None:
    first = (GRADESCOPE / "key.toml").read_text().splitlines()[0]
    command = first.split("`")[1].split()
    assert command[:2] == ["backprop", "make"]
    out = tmp_path / "key.toml"
    subprocess.run([*command, "-o", str(out)], env=_env(), check=True, capture_output=True,
                   timeout=60)
    assert out.read_bytes() == (GRADESCOPE / "key.toml").read_bytes()


def test_scripts_are_executable() -> None:
    for path in (GRADESCOPE / "setup.sh", GRADESCOPE / "run_autograder",
                 PRAIRIELEARN / "serverFilesCourse" / "backprop" / "grade.sh",
                 *(TEMPLATES / "gradescope").iterdir(), TEMPLATES / "prairielearn" / "grade.sh"):
        assert os.access(path, os.X_OK), path
        assert path.read_text().startswith("#!/usr/bin/env bash")


def test_info_json_points_at_the_grader() -> None:
    info = json.loads((PL_QUESTION / "info.json").read_text())
    opts = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and opts["enabled"] is True
    assert opts["entrypoint"] == "/grade/serverFilesCourse/backprop/grade.sh"
    assert opts["serverFilesCourse"] == ["backprop/"]
    assert opts["image"] == "prairielearn/grader-python"  # the stock image, no Docker Hub


def _answers_of(made: list) -> bytes:
    from backprop_cli.course.make import _point_text

    lines = []
    for m in made:  # vectors and matrices as TOML arrays ([4, -2], [[1, 0], [0, 1]])
        lines.append(f"[{m.name}]")
        lines += [f"{k} = {_point_text(v)}" for k, v in m.answers.items()]
    return "\n".join(lines).encode()


def _variant_run(tmp_path: Path, email: str | None, answers: bytes,
                 settings: str = "circuit,fanout --seed 5 --count 2\n") -> dict:
    (tmp_path / "source").mkdir(parents=True)
    (tmp_path / "submission").mkdir()
    from backprop_cli.core.errors import InputError
    from backprop_cli.course.variants import VariantSettings

    try:  # the teacher's key, made with the same settings (setup.sh checks that)
        key = VariantSettings.parse(settings).key_text("teacher")
    except InputError:
        key = (GRADESCOPE / "key.toml").read_text()
    (tmp_path / "source" / "key.toml").write_text(key)
    (tmp_path / "source" / "variant-settings").write_text(settings)
    shutil.copy(GRADESCOPE / "run_autograder", tmp_path / "run_autograder")
    if email is not None:
        (tmp_path / "submission_metadata.json").write_text(
            json.dumps({"id": 1, "users": [{"email": email, "id": 7, "name": "A"}]}))
    (tmp_path / "submission" / "answers.toml").write_bytes(answers)
    subprocess.run(["bash", str(tmp_path / "run_autograder")], env=_env(
        AUTOGRADER_ROOT=str(tmp_path)), capture_output=True, timeout=120, check=True)
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(doc, "gradescope")
    return doc


def test_gradescope_variant_key_is_made_for_the_student(tmp_path: Path) -> None:
    from backprop_cli.course import make as mk

    mine = mk.make("circuit,fanout", seed=5, count=2, variant="ada@example.edu")
    doc = _variant_run(tmp_path / "ada", "ada@example.edu", _answers_of(mine))
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0
    # Someone else's numbers copied: graded against Ada's own key, they lose points.
    theirs = mk.make("circuit,fanout", seed=5, count=2, variant="bob@example.edu")
    copied = _variant_run(tmp_path / "copy", "ada@example.edu", _answers_of(theirs))
    assert copied["score"] < doc["score"]


def test_gradescope_variant_without_a_student_scores_zero_saying_why(tmp_path: Path) -> None:
    doc = _variant_run(tmp_path, None, b"[circuit-1]\nq = 1\n")
    assert doc["score"] == 0 and "no-student-email" in doc["output"]


def test_gradescope_variant_ids_are_trimmed_and_case_folded(tmp_path: Path) -> None:
    from backprop_cli.course import make as mk

    sheet = mk.make("circuit,fanout", seed=5, count=2, variant="Ada@Example.edu")
    doc = _variant_run(tmp_path, "  ada@EXAMPLE.edu ", _answers_of(sheet))
    assert doc["score"] == sum(t["max_score"] for t in doc["tests"]) > 0


def test_gradescope_bad_variant_settings_are_not_graded_with_another_key(
        tmp_path: Path) -> None:
    doc = _variant_run(tmp_path, "ada@example.edu", _answers_of([]),
                       settings="circuit,fanot --seed 5 --count 2\n")
    assert doc["score"] == 0 and "unknown problem family 'fanot'" in doc["output"]
    assert doc["tests"] == []


# ---------------------------------------------------------------- PrairieLearn, per-student numbers

PL_VARIANTS = PRAIRIELEARN / "questions" / "backprop-variants"
VARIANT_SETTINGS = "circuit,fanout,neuron,wx-norm --seed 2026 --count 4"  # the key's own


def _server():  # type: ignore[no-untyped-def]
    """The question's server.py, imported as PrairieLearn imports it (a plain module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pl_server", PL_VARIANTS / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(seed: object) -> dict:
    data: dict = {"params": {}, "correct_answers": {}, "variant_seed": seed,
                  "options": _options(PL_VARIANTS)}
    _server().generate(data)
    return data


def _variant_made(vid: str) -> list:
    from backprop_cli.course.variants import VariantSettings

    return VariantSettings.parse(VARIANT_SETTINGS).made(vid)


def test_server_generate_gives_each_seed_its_variant_and_the_same_seed_the_same() -> None:
    first = _generate(12345)
    assert first == _generate(12345)
    answers = {json.dumps(_generate(seed)["correct_answers"]) for seed in range(4)}
    assert len(answers) == 4  # different students, different numbers
    assert _generate("a string seed")["params"]["variant"].startswith("pl-")


def test_server_params_are_the_numbers_backprop_make_variant_draws() -> None:
    data = _generate(777)
    params = data["params"]
    made = _variant_made(params["variant"])
    assert [p["name"] for p in params["problems"]] == [m.name for m in made]
    for p, m in zip(params["problems"], made):
        assert p["expression"] == m.draft.expression.strip()
        assert [b["key"] for b in p["boxes"]] == list(m.answers)
    # The answers are in correct_answers, never in the params the page is rendered from.
    assert not {"answers", "expect", "truth"} & {k for p in params["problems"]
                                                  for b in p["boxes"] for k in b}


def test_server_grade_gives_full_marks_for_the_variants_own_answers() -> None:
    data = _generate(2024)
    data.update(submitted_answers=dict(data["correct_answers"]), partial_scores={},
                feedback={})
    _server().grade(data)
    assert data["score"] == 1.0
    copied = _generate(2025)
    copied.update(submitted_answers=dict(data["correct_answers"]), partial_scores={},
                  feedback={})
    _server().grade(copied)
    assert copied["score"] < 1


def _pl_upload_variants(tmp_path: Path) -> Path:
    from backprop_cli.course import deploy

    question = tmp_path / "course" / "questions" / "upload"
    question.parent.mkdir(parents=True)
    deploy.prairielearn(GRADESCOPE / "key.toml", question, kind="upload",
                        variants=VARIANT_SETTINGS)
    return question


def _pl_variant_run(question: Path, tmp_path: Path, data: dict | None,
                    answers: bytes) -> dict:
    shutil.copytree(question.parent.parent / "serverFilesCourse", tmp_path / "serverFilesCourse")
    shutil.copytree(question / "tests", tmp_path / "tests")
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "answers.toml").write_bytes(answers)
    if data is not None:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "data.json").write_text(json.dumps(data))
    script = tmp_path / "serverFilesCourse" / "backprop" / "grade.sh"
    done = subprocess.run(["bash", str(script)], env=_env(PL_GRADE_ROOT=str(tmp_path)),
                          capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    doc = json.loads((tmp_path / "results" / "results.json").read_text())
    validate(doc, "prairielearn")
    return doc


def test_pl_grader_grades_against_the_students_own_variant(tmp_path: Path) -> None:
    question = _pl_upload_variants(tmp_path)
    data = _generate(2024)
    mine = _variant_made(data["params"]["variant"])
    doc = _pl_variant_run(question, tmp_path / "mine", data, _answers_of(mine))
    assert doc["gradable"] is True and doc["score"] == 1
    copied = _pl_variant_run(question, tmp_path / "copy", data,
                             _answers_of(_variant_made("pl-9")))
    assert copied["score"] < 1
    nobody = _pl_variant_run(question, tmp_path / "none", None, b"[circuit-1]\nq = 1\n")
    assert nobody["gradable"] is False and "params.variant" in nobody["message"]


def test_variants_question_is_not_single_variant() -> None:
    info = json.loads((PL_VARIANTS / "info.json").read_text())
    assert info.get("singleVariant", False) is False
    assert "VARIANTS = 'circuit,fanout,neuron,wx-norm --seed 2026 --count 4 --level 1'" in \
        (PL_VARIANTS / "server.py").read_text()
