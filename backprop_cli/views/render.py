"""Rich renderables for an evaluation: the node table, the gradient table, the summary.

Functions here build and return renderables; the CLI prints them once. Every piece of
user-derived text goes through ``text()``, a rich Text (never markup) with control
characters made visible, so an expression can neither style nor drive the terminal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from ..checks.policy import summary_words
from ..core import limits
from ..core.formatting import shape_text, value, wrap_code
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
    (budget)"; see docs/concepts/what-a-check-proves.md."""
    label, style = STATUS[c.status]
    if c.status == "fail":
        return label, style
    if c.proof in ("budget", "none"):
        return (label if c.status == "kink" else PROOF_MARK[c.proof]), \
            (style if c.status == "kink" else "dim")
    return f"{label} ({PROOF_MARK[c.proof]})", style


def fmt(v: float | list[Any] | str | None) -> str:
    """A number or an array in a table cell: formatting.value, the one formatter."""
    return value(v)


def clip(s: str, limit: int = 120) -> str:
    """At most ``limit`` characters: the expression column is 28 wide, and folding a
    60,000-character expression into it took rich seconds (--json has the full text)."""
    return s if len(s) <= limit else s[: limit - 1] + "…"


def text(s: str, style: str = "") -> Text:
    safe = "".join(ch if ch.isprintable() or ch == "\n" else ch.encode("unicode_escape").decode()
                   for ch in s)
    return Text(safe, style=style)


# --- fitting a table to the width it is printed at ---------------------------------------
# A table is built in a few layouts, widest first; the first that fits the console's width is
# printed. "Fits" means every column is at least as wide as its longest word (a number, a
# name, an array entry), so nothing is ever cut: rich alone would shrink the widest column
# below that and fold a number or print "0.0077…". Widths are chosen here and set on the
# columns, so rich only wraps lines at spaces.

EXPRESSION_WIDTH = 28  # the expression column's lines (broken after an operator)
WRAPPED_MIN = 18  # narrowest a wrapped column may get, padding included (its words stay whole)


def _ranges(console: Console, table: Table) -> list[tuple[int, int]]:
    """(narrowest, natural) width of each column, padding included: the narrowest keeps its
    longest word whole; a no_wrap column has only its natural width."""
    wide = console.options.update_width(1_000_000)
    out = []
    for col in table.columns:
        m = table._measure_column(console, wide, col)  # rich's own measure of every cell
        # A wrapped column is kept readable: at least WRAPPED_MIN wide (or its natural width).
        least = m.maximum if col.no_wrap else max(m.minimum, min(m.maximum, WRAPPED_MIN))
        out.append((least, m.maximum))
    return out


def fit_columns(console: Console, table: Table, width: int, *, wrap: bool = True) -> bool:
    """Give ``table`` column widths that fit ``width`` without cutting a word, or say it
    cannot (False). Without ``wrap`` only its natural, unwrapped width counts."""
    avail = width - table._extra_width
    ranges = _ranges(console, table)
    natural = sum(hi for _, hi in ranges)
    if natural <= avail:
        return True
    least = sum(lo for lo, _ in ranges)
    if not wrap or least > avail:
        return False
    # Every column gets its narrowest width, then the room left in proportion to how much
    # more each would like: wrapped columns share the shortfall.
    widths = [lo for lo, _ in ranges]
    room = avail - least
    want = [hi - lo for lo, hi in ranges]
    total = sum(want)
    for i, w in enumerate(want):
        widths[i] += room * w // total
    left = avail - sum(widths)
    for i in sorted(range(len(want)), key=lambda i: -want[i])[:left]:
        widths[i] += 1
    for col, w in zip(table.columns, widths):
        col.width = max(w - table._get_padding_width(col._index), 1)
    return True


class Reflow:
    """The first layout of a table that fits the width it is rendered at (see fit_columns);
    natural widths are tried before wrapped ones, and the last layout is the fallback."""

    def __init__(self, *layouts: Callable[[int], Table]) -> None:
        self.layouts = layouts  # each builds the table for a width

    def choose(self, console: Console, width: int) -> Table:
        """The layout to print at ``width``, its column widths set."""
        *wide, last = [build(width) for build in self.layouts]
        # The wide layouts unwrapped, then the shorter of them wrapped at spaces, then the
        # last (blocks) as it fits.
        tries = [(t, False) for t in wide] + [(t, True) for t in (wide[1:] or wide)]
        for table, wrap in [*tries, (last, True)]:
            if fit_columns(console, table, width, wrap=wrap):
                return table
        return last

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        table = self.choose(console, options.max_width)
        yield table
        after = getattr(table, "after", None)
        if after is not None:
            yield after

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self.choose(console, options.max_width))


