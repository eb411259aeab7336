"""Drawing a drill for `quiz` and `practice`: instructive circuits of a bounded length.

`make` draws workable numbers; a drill needs more: no circuit whose ReLUs are all off (every
gradient below them 0, nothing to learn), and a length a learner finishes. The first draw
that qualifies is taken, in the seed's own order, so `quiz FAMILY --seed S` always gives the
same drill.
"""

from __future__ import annotations

from typing import Any

from .make import Made
from .quiz import SCALAR_FAMILIES, questions

MAX_QUESTIONS = 30  # a drill longer than this is cut (--max-questions)
DRAWS = 20  # draws of a family tried for an instructive one


def instructive(result: Any) -> bool:
    """Not a circuit whose ReLUs are all off: every gradient below them would be 0."""
    import numpy as np

    relus = [rec for rec in result.nodes if rec.op == "relu"]
    return not relus or any(bool(np.any(np.asarray(rec.value, dtype=float) != 0))
                            for rec in relus)


def _first_instructive(family: str, seed: int, level: int) -> tuple[Made, int]:
    """The first instructive draw of ``family`` from ``seed`` (draw 0 is `make`'s own, so
    `make FAMILY --seed S` and `quiz FAMILY --seed S` agree whenever it is instructive)."""
    from . import make as mk

    (made,) = mk.make(family, seed=seed, count=1, level=level)  # checks the family, level
    for k in range(1, DRAWS + 1):
        result, qs = questions(made)
        if instructive(result) or k == DRAWS:
            break
        made = mk._make_one(mk.FAMILIES[made.family], mk.rng_for(seed, None, k), level,
                            made.name)
    return made, len(qs)


def draw(family: str | None, seed: int, level: int,
         max_questions: int = MAX_QUESTIONS) -> tuple[str, Made]:
    """The drill's family and problem: the family given, else a scalar family drawn from
    the seed whose drill fits in ``max_questions`` (the next in the seed's order if not);
    in either case the first instructive draw (no layer of ReLUs all off)."""
    from . import make as mk

    if family is not None:
        name = mk.families(family)[0].name
        return name, _first_instructive(name, seed, level)[0]
    rng = mk.rng_for(seed, "quiz")
    first = SCALAR_FAMILIES[rng.randrange(len(SCALAR_FAMILIES))]
    rest = [f for f in SCALAR_FAMILIES if f != first]
    rng.shuffle(rest)
    for name in [first, *rest]:
        made, n = _first_instructive(name, seed, level)
        if n <= max_questions:
            return name, made
    return first, _first_instructive(first, seed, level)[0]
