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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, cast

from ..core.errors import BackpropError, InputError
from ..core.formatting import describe, entry, inline, rounded
from ..core.literals import ArrayLiteral
from ..core.numbers import parse_number
from ..core.ops import VAR

if TYPE_CHECKING:
    from ..core.result import NodeRecord, Result, Tolerance
    from .formula import ClaimCheck

ANSWER_RTOL = 1e-9  # float noise only: 0.1+0.2 is 0.3
ANSWER_ATOL = 1e-9
MAX_PATHS = 6  # chain-rule paths listed per mismatch (fan-out can make exponentially many)
MAX_FACTORS = 8  # longer paths are shown with their middle elided
SPOKEN_CHARS = 28  # an unnamed node's expression, when a message names it by that
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
            # Past 3 digits it is out of range anyway (and int() refuses 4,300 digits).
            digits = int(digits) if len(digits.lstrip("0")) <= 3 else 10**6
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
    # A formula answer (`dx = 2*x`: text that is neither a number nor an array literal):
    # checked at the point and in general by checks/formula.py; ``value`` is then NaN.
    formula: str | None = None


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
    # A formula answer: its verdict in general (checks/formula.py's ClaimCheck: proved,
    # holds at N points, differs) and whether it gives the right value at the point itself.
    formula: ClaimCheck | None = None
    at_point: bool | None = True  # None: no point was given (checked in general only)

    @property
    def is_array(self) -> bool:
        return self.shape is not None

    @property
    def difference(self) -> Any:
        """answer - truth; for arrays entry by entry (None when the shapes differ)."""
        if self.formula is not None:
            return None
        if not self.is_array:
            return self.answer - self.truth
        if self.shape != self.answer_shape:
            return None

        return nest([e.answer - e.truth for e in self.entries], self.shape or [])

    def verdict(self) -> str:
        """One line for reports: yours, the correct value, and for arrays what differs."""
        if self.formula is not None:
            return formula_verdict(self)
        if self.is_array:

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
        if self.formula is not None:  # the same fields as `backprop formula --json`
            doc["formula"] = self.formula.formula
            doc["at_point"] = self.at_point
            doc.update({k: v for k, v in self.formula.to_dict().items()
                        if k not in ("formula",)})
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

    def _repr_html_(self) -> str | None:  # Jupyter (views/notebook.py)
        from ..core.display import html

        return html("answers", self)

    def __repr__(self) -> str:
        """A few lines: how many match, then each answer's verdict (``to_dict()`` has all)."""
        from ..core.result import REPR_ITEMS, one_line

        n, bad = len(self.checks), len(self.mismatches)
        lines = [f"Answers: {n - bad} of {n} match ({self.tolerance.describe()})"]
        for c in self.checks[:REPR_ITEMS]:
            said = f"{c.key} = {c.written}" if c.ok else c.verdict()
            lines.append(f"  {'✓' if c.ok else '✗'} {one_line(said)}")
        if n > REPR_ITEMS:
            lines.append(f"  … and {n - REPR_ITEMS} more")
        return "\n".join(lines)

    __str__ = __repr__

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
            if _is_formula(num_m.group(), text, num_m.end()):
                end = formula_end(text, at)
                answers.append(Answer(key, math.nan, text[at:end], None,
                                      formula=text[at:end]))
                pos = _SEP.match(text, end).end()  # type: ignore[union-attr]
                continue
            answers.append(answer(key, num_m.group(), where=where, source=text,
                                  pos=num_m.start()))
            pos = _SEP.match(text, num_m.end()).end()  # type: ignore[union-attr]
    return answers


_OPERATOR_NEXT = re.compile(r"[ \t]*[-+*/^@(]")  # `2 * x`: a number that starts a formula
_NEXT_KEY = re.compile(r"[\s,;]*[^\s=,;()\[\]]+[ \t]*=")  # where the next `key=` begins


_NUMBER_LIKE = re.compile(r"[+-]?[\w.]+(?:[eE][+-][\w.]*)?")
_NUMBER_WORDS = ("nan", "inf", "infinity")
_JUXTAPOSED = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[A-Za-z]\w*")
_EXPONENT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)[eE][+-]?\w*")


