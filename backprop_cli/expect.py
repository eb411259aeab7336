"""Checking a person's answers: `--expect dx=-4,q=3`, rounding-aware matching, chain-rule paths.

The tool's own numbers (the forward values and backprop's gradients, themselves proven by
sympy and finite differences) are the truth; an answer is accepted when it lies within the
tolerance a hand-rounded answer deserves:

    |answer - truth| <= atol + rtol * |truth| + half a unit of the answer's last decimal

where "the answer's last decimal" is `--digits N` when given, else what the answer shows
(`0.20` has two decimals, so it stands for anything in [0.195, 0.205]); an answer written
without a decimal point (`-4`, `1e-3`) is taken as exact. For a gradient that does not match,
the chain rule is spelled out edge by edge along every path from the output down to the input,
so the student sees which local gradient or which missing branch went wrong.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from .errors import InputError
from .formatting import number
from .parse import parse_number

if TYPE_CHECKING:
    from .api import NodeRecord, Result
    from .expect_arrays import EntryCheck
    from .verify import Tolerance

ANSWER_RTOL = 1e-9  # float noise only: 0.1+0.2 is 0.3
ANSWER_ATOL = 1e-9
MAX_PATHS = 6  # chain-rule paths listed per mismatch (fan-out can make exponentially many)
MAX_FACTORS = 8  # longer paths are shown with their middle elided
_HALF_UNIT_SLACK = 1e-9  # 0.205 written as 0.20 or 0.21: both sit on the rounding boundary

_KEY = re.compile(r"[^\s=,;]+")
_SEP = re.compile(r"[\s,;]*")
_SPACE = re.compile(r"[ \t]*")


@dataclass(frozen=True)
class AnswerTolerance:
    """How close an answer must be. ``digits=None`` infers the rounding from each answer."""

    digits: int | None = None  # "my answers are rounded to N decimals"
    infer: bool = True  # without digits: 0.20 means "rounded to 2 decimals"
    rtol: float = ANSWER_RTOL
    atol: float = ANSWER_ATOL

    @classmethod
    def from_option(cls, digits: str | int | None, rtol: float = ANSWER_RTOL,
                    atol: float = ANSWER_ATOL, where: str = "--digits") -> AnswerTolerance:
        """``auto`` (infer, the default), ``exact`` (rtol/atol only) or a number of decimals."""
        if digits is None or digits == "auto":
            return cls(None, True, rtol, atol)
        if digits == "exact":
            return cls(None, False, rtol, atol)
        if isinstance(digits, str):
            digits = digits.strip()
            if not (digits.isascii() and digits.isdigit()):
                raise InputError(f"{where} must be a number of decimals, 'auto' or 'exact', "
                                 f"not '{digits}'", where=where,
                                 hint="e.g. --digits 2 when your answers are rounded like 0.20")
            digits = int(digits)
        if isinstance(digits, bool) or not 0 <= digits <= 15:
            raise InputError(f"{where} must be a whole number from 0 to 15", where=where)
        return cls(digits, True, rtol, atol)

    def describe(self) -> str:
        if self.digits is not None:
            return f"rounded to {self.digits} decimals"
        return "rounding as written" if self.infer else "exact"


@dataclass(frozen=True)
class Answer:
    """One `key=number` of `--expect`, with the number as it was written."""

    key: str
    value: float
    written: str
    decimals: int | None  # decimals the writing shows; None: no decimal point (exact)
    # An array answer ([0.2,0.4]): its shape and its entries, row-major, each an Answer
    # with its own written decimals; ``value`` is then NaN (see expect_arrays.py).
    shape: tuple[int, ...] | None = None
    entries: tuple[Answer, ...] = ()


@dataclass
class AnswerCheck:
    """One answer against the truth. ``kind`` is "value" (forward) or "gradient" (upstream)."""

    key: str  # as the user wrote it: dx, q, value, df/dx
    kind: str
    target: str  # the node's label: x, q, #4, or the output's name
    answer: Any  # a float; nested lists for an array answer
    written: str
    truth: Any  # a float; nested lists for an array quantity
    allowed: float  # the largest |answer - truth| accepted
    rounding: str  # how the allowance came about: "2 decimals as written", "exact", ...
    ok: bool
    quantity: str = ""  # what the answer is, as the lecture writes it: df/dx, q, f
    explanation: list[str] = field(default_factory=list)  # chain rule or forward computation
    hints: list[str] = field(default_factory=list)  # likely slips: sign, a missing branch, ...
    # Arrays (an array quantity or an array answer; None for scalars): the correct shape,
    # the answer's shape ([] a scalar) and, when they agree, every entry's verdict.
    shape: list[int] | None = None
    answer_shape: list[int] | None = None
    entries: list[EntryCheck] = field(default_factory=list)

    @property
    def is_array(self) -> bool:
        return self.shape is not None

    @property
    def difference(self) -> Any:
        """answer - truth; for arrays entry by entry (None when the shapes differ)."""
        if not self.is_array:
            return self.answer - self.truth
        if self.shape != self.answer_shape:
            return None
        from .expect_arrays import nest

        return nest([e.answer - e.truth for e in self.entries], self.shape or [])

    def verdict(self) -> str:
        """One line for reports: yours, the correct value, and for arrays what differs."""
        if self.is_array:
            from .expect_arrays import verdict

            return verdict(self)
        return f"{self.key}: answer {self.written}, correct {fmt(self.truth)}"

    def to_dict(self) -> dict[str, Any]:
        doc = {"key": self.key, "kind": self.kind, "target": self.target,
               "answer": self.answer, "written": self.written, "truth": self.truth,
               "difference": self.difference, "allowed": self.allowed,
               "rounding": self.rounding, "ok": self.ok, "quantity": self.quantity,
               "explanation": self.explanation, "hints": self.hints}
        if self.is_array:
            doc["shape"] = self.shape
            doc["answer_shape"] = self.answer_shape
            doc["entries"] = [e.to_dict() for e in self.entries]
        return doc


@dataclass
class Answers:
    """Every answer's verdict; what `check_answers` returns and `--expect` prints."""

    checks: list[AnswerCheck]
    tolerance: AnswerTolerance
    result: Result | None = None  # the evaluation the answers were checked against

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def mismatches(self) -> list[AnswerCheck]:
        return [c for c in self.checks if not c.ok]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "tolerance": self.tolerance.describe(),
                "checks": [c.to_dict() for c in self.checks]}


