"""Answers for vectors and matrices: array literals in `--expect`, entry-by-entry matching
with shapes, and the backward pass told node by node for a wrong array gradient.

An array answer is checked entry by entry with the same rounding rules as a scalar answer
(each entry's own written decimals, or `--digits`). Its shape is checked first: the gradient
has the variable's shape, always, so a dW given as a vector of 4 for a 2×2 W is wrong as a
shape, whatever its numbers. numpy-free: a Result holds nested lists, and scalar jobs never
import numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .formatting import describe, entry
from .literals import ArrayLiteral

if TYPE_CHECKING:
    from .api import Result
    from .expect import Answer, AnswerCheck, AnswerTolerance

ARRAY_HINT = "write a vector as [0.2,0.4] and a matrix row by row as [[0.1,0.5],[-0.3,0.8]]"
MAX_ENTRIES_LISTED = 6  # wrong entries listed per answer (the rest are counted)
MAX_STEPS = 12  # backward steps told per wrong gradient; longer stories keep both ends
MAX_SHOWN = 8  # entries of an array printed in a message; --json has them all


@dataclass
class EntryCheck:
    """One entry of an array answer against the truth."""

    index: tuple[int, ...]
    written: str
    answer: float
    truth: float
    allowed: float
    rounding: str
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {"index": list(self.index), "written": self.written, "answer": self.answer,
                "truth": self.truth, "allowed": self.allowed, "rounding": self.rounding,
                "ok": self.ok}


# ---------------------------------------------------------------- shapes and formatting


def flatten(v: Any) -> tuple[list[float], tuple[int, ...]]:
    """A number, a vector (list) or a matrix (list of lists) -> row-major floats and shape."""
    if not isinstance(v, (list, tuple)):
        return [float(v)], ()
    if v and all(isinstance(r, (list, tuple)) for r in v):
        return [float(x) for r in v for x in r], (len(v), len(v[0]))
    return [float(x) for x in v], (len(v),)


def nest(flat: Sequence[Any], shape: Sequence[int]) -> Any:
    if not shape:
        return flat[0]
    if len(shape) == 1:
        return list(flat)
    cols = shape[1]
    return [list(flat[r * cols:(r + 1) * cols]) for r in range(shape[0])]


def index_of(k: int, shape: Sequence[int]) -> tuple[int, ...]:
    if len(shape) == 2:
        return divmod(k, shape[1])
    return (k,) if shape else ()


def fmt_array(v: Any, limit: int = MAX_SHOWN) -> str:
    """[0.44, 0.52] or [[0.088, 0.176], [0.104, 0.208]]; longer arrays abbreviated."""
    from .expect import fmt

    flat, shape = flatten(v)
    if not shape:
        return fmt(flat[0])
    if len(flat) > limit:
        head = ", ".join(fmt(x) for x in flat[:limit // 2])
        return f"{describe(shape)} [{head}, …]"
    if len(shape) == 1:
        return "[" + ", ".join(fmt(x) for x in flat) + "]"
    rows = nest(flat, shape)
    return "[" + ", ".join("[" + ", ".join(fmt(x) for x in row) + "]" for row in rows) + "]"


# ---------------------------------------------------------------- parsing answers


def literal_answer(key: str, text: str, *, where: str = "--expect", source: str | None = None,
                   offset: int = 0) -> Answer:
    """An array answer written in literal syntax, read with the grammar's `value` rule.

    ``text`` is the literal itself; ``source`` and ``offset`` place it in a longer option
    text, so that errors point into what the user typed.
    """
    from .expect import Answer, written_decimals
    from .parse import parse_number, parse_value

    full = text if source is None else source
    try:
        lit = parse_value(text, where)
    except InputError as exc:
        raise _shifted(exc, full, offset, where) from None
    if not isinstance(lit, ArrayLiteral):
        raise InputError(f"the answer for '{key}' is not an array", where=where,
                         hint=ARRAY_HINT)
    entries: list[Answer] = []
    for r, row in enumerate(lit.rows):
        for c, (tok, start, end) in enumerate(row):
            idx = (c,) if lit.ndim == 1 else (r, c)
            value, _ = parse_number(tok, source=full, pos=start + offset, end=end + offset,
                                    where=where)
            entries.append(Answer(key + entry(idx), value, tok, written_decimals(tok)))
    # Each entry exactly as written; the brackets and commas spaced evenly, for tables.
    written = fmt_written([e.written for e in entries], lit.shape)
    return Answer(key, math.nan, written, None, lit.shape, tuple(entries))


def _shifted(exc: InputError, source: str, offset: int, where: str) -> InputError:
    syntax = "syntax error" in exc.message
    return InputError(exc.message, source=source,
                      pos=None if exc.pos is None else exc.pos + offset,
                      end=None if exc.end is None else exc.end + offset, where=where,
                      hint=ARRAY_HINT if syntax else exc.hint)


def literal_end(text: str, pos: int) -> int:
    """Where the array literal starting with '[' at ``pos`` ends: after its matching ']', or
    the end of the text (then the grammar reports what is missing)."""
    depth = 0
    for k in range(pos, len(text)):
        if text[k] == "[":
            depth += 1
        elif text[k] == "]":
            depth -= 1
            if depth == 0:
                return k + 1
    return len(text)


def python_answer(key: str, value: Any, where: str = "--expect") -> Answer:
    """A list or nested list (a TOML array, a JSON list, a numpy array) of numbers. Decimals
    and number strings keep their written decimals, entry by entry."""
    from .expect import Answer, answer

    if hasattr(value, "tolist"):
        value = value.tolist()
    bad = InputError(f"the answer for '{key}' must be a number, a vector or a matrix "
                     "(at most two levels of brackets)", where=where, hint=ARRAY_HINT)
    if not isinstance(value, (list, tuple)) or not value:
        raise bad
    if any(isinstance(v, (list, tuple)) for v in value):
        if not all(isinstance(v, (list, tuple)) and v for v in value):
            raise bad
        width = len(value[0])
        for k, row in enumerate(value):
            if len(row) != width:
                raise InputError(f"the answer for '{key}' is a ragged matrix: row {k + 1} has "
                                 f"{len(row)} entries, row 1 has {width}", where=where,
                                 hint="every row of a matrix needs the same number of entries")
        rows: list[Sequence[Any]] = list(value)
        shape: tuple[int, ...] = (len(value), width)
    else:
        rows = [value]
        shape = (len(value),)
    entries: list[Answer] = []
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            idx = (c,) if len(shape) == 1 else (r, c)
            if isinstance(v, (list, tuple, dict)) or v is None:
                raise bad
            entries.append(answer(key + entry(idx), v, where=where))
    written = fmt_written([e.written for e in entries], shape)
    return Answer(key, math.nan, written, None, shape, tuple(entries))


def fmt_written(parts: list[str], shape: tuple[int, ...]) -> str:
    rows = nest(parts, shape)
    if len(shape) == 1:
        return "[" + ", ".join(rows) + "]"
    return "[" + ", ".join("[" + ", ".join(r) + "]" for r in rows) + "]"


def is_array_value(v: Any) -> bool:
    """Whether an `expect`/`at` value given as data is an array (list, literal text, numpy)."""
    if isinstance(v, str):
        return v.lstrip().startswith("[")
    if isinstance(v, (Decimal, int, float)):
        return False
    return isinstance(v, (list, tuple)) or getattr(v, "ndim", 0) > 0


# ---------------------------------------------------------------- matching


def check_array(check: AnswerCheck, a: Answer, truth: Any, shape: Sequence[int] | None,
                tol: AnswerTolerance) -> None:
    """Fill ``check`` (built by match_answers) for an array quantity or an array answer."""
    from .expect import _allowance

    flat, tshape = flatten(truth)
    if shape is not None and tuple(shape) != tshape and len(flat) == 1:
        # A node that needs a gradient but received none has the scalar 0 as its upstream.
        tshape = tuple(shape)
        flat = flat * math.prod(tshape)
        truth = nest(flat, tshape)
    if a.shape is None:
        ans_flat: list[float] = [a.value]
        ashape: tuple[int, ...] = ()
        entries: Sequence[Answer] = (a,)
    else:
        ans_flat = [e.value for e in a.entries]
        ashape = a.shape
        entries = a.entries
    check.truth = truth
    check.answer = nest(ans_flat, ashape) if ashape else a.value
    check.shape = list(tshape)
    check.answer_shape = list(ashape)
    if ashape != tshape:
        check.ok = False
        check.allowed = 0.0
        check.rounding = "–"
        check.hints += _shape_hints(ans_flat, ashape, flat, tshape, entries, tol)
        return
    results: list[EntryCheck] = []
    for k, (e, t) in enumerate(zip(entries, flat)):
        allowed, rounding, _ = _allowance(e, t, tol)
        results.append(EntryCheck(index_of(k, tshape), e.written, e.value, t, allowed,
                                  rounding, abs(e.value - t) <= allowed))
    check.entries = results
    check.ok = all(r.ok for r in results)
    check.allowed = max(r.allowed for r in results)
    kinds = {r.rounding for r in results}
    check.rounding = kinds.pop() if len(kinds) == 1 else "as written, entry by entry"
    if not check.ok:
        check.hints += _entry_hints(results, tshape)


def _close(xs: Sequence[float], ys: Sequence[float], entries: Sequence[Answer],
           tol: AnswerTolerance) -> bool:
    from .expect import _allowance

    return all(abs(x - y) <= _allowance(e, y, tol)[0] for x, y, e in zip(xs, ys, entries))


def _shape_hints(ans: list[float], ashape: tuple[int, ...], truth: list[float],
                 tshape: tuple[int, ...], entries: Sequence[Answer],
                 tol: AnswerTolerance) -> list[str]:
    hints: list[str] = []
    if len(ashape) == 2 and len(tshape) == 2 and ashape == tshape[::-1]:
        transposed = [truth[c * tshape[1] + r] for r in range(ashape[0])
                      for c in range(ashape[1])]
        if _close(ans, transposed, entries, tol):
            hints.append("your answer is the transpose of the correct one (an outer product "
                         "taken the wrong way round: u vᵀ and v uᵀ are each other's transpose)")
            return hints
    if len(ans) == len(truth) and len(ans) > 1 and _close(ans, truth, entries, tol):
        hints.append(f"the numbers are right, in row-major order: write them as "
                     f"{describe(tshape)}")
    return hints


def _entry_hints(results: list[EntryCheck], shape: tuple[int, ...]) -> list[str]:
    truth = [r.truth for r in results]
    ans = [r.answer for r in results]
    if any(t != 0 for t in truth) and all(abs(a + t) <= r.allowed
                                           for a, t, r in zip(ans, truth, results)):
        return ["the sign is flipped in every entry"]
    if len(shape) == 2 and shape[0] == shape[1] and shape[0] > 1:
        n = shape[0]
        if all(abs(ans[r * n + c] - truth[c * n + r]) <= results[r * n + c].allowed
               for r in range(n) for c in range(n)):
            return ["your answer is the transpose of the correct one (an outer product "
                    "taken the wrong way round: u vᵀ and v uᵀ are each other's transpose)"]
    pairs = [(a, t) for a, t in zip(ans, truth) if t != 0]
    if len(pairs) > 1 and all(abs(a) > 0 for a, _ in pairs):
        ratios = [a / t for a, t in pairs]
        r0 = ratios[0]
        if abs(r0 - 1) > 1e-6 and all(abs(r - r0) <= 1e-3 * abs(r0) for r in ratios):
            return [f"every entry is {r0:.4g} × the correct one: a constant factor is off "
                    "(such as the 2 of a square, or the upstream gradient)"]
    return []


def verdict(check: AnswerCheck) -> str:
    """One line: what is wrong with an array answer (for the report table and JUnit)."""
    if check.shape != check.answer_shape:
        return (f"{check.key}: the shape is wrong: yours is {describe(check.answer_shape or [])}"
                f", but {_must(check)}")
    wrong = [e for e in check.entries if not e.ok]
    listed = "; ".join(f"{check.key}{entry(e.index)} answer {e.written}, correct "
                       f"{_fmt(e.truth)}" for e in wrong[:3])
    more = f"; … {len(wrong) - 3} more" if len(wrong) > 3 else ""
    return f"{check.key}: {len(wrong)} of {len(check.entries)} entries differ: {listed}{more}"


def _must(check: AnswerCheck) -> str:
    shape = describe(check.shape or [])
    if check.kind == "gradient" and check.target:
        return (f"{check.key} is {shape}, like {check.target}: the gradient has the variable's "
                "shape, always")
    return f"{check.quantity or check.key} is {shape}"


def details(check: AnswerCheck) -> list[str]:
    """The lines under an array mismatch: the shape, or the wrong entries one by one."""
    if check.shape != check.answer_shape:
        return [f"wrong shape: yours is {describe(check.answer_shape or [])}, but "
                f"{_must(check)}"]
    wrong = [e for e in check.entries if not e.ok]
    lines = [f"{check.key}{entry(e.index)}: yours {e.written}, correct {_fmt(e.truth)}"
             + ("" if e.rounding == "exact" else f" (±{e.allowed:.2g}, {e.rounding})")
             for e in wrong[:MAX_ENTRIES_LISTED]]
    if len(wrong) > MAX_ENTRIES_LISTED:
        lines.append(f"… and {len(wrong) - MAX_ENTRIES_LISTED} more wrong entries (see --json)")
    order = "[row,column], " if len(check.shape or []) == 2 else ""
    lines.append(f"{len(check.entries) - len(wrong)} of {len(check.entries)} entries match "
                 f"(indices {order}counting from 0)")
    return lines


def _fmt(v: float) -> str:
    from .expect import fmt

    return fmt(v)


# ---------------------------------------------------------------- the backward story


def backward_story(result: Result, target: int, max_steps: int = MAX_STEPS) -> list[str]:
    """How the gradient at ``target`` comes about in an array job: from the output back, each
    node's upstream gradient and the vector-Jacobian product it sends to its input (the op
    table's formula where it has one, else upstream ⊙ local entry by entry). Iterative."""
    from .expect import _Keys

    graph = result.graph
    nodes = graph.nodes
    records = result.nodes
    keys = _Keys(result)
    out = graph.output
    top = "L" if _seed_given(result) else keys.out_name

    def d(nid: int) -> str:
        return f"d{keys.label(nid)}"

    head = (f"d{keys.label(target)} means d{top}/d{keys.label(target)}; from the output back, "
            "each node sends upstream × local to its inputs:")
    seed = records[out].upstream
    if _seed_given(result):
        start = f"d{top}/d{keys.out_name} = {fmt_array(seed)} (the upstream given)"
    else:
        start = f"d{top}/d{top} = 1 (the backward pass starts with 1)"
    if target == out:
        return [start]
    reach = [False] * len(nodes)
    reach[target] = True
    for node in nodes[target + 1:]:
        reach[node.id] = any(reach[j] for j in node.inputs)
    if not reach[out]:
        return [f"{d(target)} = 0: {keys.out_name} does not depend on {keys.label(target)}"]
    uses = graph.consumers()
    steps: list[str] = []
    for node in reversed(nodes[target + 1:]):
        if not reach[node.id] or not node.inputs:
            continue
        rec = records[node.id]
        for pos, j in enumerate(node.inputs):
            if not reach[j] or rec.downstream is None or pos >= len(rec.downstream):
                continue
            steps.append(_step(result, node.id, pos, d))
    lines = [head, "  " + start]
    if len(steps) > max_steps:
        keep = max_steps // 2
        steps = [*steps[:keep], f"… {len(steps) - 2 * keep:,} more steps …", *steps[-keep:]]
    lines += ["  " + s for s in steps]
    branches = [c for c, _ in uses[target] if reach[c]]
    if len(branches) > 1:
        lines.append(f"  {d(target)} = the sum of its {len(branches)} branches (fan-out: the "
                     f"branches add) = {fmt_array(records[target].upstream)}")
    return lines


