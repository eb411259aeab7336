"""Pictures and tables of learning runs: a braille loss chart for the terminal, an SVG written
by hand, a PNG through matplotlib when it is installed, and the iteration/epoch tables.

Renderers return rich renderables or strings; the CLI prints or writes them once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ..core.errors import InputError
from ..core.formatting import rounded
from ..views.render import Reflow, Sized, fmt, text

if TYPE_CHECKING:
    from .descend import Descent
    from .fit import Fit
    from .optim import Penalty, Schedule

COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")  # SVG/PNG: blue, red, green, purple
TERM_COLORS = ("bright_blue", "bright_red", "bright_green", "magenta")
PLOT_SUFFIXES = (".svg", ".png")
MAX_PARAM_COLUMNS = 8  # wider tables stop being readable; --json has every parameter


@dataclass
class Series:
    name: str
    xs: list[float]
    ys: list[float]


# --- scales -------------------------------------------------------------------------------

def _finite_points(series: Sequence[Series]) -> list[tuple[float, float]]:
    return [(x, y) for s in series for x, y in zip(s.xs, s.ys) if math.isfinite(y)]


def use_log(series: Sequence[Series]) -> bool:
    """A log scale when every loss is positive and they span more than two decades."""
    ys = [y for _, y in _finite_points(series)]
    return bool(ys) and min(ys) > 0 and max(ys) / min(ys) > 100


class _Scale:
    def __init__(self, series: Sequence[Series]):
        pts = _finite_points(series)
        self.log = use_log(series)
        xs = [x for x, _ in pts] or [0.0, 1.0]
        ys = [self.t(y) for _, y in pts] or [0.0, 1.0]
        self.x0, self.x1 = min(xs), max(xs)
        self.y0, self.y1 = min(ys), max(ys)
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 == self.y0:
            pad = abs(self.y0) * 0.1 or 1.0
            self.y0, self.y1 = self.y0 - pad, self.y1 + pad

    def t(self, y: float) -> float:
        return math.log10(y) if self.log else y

    def fx(self, x: float) -> float:
        """x in [0, 1]."""
        return (x - self.x0) / (self.x1 - self.x0)

    def fy(self, y: float) -> float:
        return (self.t(y) - self.y0) / (self.y1 - self.y0)

    def label_y(self, u: float) -> str:
        v = self.y0 + u * (self.y1 - self.y0)
        if self.log:
            return rounded(10**v, 3)
        # A tick at what should be 0 can come out as 1e-17: call it 0.
        return "0" if abs(v) < 1e-12 * max(abs(self.y0), abs(self.y1)) else rounded(v, 3)


# --- the terminal picture: braille dots, 2 x 4 per character --------------------------------

_BRAILLE = ((0x01, 0x08), (0x02, 0x10), (0x04, 0x20), (0x40, 0x80))  # [row][col] dot bits


def terminal_chart(series: Sequence[Series], *, title: str = "", width: int = 60,
                   height: int = 10, xlabel: str = "step") -> Text:
    """A line chart in braille characters, one colour per series, with its y range."""
    scale = _Scale(series)
    pw, ph = width * 2, height * 4
    cells: list[list[dict[int, int]]] = [[{} for _ in range(width)] for _ in range(height)]

    def dot(px: int, py: int, k: int) -> None:
        px = min(max(px, 0), pw - 1)
        py = min(max(py, 0), ph - 1)
        row, col = divmod(py, 4)
        cx, sub = divmod(px, 2)
        cell = cells[height - 1 - row][cx]
        cell[k] = cell.get(k, 0) | _BRAILLE[3 - col][sub]

    for k, s in enumerate(series):
        prev: tuple[int, int] | None = None
        for x, y in zip(s.xs, s.ys):
            if not math.isfinite(y):
                prev = None
                continue
            px = round(scale.fx(x) * (pw - 1))
            py = round(scale.fy(y) * (ph - 1))
            if prev is not None:
                # Join to the previous point: step along the longer axis.
                (qx, qy) = prev
                n = max(abs(px - qx), abs(py - qy), 1)
                for i in range(1, n + 1):
                    dot(qx + round((px - qx) * i / n), qy + round((py - qy) * i / n), k)
            else:
                dot(px, py, k)
            prev = (px, py)

    out = Text()
    if title:
        out.append_text(text(title, "bold"))
        out.append("\n")
    top, bottom = scale.label_y(1.0), scale.label_y(0.0)
    pad = max(len(top), len(bottom))
    for r, row in enumerate(cells):
        label = top if r == 0 else bottom if r == height - 1 else ""
        out.append(label.rjust(pad) + " ┤" if label else " " * pad + " │", style="dim")
        for cell in row:
            if not cell:
                out.append(" ")
                continue
            bits = 0
            for b in cell.values():
                bits |= b
            owner = max(cell, key=lambda k: bin(cell[k]).count("1"))
            out.append(chr(0x2800 + bits), style=TERM_COLORS[owner % len(TERM_COLORS)])
        out.append("\n")
    left, right = fmt(scale.x0), fmt(scale.x1)
    out.append(" " * pad + " └" + "─" * width + "\n", style="dim")
    out.append(" " * (pad + 2) + left + right.rjust(width - len(left)) + "\n", style="dim")
    legend = Text(" " * (pad + 2))
    for k, s in enumerate(series):
        legend.append("⣿ ", style=TERM_COLORS[k % len(TERM_COLORS)])
        legend.append_text(text(s.name + "   "))
    legend.append(f"(x: {xlabel}" + (", y: log scale)" if scale.log else ")"), style="dim")
    out.append_text(legend)
    return out


# --- SVG, written by hand -------------------------------------------------------------------

def svg_chart(series: Sequence[Series], *, title: str = "", xlabel: str = "step",
              ylabel: str = "loss", width: int = 720, height: int = 420) -> str:
    scale = _Scale(series)
    ml, mr, mt, mb = 80, 20, 40, 60
    iw, ih = width - ml - mr, height - mt - mb

    def px(x: float) -> float:
        return ml + scale.fx(x) * iw

    def py(y: float) -> float:
        return mt + (1 - scale.fy(y)) * ih

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2:.1f}" y="22" text-anchor="middle" font-size="14">'
        f"{escape(title)}</text>",
    ]
    # Axes, ticks and grid lines.
    for i in range(6):
        u = i / 5
        y = mt + (1 - u) * ih
        parts.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + iw}" y2="{y:.1f}" '
                     'stroke="#e5e5e5"/>')
        parts.append(f'<text x="{ml - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f"{escape(scale.label_y(u))}</text>")
        x = ml + u * iw
        xv = scale.x0 + u * (scale.x1 - scale.x0)
        parts.append(f'<line x1="{x:.1f}" y1="{mt + ih}" x2="{x:.1f}" y2="{mt + ih + 5}" '
                     'stroke="black"/>')
        parts.append(f'<text x="{x:.1f}" y="{mt + ih + 18}" text-anchor="middle">'
                     f"{escape(fmt(round(xv, 6)))}</text>")
    parts.append(f'<polyline points="{ml},{mt} {ml},{mt + ih} {ml + iw},{mt + ih}" '
                 'fill="none" stroke="black"/>')
    parts.append(f'<text x="{ml + iw / 2:.1f}" y="{height - 18}" text-anchor="middle">'
                 f"{escape(xlabel)}</text>")
    ylab = ylabel + (" (log scale)" if scale.log else "")
    parts.append(f'<text transform="translate(18,{mt + ih / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(ylab)}</text>')
    for k, s in enumerate(series):
        color = COLORS[k % len(COLORS)]
        run: list[str] = []
        for x, y in zip(s.xs, s.ys):
            if math.isfinite(y):
                run.append(f"{px(x):.1f},{py(y):.1f}")
            elif run:
                parts.append(_polyline(run, color))
                run = []
        if run:
            parts.append(_polyline(run, color))
        ly = mt + 16 + 18 * k
        parts.append(f'<line x1="{ml + iw - 150}" y1="{ly - 4}" x2="{ml + iw - 126}" '
                     f'y2="{ly - 4}" stroke="{color}" stroke-width="2"/>')
        parts.append(f'<text x="{ml + iw - 120}" y="{ly}">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _polyline(points: list[str], color: str) -> str:
    if len(points) == 1:
        x, y = points[0].split(",")
        return f'<circle cx="{x}" cy="{y}" r="2" fill="{color}"/>'
    return (f'<polyline points="{" ".join(points)}" fill="none" stroke="{color}" '
            'stroke-width="2"/>')


def check_plot_path(path: str | Path, inputs: Sequence[str | Path] = ()) -> Path:
    """Fail before any work if the picture cannot be written in the format asked for (or
    would replace one of the run's ``inputs``)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in PLOT_SUFFIXES:
        raise InputError(f"--plot {path}: the file must end in .svg or .png", where="--plot",
                         hint="e.g. --plot loss.svg")
    if suffix == ".png":
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise InputError("--plot: a PNG needs matplotlib, which is not installed",
                             where="--plot", hint="pip install matplotlib (or, from a clone, "
                             "pip install '.[plot]'), or write an SVG: --plot loss.svg") from None
    from ..core.fileio import check_output

    return check_output(p, where="--plot", inputs=inputs)


def write_plot(path: str, series: Sequence[Series], *, title: str, xlabel: str) -> Path:
    from ..core.fileio import write_atomic

    p = check_plot_path(path)
    if p.suffix.lower() == ".svg":
        return write_atomic(p, svg_chart(series, title=title, xlabel=xlabel), where="--plot")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 4.2), dpi=100)
    for k, s in enumerate(series):
        ax.plot(s.xs, s.ys, color=COLORS[k % len(COLORS)], label=s.name)
    if use_log(series):
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    import io

    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    return write_atomic(p, png.getvalue(), where="--plot")