# ---------------------------------------------------------------- parsing


def parse_expect(texts: str | Iterable[str], where: str = "--expect") -> list[Answer]:
    """`dx=-4,dy=-4 value=-12` (commas, semicolons or spaces; the option may repeat);
    arrays as `dx=[-0.112,0.636]` or `dW=[[0.088,0.176],[0.104,0.208]]`."""
    if isinstance(texts, str):
        texts = [texts]
    answers: list[Answer] = []
    seen: set[str] = set()
    for text in texts:
        if not text.strip():
            raise InputError(f"{where} is empty", where=where,
                             hint="write it as --expect dx=-4,dy=-4,value=-12")
        pos = _SEP.match(text, 0).end()  # type: ignore[union-attr]
        while pos < len(text):
            key_m = _KEY.match(text, pos)
            if key_m is None:  # only '=' stops both _SEP and _KEY
                raise InputError(f"{where} has a value without a name", source=text, pos=pos,
                                 where=where, hint="write name=number, e.g. dx=-4")
            eq = _SPACE.match(text, key_m.end()).end()  # type: ignore[union-attr]
            if eq >= len(text) or text[eq] != "=":
                raise InputError(f"'{key_m.group()}' in {where} has no value", source=text,
                                 pos=key_m.start(), end=key_m.end(), where=where,
                                 hint="write name=number, e.g. dx=-4")
            key = key_m.group()
            at = _SPACE.match(text, eq + 1).end()  # type: ignore[union-attr]
            if text.startswith("[", at):  # an array: the grammar's `value` rule reads it
                from .expect_arrays import literal_answer, literal_end

                if key in seen:
                    raise InputError(f"{where} gives '{key}' twice", source=text,
                                     pos=key_m.start(), end=key_m.end(), where=where,
                                     hint="give each answer once")
                seen.add(key)
                end = literal_end(text, at)
                answers.append(literal_answer(key, text[at:end], where=where, source=text,
                                              offset=at))
                pos = _SEP.match(text, end).end()  # type: ignore[union-attr]
                continue
            num_m = _KEY.match(text, at)
            if num_m is None:
                raise InputError(f"'{key}' in {where} has no value", source=text,
                                 pos=eq, where=where, hint="write name=number, e.g. dx=-4")
            if key in seen:
                raise InputError(f"{where} gives '{key}' twice", source=text, pos=key_m.start(),
                                 end=key_m.end(), where=where, hint="give each answer once")
            seen.add(key)
            answers.append(answer(key, num_m.group(), where=where, source=text,
                                  pos=num_m.start()))
            pos = _SEP.match(text, num_m.end()).end()  # type: ignore[union-attr]
    return answers