def _seed_given(result: Result) -> bool:
    seed = result.seed
    return isinstance(seed, list) or seed != 1.0


def _step(result: Result, nid: int, pos: int, d: Any) -> str:
    graph = result.graph
    node = graph.nodes[nid]
    rec = result.nodes[nid]
    j = node.inputs[pos]
    up = rec.upstream
    down = rec.downstream[pos] if rec.downstream is not None else None
    expr = rec.expression if len(rec.expression) <= 40 else rec.expression[:37] + "..."
    label = d(nid)[1:]  # the output goes by its name (f), not #id
    at = f"at {label} = {expr}" if label != rec.expression else f"at {label}"
    slot = f"[{pos + 1}]" if node.inputs.count(j) > 1 else ""
    target = f"{d(j)}{slot}"
    loc = rec.local[pos] if rec.local is not None and pos < len(rec.local) else None
    if isinstance(loc, str) or loc is None:
        labels = [graph.label(k) for k in node.inputs]
        formula = (node.op.implicit[pos].format(*labels) if pos < len(node.op.implicit)
                   else "the op's vector-Jacobian product")
        formula = formula.replace("upstream", d(nid))
        return (f"{at} ({node.op.name}): {target} = {formula} = {fmt_array(down)}, "
                f"with {d(nid)} = {fmt_array(up)}")
    _, out_shape = flatten(rec.value)
    _, in_shape = flatten(result.nodes[j].value)
    times = "⊙" if out_shape else "×"
    product = f"{d(nid)} {times} local = {fmt_array(up)} {times} {fmt_array(loc)}"
    if in_shape != out_shape:  # a scalar broadcast over an array: its gradients add up
        product = f"Σ({product})"
    return f"{at} ({node.op.name}): {target} = {product} = {fmt_array(down)}"
