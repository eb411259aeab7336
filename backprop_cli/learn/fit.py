"""Fitting an expression to a data set: a per-sample loss whose free names are CSV columns
(data) or parameters, averaged over mini-batches; epochs cycle through the shuffled training
rows without replacement (the lecture's definition); optional validation split and early
stopping that restores the best parameters. Returns the epoch-by-epoch history as plain data.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.engine import backward, forward
from ..core.errors import DomainError, ExitStatus, InputError
from ..core.formatting import number
from ..core.graph import Graph
from ..core.literals import ArrayValue
from ..core.numbers import parse_number
from ..core.parse import parse
from .common import BoundLoss, start_point
from .descend import TRAJECTORY_KEEP
from .optim import Optimizer, Penalty, Schedule, finite, make_optimizer, parse_decay

Progress = Callable[[int, int], None]

# The history keeps at most 2 * HISTORY_KEEP epochs, as descend's trajectory does: a longer
# run keeps every ``stride``-th epoch (the stride doubles as it grows), the last one and the
# best validation epoch, so that a million epochs cost kilobytes. Read at each call, so a
# test can lower it.
HISTORY_KEEP = TRAJECTORY_KEEP


@dataclass
class Dataset:
    """A table of numbers with named columns (the CSV header)."""

    columns: list[str]
    rows: list[list[float]]

    def __len__(self) -> int:
        return len(self.rows)


def read_csv(path: str | Path) -> Dataset:
    """A CSV file with a header row and numbers (ASCII, finite) in every other cell."""
    from ..core.fileio import read_text
    from ..core.limits import CSV_BYTES

    raw = read_text(str(path), limit=CSV_BYTES, what="a data file (UTF-8 CSV with a header row)",
                    where="--data")
    return parse_csv(raw, str(path))


def parse_csv(raw: str, name: str = "data") -> Dataset:
    try:
        lines = [(i + 1, row) for i, row in enumerate(csv.reader(raw.splitlines()))
                 if any(c.strip() for c in row)]
    except csv.Error as exc:  # a cell over the csv module's 131,072 characters, a NUL byte
        raise InputError(f"{name} is not a CSV table: {exc}", where="--data",
                         hint="one row of numbers per line, cells separated by commas") from None
    if not lines:
        raise InputError(f"{name} is empty", where="--data",
                         hint="the first line names the columns, e.g. x1,x2,y")
    header = [c.strip() for c in lines[0][1]]
    # A column whose name is not a valid expression name is simply never used.
    if len(set(header)) != len(header):
        raise InputError(f"{name}, line 1: a column name appears twice", where="--data")
    rows: list[list[float]] = []
    for lineno, row in lines[1:]:
        if len(row) != len(header):
            raise InputError(f"{name}, line {lineno}: {len(row)} cells, the header has "
                             f"{len(header)}", where="--data")
        values = []
        for cell in row:
            c = cell.strip()
            try:
                values.append(parse_number(c, source=c, pos=0, where="--data",
                                           leading_zeros=True)[0])  # 007 in data: 7
            except InputError:
                raise InputError(f"{name}, line {lineno}: '{c}' is not a finite number",
                                 where="--data", hint="use plain ASCII numbers such as 0, 1.5 "
                                 "or -2e-3") from None
        rows.append(values)
    if not rows:
        raise InputError(f"{name} has a header but no rows", where="--data")
    return Dataset(header, rows)


@dataclass
class Epoch:
    """The state after an epoch (epoch 0 is the start): losses over each whole split."""

    epoch: int
    updates: int  # parameter updates so far
    lr: float  # the rate of the epoch's last update (eta_0 at epoch 0)
    train_loss: float
    val_loss: float | None
    train_accuracy: float | None
    val_accuracy: float | None
    params: dict[str, Any]  # floats; nested lists for vector/matrix parameters

    def to_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "updates": self.updates, "lr": self.lr,
                "train_loss": self.train_loss, "val_loss": self.val_loss,
                "train_accuracy": self.train_accuracy, "val_accuracy": self.val_accuracy,
                "params": self.params}


@dataclass
class Fit:
    expression: str
    parameters: list[str]
    data_columns: list[str]  # the columns the expression reads
    n_train: int
    n_val: int
    optimizer: str
    hyper: dict[str, float]
    schedule: Schedule
    penalty: Penalty
    batch_size: int
    max_epochs: int
    seed: int | None
    init: dict[str, Any]
    patience: int | None
    predict: str | None
    target: str | None
    history: list[Epoch] = field(default_factory=list)
    stride: int = 1  # history holds the epochs e with e % stride == 0, the best and the last
    status: str = "finished"  # finished | early-stopped | diverged
    best_epoch: int | None = None
    binds: dict[str, list[str]] = field(default_factory=dict)  # vector inputs <- columns
    message: str = ""
    hint: str | None = None

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.CHECK_FAILED if self.status == "diverged" else ExitStatus.OK

    @property
    def final_epoch(self) -> Epoch | None:
        """The epoch whose parameters are returned (the best one under early stopping)."""
        if not self.history:
            return None
        if self.best_epoch is not None:  # record() never drops it
            for e in reversed(self.history):
                if e.epoch == self.best_epoch:
                    return e
        return self.history[-1]

    @property
    def final(self) -> dict[str, Any]:
        """The parameters returned: those of final_epoch."""
        end = self.final_epoch
        return dict(end.params) if end is not None else {}

    def to_dict(self) -> dict[str, Any]:
        end = self.final_epoch
        return {
            "expression": self.expression, "parameters": self.parameters,
            "data_columns": self.data_columns, "n_train": self.n_train, "n_val": self.n_val,
            "optimizer": {"name": self.optimizer, **self.hyper},
            "schedule": self.schedule.to_dict(),
            "penalty": {"l1": self.penalty.l1, "l2": self.penalty.l2},
            "batch_size": self.batch_size, "max_epochs": self.max_epochs, "seed": self.seed,
            "init": self.init, "early_stopping": self.patience,
            "predict": self.predict, "target": self.target, "bind": self.binds,
            "status": self.status, "message": self.message, "hint": self.hint,
            "epochs": self.history[-1].epoch if self.history else 0,
            "best_epoch": self.best_epoch,
            "final": self.final,
            "final_train_loss": end.train_loss if end else None,
            "final_val_loss": end.val_loss if end else None,
            "final_train_accuracy": end.train_accuracy if end else None,
            "final_val_accuracy": end.val_accuracy if end else None,
            "history": [e.to_dict() for e in self.history],
            "trajectory_stride": self.stride,
        }

    def record(self, row: Epoch, keep: int | None = None) -> None:
        """Add the newest epoch; past 2 * keep epochs kept, keep every other one (and always
        the best validation epoch, whose parameters may be restored, and the last)."""
        keep = HISTORY_KEEP if keep is None else keep
        rows = self.history
        if rows and rows[-1].epoch % self.stride and rows[-1].epoch != self.best_epoch:
            rows.pop()  # held only as the newest epoch
        rows.append(row)
        if len(rows) > 2 * keep:
            self.stride *= 2
            self.history = [e for e in rows[:-1] if e.epoch % self.stride == 0
                            or e.epoch == self.best_epoch] + rows[-1:]


class _Model(BoundLoss):
    """The compiled loss graph of a scalar job: floats through the scalar engine."""

    def _point(self, theta: list[float], row: list[float]) -> dict[str, float]:
        point = dict(zip(self.params, theta))
        for name, j in self.col_index:
            point[name] = row[j]
        return point

    def loss_grad(self, theta: list[float], rows: list[list[float]]) -> tuple[float, list[float]]:
        total = 0.0
        grad = [0.0] * len(theta)
        for row in rows:
            values = forward(self.graph, self._point(theta, row))
            run = backward(self.graph, values)
            total += values[self.graph.output]
            for k, nid in enumerate(self.param_ids):
                grad[k] += run.upstream[nid]
        n = len(rows)
        return total / n, [g / n for g in grad]

    def loss_acc(self, theta: list[float], rows: list[list[float]],
                 target: int | None) -> tuple[float, float | None]:
        total = 0.0
        right = 0
        for row in rows:
            values = forward(self.graph, self._point(theta, row))
            total += values[self.graph.output]
            if target is not None and self.predict_id is not None:
                right += (values[self.predict_id] >= 0.5) == (row[target] >= 0.5)
        acc = right / len(rows) if target is not None and self.predict_id is not None else None
        return total / len(rows), acc


def fit(expression: str | Graph, data: Dataset, *, at: Mapping[str, Any] | None = None,
        init: str | None = None, seed: int | None = 0, lr: float = 0.1, epochs: int = 100,
        batch_size: int = 32, optimizer: str | Optimizer = "sgd", momentum: float = 0.9,
        beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
        decay: str | Schedule | None = None, l1: float = 0.0, l2: float = 0.0,
        val_split: float = 0.0, validation: Dataset | None = None,
        early_stopping: int | None = None, predict: str | None = None,
        target: str | None = None, bind: Mapping[str, Sequence[str]] | None = None,
        shape: Mapping[str, int | tuple[int, ...] | list[int] | str] | None = None,
        progress: Progress | None = None) -> Fit:
    """Train the parameters of a per-sample loss on ``data``.

    Names of the expression that are columns of ``data`` are data; the others are parameters,
    started at ``at`` or, with ``init="random"``, drawn uniformly from [-1, 1] (``seed``).
    ``validation`` gives validation rows explicitly; otherwise ``val_split`` holds out that
    fraction of the shuffled rows. ``predict``/``target`` name a node (the output or a named
    intermediate) and a column for accuracy: a prediction >= 0.5 means class 1.

    Vectors and matrices (array_model.py): ``bind={"x": ["x1", "x2"]}`` makes the input x
    the vector of those columns of each row; ``at`` may give arrays; ``shape={"W": (2, 2)}``
    gives the shape of a parameter drawn by ``init="random"`` (without one it is a scalar); an
    int is a vector (``{"b1": 2}``, as the CLI's ``--shape b1=2``) and "2x2" a matrix.
    """
    at = start_point(at) if at else {}  # numbers, and vectors/matrices as ArrayValues
    columns = data.columns
    binds = {k: list(v) for k, v in (bind or {}).items()}
    # e and pi are constants unless a value, a column or a bound vector names them
    graph = parse(expression, bound=[*at, *columns, *binds]) if isinstance(expression, str) \
        else expression
    shapes = _shapes(shape)
    array_job = bool(binds or shapes) or graph.uses_arrays() \
        or any(isinstance(v, ArrayValue) or hasattr(v, "ndim") for v in at.values())
    if array_job:
        from .array_model import check_binds

        check_binds(graph, columns, binds)
    used_columns = [n for n in graph.variables if n in columns]
    used_columns += [c for cols in binds.values() for c in cols if c not in used_columns]
    params = [n for n in graph.variables if n not in columns and n not in binds]
    if not params:
        raise InputError("every name in the expression is a data column: nothing to fit",
                         where="expression", hint="the parameters are the names that are not "
                         "columns of the CSV file, e.g. w and b in (w*x+b-y)^2")
    for name in at:
        if (name in columns or name in binds) and name in graph.variables:
            raise InputError(f"--at gives a value for '{name}', which is a data column",
                             where="--at", hint="only parameters take starting values")
        if name not in graph.variables:
            raise InputError(f"--at gives a value for '{name}', which the expression does "
                             "not use", where="--at",
                             hint="the parameters are " + ", ".join(params))
    if init not in (None, "random"):
        raise InputError(f"unknown --init '{init}'", where="--init",
                         hint="--init random draws the parameters from [-1, 1]")
    for name in shapes:
        if name not in params:
            raise InputError(f"--shape gives a shape for '{name}', which is not a parameter",
                             where="--shape", hint="the parameters are " + ", ".join(params))
    if shapes and init != "random":
        raise InputError("--shape is for parameters drawn by --init random", where="--shape",
                         hint="add --init random --seed 0, or give the values with --at")
    missing = [p for p in params if p not in at]
    if missing and init is None:
        raise InputError("no starting value for parameter" + ("s " if len(missing) > 1 else " ")
                         + ", ".join(missing), where="--at",
                         hint=f"give {'them' if len(missing) > 1 else 'it'} with --at "
                         + ",".join(f"{p}=0.5" for p in missing)
                         + ", or use --init random --seed 0 (names that are not CSV columns "
                         "are parameters; the columns are " + ", ".join(columns) + ")")
    if epochs < 0:
        raise InputError("--epochs must not be negative", where="--epochs")
    if batch_size < 1:
        raise InputError("--batch-size must be at least 1", where="--batch-size")
    if not 0.0 <= val_split < 1.0:
        raise InputError("--val-split must be a fraction in [0, 1)", where="--val-split",
                         hint="e.g. --val-split 0.25 holds out a quarter of the rows")
    if early_stopping is not None and early_stopping < 1:
        raise InputError("--early-stopping needs a patience of at least 1 epoch",
                         where="--early-stopping")
    penalty = Penalty.checked(l1, l2)
    target_col: int | None = None
    if (predict is None) != (target is None):
        raise InputError("--predict and --target go together", where="--predict",
                         hint="e.g. --predict yhat --target y")
    if predict is not None and target is not None:
        if not (predict == graph.output_name or predict in graph.named
                or predict in graph.variables):
            raise InputError(f"--predict names '{predict}', which the expression does not "
                             "compute", where="--predict",
                             hint="name the prediction in the expression: yhat = ...; "
                             "(y - yhat)^2")
        if target not in columns:
            raise InputError(f"--target '{target}' is not a column of the data",
                             where="--target", hint="the columns are " + ", ".join(columns))
        target_col = columns.index(target)
    schedule = decay if isinstance(decay, Schedule) else parse_decay(decay, lr)
    opt = optimizer if not isinstance(optimizer, str) else make_optimizer(
        optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps)

    rng = random.Random(seed)
    start: dict[str, Any]
    if array_job:
        from .array_model import ArrayModel, initial, snapshot

        start = initial(params, at, shapes, rng)
    else:
        start = {p: at[p] if p in at else rng.uniform(-1.0, 1.0) for p in params}

        def snapshot(names: Sequence[str], theta: Sequence[Any]) -> dict[str, Any]:
            return dict(zip(names, theta))
    order = list(range(len(data)))
    if validation is not None:
        train_rows = list(data.rows)
        val_rows = [_reorder(row, validation.columns, columns) for row in validation.rows]
    else:
        rng.shuffle(order)
        n_val = math.ceil(val_split * len(order)) if val_split > 0 else 0
        if n_val >= len(order):
            raise InputError(f"--val-split {val_split:g} leaves no training rows "
                             f"({len(order)} rows in all)", where="--val-split")
        val_rows = [data.rows[i] for i in order[:n_val]]
        train_rows = [data.rows[i] for i in order[n_val:]]
    if early_stopping is not None and not val_rows:
        raise InputError("--early-stopping watches the validation loss: give --val-split",
                         where="--early-stopping", hint="e.g. --val-split 0.25 "
                         "--early-stopping 10")

    model = ArrayModel(graph, columns, params, predict, binds) if array_job \
        else _Model(graph, columns, params, predict)
    result = Fit(graph.source, params, used_columns, len(train_rows), len(val_rows), opt.name,
                 opt.hyper(), schedule, penalty, batch_size, epochs,
                 seed if init == "random" or validation is None else None,
                 snapshot(params, [start[p] for p in params]), early_stopping, predict, target,
                 binds=binds)
    theta: list[Any] = [start[p] for p in params]
    opt.reset(len(theta))

    def record(epoch: int, updates: int, eta: float) -> Epoch:
        train_loss, train_acc = model.loss_acc(theta, train_rows, target_col)
        val_loss, val_acc = (model.loss_acc(theta, val_rows, target_col) if val_rows
                             else (None, None))
        row = Epoch(epoch, updates, eta, train_loss, val_loss, train_acc, val_acc,
                    snapshot(params, theta))
        result.record(row)
        return row

    try:
        first = record(0, 0, schedule.rate(0))  # a DomainError here is bad input: raised as is
    except InputError as exc:
        if array_job:  # a shape mismatch may come from a parameter drawn without --shape
            from .array_model import shape_hint

            shape_hint(exc, graph, [p for p in params if p not in at and p not in shapes])
        raise
    best = math.inf
    if early_stopping is not None and first.val_loss is not None:
        best, result.best_epoch = first.val_loss, 0
    wait = 0
    updates = 0
    index = list(range(len(train_rows)))
    for epoch in range(1, epochs + 1):
        rng.shuffle(index)  # each epoch: every row once, in a new order (no replacement)
        eta = schedule.rate(updates)
        try:
            for lo in range(0, len(index), batch_size):
                batch = [train_rows[i] for i in index[lo:lo + batch_size]]
                eta = schedule.rate(updates)
                probe = opt.lookahead(theta)
                _, grad = model.loss_grad(theta if probe is None else probe, batch)
                if penalty:
                    pg = penalty.gradient(theta if probe is None else probe)
                    grad = [g + p for g, p in zip(grad, pg)]
                theta = opt.update(theta, grad, eta)
                updates += 1
                if not finite(theta):
                    raise OverflowError
            row = record(epoch, updates, eta)
        except (DomainError, OverflowError) as exc:
            why = exc.message if isinstance(exc, DomainError) else "a parameter overflowed"
            _diverged(result, f"in epoch {epoch}: {why}", lr)
            break
        if progress is not None:
            progress(epoch, epochs)
        if not math.isfinite(row.train_loss) or (
                row.train_loss > 1e6 * max(1.0, abs(first.train_loss))):
            _diverged(result, f"in epoch {epoch} the training loss reached "
                      f"{number(row.train_loss)}", lr)
            break
        if early_stopping is not None and row.val_loss is not None:
            if row.val_loss < best:
                best, wait = row.val_loss, 0
                result.best_epoch = epoch
            else:
                wait += 1
                if wait >= early_stopping:
                    result.status = "early-stopped"
                    break
    last = result.history[-1].epoch
    if result.status == "early-stopped":
        result.message = (f"early stopping: the validation loss has not improved for "
                          f"{early_stopping} epochs; restored the parameters of epoch "
                          f"{result.best_epoch} (stopped after epoch {last})")
    elif result.status == "finished":
        result.message = f"finished {last} epochs ({updates} updates)"
        if early_stopping is not None:
            result.message += f"; restored the best validation epoch, {result.best_epoch}"
    return result


def _reorder(row: list[float], have: list[str], want: list[str]) -> list[float]:
    if have == want:
        return row
    missing = [c for c in want if c not in have]
    if missing:
        raise InputError("the validation data lacks column " + ", ".join(missing),
                         where="--data")
    return [row[have.index(c)] for c in want]


def _diverged(result: Fit, what: str, lr: float) -> None:
    result.status = "diverged"
    result.message = f"diverged {what}"
    result.hint = (f"the learning rate is too big: lower --lr (try {lr / 10:g}), or add "
                   "--decay")




def _shapes(shape: Mapping[str, Any] | None) -> dict[str, tuple[int, ...]]:
    """``shape=`` as the API takes it: ``{"W": (2, 2), "b": 2, "v": [3], "M": "2x3"}``, each
    value an int (a vector), a tuple or list of ints, or the CLI's text; else InputError."""
    out: dict[str, tuple[int, ...]] = {}
    if not shape:
        return out  # a scalar job: array_model (numpy) is never imported
    from .array_model import parse_shapes

    for name, dims in shape.items():
        if isinstance(dims, str):
            out.update(parse_shapes([f"{name}={dims}"]))
            continue
        seq = (dims,) if isinstance(dims, int) else dims
        if (not isinstance(seq, (tuple, list)) or not 1 <= len(seq) <= 2
                or not all(isinstance(d, int) and not isinstance(d, bool) for d in seq)):
            raise InputError(f"shape of '{name}' must be an int (a vector's length), a tuple "
                             f"of one or two ints, or text such as \"2x2\", not {dims!r}",
                             where="shape", hint='e.g. shape={"W1": (2, 2), "b1": 2}')
        out.update(parse_shapes([f"{name}={'x'.join(str(d) for d in seq)}"]))
    return out
