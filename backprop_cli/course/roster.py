"""A class roster for `make --roster`: one student id per row, each a `--variant` of its own.

The file is CSV with a header row; the id is the column named id, sid, student, email or
username (the first found, case-insensitive), else the first column. Ids name files
(`-o keys/{id}.toml`), so a character other than letters, digits and . _ @ - becomes _; an
empty id is skipped, two rows with the same id are refused.
"""

from __future__ import annotations

import csv
import io
import re

from ..core.errors import InputError

ID_COLUMNS = ("id", "sid", "student", "email", "username")
MAX_ROSTER_BYTES = 5_000_000
_UNSAFE = re.compile(r"[^A-Za-z0-9._@-]")


def read_roster(path: str) -> list[str]:
    """The students' ids, in the roster's order."""
    from ..core.fileio import read_text

    text = read_text(path, limit=MAX_ROSTER_BYTES, what="the roster", where="--roster")
    rows = list(csv.reader(io.StringIO(text)))
    if len(rows) < 2:
        raise InputError(f"the roster {path} has no students: a header row, then one row "
                         "per student", where="--roster", hint="e.g. id,name then s1234,Ada")
    head = [h.strip().lower() for h in rows[0]]
    col = next((head.index(c) for c in ID_COLUMNS if c in head), 0)
    ids: list[str] = []
    for line, row in enumerate(rows[1:], 2):
        raw = row[col].strip() if col < len(row) else ""
        if not raw:
            continue
        ident = _UNSAFE.sub("_", raw).lstrip(".")[:80] or "_"
        if ident in ids:
            raise InputError(f"the roster {path} names student '{ident}' twice (line {line})",
                             where="--roster")
        ids.append(ident)
    if not ids:
        raise InputError(f"the roster {path} has no student ids in its column "
                         f"'{rows[0][col] if col < len(rows[0]) else col}'", where="--roster")
    return ids


def per_student(template: str | None, option: str) -> None:
    """With a roster, each output names one file per student: it must hold {id}."""
    if template is not None and "{id}" not in template:
        raise InputError(f"with --roster, {option} names one file per student: put {{id}} "
                         f"in it, such as {option} sheets/{{id}}.html", where=option)
