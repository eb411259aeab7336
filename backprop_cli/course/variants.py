"""Per-student numbers on PrairieLearn: the statements of N variants for a question's
server.py, made with `backprop make --variant`.

PrairieLearn runs a question's server.py in its own Python, where backprop is not
installed, and the grader in the course's image, where it is. So the teacher writes the
variants once (`examples/prairielearn/make_variants.py`): each variant's problems as text
(expression, point, upstream, the answers asked, the students' answer template), and no
answer. server.py's ``generate(data)`` picks one by ``data["variant_seed"]`` and puts its
id and text in ``data["params"]``; the grader reads the id back from /grade/data/data.json
and makes that variant's key again with the same `backprop make` arguments and ``--variant
ID``: generation is deterministic, so it is the key of the numbers the student saw.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ..core.errors import InputError
from . import make as mk

VARIANT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what the grader accepts back from data.json
MAX_VARIANTS = 1000


def variant_id(k: int) -> str:
    return f"pl-{k}"


def make_args(family: str | None, *, seed: int, count: int, level: int) -> list[str]:
    """The `backprop make` arguments every variant is made with (the grader's variant-args)."""
    return ([family] if family else []) + ["--seed", str(seed), "--count", str(count),
                                           "--level", str(level)]


def variants(family: str | None, *, seed: int = 0, count: int = 1, level: int = 1,
             n: int = 20) -> dict[str, Any]:
    """The document server.py reads: the make arguments and ``n`` variants' statements."""
    if not 1 <= n <= MAX_VARIANTS:
        raise InputError(f"the number of variants must be from 1 to {MAX_VARIANTS}, not {n}",
                         where="-n")
    out: list[dict[str, Any]] = []
    for k in range(n):
        vid = variant_id(k)
        made = mk.make(family, seed=seed, count=count, level=level, variant=vid)
        title = f"Backprop practice, level {level}, variant {vid}"
        out.append({"id": vid, "problems": [_statement(m) for m in made],
                    "template": mk.answers_template(made, title)})
    return {"make_args": shlex.join(make_args(family, seed=seed, count=count, level=level)),
            "variants": out}


def _statement(m: mk.Made) -> dict[str, Any]:
    point = ", ".join(f"{n} = {mk._point_text(v)}" for n, v in m.draft.at.items())
    up = None if m.draft.upstream is None else mk._point_text(m.draft.upstream)
    return {"name": m.name, "description": m.description,
            "expression": m.draft.expression.strip(), "point": point, "upstream": up,
            "asks": [{"key": k, "what": m.what(k)} for k in m.answers]}
