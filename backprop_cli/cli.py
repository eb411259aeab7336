"""The `backprop` command: a thin typer shell over the library (parse options, call, print once).

Heavy modules (the engine, sympy, rich tables) are imported inside the commands, so that
`backprop --help` starts fast.
"""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

from .errors import BackpropError, ExitStatus

app = typer.Typer(
    name="backprop",
    help="Backpropagation, node by node: build the computational graph of an expression, "
    "run the forward and backward pass, and prove every gradient against sympy.\n\n"
    'Example: backprop eval "(x+y)*z" --at x=-2,y=5,z=-4',
    no_args_is_help=True,
    add_completion=False,
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

    from .render import text

    err = Console(stderr=True, highlight=False)
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


def _number(text: str, option: str, *, positive: bool = False) -> float:
    from .parse import parse_number

    value, _ = parse_number(text.strip(), source=text, pos=0, where=option)
    if positive and value < 0:
        from .errors import InputError

        raise InputError(f"{option} must not be negative", where=option)
    return value


@app.command(
    "eval",
    context_settings={"ignore_unknown_options": True},
    epilog='Examples:\n\n'
    '  backprop eval "(x+y)*z" --at x=-2,y=5,z=-4\n\n'
    '  backprop eval "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --json\n\n'
    '  backprop eval "-x^2" --at x=3          (a leading minus works as is)\n\n'
    '  echo "sigmoid(w0*x0 + w1*x1 + w2)" | backprop eval - --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3',
)
def eval_(
    expr: Annotated[str, typer.Argument(
        help="The expression, e.g. '(x+y)*z' or 'q = x + y; f = q * z'; '-' reads stdin.",
        show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", help="Input values: x=-2,y=5,z=-4 (repeatable). Without it, the "
        "graph is shown with symbolic local gradients and sympy's derivatives.",
        show_default=False)] = None,
    wrt: Annotated[list[str] | None, typer.Option(
        "--wrt", help="Only these inputs' gradients are shown and checked: x,y.",
        show_default=False)] = None,
    upstream: Annotated[str, typer.Option(
        "--upstream", help="Seed of the backward pass: the gradient of some loss with "
        "respect to the output. Every gradient scales by it.")] = "1",
    check: Annotated[str, typer.Option(
        "--check", help="Verifiers: sympy, numeric (central finite differences), both "
        "(sympy,numeric) or none.")] = "sympy,numeric",
    rtol: Annotated[str, typer.Option("--rtol", help="Relative tolerance against sympy: "
                                      "|a-b| <= atol + rtol*|b|.")] = "1e-7",
    atol: Annotated[str, typer.Option("--atol", help="Absolute tolerance against sympy.")]
    = "1e-9",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object (see README) "
                                          "instead of tables.")] = False,
    max_rows: Annotated[int, typer.Option("--max-rows", min=2, help="Abbreviate tables "
                                          "longer than this (--json has every row).")] = 60,
    symbolic: Annotated[bool, typer.Option("--symbolic", help="Also show each local gradient "
                                           "as a formula (with --at).")] = False,
    expand: Annotated[bool, typer.Option("--expand", help="Show compound gates (sigmoid, "
                                         "tanh) as the primitive gates they are made of.")]
    = False,
    out_format: Annotated[str, typer.Option("--format", help="table (default), markdown or "
                                            "latex: the node and gradient tables, ready to "
                                            "paste.")] = "table",
) -> None:
    """Build the graph of EXPR, run forward and backward, and check every gradient.

    Prints the node table (value, local gradients, upstream and downstream gradients, gate
    pattern) and the gradient table (backprop vs sympy vs finite differences). Exit codes:
    0 every check passed, 1 a check failed, 2 bad input.
    """
    try:
        from .api import evaluate
        from .verify import Tolerance

        source = _read_expression(expr)
        verifiers = () if check.strip() == "none" else tuple(_split([check]) or ())
        tol = Tolerance(rtol=_number(rtol, "--rtol", positive=True),
                        atol=_number(atol, "--atol", positive=True))
        out_format = _table_format(out_format, as_json)
        result = evaluate(source, at, wrt=_split(wrt), upstream=_number(upstream, "--upstream"),
                          check=verifiers, tolerance=tol, symbolic_locals=symbolic or None,
                          expand=expand)
    except BackpropError as exc:
        fail(exc)
    if out_format != "table":
        from . import export

        write = export.markdown if out_format == "markdown" else export.latex
        sys.stdout.write(write(result, max_rows=max_rows))
    elif as_json:
        import json

        sys.stdout.write(json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    else:
        from rich.console import Console

        from .render import report

        console = Console(highlight=False)
        if not console.is_terminal:
            # Piped or redirected: a fixed width, so files and golden outputs are stable.
            console = Console(highlight=False, width=120)
        console.print(report(result, max_rows=max_rows))
    raise typer.Exit(int(ExitStatus.OK if result.ok else ExitStatus.CHECK_FAILED))


def _table_format(value: str, as_json: bool) -> str:
    from .errors import InputError

    fmt = value.strip().lower()
    if fmt not in ("table", "markdown", "latex"):
        raise InputError(f"unknown --format '{value}'", where="--format",
                         hint="choose from table, markdown, latex")
    if as_json and fmt != "table":
        raise InputError("--json and --format cannot be combined", where="--format",
                         hint="pick one output: --json, or --format markdown|latex")
    return fmt


def _print(renderable: object) -> None:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=120)
    console.print(renderable)