def _is_formula(token: str, text: str, end: int) -> bool:
    """A value is a formula when it is not written like a number (`2*x`, `1/3`, `x`), or when
    a number is followed by an operator (`2 * x`). Number-like text that is not a number
    (`1e999`, `nan`, `1_000`) stays a bad number, with that message."""
    if _OPERATOR_NEXT.match(text, end):
        return True
    if _NUMBER_LIKE.fullmatch(token) is None:
        return True
    if _JUXTAPOSED.fullmatch(token) and not _EXPONENT.fullmatch(token):
        return True  # 2x, 4x_1: a number times a name (1e5 and 1e999 stay numbers)
    body = token.lstrip("+-")
    return not (body[:1].isdigit() or body[:1] == "." or body.lower() in _NUMBER_WORDS)


def formula_end(text: str, start: int) -> int:
    """Where a formula answer ends: at a comma, semicolon or space outside brackets that is
    followed by the next `key=`, else at the end (`outer(u, v)` keeps its comma)."""
    depth = 0
    for k in range(start, len(text)):
        ch = text[k]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif depth == 0 and ch in ",; \t\n" and _NEXT_KEY.match(text, k):
            return len(text[:k].rstrip())
    return len(text.rstrip())


def answer(key: str, number: Any, *, where: str = "--expect",
           source: str | None = None, pos: int = 0, formulas: bool = False) -> Answer:
    """One answer. Text and Decimal keep their written decimals; int and float are exact.
    A list, nested list, numpy array or `[...]` text is an array answer. With ``formulas``,
    other text that is not a number (`2*x`, `2*(W@x)@x.T`) is a formula answer."""
    if formulas and isinstance(number, str) and number.strip() \
            and not number.lstrip().startswith("[") \
            and _is_formula(number.strip(), number.strip(), len(number.strip())):
        return Answer(key, math.nan, number.strip(), None, formula=number.strip())

    if is_array_value(number):

        if isinstance(number, str):
            return literal_answer(key, number.strip(), where=where)
        return python_answer(key, number, where=where)
    if isinstance(number, bool):
        raise InputError(f"the answer for '{key}' must be a number, not a boolean", where=where)
    if isinstance(number, (int, float)):
        try:
            value = float(number)
        except OverflowError:  # a 401-digit whole number: past any float
            raise InputError(f"the answer for '{key}' is a whole number of "
                             f"{len(str(abs(number))):,} digits, too large to be a number "
                             "of this problem", where=where) from None
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
        return [answer(str(k), v, where=where, formulas=True) for k, v in expect.items()]
    return parse_expect(expect, where=where)


# ---------------------------------------------------------------- matching


def match_answers(result: Result, expect: Mapping[str, Any] | str | Iterable[str],
                  tolerance: AnswerTolerance | None = None, *,
                  shapes: Mapping[str, Any] | Iterable[str] | None = None,
                  grading: bool = False, where: str = "--expect") -> Answers:
    """Compare answers with an evaluated Result. Unknown names raise InputError (exit 2).
    Formula answers are checked at the point and in general; ``shapes`` ({"W": "m,n"})
    declares the arrays' dimensions for that (default: read from the point).

    ``where`` names the answers as their author wrote them: the `--expect` option, or a
    problem file's `expect` key, so that a message speaks the input's language."""
    tolerance = tolerance or AnswerTolerance()
    given = answers_from(expect, where=where)
    if result.value is None and any(a.formula is None for a in given):
        # Formulas are checked in general without one (checks/pointfree.py); numbers not.
        at = "--at" if where.startswith("--") else "at"
        raise InputError(f"{where} needs a point to compare at", where=where,
                         hint=f"give the input values with {at}, or give every answer as "
                         "a formula (checked in general)")
    keys = _Keys(result, where)
    checks: list[AnswerCheck] = []
    targets_seen: dict[tuple[str, int], str] = {}
    for a in given:
        kind, nid = keys.resolve(a.key)
        earlier = targets_seen.get((kind, nid))
        if earlier is not None:
            raise InputError(f"{where} gives '{a.key}' and '{earlier}', which are the same "
                             "answer", where=where, hint="give each answer once")
        targets_seen[(kind, nid)] = a.key
        rec = result.nodes[nid]
        truth = rec.value if kind == "value" else rec.upstream
        top = "L" if result.seed != 1.0 else keys.out_name
        quantity = keys.label(nid) if kind == "value" else f"d{top}/d{keys.label(nid)}"
        array_job = rec.shape is not None  # the array engine ran (arrays.py)
        if a.formula is not None:
            checks.append(formula_check(result, nid, kind, a, quantity, keys.label(nid),
                                        shapes, grading, where))
            continue
        assert truth is not None
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

            check.explanation = backward_story(result, nid)
            if truth != 0 and abs(a.value + truth) <= allowed:
                check.hints.append("the sign is flipped")
        elif not ok:
            if kind == "gradient":
                check.explanation, products = chain_rule(result, nid)
                check.hints = _gradient_hints(a.value, truth, products,
                                              cast(float, result.seed), allowed)
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


