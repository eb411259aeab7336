"""The worker's side of the pipes (worker.py): the loop a sympy worker runs, whether forked
from the caller's process or by the fork server (forkserver.py), and the messages' framing.

A message is a pickle with its length in front (8 bytes). The worker reads jobs (a
module-level function and its arguments) until end-of-file and sends each result as soon
as it has it; ``("__imported__", s)``, ``("__done__", None)`` and ``("__error__", text)``
are its control messages.
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import time
from collections.abc import Callable, Iterator
from typing import Any

Send = Callable[[Any], None]
Work = Callable[..., None]  # work(*args, send): a module-level function, so it pickles

HEADER = struct.Struct("!Q")


def write_message(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_exactly(fd: int, size: int) -> bytes | None:
    parts: list[bytes] = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        parts.append(chunk)
        size -= len(chunk)
    return b"".join(parts)


def drop_inherited(keep: tuple[int, ...]) -> None:
    """In a child forked from this process: point every descriptor it inherited (but its
    own pipes) at /dev/null. A pipe the caller opened (a `cat` it feeds) must end when the
    caller closes it, not when the worker does. Pointed, not closed: the parent's objects in
    the child still own those numbers, and a close by one of them must not hit a descriptor
    the child opened since."""
    try:
        fds = [int(n) for n in os.listdir("/proc/self/fd" if os.path.isdir("/proc/self/fd")
                                          else "/dev/fd")]
    except OSError:
        fds = list(range(3, 1024))
    null = os.open(os.devnull, os.O_RDWR)
    for fd in fds:
        if fd > 2 and fd not in keep and fd != null:
            try:
                os.dup2(null, fd)
            except OSError:  # not open (the listing's own descriptor)
                pass
    os.close(null)


def serve_jobs(jobs: int, results: int, first: tuple[Work, tuple[Any, ...]] | None,
               imported: float = 0.0) -> None:
    """Run ``first`` (a job this child was forked with, in its memory already), then each job
    read from ``jobs``, until end-of-file. ``imported``: seconds the fork server spent on
    importing sympy before it forked this child (the first job's budget does not count
    them)."""
    # The child must not keep the user's terminal or pipe open (`$(backprop ...)` waits for
    # every writer to close), nor stop on the Ctrl-C meant for the parent.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()

    def send(message: Any) -> None:
        write_message(results, message)

    # sympy, if the parent had not imported it yet: the first job learns how long it took,
    # which the budget does not count.
    before = time.monotonic()
    from .symbolic import run_deep

    send(("__imported__", imported + time.monotonic() - before))
    # What is here now (the parent's objects, sympy) is never collected: a collection would
    # touch, and so copy, every page of it.
    gc.freeze()
    from .symbolic import warm_rules

    idle = warm_rules()  # each op's sympy rules, made while no job waits

    while True:
        job, first = first, None
        data = b""
        if job is None:
            _idle_until_job(jobs, idle)
            header = read_exactly(jobs, HEADER.size)
            if header is None:
                return  # the parent has gone
            (size,) = HEADER.unpack(header)
            body = read_exactly(jobs, size)
            if body is None:
                return
            data = body
        try:
            run_deep(_job(job if job is not None else pickle.loads(data), send))
            send(("__done__", None))
        except RecursionError:
            send(("__error__", "the expression is too deeply nested for sympy"))
        except Exception as exc:  # reported by the parent as a note, never a crash
            send(("__error__", f"{type(exc).__name__}: {exc}"))


def _idle_until_job(jobs: int, idle: Iterator[None]) -> None:
    """Run ``idle``'s steps (each tens of milliseconds at most) until a job can be read."""
    while not select.select([jobs], [], [], 0)[0]:
        if next(idle, True):  # the steps are done: the read blocks
            return


def _die_with_parent() -> None:
    """Linux: a SIGKILL when the parent dies, so that a long sympy call never outlives it
    (between jobs, end-of-file on the job pipe already ends the child)."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _job(job: tuple[Work, tuple[Any, ...]], send: Send) -> Callable[[], None]:
    work, args = job
    return lambda: work(*args, send)
