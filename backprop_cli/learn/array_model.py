"""Learning with vector and matrix parameters: `descend` and `fit` on the array engine.

The graph is parsed once; every step of descend runs the array engine's forward and backward
passes (arrays.forward / arrays.backward) on it with the current parameters; fit runs each
mini-batch as one pass of the batched engine (core/batched.py), the rows as a leading axis.
Parameters are numpy arrays (a scalar parameter is a 0-d array); the optimizers in optim.py
update them entry by entry. Trajectories and final parameters leave this module as plain
floats and nested lists.

Two things only array jobs need:

- ``--shape W1=2x2,b1=2``: the shapes of parameters drawn by ``--init random`` (a name without
  a shape is a scalar);
- ``--bind x=x1,x2``: a vector input whose entries are several CSV columns, in that order.

Only imported for array jobs, so scalar learning never imports numpy.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..core import batched
from ..core.arrays import Array, backward, forward, plain, to_array
from ..core.batched import batchable
from ..core.errors import InputError
from ..core.formatting import describe
from ..core.graph import Graph
from ..core.literals import ArrayValue
from .common import BoundLoss

MAX_ENTRIES = 1_000_000  # --shape: at most this many entries per parameter
ONE = np.asarray(1.0)
# fit runs each mini-batch as one batched pass (core/batched.py); False: row by row, as
# before (tests and benchmarks/fit_epoch.py compare the two). Read at each call.
BATCHED = True
CHUNK_ENTRIES = 1 << 20  # a batched pass holds about this many entries of values at most

Shape = tuple[int, ...]


def snapshot(names: Sequence[str], theta: Sequence[Any]) -> dict[str, Any]:
    """Parameters as plain data: a float for a scalar, nested lists for an array."""
    return {name: plain(np.asarray(w, dtype=float)) for name, w in zip(names, theta)}


def as_arrays(values: Mapping[str, float | ArrayValue]) -> dict[str, Array]:
    return {name: to_array(v) for name, v in values.items()}


def _loss_value(graph: Graph, out: Array) -> float:
    if out.ndim:
        expr = graph.text(graph.output)
        raise InputError(f"the loss {graph.output_name} is {describe(out.shape)}, not a "
                         "scalar: learning minimises one number", where="expression",
                         hint=f"reduce it, e.g. sum({expr}) or mean({expr})")
    return float(out)


def _grads(run: Any, ids: Sequence[int], current: Sequence[Array]) -> list[Array]:
    out = []
    for nid, w in zip(ids, current):
        g = run.upstream[nid]
        out.append(np.zeros_like(w) if g is None else g)
    return out


# --- descend --------------------------------------------------------------------------------

class ArrayObjective:
    """f and its gradient over ``wrt`` (arrays of their variables' shapes) at a point.

    ``start`` gives every input a value: descend() has matched it against the graph."""

    def __init__(self, graph: Graph, start: Mapping[str, float | ArrayValue],
                 wrt: Sequence[str]):
        self.graph = graph
        self.point = as_arrays(start)
        self.wrt = list(wrt)
        self.ids = [graph.variables[name] for name in self.wrt]

    def start(self) -> list[Array]:
        return [self.point[name] for name in self.wrt]

    def fixed(self) -> dict[str, Any]:
        return {k: plain(v) for k, v in self.point.items() if k not in self.wrt}

    def __call__(self, theta: Sequence[Any]) -> tuple[float, list[Array]]:
        point = self.point
        current = []
        for name, w in zip(self.wrt, theta):
            point[name] = np.asarray(w, dtype=float)
            current.append(point[name])
        values = forward(self.graph, point)
        loss = _loss_value(self.graph, values[self.graph.output])
        run = backward(self.graph, values, ONE)
        return loss, _grads(run, self.ids, current)


# --- fit: shapes, bindings, initial values ----------------------------------------------------

_SHAPE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([0-9]+)\s*(?:[x×]\s*([0-9]+))?\s*")


def parse_shapes(texts: Iterable[str]) -> dict[str, Shape]:
    """`--shape W1=2x2,b1=2` (repeatable): a matrix of 2 rows and 2 columns, a vector of 2."""
    shapes: dict[str, Shape] = {}
    for text in texts:
        for item in text.split(","):
            if not item.strip():
                continue
            m = _SHAPE.fullmatch(item)
            if m is None:
                raise InputError(f"--shape '{item.strip()}' is not NAME=N or NAME=RxC",
                                 where="--shape", hint="e.g. --shape W1=2x2,b1=2,w2=2 "
                                 "(a name without a shape is a scalar)")
            name = m.group(1)
            dims = tuple(int(d) for d in m.groups()[1:] if d is not None)
            if any(d < 1 for d in dims) or math.prod(dims) > MAX_ENTRIES:
                raise InputError(f"--shape {name}: every dimension must be at least 1 and "
                                 f"the size at most {MAX_ENTRIES:,} entries", where="--shape")
            if name in shapes:
                raise InputError(f"--shape gives '{name}' twice", where="--shape")
            shapes[name] = dims
    return shapes


def parse_binds(texts: Iterable[str]) -> dict[str, list[str]]:
    """`--bind x=x1,x2` (repeatable): the vector x is [x1, x2] of each CSV row."""
    binds: dict[str, list[str]] = {}
    for text in texts:
        name, sep, cols = text.partition("=")
        name = name.strip()
        columns = [c.strip() for c in cols.split(",")]
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or not all(columns):
            raise InputError(f"--bind '{text}' is not NAME=COLUMN,COLUMN,...", where="--bind",
                             hint="e.g. --bind x=x1,x2 makes x the vector [x1, x2] of each row")
        if name in binds:
            raise InputError(f"--bind gives '{name}' twice", where="--bind")
        binds[name] = columns
    return binds


def check_binds(graph: Graph, columns: Sequence[str], binds: Mapping[str, Sequence[str]]
                ) -> None:
    for name, cols in binds.items():
        if name not in graph.variables:
            raise InputError(f"--bind names '{name}', which is not an input of the expression",
                             where="--bind", hint="the expression's inputs are "
                             + ", ".join(graph.variables))
        if name in columns:
            raise InputError(f"--bind names '{name}', which is already a column of the data",
                             where="--bind", hint="bind the vector to a name that is not a "
                             "column, e.g. --bind x=x1,x2")
        missing = [c for c in cols if c not in columns]
        if missing:
            raise InputError("--bind " + name + ": no column " + ", ".join(missing)
                             + " in the data", where="--bind",
                             hint="the columns are " + ", ".join(columns))


def initial(params: Sequence[str], at: Mapping[str, Any], shapes: Mapping[str, Shape],
            rng: random.Random) -> dict[str, Array]:
    """Starting values: from --at, else uniform in [-1, 1] with the --shape (row-major draws
    from ``rng``, parameter by parameter in the expression's order)."""
    start: dict[str, Array] = {}
    for p in params:
        if p in at:
            value = to_array(at[p]) if not isinstance(at[p], np.ndarray) else at[p]
            if p in shapes and value.shape != shapes[p]:
                raise InputError(f"--shape {p} is {describe(shapes[p])} but --at gives "
                                 f"{describe(value.shape)}", where="--shape",
                                 hint="a parameter's shape comes from --at; --shape is for "
                                 "parameters drawn by --init random")
            start[p] = np.asarray(value, dtype=float)
            continue
        dims = shapes.get(p, ())
        start[p] = np.array([rng.uniform(-1.0, 1.0) for _ in range(math.prod(dims))],
                            dtype=float).reshape(dims)
    return start


def shape_hint(exc: InputError, graph: Graph, drawn: Sequence[str]) -> None:
    """A shape mismatch at a node fed by parameters that --init random drew as scalars: say
    that --shape gives shapes."""
    if "shape mismatch" not in exc.message:
        return
    at = [n.id for n in graph.nodes if (n.start, n.end) == (exc.pos, exc.end)]
    feeding = graph.ancestors_vars(at[-1]) if at else set(drawn)
    drawn_scalars = [p for p in drawn if p in feeding]
    if drawn_scalars:
        names = ", ".join(drawn_scalars)
        exc.hint = (f"{names} {'were' if len(drawn_scalars) > 1 else 'was'} drawn as "
                    f"{'scalars' if len(drawn_scalars) > 1 else 'a scalar'} (no --shape); "
                    "give shapes, e.g. --shape " + ",".join(f"{n}=2x2" for n in drawn_scalars)
                    + (f"; {exc.hint}" if exc.hint else ""))


# --- fit: the model ---------------------------------------------------------------------------

class ArrayModel(BoundLoss):
    """The loss graph with columns (scalars), bound vectors and parameters (arrays).

    A mini-batch runs as one batched pass (core/batched.py: the rows as a leading axis),
    in chunks of at most about CHUNK_ENTRIES entries; a graph with an op that has no batched
    rule (none of today's ops) runs row by row, and so does a chunk whose batched pass meets
    a value or gradient that is not finite, so that the row-by-row engine raises its error
    (naming the node) or applies its 0·∞ rule exactly as before. The loss of a batch is the
    mean of its rows' losses, added in row order; its gradient the sum of the rows'
    gradients (summed inside the pass, in another order: equal to rounding) over n."""

    def __init__(self, graph: Graph, columns: list[str], params: list[str],
                 predict: str | None, binds: Mapping[str, Sequence[str]]):
        super().__init__(graph, columns, params, predict)
        self.bind_index = [(name, [columns.index(c) for c in cols])
                           for name, cols in binds.items()]
        self._per_pass: int | None = None  # rows per batched pass; 0: row by row
        self._plan: batched.Plan | None = None

    def _point(self, theta: Sequence[Any], row: list[float]) -> dict[str, Array]:
        point = {p: np.asarray(w, dtype=float) for p, w in zip(self.params, theta)}
        for name, j in self.col_index:
            point[name] = np.asarray(row[j])
        for name, idx in self.bind_index:
            point[name] = np.array([row[j] for j in idx])
        return point

    def _batch_point(self, theta: Sequence[Any], table: Array) -> dict[str, Array]:
        point = {p: np.asarray(w, dtype=float)[None] for p, w in zip(self.params, theta)}
        for name, j in self.col_index:
            point[name] = table[:, j]
        for name, idx in self.bind_index:
            point[name] = table[:, idx]
        return point

    def _rows_per_pass(self, theta: Sequence[Any], row: list[float]) -> int:
        """How many rows one batched pass takes; 0: row by row. The first call runs one row
        through the row-by-row engine, which raises every shape error as it always has
        and decides each juxtaposition (2x, W x) once for all rows."""
        if not BATCHED:
            return 0
        if self._per_pass is None:
            values = forward(self.graph, self._point(theta, row))
            _loss_value(self.graph, values[self.graph.output])
            entries = sum(v.size for v in values)
            self._per_pass = 0 if batchable(self.graph) else max(1, CHUNK_ENTRIES // entries)
            if self._per_pass:
                self._plan = batched.Plan(self.graph)
        return self._per_pass

    def _chunks(self, theta: Sequence[Any], rows: list[list[float]]
                ) -> Iterator[tuple[list[list[float]], bool]]:
        per = self._rows_per_pass(theta, rows[0])
        if not per:
            yield rows, False
            return
        for lo in range(0, len(rows), per):
            yield rows[lo:lo + per], True

    def loss_grad(self, theta: Sequence[Any], rows: list[list[float]]
                  ) -> tuple[float, list[Array]]:
        total = 0.0
        grad: list[Array] = [np.zeros(np.shape(w)) for w in theta]
        for chunk, at_once in self._chunks(theta, rows):
            done = self._batch_grad(theta, chunk) if at_once else None
            if done is None:
                total, grad = self._rows_grad(theta, chunk, total, grad)
                continue
            losses, summed = done
            total = _add_in_order(total, losses)
            grad = [g + d for g, d in zip(grad, summed)]
        n = len(rows)
        return total / n, [g / n for g in grad]

    def _rows_grad(self, theta: Sequence[Any], rows: list[list[float]], total: float,
                   grad: list[Array]) -> tuple[float, list[Array]]:
        for row in rows:
            point = self._point(theta, row)
            values = forward(self.graph, point)
            total += _loss_value(self.graph, values[self.graph.output])
            run = backward(self.graph, values, ONE)
            current = [point[p] for p in self.params]
            for k, g in enumerate(_grads(run, self.param_ids, current)):
                grad[k] = grad[k] + g
        return total, grad

    def _batch_grad(self, theta: Sequence[Any], rows: list[list[float]]
                    ) -> tuple[Array, list[Array]] | None:
        assert self._plan is not None
        values = self._plan.forward(self._batch_point(theta, np.array(rows)))
        if values is None:
            return None
        losses = values[self.graph.output]
        if losses.shape != (len(rows),):  # a loss no row changes (lead 1): row by row
            return None
        upstream = self._plan.backward(values, np.ones(len(rows)))
        if upstream is None:
            return None
        grads = []
        for nid, w in zip(self.param_ids, theta):
            g = upstream[nid]
            grads.append(np.zeros(np.shape(w)) if g is None else g[0])
        return losses, grads

    def loss_acc(self, theta: Sequence[Any], rows: list[list[float]],
                 target: int | None) -> tuple[float, float | None]:
        total = 0.0
        right = 0
        scored = target is not None and self.predict_id is not None
        for chunk, at_once in self._chunks(theta, rows):
            values = self._plan.forward(self._batch_point(theta, np.array(chunk))) \
                if at_once and self._plan is not None else None
            n = len(chunk)
            losses = None if values is None else values[self.graph.output]
            guess = None if values is None or not scored else values[self.predict_id or 0]
            if losses is None or losses.shape != (n,) or (
                    guess is not None and guess.shape not in ((n,), (1,))):
                total, right = self._rows_acc(theta, chunk, target, total, right)
                continue
            total = _add_in_order(total, losses)
            if guess is not None:
                assert target is not None
                truth = np.array([row[target] for row in chunk]) >= 0.5
                right += int(np.sum((guess >= 0.5) == truth))
        return total / len(rows), (right / len(rows) if scored else None)

    def _rows_acc(self, theta: Sequence[Any], rows: list[list[float]], target: int | None,
                  total: float, right: int) -> tuple[float, int]:
        scored = target is not None and self.predict_id is not None
        for row in rows:
            values = forward(self.graph, self._point(theta, row))
            total += _loss_value(self.graph, values[self.graph.output])
            if scored:
                assert target is not None and self.predict_id is not None
                guess = values[self.predict_id]
                if guess.ndim:
                    raise InputError(f"--predict {self.graph.label(self.predict_id)} is "
                                     f"{describe(guess.shape)}; accuracy needs a scalar "
                                     "probability of class 1", where="--predict")
                right += bool(guess >= 0.5) == (row[target] >= 0.5)
        return total, right


def _add_in_order(total: float, values: Array) -> float:
    """total + values[0] + values[1] + ..., left to right as the row-by-row loop adds them
    (np.sum would add pairwise: another rounding)."""
    for v in values.tolist():
        total += v
    return total