def formula_check(result: Result, nid: int, kind: str, a: Answer, quantity: str, label: str,
                  shapes: Mapping[str, Any] | Iterable[str] | None = None,
                  grading: bool = False, where: str = "--expect",
                  time_budget: float | None = None) -> AnswerCheck:
    """A formula answer (`dx = 2*x`): checks/formula.py at the evaluated point first, then at
    random points and shapes (sympy proves it for scalars); wrong ones get its slip names."""
    from .formula import check_formula, parse_shapes

    if kind != "gradient":
        raise InputError(f"'{a.key} = {a.formula}': a formula answer is for a gradient, not a "
                         "forward value", where=where,
                         hint=f"write it as d{label} = FORMULA, or give {a.key} as a number")
    if isinstance(result.seed, list) or result.seed != 1.0:
        raise InputError(f"the formula answer '{a.key}' needs the default upstream gradient 1",
                         where=where, hint="put the upstream into the expression "
                         "instead, e.g. sum(G*f) with G an input")
    declared = shapes if shapes else _point_shapes(result)
    point = result.value is not None  # without one (checks/pointfree.py): in general only
    try:  # the general check leaves the point out: a square point hides a transpose's name
        report = check_formula(result.expression, {f"d{label}": a.formula}, shapes=declared,
                               grading=grading, time_budget=time_budget)
        yours = _value_at(result, a.formula or "", parse_shapes(declared)) if point else None
    except InputError as exc:  # name the answer, as the user wrote it, not "claim"
        if exc.where == "claim":
            exc.where = where
            exc.message = re.sub(r"^claim:", f"{where} {a.key}:", exc.message).replace(
                "in the claim", f"in the answer {a.key}")
        raise
    claim = report.claims[0]
    truth = result.nodes[nid].upstream
    at_point = _agrees(yours, truth) if point else None
    if at_point is False and claim.ok:  # cannot happen for a formula that holds everywhere,
        claim.verdict = "differs"  # but the point decides for the person who gave it
    check = AnswerCheck(a.key, kind, label, yours, a.formula or "", truth, 0.0,
                        claim.describe(), claim.ok and at_point is not False, quantity,
                        formula=claim, at_point=at_point)
    check.hints = [_slip_hint(s.name, s.sentence) for s in claim.diagnosis]
    if not claim.ok:
        check.explanation = _formula_story(claim, at_point, yours, truth)
        # Sizes read from a square point stay equal in every trial: say how to vary them.
        square = [] if shapes else [name for name, dims in _point_shapes(result).items()
                                    if len(set(dims.split(","))) < len(dims.split(","))]
        if square and not claim.diagnosis:
            check.explanation.append(
                f"{', '.join(square)} {'is' if len(square) == 1 else 'are'} square at your "
                "point, so only square sizes were tried: "
                f"declare the dimensions (--shape {square[0]}=m,n, or a problem's shape "
                "table) to tell a transpose apart")
    return check


def _slip_hint(name: str, sentence: str) -> str:
    """A slip as one hint: its sentence, led by its name unless the sentence already starts
    with it ("Wrong shape: ...", "A transpose: ..."): each thing said once."""
    head = sentence.split(":", 1)[0].lower() if ":" in sentence else ""
    return sentence if name.lower() in head else f"{name}: {sentence}"


