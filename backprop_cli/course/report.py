"""Rich renderables for checking answers: the `--expect` table and the `check` report.

Like render.py, these only build renderables (every user-derived string through ``text()``);
the CLI prints them once.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..checks.answers import AnswerCheck, Answers, fmt
from ..core.formatting import rounded
from ..views.render import Reflow, add_block, block_table, text
from .batch import BatchReport, ProblemResult
from .results import GradeReport

STATUS = {
    "pass": ("✓ pass", "bold green"),
    "fail": ("✗ FAIL", "bold red"),
    "error": ("! ERROR", "bold yellow"),
}


def answers_table(answers: Answers) -> Group:
    """Your answer beside the correct one; for each mismatch, how the truth comes about.
    Narrow terminals get one block per answer (render.Reflow): no number is ever cut."""
    table = Reflow(lambda w: _answers_table(answers), lambda w: _answers_blocks(answers))
    parts: list[RenderableType] = [table]
    for c in answers.mismatches:
        parts.append(explain(c))
    n = len(answers.checks)
    bad = len(answers.mismatches)
    if bad:
        parts.append(text(f"✗ {bad} of {n} answers differ" if n != 1 else "✗ the answer differs",
                          "bold red"))
    else:
        parts.append(text(f"✓ all {n} answers match" if n != 1 else "✓ the answer matches",
                          "bold green"))
    return Group(*parts)


def _answer_cells(c: AnswerCheck) -> tuple[Text, Text, Text, Text, Text]:
    mark = text("✓ match", "bold green") if c.ok else text("✗ differs", "bold red")
    within = "exact" if c.rounding == "exact" else f"±{rounded(c.allowed, 2)} ({c.rounding})"
    if c.is_array and c.shape != c.answer_shape:
        within = "wrong shape"
    if c.formula is not None:  # a formula answer: its verdict in general (formula.py)
        within = f"formula: {c.rounding}"
    return text(_what(c)), text(c.written), text(fmt(c.truth), "bold"), text(within, "dim"), mark


def _answers_table(answers: Answers) -> Table:
    table = Table(title=text("Your answers"), title_justify="left", header_style="bold")
    table.add_column("answer", style="bold cyan", no_wrap=True)
    table.add_column("is", no_wrap=True)
    table.add_column("yours", justify="right")
    table.add_column("correct", justify="right")
    table.add_column("accepted within", justify="right")
    table.add_column("", no_wrap=True)
    for c in answers.checks:
        table.add_row(text(c.key), *_answer_cells(c))
    return table


def _answers_blocks(answers: Answers) -> Table:
    table = block_table(text("Your answers"))
    for c in answers.checks:
        what, yours, correct, within, mark = _answer_cells(c)
        add_block(table, text(c.key, "bold cyan"), [
            ("is", what), ("yours", yours), ("correct", correct), ("accepted", within),
            ("", mark)])
    return table


def explain(c: AnswerCheck) -> Text:
    truth = (f"is {fmt(c.truth)}" if c.truth is not None or c.formula is None
             else "was checked in general (no point given)")
    t = text(f"{c.key}: you wrote {c.written}, the {_what(c)} {truth}", "bold")
    for line in c.explanation:
        t.append(text("\n  " + line))
    for hint in c.hints:
        t.append(text(f"\n  hint: {hint}", "yellow"))
    return t


def _what(c: AnswerCheck) -> str:
    return f"value of {c.quantity}" if c.kind == "value" else f"gradient {c.quantity}"


def batch_table(report: BatchReport, max_rows: int = 200) -> Reflow:
    """One row per problem; its columns sized so that no word is cut (render.Reflow)."""
    return Reflow(lambda w: _batch_table(report, max_rows))


def _batch_table(report: BatchReport, max_rows: int) -> Table:
    table = Table(title=text(report.title or f"Problems in {report.source}"),
                  title_justify="left", header_style="bold")
    table.add_column("#", justify="right", style="dim")
    table.add_column("problem", style="bold cyan")
    table.add_column("status", no_wrap=True)
    table.add_column("what differed")
    rows = report.results
    shown = rows if len(rows) <= max_rows else [r for r in rows if not r.ok][:max_rows]
    if len(shown) < len(rows):
        table.caption = text(f"{len(rows) - len(shown):,} passing rows not shown "
                             "(use --json for every row)")
    for r in shown:
        label, style = STATUS[r.status]
        table.add_row(text(str(r.index)), text(r.name), text(label, style), _differed(r))
    return table


def _differed(r: ProblemResult) -> Text:
    diffs = r.differences()
    if diffs:
        return text("\n".join(diffs))
    if r.answers:
        n = len(r.answers)
        said = [f"{c.key} = {c.written}: {c.rounding}" for c in r.answers  # formula verdicts
                if c.formula is not None]
        return text("\n".join([f"{n} answers match" if n != 1 else "1 answer matches",
                               *said]), "dim")
    return text("no answers given; gradients verified", "dim")


def batch_details(report: BatchReport, limit: int = 20) -> Group:
    """The chain rule behind each wrong gradient, for the first ``limit`` failing problems."""
    parts: list[RenderableType] = []
    failing = [r for r in report.results if r.status == "fail" and any(not c.ok
                                                                       for c in r.answers)]
    for r in failing[:limit]:
        head = text(f"{r.name}: ", "bold")
        one_line = " ".join(r.expression.split())
        head.append(text(one_line if len(one_line) <= 100 else one_line[:97] + "..."))
        parts.append(head)
        for c in r.answers:
            if not c.ok:
                parts.append(explain(c))
    if len(failing) > limit:
        parts.append(text(f"... {len(failing) - limit} more failing problems (see --json)",
                          "dim"))
    return Group(*parts)


def batch_summary(report: BatchReport) -> Text:
    style = "bold green" if report.ok else ("bold yellow" if report.errors else "bold red")
    return text(report.summary_line(), style)


# ---------------------------------------------------------------- grading (`check --answers`)

GRADE_STATUS = {
    "correct": ("✓ right", "bold green"),
    "carried": ("≈ carried", "bold yellow"),
    "wrong": ("✗ wrong", "bold red"),
    "missing": ("– missing", "dim"),
    "invalid": ("! unreadable", "bold yellow"),
}


def grade_table(report: GradeReport) -> Group:
    """One row per answer: points, and the diagnosis of every lost point."""
    table = Table(title=text(report.title or f"Grading {report.submission}"),
                  title_justify="left", header_style="bold")
    table.add_column("problem", style="bold cyan", overflow="fold", max_width=24)
    table.add_column("answer", no_wrap=True)
    table.add_column("yours", justify="right", overflow="fold", max_width=24)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("feedback", overflow="fold")
    for pg in report.problems:
        for k, a in enumerate(pg.answers):
            label, style = GRADE_STATUS[a.status]
            shown = a.feedback if a.status != "correct" else []
            table.add_row(text(pg.name if k == 0 else ""), text(a.key), text(a.written),
                          text(f"{a.points:g}/{a.max_points:g}"), text(label, style),
                          text("\n".join(shown[:3])))
    parts: list[RenderableType] = [table]
    for note in report.notes:
        parts.append(text("note: " + note, "yellow"))
    style = "bold green" if report.score >= report.max_score else "bold red"
    parts.append(text(report.summary_line(), style))
    return Group(*parts)
