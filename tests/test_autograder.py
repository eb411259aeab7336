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
PL_QUESTION = PRAIRIELEARN / "questions" / "backprop-practice"
EXAMPLE_ANSWERS = GRADESCOPE / "example-answers.toml"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # The `backprop` of this interpreter's environment, as setup.sh puts it on PATH.
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


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
    env = _env(AUTOGRADER_ROOT=str(tmp_path))
    env["PATH"] = "/usr/bin:/bin"  # no backprop here
    if shutil.which("backprop", path=env["PATH"]):
        pytest.skip("a backprop is installed system-wide")
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


def test_prairielearn_editor_template_has_a_blank_for_every_answer_of_the_key() -> None:
    html = (PL_QUESTION / "question.html").read_text()
    template = html.split('ace-mode="ace/mode/toml">')[1].split("</pl-file-editor>")[0]
    tables: dict[str, list[str]] = {}
    current = None
    for line in template.splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line.strip("[]")
            tables[current] = []
        elif line and current is not None:
            tables[current].append(line.split("=")[0].strip())
    key = tomllib.loads((PL_QUESTION / "tests" / "key.toml").read_text())
    want = {name: list(t["expect"]) for name, t in key.items() if isinstance(t, dict)}
    assert tables == want


def test_shipped_keys_pass_check_and_match_each_other() -> None:
    key = GRADESCOPE / "key.toml"
    assert run_problems(load_problems(key)).ok
    assert key.read_bytes() == (PL_QUESTION / "tests" / "key.toml").read_bytes()


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
                 PRAIRIELEARN / "serverFilesCourse" / "backprop" / "grade.sh"):
        assert os.access(path, os.X_OK), path
        assert path.read_text().startswith("#!/usr/bin/env bash")


def test_info_json_points_at_the_grader() -> None:
    info = json.loads((PL_QUESTION / "info.json").read_text())
    opts = info["externalGradingOptions"]
    assert info["gradingMethod"] == "External" and opts["enabled"] is True
    assert opts["entrypoint"] == "/grade/serverFilesCourse/backprop/grade.sh"
    assert opts["serverFilesCourse"] == ["backprop/"]


def _answers_of(made: list) -> bytes:
    from backprop_cli.course.make import _point_text

    lines = []
    for m in made:  # vectors and matrices as TOML arrays ([4, -2], [[1, 0], [0, 1]])
        lines.append(f"[{m.name}]")
        lines += [f"{k} = {_point_text(v)}" for k, v in m.answers.items()]
    return "\n".join(lines).encode()


def _variant_run(tmp_path: Path, email: str | None, answers: bytes) -> dict:
    (tmp_path / "source").mkdir(parents=True)
    (tmp_path / "submission").mkdir()
    (tmp_path / "source" / "variant-args").write_text("circuit,fanout --seed 5 --count 2\n")
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


# ---------------------------------------------------------------- PrairieLearn, per-student numbers

PL_VARIANTS = PRAIRIELEARN / "questions" / "backprop-variants"


def _server():  # type: ignore[no-untyped-def]
    """The question's server.py, imported as PrairieLearn imports it (a plain module)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("pl_server", PL_VARIANTS / "server.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(seed: object) -> dict:
    data: dict = {"params": {}, "correct_answers": {}, "variant_seed": seed, "options": {}}
    _server().generate(data)
    return data


def _pl_variant_run(tmp_path: Path, data: dict | None, answers: bytes) -> dict:
    shutil.copytree(PRAIRIELEARN / "serverFilesCourse", tmp_path / "serverFilesCourse")
    shutil.copytree(PL_VARIANTS / "tests", tmp_path / "tests")
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


def _variant_made(vid: str) -> list:
    from backprop_cli.course import make as mk

    args = (PL_VARIANTS / "tests" / "variant-args").read_text().split()
    family = args[0] if not args[0].startswith("--") else None
    opts = dict(zip(args[1::2], args[2::2])) if family else dict(zip(args[::2], args[1::2]))
    return mk.make(family, seed=int(opts["--seed"]), count=int(opts["--count"]),
                   level=int(opts["--level"]), variant=vid)


def test_server_generate_gives_each_seed_its_variant_and_the_same_seed_the_same() -> None:
    first = _generate(12345)["params"]
    assert first == _generate(12345)["params"]
    ids = {_generate(seed)["params"]["variant"] for seed in range(40)}
    assert len(ids) > 5  # different students, different numbers
    assert _generate("a string seed")["params"]["variant"].startswith("pl-")


def test_server_params_are_the_numbers_backprop_make_variant_draws() -> None:
    params = _generate(777)["params"]
    made = _variant_made(params["variant"])
    assert [p["name"] for p in params["problems"]] == [m.name for m in made]
    for p, m in zip(params["problems"], made):
        assert p["expression"] == m.draft.expression.strip()
        assert [a["key"] for a in p["asks"]] == list(m.answers)
    # Statements only: the answers are not in what PrairieLearn stores for the variant.
    assert not {"answers", "expect", "key"} & {k for p in params["problems"] for k in p}


def test_pl_grader_grades_against_the_students_own_variant(tmp_path: Path) -> None:
    data = _generate(2024)
    mine = _variant_made(data["params"]["variant"])
    doc = _pl_variant_run(tmp_path / "mine", data, _answers_of(mine))
    assert doc["gradable"] is True and doc["score"] == 1
    other = _generate(next(s for s in range(100) if _generate(s)["params"]["variant"]
                           != data["params"]["variant"]))
    copied = _pl_variant_run(tmp_path / "copy", data,
                             _answers_of(_variant_made(other["params"]["variant"])))
    assert copied["score"] < 1


def test_pl_grader_without_a_variant_is_not_gradable_saying_why(tmp_path: Path) -> None:
    doc = _pl_variant_run(tmp_path, None, b"[circuit-1]\nq = 1\n")
    assert doc["gradable"] is False and "params.variant" in doc["message"]
    bad = _pl_variant_run(tmp_path / "bad", {"params": {"variant": "$(rm -rf /)"}},
                          b"[circuit-1]\nq = 1\n")
    assert bad["gradable"] is False


def test_shipped_variants_are_what_make_variants_writes(tmp_path: Path) -> None:
    from backprop_cli.course.variants import variants

    shipped = json.loads((PL_VARIANTS / "variants.json").read_text())
    args = shipped["make_args"].split()
    opts = dict(zip(args[1::2], args[2::2]))
    again = variants(args[0], seed=int(opts["--seed"]), count=int(opts["--count"]),
                     level=int(opts["--level"]), n=len(shipped["variants"]))
    assert again == shipped
    assert (PL_VARIANTS / "tests" / "variant-args").read_text().strip() == shipped["make_args"]


def test_variants_question_info_json_points_at_the_grader() -> None:
    info = json.loads((PL_VARIANTS / "info.json").read_text())
    assert info.get("singleVariant", False) is False
    assert info["externalGradingOptions"]["entrypoint"] == \
        "/grade/serverFilesCourse/backprop/grade.sh"
