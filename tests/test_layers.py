"""The package's folders are layers: the import-linter contracts hold, and every module
imports on its own in a fresh interpreter (a cycle shows up there as an ImportError)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import backprop_cli

ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(backprop_cli.__path__, "backprop_cli.")
                  if not m.name.endswith("__main__"))


def test_the_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


def test_every_module_imports_on_its_own_in_a_fresh_interpreter() -> None:
    modules = _modules()
    assert len(modules) > 30 and "backprop_cli.cli.learn" in modules
    # One fresh start per module: a module that only imports after another has been imported
    # (a cycle broken by luck of order) fails here. The libraries are imported once, in a
    # parent that has none of this package; each module is then imported in a fork of it,
    # where sys.modules holds nothing of backprop_cli (a new interpreter each would cost
    # half a second a module, almost all of it sympy).
    code = ("import os, sys, traceback\n"
            "import lark, mpmath, numpy, rich, sympy, typer\n"
            "assert not [m for m in sys.modules if m.startswith('backprop_cli')]\n"
            "bad = []\n"
            "for m in sys.argv[1:]:\n"
            "    r, w = os.pipe()\n"
            "    pid = os.fork()\n"
            "    if pid == 0:\n"
            "        os.close(r)\n"
            "        try:\n"
            "            __import__(m)\n"
            "            code = 0\n"
            "        except BaseException:\n"
            "            os.write(w, traceback.format_exc().strip().splitlines()[-1].encode())\n"
            "            code = 1\n"
            "        os._exit(code)\n"
            "    os.close(w)\n"
            "    with os.fdopen(r, 'rb') as f:\n"
            "        why = f.read().decode()\n"
            "    if os.waitpid(pid, 0)[1]:\n"
            "        bad.append(m + ': ' + why)\n"
            "print('\\n'.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "", proc.stdout


def test_core_imports_no_sympy_rich_or_typer() -> None:
    code = ("import sys\n"
            "import backprop_cli.core.ops, backprop_cli.core.parse, backprop_cli.core.engine\n"
            "import backprop_cli.core.result, backprop_cli.core.expand\n"
            "print(sorted(m for m in ('sympy', 'rich', 'typer', 'numpy') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr
