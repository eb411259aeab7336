"""How numbers and shapes are written in tables and messages: one rule each, for every module.

Free of numpy and rich, so that the library core (its messages), the answer checker and the
renderers can all use it. Two rules differ on purpose and live in picture.py: the circuit
pictures write the lecture's two decimals (-0.53) and three significant digits for arrays,
and leave a scalar wire without a shape label, as the lecture draws it.
"""

from __future__ import annotations

from collections.abc import Iterable


def number(v: float | None) -> str:
    """Six significant digits, like the lecture's rounded numbers but without losing sign;
    "–" where there is no number."""
    if v is None:
        return "–"
    if v == 0:
        return "0"
    return f"{v:.6g}"


def shape_text(shape: Iterable[int] | None) -> str:
    """`scalar`, `4` (a vector of 4) or `2×3` (a matrix of 2 rows, 3 columns)."""
    dims = tuple(shape or ())
    return "scalar" if not dims else "×".join(str(n) for n in dims)


def describe(shape: Iterable[int]) -> str:
    """For messages: `a scalar`, `a vector of 3`, `a 2×3 matrix`."""
    dims = tuple(shape)
    if not dims:
        return "a scalar"
    if len(dims) == 1:
        return f"a vector of {dims[0]}"
    return f"a {shape_text(dims)} matrix"


def entry(idx: Iterable[int]) -> str:
    """An entry's index: `[1]` in a vector, `[0,1]` (row 0, column 1) in a matrix."""
    return "[" + ",".join(str(i) for i in idx) + "]"
