"""Problem sets: TOML (one table per problem) or JSON Lines (one object per line), validated.

Every problem is validated on its own. A problem that cannot be used becomes an `Invalid`
entry that says which problem, which line and what is wrong, and the rest of the set is
still run: one typo must not hide the other answers. Numbers are read as written (TOML and
JSON floats become Decimals), so `0.20` keeps its two decimals for rounding-aware matching.
"""

from __future__ import annotations

import bisect
import difflib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..core import args
from ..core.errors import InputError
from ..core.limits import MAX_NESTING, too_deep
from ..core.result import CHECK_CHOICES, VERIFIERS, known_verifiers
from .toml_recovery import HEADER, dotted, header_name, read_toml

FORMATS = ("auto", "toml", "jsonl")
PROBLEM_KEYS = ("expression", "at", "expect", "upstream", "digits", "rtol", "atol", "check",
                "description", "points", "carried_forward", "shape", "budget",
                "show_correct")
SETTING_KEYS = ("digits", "rtol", "atol", "check", "title", "points",
                "carried_forward", "budget", "show_correct",  # TOML file-wide defaults
                "visibility", "exam", "malformed")  # and the platforms' settings
# Platform settings of a key (docs/guides/platforms.md): when Gradescope shows the results, and
# whether PrairieLearn grades a file with a syntax error (`gradable: false` costs no attempt).
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
MALFORMED = ("graded", "not gradable")
JSONL_KEYS = ("name", *PROBLEM_KEYS)

Number = int | Decimal | str  # as written; str only from `at = "x=-2"` style text
# A vector or matrix: a TOML array / JSON list of numbers (nested for a matrix), or its
# literal text "[[0.1,0.5],[-0.3,0.8]]"; entries keep how they were written.
Value = Number | list[Any]


@dataclass
class Problem:
    """One exercise: an expression, a point, and (optionally) the answers to check."""

    name: str
    index: int  # 1-based position in the file
    line: int | None  # where the problem starts
    expression: str
    at: dict[str, Value] | str | None  # None: every answer a formula, checked in general
    expect: dict[str, Value] | str = field(default_factory=dict)
    upstream: float | str | list[Any] = 1.0  # arrays: for an array output
    digits: int | str | None = None  # None: the run's default (auto)
    rtol: float | None = None
    atol: float | None = None
    check: tuple[str, ...] | None = None  # None: the run's default (--check)
    budget: float | None = None  # seconds for the check; None: the default (3 s)
    description: str = ""
    lines: dict[str, int] = field(default_factory=dict)  # key -> line, for messages
    # Grading (`check --answers`): points per answer (a number: every answer; a table:
    # per answer key) and the share of them an error carried forward earns (0 to 1).
    points: float | dict[str, float] | None = None
    carried_forward: float | None = None
    # False: the feedback a student sees never states a correct value (`show_correct`).
    show_correct: bool | None = None
    default_points: float | None = None  # the file's `points = N`, for keys a table omits

    # Formula answers (expect = { dW = "2*(W@x)@x.T" }): the arrays' dimensions for the
    # general check, { W = "m,n", x = "n,1" }; None: read from the point (checks/answers.py).
    shape: dict[str, Any] | None = None

    def points_for(self, key: str) -> float:
        """An answer's points: its own, else the problem's (or the file's) number, else 1."""
        fallback = 1.0 if self.default_points is None else self.default_points
        if isinstance(self.points, dict):
            return self.points.get(key, fallback)
        return fallback if self.points is None else self.points


@dataclass
class Invalid:
    """A problem that could not be read: reported as an error row, never run."""

    name: str
    index: int
    line: int | None
    message: str
    hint: str | None = None

    def where(self) -> str:
        return f"problem '{self.name}'" + (f" (line {self.line})" if self.line else "")


