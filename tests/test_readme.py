"""Every `$ backprop ...` transcript in the README prints what the tool prints today.

A line `...` in a transcript stands for any number of lines (an excerpt); numbers are
compared with the goldens' tolerance. `--plot FILE` draws into a temporary folder.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from .conftest import REPO, invoke, same_text

README = (REPO / "README.md").read_text(encoding="utf-8")


def transcripts() -> list[tuple[str, list[str]]]:
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", README, re.S):
        if not block.startswith("$ backprop "):
            continue
        lines = block.rstrip("\n").split("\n")
        k = 0
        while lines[k].endswith("\\"):
            k += 1
        command = " ".join(line.rstrip("\\").strip() for line in lines[:k + 1])[2:]
        found.append((command, lines[k + 1:]))
    return found


def _run(command: str, tmp: Path) -> str:
    words = shlex.split(command)[1:]  # without "backprop"
    stdin = None
    if "<" in words:
        k = words.index("<")
        stdin = (REPO / words[k + 1]).read_text(encoding="utf-8")
        del words[k:k + 2]
    plot = None
    if "--plot" in words:  # drawn into a temporary folder, reported as the README says
        k = words.index("--plot")
        plot = words[k + 1]
        words[k + 1] = str(tmp / plot)
    r = invoke(*words, input=stdin)
    assert r.exception is None, repr(r.exception)
    out = r.stdout
    if plot is not None:
        assert (tmp / plot).exists() and r.stderr.startswith("loss curve written to ")
        out += f"loss curve written to {plot}\n"  # stderr wraps the long temporary path
    return out


def matches(got: list[str], want: list[str]) -> bool:
    """``want`` line by line, where a `...` line skips any number of ``got`` lines."""
    if not want:
        return not got
    if want[0].strip() == "...":
        return any(matches(got[k:], want[1:]) for k in range(len(got) + 1))
    return bool(got) and same_text(got[0], want[0]) and matches(got[1:], want[1:])


@pytest.mark.parametrize("command,want", transcripts(),
                         ids=[c.split(" --")[0][:40] for c, _ in transcripts()])
def test_readme_transcript(command: str, want: list[str], monkeypatch: pytest.MonkeyPatch,
                           tmp_path: Path) -> None:
    monkeypatch.chdir(REPO)
    got = [line.rstrip() for line in _run(command, tmp_path).rstrip("\n").split("\n")]
    assert matches(got, [line.rstrip() for line in want]), "\n".join(got)


def test_readme_has_transcripts() -> None:
    assert len(transcripts()) >= 10
