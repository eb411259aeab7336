"""`--at` values: parsed with the grammar's `bindings` rule, matched against the graph's inputs."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from . import args
from .errors import InputError
from .graph import Graph
from .literals import ArrayValue, from_python
from .numbers import parse_number
from .parse import parse_bindings, parse_value


@dataclass(frozen=True)
class Point:
    """Input values: floats for backprop, exact decimals for sympy."""

    values: dict[str, float]
    exact: dict[str, Fraction]
    # Vectors and matrices (x=[0.2,0.4]); any of them sends the job to the array engine.
    arrays: dict[str, ArrayValue] = field(default_factory=dict)


def parse_point(texts: Iterable[str]) -> Point:
    """Each text is one `--at` option: `x=-2,y=5` (the option may repeat)."""
    values: dict[str, float] = {}
    exact: dict[str, Fraction] = {}
    arrays: dict[str, ArrayValue] = {}
    for text in texts:
        for name, number, start, end in parse_bindings(text):
            if name in values or name in arrays:
                raise InputError(f"--at gives '{name}' twice", source=text, pos=start, end=end,
                                 where="--at", hint="give each input one value")
            if not isinstance(number, str):
                arrays[name] = number.resolve(text, "--at")
                continue
            eq = text.index("=", start) + 1
            values[name], exact[name] = parse_number(number, source=text, pos=eq, end=end,
                                                     where="--at")
    return Point(values, exact, arrays)


def match(graph: Graph, names: Iterable[str]) -> None:
    """Every input has a value and every value names an input, or an InputError says which.

    ``names`` are the names given values (a Point's ``values``, or any mapping's keys)."""
    given = dict.fromkeys(names)
    inputs = list(graph.variables)
    missing = [v for v in inputs if v not in given]
    if missing:
        example = ",".join(f"{v}=1" for v in missing)
        raise InputError(f"no value for {_names(missing)}", where="--at",
                         hint=f"add it to --at, e.g. --at {example}")
    extra = [k for k in given if k not in graph.variables]
    if extra:
        name = extra[0]
        close = difflib.get_close_matches(name, inputs, n=1)
        hint = f"did you mean {close[0]}?" if close else (
            "the expression's inputs are " + (", ".join(inputs) or "none"))
        if name in graph.named:
            hint = f"'{name}' is computed by the expression; it cannot be given a value"
        raise InputError(f"--at gives a value for '{name}', which the expression does not use",
                         where="--at", hint=hint)


def _names(names: list[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def as_point(at: Mapping[str, float | str] | str | Iterable[str]) -> Point:
    if isinstance(at, str):
        return parse_point([at])
    if isinstance(at, Mapping):
        values: dict[str, float] = {}
        exact: dict[str, Fraction] = {}
        arrays: dict[str, ArrayValue] = {}
        for name, v in at.items():
            if isinstance(v, str) and v.strip().startswith("["):
                lit = parse_value(v, "--at")
                assert not isinstance(lit, str)
                arrays[name] = lit.resolve(v, "--at")
            elif isinstance(v, (list, tuple)) or getattr(v, "ndim", None):
                arrays[name] = from_python(name, v)
            elif isinstance(v, str):
                values[name], exact[name] = parse_number(v, source=v, pos=0, where="--at")
            else:
                values[name], exact[name] = args.exact(v, f"the value of '{name}'")
        return Point(values, exact, arrays)
    return parse_point(args.strings(at, "at"))
