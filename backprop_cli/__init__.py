"""backprop: computational graphs, the forward and backward pass, and gradients proven by sympy.

The public Python API. Names are imported on first use: `backprop --help` imports this
package and must not pay for lark, sympy or numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["AnswerCheck", "Answers", "BackpropError", "BatchReport", "DomainError",
           "FormulaReport", "InputError", "ProblemResult", "ProblemSet", "Result", "__version__",
           "check_answers", "check_formula", "check_gradient", "evaluate", "load_problems",
           "parse_problems", "practice", "run_problems", "write_junit"]

if TYPE_CHECKING:
    from .checks.answers import AnswerCheck, Answers, check_answers
    from .checks.evaluate import evaluate
    from .checks.formula import FormulaReport, check_formula, check_gradient
    from .core.errors import BackpropError, DomainError, InputError
    from .core.result import Result
    from .course.batch import BatchReport, ProblemResult, run_problems, write_junit
    from .course.practice_run import practice
    from .course.problems import ProblemSet, load_problems, parse_problems

# name -> the module that defines it
_HOME = {
    "evaluate": "checks.evaluate", "Result": "core.result",
    "BackpropError": "core.errors", "InputError": "core.errors", "DomainError": "core.errors",
    "check_answers": "checks.answers", "Answers": "checks.answers",
    "AnswerCheck": "checks.answers",
    "run_problems": "course.batch", "BatchReport": "course.batch",
    "ProblemResult": "course.batch", "write_junit": "course.batch",
    "load_problems": "course.problems", "parse_problems": "course.problems",
    "ProblemSet": "course.problems",
    "check_formula": "checks.formula", "check_gradient": "checks.formula",
    "FormulaReport": "checks.formula",
    "practice": "course.practice_run",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        # Results display themselves in Jupyter once the views registered their renderers
        # (core/display.py); views/notebook.py is light: its renderers import on first use.
        importlib.import_module(".views.notebook", __name__)
        return getattr(importlib.import_module(f".{_HOME[name]}", __name__), name)
    raise AttributeError(name)
