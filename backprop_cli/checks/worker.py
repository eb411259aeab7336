"""Symbolic work under a wall-clock budget: a warm worker process, stopped at the deadline.

A sympy call cannot be interrupted from inside Python (diff or evalf of a large expression
runs for minutes in one call), so a budget checked between calls is overrun. The work runs
in a child process instead; it sends each result as soon as it has it, and the parent keeps
every result that arrived before the deadline. A job that is still running at the deadline
is stopped by killing the child. Ctrl-C in the parent kills the child too (the child
ignores SIGINT: the parent decides).

The child is forked once and kept for the next job (a fork of a process that holds sympy
costs 15-30 ms, more than checking a small expression): jobs are sent to it as a function
of a module and its arguments, pickled, and it keeps sympy's caches warm between them. A
child that was killed, or died, is replaced by a new fork at the next job. It leaves when
this process does (it reads end-of-file) and never holds this process's terminal or pipes.

Where os.fork does not exist (Windows) the work runs in this process, in a thread, and the
deadline is only checked between results (``Job.hard`` is False then).
"""

from __future__ import annotations

import atexit
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
Work = Callable[..., None]  # work(*args, send): a module-level function, so it pickles

_HEADER = struct.Struct("!Q")
IMPORT_GRACE = 5.0  # seconds the deadline may move while this process imports sympy


def _write(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def _read_exactly(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


class _Worker:
    """The warm child: reads jobs from one pipe, writes results to another."""

    def __init__(self) -> None:
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: serve jobs until the parent goes, never run its exit code
            code = 0
            try:
                os.close(jobs_write)
                os.close(results_read)
                _serve(jobs_read, results_write)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(jobs_read)
        os.close(results_write)
        self.owner = os.getpid()
        self.pid, self.jobs, self.results = pid, jobs_write, results_read

    def alive(self) -> bool:
        if self.owner != os.getpid():  # inherited through a fork of this process: not ours
            return False
        try:
            return os.waitpid(self.pid, os.WNOHANG) == (0, 0)
        except ChildProcessError:
            return False

    def kill(self) -> None:
        if self.owner != os.getpid():
            return
        for fd in (self.jobs, self.results):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass


def _serve(jobs: int, results: int) -> None:
    # The child must not keep the user's terminal or pipe open (`$(backprop ...)` waits for
    # every writer to close), nor stop on the Ctrl-C meant for the parent.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # What the parent owned is never collected here: a collection would touch (and so copy)
    # every page of it.
    gc.freeze()
    from .symbolic import run_deep

    def send(message: Any) -> None:
        _write(results, message)

    while True:
        header = _read_exactly(jobs, _HEADER.size)
        if header is None:
            return  # the parent has gone
        (size,) = _HEADER.unpack(header)
        data = _read_exactly(jobs, size)
        if data is None:
            return
        try:
            run_deep(_job(pickle.loads(data), send))
            send(("__done__", None))
        except RecursionError:
            send(("__error__", "the expression is too deeply nested for sympy"))
        except Exception as exc:  # reported by the parent as a note, never a crash
            send(("__error__", f"{type(exc).__name__}: {exc}"))


def _job(job: tuple[Work, tuple[Any, ...]], send: Send) -> Callable[[], None]:
    work, args = job
    return lambda: work(*args, send)


_worker: _Worker | None = None


def _ready_worker() -> _Worker:
    global _worker
    if _worker is None or not _worker.alive():
        if _worker is not None:
            _worker.kill()
        _worker = _Worker()
    return _worker


def _retire(worker: _Worker) -> None:
    global _worker
    worker.kill()
    if _worker is worker:
        _worker = None


@atexit.register
def retire() -> None:
    """Stop the warm worker (if any): the next job forks a new one, which starts from this
    process as it is then (a test that patches the checks calls this first)."""
    if _worker is not None:
        _retire(_worker)


class Job:
    """``work(*args, send)`` running in the worker; ``results()`` yields what it sent until
    it ends or ``deadline`` (time.monotonic()) passes. ``finished`` then says whether it
    ended by itself, ``error`` what it raised (text)."""

    def __init__(self, work: Work, args: tuple[Any, ...], deadline: float) -> None:
        # sympy is imported here, before the fork: the worker then starts with it (an
        # import of sympy costs 0.4 s or more). The budget is for the symbolic work: the
        # first import (a fixed cost, whatever the expression) moves the deadline by as long
        # as it took, by IMPORT_GRACE seconds at most.
        before = time.monotonic()
        import sympy  # noqa: F401

        self.deadline = deadline + min(IMPORT_GRACE, time.monotonic() - before)
        self.finished = False
        self.error: str | None = None
        self.hard = hasattr(os, "fork")
        self._worker: _Worker | None = None
        self._fresh = True
        self._job: tuple[Work, tuple[Any, ...]] = (work, args)
        self._inline: list[Any] | None = None
        if self.hard:
            self._submit(work, args)
        else:  # pragma: no cover - Windows
            self._inline = []
            self._run_inline(work, args)

    def _submit(self, work: Work, args: tuple[Any, ...]) -> None:
        self._job = (work, args)
        for attempt in (1, 2):
            fresh = _worker is None or not _worker.alive()
            worker = _ready_worker()
            try:
                _write(worker.jobs, self._job)
            except OSError:  # it died between the check and the job: once more, afresh
                _retire(worker)
                if attempt == 2:
                    raise
                continue
            self._worker, self._fresh = worker, fresh
            return

    def _resubmit(self) -> _Worker | None:
        """A warm worker that ended before it said a word (killed between jobs, by the
        system or a user) never saw this job: give it to a new one, once."""
        if self._fresh or self._worker is None:
            return None
        _retire(self._worker)
        self._worker = None
        self._submit(*self._job)
        self._fresh = True
        return self._worker

    def _run_inline(self, work: Work, args: tuple[Any, ...]) -> None:  # pragma: no cover
        from .symbolic import run_deep

        box = self._inline
        assert box is not None

        def send(message: Any) -> None:
            if time.monotonic() > self.deadline:
                raise TimeoutError
            box.append(message)

        try:
            run_deep(lambda: work(*args, send))
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
        worker = self._worker
        if worker is None:
            return
        buffer = b""
        heard = False
        try:
            while not self.finished:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select([worker.results], [], [], left)
                if not ready:
                    break
                chunk = os.read(worker.results, 1 << 16)
                if not chunk:
                    again = None if heard else self._resubmit()
                    if again is None:
                        break
                    worker = again
                    continue
                heard = True
                buffer += chunk
                while len(buffer) >= _HEADER.size and not self.finished:
                    (size,) = _HEADER.unpack_from(buffer)
                    if len(buffer) < _HEADER.size + size:
                        break
                    message = pickle.loads(buffer[_HEADER.size:_HEADER.size + size])
                    buffer = buffer[_HEADER.size + size:]
                    if not self._control(message):
                        yield message
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
        """Stop the job: a worker that has not finished it is killed (the next job forks a
        new one); one that has is kept, warm. Safe to call twice."""
        worker, self._worker = self._worker, None
        if worker is not None and not self.finished:
            _retire(worker)

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
