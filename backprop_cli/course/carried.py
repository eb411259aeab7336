"""Error carried forward: which wrong answers follow from the student's own earlier answers.

The forward pass is rerun with the student's forward values in place of the true ones, and
the backward pass with their upstream gradients (local gradients taken at their values), by
the scalar engine's rules (floats) or the array engine's (numpy). A written answer is
rounded: `s = 0.73` at two decimals stands for any value in [0.725, 0.735], and a careful
student keeps full precision and rounds only when writing. So a later answer is consistent
with the earlier ones when it lies within the interval their rounding allows, not only
within its own rounding of what the rounded values give.

That interval is a linearised bound, made safe on both sides: each written entry is moved
alone by its half unit, up and down, and the larger of the two changes it causes in every
later answer is added up over the entries (a sum of absolute changes bounds any combination
of moves to first order; taking the larger side covers the curvature along each entry). The
neglected cross terms are products of two half units (2.5e-5 at two decimals); a margin of
RELATIVE_MARGIN on the spread covers them. The moves are independent reruns of a small
graph: two per written entry, at most MAX_MOVED entries (past that, only the rounded values
are used, as before).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..checks.answers import AnswerCheck

MAX_MOVED = 256  # written entries moved for the rounding interval (two reruns each)
RELATIVE_MARGIN = 0.05  # on the spread: the second-order terms a linear bound leaves out


@dataclass
class Carried:
    """A wrong answer that follows from the student's earlier answers."""

    key: str
    want: Any  # what their earlier answers give, as written (a float or nested lists)
    spread: Any  # half-width of what they give unrounded (0 where nothing was rounded)
    built_on: list[str] = field(default_factory=list)  # the earlier answers that change it
    wrong_before: list[str] = field(default_factory=list)  # of those, the wrong ones

    @property
    def widened(self) -> bool:
        """Whether the answer needed the earlier answers' rounding to be accepted."""
        import numpy as np

        return bool(np.any(np.asarray(self.spread, dtype=float) > 0))


def carried_answers(result: Any, checks: dict[str, AnswerCheck]) -> dict[str, Carried]:
    """Every wrong answer of ``checks`` that lies within what the student's earlier written
    answers allow, with the answers it was built on."""
    from ..checks.answers import _Keys

    wrong = {k: c for k, c in checks.items() if not c.ok}
    if not wrong:
        return {}
    arrays = bool(getattr(result, "shapes", None)) or isinstance(result.seed, list) \
        or any(c.is_array for c in checks.values())
    resolve = _Keys(result).resolve
    theirs: dict[str, tuple[str, int, Any]] = {}
    for k, c in checks.items():
        if c.is_array and c.shape != c.answer_shape:
            continue  # a wrong shape: nothing can be computed from it
        kind, nid = resolve(k)
        theirs[k] = (kind, nid, _as_array(c) if arrays else float(c.answer))
    rules = _Arrays if arrays else _Numbers
    carried, used = _rerun(result, theirs, rules)
    # The rounding interval costs two reruns per written entry: only for a wrong answer
    # that the rounded values alone do not explain, and only over the answers it uses.
    need = [k for k in wrong if k in carried and used.get(k)
            and not _within(wrong[k], carried[k])]
    moved_keys = sorted({j for k in need for j in used[k]})
    spreads = _spreads(result, theirs, checks, carried, rules, moved_keys) if need else {}
    out: dict[str, Carried] = {}
    for k, c in wrong.items():
        if k not in carried or not used.get(k):
            continue
        want = carried[k]
        spread = spreads.get(k, 0.0)
        if not _within(c, want, spread=spread):
            continue
        # The earlier answers that change this one (a local gradient need not depend on
        # every value it was tainted by).
        moved = [j for j in used[k] if not _within(c, _rerun(result, {
            i: t for i, t in theirs.items() if i != j}, rules)[0].get(k, want),
            against=want)] or used[k]
        out[k] = Carried(k, _plain(want), _plain(spread), moved,
                         [j for j in moved if j in wrong])
    return out


# ---------------------------------------------------------------- the rounding interval


