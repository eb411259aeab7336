"""The `formula` command: check claimed gradient formulas (checks/formula/), print once."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from ..core.errors import BackpropError, ExitStatus
from .app import _print, _read_expression, app, fail
from .options import Budget, Command, Json, at_option, examples, expr_argument, seed_option

if TYPE_CHECKING:
    from rich.table import Table

    from ..checks.formula import FormulaReport


@app.command(
    "formula",
    short_help="Check a claimed gradient formula (dW = 2*(W@x)@x.T); name the slip.",
    cls=Command,
    epilog=examples(
        'backprop formula "sum((W@x)^2)" "dW = 2*(W@x)@x.T" --shape W=m,n --shape x=n,1',
        'backprop formula "q = W@x; f = sum(q^2)" "dW = 2*q@x.T" "dq = 2*q" '
        "--shape W=m,n --shape x=n,1",
        'backprop formula "cross_entropy(z, y)" "dz = softmax(z) - y" --shape z=b,k',
        'backprop formula "sum(G * (X@W + b))" "db = sum(G, 0)" --shape X=B,d --shape W=d,h '
        "--shape b=h --shape G=B,h",
        'backprop formula "sin(x^2)" "dx = 2*x*cos(x^2)"'),
)
def formula_(
    expr: Annotated[str, expr_argument(
        "The expression (a scalar loss), e.g. 'sum((W@x)^2)' or 'q = W@x; f = sum(q^2)'; "
        "'-' reads stdin.")],
    claims: Annotated[list[str], typer.Argument(
        help="Claims dNAME = FORMULA, in the tool's grammar, using the inputs, the named "
        "intermediates and the dimension letters: 'dW = 2*q@x.T'.", metavar="CLAIM...",
        show_default=False)],
    shape: Annotated[list[str] | None, typer.Option(
        "--shape", metavar="NAME=DIMS", help="An input's shape: W=m,n or x=3 (repeatable). "
        "Letters are drawn at random for each trial, distinct from one another; undeclared "
        "inputs are scalars unless the expression fixes them (the inner size of @).",
        show_default=False)] = None,
    at: Annotated[list[str] | None, at_option(
        "Also check at this point (first): x=2 or \"W=[[0.1,0.5],[-0.3,0.8]]\" "
        "(repeatable).")] = None,
    trials: Annotated[int, typer.Option("--trials", min=1, max=10_000, metavar="N",
                                        help="Random shapes and points per claim (within "
                                        "half the budget).")] = 24,
    seed: Annotated[int, seed_option("Seed of the random shapes and points.")] = 0,
    budget: Budget = None,
    as_json: Json = False,
) -> None:
    """Check each CLAIM against backprop's gradient of EXPR, at random shapes and points.

    Points are signed, redrawn only where EXPR cannot be computed; values agree at the scale
    of the true gradient. A scalar claim that holds is then proved by sympy, within --budget
    (the whole check's wall-clock seconds); one that differs shows the first
    counterexample (shapes, point, your value, the correct one) and the slip it matches
    (transpose, product order, a factor 2 or 1/n, sign, batch sum, fan-out, ...). Exit
    codes: 0 every claim holds, 1 one differs, 2 bad input.
    """
    try:
        from ..checks.formula import check_formula

        source = _read_expression(expr)
        report = check_formula(source, claims, shapes=shape or None, at=at or None,
                               trials=trials, seed=seed, time_budget=budget)
    except BackpropError as exc:
        fail(exc)
    if as_json:
        from ..core import jsonout

        sys.stdout.write(jsonout.dumps(report.to_dict()))
    else:
        _print(formula_table(report))
    raise typer.Exit(int(ExitStatus.OK if report.ok else ExitStatus.CHECK_FAILED))


def formula_table(report: FormulaReport) -> Table:
    """One row per claim: the claim, its verdict, the slip named, the first counterexample."""
    from rich.table import Table
    from rich.text import Text

    from ..checks.answers import fmt_array
    from ..core.limits import MESSAGE_CHARS, WORD_CHARS, abbreviate
    from ..views.render import text

    def dims(s: Sequence[object]) -> str:  # a letter is the user's: cut a long one
        return "×".join(abbreviate(str(d), WORD_CHARS) for d in s)

    def shown(v: object) -> str:  # an array past report.ECHO_ENTRIES comes as its first entries
        if isinstance(v, dict):
            total = len(v["first"]) + v["left_out"]
            return f"{dims(v['shape'])}, {total:,} entries: {fmt_array(v['first'][:4])}…"
        return fmt_array(v)

    shapes = ", ".join(f"{n}: {dims(s)}" for n, s in report.shapes.items())
    title = f"Gradient formulas of {abbreviate(report.expression.strip(), MESSAGE_CHARS)}"
    caption = "\n".join([*(f"shapes: {shapes}",) * bool(shapes), *report.notes])
    table = Table(title=text(title), title_justify="left", header_style="bold",
                  caption=text(caption) if caption else None, caption_justify="left",
                  show_lines=True)
    table.add_column("claim")
    table.add_column("verdict")
    table.add_column("diagnosis")
    table.add_column("counterexample")
    for c in report.claims:
        style = "green" if c.ok else "bold red"
        verdict = c.describe()
        if c.verdict == "holds" and len(c.shapes_tried) > 1:
            verdict += f" ({len(c.shapes_tried)} shapes)"
        diagnosis = "\n".join(s.sentence for s in c.diagnosis)
        if c.notes:
            diagnosis = "\n".join([diagnosis, *c.notes]).strip()
        example = ""
        ce = c.counterexample
        if ce is not None:
            sized = ", ".join(f"{n} {dims(s) or 'scalar'}"
                              for n, s in ce.shapes.items() if s)
            point = "; ".join(f"{n} = {shown(v)}" for n, v in ce.point.items())
            lines = [*(f"shapes: {sized}",) * bool(sized), f"at {point}",
                     f"yours:   {shown(ce.yours) if ce.yours is not None else '-'}",
                     f"correct: {shown(ce.correct)}"]
            if ce.note:
                lines.append(ce.note)
            example = "\n".join(lines)
        table.add_row(text(abbreviate(c.claim, MESSAGE_CHARS)), Text(verdict, style=style),
                      text(diagnosis), text(example))
    return table