# --- descend ----------------------------------------------------------------------------------

def sample(n: int, max_rows: int) -> list[int]:
    """Row indices to show: all, or ``max_rows`` evenly spaced ones including first and last."""
    if n <= max_rows:
        return list(range(n))
    return sorted({round(i * (n - 1) / (max_rows - 1)) for i in range(max_rows)})


def descend_series(run: Descent) -> list[Series]:
    return [Series("loss", [float(s.step) for s in run.trajectory],
                   [s.loss for s in run.trajectory])]


def descend_table(run: Descent, max_rows: int = 20) -> Reflow:
    """The iterations: full headers, then short ones, then fewer parameter columns, as the
    width allows (render.Reflow); the final parameters are always in the summary."""
    n = min(len(run.wrt), MAX_PARAM_COLUMNS)
    return Reflow(lambda w: _descend_table(run, max_rows, short=False, params=n),
                  *(lambda w, k=k: _descend_table(run, max_rows, short=True, params=k)
                    for k in range(n, -1, -1)))


def _descend_table(run: Descent, max_rows: int, *, short: bool, params: int) -> Table:
    rows = run.trajectory
    shown = sample(len(rows), max_rows)
    table = Table(title=text(f"Gradient descent on {_short(run.expression)}"),
                  title_justify="left", header_style="bold")
    table.add_column("step", justify="right", style="bold cyan")
    table.add_column("lr" if short else "learning rate", justify="right")
    table.add_column("loss", justify="right", style="blue")
    table.add_column("‖grad‖" if short else "‖gradient‖", justify="right", style="magenta")
    cols = run.wrt[:params]
    for name in cols:
        table.add_column(text(name), justify="right")
    for i in shown:
        s = rows[i]
        table.add_row(str(s.step), fmt(s.lr), fmt(s.loss), fmt(s.grad_norm),
                      *(fmt(s.params[n]) for n in cols))
    notes = []
    if len(shown) < len(rows):
        notes.append(f"{len(shown)} of {len(rows)} steps shown, evenly spaced")
    if len(cols) < len(run.wrt):
        notes.append(f"{len(cols)} of {len(run.wrt)} parameters shown")
    if notes:
        table.caption = text("; ".join(notes) + "; --json for all")
    return table