def answer(key: str, number: Any, *, where: str = "--expect",
           source: str | None = None, pos: int = 0) -> Answer:
    """One answer. Text and Decimal keep their written decimals; int and float are exact.
    A list, nested list, numpy array or `[...]` text is an array answer."""
    from .expect_arrays import is_array_value

    if is_array_value(number):
        from .expect_arrays import literal_answer, python_answer

        if isinstance(number, str):
            return literal_answer(key, number.strip(), where=where)
        return python_answer(key, number, where=where)
    if isinstance(number, bool):
        raise InputError(f"the answer for '{key}' must be a number, not a boolean", where=where)
    if isinstance(number, (int, float)):
        value = float(number)
        if not math.isfinite(value):
            raise InputError(f"the answer for '{key}' is not a finite number", where=where)
        return Answer(key, value, repr(number), None)
    written = str(number)
    value, _ = parse_number(written, source=source if source is not None else written,
                            pos=pos, end=pos + len(written), where=where)
    return Answer(key, value, written, written_decimals(written))


def written_decimals(written: str) -> int | None:
    """Decimals an answer shows: 0.20 -> 2, 1.5e-3 -> 4, 2.5e3 -> -2; -4 and 1e-3 -> None."""
    mantissa = written.lower().split("e")[0]
    if "." not in mantissa:
        return None
    try:
        exponent = Decimal(written).as_tuple().exponent
    except InvalidOperation:
        return None
    return -exponent if isinstance(exponent, int) else None


def answers_from(expect: Mapping[str, Any] | str | Iterable[str],
                 where: str = "--expect") -> list[Answer]:
    """Answers from a mapping ({"dx": -4, "dw0": "-0.20", "dW": [[0.1, 0.2], [0.3, 0.4]]})
    or `--expect` text."""
    if isinstance(expect, Mapping):
        return [answer(str(k), v, where=where) for k, v in expect.items()]
    return parse_expect(expect, where=where)


# ---------------------------------------------------------------- matching


def match_answers(result: Result, expect: Mapping[str, Any] | str | Iterable[str],
                  tolerance: AnswerTolerance | None = None) -> Answers:
    """Compare answers with an evaluated Result. Unknown names raise InputError (exit 2)."""
    tolerance = tolerance or AnswerTolerance()
    given = answers_from(expect)
    if result.value is None:
        raise InputError("--expect needs a point to compare at", where="--expect",
                         hint="give the input values with --at")
    keys = _Keys(result)
    checks: list[AnswerCheck] = []
    targets_seen: dict[tuple[str, int], str] = {}
    for a in given:
        kind, nid = keys.resolve(a.key)
        earlier = targets_seen.get((kind, nid))
        if earlier is not None:
            raise InputError(f"--expect gives '{a.key}' and '{earlier}', which are the same "
                             "answer", where="--expect", hint="give each answer once")
        targets_seen[(kind, nid)] = a.key
        rec = result.nodes[nid]
        truth = rec.value if kind == "value" else rec.upstream
        assert truth is not None
        top = "L" if result.seed != 1.0 else keys.out_name
        quantity = keys.label(nid) if kind == "value" else f"d{top}/d{keys.label(nid)}"
        array_job = rec.shape is not None  # the array engine ran (arrays.py)
        if isinstance(truth, list) or a.shape is not None or (array_job and rec.shape):
            checks.append(_array_check(result, nid, kind, a, truth, quantity, keys,
                                       tolerance))
            continue
        allowed, rounding, decimals = _allowance(a, truth, tolerance)
        ok = abs(a.value - truth) <= allowed
        check = AnswerCheck(a.key, kind, keys.label(nid), a.value, a.written, truth, allowed,
                            rounding, ok, quantity)
        if not ok and kind == "gradient" and array_job:
            # Local gradients of an array job are arrays or formulas, not path products.
            from .expect_arrays import backward_story

            check.explanation = backward_story(result, nid)
            if truth != 0 and abs(a.value + truth) <= allowed:
                check.hints.append("the sign is flipped")
        elif not ok:
            if kind == "gradient":
                check.explanation, products = chain_rule(result, nid)
                check.hints = _gradient_hints(a.value, truth, products, result.seed,
                                              allowed)
                check.hints += _swap_hint(result, nid, a.value, allowed)
            else:
                check.explanation = [forward_story(result, nid)]
                if truth != 0 and abs(a.value + truth) <= allowed:
                    check.hints.append("the sign is flipped")
            if decimals is not None and decimals >= 0 and not check.hints \
                    and abs(a.value - truth) < 1.5 * 10.0 ** -decimals:
                check.hints.append(f"{fmt(truth)} rounds to {truth:.{decimals}f} at {decimals} "
                                   "decimals (round to nearest rather than cut off)")
        checks.append(check)
    return Answers(checks, tolerance, result)


