"""The TOML reader: the standard library's tomllib (3.11+), else tomli, its source (3.10).

Gradescope's newest image is Ubuntu 22.04, whose python3 is 3.10: the package runs there.
"""

from __future__ import annotations

import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised by the 3.10 nox session
    import tomli as tomllib

__all__ = ["tomllib"]