def _spreads(result: Any, theirs: dict[str, tuple[str, int, Any]],
             checks: dict[str, AnswerCheck], carried: dict[str, Any],
             rules: Any, keys: list[str]) -> dict[str, Any]:
    """Per answer, the half-width of the interval that the rounding of the written answers
    ``keys`` allows around ``carried`` (entry by entry for arrays): each written entry moved
    by its half unit, up and down, alone; the larger change summed over the entries."""
    import numpy as np

    moves = [(k, index, a) for k in keys if k in theirs for index, a in _halves(checks[k])]
    spreads = {k: np.zeros(np.shape(v)) for k, v in carried.items()}
    if not moves or len(moves) > MAX_MOVED:
        return {}
    base = {k: np.asarray(v, dtype=float) for k, v in carried.items()}
    for k, index, a in moves:
        kind, nid, value = theirs[k]
        worst = {key: np.zeros(np.shape(v)) for key, v in base.items()}
        for sign in (1.0, -1.0):
            moved = np.array(value, dtype=float)
            if moved.ndim:
                moved[index] += sign * a
            else:
                moved = moved + sign * a
            value_moved: Any = moved if moved.ndim or rules is _Arrays else float(moved)
            again, _ = _rerun(result, {**theirs, k: (kind, nid, value_moved)}, rules)
            for key, v in again.items():
                change = np.abs(np.asarray(v, dtype=float) - base[key])
                if change.shape != worst[key].shape:
                    continue
                # A move that breaks an op (a log's argument past 0) tells nothing here.
                worst[key] = np.maximum(worst[key], np.where(np.isfinite(change), change, 0))
        for key in spreads:
            spreads[key] = spreads[key] + worst[key]
    return {k: v * (1 + RELATIVE_MARGIN) for k, v in spreads.items()}


def _halves(c: AnswerCheck) -> list[tuple[Any, float]]:
    """(index, half unit) of every entry of an answer whose writing was rounded."""
    if not c.is_array:
        return [((), c.allowed)] if c.rounding != "exact" and c.allowed > 0 else []
    return [(e.index, e.allowed) for e in c.entries if e.rounding != "exact" and e.allowed > 0]


# ---------------------------------------------------------------- matching


def _as_array(c: AnswerCheck) -> Any:
    import numpy as np

    return np.asarray(c.answer, dtype=float).reshape(c.shape or ())


def _plain(x: Any) -> Any:
    return x.tolist() if hasattr(x, "tolist") else x


def _within(c: AnswerCheck, want: Any, against: Any = None, spread: Any = 0.0) -> bool:
    """Whether ``want`` is, within the answer's rounding allowance (widened by ``spread``,
    the earlier answers' own rounding), the student's answer (or ``against``): entry by
    entry for arrays, each entry with its own allowance."""
    import numpy as np

    if not c.is_array:
        one = float(c.answer) if against is None else float(against)
        return math.isfinite(float(want)) and \
            abs(one - float(want)) <= c.allowed + float(np.max(spread))
    got = np.asarray(want, dtype=float)
    ref = _as_array(c) if against is None else np.asarray(against, dtype=float)
    if got.shape != ref.shape or not np.all(np.isfinite(got)):
        return False
    wide = np.broadcast_to(np.asarray(spread, dtype=float), got.shape)
    if not c.entries:
        return bool(np.all(np.abs(got - ref) <= c.allowed + wide))
    return all(abs(float(ref[e.index]) - float(got[e.index]))
               <= e.allowed + float(wide[e.index]) for e in c.entries)


# ---------------------------------------------------------------- the rerun


class _Numbers:
    """The scalar engine's rules for _rerun: op.forward and op.local on floats."""

    @staticmethod
    def value(v: Any) -> Any:
        return float(v)

    @staticmethod
    def broken(v: Any) -> Any:
        return math.nan

    @staticmethod
    def forward(op: Any, ins: list[Any]) -> Any:
        return float(op.forward(*ins))

    @staticmethod
    def zero(v: Any) -> Any:
        return 0.0

    @staticmethod
    def seed(seed: Any, out: Any) -> Any:
        return float(seed)

    @staticmethod
    def down(op: Any, args: tuple[Any, ...], out: Any, up: Any) -> tuple[Any, ...]:
        return tuple(up * g for g in op.local(args, out))


