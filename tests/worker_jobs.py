"""Jobs for the worker's tests, in a module of their own: a worker forked by the fork server
imports the module of its job, and this one is light (a test module imports pytest)."""

from __future__ import annotations

import time

from backprop_cli.checks.worker import Send


def forever(*args: object) -> None:
    while True:
        time.sleep(1)


def first_then_forever(send: Send) -> None:
    send(("first", 1))
    forever()


def two(send: Send) -> None:
    send(("x", 2))


def boom(send: Send) -> None:
    raise ValueError("boom")

