"""Symbolic work under a wall-clock budget: a warm worker process, stopped at the deadline.

A sympy call cannot be interrupted from inside Python (diff or evalf of a large expression
runs for minutes in one call), so a budget checked between calls is overrun. The work runs
in a child process instead; it sends each result as soon as it has it, and the parent keeps
every result that arrived before the deadline. A job that is still running at the deadline
is stopped by killing the child. Ctrl-C in the parent kills the child too (the child
ignores SIGINT: the parent decides).

The child is made once and kept for the next job (a fork of a process that holds sympy
costs 15-30 ms, more than checking a small expression): jobs are sent to it as a function
of a module and its arguments, pickled, and it keeps sympy's caches warm between them. It
can be started before this process has imported sympy (``prestart``, as ``evaluate`` does
first of all): sympy is then imported elsewhere while this process parses, runs the passes
and the finite differences, on another core. A child that was killed, or died, is replaced
at the next job; a job that finds the warm one busy (another thread's) gets one of its own.
The child leaves with this process (it reads end-of-file, or is killed when this process
dies) and never holds this process's terminal, pipes or other descriptors.

How the child is made (``START``): "auto" forks this process while it has one thread (the
CLI, a script: the fastest way, the child already holds every module), and once it has
others (a Jupyter kernel's, the caller's own) asks the fork server (forkserver.py), a
one-thread process started with exec: a fork of a process with threads may deadlock the
child (a lock held by another thread at the fork is never released in it), and Python 3.12+
warns about it. "fork" always forks this process (a test that patches the checks needs
that: the child sees the patch); "server" always asks the server. A child forked from this
process points every descriptor it inherited at /dev/null. Where the server cannot run (no
descriptor passing) this process is forked; where os.fork does not exist (Windows) the work
runs in this process, in a thread, and the deadline is only checked between results
(``Job.hard`` is False then).
"""

from __future__ import annotations

import atexit
import os
import pickle
import select
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from . import forkserver
from .child import HEADER, Send, Work, drop_inherited, serve_jobs, write_message

__all__ = ["IMPORT_GRACE", "START", "Finished", "Job", "Send", "Work", "prestart", "retire"]

IMPORT_GRACE = 5.0  # seconds the deadline may move while this process imports sympy
START = "auto"  # "auto", "fork" or "server": how a worker is made (see above)


