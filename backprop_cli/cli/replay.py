"""The `replay` command: the interactive replay of EXPR as one self-contained HTML file."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Annotated

import typer

from ..core.errors import BackpropError, InputError
from .app import _number, _read_expression, _split, app, fail


@app.command(
    "replay",
    short_help="Write an HTML page that steps through the forward and backward pass.",
    context_settings={"ignore_unknown_options": True},
    epilog="Examples:\n\n"
    '  backprop replay "(x+y)*z" --at x=-2,y=5,z=-4 -o replay.html\n\n'
    '  backprop replay "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
    "--expand -o neuron.html\n\n"
    '  backprop replay "sum((W@x)^2)" --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]" '
    "-o arrays.html\n\n"
    "Open the file in a browser (no server, no network); replay.html#step-7 opens step 7.",
)
def replay_(
    expr: Annotated[str, typer.Argument(
        help="The expression; '-' reads stdin.", metavar="EXPR", show_default=False)],
    at: Annotated[list[str] | None, typer.Option(
        "--at", metavar="X=V,...",
        help="Input values: x=-2,y=5,z=-4 (repeatable; needed for every input).",
        show_default=False)] = None,
    output: Annotated[str, typer.Option(
        "-o", "--output", metavar="FILE", help="The HTML file to write; '-' writes to "
        "stdout.")] = "replay.html",
    upstream: Annotated[str, typer.Option(
        "--upstream", metavar="G",
        help="Seed of the backward pass (gradient arriving at the output); "
        "an array such as [4,-1,5,9] for a vector or matrix output.")]
    = "1",
    expand: Annotated[bool, typer.Option("--expand", help="Replay compound gates (sigmoid, "
                                         "tanh, softmax, ...) as primitive gates.")]
    = False,
    check: Annotated[str, typer.Option(
        "--check", metavar="WHICH", help="Verifiers of the gradients shown: sympy, numeric, "
        "both (sympy,numeric) or none. The page says what was proved.")] = "sympy,numeric",
) -> None:
    """Write the replay of EXPR as one HTML file: the circuit, stepped one gate at a time.

    Forward values above the wires, gradients below; buttons, a slider, play, and the arrow
    keys step through the forward pass and then the backward pass, with the caption of
    `backprop steps` for each gate. The file loads nothing from the network.
    """
    try:
        from ..checks.evaluate import evaluate
        from ..views.replay import replay_html

        source = _read_expression(expr)
        seed = upstream if "[" in upstream else _number(upstream, "--upstream")  # [4,-1,5,9]
        verifiers = () if check.strip() == "none" else tuple(_split([check]) or ())
        result = evaluate(source, at or {}, upstream=seed, check=verifiers, expand=expand)
        page = replay_html(result)
        if output == "-":
            sys.stdout.write(page)
            return
        size = write_atomic(output, page.encode("utf-8"))
    except BackpropError as exc:
        fail(exc)
    from rich.console import Console

    from ..views.render import text

    err = Console(stderr=True, highlight=False)
    err.print(f"wrote {size:,} bytes to ", end="")
    err.print(text(output))


def write_atomic(path: str, data: bytes) -> int:
    """Write to a temporary file beside ``path``, then rename it over ``path``: an
    interrupted run leaves the old file or none, never half a page."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".replay-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", where="-o") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                             where="-o") from None
        raise
    return len(data)
