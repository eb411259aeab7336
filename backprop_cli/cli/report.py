"""The `report` command: a class's graded results at a glance (course/classreport.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import BackpropError, ExitStatus, InputError
from .app import _print, _write, fail
from .options import Command, Json, Width, examples, output_option

SUFFIX_FORMATS = {".html": "html", ".htm": "html", ".md": "md", ".csv": "csv", ".json": "json"}


def register(app: typer.Typer) -> None:
    app.command(
        "report",
        short_help="What a class got wrong, where, and who needs help: from graded results.",
        cls=Command,
        epilog=examples(
            "backprop report results/ --key week3.toml -o report.html",
            ("one row per student and answer, for a spreadsheet",
             "backprop report results/ -o answers.csv"),
            ("a Gradescope export", "backprop report gradescope_export/ --key key.toml"),
        ),
    )(report_)


def report_(
    results: Annotated[list[str], typer.Argument(
        help="Graded results: files or folders of `backprop check KEY --answers S --json` "
        "output, Gradescope results.json (with submission_metadata.json) or PrairieLearn "
        "results.json.", metavar="RESULTS...", show_default=False)],
    key: Annotated[str | None, typer.Option(
        "--key", metavar="KEY.toml", help="The answer key: orders the answers as they are "
        "computed and draws each circuit, shaded where the chain breaks first.",
        show_default=False)] = None,
    output: Annotated[str | None, output_option(
        "Also write the report: .html (one offline page), .md, .csv (one row per student "
        "and answer) or .json.", metavar="FILE")] = None,
    as_json: Json = False,
    anonymous: Annotated[bool, typer.Option(
        "--anonymous", help="Leave out the students' ids (a report to show the class): no "
        "follow-up list, students numbered in the CSV.")] = False,
    width: Width = None,
) -> None:
    """Summarise a class's graded answers: the score distribution, the share of each answer
    right, carried forward, wrong or missing, each named slip with how many students made
    it and where, where the chain rule broke first, and the students to follow up.

    Files that cannot be read as results are listed and skipped. Exit codes: 0 the report
    was made, 2 no results could be read (or a bad option).
    """
    try:
        from ..core.fileio import check_output
        from ..course.classpage import render
        from ..course.classreport import load_key, summarise
        from ..course.classresults import load_results

        fmt = None
        if output is not None and output != "-":
            fmt = SUFFIX_FORMATS.get(Path(output).suffix.lower())
            if fmt is None:
                raise InputError(f"-o {output}: the report is written as .html, .md, .csv or "
                                 ".json", where="-o", hint="e.g. -o report.html")
            check_output(output, where="-o", inputs=[*results, *([key] if key else [])])
        pset = load_key(key) if key else None
        students, skipped = load_results(results)
        if not students:
            first = f" (first: {skipped[0].source}: {skipped[0].why})" if skipped else ""
            raise InputError(f"no graded results could be read from {', '.join(results)}: "
                             f"{len(skipped)} files skipped{first}", where="RESULTS",
                             hint="give the folder of `backprop check KEY --answers S --json` "
                             "outputs, or a Gradescope or PrairieLearn export")
        report = summarise(students, skipped, pset)
        names = not anonymous
        if fmt is not None and output is not None:
            _write(output, render(report, fmt, names))
        if as_json:
            sys.stdout.write(render(report, "json", names))
        else:
            _print(render(report, "terminal", names))
    except BackpropError as exc:
        fail(exc)
    raise typer.Exit(int(ExitStatus.OK))