class _Worker:
    """The warm child: reads jobs from one pipe, writes results to another."""

    def __init__(self, warm: bool = True, job: tuple[Work, tuple[Any, ...]] | None = None
                 ) -> None:
        self.warm = warm  # kept for the next job; else retired after this one
        self.busy = False
        self.served = False  # has had a job (a warm one that ends silently was killed since)
        self.owner = os.getpid()
        self.server = _fork_server()
        self.token = 0  # the server's name for it (0: forked here)
        self._pid = 0
        self.holds_job = False  # forked with ``job`` in its memory: not to be sent
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        if self.server is not None:
            try:
                self.token = self.server.fork(jobs_read, results_write)
            finally:
                os.close(jobs_read)
                os.close(results_write)
            self.jobs, self.results = jobs_write, results_read
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: serve jobs until the parent goes, never run its exit code
            code = 0
            try:
                os.close(jobs_write)
                os.close(results_read)
                drop_inherited(keep=(jobs_read, results_write))
                serve_jobs(jobs_read, results_write, job)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(jobs_read)
        os.close(results_write)
        self._pid, self.jobs, self.results = pid, jobs_write, results_read
        self.holds_job = job is not None

    @property
    def pid(self) -> int:
        """The child's process id (0 once a server's worker has ended)."""
        if self.server is not None:
            return self.server.pid(self.token)
        return self._pid

    def alive(self) -> bool:
        if self.owner != os.getpid():  # inherited through a fork of this process: not ours
            return False
        if self.server is not None:
            # One that has not had a job yet is taken as alive without asking: the server
            # may still be importing sympy, and the job's pipe holds it until it is ready.
            return self.server.alive() and (not self.served or self.pid != 0)
        try:
            return os.waitpid(self._pid, os.WNOHANG) == (0, 0)
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
        if self.server is not None:
            self.server.kill(self.token)
            return
        try:
            os.kill(self._pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


_worker: _Worker | None = None  # the warm one
_server: forkserver.Server | None = None  # the fork server, when START allows it
FORK_ABOVE_NODES = 2_000  # a job on a larger graph gets a fork of its own (see _take)
_lock = threading.Lock()
_server_lock = threading.Lock()


def _fork_server() -> forkserver.Server | None:
    """The running fork server (started now if there is none, or it died); None where
    workers are forked from this process (see START)."""
    global _server
    one_thread = threading.active_count() == 1  # what CPython's own warning counts
    if START == "fork" or (START == "auto" and one_thread) or not forkserver.possible():
        return None
    with _server_lock:
        if _server is not None and not _server.alive():
            _server.close()
            _server = None
        if _server is None:
            try:
                _server = forkserver.Server()
            except OSError:  # no interpreter to start (an embedded Python): fork here
                return None
        return _server


def _take(job: tuple[Work, tuple[Any, ...]], nodes: int) -> tuple[_Worker, bool]:
    """A worker for one job, and whether the job must still be sent to it: the warm one
    (forked now if there is none), or one of the job's own, forked with the job in its
    memory, if another thread's job holds the warm one or the graph is large (pickling a
    graph costs about 9 µs a node: 20,000 nodes take longer than a fork)."""
    if nodes > FORK_ABOVE_NODES:
        worker = _Worker(warm=False, job=job)
        worker.busy = True
        return worker, not worker.holds_job
    with _lock:
        warm = _warm()
        worker = warm if not warm.busy else _Worker(warm=False)
        worker.busy = True
        return worker, True


def _warm() -> _Worker:
    """The warm worker, alive: forked now if there is none or it died (hold _lock)."""
    global _worker
    if _worker is not None and not _worker.alive():
        _worker.kill()
        _worker = None
    if _worker is None:
        _worker = _Worker()
    return _worker


def _release(worker: _Worker, finished: bool) -> None:
    """A job is done with ``worker``: a warm one that finished it waits for the next job;
    any other is killed (the next job forks a new one)."""
    global _worker
    with _lock:
        worker.busy = False
        if finished and worker.warm:
            return
        worker.kill()
        if _worker is worker:
            _worker = None


def prestart() -> None:
    """Fork the warm worker now, if there is none, so that it imports sympy while this
    process goes on (``evaluate`` calls it before parsing). Nothing where os.fork is missing."""
    if not hasattr(os, "fork"):
        return
    with _lock:
        _warm()


@atexit.register
def retire() -> None:
    """Stop the warm worker and the fork server (if any): the next job starts new ones (a
    test that patches the checks calls this first, with START "fork": a child forked from
    this process as it is then)."""
    global _worker, _server
    with _lock:
        if _worker is not None:
            _worker.kill()
            _worker = None
    with _server_lock:
        if _server is not None:
            _server.close()
            _server = None


class Job:
    """``work(*args, send)`` running in the worker; ``results()`` yields what it sent until
    it ends or ``deadline`` (time.monotonic()) passes. ``finished`` then says whether it
    ended by itself, ``error`` what it raised (text)."""

    def __init__(self, work: Work, args: tuple[Any, ...], deadline: float,
                 nodes: int = 0) -> None:
        self.deadline = deadline
        self._nodes = nodes  # the size of the graph in ``args`` (see _take)
        self.finished = False
        self.error: str | None = None
        self.hard = hasattr(os, "fork")
        self._worker: _Worker | None = None
        self._fresh = True
        self._job: tuple[Work, tuple[Any, ...]] = (work, args)
        self._inline: list[Any] | None = None
        if self.hard:
            self._submit()
        else:  # pragma: no cover - Windows
            self._inline = []
            self._run_inline(work, args)

    def _submit(self) -> None:
        for attempt in (1, 2):
            worker, send = _take(self._job, self._nodes)
            try:
                if send:
                    write_message(worker.jobs, self._job)
            except OSError:  # it died between the check and the job: once more, afresh
                _release(worker, finished=False)
                if attempt == 2:
                    raise
                continue
            self._worker = worker
            self._fresh, worker.served = not worker.served, True
            return

    def _resubmit(self) -> _Worker | None:
        """A warm worker that ended before it said a word (killed between jobs, by the
        system or a user) never saw this job: give it to a new one, once."""
        if self._fresh or self._worker is None:
            return None
        _release(self._worker, finished=False)
        self._worker = None
        self._submit()
        self._fresh = True
        return self._worker

    def _run_inline(self, work: Work, args: tuple[Any, ...]) -> None:  # pragma: no cover
        from .symbolic import run_deep

        box = self._inline
        assert box is not None
        before = time.monotonic()
        import sympy  # noqa: F401

        self.deadline += min(IMPORT_GRACE, time.monotonic() - before)

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
                if self._fresh and not heard:  # a new worker may be importing sympy: the
                    left += IMPORT_GRACE       # deadline moves once it says how long it took
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
                while len(buffer) >= HEADER.size and not self.finished:
                    (size,) = HEADER.unpack_from(buffer)
                    if len(buffer) < HEADER.size + size:
                        break
                    message = pickle.loads(buffer[HEADER.size:HEADER.size + size])
                    buffer = buffer[HEADER.size + size:]
                    if not self._control(message):
                        yield message
        finally:
            self.stop()

    def _control(self, message: Any) -> bool:
        kind = message[0] if isinstance(message, tuple) and message else None
        if kind == "__imported__":  # the worker's first import of sympy: not counted
            self.deadline += min(IMPORT_GRACE, float(message[1]))
            return True
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
        if worker is not None:
            _release(worker, self.finished)

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
