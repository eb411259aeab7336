"""Build the playground: static files that run backprop in the browser through Pyodide.

    cd playground && npm ci && cd .. && python playground/build.py [-o playground/dist]

Writes into the output folder (replaced whole):
- pyodide/: the interpreter from the `pyodide` npm package (node_modules/pyodide), only the files
  a page loads: pyodide.js, pyodide.asm.js, pyodide.asm.wasm, python_stdlib.zip and
  pyodide-lock.json (and numpy's Pyodide wheel, with --numpy-wheel);
- wheels/: this project's wheel (built now) and the pure-Python wheels its scalar path imports,
  at the versions installed in the Python that runs this script;
- index.html, app.js, play.py (the page, its script, its Python side) and manifest.json (every
  file with its size, the wheels in install order).
No file is fetched from anywhere at run time but this folder: the page installs the wheels by
unpacking them (no micropip, no package index).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
# What `import backprop_cli` + evaluate + the views import in the browser (tests/
# test_playground.py checks that the playground imports nothing else): sympy and its mpmath,
# lark, rich. Not rich's pygments and markdown-it-py (syntax highlighting and Markdown, never
# printed here), not typer/click (the CLI layer is not loaded), not numpy (Pyodide's own, on
# demand: arrays and formula answers), not orjson or platformdirs (--json files, practice).
WHEELS = ("sympy", "mpmath", "lark", "rich")
RUNTIME = ("pyodide.js", "pyodide.asm.js", "pyodide.asm.wasm", "python_stdlib.zip",
           "pyodide-lock.json")
PAGE = ("index.html", "app.js", "play.py")


def pyodide_dir() -> Path:
    where = HERE / "node_modules" / "pyodide"
    if not (where / "pyodide.asm.wasm").exists():
        sys.exit(f"error: no Pyodide at {where}: run `npm ci` in {HERE} first")
    return where


def project_wheel(into: Path) -> Path:
    """This checkout, built as a wheel (no dependencies: those are WHEELS)."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT),
                        "-w", tmp], check=True)
        (built,) = Path(tmp).glob("backprop_cli-*.whl")
        return Path(shutil.copy2(built, into / built.name))


def dependency_wheels(into: Path, python: str) -> list[Path]:
    """Each of WHEELS at the version installed here, as a py3-none-any wheel (pip's cache or
    its configured index)."""
    pins = [f"{name}=={metadata.version(name)}" for name in WHEELS]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--implementation", "py", "--abi", "none",
                        "--platform", "any", "--python-version", python, "-d", tmp, *pins],
                       check=True)
        found = sorted(Path(tmp).glob("*.whl"))
        if len(found) != len(WHEELS):
            sys.exit(f"error: expected {len(WHEELS)} wheels, pip gave {[p.name for p in found]}")
        return [Path(shutil.copy2(w, into / w.name)) for w in found]