class Sized:
    """A renderable built for the width it is rendered at (a chart, a line of text)."""

    def __init__(self, build: Callable[[int], RenderableType]) -> None:
        self.build = build

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.build(options.max_width)


class NotedTable(Table):
    """A table with a legend printed after it at the console's width (a caption would be
    wrapped at the table's, splitting "swap multiplier")."""

    after: Text | None = None


def block_table(title: Text, caption: Text | None = None) -> Table:
    """One block per row of the wide table: the row's name, then one line per column."""
    table = Table(title=title, title_justify="left", header_style="bold", show_header=False,
                  caption=caption, caption_justify="left")
    table.add_column("name", style="bold cyan", no_wrap=True)
    table.add_column("field", style="dim", no_wrap=True)
    table.add_column("value")
    return table


def _room(width: int) -> int:
    """Characters left for a block's value: the width less the name and field columns."""
    return max(width - 36, 16)


def add_block(table: Table, name: RenderableType, fields: list[tuple[str, RenderableType]],
               ) -> None:
    for k, (field_name, cell) in enumerate(fields):
        table.add_row(name if k == 0 else "", text(field_name), cell,
                      end_section=k == len(fields) - 1)


def node_table(result: Result, max_rows: int = 60) -> Reflow:
    """The node table: full headers and the gate pattern as a column; short headers and the
    gate patterns in a legend; or one block per node, whichever fits."""
    return Reflow(lambda w: _node_table(result, max_rows, short=False, width=w),
                  lambda w: _node_table(result, max_rows, short=True, width=w),
                  lambda w: _node_blocks(result, max_rows, w))


def _node_title(result: Result) -> Text:
    return text(f"Computational graph of {result.output}, forward order")


def _hidden(n: int, max_rows: int, what: str = "rows") -> str:
    return (f"{n - max_rows:,} of {n:,} {what} hidden at …: raise --max-rows, or use --json "
            "for every row")


def _node_table(result: Result, max_rows: int, *, short: bool, width: int) -> Table:
    numeric = result.value is not None
    table = NotedTable(title=_node_title(result), title_justify="left", show_lines=False,
                       header_style="bold", caption_justify="left")
    table.add_column("node", style="bold cyan", no_wrap=True)
    shaped = result.shaped  # array jobs show shapes: a column, or under the op when short
    table.add_column("op, shape" if shaped and short else "op", no_wrap=True)
    if shaped and not short:
        table.add_column("shape", no_wrap=True)
    table.add_column("expression", min_width=None if short else 10)
    if numeric:
        # Numbers never wrap: a matrix has one row per line, and a row stays whole.
        table.add_column("value", justify="right", style="blue", no_wrap=True)
    table.add_column("local" if short else "local ∂node/∂input", no_wrap=not numeric)
    if numeric:
        table.add_column("upstream" if short else f"upstream ∂{_top(result)}/∂node",
                         justify="right",
                         style="magenta", no_wrap=shaped)
        table.add_column("downstream", no_wrap=True)
    if not short:
        table.add_column("gate pattern", style="dim", min_width=8)
    notes = []
    if len(result.nodes) > max_rows:
        notes.append(_hidden(len(result.nodes), max_rows))
    legend: dict[str, None] = {}
    kinks = []
    for row in elided(result.nodes, max_rows):
        if row is None:
            table.add_row(*(text("…", "dim") for _ in table.columns))
            continue
        cells: list[RenderableType] = [text(row.label), text(row.op)]
        if shaped and short:
            cells[1] = text(f"{row.op}\n{shape_text(row.shape)}")
        elif shaped:
            cells.append(text(shape_text(row.shape)))
        cells.append(text(wrap_code(clip(row.expression), EXPRESSION_WIDTH)))
        if numeric:
            cells.append(text(fmt(row.value)))
        cells.append(_local(row))
        if numeric:
            cells.append(_upstream(row))
            cells.append(_downstream(row))
        if short:
            legend[f"{row.op}: {row.gate}"] = None
            if row.kink:
                kinks.append(f"{row.label} is not differentiable here: {row.kink}")
        else:
            cells.append(_gate(row))
        table.add_row(*cells)
    if short:
        table.after = text("\n".join([_entries_in_lines("gate patterns:", list(legend), width),
                                      *kinks]), "dim")
    if notes:
        table.caption = text("\n".join(notes))
    return table