def _array_check(result: Result, nid: int, kind: str, a: Answer, truth: Any, quantity: str,
                 keys: _Keys, tolerance: AnswerTolerance) -> AnswerCheck:
    """An array quantity, or an array answer: shape first, then entry by entry."""
    from .expect_arrays import backward_story, check_array, details

    rec = result.nodes[nid]
    check = AnswerCheck(a.key, kind, keys.label(nid), a.value, a.written, truth, 0.0, "", False,
                        quantity)
    check_array(check, a, truth, rec.shape, tolerance)
    if not check.ok:
        if kind == "value":
            story = [forward_story(result, nid)]
        elif rec.shape is not None:
            story = backward_story(result, nid)
        else:  # an array answer for a scalar job's gradient
            story = chain_rule(result, nid)[0]
        check.explanation = details(check) + story
    return check


def _allowance(a: Answer, truth: float,
               tol: AnswerTolerance) -> tuple[float, str, int | None]:
    allowed = tol.atol + tol.rtol * abs(truth)
    decimals = tol.digits if tol.digits is not None else (a.decimals if tol.infer else None)
    if decimals is None:
        return allowed, "exact", None
    allowed += 0.5 * 10.0 ** (-decimals) * (1 + _HALF_UNIT_SLACK)
    how = f"--digits {decimals}" if tol.digits is not None else "as written"
    unit = "decimal" if decimals == 1 else "decimals"
    if decimals < 0:
        return allowed, f"rounded to {10 ** -decimals:g}s, {how}", decimals
    return allowed, f"{decimals} {unit}, {how}", decimals


class _Keys:
    """What `--expect` keys may name: value, a node (forward value), d<node> (gradient)."""

    def __init__(self, result: Result):
        self.result = result
        graph = result.graph
        self.output = graph.output
        self.out_name = result.output
        self.by_label: dict[str, int] = {rec.label: rec.id for rec in result.nodes}
        self.by_label.setdefault(self.out_name, self.output)

    def label(self, nid: int) -> str:
        return self.out_name if nid == self.output else self.result.nodes[nid].label

    def resolve(self, key: str) -> tuple[str, int]:
        if key == "value":
            return "value", self.output
        for prefix in (f"d{self.out_name}/d", f"∂{self.out_name}/∂", "d", "∂"):
            if key.startswith(prefix) and key[len(prefix):] in self.by_label:
                return "gradient", self.by_label[key[len(prefix):]]
        if key in self.by_label:
            return "value", self.by_label[key]
        raise self._unknown(key)

    def _unknown(self, key: str) -> InputError:
        names = [rec.label for rec in self.result.nodes if not rec.label.startswith("#")]
        valid = ["value", *names, *(f"d{n}" for n in names)]
        close = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        inputs = ", ".join(self.result.inputs) or "none"
        named = [n for n in self.result.graph.named]
        hint = (f"did you mean {close[0]}? " if close else "") + (
            f"inputs: {inputs}; intermediates: {', '.join(named) or 'none'}; "
            "write value for the output, q for a forward value, dq for a gradient")
        return InputError(f"--expect names '{key}', which is neither an input nor an "
                          "intermediate of the expression", where="--expect", hint=hint)