@dataclass
class ProblemSet:
    source: str  # file name, or <stdin>
    format: str  # toml or jsonl
    items: list[Problem | Invalid]
    title: str = ""
    settings: dict[str, Any] = field(default_factory=dict)  # visibility, exam, malformed

    @property
    def visibility(self) -> str:
        """Gradescope's results visibility (the key's `visibility`, else visible)."""
        return str(self.settings.get("visibility", "visible"))

    @property
    def malformed_gradable(self) -> bool:
        """Whether a file with a syntax error is graded as far as it goes (homework) or
        sent back as not gradable (the key's `malformed`; an `exam = true` key's default)."""
        default = "not gradable" if self.settings.get("exam") else "graded"
        return bool(self.settings.get("malformed", default) == "graded")

    @property
    def problems(self) -> list[Problem]:
        return [p for p in self.items if isinstance(p, Problem)]

    @property
    def invalid(self) -> list[Invalid]:
        return [p for p in self.items if isinstance(p, Invalid)]


class _BadError(Exception):
    def __init__(self, message: str, key: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.key = key
        self.hint = hint


# ---------------------------------------------------------------- entry points


def load_problems(path: str | Path, text: str | None = None, fmt: str = "auto") -> ProblemSet:
    """Read a problem set from ``path`` (``text`` when already read, e.g. from stdin)."""
    name = str(path)
    if text is None:
        from ..core.fileio import read_text
        from ..core.limits import PROBLEM_SET_BYTES

        text = read_text(name, limit=PROBLEM_SET_BYTES, what="a problem set", where="FILE")
    return parse_problems(text, fmt=_format(fmt, name, text), source=name)


def parse_problems(text: str, fmt: str = "auto", source: str = "<text>") -> ProblemSet:
    """Parse problem-set text; ``fmt`` is toml, jsonl or auto (sniffed from the content)."""
    text = args.text(text, "the problem set's text")
    fmt = _format(args.text(fmt, "fmt"), source, text)
    pset = _parse_toml(text, source) if fmt == "toml" else _parse_jsonl(text, source)
    if not pset.items:
        raise InputError(f"{source} has no problems", where="FILE",
                         hint="a TOML problem is a table: [name] with expression = \"...\" "
                         "and at = {...}; see docs/guides/problem-sets.md")
    return pset


def _format(fmt: str, name: str, text: str) -> str:
    if fmt not in FORMATS:
        raise InputError(f"unknown format '{fmt}'", where="--input-format",
                         hint="choose from " + ", ".join(FORMATS))
    if fmt != "auto":
        return fmt
    suffix = Path(name).suffix.lower()
    if suffix == ".toml":
        return "toml"
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return "jsonl" if first.startswith("{") else "toml"


# ---------------------------------------------------------------- TOML


def _parse_toml(text: str, source: str) -> ProblemSet:
    lines = text.splitlines()
    # A syntax error sets that problem aside (keeping line numbers): a typo in one problem is
    # reported against it while the others still run.
    got = read_toml(text)
    if got.fatal is not None and got.fatal_line is None:
        raise InputError(f"{source}: {got.fatal}", where="FILE", hint="write numbers as "
                         "ordinary decimals, such as x = 0.5")
    if got.fatal is not None or got.doc is None:
        raise InputError(f"{source}: bad TOML at line {got.fatal_line}: {got.fatal}",
                         where="FILE", hint="see docs/guides/problem-sets.md")
    doc = got.doc
    bad = [Invalid(b.name, 0, b.line, f"bad TOML at line {b.line}: {b.message}",
                   "the rest of the file was read without this problem") for b in got.broken]
    locate = _Locator(lines)
    settings: dict[str, Any] = {}
    items: list[Problem | Invalid] = []
    for key, value in doc.items():
        if isinstance(value, dict):
            items.append(_problem(key, value, len(items) + 1, locate.lines(key)))
        elif key in SETTING_KEYS:
            settings[key] = value
        else:
            key_line = locate.lines("").get(key)
            at = f" (line {key_line})" if key_line else ""
            hint = _suggest(key, SETTING_KEYS) or (
                "a problem is a table ([name]); top-level keys are file-wide defaults: "
                + ", ".join(SETTING_KEYS))
            raise InputError(f"{source}{at}: unknown top-level key '{key}'", where="FILE",
                             hint=hint)
    defaults = _settings(settings, source, locate.lines(""))
    for item in items:
        if isinstance(item, Problem):
            _apply_defaults(item, defaults)
    # Problems with a syntax error go where they were in the file: before the first problem
    # that starts below them (one merge, not an insert per broken table).
    starts = sorted(it.line or 0 for it in items)
    slot = [bisect.bisect_left(starts, b.line or 0) for b in bad]
    order = sorted(range(len(bad)), key=lambda k: slot[k])
    merged: list[Problem | Invalid] = []
    k = 0
    for pos, it in enumerate([*items, None]):
        while k < len(order) and slot[order[k]] <= pos:
            merged.append(bad[order[k]])
            k += 1
        if it is not None:
            merged.append(it)
    items = merged
    for k, it in enumerate(items, 1):
        it.index = k
    return ProblemSet(source, "toml", items, str(defaults.get("title", "")),
                      {k: defaults[k] for k in ("visibility", "exam", "malformed")
                       if k in defaults})


_KEYLINE = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*(?:\.|=)')


class _Locator:
    """Line numbers of tables and keys (tomllib keeps none), found by a light scan."""

    def __init__(self, lines: list[str]):
        self.table_lines: dict[str, dict[str, int]] = {"": {}}
        current = ""
        in_string: str | None = None
        for k, line in enumerate(lines, 1):
            if in_string is not None:
                if line.count(in_string) % 2 == 1:
                    in_string = None
                continue
            name = header_name(line)
            if name is not None:
                parts = dotted(HEADER.match(line).group(1))  # type: ignore[union-attr]
                current = name
                table = self.table_lines.setdefault(current, {})
                table.setdefault("", k)
                if len(parts) > 1:
                    table.setdefault(parts[1], k)
                continue
            m = _KEYLINE.match(line)
            if m is not None:
                key = m.group(1).strip("\"'")
                if current == "":
                    # `simple.expression = ...` at top level belongs to problem `simple`.
                    parts = dotted(line.split("=", 1)[0])
                    if len(parts) > 1:
                        table = self.table_lines.setdefault(parts[0], {})
                        table.setdefault("", k)
                        table.setdefault(parts[1], k)
                        continue
                self.table_lines[current].setdefault(key, k)
                if "=" in line and line.split("=", 1)[1].strip() in ('"""', "'''"):
                    # The string's first line is the next one (TOML drops that newline).
                    self.table_lines[current].setdefault(f"{key}:body", k + 1)
            for quote in ('"""', "'''"):
                if line.count(quote) % 2 == 1:
                    in_string = quote
                    break

    def lines(self, table: str) -> dict[str, int]:
        return self.table_lines.get(table, {})


# ---------------------------------------------------------------- JSON Lines


def _parse_jsonl(text: str, source: str) -> ProblemSet:
    items: list[Problem | Invalid] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        index = len(items) + 1
        if too_deep(line, toml=False) is not None:  # json would exhaust the stack
            items.append(Invalid(f"line {n}", index, n, f"invalid JSON: brackets nested more "
                                 f"than {MAX_NESTING} levels deep"))
            continue
        try:
            obj = json.loads(line, parse_float=Decimal, parse_constant=_no_constant)
        except RecursionError:
            items.append(Invalid(f"line {n}", index, n, "invalid JSON: nested too deeply"))
            continue
        except ValueError as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            col = f" (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            items.append(Invalid(f"line {n}", index, n, f"invalid JSON: {msg}{col}",
                                 'each line is one object: {"expression": ..., "at": ...}'))
            continue
        if not isinstance(obj, dict):
            items.append(Invalid(f"line {n}", index, n,
                                 f"a line must be a JSON object, not {_kind(obj)}"))
            continue
        name = obj.get("name")
        if name is None:
            name = f"line {n}"
        elif not isinstance(name, str) or not name.strip():
            items.append(Invalid(f"line {n}", index, n, "'name' must be a non-empty string"))
            continue
        body = {k: v for k, v in obj.items() if k != "name"}
        line_map = dict.fromkeys(["", *body], n)
        items.append(_problem(name, body, index, line_map, allowed=JSONL_KEYS))
    return ProblemSet(source, "jsonl", items)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a problem can use")


