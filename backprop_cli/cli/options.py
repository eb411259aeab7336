"""The options that several commands share, each defined once: its flag, meaning, default and
the one place its text is parsed (a click type or a typer callback).

A command takes the annotated type (``width: Width = None``) and receives the parsed value;
nothing in a command converts an option's text by hand. Parsing errors are the library's
own (an InputError naming the option), so they print like every other bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from ..core.errors import BackpropError

if TYPE_CHECKING:
    from typer._click import Context  # typer's own click (typer vendors it)

# --- the output width -------------------------------------------------------------------

MIN_WIDTH = 40  # narrower than this no table layout can keep its numbers whole


def _remember_width(value: int | None) -> int | None:
    # The one command line's --width, read by app.console_width() when output is printed.
    from .app import remember_width

    remember_width(value)
    return value


Width = Annotated[int | None, typer.Option(
    "--width", min=MIN_WIDTH, metavar="N", callback=_remember_width,
    help="Lay tables out for N columns (default: the terminal's width, or COLUMNS, or "
    "120 when the output is piped).", show_default=False)]


# --- typed options: each parsed here, once -----------------------------------------------
# typer's `parser=`: a function from the option's text to its value, run by click for the
# given text and for the default alike. A bad value prints like every bad input (error:,
# hint:, exit 2), naming the option.

def _failing(exc: BackpropError) -> NoReturn:
    from .app import fail

    fail(exc)


def number_parser(flag: str, *, positive: bool = False) -> Callable[[Any], float]:
    """A number as the library reads it (`1e-7`, `-0.5`, exact decimals), optionally >= 0."""

    def parse(value: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        from ..core.errors import InputError
        from ..core.numbers import parse_number

        try:
            number, _ = parse_number(str(value).strip(), source=str(value), pos=0, where=flag)
            if positive and number < 0:
                raise InputError(f"{flag} must not be negative", where=flag)
        except InputError as exc:
            if flag not in exc.message:  # say which option, as the user typed it
                exc = InputError(f"{flag}: {exc.message}", source=exc.source, pos=exc.pos,
                                 end=exc.end, where=flag, hint=exc.hint)
            _failing(exc)
        return number

    return parse


def upstream_parser(value: Any) -> float | str:
    """--upstream: a number (float), or a vector/matrix literal such as [4,-1,5,9], kept as
    text: its shape is checked against the output's when the graph is built."""
    if isinstance(value, str) and "[" in value:
        return value
    return number_parser("--upstream")(value)


def checks_parser(value: Any) -> tuple[str, ...]:
    """--check: verifier names, comma-separated; `both` is sympy,numeric, `none` is none."""
    if isinstance(value, tuple):
        return value
    from ..core.result import parse_checks

    try:
        return parse_checks(str(value), where="--check")
    except BackpropError as exc:
        _failing(exc)


def shown(number: float) -> str:
    """A default as --help shows it: 1e-8 and 0, not Python's 1e-08 and 0.0."""
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{number:g}")


def _number(flag: str, meta: str, help: str, default: float, *,
            positive: bool = False) -> Any:
    # `default` is the one the commands give the parameter (a float, as the command
    # receives it; typer takes no default in Annotated): here it is only said, in click's
    # own words (typer would print repr's 1e-08, or a text default in parentheses), and
    # tests/test_options.py checks that the two agree.
    return typer.Option(flag, metavar=meta, help=f"{help}  [default: {shown(default)}]",
                        show_default=False, parser=number_parser(flag, positive=positive))


# Annotated[Any, ...]: typer cannot annotate a union (float | str); the parser gives the
# value its type, and each alias below says what the command receives.
Upstream = Annotated[Any, typer.Option(  # float, or the text of an array literal
    "--upstream", metavar="G", parser=upstream_parser,
    help="Seed of the backward pass: the gradient dL/d(output) of some loss L arriving at "
    "the output, a number or an array such as [4,-1,5,9]; every gradient scales by it.")]
Checks = Annotated[Any, typer.Option(  # tuple[str, ...] of verifier names
    "--check", metavar="WHICH", parser=checks_parser,
    help="Verifiers of the gradients: sympy, numeric (central finite differences), both "
    "(sympy,numeric; the default) or none.")]
