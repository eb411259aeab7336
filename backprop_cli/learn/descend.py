"""Gradient descent on one expression: the graph is parsed once, then forward and backward
run on it at every step. Returns the whole trajectory as plain data.

    >>> from backprop_cli.descend import descend
    >>> run = descend("(w-3)^2", {"w": 0}, lr=0.1, steps=200)
    >>> run.status, round(run.final["w"], 6)
    ('converged', 3.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.engine import backward, forward
from ..core.errors import DomainError, ExitStatus, InputError
from ..core.formatting import number, rounded
from ..core.graph import Graph
from ..core.literals import ArrayValue
from ..core.parse import parse
from ..core.point import match
from .common import start_point
from .optim import Optimizer, Penalty, Schedule, finite, make_optimizer, norm, parse_decay

# A loss this many times (at least 1) above (below) where it started is taken to grow (fall)
# without bound.
GROWTH_LIMIT = 1e6
# The trajectory keeps at most 2 * TRAJECTORY_KEEP steps: a longer run keeps every
# ``stride``-th step (the stride doubles as it grows) and always the last one, so that
# 3,000,000 steps cost kilobytes, not gigabytes. Tables, curves and --json read these.
TRAJECTORY_KEEP = 1000

Progress = Callable[[int, int], None]  # (done, total)


@dataclass
class Step:
    """One row of the trajectory: where we stand at step t, before the t-th update."""

    step: int
    lr: float  # eta_t, the rate the update from here uses
    loss: float  # the expression's value, plus the penalty when --l1/--l2 are given
    grad_norm: float
    params: dict[str, Any]  # floats; nested lists for vector/matrix parameters

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "lr": self.lr, "loss": self.loss,
                "grad_norm": self.grad_norm, "params": self.params}


@dataclass
class Descent:
    """What `descend` returns and every renderer reads."""

    expression: str
    wrt: list[str]
    fixed: dict[str, Any]
    optimizer: str
    hyper: dict[str, float]
    schedule: Schedule
    penalty: Penalty
    tol: float
    steps: int
    trajectory: list[Step] = field(default_factory=list)
    stride: int = 1  # the trajectory holds the steps t with t % stride == 0, and the last
    status: str = "finished"  # converged | finished | diverged
    message: str = ""
    hint: str | None = None

    @property
    def final(self) -> dict[str, Any]:
        return dict(self.trajectory[-1].params) if self.trajectory else {}

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.CHECK_FAILED if self.status == "diverged" else ExitStatus.OK

    def to_dict(self) -> dict[str, Any]:
        last = self.trajectory[-1] if self.trajectory else None
        return {
            "expression": self.expression,
            "wrt": self.wrt,
            "fixed": self.fixed,
            "optimizer": {"name": self.optimizer, **self.hyper},
            "schedule": self.schedule.to_dict(),
            "penalty": {"l1": self.penalty.l1, "l2": self.penalty.l2},
            "tol": self.tol,
            "max_steps": self.steps,
            "status": self.status,
            "message": self.message,
            "hint": self.hint,
            "steps": last.step if last else 0,
            "final_loss": _finite(last.loss) if last else None,
            "final": self.final,
            "trajectory": [s.to_dict() for s in self.trajectory],
            "trajectory_stride": self.stride,
        }

    def record(self, step: Step, keep: int = TRAJECTORY_KEEP) -> None:
        """Add the newest step; past 2 * keep steps kept, keep every other one."""
        rows = self.trajectory
        if rows and rows[-1].step % self.stride:  # held only as the newest step
            rows.pop()
        rows.append(step)
        if len(rows) > 2 * keep:
            self.stride *= 2
            self.trajectory = [s for s in rows[:-1] if s.step % self.stride == 0] + rows[-1:]


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


class Objective:
    """f and its gradient over ``wrt`` at a point, by one forward and one backward pass."""

    def __init__(self, graph: Graph, fixed: Mapping[str, float], wrt: Sequence[str]):
        self.graph = graph
        self.point = dict(fixed)
        self.wrt = list(wrt)
        self.ids = [graph.variables[name] for name in self.wrt]

    def __call__(self, theta: Sequence[float]) -> tuple[float, list[float]]:
        point = self.point
        for name, w in zip(self.wrt, theta):
            point[name] = w
        values = forward(self.graph, point)
        run = backward(self.graph, values)
        return values[self.graph.output], [run.upstream[i] for i in self.ids]


def descend(expression: str | Graph, at: Mapping[str, Any] | str | Iterable[str], *,
            wrt: Iterable[str] | None = None, lr: float = 0.1, steps: int = 100,
            optimizer: str | Optimizer = "sgd", momentum: float = 0.9, beta1: float = 0.9,
            beta2: float = 0.999, eps: float = 1e-8, decay: str | Schedule | None = None,
            l1: float = 0.0, l2: float = 0.0, tol: float = 1e-6,
            progress: Progress | None = None) -> Descent:
    """Minimise ``expression`` over ``wrt`` (default: every input) starting from ``at``.

    Stops when the gradient norm falls to ``tol`` (status "converged"), after ``steps``
    updates ("finished"), or when the loss becomes inf/nan, leaves the function's domain or
    grows without bound ("diverged", with a hint). Bad input raises an InputError or, at the
    start point, a DomainError.
    """
    start = start_point(at)
    # e and pi are constants unless --at gives them a value
    graph = parse(expression, bound=start) if isinstance(expression, str) else expression
    match(graph, start)  # names only: for the scalar and the array objective alike
    names = _wrt(graph, wrt)
    if steps < 0:
        raise InputError("--steps must not be negative", where="--steps")
    if not (tol >= 0 and math.isfinite(tol)):
        raise InputError("--tol must be a non-negative number", where="--tol")
    penalty = Penalty.checked(l1, l2)
    schedule = decay if isinstance(decay, Schedule) else parse_decay(decay, lr)
    opt = optimizer if not isinstance(optimizer, str) else make_optimizer(
        optimizer, momentum=momentum, beta1=beta1, beta2=beta2, eps=eps)
    objective: Callable[[list[Any]], tuple[float, list[Any]]]
    theta: list[Any]
    if graph.uses_arrays() or any(isinstance(v, ArrayValue) for v in start.values()):
        from .array_model import ArrayObjective, snapshot  # vectors and matrices: numpy

        objective = ArrayObjective(graph, start, names)
        theta = objective.start()
        fixed = objective.fixed()
    else:
        objective = Objective(graph, start, names)
        theta = [start[n] for n in names]
        fixed = {k: v for k, v in start.items() if k not in names}

        def snapshot(names: Sequence[str], theta: Sequence[Any]) -> dict[str, Any]:
            return dict(zip(names, theta))
    run = Descent(graph.source, names, fixed, opt.name, opt.hyper(), schedule, penalty, tol,
                  steps)
    opt.reset(len(theta))

    def evaluate(at_theta: list[Any]) -> tuple[float, list[Any]]:
        loss, grad = objective(at_theta)
        if penalty:
            loss += penalty.value(at_theta)
            grad = [g + p for g, p in zip(grad, penalty.gradient(at_theta))]
        return loss, grad

    loss0 = 0.0
    for t in range(steps + 1):
        try:
            loss, grad = evaluate(theta)
        except DomainError as exc:
            if t == 0:
                raise  # the start point itself is bad input
            _diverged(run, f"at step {t} the expression left its domain: {exc.message}")
            break
        gnorm = norm(grad)
        if t == 0:
            loss0 = loss
        run.record(Step(t, schedule.rate(t), loss, gnorm, snapshot(names, theta)))
        if progress is not None:
            progress(t, steps)
        if not (math.isfinite(loss) and math.isfinite(gnorm)):
            _diverged(run, f"at step {t} the loss or its gradient is not finite")
            break
        if loss - loss0 > GROWTH_LIMIT * max(1.0, abs(loss0)):
            _diverged(run, f"at step {t} the loss has grown from {number(loss0)} to {number(loss)}")
            break
        if loss0 - loss > GROWTH_LIMIT * max(1.0, abs(loss0)):
            _diverged(run, f"at step {t} the loss has fallen from {number(loss0)} to "
                      f"{number(loss)}")
            break
        if gnorm <= tol:
            run.status = "converged"
            run.message = (f"converged at step {t}: gradient norm {rounded(gnorm, 3)} "
                           f"<= --tol {tol:g}")
            break
        if t == steps:
            run.message = (f"finished {steps} steps; gradient norm {rounded(gnorm, 3)} is "
                           f"still above --tol {tol:g}")
            break
        probe = opt.lookahead(theta)
        if probe is not None:
            try:
                _, grad = evaluate(probe)
            except DomainError as exc:
                _diverged(run, f"at step {t} the look-ahead point left the domain: "
                          f"{exc.message}")
                break
        theta = opt.update(theta, grad, schedule.rate(t))
        if not finite(theta):
            _diverged(run, f"at step {t + 1} a parameter overflowed")
            break
    return run


def _diverged(run: Descent, what: str) -> None:
    run.status = "diverged"
    rows = run.trajectory
    falling = len(rows) > 1 and math.isfinite(rows[-1].loss) and rows[-1].loss < rows[0].loss
    if falling:
        run.message = f"diverged: {what}; the loss keeps falling"
        run.hint = ("the expression may have no minimum (it is unbounded below); "
                    "minimise a function that has one, or add --l2")
    else:
        eta = run.schedule.eta0
        run.message = f"diverged: {what}"
        run.hint = (f"the learning rate is too big for this function: lower --lr "
                    f"(try {eta / 10:g}), or add --decay")


def _wrt(graph: Graph, wrt: Iterable[str] | None) -> list[str]:
    if not graph.variables:
        raise InputError("the expression has no variables: there is nothing to optimise",
                         where="expression", hint="e.g. backprop descend \"(w-3)^2\" --at w=0")
    if wrt is None:
        return list(graph.variables)
    names = list(dict.fromkeys(wrt))
    if not names:
        raise InputError("--wrt names no variable", where="--wrt", hint="e.g. --wrt w0,w1")
    for w in names:
        if w not in graph.variables:
            import difflib

            close = difflib.get_close_matches(w, list(graph.variables), n=1)
            hint = f"did you mean {close[0]}?" if close else (
                "the expression's inputs are " + (", ".join(graph.variables) or "none"))
            if w in graph.named:
                hint = f"'{w}' is computed by the expression; only inputs can be optimised"
            raise InputError(f"--wrt names '{w}', which is not an input of the expression",
                             where="--wrt", hint=hint)
    return names