# ---------------------------------------------------------------- validation


def _problem(name: str, table: dict[str, Any], index: int, lines: dict[str, int],
             allowed: Iterable[str] = PROBLEM_KEYS) -> Problem | Invalid:
    line = lines.get("")
    try:
        allowed = tuple(allowed)
        for key in table:
            if key not in allowed:
                raise _BadError(f"unknown key '{key}'", key, _suggest(key, allowed) or
                           "a problem has " + ", ".join(k for k in allowed))
        if "expression" not in table:
            raise _BadError("missing 'expression'", None,
                       'add expression = "(x+y)*z" (the function to differentiate)')
        expression = table["expression"]
        if not isinstance(expression, str) or not expression.strip():
            raise _BadError(f"'expression' must be a non-empty string, not {_kind(expression)}",
                       "expression")
        problem = Problem(name, index, line, expression,
                          _at(table["at"]) if "at" in table else None, lines=dict(lines))
        if "expect" in table:
            problem.expect = _expect(table["expect"])
        if problem.at is None and not _all_formulas(problem.expect):
            # A formula is checked in general, so a problem of formulas only needs no point.
            raise _BadError("missing 'at' (the point)", None,
                       'add at = { x = -2, y = 5 } or at = "x=-2,y=5"; use at = {} '
                       "for an expression without inputs (a problem whose answers are all "
                       "formulas needs none)")
        if "upstream" in table:
            up = table["upstream"]
            problem.upstream = _array(up, "upstream", "upstream") if _is_array(up) \
                else _number(up, "upstream")
        if "digits" in table:
            problem.digits = _digits(table["digits"], "digits")
        for key in ("rtol", "atol"):
            if key in table:
                setattr(problem, key, _number(table[key], key, positive=True))
        if "budget" in table:
            problem.budget = _budget(table["budget"])
        if "check" in table:
            problem.check = _check(table["check"], "check")
        if "points" in table:
            problem.points = _points(table["points"], problem.expect)
        if "carried_forward" in table:
            problem.carried_forward = _share(table["carried_forward"], "carried_forward")
        if "shape" in table:
            problem.shape = _shape(table["shape"])
        if "show_correct" in table:
            problem.show_correct = _flag(table["show_correct"], "show_correct")
        _check_formulas(problem)
        if "description" in table:
            if not isinstance(table["description"], str):
                raise _BadError("'description' must be a string", "description")
            problem.description = table["description"]
        return problem
    except _BadError as bad:
        where = lines.get(bad.key, line) if bad.key else line
        return Invalid(name, index, where, bad.message, bad.hint)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def _is_array(v: Any) -> bool:
    return isinstance(v, list) or (isinstance(v, str) and v.lstrip().startswith("["))