def check_formula_answer(result: Result, key: str, formula: str, *,
                         shapes: Mapping[str, Any] | Iterable[str] | None = None,
                         grading: bool = False, where: str = "--expect",
                         time_budget: float | None = None) -> AnswerCheck:
    """One formula answer (`dx`, `2*x`) against an evaluated Result: the grader's entry.
    ``time_budget``: seconds for its check (default: the check's budget)."""
    keys = _Keys(result)
    kind, nid = keys.resolve(key)
    quantity = f"d{keys.out_name}/d{keys.label(nid)}"
    return formula_check(result, nid, kind, Answer(key, math.nan, formula, None,
                                                   formula=formula),
                         quantity, keys.label(nid), shapes, grading, where, time_budget)


def _point_shapes(result: Result) -> dict[str, str]:
    """Shapes for a formula answer, read from the point: each size other than 1 becomes a
    letter (equal sizes the same letter), so the formula is also tried at other sizes."""
    taken = set(result.graph.variables) | set(result.graph.named)
    free = (c for c in "mnpkrstuvabcdeghijlowyz" if c not in taken)
    letters: dict[int, str] = {}
    shapes: dict[str, str] = {}
    for name, nid in result.graph.variables.items():
        shape = result.nodes[nid].shape
        if shape:
            dims = [str(k) if k == 1 else letters.setdefault(k, next(free, str(k)))
                    for k in shape]
            shapes[name] = ",".join(dims)
    return shapes


def _value_at(result: Result, formula: str, shapes: Mapping[str, tuple[Any, ...]]) -> Any:
    """The formula's value at the evaluated point (None where it is undefined there), from
    the point's inputs and intermediates; a dimension letter is its size at the point."""
    import numpy as np

    from ..core.arrays import forward, plain
    from ..core.parse import parse

    graph, nodes = result.graph, result.nodes
    sizes: dict[str, float] = {}
    for name, dims in shapes.items():
        given = nodes[graph.variables[name]].shape or []
        sizes.update({d: float(k) for d, k in zip(dims, given) if isinstance(d, str)})
    claim = parse(formula)
    env = {}
    for name in claim.variables:
        nid = graph.variables.get(name, graph.named.get(name))
        value = nodes[nid].value if nid is not None else sizes.get(name, math.nan)
        env[name] = np.asarray(value, dtype=float)
    try:
        return plain(forward(claim, env)[claim.output])
    except InputError:  # its shapes do not fit at this point (the general check says how)
        return None
    except BackpropError:  # outside its domain here (log of a negative)
        return None


def _agrees(yours: Any, truth: Any) -> bool:
    """The tolerance of checks/formula.py: float noise of a different order of operations."""
    import numpy as np

    if yours is None or truth is None:
        return yours is None and truth is None
    a, b = np.asarray(yours, dtype=float), np.asarray(truth, dtype=float)
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.allclose(a, b, rtol=1e-6, atol=1e-6 * scale))


def _formula_story(claim: ClaimCheck, at_point: bool | None, yours: Any,
                   truth: Any) -> list[str]:
    """Where a formula answer differs: at the point (``at_point`` None: no point was given)
    and in general."""
    cex = claim.counterexample
    if at_point is not False and cex is None:  # grading: undefined everywhere
        return list(claim.notes)
    lines = [] if at_point is None else [
        "at your point: right" if at_point else
        "at your point: your formula cannot be computed there" if yours is None else
        f"at your point: wrong: yours {fmt(yours)}, correct {fmt(truth)}"]
    if cex is not None and at_point is not False:
        sizes = ", ".join(f"{k} {'x'.join(map(str, v))}" for k, v in cex.shapes.items() if v)
        lines.append("in general: differs" + (f" at shapes {sizes}" if sizes else "")
                     + (f": yours {fmt(cex.yours)}, correct {fmt(cex.correct)}"
                        if cex.yours is not None else ""))
    if cex is not None and cex.note:
        lines.append(cex.note)
    if not claim.diagnosis:
        lines += [n for n in claim.notes if "slip" in n]
    return lines


def formula_verdict(check: AnswerCheck) -> str:
    """One line for a formula answer: the verdict in general and at the point."""
    claim = check.formula
    assert claim is not None
    if claim.ok:
        return f"{check.key} = {check.written}: {claim.describe()}"
    where = ("in general" if check.at_point is None else "at your point"
             if not check.at_point else "in general (right at your point)")
    return f"{check.key} = {check.written}: differs {where}"


