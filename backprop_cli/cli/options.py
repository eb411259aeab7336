"""The options that several commands share, each defined once: its flag, meaning, default and
the one place its text is parsed (a click type or a typer callback).

A command takes the annotated type (``width: Width = None``) and receives the parsed value;
nothing in a command converts an option's text by hand. Parsing errors are the library's
own (an InputError naming the option), so they print like every other bad input.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer

# --- the output width -------------------------------------------------------------------

PIPED_WIDTH = 120  # columns when stdout is a file or a pipe and COLUMNS is not set
MIN_WIDTH = 40  # narrower than this no table layout can keep its numbers whole

_forced: dict[str, int | None] = {"width": None}


def _remember_width(value: int | None) -> int | None:
    # The one command line's --width, read by console_width() when the output is printed.
    _forced["width"] = value
    return value


Width = Annotated[int | None, typer.Option(
    "--width", min=MIN_WIDTH, metavar="N", callback=_remember_width,
    help="Lay tables out for N columns (default: the terminal's width, or COLUMNS, or "
    f"{PIPED_WIDTH} when the output is piped).", show_default=False)]


def console_width() -> int:
    """The width tables are laid out for: --width, else COLUMNS, else the terminal's width,
    else PIPED_WIDTH (a file or a pipe: stable output for scripts and golden files)."""
    forced = _forced["width"]
    if forced is not None:
        return forced
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns
    return PIPED_WIDTH
