"""Per-student numbers: the variant settings (the `backprop make` arguments every student's
key is made with), the ids they are made for, and the check that they work.

A variant's key is ``backprop make SETTINGS --variant ID``: generation is deterministic, so
the grader makes the key of the numbers the student was given, byte for byte. The ids are
normalised (trimmed, case-folded: make.normalise_id) wherever they are read, so a roster's
`Alice@Uni.edu` and Gradescope's `alice@uni.edu` are one student. Settings that do not
parse, or make no key, are an error wherever they are read: never a fallback to a fixed key.
"""

from __future__ import annotations

import re
import shlex
import zlib
from dataclasses import dataclass
from typing import Any

from ..core.errors import InputError
from . import make as mk

SETTINGS_FILE = "variant-settings"  # in the autograder's source/ and the question's tests/
VARIANT_ID = re.compile(r"^pl-s?[0-9]{1,20}$")  # prairielearn_id's: what data.json must hold
_OPTIONS = {"--seed": "seed", "--count": "count", "-n": "count", "--level": "level"}


@dataclass(frozen=True)
class VariantSettings:
    """`circuit,fanout --seed 2026 --count 4 --level 1`, parsed."""

    family: str | None = None
    seed: int = 0
    count: int = 1
    level: int = 1

    @classmethod
    def parse(cls, text: str, where: str = "--variants") -> VariantSettings:
        """The settings as written after `backprop make`; anything else is an InputError."""
        try:
            words = shlex.split(text, comments=True)
        except ValueError as exc:
            raise InputError(f"the variant settings '{text.strip()}' cannot be read: {exc}",
                             where=where) from None
        found: dict[str, Any] = {}
        k = 0
        while k < len(words):
            word = words[k]
            name, eq, value = word.partition("=")
            if name in _OPTIONS:
                if not eq:
                    k += 1
                    if k == len(words):
                        raise InputError(f"the variant settings end after {name}: give its "
                                         "number", where=where)
                    value = words[k]
                try:
                    found[_OPTIONS[name]] = int(value)
                except ValueError:
                    raise InputError(f"the variant settings give {name} '{value}': a whole "
                                     "number is needed", where=where) from None
            elif word.startswith("-"):
                raise InputError(f"the variant settings have '{word}', which is not a "
                                 "setting of per-student keys", where=where,
                                 hint="write the `backprop make` arguments: [FAMILY] --seed "
                                 "N --count N --level N (no -o, no --variant)")
            elif "family" in found:
                raise InputError(f"the variant settings name families twice ('{found['family']}"
                                 f"' and '{word}')", where=where,
                                 hint="join families with commas: circuit,fanout")
            else:
                found["family"] = word
            k += 1
        settings = cls(**found)
        settings.check(where)
        return settings

    def check(self, where: str = "--variants") -> None:
        """Make one key: bad families, levels or counts fail here, before any student."""
        try:
            mk.make(self.family, seed=self.seed, count=self.count, level=self.level,
                    variant="settings-check")
        except InputError as exc:
            raise InputError(f"the variant settings '{self.args()}' make no key: {exc.message}",
                             where=where, hint=exc.hint) from None

    def args(self) -> str:
        """The settings as `backprop make` arguments (what the settings file holds)."""
        words = ([self.family] if self.family else []) + [
            "--seed", str(self.seed), "--count", str(self.count), "--level", str(self.level)]
        return shlex.join(words)

    def made(self, student: str) -> list[mk.Made]:
        return mk.make(self.family, seed=self.seed, count=self.count, level=self.level,
                       variant=student)

    def key_text(self, student: str) -> str:
        """This student's answer key, as `backprop make ... --variant ID -o KEY` writes it."""
        vid = mk.normalise_id(student)
        return mk.key_toml(self.made(vid), command=f"backprop make {self.args()} "
                           f"--variant {shlex.quote(vid)}", title=self.title(vid))

    def title(self, student: str) -> str:
        return (f"Backprop practice, level {self.level}, seed {self.seed}, "
                f"variant {mk.normalise_id(student)}")


def gradescope_ids(metadata: Any) -> list[str]:
    """The ids of a Gradescope submission (submission_metadata.json): every member's email,
    normalised, in a stable order. A group submission has several: docs/guides/platforms.md."""
    users = metadata.get("users") if isinstance(metadata, dict) else None
    out: set[str] = set()
    for user in users if isinstance(users, list) else []:
        email = user.get("email") if isinstance(user, dict) else None
        if isinstance(email, str) and email.strip():
            out.add(mk.normalise_id(email))
    return sorted(out)


def prairielearn_id(seed: Any) -> str:
    """The id of a PrairieLearn variant: from its variant_seed, so every seed is a fresh
    problem (unlimited variants) and the same seed always the same numbers."""
    if isinstance(seed, bool) or not isinstance(seed, (int, str)) or str(seed).strip() == "":
        raise InputError("the question's variant has no seed (variant_seed)", where="data")
    if isinstance(seed, int) or seed.strip().isdigit():
        return f"pl-{int(seed)}"
    return f"pl-s{zlib.crc32(seed.encode('utf-8'))}"  # a seed of another form: its checksum
