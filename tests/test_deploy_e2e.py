"""The artefacts of `backprop course gradescope|prairielearn`, run as the platforms run them:
unpacked into their layouts under a temporary folder, with the platforms' Pythons (Gradescope's
oldest, 3.10, through the zip's own setup.sh; PrairieLearn's 3.13 with numpy and sympy only).
Each submission must get a valid results file under 1 MB with the expected score."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from backprop_cli.course import grade as g
from backprop_cli.course.problems import parse_problems
from backprop_cli.course.variants import VariantSettings

from . import platform_envs
from .result_schemas import validate

ROOT = Path(__file__).resolve().parent.parent
KEY = ROOT / "examples" / "gradescope" / "key.toml"
SETTINGS = "circuit,fanout,neuron,wx-norm --seed 2026 --count 4"  # KEY's own make arguments
STUDENT = "  Ada.Lovelace@Example.EDU "  # as Gradescope might have it: graded as normalised
MB = 1_000_000

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def _backprop(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "backprop_cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _answers(key_text: str, change: Any = None) -> str:
    """A submission from a key's expected answers; ``change`` rewrites the gradients."""
    pset = parse_problems(key_text, "toml")
    lines = []
    for p in pset.problems:
        lines.append(f"[{p.name}]")
        assert isinstance(p.expect, dict)
        for k, v in p.expect.items():
            if change is not None and k.startswith("d"):
                v = change(v)
            lines.append(f"{k} = {json.dumps(_plain(v))}")
    return "\n".join(lines) + "\n"


def _plain(v: Any) -> Any:
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return float(v) if not isinstance(v, int) else v


def _negate(v: Any) -> Any:
    return [_negate(x) for x in v] if isinstance(v, list) else -float(v)


# ---------------------------------------------------------------- Gradescope, Python 3.10


@pytest.fixture(scope="module")
def autograder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """autograder.zip built by the command, unpacked in /autograder's layout, setup.sh run."""
    work = tmp_path_factory.mktemp("gradescope")
    _backprop("course", "gradescope", str(KEY), "-o", "autograder.zip", "--variants",
              SETTINGS, "--visibility", "after_due_date", cwd=work)
    root = work / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(work / "autograder.zip") as z:
        z.extractall(root / "source")
    wheel = next((root / "source").glob("backprop_cli-*.whl"))
    python = platform_envs.interpreter(platform_envs.GRADESCOPE_PYTHON)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "BACKPROP_VENV": str(work / "venv"),
           "BACKPROP_PYTHON": str(python), "BACKPROP_SKIP_APT": "1",
           "BACKPROP_PIP_ARGS": f"--no-index --find-links {platform_envs.wheelhouse(wheel)}"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "40 points" in done.stdout
    return root, env


def _submit(autograder: tuple[Path, dict[str, str]], files: dict[str, bytes],
            users: list[str] | None = None) -> dict[str, Any]:
    root, env = autograder
    shutil.rmtree(root / "submission", ignore_errors=True)
    shutil.rmtree(root / "results", ignore_errors=True)
    (root / "submission").mkdir()
    for name, data in files.items():
        (root / "submission" / name).write_bytes(data)
    (root / "submission_metadata.json").write_text(json.dumps(
        {"id": 1, "users": [{"email": u, "id": k, "name": "A"}
                            for k, u in enumerate(users or [STUDENT])]}))
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env,
                   capture_output=True, timeout=300, check=True)
    results = root / "results" / "results.json"
    assert results.stat().st_size < MB
    doc = json.loads(results.read_text())
    validate(doc, "gradescope")
    return doc


def _own_key(student: str = STUDENT) -> str:
    return VariantSettings.parse(SETTINGS).key_text(student)


def _expected(answers: str, student: str = STUDENT) -> float:
    key = parse_problems(_own_key(student), "toml")
    return g.grade(key, g.read_submission("answers.toml", answers)).score


def test_gradescope_setup_installs_into_the_oldest_supported_python(
        autograder: tuple[Path, dict[str, str]]) -> None:
    _, env = autograder
    version = subprocess.run([f"{env['BACKPROP_VENV']}/bin/python", "-c",
                              "import sys; print(sys.version_info[:2])"],
                             capture_output=True, text=True, check=True).stdout
    assert version.strip() == "(3, 10)"


def test_gradescope_correct_submission_gets_every_point(
        autograder: tuple[Path, dict[str, str]]) -> None:
    doc = _submit(autograder, {"answers.toml": _answers(_own_key()).encode()})
    assert doc["score"] == 40 and doc["visibility"] == "after_due_date"
    assert "ada.lovelace@example.edu" in doc["output"]


def test_gradescope_wrong_submission_gets_what_the_grader_gives(
        autograder: tuple[Path, dict[str, str]]) -> None:
    wrong = _answers(_own_key(), _negate)
    doc = _submit(autograder, {"answers.toml": wrong.encode()})
    assert doc["score"] == _expected(wrong) and 0 < doc["score"] < 40
    assert any("sign" in t["output"] for t in doc["tests"])


@pytest.mark.parametrize("files", [{}, {"answers.toml": b""},
                                   {"answers.toml": b"[[[[ not toml"},
                                   {"notes.txt": b"on paper"}],
                         ids=["nothing", "empty", "malformed", "not-toml"])
def test_gradescope_unreadable_submission_scores_zero_saying_why(
        autograder: tuple[Path, dict[str, str]], files: dict[str, bytes]) -> None:
    doc = _submit(autograder, files)
    assert doc["score"] == 0 and doc["output"]


