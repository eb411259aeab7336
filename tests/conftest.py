"""Shared helpers: run the CLI in-process (typer's CliRunner) and as a real subprocess."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The check's wall-clock budget (default 3 s) must not decide a verdict in the suite on a
# busy machine: a generous default here; tests/test_budget.py sets small budgets itself.
os.environ.setdefault("BACKPROP_BUDGET", "120")

import pytest
from hypothesis import settings
from typer.testing import CliRunner

from backprop_cli.cli import app

# The property tests draw the same examples on every run and machine (a failure in CI fails
# again for whoever reruns it); BACKPROP_EXPLORE=1 draws new ones and keeps what fails in
# .hypothesis/ (CONTRIBUTING.md: Tests).
settings.register_profile("fixed", derandomize=True, print_blob=True)
if not os.environ.get("BACKPROP_EXPLORE"):
    settings.load_profile("fixed")

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Byte-compile the package once, as an install does: the suite starts the CLI in ~200
    fresh processes, and where PYTHONDONTWRITEBYTECODE is set (CI images often set it) each
    would compile every module it imports again (~50 ms a start)."""
    import compileall

    compileall.compile_dir(REPO / "backprop_cli", quiet=2)
GOLDEN = Path(__file__).resolve().parent / "golden"
NO_DOT = pytest.mark.skipif(shutil.which("dot") is None,
                            reason="Graphviz `dot` is not installed (apt-get install graphviz)")


_NUMBER = re.compile(r"(?<![\w.#])-?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?(?![\w.])")
_LATEX_POWER = re.compile(r"(-?\d+(?:\.\d+)?) \\cdot 10\^\{(-?\d+)\}")
_FILL = re.compile(r"[ \t─━═]+")


def _shape(text: str) -> tuple[list[str], list[float]]:
    """Text with its numbers taken out: the words, and the numbers. Padding and rules are
    collapsed, since a table's column widths follow the width of its numbers."""
    text = _LATEX_POWER.sub(r"\1e\2", text)  # LaTeX's 2.6 \cdot 10^{-23} is one number
    numbers = [float(m) for m in _NUMBER.findall(text)]
    words = _FILL.sub(" ", _NUMBER.sub("<n>", text)).split("\n")
    return [w.strip() for w in words], numbers


def same_text(got: str, want: str) -> bool:
    """Equal, or equal but for float noise: the same words, numbers within 1e-4 relative
    (printed with six digits) or both below 1e-12 (a gradient that is 0 prints 2.6e-23 on one
    CPU and 0 on another)."""
    if got == want:
        return True
    (gw, gn), (ww, wn) = _shape(got), _shape(want)
    return gw == ww and len(gn) == len(wn) and all(
        math.isclose(a, b, rel_tol=1e-4, abs_tol=1e-12) for a, b in zip(gn, wn))


@pytest.fixture
def fresh_worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The sympy worker stays warm between checks (checks/worker.py): a test that patches
    what it runs starts a new one, forked from this process after the patch (not by the fork
    server, which never sees it), and leaves none behind."""
    from backprop_cli.checks import worker

    worker.retire()
    monkeypatch.setattr(worker, "START", "fork")
    yield
    worker.retire()


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs print at the piped default (120 columns), whatever the shell's COLUMNS."""
    monkeypatch.delenv("COLUMNS", raising=False)


def golden(name: str, got: str) -> None:
    """Compare with tests/golden/NAME, numbers with a tolerance (``same_text``);
    BACKPROP_UPDATE_GOLDEN=1 rewrites the file."""
    path = GOLDEN / name
    if os.environ.get("BACKPROP_UPDATE_GOLDEN"):
        path.write_text(got, encoding="utf-8")
    want = path.read_text(encoding="utf-8")
    assert same_text(got, want), f"{name} differs:\n{got}"


def squash(text: str) -> str:
    """Whitespace collapsed: rich wraps long messages at the console width."""
    return " ".join(text.split())


@dataclass
class Outcome:
    """What a user sees from one `backprop` call, however it was run."""

    code: int
    stdout: str
    stderr: str
    exception: BaseException | None = None

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: str, input: str | None = None) -> Outcome:
    """`backprop ARGS` in-process through typer's CliRunner."""
    r = CliRunner().invoke(app, list(args), input=input)
    exc = None if isinstance(r.exception, SystemExit) else r.exception
    return Outcome(r.exit_code, r.stdout, r.stderr, exc)


def run(*args: str, input: str | None = None, timeout: float = 120) -> Outcome:
    """`python -m backprop_cli ARGS` in a real subprocess, importing this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    env.pop("COLUMNS", None)
    p = subprocess.run([sys.executable, "-m", "backprop_cli", *args], input=input,
                       capture_output=True, text=True, encoding="utf-8", env=env,
                       timeout=timeout, cwd=REPO)
    return Outcome(p.returncode, p.stdout, p.stderr)


Backprop = Callable[..., Outcome]


@pytest.fixture(params=["clirunner", "subprocess"])
def backprop(request: pytest.FixtureRequest) -> Backprop:
    """The command, run both ways: in-process and as a real subprocess (for a parametrized
    test, the subprocess runs its first case only: see below)."""
    return invoke if request.param == "clirunner" else run


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # What a real process adds (start-up, the exit status, the real streams and encodings) is
    # the same for every case of a parametrized test, and each costs a Python start-up: the
    # subprocess form runs for the first case, the in-process form for all of them.
    keep, drop = [], []
    for item in items:
        spec = getattr(item, "callspec", None)
        later = spec is not None and spec.params.get("backprop") == "subprocess" and any(
            index for name, index in spec.indices.items() if name != "backprop")
        (drop if later else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def no_crash(result: Outcome) -> None:
    """Neither a traceback nor an exception escaping the CLI."""
    assert "Traceback" not in result.output, result.output
    assert result.exception is None, repr(result.exception)
    assert result.code != 3 and "internal error" not in result.output, result.output


def assert_bad_input(result: Outcome, *fragments: str) -> str:
    """Exit 2, one message on stderr containing every fragment, no traceback. Returns stderr."""
    no_crash(result)
    assert result.code == 2, (result.code, result.output)
    assert result.stderr.startswith("error: "), result.output
    assert result.stdout == "", result.stdout
    flat = squash(result.stderr)
    for fragment in fragments:
        assert squash(fragment) in flat, (fragment, result.stderr)
    return result.stderr


CHROMIUM = os.environ.get("BACKPROP_CHROMIUM", "/usr/bin/chromium")


def playwright_or_skip() -> Any:
    """Playwright's sync API, for a browser test module; the module skips, saying why, where
    Playwright for Python or Debian's Chromium (CHROMIUM) is missing."""
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright for Python is not installed: pip install -e '.[browser]'")
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM}: apt-get install chromium "
                    "(or set BACKPROP_CHROMIUM)", allow_module_level=True)
    return sync_api
