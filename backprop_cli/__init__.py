"""backprop: computational graphs, the forward and backward pass, and gradients proven by sympy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["BackpropError", "DomainError", "InputError", "Result", "__version__", "evaluate"]

if TYPE_CHECKING:
    from .api import Result, evaluate
    from .errors import BackpropError, DomainError, InputError


def __getattr__(name: str) -> Any:
    # Lazy: `backprop --help` imports this package and must not pay for lark or sympy.
    if name in ("evaluate", "Result"):
        from . import api

        return getattr(api, name)
    if name in ("BackpropError", "InputError", "DomainError"):
        from . import errors

        return getattr(errors, name)
    raise AttributeError(name)
