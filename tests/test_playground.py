"""The playground's Python side (playground/play.py) on CPython, without a browser: what the page
is given for each kind of input, and that it imports nothing but the wheels that
playground/build.py ships (a new import would fail in the browser only)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import invoke

PLAYGROUND = Path(__file__).resolve().parent.parent / "playground"


def _module(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"playground_{name}", PLAYGROUND / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


play = _module("play")


def _run(*args: str) -> dict[str, Any]:
    return json.loads(play.run(*args))  # type: ignore[no-any-return]


def test_lecture_report_is_the_cli_table() -> None:
    out = _run("(x+y)*z", "x=-2,y=5,z=-4")
    assert out["ok"] is True
    assert "checks: 3 proved by sympy" in out["report"]
    assert out["report"].startswith('<pre class="report">')


def test_lecture_replay_page() -> None:
    out = _run("(x+y)*z", "x=-2,y=5,z=-4")
    assert out["replay"].lower().startswith("<!doctype html>")
    assert out["replay_height"] > 0


def test_wrong_answer_not_ok() -> None:
    out = _run("(x+y)*z", "x=-2,y=5,z=-4", "dx=-4,dy=4,dz=3")
    assert out["ok"] is False
    assert "hint: the sign is flipped" in out["report"]


def test_bad_expression_is_the_cli_message() -> None:
    error = _run("(x+*y", "x=1")["error"]
    cli = invoke("eval", "(x+*y", "--at", "x=1")
    lines = ["error: " + error["message"], *("  " + c for c in error["context"].splitlines())]
    assert lines == [line.rstrip() for line in cli.stderr.strip().splitlines()]
    assert error["hint"] == ""


def test_at_boxes_lines_are_options() -> None:
    out = _run("x*y", "x=2\ny=3")
    assert "f = 6" in out["report"]


def test_no_values_symbolic() -> None:
    out = _run("x*y")
    assert out["replay"] is None and "report" in out


def test_user_text_escaped_in_report() -> None:
    out = _run("q = x*y; f = q", "x=1,y=2", "q=<b>2</b>")
    assert "<b>" not in json.dumps(out)


def test_bug_is_one_line_without_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    import backprop_cli.checks.evaluate as evaluate

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("oops")

    monkeypatch.setattr(evaluate, "evaluate", broken)
    message = _run("x", "x=1")["error"]["message"]
    assert message.startswith("internal error: ZeroDivisionError: oops. This is a bug in backprop")


IMPORTS = """
import sys
before = set(sys.modules)
sys.path.insert(0, {folder!r})
import play
play.warm()
for args in [("(x+y)*z", "x=-2,y=5,z=-4", "dx=-4,dy=4,dz=3"), ("(x+*y", "x=1"),
             ("relu(x)*y + max(x, y)", "x=0,y=2"), ("x*y",), ("1/x", "x=0")]:
    play.run(*args)
from importlib.metadata import packages_distributions
dists = packages_distributions()
print(sorted({{d for m in set(sys.modules) - before for d in dists.get(m.split(".")[0], [])}}))
"""


def test_imports_only_the_shipped_wheels() -> None:
    build = _module("build")
    code = IMPORTS.format(folder=str(PLAYGROUND))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    imported = set(json.loads(done.stdout.strip().replace("'", '"')))
    assert imported <= {*build.WHEELS, "backprop-cli"}, imported - set(build.WHEELS)


def test_numpy_wheel_must_be_the_one_the_lock_names(tmp_path: Path) -> None:
    build = _module("build")
    wheel = tmp_path / "numpy-2.2.5-cp313-cp313-pyemscripten_2025_0_wasm32.whl"
    wheel.write_bytes(b"not the real one")
    lock = {"packages": {"numpy": {"file_name": wheel.name, "sha256": "0" * 64}}}
    with pytest.raises(SystemExit, match=r"does not match pyodide-lock\.json's sha256"):
        build.numpy_wheel(lock, wheel, tmp_path / "out")
    lock["packages"]["numpy"]["file_name"] = "numpy-other.whl"
    with pytest.raises(SystemExit, match=r"this Pyodide wants numpy-other\.whl"):
        build.numpy_wheel(lock, wheel, tmp_path / "out")