class _Arrays:
    """The array engine's rules for _rerun: np_forward and core/arrays.py's vjp."""

    @staticmethod
    def value(v: Any) -> Any:
        import numpy as np

        return np.asarray(v, dtype=float)

    @staticmethod
    def broken(v: Any) -> Any:
        import numpy as np

        return np.full(np.shape(v), math.nan)

    @staticmethod
    def forward(op: Any, ins: list[Any]) -> Any:
        import numpy as np

        with np.errstate(all="ignore"):
            return np.asarray(op.np_forward(np, *ins), dtype=float)

    @staticmethod
    def zero(v: Any) -> Any:
        import numpy as np

        return np.zeros_like(v)

    @staticmethod
    def seed(seed: Any, out: Any) -> Any:
        import numpy as np

        return np.asarray(seed, dtype=float).reshape(np.shape(out))

    @staticmethod
    def down(op: Any, args: tuple[Any, ...], out: Any, up: Any) -> tuple[Any, ...]:
        from ..core import arrays

        return tuple(arrays.vjp(op, args, out, up))


# The student's answers can make any op fail (a shape they broke, a log of a negative):
# such a node is NaN from there on, and nothing downstream of it is carried.
_BROKEN = (ValueError, TypeError, ArithmeticError, AssertionError)


def _rerun(result: Any, theirs: dict[str, tuple[str, int, Any]], rules: Any = _Numbers
           ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Forward and backward with the student's answers ``theirs`` (key -> kind, node, value)
    in place of the truth, by the scalar or the array engine's ``rules``. Returns, per
    answer, the value it would have had from the student's earlier answers, and which of
    them it was built on."""
    from ..core.ops import CONST, VAR

    graph = result.graph
    nodes = graph.nodes
    by_value = {nid: (k, v) for k, (kind, nid, v) in theirs.items() if kind == "value"}
    by_grad = {nid: (k, v) for k, (kind, nid, v) in theirs.items() if kind == "gradient"}
    values: list[Any] = [None] * len(nodes)
    carried: dict[str, Any] = {}
    used: dict[str, list[str]] = {}
    tainted: list[set[str]] = [set() for _ in nodes]
    for node in nodes:  # forward: each node from its inputs as the student had them
        nid = node.id
        if node.op is VAR or node.op is CONST:
            values[nid] = rules.value(result.nodes[nid].value)
            continue
        try:
            values[nid] = rules.forward(node.op, [values[j] for j in node.inputs])
        except _BROKEN:
            values[nid] = rules.broken(result.nodes[nid].value)
        tainted[nid] = set().union(*(tainted[j] for j in node.inputs))
        if nid in by_value:
            k, v = by_value[nid]
            carried[k], used[k] = values[nid], sorted(tainted[nid])
            values[nid] = v
            tainted[nid] = tainted[nid] | {k}
    # Backward: upstream x local, the local gradients taken at the student's values.
    up: list[Any] = [rules.zero(values[n.id]) for n in nodes]
    up_taint: list[set[str]] = [set() for _ in nodes]
    up[graph.output] = rules.seed(result.seed, values[graph.output])
    for node in reversed(nodes):
        nid = node.id
        if nid in by_grad:
            k, v = by_grad[nid]
            carried[k], used[k] = up[nid], sorted(up_taint[nid])
            up[nid] = v
            up_taint[nid] = up_taint[nid] | {k}
        if not node.inputs:
            continue
        args = tuple(values[j] for j in node.inputs)
        try:
            down = rules.down(node.op, args, values[nid], up[nid])
        except _BROKEN:
            down = tuple(rules.broken(a) for a in args)
        fwd = set().union(*(tainted[j] for j in node.inputs)) | tainted[nid]
        for j, d in zip(node.inputs, down):
            up[j] = up[j] + d
            up_taint[j] |= up_taint[nid] | fwd
    return carried, used
