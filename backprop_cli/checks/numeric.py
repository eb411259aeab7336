"""Central finite differences that explain themselves, for both engines.

One function, ``difference``, estimates df/dt at t = x0 of a function of one number (a
scalar input, one entry of an array, or a step along a direction): the scalar and the array
checks both call it, so a difference gets the same verdict whatever the engine.

The step: first h0 = fd_step * max(1, |x|) (cheap, and right for most gradients). When that
estimate disagrees with backprop (or --explain asks), a sweep of steps from 1e-2 to 1e-9,
scaled with the point (10^-k |x|) and with 1 (10^-k), shows the error against the step:
truncation falling as h shrinks, round-off rising. The estimate trusted is the one where two
neighbouring steps agree best (the curvature picks the step). Then:

- it agrees with backprop: ok;
- it disagrees although neighbouring steps agree with each other: a failure (the gradient
  is wrong, or the function is not what backprop differentiated);
- no two steps agree (the curvature is too large for any step in the sweep, or f overflows):
  inconclusive, and said so; a sympy proof then decides alone;
- the step crossed a kink (relu at 0, a tie of max, |x| at 0): the one-sided differences
  need not equal the subgradient backprop takes; named, not a failure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.result import Tolerance

# f(t) -> (value, the smooth piece of every kink-capable node), or None off the domain.
Probe = Callable[[float], "tuple[float, Any] | None"]

SWEEP_EXPONENTS = range(2, 10)  # h = 1e-2 ... 1e-9


@dataclass
class Difference:
    value: float | None = None  # the estimate trusted (None: none could be made)
    ok: bool | None = None  # agrees with backprop; None: inconclusive
    step: float | None = None
    kink: str | None = None  # the kink the step crossed (see ``crossed``), if it did
    outside: bool = False  # every step left the domain
    sweep: list[tuple[float, float | None, float | None]] | None = None  # (h, D(h), error)
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def rounding_allowance(f_plus: float, f_minus: float, h: float, seed: float) -> float:
    """Central differences lose about eps * |f| / h to rounding when f(x +- h) nearly cancel."""
    return 1e3 * 2.2e-16 * max(abs(f_plus), abs(f_minus)) / (2 * h) * abs(seed)


def allowed(expected: float, f_plus: float, f_minus: float, h: float, seed: float,
            tol: Tolerance) -> float:
    return tol.fd_atol + tol.fd_rtol * abs(expected) + rounding_allowance(f_plus, f_minus, h,
                                                                           seed)


def _estimate(probe: Probe, x0: float, h: float, base: Any, seed: float
              ) -> tuple[float, float, float, bool] | None:
    plus, minus = probe(x0 + h), probe(x0 - h)
    if plus is None or minus is None:
        return None
    crossed = plus[1] != base or minus[1] != base
    try:
        d = (plus[0] - minus[0]) / (2 * h) * seed
    except OverflowError:
        d = math.inf
    return d, plus[0], minus[0], crossed


def difference(probe: Probe, x0: float, expected: float, tol: Tolerance, seed: float = 1.0,
               explain: bool = False, crossed: Callable[[float], str | None] | None = None,
               at_x0: tuple[float, Any] | None = None) -> Difference:
    """The central difference of ``probe`` at ``x0`` against backprop's ``expected``.

    ``crossed(h)`` names the kink a step h crosses (for the note), if the caller can tell;
    ``at_x0``: probe(x0), where the caller has it already (the forward pass at the point)."""
    base_run = probe(x0) if at_x0 is None else at_x0
    if base_run is None:
        return Difference(outside=True, note="the point is outside the domain")
    base = base_run[1]
    h0 = tol.fd_step * max(1.0, abs(x0))
    first = _estimate(probe, x0, h0, base, seed)
    out = Difference()
    if first is not None:
        d, fp, fm, kinked = first
        if math.isfinite(d):  # an overflowing difference is no estimate (and no JSON number)
            out.value, out.step = d, h0
        if math.isfinite(d) and abs(d - expected) <= allowed(expected, fp, fm, h0, seed, tol) \
                and not kinked and not explain:
            out.ok = True
            return out
    # The sweep: steps scaled with the point and with 1, largest first.
    scales = {1.0, abs(x0)} if x0 != 0 and math.isfinite(x0) else {1.0}
    # (rounded to 12 digits: 1e-2 * 1e-5 and 1e-7 are one step, not two)
    steps = sorted({float(f"{10.0 ** -k * s:.12g}") for s in scales for k in SWEEP_EXPONENTS},
                   reverse=True)
    rows: list[tuple[float, float | None, float | None]] = []
    good: list[tuple[float, float, float]] = []  # (h, D, allowance) on the smooth piece
    kink_steps = 0
    for h in steps:
        if h == 0 or x0 + h == x0:
            continue
        est = _estimate(probe, x0, h, base, seed)
        if est is None:
            rows.append((h, None, None))
            continue
        d, fp, fm, kinked = est
        finite = math.isfinite(d)
        rows.append((h, d if finite else None, abs(d - expected) if finite else None))
        if kinked:
            kink_steps += 1
            if out.kink is None and crossed is not None:
                out.kink = crossed(h)
            continue
        if finite:
            good.append((h, d, allowed(expected, fp, fm, h, seed, tol)))
    out.sweep = rows
    if not good:
        out.ok = None
        if kink_steps:
            out.kink = out.kink or "a non-differentiable point"
            out.note = (f"every step crosses {out.kink}: the one-sided differences need not "
                        "equal the subgradient backprop takes (see docs/concepts/kinks.md)")
        elif all(d is None for _, d, _ in rows) and any(r[1] is None and r[2] is None
                                                        for r in rows):
            out.outside = True
            out.note = "every finite-difference step leaves the domain or overflows here"
        else:
            out.note = "f overflows along every step: inconclusive"
        return out
    # The most stable estimate: the one closest to its neighbour (truncation error falls
    # with h, round-off rises; where the two meet, neighbouring estimates agree best).
    best = min(range(len(good)), key=lambda k: _spread(good, k))
    h, d, allowance = good[best]
    out.value, out.step = d, h
    if abs(d - expected) <= allowance:
        out.ok = True
    elif _spread(good, best) > allowance:
        out.ok = None
        out.note = (f"finite differences do not settle here (the estimate changes by "
                    f"{_spread(good, best):.3g} between neighbouring steps, more than the "
                    f"tolerance {allowance:.3g}): inconclusive; --explain shows the sweep")
    else:
        out.ok = False
    if kink_steps and out.kink is None:
        out.kink = "a non-differentiable point"
    return out


def _spread(good: list[tuple[float, float, float]], k: int) -> float:
    """How much the estimate at step k differs from its nearest neighbour in the sweep."""
    d = good[k][1]
    near = [abs(d - good[j][1]) for j in (k - 1, k + 1) if 0 <= j < len(good)]
    return min(near) if near else math.inf
