"""Upload-ready artefacts for the platforms, from the installed package (no source
checkout): `backprop course gradescope` and `backprop course prairielearn`.

Both check before they write: the key passes `backprop check` (every answer proved), its
platform settings read, and variant settings make keys worth the key's points (so the total
the teacher enters is every student's total). The scripts and question files are package
data (course/templates/); the examples/ folders are copies, kept equal by a test.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InputError
from . import bundle
from . import grade as g
from .problems import VISIBILITIES, ProblemSet, parse_problems
from .variants import SETTINGS_FILE, VariantSettings

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_KEY_BYTES = 10_000_000
KINDS = ("native", "upload")  # PrairieLearn: a box per answer, or an uploaded answers.toml


@dataclass
class Built:
    """What a build wrote, and what the teacher enters on the platform."""

    path: Path
    total: float  # the points of one student's key
    problems: int
    files: list[str] = field(default_factory=list)
    snippet: str | None = None  # PrairieLearn: the assessment's zone entry


def template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def checked_key(path: Path, *, variants: str | None) -> tuple[str, ProblemSet, float,
                                                              VariantSettings | None]:
    """The key's text and problems, after `backprop check` passes on it; its total; and
    the variant settings, checked to make keys with that total."""
    from ..core.fileio import read_text
    from .autograde import same_problems
    from .batch import run_problems

    text = read_text(str(path), limit=MAX_KEY_BYTES, what="the key", where="KEY")
    pset = parse_problems(text, "toml", source=str(path))
    g.check_key(pset)
    report = run_problems(pset)
    if not report.ok:
        bad = next(r for r in report.results if not r.ok)
        raise InputError(f"the key {path} does not pass `backprop check`: problem "
                         f"'{bad.name}': " + "; ".join(bad.differences()[:3]), where="KEY",
                         hint=f"run `backprop check {path}` and fix the key first")
    total = g.grade(pset, g.Submission("blank")).max_score
    settings = None
    if variants is not None:
        settings = VariantSettings.parse(variants)
        same_problems(settings, [p.name for p in pset.problems])
    return text, pset, total, settings


def _with_setting(text: str, pset: ProblemSet, name: str, value: str | bool) -> str:
    """The key with a top-level setting added (before the first table: TOML's rule)."""
    if name in pset.settings:
        if pset.settings[name] == value:
            return text
        raise InputError(f"the key already says {name} = {json.dumps(pset.settings[name])}",
                         where=f"--{name}", hint=f"drop --{name}, or change the key")
    return f"{name} = {json.dumps(value)}\n" + text


# ---------------------------------------------------------------- Gradescope


def gradescope(key: Path, out: Path, *, variants: str | None = None,
               visibility: str | None = None) -> Built:
    """autograder.zip: setup.sh, run_autograder, key.toml, the variant settings, the wheel."""
    if visibility is not None and visibility not in VISIBILITIES:
        raise InputError(f"--visibility must be one of {', '.join(VISIBILITIES)}, not "
                         f"'{visibility}'", where="--visibility")
    from ..core.fileio import check_output, write_atomic

    check_output(out, where="-o", inputs=[key])  # before the work: never over the key
    text, pset, total, settings = checked_key(key, variants=variants)
    if visibility is not None:
        text = _with_setting(text, pset, "visibility", visibility)
        pset = parse_problems(text, "toml", source=str(key))
    wheel_name, wheel = bundle.wheel()
    files: list[tuple[str, bytes, int]] = [
        ("setup.sh", template("gradescope/setup.sh").encode(), 0o755),
        ("run_autograder", template("gradescope/run_autograder").encode(), 0o755),
        ("key.toml", text.encode(), 0o644),
        (wheel_name, wheel, 0o644)]
    if settings is not None:
        files.append((SETTINGS_FILE, (settings.args() + "\n").encode(), 0o644))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:  # the files at the top, not in a folder
        for name, data, mode in files:
            bundle._entry(archive, name, data, mode)
    write_atomic(out, buf.getvalue(), where="-o")
    return Built(out, total, len(pset.problems), [f[0] for f in files])


# ---------------------------------------------------------------- PrairieLearn


def course_root(question: Path) -> Path:
    """COURSE for COURSE/questions/NAME: where serverFilesCourse/ goes."""
    if question.resolve().parent.name != "questions":
        raise InputError(f"'{question}' is not a question folder COURSE/questions/NAME",
                         where="-o", hint="e.g. -o mycourse/questions/backprop-week3")
    return question.resolve().parent.parent


def prairielearn(key: Path, out: Path, *, variants: str | None = None,
                 kind: str = "native", exam: bool = False) -> Built:
    """COURSE/questions/NAME (info.json, question.html, server.py, the key) and
    COURSE/serverFilesCourse/backprop/ (grade.sh, backprop and lark vendored)."""
    if kind not in KINDS:
        raise InputError(f"--kind must be native or upload, not '{kind}'", where="--kind")
    course = course_root(out)
    if out.resolve() in key.resolve().parents or out.resolve() == key.resolve():
        raise InputError(f"-o {out} holds the key {key}: writing the question there would "
                         "replace it", where="-o", hint="keep the key outside the question")
    text, pset, total, settings = checked_key(key, variants=variants)
    if exam:
        text = _with_setting(text, pset, "exam", True)
    server_files = course / "serverFilesCourse" / "backprop"
    vendored = server_files / "vendor"
    marker = server_files / "README.txt"
    if server_files.exists() and not marker.is_file():
        raise InputError(f"{server_files} exists and was not written by backprop",
                         where="-o", hint="move it away, or choose another course folder")
    server_files.mkdir(parents=True, exist_ok=True)
    marker.write_text("Written by `backprop course prairielearn`: backprop and lark (pure "
                      "Python) for the questions' server.py and grade.sh. Rewritten by each "
                      "run.\n", encoding="utf-8")
    bundle.vendor(vendored)
    grader = server_files / "grade.sh"
    grader.write_text(template("prairielearn/grade.sh"), encoding="utf-8")
    grader.chmod(0o755)

    out.mkdir(parents=True, exist_ok=True)
    info_path = out / "info.json"
    info = json.loads(template("prairielearn/info.json" if kind == "native"
                               else "prairielearn/info-upload.json"))
    info["uuid"] = _uuid(info_path, out.name)
    if pset.title:
        info["title"] = pset.title
    if settings is None:
        info["singleVariant"] = True
    files = ["info.json", "question.html", "server.py"]
    info_path.write_text(json.dumps(info, indent=4) + "\n", encoding="utf-8")
    html = template("prairielearn/question.html" if kind == "native"
                    else "prairielearn/question-upload.html")
    (out / "question.html").write_text(html, encoding="utf-8")
    server = template("prairielearn/server.py.tmpl").replace(
        "__VARIANTS__", repr(settings.args()) if settings else "None")
    (out / "server.py").write_text(server, encoding="utf-8")
    (out / "key.toml").write_text(text, encoding="utf-8")  # server.py's (fixed or settings)
    files.append("key.toml")
    if kind == "upload":  # the external grader's: /grade/tests/
        tests = out / "tests"
        tests.mkdir(exist_ok=True)
        (tests / "key.toml").write_text(text, encoding="utf-8")
        files.append("tests/key.toml")
        if settings is not None:
            (tests / SETTINGS_FILE).write_text(settings.args() + "\n", encoding="utf-8")
            files.append(f"tests/{SETTINGS_FILE}")
        elif (tests / SETTINGS_FILE).exists():
            (tests / SETTINGS_FILE).unlink()
    snippet = json.dumps({"id": out.name, "points": _int(total)}, indent=4)
    return Built(out, total, len(pset.problems), files, snippet)


def _int(x: float) -> float | int:
    return int(x) if x == int(x) else x


def _uuid(info_path: Path, name: str) -> str:
    """The question's uuid: kept when the folder is written again (PrairieLearn follows a
    question by it), else a new one."""
    try:
        old = json.loads(info_path.read_text(encoding="utf-8")).get("uuid")
        if isinstance(old, str) and old:
            return old
    except (OSError, ValueError):
        pass
    return str(uuid.uuid4())
