"""The playground's Python side: what the Run button calls, in Pyodide (and in tests, on CPython).

It is the `eval` command without the terminal: the same library calls (evaluate, match_answers),
the same renderers (views/render.report, course/report.answers_table: the node table, the
gradient table with each verdict, the summary, the diagnosis of a wrong answer), exported from
rich to HTML, and the replay page (views/replay.py) for an iframe. The CLI layer (typer) is not
loaded in the browser. `--at` and `--expect` are read by the project's own parsers; nothing here
evaluates user text. Every answer is one JSON document for the page (app.js), so no Python
object crosses into JavaScript:

- ``{"ok": bool, "report": html, "replay": html | null, "replay_height": px, "seconds": float}``;
- ``{"error": {"message", "context", "hint"}}``: the one message `backprop eval` prints, as text
  (the page puts it in with textContent);
- ``{"needs": "numpy"}``: arrays, where numpy is not loaded (the page loads it, or says so).
"""

from __future__ import annotations

import io
import json
import time
import traceback
from typing import Any

WIDTH = 120  # the columns of `backprop eval` piped (cli/app.py); the page scrolls


def _lines(field: str) -> list[str]:
    """One `--at` (or `--expect`) option per non-empty line of a box."""
    return [line.strip() for line in field.splitlines() if line.strip()]


def _error(exc: Any) -> dict[str, Any]:
    """The CLI's error message (cli/app.py's fail) as plain text parts."""
    where = exc.position_text()
    return {"error": {"message": exc.message + where, "context": exc.context(),
                      "hint": exc.hint or ""}}


def _html(*renderables: Any) -> str:
    """Renderables as the terminal shows them, in HTML (rich escapes every character)."""
    from rich.console import Console

    console = Console(record=True, width=WIDTH, highlight=False, force_terminal=True,
                      color_system="truecolor", file=io.StringIO())  # printed nowhere
    for r in renderables:
        console.print(r)
    return console.export_html(inline_styles=True, code_format='<pre class="report">{code}</pre>')


def warm() -> None:
    """Import what a Run needs, before the first: sympy takes seconds to import and to make its
    first derivative in the browser, which the first check's budget (3 s, as `backprop eval`'s)
    should not pay (the CLI's worker does not count its import either)."""
    import sympy

    import backprop_cli.checks.answers
    import backprop_cli.checks.evaluate
    import backprop_cli.course.report
    import backprop_cli.views.notebook
    import backprop_cli.views.render
    import backprop_cli.views.replay  # noqa: F401
    from backprop_cli.core.parse import parse

    parse("x*y")  # builds the grammar's parser
    x = sympy.Symbol("x")
    sympy.diff(sympy.sin(x) * x, x)


def run(expression: str, at: str = "", expect: str = "") -> str:
    """Evaluate ``expression`` at the ``at`` values, check ``expect``; the page's JSON."""
    begun = time.monotonic()
    try:
        return json.dumps(_run(expression, at, expect, begun))
    except ModuleNotFoundError as exc:
        if exc.name == "numpy":
            return json.dumps({"needs": "numpy"})
        raise


def _run(expression: str, at: str, expect: str, begun: float) -> dict[str, Any]:
    from backprop_cli.checks.answers import AnswerTolerance, match_answers
    from backprop_cli.checks.evaluate import evaluate
    from backprop_cli.core.errors import BackpropError

    try:
        result = evaluate(expression, _lines(at) or None)
        answers = None
        if _lines(expect):
            answers = match_answers(result, _lines(expect), AnswerTolerance.from_option("auto"))
        parts: list[Any] = []
        from backprop_cli.views.render import report

        parts.append(report(result))
        if answers is not None:
            from backprop_cli.course.report import answers_table

            parts.append(answers_table(answers))
        replay = None
        if result.value is not None:
            from backprop_cli.views.notebook import ReplayFrame

            try:
                replay = ReplayFrame(result)  # the page, and the height Jupyter gives it
            except BackpropError:  # too large a circuit for the replay: the table still shows
                replay = None
    except BackpropError as exc:
        return _error(exc)
    except ModuleNotFoundError:
        raise
    except Exception as exc:  # a bug: said as the CLI says it (exit 3), the trace to the console
        from backprop_cli.core.limits import abbreviate

        traceback.print_exc()
        what = abbreviate(f"{type(exc).__name__}: {exc}", 200)
        return {"error": {"message": f"internal error: {what}. This is a bug in backprop: "
                          "please report it with the expression and values you ran "
                          "(the browser's console shows the traceback)", "context": "",
                          "hint": ""}}
    return {"ok": result.ok and (answers is None or answers.ok), "report": _html(*parts),
            "replay": replay.html if replay else None,
            "replay_height": replay.height if replay else 0,
            "seconds": time.monotonic() - begun}
