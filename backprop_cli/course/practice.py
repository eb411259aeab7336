"""Practice that remembers (`backprop practice`): a learner's history, and the next drill aimed
at the slips they make.

The history is one JSON file (the user's data folder by default, via platformdirs; any file
with ``--progress``). Scheduling is spaced repetition counted in practice sessions, Leitner's
boxes: a family drilled without a slip moves up a box and comes back after 2^box sessions
(1, 2, 4, 8, 16); a drill with a slip sends it back to box 0, due next session. Each named
slip (quiz.py's and the grader's hints, named by classresults.slips_of) has a box of its own:
made, it is due next session, in a family that exercises it (SLIP_FAMILIES: a swapped mul
input comes back in `mul`, a missed branch in `fanout`); met again without being made, it
moves up. The next drill is, in order: a slip that is due, a family failed last time, then
reviews that are due and families not yet seen (CURRICULUM's order) by turns, else the
review that is due soonest. The level of a
family goes up after a drill without a slip at box 2 or more, and down after three slips.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import InputError

VERSION = 1
TOP_BOX = 4
MAX_HISTORY_BYTES = 5_000_000
CURRICULUM = ("add", "mul", "max", "circuit", "fanout", "neuron", "neuron-gates", "wx-norm",
              "relu-layer", "softmax-ce", "mlp")
# Where each slip is practised: the families whose circuits make it possible.
SLIP_FAMILIES: dict[str, tuple[str, ...]] = {
    "sign": ("neuron-gates", "circuit", "add"),
    "swap gate: own input used": ("mul", "circuit", "neuron"),
    "missing fan-out branch": ("fanout", "mlp"),
    "missing upstream gradient": ("mul", "add", "max"),
    "upstream gradient left out": ("mul", "add", "max"),
    "local gradient left out": ("mul", "neuron", "circuit"),
    "transpose": ("wx-norm", "relu-layer"),
    "factor 2": ("wx-norm",),
    "constant factor": ("wx-norm", "softmax-ce"),
    "wrong shape": ("wx-norm", "relu-layer", "softmax-ce"),
    "rounding": ("neuron", "neuron-gates"),
}


def default_path() -> Path:
    """progress.json in the user's data folder (platformdirs: ~/.local/share/backprop on
    Linux, ~/Library/Application Support/backprop on macOS, %LOCALAPPDATA%\\backprop on
    Windows)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("backprop", appauthor=False)) / "progress.json"


def empty() -> dict[str, Any]:
    return {"version": VERSION, "session": 0, "families": {}, "slips": {}, "sessions": []}


def load(path: Path) -> dict[str, Any]:
    """The history at ``path`` (a new one if there is no file); a file that is not a
    history is refused (exit 2) rather than overwritten."""
    from ..core.fileio import read_text

    if not path.exists():
        return empty()
    text = read_text(str(path), limit=MAX_HISTORY_BYTES, what="the progress file",
                     where="--progress")
    try:
        doc = json.loads(text)
        ok = (isinstance(doc, dict) and doc.get("version") == VERSION
              and isinstance(doc.get("session"), int)
              and all(isinstance(doc.get(k), dict) for k in ("families", "slips"))
              and isinstance(doc.get("sessions"), list))
    except (json.JSONDecodeError, RecursionError):
        ok = False
    if not ok:
        raise InputError(f"{path} is not a backprop progress file", where="--progress",
                         hint="give another file with --progress, or move this one away")
    return doc  # type: ignore[no-any-return]


def save(path: Path, history: dict[str, Any]) -> None:
    from ..core.fileio import write_atomic

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(history, indent=1, sort_keys=True) + "\n", where="--progress")


@dataclass
class Pick:
    family: str
    level: int
    why: str


def pick(history: dict[str, Any]) -> Pick:
    """The next drill: a slip that is due, a family that is due, a new family, or the review
    due soonest."""
    n = history["session"] + 1
    fams: dict[str, Any] = history["families"]
    slips: dict[str, Any] = history["slips"]
    due_slips = sorted((s for s, st in slips.items() if st["due"] <= n),
                       key=lambda s: (slips[s]["due"], -slips[s]["count"], s))
    for s in due_slips:
        made_in = slips[s].get("families", {})
        choices = [f for f in SLIP_FAMILIES.get(s, ()) if f in CURRICULUM] or list(made_in)
        if not choices:
            continue
        # Where it was made most, if that family exercises it; else the first that does.
        family = max(choices, key=lambda f: (made_in.get(f, 0), -choices.index(f)))
        return Pick(family, _level(fams, family),
                    f"'{s}' comes back: made {slips[s]['count']} "
                    f"time{'s' if slips[s]['count'] != 1 else ''}, last in session "
                    f"{slips[s]['last']}")
    due = sorted((f for f, st in fams.items() if st["due"] <= n),
                 key=lambda f: (fams[f]["box"], fams[f]["due"], f))
    new = [f for f in CURRICULUM if f not in fams]
    last = str(history["sessions"][-1]["family"]) if history["sessions"] else ""
    # A family failed last time comes first; otherwise reviews and new families take turns,
    # so that the reviews due never hold the next family back for long.
    if due and (fams[due[0]]["box"] == 0 or not new or fams.get(last, {}).get("drills") == 1):
        f = due[0]
        return Pick(f, _level(fams, f), f"due for review (box {fams[f]['box']} of {TOP_BOX})")
    if new:
        return Pick(new[0], 1, "new: not practised yet")
    f = min(fams, key=lambda f: (fams[f]["due"], f))
    return Pick(f, _level(fams, f), f"the review due soonest (session {fams[f]['due']})")


