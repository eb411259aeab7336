"""The platforms' Pythons, for tests/test_deploy_e2e.py: Gradescope's oldest (3.10, as in
Ubuntu 22.04) with a folder of wheels for `setup.sh` to install from without an index, and
PrairieLearn's question Python (3.13) with numpy and sympy only.

Both are made once, under BACKPROP_TEST_CACHE (default ~/.cache/backprop-tests), by pip
from the package index, and kept for later runs; a lock lets parallel test workers share
them. Where the interpreter or the index is missing, the tests skip and say which.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
GRADESCOPE_PYTHON = "3.10"  # Ubuntu 22.04's python3
PRAIRIELEARN_PYTHON = "3.13"  # PrairieLearn's question and grader images
QUESTION_PACKAGES = ("numpy", "sympy")


def cache() -> Path:
    root = Path(os.environ.get("BACKPROP_TEST_CACHE",
                               Path.home() / ".cache" / "backprop-tests"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def interpreter(version: str) -> Path:
    """CPython ``version`` (3.10, 3.13): this one if it is that version, else pyenv's."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return Path(sys.executable)
    found = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
    if not found:
        pytest.skip(f"CPython {version} is not installed (looked in {PYENV})")
    return found[-1]


@contextmanager
def _locked(name: str) -> Iterator[None]:
    with open(cache() / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        pytest.skip(f"{what} failed (no package index?): {done.stderr.strip()[-500:]}")


def wheelhouse(wheel: Path) -> Path:
    """Wheels of backprop's dependencies for Gradescope's Python, so setup.sh installs with
    --no-index --find-links (no network in the test). Keyed by the wheel's requirements."""
    import zipfile

    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        requires = sorted(ln for ln in z.read(meta).decode().splitlines()
                          if ln.startswith("Requires-Dist:") and "extra ==" not in ln)
    import hashlib

    tag = hashlib.sha256("\n".join(requires).encode()).hexdigest()[:12]
    folder = cache() / f"wheels-py{GRADESCOPE_PYTHON}-{tag}"
    with _locked(folder.name):
        if not (folder / ".done").exists():
            python = interpreter(GRADESCOPE_PYTHON)
            _run([str(python), "-m", "pip", "download", "-q", "--only-binary=:all:", "-d",
                  str(folder), str(wheel)], f"pip download for Python {GRADESCOPE_PYTHON}")
            for own in folder.glob("backprop_cli-*.whl"):
                own.unlink()  # setup.sh installs the zip's wheel, never a cached one
            (folder / ".done").touch()
    return folder


def question_python() -> Path:
    """A venv of PrairieLearn's Python with numpy and sympy only (no lark, no backprop)."""
    venv = cache() / f"pl-question-py{PRAIRIELEARN_PYTHON}"
    with _locked(venv.name):
        if not (venv / ".done").exists():
            python = interpreter(PRAIRIELEARN_PYTHON)
            _run([str(python), "-m", "venv", "--clear", str(venv)], "venv")
            _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                  *QUESTION_PACKAGES], f"pip install {' '.join(QUESTION_PACKAGES)}")
            (venv / ".done").touch()
    return venv / "bin" / "python"
