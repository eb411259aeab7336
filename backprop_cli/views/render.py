"""Rich renderables for an evaluation: the node table, the gradient table, the summary.

Functions here build and return renderables; the CLI prints them once. Every piece of
user-derived text goes through ``text()``, a rich Text (never markup) with control
characters made visible, so an expression can neither style nor drive the terminal.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..checks.policy import summary_words
from ..core.formatting import number, shape_text
from ..core.ops import CONST
from ..core.result import Check, NodeRecord, Result

T = TypeVar("T")

STATUS = {
    "pass": ("✓ pass", "bold green"),
    "fail": ("✗ FAIL", "bold red"),
    "kink": ("✓ subgradient", "bold yellow"),
    "unchecked": ("– unchecked", "dim"),
}


# The check column: the status, and for a gradient that passed, which check proved it.
PROOF_MARK = {
    "sympy": "sympy",
    "sympy-gates": "sympy gates",
    "sympy-direction": "sympy, 1 direction",
    "numeric": "fin. diff. only",
    "numeric-direction": "fin. diff., 1 direction",
    "budget": "– not checked (budget)",
    "none": "– not checked",
}


def verdict_mark(c: Check) -> tuple[str, str]:
    """(label, style) of a check's verdict: "✗ FAIL", "✓ pass (sympy)", "– not checked
    (budget)"; see README "What a check proves"."""
    label, style = STATUS[c.status]
    if c.status == "fail":
        return label, style
    if c.proof in ("budget", "none"):
        return (label if c.status == "kink" else PROOF_MARK[c.proof]), \
            (style if c.status == "kink" else "dim")
    return f"{label} ({PROOF_MARK[c.proof]})", style


ARRAY_SHOWN = 4  # entries of a vector (or rows/columns of a matrix) shown in tables


def fmt(v: float | list[Any] | str | None) -> str:
    """Six significant digits, like the lecture's rounded numbers but without losing sign.

    Arrays (nested lists) print as [a, b, …] with one matrix row per line; large ones are
    abbreviated with their shape (--json has every entry). Text passes through."""
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return _fmt_array(v)
    return number(v)


def _cut(items: list[Any]) -> list[Any]:
    if len(items) <= ARRAY_SHOWN:
        return items
    return [*items[:ARRAY_SHOWN - 2], "…", items[-1]]


def _fmt_array(v: list[Any]) -> str:
    if v and isinstance(v[0], list):  # a matrix: one row per line
        rows = _cut(v)
        lines = [r if r == "…" else "[" + ", ".join(c if c == "…" else fmt(c)
                                                     for c in _cut(r)) + "]" for r in rows]
        body = "[" + ",\n ".join(lines) + "]"
        big = len(v) > ARRAY_SHOWN or len(v[0]) > ARRAY_SHOWN
        return f"{len(v)}×{len(v[0])} " + body if big else body
    body = "[" + ", ".join(c if c == "…" else fmt(c) for c in _cut(v)) + "]"
    return f"{len(v)}: " + body if len(v) > ARRAY_SHOWN else body


def clip(s: str, limit: int = 120) -> str:
    """At most ``limit`` characters: the expression column is 28 wide, and folding a
    60,000-character expression into it took rich seconds (--json has the full text)."""
    return s if len(s) <= limit else s[: limit - 1] + "…"


def text(s: str, style: str = "") -> Text:
    safe = "".join(ch if ch.isprintable() or ch == "\n" else ch.encode("unicode_escape").decode()
                   for ch in s)
    return Text(safe, style=style)


def node_table(result: Result, max_rows: int = 60) -> Table:
    numeric = result.value is not None
    out = result.output
    table = Table(title=text(f"Computational graph of {out}, forward order"),
                  title_justify="left", show_lines=False, header_style="bold")
    table.add_column("node", style="bold cyan", no_wrap=True)
    table.add_column("op", no_wrap=True)
    shaped = result.shaped  # array jobs show shapes
    if shaped:
        table.add_column("shape", no_wrap=True)
    table.add_column("expression", overflow="fold", min_width=10, max_width=28)
    if numeric:
        # Arrays wrap inside their cells; scalars never do.
        table.add_column("value", justify="right", style="blue", no_wrap=not shaped)
    table.add_column("local ∂node/∂input", no_wrap=not numeric)
    if numeric:
        table.add_column(f"upstream ∂{out}/∂node", justify="right", style="magenta")
        table.add_column("downstream", no_wrap=not shaped)
    table.add_column("gate pattern", style="dim", overflow="fold", min_width=8)
    if len(result.nodes) > max_rows:
        table.caption = text(f"{len(result.nodes) - max_rows:,} of {len(result.nodes):,} rows "
                             "hidden at …: raise --max-rows, or use --json for every row")
    for row in elided(result.nodes, max_rows):
        if row is None:
            table.add_row(*(text("…", "dim") for _ in table.columns))
            continue
        cells: list[RenderableType] = [text(row.label), text(row.op)]
        if shaped:
            cells.append(text(shape_text(row.shape)))
        cells.append(text(clip(row.expression)))
        if numeric:
            cells.append(text(fmt(row.value)))
        cells.append(_local(row))
        if numeric:
            cells.append(_upstream(row))
            cells.append(_downstream(row))
        cells.append(_gate(row))
        table.add_row(*cells)
    return table


