"""A call of the user's own code (``check_gradient``'s function) under the check's budget.

Python code cannot be stopped from another thread, so the call is stopped from inside: a
timer (SIGALRM, ``setitimer``) raises in it when the budget runs out. That needs the main
thread of a POSIX process; elsewhere (another thread, Windows) the call runs to its end and
the budget is only looked at between calls. A timer the caller had set is set again after.
"""

from __future__ import annotations

import inspect
import signal
import threading
import time
from collections.abc import Callable
from typing import Any

from ..core.errors import InputError


class _Expired(BaseException):
    """Raised inside the user's function at the deadline (not an Exception: a bare
    ``except Exception`` in their code must not swallow it)."""


def call_within(seconds: float, fn: Callable[..., Any], label: str, /, **kwargs: Any) -> Any:
    """``fn(**kwargs)``, stopped after ``seconds`` where the platform allows (see above):
    then an InputError says so. A function that cannot take these arguments is an
    InputError too; an exception raised inside the function is the caller's own."""
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as exc:
        raise InputError(f"{label} cannot be called with the inputs "
                         f"{', '.join(kwargs)} as keyword arguments: {exc}", where="fn",
                         hint="def fn(x, y): ... with one parameter per input") from None
    except ValueError:  # no signature to read (a builtin): the call itself will tell
        pass
    if not hasattr(signal, "setitimer") or threading.current_thread() is not \
            threading.main_thread():
        return fn(**kwargs)

    def expire(signum: int, frame: Any) -> None:
        raise _Expired

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    theirs, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return fn(**kwargs)
    except _Expired:
        raise InputError(f"{label} did not return within the time budget ({seconds:g} s)",
                         where="fn", hint="a faster function, or a larger time_budget"
                         ) from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if theirs > 0:  # the caller's own timer, less the time this call took
            signal.setitimer(signal.ITIMER_REAL,
                             max(theirs - (time.monotonic() - started), 1e-3))
