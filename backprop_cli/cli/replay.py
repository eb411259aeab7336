"""The `replay` command: the interactive replay of EXPR as one self-contained HTML file."""

from __future__ import annotations

from typing import Annotated

from ..core.errors import BackpropError
from .app import _read_expression, _write, app, fail
from .options import At, Checks, Command, Expand, Expr, Upstream, examples, output_option


@app.command(
    "replay",
    short_help="Write an HTML page that steps through the forward and backward pass.",
    cls=Command,
    context_settings={"ignore_unknown_options": True},
    epilog=examples(
        'backprop replay "(x+y)*z" --at x=-2,y=5,z=-4 -o replay.html',
        'backprop replay "sigmoid(w0*x0 + w1*x1 + w2)" --at w0=2,x0=-1,w1=-3,x1=-2,w2=-3 '
        "--expand -o neuron.html",
        'backprop replay "sum((W@x)^2)" --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]" '
        "-o arrays.html"),
)
def replay_(
    expr: Expr,
    at: At = None,
    output: Annotated[str, output_option(
        "The HTML file to write (default: replay.html); '-' writes to stdout.")]
    = "replay.html",
    upstream: Upstream = "1",
    expand: Expand = False,
    check: Checks = "sympy,numeric",
) -> None:
    """Write the replay of EXPR as one HTML file: the circuit, stepped one gate at a time.

    Forward values above the wires, gradients below; buttons, a slider, play, and the arrow
    keys step through the forward pass and then the backward pass, with the caption of
    `backprop steps` for each gate. The file loads nothing from the network: open it
    in a browser, no server needed; replay.html#step-7 opens step 7.
    """
    try:
        from ..checks.evaluate import evaluate
        from ..views.replay import replay_html

        source = _read_expression(expr)
        result = evaluate(source, at or {}, upstream=upstream, check=check, expand=expand)
        _write(output, replay_html(result))
    except BackpropError as exc:
        fail(exc)

