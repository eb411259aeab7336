"""How numbers and shapes are written in tables and messages: one rule each, for every module.

Free of numpy and rich, so that the library core (its messages), the answer checker and the
renderers can all use it. Two rules differ on purpose and live in picture.py: the circuit
pictures write the lecture's two decimals (-0.53) and three significant digits for arrays,
and leave a scalar wire without a shape label, as the lecture draws it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def number(v: float | None) -> str:
    """Six significant digits, like the lecture's rounded numbers but without losing sign;
    "–" where there is no number."""
    if v is None:
        return "–"
    if v == 0:
        return "0"
    return f"{v:.6g}"


def rounded(v: float, digits: int) -> str:
    """``digits`` significant digits, for a figure that is itself approximate: a tolerance
    (±5e-07), a gradient norm in a message (9.81e-07), a chart's axis label (0.257)."""
    return f"{v:.{digits}g}"


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


# --- arrays: the one formatter every table, message and export uses ----------------------
# A table cell holds a matrix one row per line; a sentence holds it on one line. Both
# abbreviate by entries (first ones, "…", the last), never by characters, so every number
# shown is whole; --json has every entry.

SHOWN = 4  # entries of a vector (rows, columns of a matrix) in a table cell
LINE_SHOWN = 8  # entries of an array in a sentence (a message, a report's "what differed")


def cut(items: list[Any], shown: int = SHOWN, head: int | None = None,
        mark: Any = "…") -> list[Any]:
    """At most ``shown`` items as they are; longer, the first ``head`` (default shown - 2),
    ``mark`` and the last: the one abbreviation rule of tables, pictures and exports."""
    if len(items) <= shown:
        return items
    first = max(shown - 2, 1) if head is None else head
    return [*items[:first], mark, items[-1]]


def _cut(items: list[Any], shown: int) -> list[Any]:
    return cut(items, shown)


def _entries(row: list[Any], shown: int) -> str:
    return "[" + ", ".join(c if c == "…" else number(c) for c in _cut(row, shown)) + "]"


# The pictures copy the slides, so their numbers differ from the tables' on purpose (both
# rules live here, with the tables' one, so that no view formats a number by itself).

def lecture_number(v: float | None) -> str:
    """The lecture's two decimals (-0.53, 0.73), more digits only where two would lose it;
    "" where there is no number (a wire without a value)."""
    if v is None:
        return ""
    if v == 0:
        return "0"
    if v == int(v) and abs(v) < 1e6:
        return f"{v:.2f}"
    if 0.01 <= abs(v) < 1e5:
        return f"{v:.2f}"
    return f"{v:.3g}"


def lecture_entry(v: float) -> str:
    """An array entry on a picture: three significant digits, as the lecture's ||Wx||² slide
    writes 0.22, 0.088, -0.112, 0.636 (3001, not 3e+03)."""
    if v == 0:
        return "0"
    if 1e3 <= abs(v) < 1e6:
        return f"{v:.0f}"
    return f"{v:.3g}"


def value(v: float | list[Any] | tuple[Any, ...] | str | None, shown: int = SHOWN) -> str:
    """A number (six significant digits), or an array as [a, b, …] with one matrix row per
    line; an array longer than ``shown`` entries keeps its first and last ones and says its
    shape. Text passes through."""
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        rows = list(v)
        if rows and isinstance(rows[0], (list, tuple)):  # a matrix: one row per line
            lines = [r if r == "…" else _entries(list(r), shown) for r in _cut(rows, shown)]
            body = "[" + ",\n ".join(lines) + "]"
            big = len(rows) > shown or len(rows[0]) > shown
            return f"{len(rows)}×{len(rows[0])} " + body if big else body
        body = _entries(rows, shown)
        return f"{len(rows)}: " + body if len(rows) > shown else body
    return number(v)


def inline(v: Any, limit: int = LINE_SHOWN) -> str:
    """A number or an array on one line, for sentences: [0.44, 0.52] or
    [[0.088, 0.176], [0.104, 0.208]]; past ``limit`` entries `a vector of 10 [a, b, c, d, …]`."""
    if not isinstance(v, (list, tuple)):
        return number(v)
    shape: tuple[int, ...]
    if v and all(isinstance(r, (list, tuple)) for r in v):
        flat, shape = [x for r in v for x in r], (len(v), len(v[0]))
    else:
        flat, shape = list(v), (len(v),)
    if len(flat) > limit:
        return f"{describe(shape)} [" + ", ".join(number(x) for x in flat[:limit // 2]) + ", …]"
    if len(shape) == 1:
        return "[" + ", ".join(number(x) for x in flat) + "]"
    return "[" + ", ".join("[" + ", ".join(number(x) for x in row) + "]" for row in v) + "]"


_BREAK_AFTER = frozenset("+-*/^@,;=(")


def wrap_code(s: str, width: int) -> str:
    """An expression in lines of at most ``width`` characters, broken after an operator, a
    comma or an opening parenthesis (never inside a name or a number); a single longer
    token keeps its own line whole. Existing line breaks are kept."""
    if width < 1:
        return s
    out: list[str] = []
    for line in s.split("\n"):
        cur = ""
        token = ""
        pieces: list[str] = []
        prev = ""  # the last character that is not a space
        for ch in line:
            token += ch
            # Not after the "/" of ∂/∂x, nor after a unary minus (= -x, (-x, 2*-x).
            glued = (ch == "/" and prev == "∂") or (ch == "-" and prev in _BREAK_AFTER | {""})
            if (ch in _BREAK_AFTER and not glued) or ch == " ":
                pieces.append(token)
                token = ""
            if ch != " ":
                prev = ch
        if token:
            pieces.append(token)
        for piece in pieces:
            if cur and len(cur) + len(piece.rstrip()) > width:
                out.append(cur.rstrip())
                cur = piece.lstrip()
            else:
                cur += piece
        out.append(cur.rstrip())
    return "\n".join(out)
