"""Reading TOML that is broken in places (a key, a student's answers): each table with an
error is set aside and reported against its problem, the rest is read, in one pass.

tomllib stops at the first error and cannot resume. Reading the whole file again after
setting each broken table aside is quadratic: 9,000 broken tables in 98 KB took 221 s.
Here the file is cut at its table headers into chunks, and when the whole does not read,
the chunks are read on their own, in windows that double while they read cleanly and
shrink to one chunk at an error; tomllib stops at the error, so each chunk is read a
bounded number of times and the whole takes time about linear in the file. The windows
only find what is wrong in a table itself (a table declared twice is an error of the
whole file); one full read at the end, with the broken chunks blanked, is what the callers
get, and each error it still finds costs one more full read, at most MAX_FULL_READS.

Every text handed to tomllib is first scanned for brackets nested past MAX_NESTING
(core/limits.py): tomllib recurses per level and would exhaust the stack.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..core.limits import MAX_NESTING, too_deep
from ..core.tomlcompat import tomllib

MAX_FULL_READS = 16  # errors only a read of the whole file finds (tables declared twice)


@dataclass
class Broken:
    """A table set aside: its problem's name, the line of the error, tomllib's words."""

    name: str
    line: int
    message: str


@dataclass
class Recovered:
    """What could be read (``doc``, None when nothing) and what could not."""

    doc: dict[str, Any] | None
    broken: list[Broken] = field(default_factory=list)
    fatal: str | None = None  # why the whole file could not be read
    fatal_line: int | None = None  # where (None: the whole file, as a too long number)


class _TooManyDigitsError(Exception):
    """tomllib's int() past Python's 4,300-digit conversion limit: the whole file."""


_AT_LINE = re.compile(r"\(at line (\d+), column (\d+)\)|\(at end of document\)")


def toml_error(exc: tomllib.TOMLDecodeError, n_lines: int) -> tuple[str, int]:
    """tomllib's message without its position, and the 1-based line it names."""
    text = str(exc)
    m = _AT_LINE.search(text)
    message = _AT_LINE.sub("", text).strip()
    if m is None or m.group(1) is None:
        return message, max(n_lines, 1)
    return f"{message} (column {m.group(2)})", int(m.group(1))


HEADER = re.compile(r"^\s*\[\[?\s*(.+?)\s*\]\]?\s*(?:#.*)?$")
_KEYPART = re.compile(r'\s*("(?:[^"\\]|\\.)*"|\'[^\']*\'|[A-Za-z0-9_-]+)\s*')


def dotted(text: str) -> list[str]:
    """The parts of a dotted TOML key (``p.expect``, ``"a b".c``)."""
    parts = []
    pos = 0
    while pos < len(text):
        m = _KEYPART.match(text, pos)
        if m is None:
            break
        part = m.group(1)
        if part[0] in "\"'":
            part = part[1:-1]
        parts.append(part)
        pos = m.end()
        if pos < len(text) and text[pos] == ".":
            pos += 1
        else:
            break
    return parts


def header_name(line: str) -> str | None:
    """The problem a table header belongs to (``[p.expect]``: p); None if not a header."""
    m = HEADER.match(line)
    if m is None:
        return None
    parts = dotted(m.group(1))
    return parts[0] if parts else m.group(1)


def _is_header(line: str) -> bool:
    # Also a malformed header (`[name` without its bracket): it still starts a new table.
    return line.lstrip().startswith("[")


_KEY = r"""(?:[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*')"""
_STRICT_HEADER = re.compile(rf"^\s*\[\[?\s*{_KEY}(?:\s*\.\s*{_KEY})*\s*\]\]?\s*(?:#.*)?$")


def _chunk_starts(lines: list[str]) -> list[int]:
    """0-based indices of the lines that start a table: a line that starts with `[` outside
    strings and brackets (a malformed header too), or inside brackets one that is a table
    header whole (an unclosed `[` in a broken table must not swallow the tables after it);
    the rows of a matrix written one per line (`  [1, 2],`) are not headers."""
    starts: list[int] = []
    depth = 0
    in_string: str | None = None
    for k, line in enumerate(lines):
        if in_string is None and _is_header(line) and (depth == 0
                                                         or _STRICT_HEADER.match(line)):
            starts.append(k)
            depth = 0
            continue
        depth, in_string = _brackets(line, depth, in_string)
    return starts


