"""Shared helpers: run the CLI in-process (typer's CliRunner) and as a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from backprop_cli.cli import app

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).resolve().parent / "golden"
LECTURE_AT = "x=-2,y=5,z=-4"


def squash(text: str) -> str:
    """Whitespace collapsed: rich wraps long messages at the console width."""
    return " ".join(text.split())


def invoke(*args: str, input: str | None = None) -> Result:
    """`backprop ARGS` in-process; exceptions other than exit are left in result.exception."""
    return CliRunner().invoke(app, list(args), input=input)


def run(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m backprop_cli ARGS` in a real subprocess, importing this checkout."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONIOENCODING": "utf-8"}
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "backprop_cli", *args], input=input,
                          capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=timeout, cwd=REPO)


def no_crash(result: Any) -> None:
    """Neither a traceback nor an exception other than the CLI's own exit."""
    out = _all_output(result)
    assert "Traceback" not in out, out
    exc = getattr(result, "exception", None)
    assert exc is None or isinstance(exc, SystemExit), repr(exc)


def assert_bad_input(result: Any, *fragments: str) -> str:
    """Exit 2, a message on stderr containing every fragment, no traceback. Returns stderr."""
    no_crash(result)
    code = result.exit_code if hasattr(result, "exit_code") else result.returncode
    err = result.stderr
    assert code == 2, (code, _all_output(result))
    assert err.strip().startswith("error:"), err
    flat = squash(err)
    for fragment in fragments:
        assert squash(fragment) in flat, (fragment, err)
    return err


def _all_output(result: Any) -> str:
    if hasattr(result, "output"):  # CliRunner: stdout and stderr interleaved
        return str(result.output)
    return str(result.stdout) + str(result.stderr)


@pytest.fixture
def cli() -> Any:
    return invoke
