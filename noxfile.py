"""The test suite on every CPython this project supports (3.10 to 3.13): `nox`.

.ci/run runs it for the interpreters other than its own (which runs the suite itself), with
pyenv's versions put on PATH. An interpreter the machine does not have is skipped with
nox's message ("Python interpreter 3.12 not found"), also on CI, where nox would otherwise
fail the run for it.
"""

from __future__ import annotations

import nox

PYTHONS = ["3.10", "3.11", "3.12", "3.13"]  # pyproject's requires-python, and README

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False
nox.options.reuse_existing_virtualenvs = True


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite, as the README's Tests section runs it (arguments go to pytest)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)