def descend_report(run: Descent, max_rows: int = 20, chart: bool = True) -> Group:
    parts: list[RenderableType] = [descend_table(run, max_rows)]
    if chart and len(run.trajectory) > 1:
        parts.append(Sized(lambda w: terminal_chart(descend_series(run), title="loss by step",
                                                    width=_chart_width(w))))
    style = {"converged": "bold green", "finished": "bold", "diverged": "bold red"}[run.status]
    summary = text(_setup(run.optimizer, run.hyper, run.schedule, run.penalty) + "\n", "dim")
    summary.append(text(run.message, style))
    final = ", ".join(f"{k}={_inline(v)}" for k, v in run.final.items())
    if final:
        summary.append(text(f"\nfinal: {final}"))
    if run.trajectory and math.isfinite(run.trajectory[-1].loss):
        summary.append(text(f"   loss = {fmt(run.trajectory[-1].loss)}"))
    if run.hint:
        summary.append(text(f"\nhint: {run.hint}", "yellow"))
    parts.append(summary)
    return Group(*parts)


# --- fit ----------------------------------------------------------------------------------

def fit_series(result: Fit) -> list[Series]:
    xs = [float(e.epoch) for e in result.history]
    series = [Series("training loss", xs, [e.train_loss for e in result.history])]
    if result.n_val:
        series.append(Series("validation loss", xs,
                             [e.val_loss if e.val_loss is not None else math.nan
                              for e in result.history]))
    return series


