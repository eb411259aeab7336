"""`backprop --help`, `backprop eval --help` and `backprop` alone without importing typer.

typer (with its vendored click, inspect, typing, enum ...) costs 30-60 ms to import, more
than twice a bare `python -c pass`. The two help texts are saved in ``_help.py`` (made by
``write_help()`` below) together with a key: a checksum of
backprop_cli/cli/*.py and of typer's ``__init__.py`` (its version). They are printed from
there only when the key still matches and the terminal is at least 80 columns wide (click
then formats to its fixed 78); in every other case typer runs as usual, so a stale or
missing file costs time, never a wrong text. tests/test_scale.py checks the file is current
and identical to typer's output.
"""

from __future__ import annotations

import shutil
import sys
import zlib
from importlib.machinery import PathFinder
from pathlib import Path

CACHED = ("--help", "eval --help", "")  # "": `backprop` alone, the "try this" screen


def key() -> str | None:
    """The checksum the saved texts were made for, or None (typer not found)."""
    spec = PathFinder.find_spec("typer")
    if spec is None or spec.origin is None:
        return None
    crc = zlib.crc32(Path(spec.origin).read_bytes())
    for path in sorted((Path(__file__).resolve().parent / "cli").glob("*.py")):
        crc = zlib.crc32(path.name.encode() + b"\0" + path.read_bytes(), crc)
    return f"{crc:08x}"


def cached(argv: list[str]) -> str | None:
    """The saved help text for these arguments, if it is current; else None."""
    words = " ".join(argv)
    if words not in CACHED or len(argv) > 2:
        return None
    if shutil.get_terminal_size().columns < 80:
        return None
    try:
        from . import _help
    except ImportError:
        return None
    if _help.KEY != key():
        return None
    return _help.TEXTS.get(words)


# --- making _help.py: after changing a command's options or help texts (a test says when) ---
#     python -c "from backprop_cli._fasthelp import write_help; write_help()"

_RUN = "import sys; from backprop_cli.cli import app; app(prog_name='backprop')"


def typer_help(words: str) -> str:
    """What typer itself prints for ``backprop WORDS`` at 80 columns or more."""
    import os
    import subprocess

    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "COLUMNS": "120",
           "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", _RUN, *words.split()], capture_output=True,
                          text=True, env=env, check=True, cwd=root)
    return proc.stdout


def write_help(path: Path | None = None) -> Path:
    texts = {words: typer_help(words) for words in CACHED}
    path = path or Path(__file__).resolve().parent / "_help.py"
    path.write_text(
        '"""`backprop --help` texts, made by _fasthelp.write_help(); do not edit."""\n'
        "# ruff: noqa: E501\n\n"
        f"KEY = {key()!r}\n"
        f"TEXTS: dict[str, str] = {texts!r}\n", encoding="utf-8")
    return path


def proves_by_default(argv: list[str]) -> bool:
    """Whether the command is an `eval` with the default check (sympy's proof among it)."""
    return argv[:1] == ["eval"] and not any(a.startswith("--check") for a in argv)


def main() -> None:
    """The `backprop` command (the console script and `python -m backprop_cli`)."""
    text = cached(sys.argv[1:])
    if text is not None:
        try:
            sys.stdout.write(text)
            sys.stdout.flush()
        except OSError as exc:  # as cli/app.py's handler does, without importing typer
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if isinstance(exc, BrokenPipeError):
                sys.exit(141)
            sys.stderr.write(f"error: cannot write to standard output: {exc.strerror}\n")
            sys.exit(2)
        return
    if proves_by_default(sys.argv[1:]):
        # Its sympy worker imports sympy (a third of a second) while this process imports
        # the CLI (evaluate would start it only after that).
        from .checks.worker import prestart

        prestart()
    from .cli import app

    app(prog_name="backprop")
