"""Numbers as the user typed them: a float for the engines and the exact decimal for sympy."""

from __future__ import annotations

import math
import re
import sys
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from .errors import InputError

# Significant digits a literal may have (a float keeps 17). Past this the exact value costs
# more than it can mean: a 1,000,000-digit fraction takes a minute to build.
MAX_DIGITS = 1000
_LEADING_ZERO = re.compile(r"[+-]?0\d")
_HINT = "use plain ASCII digits such as 2.5, .5 or 1e-3; values must stay below about 1.8e308"


def parse_number(text: str, *, source: str, pos: int, end: int | None = None,
                 where: str = "expression", leading_zeros: bool = False
                 ) -> tuple[float, Fraction]:
    """A float and its exact decimal value; rejects what overflows, what is not ASCII
    digits, and (unless ``leading_zeros``, as in CSV data) a leading zero such as 010."""
    def bad(message: str, hint: str = _HINT) -> InputError:
        return InputError(message, source=source, pos=pos, end=end, where=where, hint=hint)

    # Decimal, not Fraction(text): Fraction goes through int(str), which Python refuses past
    # 4,300 digits ("1." followed by 4,400 zeros is exactly 1).
    if not text.isascii() or "_" in text:
        raise bad(f"'{text}' is not a finite number")
    try:
        dec = Decimal(text)
    except (InvalidOperation, ValueError):
        raise bad(f"'{text}' is not a finite number") from None
    if not dec.is_finite():
        raise bad(f"'{text}' is not a finite number")
    value = float(dec)
    if not math.isfinite(value):
        raise bad(f"'{text}' is not a finite number")
    if not leading_zeros and _LEADING_ZERO.match(text.strip()):
        raise bad(f"'{text}' has a leading zero",
                  hint=f"write {text.lstrip('+-').lstrip('0') or '0'}: leading zeros are "
                  "rejected, as in Python and JSON, so that 010 is never read as 10 (or 8)")
    if dec != 0 and abs(value) < sys.float_info.min:
        # Subnormal or zero: the float keeps few of the digits typed (1e-320 is stored as
        # 9.99989e-321), so backprop would run at another point than sympy's exact one.
        raise bad(f"'{text}' is too small for a float",
                  hint="use 0, or a magnitude of at least 2.3e-308")
    sign, digits, exponent = dec.as_tuple()
    assert isinstance(exponent, int)
    stripped = "".join(map(str, digits)).lstrip("0")
    kept = stripped.rstrip("0")
    exponent += len(stripped) - len(kept)  # trailing zeros only move the decimal point
    if len(kept) > MAX_DIGITS:
        raise bad(f"'{text}' has {len(kept):,} significant digits, more than the "
                  f"{MAX_DIGITS:,} a number may have", hint="a float keeps 17 of them: round it")
    mantissa = int(kept or "0") * (-1 if sign else 1)
    if mantissa == 0:  # 0e999999999: no power of ten to build
        return value, Fraction(0)
    exact = Fraction(mantissa * 10 ** exponent) if exponent >= 0 \
        else Fraction(mantissa, 10 ** -exponent)
    return value, exact