def jacobian_table(result: Result) -> Table | None:
    """--jacobian: each small node's explicit local Jacobian, rows = output entries."""
    rows = [r for r in result.nodes if r.jacobian is not None]
    if not rows:
        return None
    table = Table(title=text("Explicit local Jacobians ∂node/∂input (--jacobian)"),
                  caption=text("rows: the node's entries, columns: the input's entries; "
                               "backprop never forms these"),
                  title_justify="left", caption_justify="left", header_style="bold",
                  min_width=72)
    table.add_column("node", style="bold cyan", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("Jacobian", no_wrap=True)
    for row in rows:
        assert row.jacobian is not None
        for name, jac, const in zip(row.inputs, row.jacobian, row.input_is_const):
            if jac is None or const:
                continue
            table.add_row(text(row.label), text(name), text(fmt(jac)))
    return table


def elided(nodes: list[T], max_rows: int) -> Iterable[T | None]:
    """Rows of a long table: the first and last ones, None where the middle is left out."""
    if len(nodes) <= max_rows:
        yield from nodes
        return
    head = max_rows // 2
    yield from nodes[:head]
    yield None
    yield from nodes[len(nodes) - (max_rows - head):]


def _shown(row: NodeRecord, parts: list[str]) -> list[str]:
    """Lines for the inputs that carry a gradient: constants need none, so they are left out."""
    lines = _dedupe_inputs(row.inputs, parts)
    return [line for line, const in zip(lines, row.input_is_const) if not const] or ["–"]


def _local(row: NodeRecord) -> Text:
    if not row.inputs:
        return text("–", "dim")
    if row.local_symbolic is not None and row.local is None:
        parts = [f"∂/∂{name} = {expr}" for name, expr in zip(row.inputs, row.local_symbolic)]
    elif row.local is not None:
        parts = [f"∂/∂{name} = {fmt(v)}" for name, v in zip(row.inputs, row.local)]
        if row.local_symbolic is not None:
            parts = [f"{p}  ({s})" for p, s in zip(parts, row.local_symbolic)]
    else:
        return text("")
    return text("\n".join(_shown(row, parts)))


def _dedupe_inputs(inputs: list[str], parts: list[str]) -> list[str]:
    # x*x has the same input twice: say which slot each line belongs to.
    if len(set(inputs)) == len(inputs):
        return parts
    return [f"{p} [input {k + 1}]" for k, p in enumerate(parts)]


def _upstream(row: NodeRecord) -> Text:
    if row.op == CONST.name:
        return text("–", "dim")
    t = text(fmt(row.upstream))
    if len(row.fan_out) > 1:
        # A variable used 1,000 times would make a 1,000-line cell: show the first few.
        shown = row.fan_out if len(row.fan_out) <= 8 else row.fan_out[:4]
        branches = " + ".join(f"{fmt(g)} (from {to})" for to, g in shown)
        if len(shown) < len(row.fan_out):
            branches += f" + … ({len(row.fan_out) - len(shown):,} more branches; --json has all)"
        t.append(text(f"\n= {branches}", "dim"))
    return t


def _downstream(row: NodeRecord) -> Text:
    if not row.inputs or row.downstream is None:
        return text("–", "dim")
    lines = [f"→ {name}: {fmt(g)}" for name, g in zip(row.inputs, row.downstream)]
    return text("\n".join(_shown(row, lines)))


def _gate(row: NodeRecord) -> Text:
    t = text(row.gate)
    if row.kink:
        t.append(text(f"\nnot differentiable here: {row.kink}", "yellow"))
    return t


def gradient_table(result: Result, max_rows: int = 60) -> Table:
    out = result.output
    table = Table(title=text(f"Gradients of {out}" + (
        f" (upstream seed {fmt(result.seed)})" if result.seed != 1.0 else "")),
        title_justify="left", header_style="bold")
    table.add_column("input", style="bold cyan")
    if result.value is None:
        table.add_column(f"sympy ∂{out}/∂input", overflow="fold")
        for name in result.wrt:
            table.add_row(text(name), text(result.symbolic.get(name, "–")))
        return table
    table.add_column("value", justify="right", style="blue")
    table.add_column(f"backprop ∂{out}/∂input", justify="right", style="bold magenta")
    table.add_column("sympy derivative", overflow="fold", max_width=30)
    table.add_column("sympy value", justify="right")
    table.add_column("finite diff.", justify="right")
    table.add_column("check", no_wrap=True)
    assert result.verification is not None or result.gradients is not None
    checks = result.verification.checks if result.verification else [
        Check(name, (result.point or {})[name], (result.gradients or {})[name], status="unchecked")
        for name in result.wrt
    ]
    if len(checks) > max_rows:
        # Rendering thousands of rows costs seconds; failures are named in the summary.
        table.caption = text(f"{len(checks) - max_rows:,} of {len(checks):,} rows hidden at …: "
                             "raise --max-rows, or use --json for every row")
    for c in elided(checks, max_rows):
        if c is None:
            table.add_row(*(text("…", "dim") for _ in table.columns))
            continue
        label, style = verdict_mark(c)
        mark = text(label + (" *" if c.notes else ""), style)
        table.add_row(text(c.variable), text(fmt(c.value)), text(fmt(c.backprop)),
                      text(c.sympy_derivative or "–"), text(fmt(c.sympy_value)),
                      text(fmt(c.numeric)), mark)
    return table


def summary(result: Result) -> Text:
    if result.value is None:
        t = text(f"{result.output} = ", "bold")
        t.append(text(result.nodes[result.graph.output].expression))
        t.append(text("  (symbolic: give --at to evaluate)", "dim"))
        return t
    t = text(f"{result.output} = {fmt(result.value)}", "bold")
    v = result.verification
    if v is None:
        t.append(text("   gradients not checked (--check none)", "yellow"))
    else:
        failed = [c.variable for c in v.checks if c.status == "fail"]
        kinks = [c.variable for c in v.checks if c.status == "kink"]
        if v.direction is not None:
            for name, d in v.direction.items():
                ref = d.get("reference")
                if ref is None:  # the check could not be made (note says why): not a pass
                    t.append(text(f"\n– random-direction check by {name}: "
                                  f"{d.get('note', 'no reference value')}", "yellow"))
                    continue
                mark = "✓" if d.get("ok") else "✗"
                t.append(text(f"\n{mark} random-direction check by {name}: backprop "
                              f"{fmt(d['backprop'])}, reference {fmt(ref)}",
                              "green" if d.get("ok") else "bold red"))
        if failed:
            t.append(text(f"   ✗ {len(failed)} of {len(v.checks)} gradients FAILED: "
                          + ", ".join(failed), "bold red"))
        elif not v.complete and all(c.proof in ("budget", "none") for c in v.checks):
            why = next((c.why for c in v.checks if c.why), "")
            t.append(text(f"   – no gradient was checked{': ' + why if why else ''}",
                          "bold yellow"))
        else:
            # Only what a check proved is "verified"; the counts say by which check.
            n = len(v.checks)
            done = sum(c.proof not in ("budget", "none") for c in v.checks)
            what = "the gradient" if n == 1 else f"all {n} gradients"
            if done < n:
                what = f"{done} of {n} gradients"
            t.append(text(f"   ✓ {what} verified", "bold green"))
        t.append(text(f"\nchecks: {summary_words(v.counts())}", "dim"))
        if kinks:
            t.append(text(f" ({len(kinks)} at a non-differentiable point: "
                          + ", ".join(kinks) + ")", "yellow"))
        for c in v.checks:
            for note in c.notes:
                t.append(text(f"\n* {c.variable}: {note}", "yellow"))
        for note in v.notes:
            t.append(text(f"\nnote: {note}", "yellow"))
    for note in result.notes:
        t.append(text(f"\nnote: {note}", "yellow"))
    return t


def report(result: Result, max_rows: int = 60, nodes: bool = True) -> Group:
    parts: list[RenderableType] = []
    if nodes:
        parts.append(node_table(result, max_rows))
        jac = jacobian_table(result)
        if jac is not None:
            parts.append(jac)
    parts.append(gradient_table(result, max_rows))
    parts.append(summary(result))
    return Group(*parts)