def _array(v: Any, name: str, key: str) -> str | list[Any]:
    """A vector or matrix, checked now (shape, numbers) so that the error names the key."""
    from ..checks.answers import literal_answer, python_answer
    from ..core.literals import ArrayLiteral, from_python
    from ..core.parse import parse_value

    try:
        if isinstance(v, str) and key == "expect":
            literal_answer(name, v.strip(), where=key)
        elif isinstance(v, str):
            lit = parse_value(v.strip(), key)
            assert isinstance(lit, ArrayLiteral)  # it starts with '['
            lit.resolve(v.strip(), key)
        elif key == "expect":
            python_answer(name, v, where=key)
        else:
            from_python(name, v, where=key)
        if isinstance(v, str):
            return v.strip()
    except InputError as exc:
        message = exc.message
        if exc.source is not None and "syntax error" in message:
            message = f"{message} (column {(exc.pos or 0) + 1} of \"{exc.source}\")"
        if f"'{name}'" not in message:
            message = f"'{name}': {message}"
        raise _BadError(message, key, exc.hint) from None
    return list(v)


def _at(value: Any) -> dict[str, Value] | str:
    return _values(value, "at", "x=-2,y=5", 'write at = "x=-2,y=5" or at = { x = -2 }')


def _written(v: int | Decimal | str, name: str, key: str) -> Number:
    """A number as written (Decimal -> its text), checked now so the error names the key."""
    from ..core.numbers import parse_number

    text = str(v).strip()
    try:
        parse_number(text, source=text, pos=0, where=key)
    except InputError as exc:
        raise _BadError(f"'{name}': {exc.message}", key, exc.hint) from None
    return v if isinstance(v, int) else text


def _expect(value: Any) -> dict[str, Value] | str:
    return _values(value, "expect", "dx=-4,value=-12", 'write expect = "dx=-4,dy=-4"')


