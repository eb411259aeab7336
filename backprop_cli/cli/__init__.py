"""The `backprop` command: thin typer shells over the library, one module per command group."""

from __future__ import annotations

from . import commands as _commands  # noqa: F401  (registers eval, check, graph, steps)
from . import formula as _formula  # noqa: F401  (registers formula)
from . import replay as _replay  # noqa: F401  (registers replay)
from .app import app
from .course import register as _register_course
from .learn import register as _register_learning

_register_learning(app)
_register_course(app)

__all__ = ["app"]
