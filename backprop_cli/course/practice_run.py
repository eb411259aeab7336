"""Running a practice session: the drill chosen from the history, asked, recorded and saved;
in the terminal (`backprop practice`), with ``input()``, or in ipywidgets in a notebook
(``backprop_cli.practice()``). The history and the schedule are practice.py's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.errors import InputError
from .practice import TOP_BOX, _sessions, default_path, load, pick, record, save


def session(path: Path, read: Callable[[], str | None], write: Callable[[str], None], *,
            seed: int | None = None, max_questions: int = 30,
            echo: bool = False) -> tuple[Any, bool]:
    """One practice session: pick the drill from the history at ``path``, run it (quiz.run's
    ``read``/``write``), record and save it. Returns quiz.run's score and whether the drill
    ran to its end."""
    import secrets

    from ..views.picture import to_text
    from . import make as mk
    from . import quiz
    from .quizdraw import draw

    history = load(path)
    chosen = pick(history)
    if seed is None:
        seed = secrets.randbelow(10**6)
    family, made = draw(chosen.family, seed, chosen.level, max_questions)
    write(f"practice session {history['session'] + 1}: {family}, level {chosen.level} "
          f"({chosen.why})\nbackprop quiz {family} --seed {seed} --level {chosen.level}\n\n")
    score, finished = quiz.run(made, read, write, to_text(mk._symbolic(made)).plain,
                               chosen.level, echo=echo, max_questions=max_questions)
    if score.asked:
        record(history, family, chosen.level, seed, score.asked, score.right, finished,
               score.slips)
        save(path, history)
        st = history["families"][family]
        later = st["due"] - history["session"]
        write(f"saved to {path}: {family} is in box {st['box']} of {TOP_BOX}, back in "
              f"{_sessions(later)}"
              + "".join(f"; '{s}' comes back next session" for s in dict.fromkeys(score.slips))
              + "\n")
    return score, finished


def practice(progress: str | Path | None = None, *, seed: int | None = None,
             max_questions: int = 30, ui: str = "auto") -> Any:
    """Practise in a notebook or a Python shell: the same session as `backprop practice`.
    In Jupyter with ipywidgets installed (``ui="auto"`` or ``"widgets"``), question by
    question in a text box under the drill's text, and it returns a PracticeWidget at once
    (the kernel stays free for the widgets); elsewhere (``ui="input"``) with ``input()``,
    returning the score when the drill ends."""
    path = Path(progress) if progress is not None else default_path()
    if ui == "widgets" or (ui == "auto" and _in_kernel()):
        try:
            return PracticeWidget(path, seed=seed, max_questions=max_questions)
        except ImportError:
            if ui == "widgets":
                raise InputError("ui='widgets' needs ipywidgets: pip install ipywidgets",
                                 where="ui") from None

    def read() -> str | None:
        try:
            return input()
        except EOFError:
            return None

    score, _ = session(path, read, lambda s: print(s, end="", flush=True), seed=seed,
                       max_questions=max_questions)
    return score


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class PracticeWidget:
    """The session in ipywidgets: the drill runs in a thread whose ``read`` waits for the
    next answer typed in the box (Enter or the button), and whose ``write`` appends to the
    text shown above it; the kernel's own thread stays free to deliver the widgets' events.
    ``score`` is set when the drill ends."""

    def __init__(self, path: Path, *, seed: int | None = None, max_questions: int = 30):
        import html
        import queue
        import threading

        import ipywidgets as w

        self._escape = html.escape
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.text = ""
        self.score: Any = None
        self.shown = w.HTML()
        self.box_in = w.Text(placeholder="your answer ('?' a hint, 'q' to stop)",
                             continuous_update=False)
        self.button = w.Button(description="answer")
        self.button.on_click(lambda _: self.submit(self.box_in.value))
        self.box_in.observe(lambda change: self.submit(change["new"]) if change["new"]
                            else None, names="value")
        self.widget = w.VBox([self.shown, w.HBox([self.box_in, self.button])])

        def drill() -> None:
            try:
                self.score, _ = session(path, self._lines.get, self._write, seed=seed,
                                        max_questions=max_questions)
            except Exception as exc:  # shown in the widget, not lost in a thread
                self._write(f"\nerror: {exc}\n")
            finally:
                self.box_in.disabled = self.button.disabled = True

        self.thread = threading.Thread(target=drill, daemon=True)
        self.thread.start()

    def _write(self, s: str) -> None:
        self.text += s
        self.shown.value = f"<pre>{self._escape(self.text)}</pre>"

    def submit(self, answer: str) -> None:
        """One line typed by the learner (the tests call it as the box does)."""
        if self.box_in.disabled:
            return
        self._lines.put(answer + "\n")
        self.box_in.value = ""

    def stop(self) -> None:
        self._lines.put(None)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.widget)  # type: ignore[no-untyped-call]
