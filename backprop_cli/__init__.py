"""backprop: computational graphs, the forward and backward pass, and gradients proven by sympy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AnswerCheck", "Answers", "BackpropError", "BatchReport", "DomainError", "InputError",
           "ProblemResult", "ProblemSet", "Result", "__version__", "check_answers", "evaluate",
           "load_problems", "parse_problems", "run_problems", "write_junit"]

if TYPE_CHECKING:
    from .api import Result, evaluate
    from .batch import BatchReport, ProblemResult, run_problems, write_junit
    from .errors import BackpropError, DomainError, InputError
    from .expect import AnswerCheck, Answers, check_answers
    from .problems import ProblemSet, load_problems, parse_problems

_LAZY = {
    "check_answers": "expect", "Answers": "expect", "AnswerCheck": "expect",
    "run_problems": "batch", "BatchReport": "batch", "ProblemResult": "batch",
    "write_junit": "batch",
    "load_problems": "problems", "parse_problems": "problems", "ProblemSet": "problems",
}


def __getattr__(name: str) -> Any:
    # Lazy: `backprop --help` imports this package and must not pay for lark or sympy.
    if name in ("evaluate", "Result"):
        from . import api

        return getattr(api, name)
    if name in ("BackpropError", "InputError", "DomainError"):
        from . import errors

        return getattr(errors, name)
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)