def _cpython(version: str) -> str | None:
    """A CPython ``version`` ("3.13") that runs: on PATH, or pyenv's (whose shim on PATH may
    point at another version)."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = [shutil.which(f"python{version}"),
                  *map(str, sorted(root.glob(f"versions/{version}.*/bin/python{version}")))]
    for candidate in candidates:
        if candidate is None:
            continue
        done = subprocess.run([candidate, "-c", "import sys; print(*sys.version_info[:2], "
                               "sep='.')"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


SKIP = {"tests", "benchmarks"}  # folders no import reaches: half of sympy's wheel


def repack(wheel: Path, python: str, compile_: bool) -> bool:
    """Rewrite ``wheel`` for the browser: without its test suites (SKIP), and with its modules
    compiled (a .pyc where each .py was, the .py dropped, as Pyodide ships its own packages),
    so that the browser does not compile sympy's thousand modules at every page load. The
    bytecode is version-specific: it needs a CPython of Pyodide's version; where there is
    none, the .py files stay. Whether it compiled."""
    interpreter = _cpython(python) if compile_ else None
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "tree"
        with zipfile.ZipFile(wheel) as z:
            z.extractall(tree, [n for n in z.namelist() if not SKIP & set(n.split("/")[:-1])])
        if interpreter is not None:
            # A module that does not compile (none should) keeps its .py: status not checked.
            subprocess.run([interpreter, "-m", "compileall", "-q", "-b", "-j", "0",
                            "--invalidation-mode", "unchecked-hash", str(tree)],
                           stdout=subprocess.DEVNULL)
            for source in tree.rglob("*.py"):
                if source.with_suffix(".pyc").exists():
                    source.unlink()
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
            for f in sorted(tree.rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(tree).as_posix())
    return interpreter is not None


def numpy_wheel(lock: dict[str, object], wheel: Path, into: Path) -> Path:
    """numpy's Pyodide wheel, checked against pyodide-lock.json (loadPackage checks it too)."""
    entry = lock["packages"]["numpy"]  # type: ignore[index]
    if wheel.name != entry["file_name"]:
        sys.exit(f"error: this Pyodide wants {entry['file_name']}, not {wheel.name}")
    if hashlib.sha256(wheel.read_bytes()).hexdigest() != entry["sha256"]:
        sys.exit(f"error: {wheel.name} does not match pyodide-lock.json's sha256")
    return Path(shutil.copy2(wheel, into / wheel.name))


def build(out: Path, numpy: Path | None = None, compile_: bool = True) -> dict[str, object]:
    source = pyodide_dir()
    if out.exists():
        shutil.rmtree(out)
    runtime, wheels = out / "pyodide", out / "wheels"
    runtime.mkdir(parents=True)
    wheels.mkdir()
    for name in RUNTIME:
        shutil.copy2(source / name, runtime / name)
    lock = json.loads((source / "pyodide-lock.json").read_text(encoding="utf-8"))
    python = ".".join(lock["info"]["python"].split(".")[:2])
    has_numpy = numpy is not None
    if numpy is not None:
        numpy_wheel(lock, numpy, runtime)
    ours = project_wheel(wheels)
    # The project's wheel last: its modules import the others'.
    order = [*dependency_wheels(wheels, python), ours]
    bytecode = all([repack(w, python, compile_) for w in order])
    for name in PAGE:
        shutil.copy2(HERE / name, out / name)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    manifest = {
        "pyodide": json.loads((source / "package.json").read_text(encoding="utf-8"))["version"],
        "python": lock["info"]["python"],
        "numpy": has_numpy,
        "compiled": bytecode,
        "wheels": [{"name": w.name, "bytes": w.stat().st_size} for w in order],
        "files": [{"path": p.relative_to(out).as_posix(), "bytes": p.stat().st_size}
                  for p in files],
    }
    manifest["bytes"] = sum(f["bytes"] for f in manifest["files"])  # type: ignore[attr-defined]
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=HERE / "dist",
                        help="the folder to write (default: playground/dist)")
    parser.add_argument("--numpy-wheel", type=Path, default=None, metavar="WHL",
                        help="numpy's Pyodide wheel (the file pyodide-lock.json names), for "
                        "arrays; without it the page runs scalar expressions only")
    parser.add_argument("--no-compile", action="store_true",
                        help="ship the wheels' .py files (by default they are compiled with "
                        "the python3.X of Pyodide's version, where there is one)")
    args = parser.parse_args()
    manifest = build(args.out, args.numpy_wheel, not args.no_compile)
    if not manifest["compiled"] and not args.no_compile:
        print("note: no CPython of Pyodide's version here: the wheels ship as source, and "
              "the browser compiles them at each load (slower)")
    for f in manifest["files"]:  # type: ignore[attr-defined]
        print(f"{f['bytes']:>11,}  {f['path']}")
    print(f"{manifest['bytes']:>11,}  in all, into {args.out}")


if __name__ == "__main__":
    main()
