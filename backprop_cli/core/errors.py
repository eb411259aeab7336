"""The library's exceptions. The CLI alone turns them into messages and exit codes."""

from __future__ import annotations

from enum import IntEnum

from .limits import abbreviate_message


class ExitStatus(IntEnum):
    """Every exit code of `backprop`, in one place (docs/reference/exit-codes.md lists the same)."""

    OK = 0  # every check passed
    CHECK_FAILED = 1  # a gradient (or an expected answer) did not match
    BAD_INPUT = 2  # the input could not be used (or an output not written); nothing was computed
    INTERNAL = 3  # a bug in backprop: an unexpected exception
    INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, as shells report it
    PIPE_CLOSED = 141  # the reader of stdout went away (`| head -1`): 128 + SIGPIPE, quietly


class BackpropError(Exception):
    """Base class: a problem with what the user gave us, reported without a traceback."""

    status = ExitStatus.BAD_INPUT

    def __init__(self, message: str, *, source: str | None = None, pos: int | None = None,
                 end: int | None = None, hint: str | None = None, where: str | None = None):
        # Messages echo the user's input: bounded here, once, for every message.
        message = abbreviate_message(message)
        super().__init__(message)
        self.message = message
        self.source = source
        self.pos = pos
        self.end = end
        self.hint = None if hint is None else abbreviate_message(hint)
        self.where = where  # e.g. "--at" or "expression"

    def context(self, width: int = 72) -> str:
        """The offending line with a caret under the place, as lark's get_context does."""
        if self.source is None or self.pos is None:
            return ""
        text = self.source
        pos = min(max(self.pos, 0), len(text))
        line_start = text.rfind("\n", 0, pos) + 1
        line_end = text.find("\n", pos)
        if line_end < 0:
            line_end = len(text)
        line = text[line_start:line_end]
        col = pos - line_start
        # Long lines (10,000-term sums) are cut to a window around the caret.
        if len(line) > width:
            lo = max(0, col - width // 2)
            hi = min(len(line), lo + width)
            prefix = "..." if lo > 0 else ""
            suffix = "..." if hi < len(line) else ""
            line = prefix + line[lo:hi] + suffix
            col = col - lo + len(prefix)
        span = 1
        if self.end is not None and self.end > pos:
            span = max(1, min(self.end - pos, len(line) - col))
        printable = "".join(ch if ch.isprintable() else "?" for ch in line)
        return f"{printable}\n{' ' * col}{'^' * span}"

    def line_col(self) -> tuple[int, int] | None:
        if self.source is None or self.pos is None:
            return None
        before = self.source[: self.pos]
        return before.count("\n") + 1, self.pos - (before.rfind("\n") + 1) + 1

    def position_text(self) -> str:
        """" (line 2, column 5)" in a text of several lines, " (column 5)" in one line, or ""."""
        lc = self.line_col()
        if lc is not None and self.source is not None and "\n" in self.source.strip():
            return f" (line {lc[0]}, column {lc[1]})"
        return f" (column {lc[1]})" if lc is not None else ""


class InputError(BackpropError):
    """Syntax errors, unknown names, malformed --at values: fix the input."""


class DomainError(BackpropError):
    """The expression has no (finite, real) value or gradient at the given point."""
