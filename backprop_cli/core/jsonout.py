"""The one JSON encoder of every `--json` output: strict JSON, whatever the numbers.

JSON has no inf or nan (``json.dumps`` would write the non-standard ``Infinity``, or with
``allow_nan=False`` refuse). The policy, stated in docs/reference/json.md: a non-finite
number is written as ``null``, and the document's top-level ``non_finite`` object says what
each such ``null`` was, by its JSON Pointer (RFC 6901): ``{"/checks/0/numeric": "inf"}``
(``"inf"``, ``"-inf"`` or ``"nan"``, which Python's ``float()`` reads back). The object is
there only when something was replaced, and names at most ``MAX_LISTED`` places (with
``non_finite_omitted`` counting the rest), so that a 1,000,000-entry array of inf stays small.
"""

from __future__ import annotations

import json
import math
import numbers
import re
from typing import Any

try:
    import orjson
except ImportError:  # the graders vendored into PrairieLearn's stock image carry no orjson
    orjson = None  # type: ignore[assignment]

MAX_LISTED = 100


def _name(x: float) -> str:
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def clean(doc: Any) -> tuple[Any, dict[str, str], int]:
    """A copy of ``doc`` with every non-finite float replaced by None, the replaced places
    (at most MAX_LISTED) and how many there were. Iterative: no recursion limit on nesting."""
    found: dict[str, str] = {}
    count = 0
    root: list[Any] = [None]
    # Work items: (value, container to store into, key there, path of the value).
    stack: list[tuple[Any, Any, Any, list[str | int]]] = [(doc, root, 0, [])]
    while stack:
        value, into, key, path = stack.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                count += 1
                if len(found) < MAX_LISTED:
                    found[_pointer(path)] = _name(value)
                value = None
            into[key] = value
        elif isinstance(value, dict):
            copy: dict[Any, Any] = {}
            into[key] = copy
            for k, v in value.items():
                copy[k] = None
                stack.append((v, copy, k, [*path, k]))
        elif isinstance(value, (list, tuple)):
            items: list[Any] = [None] * len(value)
            into[key] = items
            for i, v in enumerate(value):
                stack.append((v, items, i, [*path, i]))
        else:
            into[key] = value
    return root[0], found, count


def dumps(doc: Any, *, indent: int | None = 2) -> str:
    """``doc`` as strict JSON (parses with any JSON reader), ending in a newline: indented by
    two spaces (or compact with ``indent=None``), non-ASCII characters escaped."""
    try:
        # The stdlib's C encoder, compact, is the cheap exact test for a non-finite number
        # (json's indented encoder is pure Python: 4 s for a 100,000-node document).
        json.dumps(doc, allow_nan=False)
    except ValueError:
        cleaned, found, count = clean(doc)
        if isinstance(cleaned, dict) and count:
            cleaned["non_finite"] = found
            if count > len(found):
                cleaned["non_finite_omitted"] = count - len(found)
        doc = cleaned
    if orjson is None:
        text = json.dumps(doc, default=_plain, indent=indent, ensure_ascii=True)
        return text + "\n"
    option = orjson.OPT_NON_STR_KEYS | (orjson.OPT_INDENT_2 if indent else 0)
    text = orjson.dumps(doc, default=_plain, option=option).decode()
    return _NON_ASCII.sub(_escape, text) + "\n"


def _plain(x: Any) -> Any:
    """A number of another type (numpy's) as Python's own."""
    if isinstance(x, numbers.Integral):
        return int(x)
    if isinstance(x, numbers.Real):
        return float(x)
    raise TypeError(f"{type(x).__name__} is not JSON")


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


def _escape(match: re.Match[str]) -> str:
    # ASCII-only output reads the same through any terminal encoding; json's own escape
    # (a surrogate pair above U+FFFF).
    return json.dumps(match.group())[1:-1]
