"""The typer app and what every command shares: one error printer, one output printer, one
progress bar, one way of reading an option's number.

Heavy modules (the engine, sympy, rich tables) are imported inside the commands, so that
`backprop --help` starts fast.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from ..core.errors import BackpropError, ExitStatus, InputError

# --- exit codes: the one place where exceptions become messages and codes --------------------

def _quiet_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's last flush at exit cannot fail
    again on a closed pipe or a full disk (the recipe of Python's signal docs)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (CliRunner)
        pass


def _stderr_line(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("BACKPROP_DEBUG", "") not in ("", "0")


def handle(exc: BaseException, debug: bool = False) -> int:
    """The exit code for an exception that reached the top, after its one message.

    BackpropError: its own message and status (2). A closed stdout pipe: quietly, 141. A
    write to stdout that failed (a full disk, ``> /dev/full``): one line, 2. Ctrl-C: 130.
    MemoryError: one line, 2. Anything else is a bug: one line asking for a report, 3;
    ``--debug`` or BACKPROP_DEBUG=1 adds the traceback.
    """
    if isinstance(exc, BackpropError):
        try:
            fail(exc)
        except typer.Exit as done:
            return done.exit_code
    if isinstance(exc, BrokenPipeError):
        _quiet_stdout()
        return ExitStatus.PIPE_CLOSED
    if isinstance(exc, KeyboardInterrupt):
        _stderr_line("interrupted")
        return ExitStatus.INTERRUPTED
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError) and getattr(exc, "_backprop_stdout", False):
        _quiet_stdout()
        _stderr_line(f"error: cannot write to standard output: {exc.strerror or exc}")
        return ExitStatus.BAD_INPUT
    if isinstance(exc, MemoryError):
        _stderr_line("error: out of memory: the input needs more memory than this machine "
                     "gives (see docs/reference/limits.md)")
        return ExitStatus.BAD_INPUT
    from ..core.limits import abbreviate

    what = abbreviate(f"{type(exc).__name__}: {exc}", 200)
    hint = "" if debug else " (backprop --debug ... or BACKPROP_DEBUG=1 shows the traceback)"
    _stderr_line(f"internal error: {what}. This is a bug in backprop: please report it with "
                 f"the command you ran{hint}")
    return ExitStatus.INTERNAL


def flush_stdout() -> None:
    """Flush stdout now, where a failure can still be reported (not at interpreter exit);
    a failed flush is marked as stdout's, so that ``handle`` names it."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        exc._backprop_stdout = True  # type: ignore[attr-defined]
        raise


_WRITE_ERRORS = {errno.ENOSPC, errno.EIO, errno.EBADF, errno.EFBIG, errno.EDQUOT}


