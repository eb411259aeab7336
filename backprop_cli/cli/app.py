"""The typer app and what every command shares: one error printer, one output printer, one
progress bar, one way of reading an option's number.

Heavy modules (the engine, sympy, rich tables) are imported inside the commands, so that
`backprop --help` starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

import typer

from ..core.errors import BackpropError

app = typer.Typer(
    name="backprop",
    help="Backpropagation, node by node: build the computational graph of an expression, "
    "run the forward and backward pass, and prove every gradient against sympy.\n\n"
    '\b\nExample: backprop eval "(x+y)*z" --at x=-2,y=5,z=-4',
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (README: Shell completion)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def main() -> None:
    """Backpropagation, node by node, checked against sympy."""


def fail(exc: BackpropError) -> NoReturn:
    """One clear message on stderr, no traceback, and the error's exit code."""
    from rich.console import Console
    from rich.text import Text

    from ..views.render import text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    where = ""
    lc = exc.line_col()
    if lc is not None and exc.source is not None and "\n" in exc.source.strip():
        where = f" (line {lc[0]}, column {lc[1]})"
    elif lc is not None:
        where = f" (column {lc[1]})"
    msg = Text("error: ", style="bold red")
    msg.append(text(exc.message + where))
    err.print(msg)
    ctx = exc.context()
    if ctx:
        err.print(text("  " + ctx.replace("\n", "\n  ")))
    if exc.hint:
        hint = Text("hint: ", style="bold")
        hint.append(text(exc.hint))
        err.print(hint)
    raise typer.Exit(int(exc.status))


def _read_expression(expr: str) -> str:
    if expr == "-":
        return sys.stdin.read()
    if expr.startswith("--"):
        raise typer.BadParameter(f"no such option: {expr.split('=')[0]}", param_hint="EXPR")
    return expr


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [w.strip() for v in values for w in v.split(",") if w.strip()]


def _table_format(value: str, as_json: bool) -> str:
    from ..core.errors import InputError

    fmt = value.strip().lower()
    if fmt not in ("table", "markdown", "latex"):
        raise InputError(f"unknown --format '{value}'", where="--format",
                         hint="choose from table, markdown, latex")
    if as_json and fmt != "table":
        raise InputError("--json and --format cannot be combined", where="--format",
                         hint="pick one output: --json, or --format markdown|latex")
    return fmt


PIPED_WIDTH = 120  # columns when stdout is a file or a pipe and COLUMNS is not set
_width: dict[str, int | None] = {"forced": None}


def remember_width(value: int | None) -> None:
    """--width of the command line being run (options.Width's callback)."""
    _width["forced"] = value


def console_width() -> int:
    """The width tables are laid out for: --width, else COLUMNS, else the terminal's width,
    else PIPED_WIDTH (a file or a pipe: stable output for scripts and golden files)."""
    import os
    import shutil

    forced = _width["forced"]
    if forced is not None:
        return forced
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if sys.stdout.isatty():
        return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns
    return PIPED_WIDTH


def _print(renderable: object) -> None:
    """Print to stdout at console_width(): --width, COLUMNS, the terminal's width, or 120
    columns when piped or redirected, so that files and golden outputs are stable."""
    from rich.console import Console

    Console(highlight=False, width=console_width()).print(renderable)


@contextmanager
def progress(label: str, total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr, only when stderr is a terminal and ``total`` >= 1."""
    from rich.console import Console

    err = Console(stderr=True)
    if not err.is_terminal or total < 1:
        yield None
        return
    from rich.progress import Progress

    with Progress(console=err, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def tick(done: int, _total: int) -> None:
            bar.update(task, completed=done)

        yield tick


def _write(output: str | None, data: str | bytes) -> None:
    from ..core.errors import InputError

    raw = data.encode() if isinstance(data, str) else data
    if output is None or output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    try:
        with open(output, "wb") as fh:
            fh.write(raw)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}", where="-o") from None
    from rich.console import Console

    from ..views.render import text

    err = Console(stderr=True, highlight=False)
    err.print(f"wrote {len(raw):,} bytes to ", end="")
    err.print(text(output))