Rtol = Annotated[float, _number("--rtol", "R", "Relative tolerance against sympy: "
                                "|a-b| <= atol + rtol*|b|.", 1e-7, positive=True)]
Atol = Annotated[float, _number("--atol", "A", "Absolute tolerance against sympy.", 1e-9,
                                positive=True)]
Budget = Annotated[float | None, typer.Option(
    "--budget", metavar="SECONDS", parser=number_parser("--budget", positive=True),
    help="Wall-clock budget for the whole check of one expression, default 3 (sympy is "
    "stopped there; what it did not prove says 'not checked (budget)').",
    show_default=False)]
MAX_ROWS = 20
MaxRows = Annotated[int, typer.Option(
    "--max-rows", min=2, metavar="N",
    help="Longer tables show their first and last rows (eval) or evenly spaced ones "
    "(descend, fit); --json has every row.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables "
                                    "(see docs/reference/json.md).")]

# descend and fit
Lr = Annotated[float, _number("--lr", "ETA", "Learning rate eta0.", 0.1)]
Momentum = Annotated[float, _number(
    "--momentum", "GAMMA", "momentum/nesterov: the fraction gamma of the velocity kept per "
    "step.", 0.9)]
Beta1 = Annotated[float, _number("--beta1", "B1", "adam: decay of the mean of gradients.",
                                   0.9)]
Beta2 = Annotated[float, _number("--beta2", "B2", "adam: decay of the mean of squares.",
                                   0.999)]
Eps = Annotated[float, _number("--eps", "EPS", "adam: added to sqrt(v_hat).", 1e-8)]
L1 = Annotated[float, _number("--l1", "L", "L1 penalty: adds l1*sum|w| to the loss.", 0,
                              positive=True)]
L2 = Annotated[float, _number("--l2", "L", "L2 penalty: adds l2*sum w^2 to the loss.", 0,
                              positive=True)]
Tol = Annotated[float, _number("--tol", "T", "Stop when the gradient norm is at most this.",
                               1e-6, positive=True)]
ValSplit = Annotated[float, _number("--val-split", "F",
                                    "Fraction of the rows held out for validation.",
                                    0, positive=True)]


# --- the expression, its point, its file: the words of eval, graph, steps, replay, ... ----
# Each defined once (flag, metavar, default); a command whose option means more than the
# generic text passes its own help to the function, so its --help says what it does.

EXPR_HELP = "The expression; '-' reads stdin."


def expr_argument(help: str = EXPR_HELP, metavar: str = "EXPR") -> Any:
    """The positional expression (fit calls it LOSS)."""
    return typer.Argument(help=help, metavar=metavar, show_default=False)


def at_option(help: str) -> Any:
    """--at X=V,...: the input values, repeatable."""
    return typer.Option("--at", metavar="X=V,...", help=help, show_default=False)


def output_option(help: str, metavar: str = "FILE") -> Any:
    """-o/--output: the file written ('-' or none: stdout, where the command allows it)."""
    return typer.Option("-o", "--output", metavar=metavar, help=help, show_default=False)


def seed_option(help: str) -> Any:
    """--seed S: the same seed, the same random draws. One rule for every command (make, quiz,
    formula): a whole number from 0 (numpy's generators refuse a negative seed)."""
    return typer.Option("--seed", metavar="S", help=help, min=0)


Expr = Annotated[str, expr_argument()]
At = Annotated[list[str] | None, at_option(
    "Input values: x=-2,y=5,z=-4 (repeatable; needed for every input).")]
Expand = Annotated[bool, typer.Option("--expand", help="Show compound gates (sigmoid, tanh, "
                                      "softmax, ...) as primitive gates.")]


# --- check's input format: --input-format (the old --format still works, with a note) ----

def _old_format(value: str | None) -> str | None:
    if value is not None:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(
            "note: check's --format is now --input-format (--format still works, for now)",
            style="yellow", markup=False)
    return value


InputFormat = Annotated[str, typer.Option(
    "--input-format", metavar="FORMAT",
    help="The file's type: toml, jsonl, or auto (by file extension, else by content).")]