def _values(value: Any, key: str, example: str, empty_hint: str) -> dict[str, Value] | str:
    """`at` or `expect`: option text ("x=-2,y=5"), or a table of numbers, vectors and matrices
    kept as written ("0.20" keeps its two decimals, so does each entry of an array)."""
    if isinstance(value, str):
        if not value.strip():
            raise _BadError(f"'{key}' is empty", key, empty_hint)
        return value
    if not isinstance(value, dict):
        raise _BadError(f"'{key}' must be a table or a string like \"{example}\", "
                        f"not {_kind(value)}", key)
    out: dict[str, Value] = {}
    for k, v in value.items():
        if _is_array(v):
            out[k] = _array(v, f"{key}.{k}", key)
        elif key == "expect" and isinstance(v, str) and _is_formula(v):
            out[k] = v.strip()  # checked with the expression and shapes: _check_formulas
        elif _is_number(v) or (isinstance(v, str) and v.strip()):
            out[k] = _written(v, f"{key}.{k}", key)
        else:
            raise _BadError(f"'{key}.{k}' must be a number, a vector or a matrix, not "
                            f"{_kind(v)}", key)
    return out


def _all_formulas(expect: dict[str, Value] | str) -> bool:
    """Whether ``expect`` is a table of formula answers only (and not empty)."""
    return isinstance(expect, dict) and bool(expect) and all(
        isinstance(v, str) and _is_formula(v) for v in expect.values())


def _is_formula(text: str) -> bool:
    """A string that is neither a number nor an array literal is a formula answer."""
    from ..checks.answers import answer

    return bool(text.strip()) and answer("", text, formulas=True).formula is not None


def _shape(value: Any) -> dict[str, Any]:
    """`shape = { W = "m,n", x = "n,1" }`: dimensions are numbers or letters."""
    from ..checks.formula import parse_shapes

    if not isinstance(value, dict):
        raise _BadError(f"'shape' must be a table like {{ W = \"m,n\", x = \"n,1\" }}, not "
                        f"{_kind(value)}", "shape")
    for k, v in value.items():
        if not (isinstance(v, str) or (isinstance(v, list) and all(
                isinstance(d, (int, str)) and not isinstance(d, bool) for d in v))):
            raise _BadError(f"'shape.{k}' must be a string like \"m,n\", not {_kind(v)}",
                            "shape")
    try:
        parse_shapes(value)
    except InputError as exc:
        raise _BadError("'shape': " + exc.message.replace("--shape ", "", 1), "shape",
                        exc.hint) from None
    return dict(value)


def _check_formulas(problem: Problem) -> None:
    """Formula answers are read now, against the expression and the shapes' letters, so a
    syntax error or an unknown name is an error row that names the answer and its column."""
    if not isinstance(problem.expect, dict):
        return
    formulas = {k: v for k, v in problem.expect.items() if isinstance(v, str)
                and _is_formula(v)}
    if not formulas:
        return
    from ..checks.formula import parse_claim, parse_shapes
    from ..core.parse import parse

    try:
        graph = parse(problem.expression)
    except InputError:
        return  # the run reports the expression's own error, with its column
    letters = {d for dims in parse_shapes(problem.shape or {}).values() for d in dims
               if isinstance(d, str)}
    for k, text in formulas.items():
        try:
            parse_claim(k, graph, text, letters)
        except InputError as exc:
            message = exc.message.removeprefix("claim: ").replace(" in the claim", "")
            if exc.source is not None and exc.pos is not None:
                message += f" (column {exc.pos + 1} of \"{exc.source}\")"
            raise _BadError(f"'expect.{k}': '{text}' is not a number, and as a formula: "
                            f"{message}", "expect", exc.hint) from None


def _number(value: Any, key: str, positive: bool = False) -> float:
    from ..core.numbers import parse_number

    if not (_is_number(value) or isinstance(value, str)):
        raise _BadError(f"'{key}' must be a number, not {_kind(value)}", key)
    try:
        number, _ = parse_number(str(value).strip(), source=str(value), pos=0, where=key)
    except InputError as exc:
        raise _BadError(f"'{key}': {exc.message}", key, exc.hint) from None
    if positive and number < 0:
        raise _BadError(f"'{key}' must not be negative", key)
    return number