def _brackets(line: str, depth: int, in_string: str | None) -> tuple[int, str | None]:
    """The bracket depth after ``line`` (strings and comments skipped), and the multi-line
    string it leaves open, if any."""
    i, n = 0, len(line)
    while i < n:
        if in_string is not None:
            end = line.find(in_string, i)
            if end < 0:
                return depth, in_string
            i, in_string = end + 3, None
            continue
        ch = line[i]
        if ch == "#":
            break
        if line.startswith(('"""', "'''"), i):
            in_string = line[i:i + 3]
            i += 3
            continue
        if ch in "\"'":
            j = i + 1
            while j < n and line[j] != ch:
                j += 2 if ch == '"' and line[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth = max(depth - 1, 0)
        i += 1
    return depth, in_string


_DEEP = f"brackets nested more than {MAX_NESTING} levels deep"


def _read(text: str, n_lines: int) -> dict[str, Any] | tuple[str, int]:
    """The document, or (message, 1-based line) of its first error."""
    deep = too_deep(text)
    if deep is not None:  # tomllib would exhaust the stack: refused before it runs
        return _DEEP, deep
    try:
        doc: dict[str, Any] = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        return toml_error(exc, n_lines)
    except RecursionError:  # the scan above should make this unreachable
        return "nested too deeply to read", 1
    except ValueError:
        raise _TooManyDigitsError from None
    return doc


def read_toml(text: str) -> Recovered:
    """Read ``text``, setting aside each table with an error (see the module's docstring).

    A problem split into several tables (``[p]`` and ``[p.expect]``) is set aside whole,
    except for a table declared twice, where only the second is. An error before the
    first table, or one found again after its table was set aside, is ``fatal``.
    """
    lines = text.split("\n")  # tomllib's own line numbers (splitlines() also splits at \f)
    starts = _chunk_starts(lines)
    n_chunks = len(starts)
    ends = [*starts[1:], len(lines)]
    names = [header_name(lines[s]) for s in starts]
    by_name: dict[str, list[int]] = {}
    for c, name in enumerate(names):
        if name is not None:
            by_name.setdefault(name, []).append(c)
    blanked: set[int] = set()
    out = Recovered(None)

    def chunk_of(line: int) -> int | None:  # 1-based line -> chunk (None: the preamble)
        c = bisect.bisect_right(starts, line - 1) - 1
        return None if c < 0 else c

    def text_of(first: int, last: int, preamble: bool = False) -> str:
        """Chunks first..last-1 (and the lines before the first table), broken ones blank."""
        parts: list[str] = lines[:starts[0] if starts else len(lines)] if preamble else []
        for c in range(first, last):
            block = lines[starts[c]:ends[c]]
            parts.extend([""] * len(block) if c in blanked else block)
        return "\n".join(parts)

    def set_aside(line: int, message: str) -> int | None:
        """Blank the problem around ``line``; its chunk, or None when that is fatal."""
        c = chunk_of(line)
        if c is None or c in blanked:
            out.fatal, out.fatal_line = message, line
            return None
        name = names[c]
        out.broken.append(Broken(name or lines[starts[c]].strip(), line, message))
        blanked.update([c] if name is None or "twice" in message else by_name[name])
        return c

    def windows(first: int) -> bool:
        """Read chunks from ``first`` on in doubling windows; False on a fatal error."""
        width = 1
        c = first
        while c < n_chunks:
            last = min(c + width, n_chunks)
            n_lines = ends[last - 1] - starts[c]
            got = _read(text_of(c, last), n_lines)
            if isinstance(got, dict):
                c, width = last, width * 2
                continue
            message, line = got
            if width > 1:  # whose error? tomllib may name the next table's header (an
                # unclosed array) or the end: one chunk at a time decides, from the chunk
                # before the one named (tomllib reads in order: those before it were read)
                named = chunk_of(starts[c] + line) if message != _DEEP else None
                c, width = max(c, (named if named is not None else c) - 1), 1
                continue
            found = set_aside(starts[c] + line, message)
            if found is None:
                return False
            c, width = found + 1, 1
        return True

    try:
        got = _read(text_of(0, n_chunks, preamble=True), len(lines))
        if isinstance(got, dict):  # the common case: one read
            out.doc = got
            return out
        # Each table on its own: the syntax errors, from the table before the one named
        # (the tables before it were read).
        named = chunk_of(got[1]) if got[0] != _DEEP else None  # the scan reads it all
        if not windows(max((named or 0) - 1, 0)):
            return out
        for _ in range(MAX_FULL_READS):  # what only the whole file shows (a table twice)
            got = _read(text_of(0, n_chunks, preamble=True), len(lines))
            if isinstance(got, dict):
                out.doc = got
                return out
            message, line = got
            if set_aside(line, message) is None:
                return out
        out.fatal, out.fatal_line = (f"{message} (and more than {MAX_FULL_READS} tables "
                                     "before it could not be read)"), line
    except _TooManyDigitsError:
        out.fatal = "a whole number of more than 4,300 digits"
    return out