def _entries_in_lines(head: str, entries: list[str], width: int) -> str:
    """``head`` and the entries joined by "; ", a new line where the next entry would pass
    ``width``: no entry is split across lines (a longer one wraps at its spaces)."""
    lines = [head.rstrip()]
    for k, item in enumerate(entries):
        piece = item + (";" if k < len(entries) - 1 else "")
        if len(lines[-1]) + 1 + len(piece) > width and lines[-1].strip():
            lines.append("  " + piece)
        else:
            lines[-1] += " " + piece
    return "\n".join(lines)


def _node_blocks(result: Result, max_rows: int, width: int) -> Table:
    numeric = result.value is not None
    caption = (text(_hidden(len(result.nodes), max_rows))
               if len(result.nodes) > max_rows else None)
    table = block_table(_node_title(result), caption)
    for row in elided(result.nodes, max_rows):
        if row is None:
            add_block(table, text("…", "dim"), [("", text("…", "dim"))])
            continue
        fields: list[tuple[str, RenderableType]] = [("op", text(row.op))]
        if result.shaped:
            fields.append(("shape", text(shape_text(row.shape))))
        fields.append(("expression", text(wrap_code(clip(row.expression), _room(width)))))
        if numeric:
            fields.append(("value", text(fmt(row.value), "blue")))
        if row.inputs:
            fields.append(("local", _local(row)))
        if numeric:
            fields.append((f"∂{_top(result)}/∂node", _upstream(row)))
            if row.inputs:
                fields.append(("downstream", _downstream(row)))
        fields.append(("gate", _gate(row)))
        add_block(table, text(row.label, "bold cyan"), fields)
    return table


def jacobian_table(result: Result) -> Reflow | None:
    """--jacobian: each small node's explicit local Jacobian, rows = output entries."""
    if all(r.jacobian is None for r in result.nodes):
        return None
    return Reflow(lambda w: _jacobian_table(result))


def _jacobian_table(result: Result) -> Table:
    rows = [r for r in result.nodes if r.jacobian is not None]
    table = Table(title=text("Explicit local Jacobians ∂node/∂input (--jacobian)"),
                  caption=text("rows: the node's entries, columns: the input's entries; "
                               "backprop never forms these"),
                  title_justify="left", caption_justify="left", header_style="bold",
                  min_width=72)
    table.add_column("node", style="bold cyan", no_wrap=True)
    table.add_column("input", no_wrap=True)
    table.add_column("Jacobian")
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
        # An array branch takes lines of its own; scalar branches share one (it may wrap).
        plus = "\n+ " if row.shape else " + "
        branches = plus.join(f"{fmt(g)} (from {to})" for to, g in shown)
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


def gradient_table(result: Result, max_rows: int = 60) -> Reflow:
    """The gradient table: full headers; short headers explained in a caption; or one block
    per input, whichever fits."""
    return Reflow(lambda w: _gradient_table(result, max_rows, short=False),
                  lambda w: _gradient_table(result, max_rows, short=True),
                  lambda w: _gradient_blocks(result, max_rows, w))


def _gradient_title(result: Result) -> Text:
    return text(f"Gradients of {result.output}" + (
        f" (upstream seed {fmt(result.seed)})" if result.seed != 1.0 else ""))


def _top(result: Result) -> str:
    """Whose gradients the tables hold: the output's (f), or some loss L's when --upstream
    seeds the backward pass with dL/df."""
    return "L" if result.seed != 1.0 else result.output


def _d_input(result: Result) -> str:
    return f"∂{_top(result)}/∂input"


