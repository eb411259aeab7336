"""The bounds on what one run may take: sizes of input, of arrays, of echoed text.

Each bound is checked before the work (or the allocation) it protects, from sizes alone,
so that hostile input ends in one clear message (exit 2) instead of a MemoryError or a
machine out of memory. The numbers are stated in docs/reference/limits.md.
"""

from __future__ import annotations

import re

ECHO_CHARS = 200  # echoed input in a message: at most this many characters
WORD_CHARS = 80  # one unbroken run (a literal, a node's text) in a message
MESSAGE_CHARS = 2000  # a whole message
_LONG_WORD = re.compile(r"\S{" + str(WORD_CHARS + 1) + ",}")


def abbreviate(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` cut in the middle past ``limit`` characters, saying how much was left out:
    a message that echoes a 1,000,000-digit literal stays one line."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2 - 10, 8)
    return f"{text[:keep]}…({len(text) - 2 * keep:,} characters)…{text[-keep:]}"


def abbreviate_message(text: str) -> str:
    """A message with every long unbroken run cut (a 1,000,000-digit literal, a node's
    100,000-character text), and the whole cut past MESSAGE_CHARS."""
    if len(text) > WORD_CHARS:
        text = _LONG_WORD.sub(lambda m: abbreviate(m.group(), WORD_CHARS), text)
    return abbreviate(text, MESSAGE_CHARS)


_CONTROL = re.compile(  # C0/C1 controls, bidi and other format characters, line separators
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f"
    "\ufeff\ufff9-\ufffb\ud800-\udfff]")
_CONTROL_NO_NEWLINE = re.compile(_CONTROL.pattern.replace("\x00-\x1f", "\x00-\x09\x0b-\x1f"))


def visible(text: str, *, newlines: bool = False) -> str:
    """Someone else's text made safe to echo: each control, bidi or invisible format
    character (NUL, ESC, BEL, U+202E, ...) as a visible escape (\\x1b, \\u202e), so that no
    terminal, ANSI-to-HTML converter or bidi renderer acts on it; newlines too unless
    ``newlines`` (one answer is one line: it cannot forge the lines after it)."""
    pattern = _CONTROL_NO_NEWLINE if newlines else _CONTROL
    if pattern.search(text) is None:
        return text
    return pattern.sub(lambda m: _ESCAPES.get(m.group()) or (
        f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"),
        text)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def echo(text: str, limit: int = ECHO_CHARS) -> str:
    """A student's (or any untrusted) text as it may be echoed: visible and cut."""
    return abbreviate(visible(text), limit)


def capped(lines: list[str], limit: int, what: str = "notes") -> list[str]:
    """At most ``limit`` lines, the last saying how many more were left out."""
    if len(lines) <= limit:
        return lines
    return [*lines[:limit], f"… and {len(lines) - limit:,} more {what}"]


def size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= int(d)
    return n


# Input read from a file or standard input, in bytes. An expression of 100,000 nodes is
# about 600 KB; a problem set or a CSV file is read whole and kept as Python objects
# (about 30 times its size), so 32 MB is already about 1 GB of memory.
MB = 1 << 20
EXPRESSION_BYTES = 4 * MB
PROBLEM_SET_BYTES = 32 * MB
CSV_BYTES = 32 * MB


def megabytes(n: int) -> str:
    return f"{n / MB:g} MB"


# A value given on the command line (an EXPR argument, --at, --expect, any option) has the
# bound of an expression read from a file: the same text, by another way in. (Linux's exec
# already refuses a single argument over 128 KB; other systems and in-process callers,
# such as typer's CliRunner or app([...]), do not.)
ARGUMENT_BYTES = EXPRESSION_BYTES


def too_large_argument(value: str, limit: int | None = None) -> bool:
    """Whether a command-line value is over ``limit`` bytes (UTF-8) (default ARGUMENT_BYTES)."""
    limit = ARGUMENT_BYTES if limit is None else limit
    if len(value) <= limit // 4:  # at most 4 bytes a character: no need to encode
        return False
    return len(value.encode("utf-8", "surrogatepass")) > limit

# The entries of one array node (a 2000×2000 matrix is 4,000,000 entries, 32 MB of floats),
# and of all array nodes of one graph together (the backward pass keeps about three times
# as much: values, upstream gradients, local gradients). Checked from the shapes alone,
# before each node is computed. `backprop --max-entries N` raises (or lowers) both: the
# total is TOTAL_FACTOR times the per-node limit.
DEFAULT_MAX_ENTRIES = 4_000_000
TOTAL_FACTOR = 8
_max_entries = DEFAULT_MAX_ENTRIES


def max_entries() -> int:
    return _max_entries


def set_max_entries(n: int) -> None:
    """Set the per-node limit for this process (the CLI's global --max-entries)."""
    global _max_entries
    if n < 1:
        raise ValueError("the limit must be at least 1 entry")
    _max_entries = int(n)


def too_many_entries(shape: tuple[int, ...] | None, entries: int, total: int) -> str | None:
    """Why a node of ``entries`` entries (``shape`` when known), after ``total`` entries in
    the nodes before it, may not be allocated; None when it may."""
    limit = _max_entries
    if entries <= limit and total + entries <= limit * TOTAL_FACTOR:
        return None  # the common case, asked once a node on every forward pass
    from .formatting import shape_text

    what = f"{shape_text(shape)} = {entries:,} entries" if shape is not None \
        else f"up to {entries:,} entries"
    if entries > limit:
        return f"its result would be {what}, over the limit of {limit:,} entries per node"
    if total + entries > limit * TOTAL_FACTOR:
        return (f"its result ({what}) would bring the graph's arrays to {total + entries:,} "
                f"entries, over the limit of {limit * TOTAL_FACTOR:,} for all nodes together")
    return None


LIMIT_HINT = ("backprop --max-entries N COMMAND ... raises the limit, if the machine has the "
              "memory (8 bytes an entry, about three times over for the backward pass)")


# Brackets ([ and {) nested in a TOML or JSON Lines problem file. Python's tomllib and json
# readers recurse once per level and fail with RecursionError near 500-1000 levels (a
# 3,000-line traceback); a problem needs 3 (at = {W = [[1, 2], [3, 4]]}).
MAX_NESTING = 32


def too_deep(text: str, limit: int = MAX_NESTING, *, toml: bool = True) -> int | None:
    """The 1-based line where ``[``/``{`` nesting first passes ``limit``, or None.

    A linear scan that skips strings (TOML's "...", '...', triple-quoted forms; JSON's
    "...") and TOML comments, so brackets inside them do not count. It runs before the
    parser, which then never sees input deep enough to exhaust the stack.
    """
    depth = 0
    line = 1
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return line
        elif ch in "]}":
            depth = max(depth - 1, 0)
        elif ch == "#" and toml:
            end = text.find("\n", i)
            i = n if end < 0 else end
            continue
        elif ch == '"' or (ch == "'" and toml):
            triple = toml and text.startswith(ch * 3, i)
            close = ch * 3 if triple else ch
            j = i + len(close)
            while j < n:
                c = text[j]
                if c == "\\" and ch == '"':
                    j += 2
                    continue
                if text.startswith(close, j):
                    break
                if c == "\n":
                    if not triple:
                        break  # an unclosed string ends at the line: the parser reports it
                    line += 1
                j += 1
            i = j + (len(close) if j < n and text.startswith(close, j) else 0)
            continue
        i += 1
    return None