def fit_table(result: Fit, max_rows: int = 20) -> Reflow:
    """The epochs: full headers, or short ones where the width needs them (render.Reflow)."""
    return Reflow(lambda w: _fit_table(result, max_rows, short=False),
                  lambda w: _fit_table(result, max_rows, short=True))


def _fit_table(result: Fit, max_rows: int, *, short: bool) -> Table:
    rows = result.history
    shown = sample(len(rows), max_rows)
    # The history may be strided (Fit.record): find the best epoch's row by its number.
    best = [i for i, e in enumerate(rows) if e.epoch == result.best_epoch]
    if best and best[0] not in shown:
        shown = sorted({*shown, best[0]})
    acc = result.predict is not None
    # Short: the update count (epochs × batches) and a constant learning rate (said in the
    # summary line) make room for the losses.
    updates = not short
    lrs = not short or len({e.lr for e in rows}) > 1
    table = Table(title=text(f"Training {result.n_train} rows"
                             + (f", validating on {result.n_val}" if result.n_val else "")),
                  title_justify="left", header_style="bold")
    table.add_column("epoch", justify="right", style="bold cyan")
    if updates:
        table.add_column("updates", justify="right")
    if lrs:
        table.add_column("lr" if short else "learning rate", justify="right")
    table.add_column("loss" if short else "train loss", justify="right", style="blue")
    if acc:
        table.add_column("acc." if short else "train acc.", justify="right")
    if result.n_val:
        table.add_column("val loss", justify="right", style="red")
        if acc:
            table.add_column("val acc.", justify="right")
    for i in shown:
        e = rows[i]
        cells = [str(e.epoch) + (" *" if e.epoch == result.best_epoch else "")]
        if updates:
            cells.append(str(e.updates))
        if lrs:
            cells.append(fmt(e.lr))
        cells.append(fmt(e.train_loss))
        if acc:
            cells.append(_pct(e.train_accuracy))
        if result.n_val:
            cells.append(fmt(e.val_loss))
            if acc:
                cells.append(_pct(e.val_accuracy))
        table.add_row(*cells)
    notes = []
    if len(shown) < len(rows):
        notes.append(f"{len(shown)} of {len(rows)} epochs shown; --json for all")
    if short:
        notes.append("loss, acc.: on the training rows")
    if result.best_epoch is not None:
        notes.append("* best validation loss (parameters restored from it)")
    if notes:
        table.caption = text("; ".join(notes))
    return table


def _chart_width(console_width: int) -> int:
    """The chart's plot area: 60 columns, less where the console is narrow (its y labels take
    up to 11 more)."""
    return max(min(60, console_width - 12), 10)


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}%"


def fit_report(result: Fit, max_rows: int = 20, chart: bool = True) -> Group:
    parts: list[RenderableType] = [fit_table(result, max_rows)]
    if chart and len(result.history) > 1:
        parts.append(Sized(lambda w: terminal_chart(fit_series(result), title="loss by epoch",
                                                    xlabel="epoch", width=_chart_width(w))))
    style = {"finished": "bold", "early-stopped": "bold green",
             "diverged": "bold red"}[result.status]
    summary = text(_setup(result.optimizer, result.hyper, result.schedule, result.penalty)
                   + f", mini-batches of {result.batch_size}\n", "dim")
    summary.append(text(result.message, style))
    end = result.final_epoch
    if end is not None and end.train_accuracy is not None:
        summary.append(text(f"\naccuracy at epoch {end.epoch}: train {_pct(end.train_accuracy)}"
                            + (f", validation {_pct(end.val_accuracy)}" if result.n_val
                               else "")))
    final = ", ".join(f"{k}={_inline(v)}" for k, v in result.final.items())
    summary.append(text(f"\nparameters: {final}"))
    if result.hint:
        summary.append(text(f"\nhint: {result.hint}", "yellow"))
    parts.append(summary)
    return Group(*parts)


def _inline(v: Any) -> str:
    """A parameter on one line (a matrix's rows side by side; tables put them on lines)."""
    return fmt(v).replace(",\n ", ", ")


def _setup(name: str, hyper: dict[str, float], schedule: Schedule, penalty: Penalty) -> str:
    out = name + "".join(f", {k} {v:g}" for k, v in hyper.items())
    out += f"; {schedule.describe()}"
    if penalty:
        out += f"; penalty {penalty.l1:g}*sum|w| + {penalty.l2:g}*sum w^2"
    return out


def _short(expr: str, width: int = 50) -> str:
    one = " ".join(expr.split())
    return one if len(one) <= width else one[: width - 1] + "…"