OldInputFormat = Annotated[str | None, typer.Option(
    "--format", hidden=True, callback=_old_format, show_default=False,
    help="Deprecated spelling of --input-format.")]


# --- unknown options: "did you mean ...?" from the command's own options ------------------

class Command(TyperCommand):
    """A command that names an unknown `--option` before anything else is parsed, with the
    closest of its own options. eval, graph, steps and descend accept unknown options as
    arguments (so that `-x^2` is an expression), which would otherwise turn `--att` into
    "unexpected extra argument" and `--jsn` before the expression into a bad expression."""

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        args = join_at_values(args)
        known = {opt for p in self.get_params(ctx) for opt in (*p.opts, *p.secondary_opts)}
        for arg in args:
            if arg == "--":
                break
            name = arg.split("=", 1)[0]
            if name.startswith("--") and len(name) > 2 and name not in known:
                _failing(unknown_option(name, ctx.command_path, known))
        return super().parse_args(ctx, args)


# --at x=-2, y=5, z=-4 (a space after each comma, as people type) arrives as three words:
# a word that continues a value (after a trailing comma or semicolon, a binding `name=`;
# inside an open [ of an array, anything but an option) is joined back onto it.
_LETTER = "A-Za-z_\u0391-\u03a9\u03b1-\u03c9"  # the grammar's NAME
_BINDING = re.compile(f"[{_LETTER}][{_LETTER}0-9]*=")


def join_at_values(args: list[str]) -> list[str]:
    """The command line with each --at value split by spaces joined back into one word."""
    out: list[str] = []
    value = False  # whether out[-1] is an --at value
    for k, arg in enumerate(args):
        if arg == "--":  # the rest is the expression, as typed
            return out + args[k:]
        if value:
            last = out[-1]
            open_array = last.count("[") > last.count("]")
            if (open_array and not arg.startswith("--")) or (
                    last.endswith((",", ";")) and _BINDING.match(arg)):
                out[-1] = last + arg
                continue
        value = (bool(out) and out[-1] == "--at") or arg.startswith("--at=")
        out.append(arg)
    return out


def unknown_option(name: str, command: str, known: set[str]) -> BackpropError:
    import difflib

    from ..core.errors import InputError

    close = difflib.get_close_matches(name, sorted(o for o in known if o.startswith("--")),
                                      n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"see {command} --help"
    return InputError(f"no such option: {name}", where=name, hint=hint)


# --- --help examples: printed verbatim, never wrapped inside an argument -------------------

EXAMPLE_WIDTH = 72  # a command longer than this continues on the next line, after " \"


def _words(command: str) -> list[str]:
    """The command's words as written, quotes kept: a quoted expression is one word."""
    words, cur, quote = [], "", ""
    for ch in command:
        if quote:
            cur += ch
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            cur += ch
            quote = ch
        elif ch == " ":
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        words.append(cur)
    return words


def shell_lines(command: str, width: int = EXAMPLE_WIDTH) -> str:
    """``command`` as shell lines of at most ``width`` characters, joined by " \\" (a word
    longer than that keeps its own line), so a copied example runs as is."""
    units: list[str] = []
    for word in _words(command):
        # An option and its value (and `<` and its file) stay on one line.
        prev = units[-1] if units else ""
        if (prev.startswith("-") and len(prev) > 1 and " " not in prev
                and not word.startswith("-")) or prev == "<":
            units[-1] += " " + word
        else:
            units.append(word)
    lines = [""]
    for word in units:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width - 2:
            lines[-1] += " \\"
            lines.append("    " + word)
        else:
            lines[-1] += (" " if lines[-1] else "") + word
    return "\n".join(lines)


def examples(*items: str | tuple[str, str], title: str = "Examples:") -> str:
    """A --help epilog: each example a paragraph click prints verbatim (the "\\b" marker),
    with an optional comment line above it: ("what it shows", "backprop ...")."""
    blocks = []
    for item in items:
        note, command = item if isinstance(item, tuple) else ("", item)
        body = shell_lines(command)
        if note:
            body = f"# {note}\n{body}"
        blocks.append("\b\n" + body)
    return title + "\n\n" + "\n\n".join(blocks)