def _points(value: Any, expect: dict[str, Value] | str) -> float | dict[str, float]:
    """`points = 2` (each answer) or `points = { value = 1, dx = 2 }` (per answer; each key
    must be one of the problem's answers)."""
    if isinstance(value, dict):
        out: dict[str, float] = {}
        for k, v in value.items():
            if isinstance(expect, dict) and k not in expect:
                raise _BadError(f"'points.{k}' names no answer of this problem", "points",
                                _suggest(k, expect) or "answers: " + ", ".join(expect))
            out[k] = _number(v, f"points.{k}", positive=True)
        return out
    return _number(value, "points", positive=True)


def _flag(value: Any, key: str) -> bool:
    if not isinstance(value, bool):
        raise _BadError(f"'{key}' must be true or false, not {value!r}", key,
                        f"e.g. {key} = false")
    return value


def _share(value: Any, key: str) -> float:
    share = _number(value, key, positive=True)
    if share > 1:
        raise _BadError(f"'{key}' is a share of the points, from 0 to 1, not {value}", key,
                        "e.g. carried_forward = 0.5 gives half the points")
    return share


def _digits(value: Any, key: str) -> int | str:
    if value in ("auto", "exact"):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 15:
        return value
    raise _BadError(f"'{key}' must be a whole number of decimals from 0 to 15, \"auto\" or "
                    f"\"exact\", not {_kind(value)}", key)


def _check(value: Any, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        names = [] if value.strip() == "none" else [v.strip() for v in value.split(",")
                                                     if v.strip()]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = list(value)
    else:
        raise _BadError(f"'{key}' must be a list such as [\"sympy\", \"numeric\"] or a string, "
                        f"not {_kind(value)}", key)
    for v in names:
        if v not in (*VERIFIERS, "both"):
            raise _BadError(f"'{key}' names an unknown check '{v}'", key, CHECK_CHOICES)
    return known_verifiers(names, key)


def _suggest(key: str, allowed: Iterable[str]) -> str | None:
    close = difflib.get_close_matches(key, list(allowed), n=1)
    return f"did you mean '{close[0]}'?" if close else None


def _settings(settings: dict[str, Any], source: str, lines: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in settings.items():
        try:
            if key == "digits":
                out[key] = _digits(value, key)
            elif key in ("rtol", "atol"):
                out[key] = _number(value, key, positive=True)
            elif key == "budget":
                out[key] = _budget(value)
            elif key == "check":
                out[key] = _check(value, key)
            elif key == "points":
                out[key] = _points(value, {})
                if isinstance(out[key], dict):
                    raise _BadError("a file-wide 'points' must be one number (per answer)",
                                    key, "give a table of points inside a problem")
            elif key == "carried_forward":
                out[key] = _share(value, key)
            elif key == "show_correct":
                out[key] = _flag(value, key)
            elif key == "title":
                if not isinstance(value, str):
                    raise _BadError("'title' must be a string", key)
                out[key] = value
            elif key == "exam":
                out[key] = _flag(value, key)
            elif key in ("visibility", "malformed"):
                allowed = VISIBILITIES if key == "visibility" else MALFORMED
                if value not in allowed:
                    raise _BadError(f"'{key}' must be one of: "
                                    + ", ".join(f'"{a}"' for a in allowed), key)
                out[key] = value
        except _BadError as bad:
            line = lines.get(key)
            at = f" (line {line})" if line else ""
            raise InputError(f"{source}{at}: {bad.message}", where="FILE", hint=bad.hint) \
                from None
    return out


# A problem's own value wins; the file's setting fills in what it leaves unset.
_INHERITED = ("digits", "rtol", "atol", "check", "carried_forward", "budget", "show_correct")


def _apply_defaults(problem: Problem, defaults: dict[str, Any]) -> None:
    for key in _INHERITED:
        if getattr(problem, key) is None and key in defaults:
            setattr(problem, key, defaults[key])
    if "points" in defaults:
        problem.default_points = defaults["points"]


def _budget(value: Any) -> float:
    """budget = 5: seconds for the check of the problem (a positive number)."""
    seconds = _number(value, "budget", positive=True)
    if not seconds > 0:
        raise _BadError("'budget' must be a positive number of seconds", "budget",
                        "e.g. budget = 5")
    return seconds
