"""The one way files are read and written: bounded reads, atomic writes, outputs checked
before the work.

Reading: a file or standard input (``-``) is read up to a size limit (core/limits.py), so
that ``/dev/zero`` or a runaway pipe ends in one message instead of filling the memory;
devices (other than /dev/null) and folders are refused before reading.

Writing: every output file is written to a temporary file in the same folder, flushed to
disk (fsync) and renamed over the target (``os.replace``, atomic on POSIX): an interrupted
or failed write leaves the old file as it was. ``check_output`` is called before the work
runs, so an unwritable path, a folder, or an output that is one of the run's own inputs
(``check key.toml --junit key.toml``) is refused (exit 2) before anything is computed.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import InputError
from .limits import megabytes

STDIN = "-"


def _refuse_device(st: os.stat_result, name: str, where: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{name} is a folder, not a file", where=where)
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        try:
            null = os.stat(os.devnull)
        except OSError:
            null = None
        if null is None or st.st_rdev != null.st_rdev:
            raise InputError(f"{name} is a device, not a file (it may never end)",
                             where=where, hint="give a regular file, or pipe text in")


def _open_regular(name: str, label: str, where: str) -> int:
    """A descriptor of ``name``, refused unless it is a regular file. Opened without
    blocking, then checked on the descriptor itself: a FIFO would block open() until a
    writer came, and a check of the path before opening could be raced."""
    fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        _refuse_device(st, label, where)
        raise InputError(f"{label} is not a regular file (a pipe or a socket may never end)",
                         where=where, hint="give a regular file")
    return fd


def check_stdin(where: str) -> None:
    """Refuse a device or a folder on standard input (``< /dev/zero`` never ends): what
    every command that reads standard input checks first. A terminal is welcome."""
    try:
        fd = sys.stdin.fileno()
        st = os.fstat(fd)
        tty = os.isatty(fd)
    except (OSError, ValueError, AttributeError):  # no descriptor (CliRunner)
        return
    if not tty:
        _refuse_device(st, "standard input", where)


def read_bytes(name: str, *, limit: int, what: str, where: str,
               regular: bool = False) -> bytes:
    """The bytes of file ``name`` (``-``: standard input), at most ``limit`` of them.
    ``regular``: refuse a named pipe, a socket or a device (a grader's submission)."""
    label = "standard input" if name == STDIN else name
    try:
        if name == STDIN:
            fh = getattr(sys.stdin, "buffer", None)
            check_stdin(where)
            raw = fh.read(limit + 1) if fh is not None else sys.stdin.read(limit + 1).encode()
        elif regular:
            with open(_open_regular(name, label, where), "rb") as f:
                raw = f.read(limit + 1)
        else:
            _refuse_device(os.stat(name), label, where)
            with open(name, "rb") as f:
                raw = f.read(limit + 1)
    except OSError as exc:
        raise InputError(f"cannot read {label}: {exc.strerror or exc}", where=where,
                         hint=f"give {what} that exists and can be read") from None
    if len(raw) > limit:
        raise InputError(f"{label} is larger than {megabytes(limit)}, the limit for {what}",
                         where=where, hint="see docs/reference/limits.md")
    return raw


def read_text(name: str, *, limit: int, what: str, where: str) -> str:
    """``read_bytes`` decoded as UTF-8 (a leading byte-order mark is dropped)."""
    raw = read_bytes(name, limit=limit, what=what, where=where)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        label = "standard input" if name == STDIN else name
        raise InputError(f"{label} is not UTF-8 text (byte {exc.start + 1})",
                         where=where) from None


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _refuse_inputs(p: Path, where: str, inputs: Iterable[str | Path]) -> None:
    for source in inputs:
        if str(source) != STDIN and _same_file(p, Path(source)):
            raise InputError(f"{where} {p} is also this run's input: writing it would "
                             "replace the input", where=where,
                             hint="write the output to another file")


def check_output(path: str | Path, *, where: str, inputs: Iterable[str | Path] = ()) -> Path:
    """Refuse, before any work, an output path that cannot be written or that is one of
    this run's inputs. Returns the path."""
    p = Path(path)
    _refuse_inputs(p, where, inputs)
    if p.is_dir():
        raise InputError(f"{where} {path} is a folder", where=where,
                         hint="give a file name, e.g. report.xml")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"{where} {path}: the folder {folder} does not exist", where=where)
    if not os.access(folder, os.W_OK | os.X_OK) or (p.exists() and not os.access(p, os.W_OK)):
        raise InputError(f"{where} {path}: cannot write there (permission denied)",
                         where=where)
    return p


def check_outputs(outputs: Iterable[tuple[str, str | None]]) -> None:
    """``check_output`` for each (option, path) of one run (None and ``-``: standard output
    or not asked), and no two of them the same file: `make -o k.toml --template k.toml`
    would write the template over the key."""
    seen: list[tuple[str, str]] = []
    for where, path in outputs:
        if path is None or path == STDIN:
            continue
        check_output(path, where=where)
        for other_where, other in seen:
            if os.path.realpath(path) == os.path.realpath(other) or _same_file(
                    Path(path), Path(other)):
                raise InputError(f"{where} {path} is also {other_where}'s file: one would "
                                 "replace the other", where=where,
                                 hint="give each output its own file")
        seen.append((where, path))


def check_result_path(path: str, *, where: str, inputs: Iterable[str | Path]) -> Path:
    """A grader's results file, checked before the work: given (an empty name is an error,
    not "no file"), not a folder, not one of the run's inputs. Its folder may be missing:
    it is made when the file is written (PrairieLearn does not make /grade/results)."""
    if not path.strip():
        raise InputError(f"{where} was given an empty file name", where=where,
                         hint=f"give the results file, e.g. {where} results.json")
    p = Path(path)
    _refuse_inputs(p, where, inputs)
    if p.is_dir():
        raise InputError(f"{where} {path} is a folder", where=where,
                         hint="give a file name, e.g. results.json")
    return p


def write_atomic(path: str | Path, data: bytes | str, *, where: str) -> Path:
    """Write ``data`` to ``path`` through a temporary file in the same folder, fsync'ed and
    renamed over it: the old file stays whole if anything fails."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    # Through a symbolic link to the file it names (the link stays a link).
    p = Path(os.path.realpath(path))
    try:
        st = os.stat(p)
    except OSError:
        st = None
    if st is not None and not stat.S_ISREG(st.st_mode):
        # A device or a pipe (/dev/stdout, /dev/null, a FIFO) is written as a stream: renaming
        # a file over it would replace the device itself.
        try:
            with open(p, "wb") as fh:
                fh.write(raw)
        except OSError as exc:
            raise InputError(f"cannot write {path}: {exc.strerror or exc}",
                             where=where) from None
        return Path(path)
    folder = p.parent
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{p.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file private (0600): give it the mode a plain open() would.
        try:
            mode = stat.S_IMODE(os.stat(p).st_mode)
        except OSError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        os.replace(tmp, p)
        tmp = None
        return Path(path)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}", where=where) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
