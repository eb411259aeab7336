"""Symbolic work under a wall-clock budget: a forked worker process, stopped at the deadline.

A sympy call cannot be interrupted from inside Python (diff or evalf of a large expression
runs for minutes in one call), so a budget checked between calls is overrun. The work runs
in a child process instead; it sends each result as soon as it has it, and the parent keeps
every result that arrived before the deadline and then kills the child. Ctrl-C in the parent
kills the child too (the child ignores SIGINT: the parent decides).

Where os.fork does not exist (Windows) the work runs in this process, in a thread, and the
deadline is only checked between results (``Job.hard`` is False then).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

Send = Callable[[Any], None]

_HEADER = struct.Struct("!I")
IMPORT_GRACE = 5.0  # seconds the deadline may move while this process imports sympy


class Job:
    """``work(send)`` running in a worker; ``results()`` yields what it sent until it ends or
    ``deadline`` (time.monotonic()) passes. ``finished`` then says whether it ended by itself,
    ``error`` what it raised (text)."""

    def __init__(self, work: Callable[[Send], None], deadline: float) -> None:
        # sympy is imported here, before the fork: every worker of this process then starts
        # with it (a fork costs milliseconds, an import of sympy 0.4 s or more). The budget
        # is for the symbolic work: the first import (a fixed cost, whatever the expression)
        # moves the deadline by as long as it took, by IMPORT_GRACE seconds at most.
        before = time.monotonic()
        import sympy  # noqa: F401

        self.deadline = deadline + min(IMPORT_GRACE, time.monotonic() - before)
        self.finished = False
        self.error: str | None = None
        self.hard = hasattr(os, "fork")
        self._pid = 0
        self._read = -1
        self._inline: list[Any] | None = None
        if self.hard:
            self._start_fork(work)
        else:  # pragma: no cover - Windows
            self._inline = []
            self._run_inline(work)

    def _start_fork(self, work: Callable[[Send], None]) -> None:
        read, write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: run, send, and leave without running the parent's exit code
            code = 0
            try:
                # The collector's first full pass would touch (and so copy) every page the
                # parent owns: the worker is short-lived and makes few cycles.
                gc.disable()
                os.close(read)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                out = os.fdopen(write, "wb", buffering=0)

                def send(message: Any) -> None:
                    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
                    out.write(_HEADER.pack(len(data)) + data)

                from .symbolic import run_deep

                try:
                    run_deep(lambda: work(send))
                    send(("__done__", None))
                except RecursionError:
                    send(("__error__", "the expression is too deeply nested for sympy"))
                except Exception as exc:  # reported by the parent as a note, never a crash
                    send(("__error__", f"{type(exc).__name__}: {exc}"))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(write)
        self._pid, self._read = pid, read

    def _run_inline(self, work: Callable[[Send], None]) -> None:  # pragma: no cover
        from .symbolic import run_deep

        box = self._inline
        assert box is not None

        def send(message: Any) -> None:
            if time.monotonic() > self.deadline:
                raise TimeoutError
            box.append(message)

        try:
            run_deep(lambda: work(send))
            box.append(("__done__", None))
        except TimeoutError:
            pass
        except RecursionError:
            box.append(("__error__", "the expression is too deeply nested for sympy"))

    def results(self) -> Iterator[Any]:
        if self._inline is not None:  # pragma: no cover
            for message in self._inline:
                if not self._control(message):
                    yield message
            return
        buffer = b""
        try:
            while True:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([self._read], [], [], left)
                if not ready:
                    break
                chunk = os.read(self._read, 1 << 16)
                if not chunk:
                    break
                buffer += chunk
                while len(buffer) >= _HEADER.size:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    message = pickle.loads(buffer[_HEADER.size:_HEADER.size + size])
                    buffer = buffer[_HEADER.size + size:]
                    if not self._control(message):
                        yield message
                if self.finished:
                    break
        finally:
            self.stop()

    def _control(self, message: Any) -> bool:
        kind = message[0] if isinstance(message, tuple) and message else None
        if kind == "__done__":
            self.finished = True
            return True
        if kind == "__error__":
            self.finished = True
            self.error = str(message[1])
            return True
        return False

    def stop(self) -> None:
        """Kill the worker (if it still runs) and reap it; safe to call twice."""
        if self._pid:
            pid, self._pid = self._pid, 0
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if self._read >= 0:
            os.close(self._read)
            self._read = -1

    def __del__(self) -> None:
        self.stop()


class Finished:
    """A Job's face over results already at hand: sympy work that ran in this process
    (verify's gate-by-gate pass in mpmath numbers, a linear loop that checks the deadline
    itself, so it needs no worker to stop it). ``finished`` False: it stopped at the
    deadline, as a killed worker would have."""

    hard = True
    error: str | None = None

    def __init__(self, messages: list[Any], deadline: float, finished: bool = True) -> None:
        self.messages = messages
        self.deadline = deadline
        self.finished = finished

    def results(self) -> Iterator[Any]:
        yield from self.messages

    def stop(self) -> None:
        """Nothing runs: nothing to stop."""