def _array_check(result: Result, nid: int, kind: str, a: Answer, truth: Any, quantity: str,
                 keys: _Keys, tolerance: AnswerTolerance) -> AnswerCheck:
    """An array quantity, or an array answer: shape first, then entry by entry."""

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

    def __init__(self, result: Result, where: str = "--expect"):
        self.result = result
        self.where = where
        graph = result.graph
        self.output = graph.output
        self.out_name = result.output
        self.by_label: dict[str, int] = {rec.label: rec.id for rec in result.nodes}
        self.by_label.setdefault(self.out_name, self.output)

    def label(self, nid: int) -> str:
        return self.out_name if nid == self.output else self.result.nodes[nid].label

    def spoken(self, nid: int, target: int | None = None) -> str:
        """How a message names a node: by its name, else by its expression in parentheses
        ((w0*x0 + w1*x1)), never by the id #6 that the person never saw; ``target``, the
        node they asked about, keeps the name they used for it."""
        label = self.label(nid)
        if not label.startswith("#") or nid == target:
            return label
        text = " ".join(self.result.nodes[nid].expression.split())
        if len(text) > SPOKEN_CHARS:
            keep = SPOKEN_CHARS // 2 - 1
            text = f"{text[:keep]}…{text[-keep:]}"
        return f"({text})"

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
        return InputError(f"{self.where} names '{key}', which is neither an input nor an "
                          "intermediate of the expression", where=self.where, hint=hint)


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
    seed = cast(float, result.seed)  # the scalar engine's story: a number
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
            names.append(f"d{keys.spoken(consumer, target)}/d{keys.spoken(inp, target)}{slot}")
            local = records[consumer].local
            values.append(local[pos] if local is not None else math.nan)
        product = math.prod(values)
        products.append(product)
        line = " * ".join(_elide(names, max_factors)) + " = " + " * ".join(
            _elide([_factor(v) for v in values], max_factors))
        lines.append(line + (f" = {fmt(product)}" if len(values) > 1 else ""))
    if total == 1:
        if len(paths[0]) == 1 and seed == 1.0:
            via = keys.spoken(paths[0][0][0])
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
    keys = _Keys(result)
    label = keys.label(nid)
    line = f"{label} = {rec.expression} = {fmt(rec.value)}"
    if rec.op == VAR.name:
        return f"{label} = {fmt(rec.value)} (an input: its value is given by --at)"
    shown = [f"{keys.spoken(j)} = {fmt(result.nodes[j].value)}"
             for j, const in zip(result.graph.nodes[nid].inputs, rec.input_is_const)
             if not const]
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
        # A scalar answer's story: numbers, not arrays.
        up = cast(float | None, result.nodes[consumer].upstream)
        own = cast(float | None, result.nodes[target].value)
        if up is not None and own is not None and up * own != 0 \
                and abs(answer - up * own) <= allowed:
            other = _Keys(result).spoken(node.inputs[1 - pos])
            return [f"a {node.op.name} gate swaps: the local gradient with respect to "
                    f"{_Keys(result).label(target)} is the other input, {other}"]
    return []


def fmt(v: Any) -> str:
    """Six significant digits, as the node table prints them; arrays on one line with a few
    entries, to fit in a sentence (formatting.inline)."""
    return inline(v, MAX_SHOWN)


# ---------------------------------------------------------------- the API