# ---------------------------------------------------------------- explanations


def chain_rule(result: Result, target: int, max_paths: int = MAX_PATHS,
               max_factors: int = MAX_FACTORS) -> tuple[list[str], list[float]]:
    """The chain rule from the output down to ``target``, one line per path.

    Returns the lines and every listed path's product (for diagnosing a missed branch).
    Iterative: a 10,000-deep chain is one path of 10,000 factors, shown elided.
    """
    graph = result.graph
    nodes = graph.nodes
    records = result.nodes
    out = graph.output
    keys = _Keys(result)
    truth = records[target].upstream
    seed = result.seed
    top = "L" if seed != 1.0 else keys.out_name
    head = f"d{top}/d{keys.label(target)}"
    if target == out:
        what = f"{head} = {fmt(seed)}" + (" (the upstream seed)" if seed != 1.0
                                          else " (the backward pass starts with 1)")
        return [what], [seed]

    # Which nodes depend on the target, and through how many paths (a DP in topological order).
    count = [0] * len(nodes)
    count[target] = 1
    for node in nodes[target + 1:]:
        count[node.id] = sum(count[j] for j in node.inputs)
    total = count[out]
    if total == 0:
        return [f"{head} = 0: {keys.out_name} does not depend on {keys.label(target)}"], []

    paths = _paths(graph, out, target, count, max_paths)
    lines: list[str] = []
    products: list[float] = []
    for edges in paths:
        names = [f"d{top}/d{keys.out_name}"] if seed != 1.0 else []
        values = [seed] if seed != 1.0 else []
        for consumer, pos in edges:
            inp = nodes[consumer].inputs[pos]
            slot = f"[{pos + 1}]" if nodes[consumer].inputs.count(inp) > 1 else ""
            names.append(f"d{keys.label(consumer)}/d{keys.label(inp)}{slot}")
            local = records[consumer].local
            values.append(local[pos] if local is not None else math.nan)
        product = math.prod(values)
        products.append(product)
        line = " * ".join(_elide(names, max_factors)) + " = " + " * ".join(
            _elide([_factor(v) for v in values], max_factors))
        lines.append(line + (f" = {fmt(product)}" if len(values) > 1 else ""))
    if total == 1:
        if len(paths[0]) == 1 and seed == 1.0:
            via = keys.label(paths[0][0][0])
            return [f"{head} = {fmt(products[0])}: {keys.label(target)} feeds {via} "
                    f"directly, so this is {via}'s local gradient"], products
        return [f"{head} = {lines[0]}"], products
    out_lines = [f"{head} = sum over {total:,} paths (fan-out: the branches add) = {fmt(truth)}"]
    out_lines += [f"  path {k + 1}: {line}" for k, line in enumerate(lines)]
    if total > len(paths):
        out_lines.append(f"  ... and {total - len(paths):,} more paths, not listed")
    return out_lines, products


def _paths(graph: Any, out: int, target: int, count: list[int],
           max_paths: int) -> list[list[tuple[int, int]]]:
    """Up to max_paths paths output -> target as (consumer, input position) edges; iterative."""
    nodes = graph.nodes
    found: list[list[tuple[int, int]]] = []
    edges: list[tuple[int, int]] = []
    stack: list[list[int]] = [[out, 0]]  # node, next input position to try
    while stack and len(found) < max_paths:
        frame = stack[-1]
        nid, k = frame
        if nid == target:
            found.append(list(edges))
            stack.pop()
            if edges:
                edges.pop()
            continue
        inputs = nodes[nid].inputs
        while k < len(inputs) and count[inputs[k]] == 0:
            k += 1
        if k >= len(inputs):
            stack.pop()
            if edges:
                edges.pop()
            continue
        frame[1] = k + 1
        edges.append((nid, k))
        stack.append([inputs[k], 0])
    return found


