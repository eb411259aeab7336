"""`eval --explain`: the finite differences' step sweep, one small table per gradient.

Each row is a step h (1e-2 down to 1e-9, scaled with the point and with 1), the central
difference at that step and its error against backprop's gradient: truncation error falls
as h shrinks, round-off error rises, and the step marked ← is the one the check trusted
(see checks/numeric.py). So a user sees why a difference is, or is not, trusted.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table

from ..core.result import Result
from .render import fmt, text


def sweep_tables(result: Result) -> Group:
    v = result.verification
    parts: list[RenderableType] = []
    if v is not None:
        for c in v.checks:
            if not c.sweep:
                continue
            table = Table(title=text(f"Finite differences of ∂{result.output}/∂{c.variable} "
                                     f"against the step (backprop {fmt(c.backprop)})"),
                          title_justify="left", header_style="bold")
            table.add_column("step h", justify="right")
            table.add_column("central difference", justify="right")
            table.add_column("|difference - backprop|", justify="right")
            table.add_column("", no_wrap=True)
            for h, d, err in c.sweep:
                chosen = "← trusted" if c.numeric_step is not None and h == c.numeric_step \
                    else ""
                shown = text("overflow or off the domain", "dim") if d is None else text(fmt(d))
                table.add_row(text(f"{h:.3g}"), shown,
                              text("–" if err is None else f"{err:.3g}"), text(chosen, "green"))
            parts.append(table)
    if not parts:
        parts.append(text("--explain: no finite-difference sweep to show (it needs --at and "
                          "the numeric check)", "dim"))
    return Group(*parts)
