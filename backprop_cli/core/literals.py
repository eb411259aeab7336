"""Array literals of `--at` and `--upstream` ([0.2,0.4], [[0.1,0.5],[-0.3,0.8]]), numpy-free.

The parser hands over the tokens with their positions; ``resolve`` turns them into floats
(for the array engine) and exact decimals (for sympy), row-major, with the shape. Ragged
matrices are rejected by the parser with the position of the offending row.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from .errors import InputError
from .numbers import parse_number

Token = tuple[str, int, int]  # number text, start, end


@dataclass(frozen=True)
class ArrayLiteral:
    """What the grammar read: rows of number tokens (one row for a vector)."""

    rows: list[list[Token]]
    ndim: int  # 1 vector, 2 matrix
    start: int
    end: int

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows[0]),) if self.ndim == 1 else (len(self.rows), len(self.rows[0]))

    def resolve(self, source: str, where: str) -> ArrayValue:

        values: list[float] = []
        exact: list[Fraction] = []
        for row in self.rows:
            for text, start, end in row:
                v, e = parse_number(text, source=source, pos=start, end=end, where=where)
                values.append(v)
                exact.append(e)
        return ArrayValue(tuple(values), tuple(exact), self.shape)


@dataclass(frozen=True)
class ArrayValue:
    """A vector or matrix value: flat row-major floats and exact decimals, and the shape."""

    values: tuple[float, ...]
    exact: tuple[Fraction, ...]
    shape: tuple[int, ...]

    def nested(self) -> list[Any]:
        if len(self.shape) == 1:
            return list(self.values)
        cols = self.shape[1]
        return [list(self.values[r * cols:(r + 1) * cols]) for r in range(self.shape[0])]


def from_python(name: str, value: Any, where: str = "at") -> ArrayValue:
    """A list, nested list or numpy array given through the Python API."""
    if hasattr(value, "tolist"):
        # Its size from its shape, before tolist() copies it: a broadcast view of 10^10
        # entries takes no memory until then.
        from .limits import size, too_many_entries

        shape_of = tuple(int(d) for d in getattr(value, "shape", ()))
        if len(shape_of) > 2:
            raise InputError(f"the value of '{name}' has {len(shape_of)} dimensions: a vector "
                             "or a matrix has at most 2", where=where)
        why = too_many_entries(shape_of, size(shape_of), 0)
        if why is not None:
            raise InputError(f"array too large: the value of '{name}': "
                             + why.replace("its result would be", "it would be", 1),
                             where=where)
        value = value.tolist()
    if not isinstance(value, (list, tuple)) or not value:
        raise InputError(f"the value of '{name}' is not a non-empty vector or matrix",
                         where=where)
    if all(isinstance(v, (list, tuple)) for v in value):
        rows: list[Iterable[Any]] = list(value)
        width = len(value[0])
        for k, row in enumerate(value):
            if len(row) != width or not width:
                raise InputError(f"the value of '{name}' is a ragged matrix: row {k + 1} has "
                                 f"{len(row)} entries, row 1 has {width}", where=where)
        shape: tuple[int, ...] = (len(value), width)
    else:
        rows = [value]
        shape = (len(value),)
    floats: list[float] = []
    exact: list[Fraction] = []
    for row in rows:
        for v in row:
            if not isinstance(v, (int, float, Decimal, Fraction)) or isinstance(v, bool):
                raise InputError(f"the value of '{name}' must be numbers in a vector or a "
                                 "matrix (at most two levels of brackets)", where=where)
            f = float(v)
            if not math.isfinite(f):
                raise InputError(f"the value of '{name}' has an entry that is not a finite "
                                 "number", where=where)
            floats.append(f)
            # A Decimal (from a TOML or JSON problem set) or an int is exact as written.
            exact.append(Fraction(v) if isinstance(v, (int, Decimal, Fraction)) else Fraction(f))
    return ArrayValue(tuple(floats), tuple(exact), shape)
