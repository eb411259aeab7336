"""The running backprop, packed to travel: a wheel for Gradescope's image, a vendored copy
(backprop_cli and lark, both pure Python) for PrairieLearn's serverFilesCourse.

Built from the installed package itself, so no source checkout is needed: the package's own
files (the grammar included, wherever an editable install keeps it) and the installed
distribution's metadata, zipped by the standard library. Entries are written in sorted order
with a fixed date, so the same installation gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ..core.errors import InputError

DIST = "backprop-cli"
EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: reproducible archives
_SKIP = ("__pycache__",)


def package_root() -> Path:
    return Path(__file__).resolve().parent.parent  # backprop_cli/


def package_files() -> Iterator[tuple[str, Path]]:
    """(path inside the package's folder, file on disk) for every file the package runs on."""
    from ..core.parse import GRAMMAR_FILE

    root = package_root()
    seen = set()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if path.is_dir() or any(p in _SKIP for p in rel.parts) or path.suffix == ".pyc":
            continue
        seen.add(rel.as_posix())
        yield f"backprop_cli/{rel.as_posix()}", path
    grammar = f"grammars/{GRAMMAR_FILE}"
    if grammar not in seen:  # an editable install keeps the grammar at the top (grammars/)
        outside = root.parent / "grammars" / GRAMMAR_FILE
        if not outside.is_file():
            raise InputError(f"the installed backprop has no {grammar}", where="backprop")
        yield f"backprop_cli/{grammar}", outside


def _distribution() -> metadata.Distribution:
    try:
        return metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        raise InputError("backprop is not installed as a package here (no backprop-cli "
                         "metadata), so it cannot be packed", where="backprop",
                         hint="pip install the project, then run the command again") from None


def _entry(archive: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    archive.writestr(info, data)


def wheel() -> tuple[str, bytes]:
    """The wheel of the running backprop: (its file name, its bytes)."""
    dist = _distribution()
    version = dist.version
    info = f"backprop_cli-{version}.dist-info"
    files: list[tuple[str, bytes]] = [(name, path.read_bytes())
                                      for name, path in package_files()]
    files.append((f"{info}/METADATA", (dist.read_text("METADATA") or "").encode()))
    entry_points = dist.read_text("entry_points.txt")
    if entry_points:
        files.append((f"{info}/entry_points.txt", entry_points.encode()))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: backprop course\n"
                  b"Root-Is-Purelib: true\nTag: py3-none-any\n"))
    record = [f"{name},sha256={_digest(data)},{len(data)}" for name, data in files]
    record.append(f"{info}/RECORD,,")
    files.append((f"{info}/RECORD", ("\n".join(record) + "\n").encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files:
            _entry(archive, name, data)
    return f"backprop_cli-{version}-py3-none-any.whl", buf.getvalue()


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def vendor(dest: Path) -> list[str]:
    """Copy backprop_cli and lark (pure Python, with lark's licence) into ``dest``, replacing
    what an earlier run put there. Returns the packages copied."""
    import lark

    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for name, path in package_files():
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    lark_root = Path(lark.__file__).resolve().parent
    shutil.copytree(lark_root, dest / "lark", ignore=shutil.ignore_patterns(*_SKIP, "*.pyc"))
    licences = dest / "LICENSES"
    licences.mkdir()
    for dist_name, package in (("lark", "lark"), (DIST, "backprop_cli")):
        try:
            found = metadata.distribution(dist_name).files or []
        except metadata.PackageNotFoundError:
            continue
        for f in found:
            where = Path(f.locate())
            if "LICEN" in f.name.upper() and where.is_file():
                shutil.copyfile(where, licences / f"{package}-{f.name}")
    return ["backprop_cli", "lark"]
