"""Every `$ backprop ...` transcript and every ```python block in README.md, CONTRIBUTING.md
and docs/**/*.md runs, and prints what the pages say it prints; every relative link in them
points at a file that exists.

A transcript is a fenced block whose first line starts with `$ `. Each `$ ` line is a
command (` \\` at a line's end continues it; `NAME=value` words before `backprop` set the
environment), followed by what it prints on stdout. A line `...` stands for any number of
lines (an excerpt); numbers are compared with the goldens' tolerance. The commands of one
block run in order in one fresh folder that holds `examples/` (a link to the repository's),
so a block can write a file and read it back. A ```python block runs the same way, in a fresh
namespace; one that is not meant to run is preceded by the line `<!-- no-run -->`
(CONTRIBUTING.md: Tests).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from .conftest import REPO, invoke, same_text

PAGES = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
# Files that exist only in the built site: docs/hooks/playground.py copies the playground's
# build (playground/dist/, made by playground/build.py) to site/playground/.
BUILT = {"docs/playground/": REPO / "playground" / "build.py"}
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.S | re.M)


def _name(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _blocks(path: Path) -> list[tuple[int, str, str, str]]:
    """(line, language, body, the line before the fence) of each fenced block."""
    text = path.read_text(encoding="utf-8")
    found = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found.append((text.count("\n", 0, m.start()) + 1, m.group(1), m.group(2), before))
    return found


def _session(body: str) -> list[tuple[str, list[str]]]:
    """The commands of one transcript block, each with the lines it prints."""
    session: list[tuple[str, list[str]]] = []
    lines = body.rstrip("\n").split("\n")
    k = 0
    while k < len(lines):
        command = [lines[k][2:]]
        while command[-1].endswith("\\"):
            k += 1
            command.append(lines[k])
        k += 1
        out = []
        while k < len(lines) and not lines[k].startswith("$ "):
            out.append(lines[k])
            k += 1
        session.append((" ".join(part.rstrip("\\").strip() for part in command), out))
    return session


def transcripts(paths: list[Path] = PAGES) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    return [(f"{_name(path)}:{line}", _session(body)) for path in paths
            for line, _, body, _ in _blocks(path) if body.startswith("$ ")]


def python_blocks() -> list[tuple[str, str]]:
    return [(f"{_name(path)}:{line}", body) for path in PAGES
            for line, lang, body, before in _blocks(path)
            if lang == "python" and before.strip() != "<!-- no-run -->"]


def _run(command: str, monkeypatch: pytest.MonkeyPatch) -> str:
    words = shlex.split(command)
    while "=" in words[0]:  # COLUMNS=80 backprop ...
        name, value = words.pop(0).split("=", 1)
        monkeypatch.setenv(name, value)
    assert words[0] == "backprop", command
    words = words[1:]
    stdin = None
    if "<" in words:
        k = words.index("<")
        stdin = Path(words[k + 1]).read_text(encoding="utf-8")
        del words[k:k + 2]
    r = invoke(*words, input=stdin)
    assert r.exception is None, repr(r.exception)
    out = r.stdout
    if "--plot" in words:  # the page shows the note stderr prints, unwrapped
        plot = words[words.index("--plot") + 1]
        assert Path(plot).exists() and r.stderr.startswith("loss curve written to ")
        out += f"loss curve written to {plot}\n"
    return out


def matches(got: list[str], want: list[str]) -> bool:
    """``want`` line by line, where a `...` line skips any number of ``got`` lines."""
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(matches(got[k:], want[1:]) for k in range(len(got) + 1))
    return bool(got) and same_text(got[0], want[0]) and matches(got[1:], want[1:])


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with the repository's examples/ in it."""
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("where,session", transcripts(), ids=[w for w, _ in transcripts()])
def test_transcript(where: str, session: list[tuple[str, list[str]]], folder: Path,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    for command, want in session:
        got = [line.rstrip() for line in _run(command, monkeypatch).rstrip("\n").split("\n")]
        if got == [""]:
            got = []
        assert matches(got, [line.rstrip() for line in want]), f"{command}\n" + "\n".join(got)


@pytest.mark.parametrize("where,code", python_blocks(), ids=[w for w, _ in python_blocks()])
def test_python_block(where: str, code: str, folder: Path) -> None:
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})  # our own pages, not user input


def test_readme_keeps_a_few_transcripts() -> None:
    # The README is the shop window: a few transcripts; the pages under docs/ hold the rest.
    assert 3 <= len(transcripts([REPO / "README.md"])) <= 8


def test_docs_hold_most_transcripts() -> None:
    assert len(transcripts(sorted((REPO / "docs").rglob("*.md")))) >= 30


def test_docs_have_runnable_python() -> None:
    assert len(python_blocks()) >= 5


CODE = re.compile(r"``[^`]*``|`[^`\n]*`")  # inline code: an example, not a link
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(([^)\s]+)\)")


def _links(path: Path) -> list[str]:
    text = CODE.sub("", FENCE.sub("", path.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:|#", t)]


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_relative_links_point_at_files(page: Path) -> None:
    broken = []
    for target in _links(page):
        path = os.path.normpath(page.parent / target.split("#", 1)[0])
        name = Path(path).relative_to(REPO).as_posix() if path.startswith(str(REPO)) else path
        built = any(name.startswith(prefix) and maker.exists() for prefix, maker in BUILT.items())
        if not os.path.exists(path) and not built:
            broken.append(target)
    assert not broken, f"{_name(page)}: {broken}"


@pytest.mark.parametrize("page", sorted((REPO / "docs").rglob("*.md")), ids=_name)
def test_docs_link_only_inside_docs(page: Path) -> None:
    # The site is built from docs/ alone: a link out of it would break the strict build.
    docs = os.path.normpath(REPO / "docs")
    outside = [t for t in _links(page)
               if not os.path.normpath(page.parent / t.split("#", 1)[0]).startswith(docs)]
    assert not outside, f"{_name(page)}: {outside}"
