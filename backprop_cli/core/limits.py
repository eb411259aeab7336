"""The bounds on what one run may take: sizes of input, of arrays, of echoed text.

Each bound is checked before the work (or the allocation) it protects, from sizes alone,
so that hostile input ends in one clear message (exit 2) instead of a MemoryError or a
machine out of memory. The numbers are stated in the README's "Limits" section.
"""

from __future__ import annotations

ECHO_CHARS = 200  # echoed input in a message: at most this many characters


def abbreviate(text: str, limit: int = ECHO_CHARS) -> str:
    """``text`` cut in the middle past ``limit`` characters, saying how much was left out:
    a message that echoes a 1,000,000-digit literal stays one line."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2 - 10, 8)
    return f"{text[:keep]}…({len(text) - 2 * keep:,} characters)…{text[-keep:]}"

# Input read from a file or standard input, in bytes. An expression of 100,000 nodes is
# about 600 KB; a problem set or a CSV file is read whole and kept as Python objects
# (about 30 times its size), so 32 MB is already about 1 GB of memory.
MB = 1 << 20
EXPRESSION_BYTES = 4 * MB
PROBLEM_SET_BYTES = 32 * MB
CSV_BYTES = 32 * MB


def megabytes(n: int) -> str:
    return f"{n / MB:g} MB"
