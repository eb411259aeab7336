"""Pause Python's cyclic garbage collector while a pass builds many objects and frees none.

Parsing and the backward pass allocate a few objects per node and keep them all; each
allocation burst triggers collections that walk every live object, which made a
100,000-node parse and backward pass superlinear. Nothing they build is cyclic garbage.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