class _Backprop(TyperGroup):
    """The app's click group: every command runs inside the one exception handler."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        argv = kwargs.get("args", args[0] if args else None)
        too_big = _oversized_argument(self, list(sys.argv[1:] if argv is None else argv))
        if too_big is not None:  # before parsing: no option's value is ever held twice
            sys.exit(handle(too_big))
        remember_width(None)  # a command without --width never inherits the last run's
        try:
            return super().main(*args, **kwargs)
        except OSError as exc:  # writing --help or a usage error to a full stdout
            exc._backprop_stdout = True  # type: ignore[attr-defined]
            sys.exit(handle(exc))
        except SystemExit as done:
            if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
                sys.exit(ExitStatus.PIPE_CLOSED)  # click's own closed-pipe exit, during --help
            raise

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and not ctx.resilient_parsing:  # `backprop` alone: what to try first
            typer.echo(TRY_THIS, nl=False)
            ctx.exit(0)
        return super().parse_args(ctx, args)

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        # `backprop "(x+y)*z" --at ...`: an expression where a command is expected is
        # evaluated; a word close to a command's name (evl) stays "No such command".
        import difflib

        word = args[0] if args else ""
        file = word.lower().endswith((".toml", ".jsonl", ".json", ".csv"))  # check FILE?
        if word and self.get_command(ctx, word) is None and not word.startswith("-") \
                and not file \
                and not difflib.get_close_matches(word, list(self.commands), n=1, cutoff=0.7):
            args = ["eval", *args]
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            try:
                rv = super().invoke(ctx)
            except typer.Exit:
                flush_stdout()
                raise
            flush_stdout()
            return rv
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except BaseException as exc:  # the one place every error is mapped
            if isinstance(exc, (SystemExit, GeneratorExit)):
                raise
            if isinstance(exc, OSError) and exc.filename is None and exc.errno in _WRITE_ERRORS:
                # A write to stdout (rich, print) failing before the final flush.
                exc._backprop_stdout = True  # type: ignore[attr-defined]
            raise typer.Exit(handle(exc, _debug(ctx))) from None


def _oversized_argument(group: TyperGroup, argv: list[str]) -> InputError | None:
    """The error for the first command-line value over core.limits.ARGUMENT_BYTES (an EXPR,
    an --at or --expect value, any option's), naming the option or argument; else None."""
    from ..core.limits import ARGUMENT_BYTES, megabytes, too_large_argument

    for i, value in enumerate(argv):
        if not too_large_argument(value):
            continue
        cmd = next((group.commands[t] for t in argv[:i] if t in group.commands), None)
        params = list(cmd.params) if cmd is not None else []
        prev = argv[i - 1] if i else ""
        option = next((p for p in params if p.param_type_name == "option"
                       and prev in (*p.opts, *p.secondary_opts)), None)
        if value.startswith("--") and "=" in value:
            name = value.split("=", 1)[0]
        elif option is not None and not getattr(option, "is_flag", False) \
                and not getattr(option, "count", False):
            name = prev
        elif prev.startswith("-") and len(prev) > 1 and option is None and cmd is None:
            name = prev  # a global option's value (before the command)
        else:
            names = [p.human_readable_name for p in params if p.param_type_name == "argument"]
            name = names[0] if names else "an argument"
        return InputError(f"{name} is larger than {megabytes(ARGUMENT_BYTES)}, the limit for a "
                          "value given on the command line", where=name,
                          hint="put a long expression in a file and pipe it in: backprop eval "
                          "- --at ... < expr.txt (see docs/reference/limits.md)")
    return None


TRY_THIS = """\
backprop: backpropagation, node by node, every gradient checked against sympy.

Try this:
  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4
  backprop "2x^2 + sin(x)" --at x=1          (eval is the default command)
  backprop steps "(x+y)*z" --at x=-2,y=5,z=-4
  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4 --expect dx=-4,dy=-4,dz=3
  backprop graph "sigmoid(w*x + b)" --at w=2,x=-1,b=-3 -o neuron.svg

backprop --help lists every command; backprop COMMAND --help its options.
"""

app = typer.Typer(
    cls=_Backprop,
    name="backprop",
    help="Backpropagation, node by node: build the computational graph of an expression, "
    "run the forward and backward pass, and prove every gradient against sympy.\n\n"
    '\b\nExample: backprop eval "(x+y)*z" --at x=-2,y=5,z=-4',
    no_args_is_help=True,
    add_completion=True,  # --install-completion, --show-completion (docs/guides/install.md)
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(debug: Annotated[bool, typer.Option(
        "--debug", help="On an internal error, print the traceback (also BACKPROP_DEBUG=1).")]
        = False,
        max_entries: Annotated[int, typer.Option(
            "--max-entries", min=1, metavar="N",
            help="Largest array node, in entries, checked before it is computed (8 times "
            "that for all nodes together); see docs/reference/limits.md.")] = 4_000_000) -> None:
    """Backpropagation, node by node, checked against sympy."""
    from ..core.limits import set_max_entries

    set_max_entries(max_entries)


def fail(exc: BackpropError) -> NoReturn:
    """One clear message on stderr, no traceback, and the error's exit code."""
    from rich.console import Console
    from rich.text import Text

    from ..views.render import text

    err = Console(stderr=True, highlight=False, soft_wrap=True)
    where = exc.position_text()
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
        from ..core.fileio import read_text
        from ..core.limits import EXPRESSION_BYTES

        return read_text("-", limit=EXPRESSION_BYTES, what="an expression", where="EXPR")
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

    class Stdout(Console):
        def on_broken_pipe(self) -> None:  # rich would exit 1 ("a check failed"): let
            raise BrokenPipeError  # the one handler give the closed pipe its own code

    console = Stdout(highlight=False, width=console_width())
    if console.is_terminal:
        console.print(renderable)
        return
    # Piped or redirected: rich pads centred captions and chart rows with spaces to the
    # width; a file or a diff should not carry them, so each line ends at its last mark.
    with console.capture() as captured:
        console.print(renderable)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().split("\n")))


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
    raw = data.encode() if isinstance(data, str) else data
    if output is None or output == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(raw)
        sys.stdout.flush()
        return
    from ..core.fileio import write_atomic

    write_atomic(output, raw, where="-o")
    from rich.console import Console

    from ..views.render import text

    err = Console(stderr=True, highlight=False)
    err.print(f"wrote {len(raw):,} bytes to ", end="")
    err.print(text(output))