def check_answers(expression: str, at: Mapping[str, float | str] | str | Iterable[str],
                  expect: Mapping[str, Any] | str | Iterable[str], *,
                  digits: int | str | None = None, rtol: float = ANSWER_RTOL,
                  atol: float = ANSWER_ATOL, upstream: float | str | Any = 1.0,
                  check: Iterable[str] = ("sympy", "numeric"),
                  tolerance: Tolerance | None = None,
                  shapes: Mapping[str, Any] | None = None) -> Answers:
    """Evaluate ``expression`` at ``at`` and compare ``expect`` with it.

    ``expect`` maps keys to answers: ``value`` (the output), ``q`` (a forward value), ``dx``
    or ``dq`` (a gradient). Strings and Decimals keep their written decimals ("0.20" means
    rounded to two), ints and floats are exact unless ``digits`` says how they were rounded.
    ``answers.result`` is the full evaluation (``answers.result.ok``: the tool's own checks).
    Other text is a formula ({"dW": "2*(W@x)@x.T"}), checked at ``at`` and in general, with
    ``shapes`` ({"W": "m,n", "x": "n,1"}) for the dimensions (default: the sizes at ``at``).
    """
    from ..core import args
    from .evaluate import evaluate

    rtol, atol = args.number(rtol, "rtol"), args.number(atol, "atol")
    if not isinstance(expect, Mapping):
        expect = args.strings(expect, "expect")
    tol = AnswerTolerance.from_option(digits, rtol, atol, where="digits")
    result = evaluate(expression, at, upstream=upstream, check=check, tolerance=tolerance)
    return match_answers(result, expect, tol, shapes=shapes)


# ---------------------------------------------------------------- arrays
# Answers for vectors and matrices: array literals in `--expect`, entry-by-entry matching
# with shapes, and the backward pass told node by node for a wrong array gradient.
#
# An array answer is checked entry by entry with the same rounding rules as a scalar answer
# (each entry's own written decimals, or `--digits`). Its shape is checked first: the gradient
# has the variable's shape, always, so a dW given as a vector of 4 for a 2×2 W is wrong as a
# shape, whatever its numbers. numpy-free: a Result holds nested lists, and scalar jobs never
# import numpy.

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
    return inline(v, limit)


# ---------------------------------------------------------------- parsing answers


def literal_answer(key: str, text: str, *, where: str = "--expect", source: str | None = None,
                   offset: int = 0) -> Answer:
    """An array answer written in literal syntax, read with the grammar's `value` rule.

    ``text`` is the literal itself; ``source`` and ``offset`` place it in a longer option
    text, so that errors point into what the user typed.
    """
    from ..core.numbers import parse_number
    from ..core.parse import parse_value

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
    """An array answer as its entries were written; a long one abbreviated as fmt_array
    does, so that a 2,000,000-entry answer is not echoed back whole."""
    if len(parts) > MAX_SHOWN:
        return f"{describe(shape)} [{', '.join(parts[:MAX_SHOWN // 2])}, …]"
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
            return [f"every entry is {rounded(r0, 4)} × the correct one: a constant factor is off "
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
             + ("" if e.rounding == "exact" else f" (±{rounded(e.allowed, 2)}, {e.rounding})")
             for e in wrong[:MAX_ENTRIES_LISTED]]
    if len(wrong) > MAX_ENTRIES_LISTED:
        lines.append(f"… and {len(wrong) - MAX_ENTRIES_LISTED} more wrong entries (see --json)")
    order = "[row,column], " if len(check.shape or []) == 2 else ""
    lines.append(f"{len(check.entries) - len(wrong)} of {len(check.entries)} entries match "
                 f"(indices {order}counting from 0)")
    return lines


def _fmt(v: float) -> str:

    return fmt(v)


# ---------------------------------------------------------------- the backward story


def backward_story(result: Result, target: int, max_steps: int = MAX_STEPS) -> list[str]:
    """How the gradient at ``target`` comes about in an array job: from the output back, each
    node's upstream gradient and the vector-Jacobian product it sends to its input (the op
    table's formula where it has one, else upstream ⊙ local entry by entry). Iterative."""

    graph = result.graph
    nodes = graph.nodes
    records = result.nodes
    keys = _Keys(result)
    out = graph.output
    top = "L" if _seed_given(result) else keys.out_name

    def d(nid: int) -> str:
        return f"d{keys.spoken(nid, target)}"

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
    label = d(nid)[1:]  # the output goes by its name (f); an unnamed node by its expression
    at = f"at {label} = {expr}" if label not in (rec.expression, f"({expr})") else f"at {expr}"
    slot = f"[{pos + 1}]" if node.inputs.count(j) > 1 else ""
    target = f"{d(j)}{slot}"
    loc = rec.local[pos] if rec.local is not None and pos < len(rec.local) else None
    if isinstance(loc, str) or loc is None:
        labels = [d(k)[1:] for k in node.inputs]
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
