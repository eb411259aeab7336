"""Rich display in Jupyter without the core knowing the views: a registry of renderers.

Core objects (and the checks' and course's results) answer ``_repr_html_`` by asking
``html(kind, obj)``; ``views/notebook.py`` registers one renderer per kind when it is
imported, which the public API (``backprop_cli.__getattr__``) does on first use. Without a
renderer, ``html`` returns None and Jupyter shows the plain ``repr``, as it would anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_RENDERERS: dict[str, Callable[..., Any]] = {}


def register(kind: str, renderer: Callable[..., Any]) -> None:
    """Install the renderer for one kind of object ("result", "answers", "batch", "replay")."""
    _RENDERERS[kind] = renderer


def html(kind: str, obj: Any) -> str | None:
    """The HTML for ``obj``, or None when no view registered a renderer for ``kind``."""
    renderer = _RENDERERS.get(kind)
    return None if renderer is None else str(renderer(obj))


def call(kind: str, obj: Any, **options: Any) -> Any:
    """What the renderer for ``kind`` makes of ``obj``; an error saying what to import if none."""
    renderer = _RENDERERS.get(kind)
    if renderer is None:
        raise RuntimeError(f"no {kind} renderer: import backprop_cli.views.notebook first "
                           "(importing names from backprop_cli does it)")
    return renderer(obj, **options)
