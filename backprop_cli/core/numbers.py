"""Numbers as the user typed them: a float for the engines and the exact decimal for sympy."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

from .errors import InputError


def parse_number(text: str, *, source: str, pos: int, end: int | None = None,
                 where: str = "expression") -> tuple[float, Fraction]:
    """A float and its exact decimal value; rejects what overflows or is not ASCII digits."""
    try:
        exact = Fraction(text)
    except (ValueError, ZeroDivisionError):
        exact = None
    try:
        value = float(text) if exact is not None else math.nan
    except ValueError:  # Fraction accepts "1/3", float does not
        exact, value = None, math.nan
    if exact is None or not text.isascii() or "_" in text or not math.isfinite(value):
        raise InputError(f"'{text}' is not a finite number", source=source, pos=pos, end=end,
                         where=where, hint="use plain ASCII digits such as 2.5, .5 or 1e-3; "
                         "values must stay below about 1.8e308")
    if exact != 0 and abs(value) < sys.float_info.min:
        # Subnormal or zero: the float keeps few of the digits typed (1e-320 is stored as
        # 9.99989e-321), so backprop would run at another point than sympy's exact one.
        raise InputError(f"'{text}' is too small for a float", source=source, pos=pos, end=end,
                         where=where, hint="use 0, or a magnitude of at least 2.3e-308")
    return value, exact
