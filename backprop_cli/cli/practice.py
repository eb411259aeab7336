"""The `practice` command: the quiz's drill, aimed by the learner's history (course/practice.py)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..core.errors import BackpropError
from .app import _print, fail
from .options import Command, Json, examples, seed_option


def register(app: typer.Typer) -> None:
    app.command(
        "practice",
        short_help="Practise what you get wrong: drills chosen from your history.",
        cls=Command,
        epilog=examples(
            "backprop practice",
            "backprop practice --stats",
            ("a history of your own choosing",
             "backprop practice --progress week3.json"),
        ),
    )(practice_)


def practice_(
    progress: Annotated[str | None, typer.Option(
        "--progress", metavar="FILE",
        help="The history file (default: progress.json in your data folder).",
        show_default=False)] = None,
    show_stats: Annotated[bool, typer.Option(
        "--stats", help="Show progress per family and slip, and the scores, then stop.")]
    = False,
    seed: Annotated[int | None, seed_option(
        "The circuit's numbers (default: new ones, the seed shown).")] = None,
    max_questions: Annotated[int, typer.Option(
        "--max-questions", metavar="N", min=1, help="At most N questions in the drill.")]
    = 30,
    as_json: Json = False,
) -> None:
    """A drill like `backprop quiz`, its family and level chosen from your history: a slip
    you made comes back next session in a circuit that exercises it, a family you master
    comes back later and later (spaced repetition), new families in the lecture's order.

    The history is saved after each drill. Exit codes: 0 every answer right, 1 some wrong
    (or stopped early), 2 bad input (such as a --progress file that is not a history).
    """
    try:
        from ..course import practice as pr
        from ..course.practice_run import session

        path = Path(progress) if progress else pr.default_path()
        if show_stats:
            history = pr.load(path)
            if as_json:
                from ..core import jsonout

                sys.stdout.write(jsonout.dumps(pr.stats(history)))
            else:
                _print(pr.stats_view(history))
            raise typer.Exit(0)

        def read() -> str | None:
            line = sys.stdin.readline()
            return None if line == "" else line

        def write(s: str) -> None:
            sys.stdout.write(s)
            sys.stdout.flush()

        score, finished = session(path, read, write, seed=seed, max_questions=max_questions,
                                  echo=not sys.stdin.isatty())
    except BackpropError as exc:
        fail(exc)
    raise typer.Exit(0 if finished and score.right == score.asked else 1)