def test_gradescope_huge_submission_is_graded_with_a_small_results_file(
        autograder: tuple[Path, dict[str, str]]) -> None:
    padding = ("# " + "x" * 98 + "\n") * 9_000  # 0.9 MB of comment around right answers
    doc = _submit(autograder, {"answers.toml": (padding + _answers(_own_key())).encode()})
    assert doc["score"] == 40


def test_gradescope_huge_submission_of_junk_tables_stays_under_1_mb(
        autograder: tuple[Path, dict[str, str]]) -> None:
    junk = "".join(f"[junk-{k}]\nvalue = 1\ndx = {k}\n" for k in range(30_000))  # 0.9 MB
    doc = _submit(autograder, {"answers.toml": junk.encode()})  # _submit checks the size
    assert doc["score"] == 0


def test_gradescope_group_is_graded_with_the_member_whose_numbers_it_used(
        autograder: tuple[Path, dict[str, str]]) -> None:
    bob = "bob@example.edu"
    doc = _submit(autograder, {"answers.toml": _answers(_own_key(bob)).encode()},
                  users=[STUDENT, bob])
    assert doc["score"] == 40 and "a group of 2" in doc["output"] and bob in doc["output"]


# ---------------------------------------------------------------- PrairieLearn, Python 3.13

DRIVER = r"""
import importlib.util, json, sys
from pathlib import Path

question = Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("server", question / "server.py")
server = importlib.util.module_from_spec(spec)
spec.loader.exec_module(server)
options = {"question_path": str(question),
           "server_files_course_path": str(question.parent.parent / "serverFilesCourse")}

def variant(seed):
    data = {"params": {}, "correct_answers": {}, "variant_seed": seed, "options": options}
    server.generate(data)
    return data

def graded(data, submitted):
    data = dict(data, submitted_answers=submitted, partial_scores={}, feedback={}, score=0.0)
    server.grade(data)
    return data

one, two = variant(1), variant(2)
flip = {k: (-v if isinstance(v, float) and "_d" in k else v)
        for k, v in one["correct_answers"].items()}
print(json.dumps({
    "one": one, "two": two, "again": variant(1)["correct_answers"],
    "right": graded(one, dict(one["correct_answers"])),
    "wrong": graded(one, flip),
    "modules": sorted(m for m in sys.modules if m.split(".")[0] in ("rich", "typer", "orjson")),
    "version": list(sys.version_info[:2]),
}))
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("prairielearn")
    (work / "course" / "questions").mkdir(parents=True)
    _backprop("course", "prairielearn", str(KEY), "-o", "course/questions/drill",
              "--variants", SETTINGS, cwd=work)
    out = _backprop("course", "prairielearn", str(KEY), "-o", "course/questions/upload",
                    "--kind", "upload", "--exam", cwd=work)
    assert '"id": "upload"' in out and '"points": 40' in out
    return work / "course"


def test_native_question_runs_in_prairielearns_python(course: Path) -> None:
    python = platform_envs.question_python()
    done = subprocess.run([str(python), "-c", DRIVER, str(course / "questions" / "drill")],
                          capture_output=True, text=True, timeout=300, check=False,
                          env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == [3, 13] and out["modules"] == []
    one, two = out["one"], out["two"]
    # A fresh problem per variant seed, the same one for the same seed.
    assert one["correct_answers"] == out["again"]
    assert one["correct_answers"] != two["correct_answers"]
    problems = one["params"]["problems"]
    assert len(problems) == 4 and all(p["svg"].startswith("<svg") for p in problems)
    boxes = [b["box"] for p in problems for b in p["boxes"]]
    assert sorted(boxes) == sorted(one["correct_answers"])
    assert any(b["matrix"] for p in problems for b in p["boxes"])  # wx-norm's dW
    assert out["right"]["score"] == 1.0
    wrong = out["wrong"]
    assert 0 < wrong["score"] < 1
    feedback = " ".join(s["feedback"] for s in wrong["partial_scores"].values())
    assert "sign is flipped" in feedback and "carried forward" in feedback
    assert {s["score"] for s in wrong["partial_scores"].values()} >= {0.0, 1.0}


def _grade_upload(course: Path, tmp_path: Path, answers: bytes) -> dict[str, Any]:
    root = tmp_path / "grade"
    shutil.copytree(course / "serverFilesCourse", root / "serverFilesCourse")
    shutil.copytree(course / "questions" / "upload" / "tests", root / "tests")
    (root / "student").mkdir()
    (root / "student" / "answers.toml").write_bytes(answers)
    env = {**os.environ, "PL_GRADE_ROOT": str(root),
           "BACKPROP_PYTHON": str(platform_envs.question_python())}
    env.pop("PYTHONPATH", None)
    subprocess.run(["bash", str(root / "serverFilesCourse" / "backprop" / "grade.sh")],
                   env=env, capture_output=True, timeout=300, check=True)
    results = root / "results" / "results.json"
    assert results.stat().st_size < MB
    doc = json.loads(results.read_text())
    validate(doc, "prairielearn")
    return doc


def test_upload_question_grades_in_the_stock_python_image(course: Path,
                                                           tmp_path: Path) -> None:
    doc = _grade_upload(course, tmp_path, _answers(KEY.read_text()).encode())
    assert doc["gradable"] is True and doc["score"] == 1, doc


def test_upload_question_of_an_exam_sends_a_syntax_error_back_ungraded(
        course: Path, tmp_path: Path) -> None:
    text = _answers(KEY.read_text()).replace("[fanout-1]", "[fanout-1")
    doc = _grade_upload(course, tmp_path, text.encode())
    assert doc["gradable"] is False and doc["format_errors"]