def _checks(result: Result) -> list[Check]:
    assert result.verification is not None or result.gradients is not None
    return result.verification.checks if result.verification else [
        Check(name, (result.point or {})[name], (result.gradients or {})[name], status="unchecked")
        for name in result.wrt
    ]


def _mark(c: Check) -> Text:
    label, style = verdict_mark(c)
    return text(label + (" *" if c.notes else ""), style)


def _gradient_table(result: Result, max_rows: int, *, short: bool) -> Table:
    out = result.output
    table = NotedTable(title=_gradient_title(result), title_justify="left",
                       header_style="bold", caption_justify="left")
    table.add_column("input", style="bold cyan")
    if result.value is None:
        table.add_column(f"sympy ∂{out}/∂input", overflow="fold")
        for name in result.wrt:
            table.add_row(text(name), text(wrap_code(result.symbolic.get(name, "–"), 40)))
        return table
    table.add_column("value", justify="right", style="blue", no_wrap=True)
    table.add_column("backprop" if short else f"backprop {_d_input(result)}", justify="right",
                     style="bold magenta", no_wrap=True)
    table.add_column("derivative" if short else "sympy derivative")
    table.add_column("sympy" if short else "sympy value", justify="right", no_wrap=True)
    table.add_column("numeric" if short else "finite diff.", justify="right", no_wrap=True)
    table.add_column("check", no_wrap=True)
    checks = _checks(result)
    notes = []
    if short:
        table.after = text(f"backprop: {_d_input(result)} by the backward pass; derivative: "
                           "sympy's formula; sympy: its value here; numeric: central finite "
                           "differences", "dim")
    if len(checks) > max_rows:
        # Rendering thousands of rows costs seconds; failures are named in the summary.
        notes.append(_hidden(len(checks), max_rows))
    if notes:
        table.caption = text("\n".join(notes))
    for c in elided(checks, max_rows):
        if c is None:
            table.add_row(*(text("…", "dim") for _ in table.columns))
            continue
        table.add_row(text(c.variable), text(fmt(c.value)), text(fmt(c.backprop)),
                      text(wrap_code(c.sympy_derivative or "–", 30)), text(fmt(c.sympy_value)),
                      text(fmt(c.numeric)), _mark(c))
    return table


def _gradient_blocks(result: Result, max_rows: int, width: int) -> Table:
    if result.value is None:
        table = block_table(_gradient_title(result))
        for name in result.wrt:
            add_block(table, text(name, "bold cyan"),
                       [(f"sympy ∂{result.output}/∂input",
                         text(wrap_code(result.symbolic.get(name, "–"), _room(width))))])
        return table
    checks = _checks(result)
    caption = text(_hidden(len(checks), max_rows)) if len(checks) > max_rows else None
    table = block_table(_gradient_title(result), caption)
    for c in elided(checks, max_rows):
        if c is None:
            add_block(table, text("…", "dim"), [("", text("…", "dim"))])
            continue
        add_block(table, text(c.variable, "bold cyan"), [
            ("value", text(fmt(c.value), "blue")),
            (f"backprop {_d_input(result)}", text(fmt(c.backprop), "bold magenta")),
            ("sympy derivative", text(wrap_code(c.sympy_derivative or "–", _room(width)))),
            ("sympy value", text(fmt(c.sympy_value))),
            ("finite diff.", text(fmt(c.numeric))),
            ("check", _mark(c))])
    return table


def summary(result: Result) -> Text:
    if result.value is None:
        t = text(f"{result.output} = ", "bold")
        t.append(text(result.nodes[result.graph.output].expression))
        t.append(text("  (symbolic: give --at to evaluate)", "dim"))
        return t
    t = text(f"{result.output} = {fmt(result.value)}", "bold")
    v = result.verification
    if not result.wrt:
        pass  # a constant: nothing to check (the note below says so)
    elif v is None:
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
    if result.read_as is not None:  # 2x, Wᵀ, e^x ...: how the expression was read
        parts.append(text("read as: " + limits.abbreviate(result.read_as, 400)))
    if nodes:
        parts.append(node_table(result, max_rows))
        jac = jacobian_table(result)
        if jac is not None:
            parts.append(jac)
    if result.wrt or result.value is None:  # a constant has no gradients to show
        parts.append(gradient_table(result, max_rows))
    parts.append(summary(result))
    return Group(*parts)
