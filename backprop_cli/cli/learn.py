"""The `descend` and `fit` commands: thin typer shells over descend.py and fit.py.

Registered on the main app by cli/__init__.py (``register(app)``); heavy modules are imported inside
the commands so that `backprop --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from ..core.errors import BackpropError, InputError
from .app import _print, _read_expression, _split, fail, progress
from .options import (
    L1,
    L2,
    MAX_ROWS,
    Beta1,
    Beta2,
    Command,
    Eps,
    Json,
    Lr,
    MaxRows,
    Momentum,
    Tol,
    ValSplit,
    Width,
    at_option,
    examples,
    expr_argument,
    seed_option,
)

# Options that descend and fit share: defined once, the same flag, help and default (the
# numeric ones, and --json, --max-rows, --width, in options.py).
Optimizer = Annotated[str, typer.Option(
    "--optimizer", metavar="NAME",
    help="sgd, momentum, nesterov or adam.")]
Decay = Annotated[str, typer.Option(
    "--decay", metavar="SCHEDULE",
    help="Learning-rate decay over updates t: exp:K (eta0*exp(-K t)), inverse:K "
    "(eta0/(1+K t)) or none.")]
Plot = Annotated[str | None, typer.Option(
    "--plot", metavar="FILE",
    help="Also draw the loss curve to FILE.svg, or FILE.png (needs matplotlib).",
    show_default=False)]
Start = Annotated[list[str] | None, at_option(
    "Starting values: w0=0,w1=1, or arrays: \"W=[[1,0],[0,1]], b=[0,0]\" (repeatable).")]


def register(app: typer.Typer) -> None:
    app.command(
        "descend",
        cls=Command,
        short_help="Minimise EXPR by gradient descent, starting from --at.",
        context_settings={"ignore_unknown_options": True},
        epilog=examples(
            'backprop descend "(w-3)^2" --at w=0 --lr 0.1 --optimizer momentum',
            'backprop descend "(1-x)^2 + 100*(y-x^2)^2" --at x=-1,y=1 --optimizer adam '
            "--lr 0.05 --steps 2000 --plot rosenbrock.svg",
            ("diverges: exit 1", 'backprop descend "w^2" --at w=1 --lr 1.5'),
            ("least squares with a matrix",
             'backprop descend "sum((W@x - y)^2)" --at "W=[[0.1,0.5],[-0.3,0.8]], '
             'x=[0.2,0.4], y=[1,2]" --wrt W --lr 0.5')),
    )(descend_cmd)
    app.command(
        "fit",
        cls=Command,
        short_help="Fit a per-sample loss to the rows of a CSV file.",
        epilog=examples(
            ("the lecture's 2-2-1 MLP learning XOR",
             "backprop fit - --data examples/xor.csv --init random --seed 2 --optimizer adam "
             "--lr 0.1 --epochs 150 --batch-size 8 --val-split 0.25 --predict yhat --target y "
             "< examples/xor-mlp.txt"),
            ("the same MLP with a weight matrix (x is the vector of columns x1, x2)",
             "backprop fit - --data examples/xor.csv --bind x=x1,x2 --init random "
             "--shape W1=2x2,b1=2,w2=2 --seed 1 --optimizer adam --lr 0.1 --epochs 150 "
             "--batch-size 8 --val-split 0.25 --predict yhat --target y "
             "< examples/xor-mlp-matrix.txt")),
    )(fit_cmd)


def descend_cmd(
    expr: Annotated[str, expr_argument("The expression to minimise; '-' reads stdin.")],
    at: Start = None,
    wrt: Annotated[list[str] | None, typer.Option(
        "--wrt", metavar="NAMES",
        help="Variables to optimise: w0,w1 (default: all; the others stay fixed).",
        show_default=False)] = None,
    lr: Lr = 0.1,
    steps: Annotated[int, typer.Option("--steps", min=0, metavar="N",
    help="At most this many updates.")]
    = 100,
    optimizer: Optimizer = "sgd",
    momentum: Momentum = 0.9,
    beta1: Beta1 = 0.9,
    beta2: Beta2 = 0.999,
    eps: Eps = 1e-8,
    decay: Decay = "none",
    l1: L1 = 0.0,
    l2: L2 = 0.0,
    tol: Tol = 1e-6,
    as_json: Json = False,
    plot: Plot = None,
    max_rows: MaxRows = MAX_ROWS,
    width: Width = None,
) -> None:
    """Minimise EXPR by gradient descent over --wrt, starting from --at.

    Prints a table of the iterations (step, learning rate, loss, gradient norm, parameters),
    the loss curve, and the final parameters. Exit codes: 0 converged (gradient norm <= --tol)
    or finished the steps, 1 diverged (loss inf/nan, left the domain, or grew without bound),
    2 bad input.
    """
    try:
        from ..learn.descend import descend
        from ..learn.plot import check_plot_path

        if not at:
            raise InputError("descend needs a starting point", where="--at",
                             hint="e.g. --at w=0")
        if plot:
            check_plot_path(plot)
        source = _read_expression(expr)
        with progress("descending", steps) as tick:
            run = descend(source, at, wrt=_split(wrt), steps=steps,
                          **_training(lr, optimizer, momentum, beta1, beta2, eps, decay, l1, l2),
                          tol=tol, progress=tick)
    except BackpropError as exc:
        fail(exc)
    from ..learn.plot import descend_report, descend_series

    title = f"gradient descent ({run.optimizer}) on {' '.join(run.expression.split())[:60]}"
    _output(run.to_dict(), as_json, lambda: descend_report(run, max_rows), plot,
            lambda: descend_series(run), title, "step")
    raise typer.Exit(int(run.exit_status))


def fit_cmd(
    expr: Annotated[str, expr_argument(
        "Per-sample loss, e.g. '(w*x + b - y)^2'; names that are CSV columns are data, the "
        "others parameters. '-' reads stdin.", metavar="LOSS")],
    data: Annotated[str, typer.Option("--data", metavar="FILE.csv",
                                      help="CSV file with a header row.",
                                      show_default=False)],
    at: Start = None,
    init: Annotated[str | None, typer.Option(
        "--init", metavar="random",
        help="'random': parameters not in --at start uniform in [-1, 1].",
        show_default=False)] = None,
    seed: Annotated[int, seed_option("Seed of the initial values, the validation split and "
                                     "the shuffles.")] = 0,
    lr: Lr = 0.1,
    epochs: Annotated[int, typer.Option("--epochs", min=0, metavar="N", help="Passes through the "
                                        "training rows.")] = 100,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, metavar="N",
                                            help="Rows per mini-batch.")] = 32,
    optimizer: Optimizer = "sgd",
    momentum: Momentum = 0.9,
    beta1: Beta1 = 0.9,
    beta2: Beta2 = 0.999,
    eps: Eps = 1e-8,
    decay: Decay = "none",
    l1: L1 = 0.0,
    l2: L2 = 0.0,
    val_split: ValSplit = 0.0,
    early_stopping: Annotated[int | None, typer.Option(
        "--early-stopping", min=1, metavar="PATIENCE",
        help="Stop after PATIENCE epochs without a better "
        "validation loss, and restore the best parameters.", show_default=False)] = None,
    predict: Annotated[str | None, typer.Option(
        "--predict", metavar="NAME",
        help="Name of the prediction in the expression (for accuracy).",
        show_default=False)] = None,
    target: Annotated[str | None, typer.Option(
        "--target", metavar="COLUMN", help="Column with the 0/1 labels (for accuracy).",
        show_default=False)] = None,
    bind: Annotated[list[str] | None, typer.Option(
        "--bind", metavar="X=COL,...",
        help="A vector input made of CSV columns: x=x1,x2 (repeatable).",
        show_default=False)] = None,
    shape: Annotated[list[str] | None, typer.Option(
        "--shape", metavar="NAME=SHAPE,...",
        help="Shapes of parameters drawn by --init random: W1=2x2,b1=2 "
        "(others are scalars).", show_default=False)] = None,
    as_json: Json = False,
    plot: Plot = None,
    max_rows: MaxRows = MAX_ROWS,
    width: Width = None,
) -> None:
    """Train the parameters of a per-sample loss on the rows of a CSV file.

    The loss is averaged over mini-batches; each epoch visits every training row once in a
    new random order. Prints the epochs (training/validation loss and accuracy), the curves and
    the final parameters. Exit codes: 0 finished or stopped early, 1 diverged, 2 bad input.
    """
    try:
        from ..learn.common import start_point
        from ..learn.fit import fit, read_csv
        from ..learn.plot import check_plot_path

        if plot:
            check_plot_path(plot, inputs=[data])
        source = _read_expression(expr)
        dataset = read_csv(data)
        start = start_point(at) if at else None
        binds = shapes = None
        if bind or shape:
            from ..learn.array_model import parse_binds, parse_shapes

            binds, shapes = parse_binds(bind or []), parse_shapes(shape or [])
        with progress("training", epochs) as tick:
            result = fit(source, dataset, at=start, init=init, seed=seed,
                         epochs=epochs, batch_size=batch_size,
                         **_training(lr, optimizer, momentum, beta1, beta2, eps, decay, l1, l2),
                         val_split=val_split,
                         early_stopping=early_stopping, predict=predict, target=target,
                         bind=binds, shape=shapes, progress=tick)
    except BackpropError as exc:
        fail(exc)
    from ..learn.plot import fit_report, fit_series

    _output(result.to_dict(), as_json, lambda: fit_report(result, max_rows), plot,
            lambda: fit_series(result), "training and validation loss", "epoch")
    raise typer.Exit(int(result.exit_status))


def _training(lr: float, optimizer: str, momentum: float, beta1: float, beta2: float,
              eps: float, decay: str, l1: float, l2: float) -> dict[str, Any]:
    """The learning rate, optimizer, decay and penalty options, as descend() and fit() take
    them (the numbers are parsed by their options, options.py)."""
    return {"lr": lr, "optimizer": optimizer.strip().lower(), "momentum": momentum,
            "beta1": beta1, "beta2": beta2, "eps": eps, "decay": decay, "l1": l1, "l2": l2}


def _output(doc: dict[str, Any], as_json: bool, report: Callable[[], Any], plot: str | None,
            series: Callable[[], Any], title: str, xlabel: str) -> None:
    if as_json:
        from ..core import jsonout

        sys.stdout.write(jsonout.dumps(doc))
    else:
        _print(report())
    if plot:
        from rich.console import Console

        from ..learn.plot import write_plot

        try:
            path = write_plot(plot, series(), title=title, xlabel=xlabel)
        except OSError as exc:
            fail(InputError(f"--plot: cannot write {plot}: {exc.strerror or exc}",
                            where="--plot"))
        Console(stderr=True, highlight=False).print(f"loss curve written to {path}",
                                                    markup=False)

