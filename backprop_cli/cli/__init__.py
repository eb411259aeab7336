"""The `backprop` command: thin typer shells over the library, one module per command group."""

from __future__ import annotations

from . import commands as _commands  # noqa: F401  (registers eval, check, graph, steps)
from . import formula as _formula  # noqa: F401  (registers formula)
from . import replay as _replay  # noqa: F401  (registers replay)
from .app import app
from .course import register as _register_course
from .course import register_quiz as _register_quiz
from .learn import register as _register_learning
from .platform import register as _register_platform
from .practice import register as _register_practice
from .report import register as _register_report

_register_learning(app)
_register_course(app)
_register_quiz(app)
_register_platform(app)
_register_report(app)
_register_practice(app)

__all__ = ["app"]
