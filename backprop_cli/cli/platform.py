"""`backprop course ...`: upload-ready artefacts for Gradescope and PrairieLearn, and a sheet
per student; a thin typer shell over course/deploy.py and course/sheets.py."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import BackpropError
from .app import fail
from .options import Command, examples, output_option

VARIANTS_HELP = ("Each student their own numbers: the `backprop make` arguments the keys "
                 "are made with, e.g. \"circuit,fanout --seed 2026 --count 4\" (checked: "
                 "they must make keys worth the key's points).")

course_app = typer.Typer(
    name="course",
    help="Put a key on a platform: Gradescope's autograder zip, a PrairieLearn question, "
    "a sheet per student.",
    epilog=examples(
        "backprop course gradescope key.toml -o autograder.zip",
        "backprop course prairielearn key.toml -o mycourse/questions/backprop-week3",
        "backprop course sheets roster.csv -o sheets --variants \"circuit --seed 1\""),
    no_args_is_help=True, rich_markup_mode=None)


def register(app: typer.Typer) -> None:
    app.add_typer(course_app, name="course",
                  short_help="Upload-ready Gradescope and PrairieLearn graders for a key.")


def _key(key: str) -> Path:
    return Path(key)


@course_app.command(
    "gradescope", cls=Command, short_help="Gradescope's autograder zip for a key, checked.",
    epilog=examples(
        "backprop course gradescope key.toml -o autograder.zip",
        ("each student their own numbers, results shown after the due date",
         "backprop course gradescope key.toml -o autograder.zip --variants "
         "\"circuit,fanout --seed 2026 --count 4\" --visibility after_due_date")))
def gradescope_(
    key: Annotated[str, typer.Argument(metavar="KEY.toml", help="The answer key (it must "
                                       "pass `backprop check`).", show_default=False)],
    output: Annotated[str, output_option("The zip to upload under Configure Autograder.",
                                         metavar="autograder.zip")] = "autograder.zip",
    variants: Annotated[str | None, typer.Option("--variants", metavar="ARGS",
                                                 help=VARIANTS_HELP,
                                                 show_default=False)] = None,
    visibility: Annotated[str | None, typer.Option(
        "--visibility", metavar="visible|hidden|after_due_date|after_published",
        help="When students see their results (default: the key's `visibility`, else "
        "visible).", show_default=False)] = None,
) -> None:
    """Write Gradescope's autograder zip: setup.sh, run_autograder, the key, the variant
    settings and a wheel of this backprop, all checked; print the points to enter."""
    from ..course import deploy

    try:
        built = deploy.gradescope(_key(key), Path(output), variants=variants,
                                  visibility=visibility)
    except BackpropError as exc:
        fail(exc)
    sys.stdout.write(f"wrote {built.path} ({', '.join(built.files)})\n"
                     f"Gradescope: a Programming Assignment worth {_pts(built.total)} points "
                     f"({built.problems} problems); upload {built.path.name} under "
                     "Configure Autograder.\n")


@course_app.command(
    "prairielearn", cls=Command, short_help="A PrairieLearn question folder for a key.",
    epilog=examples(
        "backprop course prairielearn key.toml -o mycourse/questions/backprop-week3",
        ("a fresh problem for every variant", "backprop course prairielearn key.toml -o "
         "mycourse/questions/backprop-drill --variants \"circuit,neuron --seed 7 --count 2\""),
        ("students upload answers.toml (external grading)", "backprop course prairielearn "
         "key.toml -o mycourse/questions/backprop-upload --kind upload --exam")))
def prairielearn_(
    key: Annotated[str, typer.Argument(metavar="KEY.toml", help="The answer key (it must "
                                       "pass `backprop check`).", show_default=False)],
    output: Annotated[str, output_option("The question folder, COURSE/questions/NAME.",
                                         metavar="COURSE/questions/NAME")],
    variants: Annotated[str | None, typer.Option("--variants", metavar="ARGS",
                                                 help=VARIANTS_HELP,
                                                 show_default=False)] = None,
    kind: Annotated[str, typer.Option("--kind", metavar="native|upload",
                                      help="native: a box per answer, graded by the "
                                      "question's server.py; upload: students upload "
                                      "answers.toml, graded in PrairieLearn's Python image."
                                      )] = "native",
    exam: Annotated[bool, typer.Option("--exam", help="Mark the key an exam's: a file with "
                                       "a syntax error is not gradable (costs no attempt)."
                                       )] = False,
) -> None:
    """Write a PrairieLearn question folder (info.json, question.html, server.py, the key)
    and serverFilesCourse/backprop (backprop and lark vendored); print the assessment's
    entry for it."""
    from ..course import deploy

    try:
        built = deploy.prairielearn(_key(key), Path(output), variants=variants, kind=kind,
                                    exam=exam)
    except BackpropError as exc:
        fail(exc)
    sys.stdout.write(f"wrote {built.path}/ ({', '.join(built.files)}) and "
                     f"{built.path.resolve().parent.parent / 'serverFilesCourse' / 'backprop'}/\n"
                     f"infoAssessment.json, in a zone's \"questions\" ({_pts(built.total)} "
                     f"points, {built.problems} problems):\n{built.snippet}\n")


@course_app.command(
    "sheets", cls=Command, short_help="A worksheet per roster row: each student's numbers.",
    epilog=examples("backprop course sheets roster.csv -o sheets --variants "
                    "\"circuit,fanout --seed 2026 --count 4\""))
def sheets_(
    roster: Annotated[str, typer.Argument(metavar="ROSTER.csv", help="The class list: one "
                                          "row per student, their id in the email (or id, "
                                          "sid) column.", show_default=False)],
    output: Annotated[str, output_option("The folder for the sheets (one ID.html each).",
                                         metavar="DIR")],
    variants: Annotated[str, typer.Option("--variants", metavar="ARGS", help=VARIANTS_HELP,
                                          show_default=False)],
) -> None:
    """Write each student's worksheet, their own numbers and circuits, as HTML."""
    from ..core.fileio import read_text
    from ..course import sheets
    from ..course.variants import VariantSettings

    try:
        settings = VariantSettings.parse(variants)
        ids = sheets.roster_ids(read_text(roster, limit=10_000_000, what="the roster",
                                          where="ROSTER"))
        written = sheets.write_sheets(settings, ids, Path(output))
    except BackpropError as exc:
        fail(exc)
    sys.stdout.write(f"wrote {len(written)} sheets to {output}/\n")


def _pts(x: float) -> str:
    return f"{x:g}"
