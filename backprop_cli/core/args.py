"""The Python API's arguments, checked at the door: a wrong type is an InputError that names
the argument, as the Python API guide promises, never a TypeError or an AttributeError from deep
inside (issue 30: 20 of 68 wrong-type calls escaped that way).

Each helper returns the value in the type the code below it expects.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any

from .errors import InputError


def _kind(value: Any) -> str:
    return "None" if value is None else f"a {type(value).__name__}"


def text(value: Any, what: str) -> str:
    """A string (the expression, a problem set's text)."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be a string, not {_kind(value)}", where=what)
    return value


def number(value: Any, what: str, *, positive: bool = False) -> float:
    """A finite real number (an int, float, Decimal, Fraction, numpy scalar or 0-d array;
    not a bool)."""
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):  # np.array(2.5)
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (Real, Decimal)):
        raise InputError(f"{what} must be a number, not {_kind(value)}", where=what)
    try:
        f = float(value)
    except (OverflowError, ValueError):
        f = math.inf
    if not math.isfinite(f) or (positive and f <= 0):
        raise InputError(f"{what} must be a {'positive' if positive else 'finite'} number, "
                         f"not {value!r:.60}", where=what)
    return f


def whole(value: Any, what: str, *, minimum: int = 0) -> int:
    """A whole number (an int, not a bool) of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        shown = f"{value!r:.60}" if isinstance(value, int) else _kind(value)
        raise InputError(f"{what} must be a whole number from {minimum}, not {shown}",
                         where=what)
    return int(value)


def strings(value: Any, what: str) -> tuple[str, ...]:
    """Names or texts: one string, or an iterable of strings."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Mapping) or not isinstance(value, Iterable):
        raise InputError(f"{what} must be a string or a list of strings, not {_kind(value)}",
                         where=what)
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"{what} must hold strings, not {_kind(item)}", where=what)
    return items


def exact(value: Any, what: str) -> tuple[float, Fraction]:
    """A scalar input's value from Python: the float backprop uses and the exact number
    sympy does (an int, Decimal or Fraction exactly as given)."""
    f = number(value, what)
    if getattr(value, "ndim", None) == 0 and hasattr(value, "item"):
        value = value.item()
    return f, Fraction(value) if isinstance(value, (int, Decimal, Fraction)) else Fraction(f)
