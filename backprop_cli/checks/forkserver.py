"""The fork server: a fresh, one-thread process that forks the sympy workers (worker.py).

os.fork() in a process with threads may deadlock the child (a lock another thread held at
the fork stays locked in it for ever), and Python 3.12+ warns about it. Every Jupyter kernel
has threads, and so does any process that imported numpy (OpenBLAS starts its pool at
import). So the workers are not forked from the caller's process but from this server: a
new Python started by ``subprocess`` (fork and exec, which is safe with threads), its BLAS
pools held to one thread, that imports sympy once and forks a warm worker per request.
Started with ``close_fds`` and /dev/null for its standard streams, it holds none of the
caller's descriptors: a pipe the caller opened (a `cat` it feeds) still ends when the caller
closes it. It leaves when the caller does (end-of-file on its control socket) and its
workers with it (they are SIGKILLed when their parent dies, and killed on the way out).

One request at a time on a Unix socket pair, each 9 bytes (a letter and a token):
  ``w`` with two descriptors attached (SCM_RIGHTS): fork a worker on those pipes;
  ``k``: kill that worker and reap it;  ``p``: reply its pid (8 bytes), 0 once it is gone.
"""

from __future__ import annotations

import gc
import importlib
import itertools
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

_TOKEN = struct.Struct("!Q")
_SIZE = 1 + _TOKEN.size
# The server must stay one thread: no BLAS pool in it (its jobs are sympy's, not BLAS's).
_ONE_THREAD = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
               "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
_PRELOAD = (".symbolic", ".sympy_jobs", ".evaluate", ".verify", ".array_verify")
_BOOT = ("import json, sys; sys.path[:] = json.loads(sys.argv[1]); "
         "from backprop_cli.checks.forkserver import serve; serve(int(sys.argv[2]))")


def possible() -> bool:
    """Whether this platform can run the server (fork, descriptor passing, an interpreter)."""
    return hasattr(os, "fork") and hasattr(socket, "send_fds") and bool(sys.executable)


class Server:
    """The caller's handle on a running server."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair()
        env = {**os.environ, **dict.fromkeys(_ONE_THREAD, "1")}
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, json.dumps(sys.path), str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self.socket = mine
        self.owner = os.getpid()
        self._lock = threading.Lock()
        self._tokens = itertools.count(1)

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def fork(self, jobs: int, results: int) -> int:
        """A new worker reading ``jobs`` and writing ``results``; its token. The server
        forks it when it gets to the request (the first, once it has imported sympy)."""
        token = next(self._tokens)
        with self._lock:
            socket.send_fds(self.socket, [b"w" + _TOKEN.pack(token)], [jobs, results])
        return token

    def kill(self, token: int) -> None:
        try:
            with self._lock:
                self.socket.sendall(b"k" + _TOKEN.pack(token))
        except OSError:  # the server has gone, and its workers with it
            pass

    def pid(self, token: int) -> int:
        """The worker's process id, 0 if it has ended (waits for the server to answer)."""
        try:
            with self._lock:
                self.socket.sendall(b"p" + _TOKEN.pack(token))
                reply = _receive(self.socket, _TOKEN.size)
        except OSError:
            return 0
        return 0 if reply is None else int(_TOKEN.unpack(reply)[0])

    def close(self) -> None:
        """End the server: it kills and reaps its workers, then exits; waited for."""
        if self.owner != os.getpid():  # inherited through a fork: not ours to end
            return
        self.socket.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _receive(sock: socket.socket, size: int, data: bytes = b"") -> bytes | None:
    while len(data) < size:
        more = sock.recv(size - len(data))
        if not more:
            return None
        data += more
    return data


def _stop(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def serve(fd: int) -> None:
    """The server's main loop (run by _BOOT in the new process)."""
    from .child import serve_jobs

    started = time.monotonic()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the caller's to act on
    control = socket.socket(fileno=fd)
    # sympy and the modules of the jobs, once: every worker starts warm.
    for module in _PRELOAD:
        importlib.import_module(module, __package__)

    gc.freeze()  # never collected: each fork would copy every page a collection touched
    imported: float | None = time.monotonic() - started  # told to the first worker only
    workers: dict[int, int] = {}  # token -> pid
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, _SIZE, 2)
            message = _receive(control, _SIZE, data) if data else None
        except OSError:
            message = None
        if message is None:
            break  # the caller has gone
        kind, (token,) = message[:1], _TOKEN.unpack(message[1:])
        for done, pid in list(workers.items()):  # reap the ones that ended (or were killed)
            try:
                ended = os.waitpid(pid, os.WNOHANG)[0] != 0
            except ChildProcessError:
                ended = True
            if ended:
                del workers[done]
        if kind == b"w" and len(fds) == 2:
            pid = os.fork()
            if pid == 0:  # the worker
                code = 0
                try:
                    control.close()
                    serve_jobs(fds[0], fds[1], None, imported or 0.0)
                except BaseException:
                    code = 1
                finally:
                    os._exit(code)
            imported = None
            workers[token] = pid
        elif kind == b"k" and token in workers:
            _stop(workers.pop(token))
        elif kind == b"p":
            control.sendall(_TOKEN.pack(workers.get(token, 0)))
        for received in fds:
            os.close(received)
    for pid in workers.values():
        _stop(pid)