def _elide(parts: list[str], limit: int) -> list[str]:
    if len(parts) <= limit:
        return parts
    keep = limit // 2
    return [*parts[:keep], f"... ({len(parts) - 2 * keep:,} more) ...", *parts[-keep:]]


def _factor(v: float) -> str:
    s = fmt(v)
    return f"({s})" if s.startswith("-") else s


def forward_story(result: Result, nid: int) -> str:
    """`q = x+y = 3, with x = -2, y = 5`: how a forward value comes about."""
    rec: NodeRecord = result.nodes[nid]
    label = _Keys(result).label(nid)
    line = f"{label} = {rec.expression} = {fmt(rec.value)}"
    if rec.op == "var":
        return f"{label} = {fmt(rec.value)} (an input: its value is given by --at)"
    shown = [f"{name} = {fmt(result.nodes[j].value)}"
             for name, j, const in zip(rec.inputs, result.graph.nodes[nid].inputs,
                                       rec.input_is_const) if not const]
    if shown and rec.expression != label:
        line += ", with " + ", ".join(dict.fromkeys(shown))
    return line


def _gradient_hints(answer: float, truth: float, products: list[float], seed: float,
                    allowed: float) -> list[str]:
    hints: list[str] = []
    if truth != 0 and abs(answer + truth) <= allowed:
        hints.append("the sign is flipped")
    if len(products) > 1:
        for k, p in enumerate(products):
            if abs(answer - p) <= allowed:
                hints.append(f"your answer is path {k + 1} alone: where a value is used more "
                             "than once, the gradients of its branches add")
                break
            if abs(answer - (truth - p)) <= allowed and p != 0:
                hints.append(f"your answer leaves out path {k + 1}: where a value is used "
                             "more than once, every branch's gradient is added")
                break
    if seed not in (0.0, 1.0) and abs(answer * seed - truth) <= allowed * max(1.0, abs(seed)):
        hints.append(f"your answer leaves out the upstream seed {fmt(seed)}")
    return hints


def _swap_hint(result: Result, target: int, answer: float, allowed: float) -> list[str]:
    """A swap gate's (mul's) local gradient is the *other* input: spot an answer that used
    this one."""
    graph = result.graph
    for consumer, pos in graph.consumers()[target]:
        node = graph.nodes[consumer]
        if not node.op.swaps or len(graph.consumers()[target]) != 1:
            continue
        up = result.nodes[consumer].upstream
        own = result.nodes[target].value
        if up is not None and own is not None and up * own != 0 \
                and abs(answer - up * own) <= allowed:
            other = result.nodes[node.inputs[1 - pos]].label
            return [f"a {node.op.name} gate swaps: the local gradient with respect to "
                    f"{_Keys(result).label(target)} is the other input, {other}"]
    return []


def fmt(v: Any) -> str:
    """Six significant digits, as the node table prints them. Arrays differ from the table
    on purpose: on one line with a few entries, to fit in a sentence (expect_arrays.py)."""
    if isinstance(v, (list, tuple)):
        from .expect_arrays import fmt_array

        return fmt_array(v)
    return number(v)


# ---------------------------------------------------------------- the API


def check_answers(expression: str, at: Mapping[str, float | str] | str | Iterable[str],
                  expect: Mapping[str, Any] | str | Iterable[str], *,
                  digits: int | str | None = None, rtol: float = ANSWER_RTOL,
                  atol: float = ANSWER_ATOL, upstream: float | str | Any = 1.0,
                  check: Iterable[str] = ("sympy", "numeric"),
                  tolerance: Tolerance | None = None) -> Answers:
    """Evaluate ``expression`` at ``at`` and compare ``expect`` with it.

    ``expect`` maps keys to answers: ``value`` (the output), ``q`` (a forward value), ``dx``
    or ``dq`` (a gradient). Strings and Decimals keep their written decimals ("0.20" means
    rounded to two), ints and floats are exact unless ``digits`` says how they were rounded.
    ``answers.result`` is the full evaluation (``answers.result.ok``: the tool's own checks).
    """
    from .api import evaluate

    tol = AnswerTolerance.from_option(digits, rtol, atol, where="digits")
    result = evaluate(expression, at, upstream=upstream, check=check, tolerance=tolerance)
    return match_answers(result, expect, tol)