@app.command(
    "graph",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n"
    '  backprop graph "(x+y)*z" --at x=-2,y=5,z=-4 -o circuit.svg\n\n'
    '  backprop graph "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
    "--expand -o neuron.png\n\n"
    '  backprop graph "q = x + y; f = q * z" --at x=-2,y=5,z=-4 --format mermaid',
)
def graph_(
    expr: Annotated[str, typer.Argument(
        help="The expression; '-' reads stdin.", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", help="Input values: x=-2,y=5,z=-4 (repeatable). Without it, the circuit is "
        "drawn without numbers.", show_default=False)] = None,
    output: Annotated[str | None, typer.Option(
        "-o", "--output", help="Write the picture to this file; its suffix (.dot .gv .mmd "
        ".svg .png .txt) sets the format.", show_default=False)] = None,
    pic_format: Annotated[str | None, typer.Option(
        "--format", help="dot, mermaid, svg, png (svg and png need Graphviz) or text "
        "(a tree in the terminal; the default without -o).", show_default=False)] = None,
    upstream: Annotated[str, typer.Option(
        "--upstream", help="Seed of the backward pass (gradient arriving at the output).")]
    = "1",
    expand: Annotated[bool, typer.Option("--expand", help="Draw compound gates (sigmoid, "
                                         "tanh) as the primitive gates they are made of.")]
    = False,
) -> None:
    """Draw the circuit of EXPR: gates, and on every wire its value (green) and gradient (red).

    Drawn left to right like the lecture's circuits. DOT and Mermaid need no extra software;
    SVG and PNG are laid out by Graphviz (`dot`).
    """
    try:
        from . import picture
        from .api import evaluate

        source = _read_expression(expr)
        fmt = picture.format_for(output, pic_format)
        if fmt == "png" and output is None:
            from .errors import InputError

            raise InputError("--format png needs a file: add -o FILE.png", where="-o")
        result = evaluate(source, at, upstream=_number(upstream, "--upstream"), check=(),
                          expand=expand)
        data: str | bytes
        if fmt == "text":
            if output is None:
                _print(picture.to_text(result))
                raise typer.Exit(int(ExitStatus.OK))
            data = picture.to_text(result).plain + "\n"
        elif fmt == "mermaid":
            data = picture.to_mermaid(result)
        else:
            data = picture.to_dot(result)
            if fmt in ("svg", "png"):
                data = picture.render_graphviz(data, fmt)
        _write(output, data)
    except BackpropError as exc:
        fail(exc)


def _write(output: str | None, data: str | bytes) -> None:
    from .errors import InputError

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

    Console(stderr=True, highlight=False).print(f"wrote {len(raw):,} bytes to ", end="")
    from .render import text

    Console(stderr=True, highlight=False).print(text(output))


@app.command(
    "steps",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n"
    '  backprop steps "(x+y)*z" --at x=-2,y=5,z=-4\n\n'
    '  backprop steps "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
    "--expand --forward",
)
def steps_(
    expr: Annotated[str, typer.Argument(
        help="The expression; '-' reads stdin.", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", help="Input values: x=-2,y=5,z=-4 (repeatable; needed for every input).",
        show_default=False)] = None,
    forward: Annotated[bool, typer.Option("--forward", help="Replay the forward pass first.")]
    = False,
    upstream: Annotated[str, typer.Option(
        "--upstream", help="Seed of the backward pass (gradient arriving at the output).")]
    = "1",
    expand: Annotated[bool, typer.Option("--expand", help="Replay compound gates (sigmoid, "
                                         "tanh) as the primitive gates they are made of.")]
    = False,
) -> None:
    """Replay the backward pass of EXPR one gate at a time, in the lecture's words.

    For each gate, from the output back to the inputs: the upstream gradient arriving, the
    local gradient(s), their product flowing downstream, and where an input fans out, its
    branches being added.
    """
    try:
        from . import steps
        from .api import evaluate
        source = _read_expression(expr)
        # No --at: an empty point, so a missing value is reported by name (constants need none).
        result = evaluate(source, at or {}, upstream=_number(upstream, "--upstream"), check=(),
                          expand=expand)
        back = steps.backward_steps(result)
        fwd = steps.forward_steps(result) if forward else None
    except BackpropError as exc:
        fail(exc)
    shown = steps.render(result, back, fwd)
    if isinstance(shown, str):
        sys.stdout.write(shown)
    else:
        _print(shown)