def _level(fams: dict[str, Any], family: str) -> int:
    return int(fams.get(family, {}).get("level", 1))


def record(history: dict[str, Any], family: str, level: int, seed: int, asked: int,
           right: int, finished: bool, slips: list[str]) -> dict[str, Any]:
    """``history`` after one drill (changed in place, and returned)."""
    n = history["session"] = history["session"] + 1
    st = history["families"].setdefault(family, {"box": 0, "due": n, "drills": 0,
                                                 "asked": 0, "right": 0, "level": level})
    wrong = asked - right
    st["drills"] += 1
    st["asked"] += asked
    st["right"] += right
    st["last"] = n
    if wrong:
        st["box"] = 0
        if wrong >= 3:
            st["level"] = max(1, st["level"] - 1)
    elif finished:
        if st["box"] >= 2:
            st["level"] = min(3, st["level"] + 1)
        st["box"] = min(TOP_BOX, st["box"] + 1)
    st["due"] = n + 2 ** st["box"]
    made: dict[str, int] = {}
    for s in slips:
        made[s] = made.get(s, 0) + 1
    for s, k in made.items():
        sl = history["slips"].setdefault(s, {"count": 0, "box": 0, "due": n, "last": n,
                                             "families": {}})
        sl["count"] += k
        sl["last"] = n
        sl["box"] = 0
        sl["due"] = n + 1
        sl["families"][family] = sl["families"].get(family, 0) + k
    for s, sl in history["slips"].items():
        # Met again without being made: the slip's drill went well; it moves up a box.
        if s not in made and family in SLIP_FAMILIES.get(s, ()) and finished:
            sl["box"] = min(TOP_BOX, sl["box"] + 1)
            sl["due"] = n + 2 ** sl["box"]
    history["sessions"].append({"session": n, "when": time.strftime("%Y-%m-%dT%H:%M:%S"),
                                "family": family, "level": level, "seed": seed,
                                "asked": asked, "right": right, "finished": finished,
                                "slips": made})
    return history


def stats(history: dict[str, Any]) -> dict[str, Any]:
    """Per family and per slip, as plain data for the tables and --json."""
    n = history["session"]
    families = [{"family": f, "drills": st["drills"], "right": st["right"],
                 "asked": st["asked"], "level": st["level"], "box": st["box"],
                 "next": max(0, st["due"] - n)}
                for f, st in sorted(history["families"].items(),
                                    key=lambda kv: CURRICULUM.index(kv[0])
                                    if kv[0] in CURRICULUM else 99)]
    slips = [{"slip": s, "made": sl["count"], "last": sl["last"], "box": sl["box"],
              "next": max(0, sl["due"] - n)}
             for s, sl in sorted(history["slips"].items(), key=lambda kv: -kv[1]["count"])]
    scores = [(s["session"], s["right"], s["asked"]) for s in history["sessions"]]
    return {"sessions": n, "families": families, "slips": slips, "scores": scores}


def stats_view(history: dict[str, Any]) -> Any:
    """--stats as rich renderables: per family, per slip, and the scores session by session
    as a small bar chart."""
    from rich.console import Group
    from rich.table import Table

    from ..views.render import text

    doc = stats(history)
    if not doc["sessions"]:
        return text("No practice yet: run `backprop practice`.")
    fams = Table(title=text(f"Progress after {doc['sessions']} sessions"), title_justify="left",
                 header_style="bold")
    for col in ("family", "drills", "right", "level", "box", "next in"):
        fams.add_column(col, justify="left" if col == "family" else "right")
    for f in doc["families"]:
        fams.add_row(text(f["family"], "bold cyan"), text(str(f["drills"])),
                     text(f"{f['right']} of {f['asked']}"), text(str(f["level"])),
                     text(f"{f['box']} of {TOP_BOX}"), text(_sessions(f["next"])))
    parts: list[Any] = [fams]
    if doc["slips"]:
        slips = Table(title=text("Slips"), title_justify="left", header_style="bold")
        for col in ("slip", "made", "last in session", "box", "comes back in"):
            slips.add_column(col, justify="left" if col == "slip" else "right")
        for s in doc["slips"]:
            slips.add_row(text(s["slip"]), text(str(s["made"])), text(str(s["last"])),
                          text(f"{s['box']} of {TOP_BOX}"), text(_sessions(s["next"])))
        parts.append(slips)
    chart = Table(title=text("Score per session"), title_justify="left", header_style="bold",
                  show_edge=False, box=None)
    chart.add_column("session", justify="right")
    chart.add_column("", no_wrap=True)
    chart.add_column("right", justify="right")
    for session, right, asked in doc["scores"][-20:]:
        share = right / asked if asked else 0.0
        chart.add_row(text(str(session)), text("█" * round(20 * share) or "▏", "green"),
                      text(f"{right}/{asked}"))
    parts.append(chart)
    return Group(*parts)


def _sessions(k: int) -> str:
    return "now" if k <= 0 else f"{k} session{'s' if k != 1 else ''}"
