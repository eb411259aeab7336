"""The graders the platforms run, one per submission, in the platforms' own layouts:

    python -m backprop_cli.course.autograde gradescope --root /autograder
    python -m backprop_cli.course.autograde prairielearn --root /grade
    python -m backprop_cli.course.autograde check --root /autograder     (setup.sh)

Gradescope: the key in source/key.toml, the answers in submission/, the student in
submission_metadata.json, the results in results/results.json. PrairieLearn (external
grading): the key in tests/key.toml, the answers in student/, the variant in
data/data.json, the results in results/results.json. With variant settings (source/ or
tests/variant-settings) each student's key is made again from their id; settings that do
not work make the submission not gradable with the real error, never a fallback key.

The results file is always written (the scripts around this write one more if Python
itself cannot run). Only the standard library's json: PrairieLearn's grader image has no
orjson. The platforms' documents are grade.py's; the key's platform settings
(visibility, malformed) are applied here.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import BackpropError, InputError
from . import grade as g
from .problems import ProblemSet, load_problems, parse_problems
from .variants import SETTINGS_FILE, VARIANT_ID, VariantSettings, gradescope_ids

ANSWERS = "answers.toml"


@dataclass
class Graded:
    report: g.GradeReport
    key: ProblemSet  # the key graded against (the student's own with variants)
    sub: g.Submission


MAX_RESULTS = 900_000  # characters: both platforms refuse a results file over 1 MB


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """JSON (ASCII, so any reader takes it; readable by the platform's own user) through a
    temporary file and a rename, never over MAX_RESULTS."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".results-", suffix=".json")
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(json.dumps(bounded(doc), indent=1, allow_nan=False) + "\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def bounded(doc: dict[str, Any], limit: int = MAX_RESULTS) -> dict[str, Any]:
    """The document cut to fit ``limit``: a last guard whatever a submission held (the
    feedback itself is bounded by grade.py); each text cut says how much was left out."""
    if len(json.dumps(doc, indent=1)) <= limit:
        return doc
    out = dict(doc)
    tests = [dict(t) for t in out.get("tests") or []]
    share = max(1000, limit // 3 // max(1, len(tests)))
    for t in tests:
        for field in ("output", "message", "description"):
            _cut(t, field, share)
    out["tests"] = tests
    for field in ("output", "message"):
        _cut(out, field, limit // 6)
    if isinstance(out.get("format_errors"), list):
        out["format_errors"] = [e[:share] for e in out["format_errors"][:20]]
    return out


def _cut(doc: dict[str, Any], field: str, size: int) -> None:
    text = doc.get(field)
    if isinstance(text, str) and len(json.dumps(text)) > size:
        keep = size // 6  # \uXXXX: a character may take six in ASCII JSON
        doc[field] = text[:keep] + f"\n... and {len(text) - keep} more characters"


def find_answers(folder: Path) -> tuple[Path | None, list[str]]:
    """answers.toml, else the first .toml (two levels deep); and every file uploaded, for a
    message that names them when no .toml is there."""
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    named = folder / ANSWERS
    if named.is_file():
        return named, []
    tomls = [p for p in files if p.suffix.lower() == ".toml"
             and len(p.relative_to(folder).parts) <= 2]
    return (tomls[0] if tomls else None), [p.relative_to(folder).as_posix() for p in files]


def read_answers(folder: Path) -> g.Submission:
    path, uploaded = find_answers(folder)
    if path is not None:
        return g.read_submission(path)
    sub = g.Submission(ANSWERS)
    listed = ", ".join(uploaded[:10]) + (f" and {len(uploaded) - 10} more"
                                         if len(uploaded) > 10 else "")
    sub.errors.append(f"no {ANSWERS} was uploaded" + (f" (the upload holds {listed})"
                                                      if listed else " (the upload is empty)")
                      + f": upload your answers as {ANSWERS}, one table per problem")
    return sub


def _settings(folder: Path) -> VariantSettings | None:
    path = folder / SETTINGS_FILE
    if not path.is_file():
        return None
    return VariantSettings.parse(path.read_text(encoding="utf-8"), where=SETTINGS_FILE)


def grade_variants(settings: VariantSettings, ids: list[str], sub: g.Submission) -> Graded:
    """Grade against each id's key and keep the best: a group answers the sheet of any one
    of its members (docs/guides/platforms.md), and the note says whose numbers were used."""
    best: Graded | None = None
    for vid in ids:
        key = parse_problems(settings.key_text(vid), "toml", source=f"the key of {vid}")
        report = g.grade(key, sub)
        if best is None or report.score > best.report.score:
            best = Graded(report, key, sub)
    assert best is not None
    whose = best.key.title.rsplit("variant ", 1)[-1]
    best.report.notes.append(f"graded with the numbers of {whose}" + (
        f" (a group of {len(ids)}: the member whose numbers fit best)" if len(ids) > 1
        else ""))
    return best


def _not_gradable_if_malformed(key: ProblemSet, sub: g.Submission, doc: dict[str, Any]
                               ) -> dict[str, Any]:
    """The key's `malformed = "not gradable"` (an exam's default): a file with a syntax
    error goes back to the student as not gradable, costing no attempt."""
    broken = [f"[{name}] {why}" for name, why in sub.broken.items()] + list(sub.errors)
    if key.malformed_gradable or not broken:
        return doc
    message = "your file has syntax errors, so it was not graded (no attempt used): " \
        + "; ".join(broken)
    return g.prairielearn_failure(message) | {"format_errors": broken}


# ---------------------------------------------------------------- Gradescope


def gradescope(root: Path) -> dict[str, Any]:
    results = root / "results" / "results.json"
    try:
        key = load_problems(root / "source" / "key.toml", fmt="toml")
        sub = read_answers(root / "submission")
        settings = _settings(root / "source")
        if settings is None:
            graded = Graded(g.grade(key, sub), key, sub)
        else:
            metadata = _json(root / "submission_metadata.json")
            ids = gradescope_ids(metadata)
            if not ids:
                raise BackpropError("no student email in submission_metadata.json: each "
                                    "student has their own numbers, so this submission "
                                    "cannot be graded (no-student-email)")
            graded = grade_variants(settings, ids, sub)
        doc = g.gradescope_results(graded.report)
        total = g.grade(key, g.Submission("blank")).max_score
        if settings is not None and abs(graded.report.max_score - total) > 1e-9:
            # The points entered on Gradescope are the key's: a variant worth a point less
            # (an answer dropped at level 1) is scaled to them.
            doc["score"] = round(graded.report.fraction * total, 4)
            doc["output"] += (f"\n- your problems are worth {_points(graded.report.max_score)}"
                              f" points: scaled to the assignment's {_points(total)}")
        doc["visibility"] = key.visibility
        for test in doc.get("tests", []):
            test["visibility"] = key.visibility
    except BackpropError as exc:
        doc = g.gradescope_failure(_message(exc))
    except Exception as exc:  # the platform must get a file, whatever broke
        doc = g.gradescope_failure(f"internal error in the grader (please tell your "
                                   f"teacher): {type(exc).__name__}: {exc}")
    write_json(results, doc)
    return doc


# ---------------------------------------------------------------- PrairieLearn


def prairielearn(root: Path) -> dict[str, Any]:
    results = root / "results" / "results.json"
    try:
        key = load_problems(root / "tests" / "key.toml", fmt="toml")
        sub = read_answers(root / "student")
        settings = _settings(root / "tests")
        if settings is None:
            graded = Graded(g.grade(key, sub), key, sub)
        else:
            params = _json(root / "data" / "data.json").get("params") or {}
            vid = params.get("variant") if isinstance(params, dict) else None
            if not isinstance(vid, str) or not VARIANT_ID.match(vid):
                raise BackpropError("no variant in data.json (params.variant): the question "
                                    "has per-student numbers, so this submission cannot be "
                                    "graded")
            graded = grade_variants(settings, [vid], sub)
            graded.key.settings = key.settings  # the platform settings are the question's
        doc = _not_gradable_if_malformed(graded.key, sub,
                                         g.prairielearn_results(graded.report))
    except BackpropError as exc:
        doc = g.prairielearn_failure(_message(exc))
    except Exception as exc:
        doc = g.prairielearn_failure(f"internal error in the grader (please tell your "
                                     f"teacher): {type(exc).__name__}: {exc}")
    write_json(results, doc)
    return doc


# ---------------------------------------------------------------- setup


def check(root: Path) -> str:
    """setup.sh's check: the key reads and the variant settings make keys with its total."""
    key = load_problems(root / "source" / "key.toml", fmt="toml")
    g.check_key(key)
    total = g.grade(key, g.Submission("blank")).max_score
    settings = _settings(root / "source")
    if settings is not None:
        same_problems(settings, [p.name for p in key.problems])
    return f"the key and its settings work: {_points(total)} points"


def same_problems(settings: VariantSettings, names: list[str]) -> None:
    """Every student's key must ask the key's problems (a typo in the settings, a family
    left out, fail here). Their points may still differ a little (a level-1 loss drops an
    answer that is not short): the Gradescope grader scales those to the key's total."""
    for probe in ("probe-1@example.org", "probe-2@example.org"):
        key = parse_problems(settings.key_text(probe), "toml", source="a variant's key")
        theirs = [p.name for p in key.problems]
        if theirs != names:
            raise InputError(f"the variant settings '{settings.args()}' make the problems "
                             f"{', '.join(theirs)}, but the key has {', '.join(names)}: "
                             "make the key with the same settings", where=SETTINGS_FILE)


def _points(x: float) -> str:
    return f"{x:g}" if x == int(x) else f"{x:.2f}"


def _json(path: Path) -> Any:
    """A platform's JSON; a missing file is an empty one (the caller says what is missing)."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackpropError(f"{path.name} could not be read: {exc}") from None


def _message(exc: BackpropError) -> str:
    return exc.message + (f" (hint: {exc.hint})" if exc.hint else "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m backprop_cli.course.autograde",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("platform", choices=("gradescope", "prairielearn", "check"))
    ap.add_argument("--root", type=Path, required=True)
    args = ap.parse_args(argv)
    if args.platform == "check":
        try:
            print(check(args.root))
        except BackpropError as exc:
            print(f"error: {_message(exc)}", file=sys.stderr)
            return 2
        return 0
    doc = (gradescope if args.platform == "gradescope" else prairielearn)(args.root)
    print(doc.get("output") or doc.get("message") or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
