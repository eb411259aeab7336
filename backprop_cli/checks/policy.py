"""The one verification policy: what each check's evidence means for a gradient's verdict.

The scalar check (verify.py) and the array check (array_verify.py) gather evidence into the
same ``Check`` fields (sympy's value, finite differences' verdict, kinks, what the budget
cut) and both call ``decide``; values may be floats or nested lists, compared entry by entry.
So a non-finite difference, a kink or a budget that ran out gets the same verdict whether
the input is a scalar or an array.

The verdict (``Check.status`` and ``Check.proof``, see core/result.py PROOFS):

1. sympy's value for this input (the whole formula differentiated: "sympy"; or its
   derivative of every gate chained through the graph at 30 digits: "sympy-gates") decides
   when there is one: agree -> pass, disagree -> fail. A finite difference that disagrees
   with a gradient sympy proved is explained (its sweep shows why), not counted against it.
2. Else a passing random-direction check by sympy ("sympy-direction"), unless this input's
   own finite difference disagrees.
3. Else finite differences: agree -> pass ("numeric"), disagree with a stable estimate ->
   fail, inconclusive -> not checked, with the reason.
4. Else a passing random-direction finite difference ("numeric-direction").
5. Else not checked: "budget" when the budget stopped a verifier, "none" otherwise; ``why``
   says which.

At a non-differentiable point (the engine's kink), or when the finite-difference step
crossed one, a disagreement is not a failure: the one-sided derivative there need not equal
the subgradient taken, so the status is "kink" and a note names it. A sympy value that
disagrees at the engine's kink is sympy's own convention there, not a proof either way.

Where sympy says the derivative is undefined (0/0, ∞), nothing below it proves the
gradient: a finite difference that agrees is not a proof at a singular point (a central
difference of |x|^0.5 at 0 is 0 by symmetry). The status is "kink" at a named convention,
"unchecked" otherwise; the engine turns the masked 0·∞ of a smooth gate into a domain error.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..core.formatting import entry
from ..core.graph import Graph
from ..core.result import Check, Tolerance


def flat(v: Any) -> list[Any]:
    """A float or nested lists, as a flat list (row-major), without recursion."""
    if not isinstance(v, list):
        return [v]
    out: list[Any] = []
    stack: list[Iterator[Any]] = [iter(v)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def shape_of(v: Any) -> tuple[int, ...]:
    shape: list[int] = []
    while isinstance(v, list):
        shape.append(len(v))
        v = v[0] if v else None
    return tuple(shape)


def close(a: float, b: float, rtol: float, atol: float) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def disagreements(backprop: Any, reference: Any, tol: Tolerance) -> list[int] | None:
    """Flat indices where ``reference`` (sympy) and backprop differ; None when the reference
    has no defined entry at all."""
    bp, ref = flat(backprop), flat(reference)
    defined = [k for k, b in enumerate(ref) if b is not None]
    if not defined:
        return None
    return [k for k in defined if not close(float(bp[k]), float(ref[k]), tol.rtol, tol.atol)]


def _where(c: Check, bad: list[int]) -> str:
    shape = shape_of(c.backprop)
    if not shape:
        return "the value"
    out = []
    for k in bad[:4]:
        idx = []
        for n in reversed(shape):
            idx.append(k % n)
            k //= n
        out.append(entry(tuple(reversed(idx))))
    return ", ".join(out)


def decide(c: Check, tol: Tolerance, at_kink: bool,
           direction: Mapping[str, Any] | None = None) -> None:
    """Set ``c.status`` and ``c.proof`` from the evidence gathered on ``c`` (see above)."""
    direction = direction or {}
    sym: bool | None = None
    kink = at_kink or c.near_kink
    undefined = _undefined(c, direction)
    if c.sympy_value is not None:
        bad = disagreements(c.backprop, c.sympy_value, tol)
        if bad is not None:
            sym = not bad
            if bad:
                c.notes.append(f"sympy disagrees at {_where(c, bad)}")
            if bad and at_kink:
                # sympy's own convention there (Heaviside(0) = 1/2 to each side of a tie,
                # whatever its width) is not the subgradient taken: no proof, no failure.
                c.notes.append("at the kink sympy's convention differs from the subgradient "
                               "taken; it neither proves nor fails it")
                sym = None
            elif sym and undefined:
                sym = None  # defined entries only: the rest is proved by nothing below
    if c.sympy_how == "refuted":  # sympy disproved a gate's rule (array_gates.py)
        sym = False
    if undefined and sym is None:
        _singular(c, kink, undefined)
        return
    num = c.numeric_ok
    sym_dir = (direction.get("sympy") or {}).get("ok")
    num_dir = (direction.get("numeric") or {}).get("ok")
    if sym is not None:
        c.proof = "sympy" if c.sympy_how == "formula" else "sympy-gates"
        verdict = sym
        if sym and num is False:
            c.notes.append("finite differences disagree, but cannot resolve this gradient "
                           "here; sympy proves it (--explain shows the step sweep)")
    elif sym_dir is True and num is not False:
        c.proof, verdict = "sympy-direction", True
    elif num is not None:
        c.proof, verdict = "numeric", num
    elif num_dir is True:
        c.proof, verdict = "numeric-direction", True
    else:
        c.proof = "budget" if c.why.startswith("budget") else "none"
        # At a kink nothing may be able to check the subgradient (the one-sided differences
        # disagree by nature): named as a kink, not a failure, and not counted as proved.
        c.status = "kink" if kink and not c.why else "unchecked"
        if c.status == "kink":
            c.why = "not differentiable here: the subgradient convention was taken, and no " \
                "check could confirm it"
            return
        if not c.why and False in (sym_dir, num_dir):
            c.why = ("the random-direction check failed; it cannot point at one input "
                     "(run with fewer inputs, or --wrt, to check them one by one)")
        if not c.why:
            c.why = "no check could be made" if not at_kink else \
                "not differentiable here and no check could be made"
        return
    if verdict:
        c.status = "kink" if at_kink else "pass"
        return
    c.status = "kink" if kink else "fail"
    if kink and not at_kink:
        c.notes.append("a non-differentiable point lies within the finite-difference step; "
                       "the one-sided gradient cannot be confirmed")


def _undefined(c: Check, direction: Mapping[str, Any]) -> str:
    """Where sympy's derivative is undefined (0/0 or ∞ at the point: "this point", or the
    entries), or "" where it is defined or sympy did not say."""
    if c.sympy_how == "undefined":
        return "this point"
    if c.sympy_value is None:
        sym_dir = direction.get("sympy")
        if sym_dir is not None and sym_dir.get("reference") is None:
            return "this point (along the random direction)"
        return ""
    missing = [k for k, v in enumerate(flat(c.sympy_value)) if v is None]
    return _where(c, missing) if missing else ""


def _singular(c: Check, kink: bool, where: str) -> None:
    """sympy says the derivative is undefined (at ``where``): a singular point. A finite
    difference alone never makes the gradient verified there (|x|^0.5 at 0: the one-sided
    derivatives are ±∞ and a central difference gives 0 by symmetry)."""
    c.proof = "none"
    c.status = "kink" if kink else "unchecked"
    agrees = " (finite differences agree, but cannot prove a gradient there)" \
        if c.numeric_ok else ""
    c.why = (f"sympy's derivative is undefined at {where}{agrees}: a singular point, where "
             + ("only the convention named above was taken" if kink else
                "no check proves a gradient"))
    c.notes.append(c.why)


def note_kinks(graph: Graph, kinks: Mapping[int, str], checks: list[Check]
               ) -> dict[str, list[str]]:
    """The inputs that feed a node at a non-differentiable point, each with where and why;
    the check of every such input gets a note saying so."""
    found: dict[str, list[str]] = {}
    for nid, why in kinks.items():
        for name in graph.ancestors_vars(nid):
            found.setdefault(name, []).append(f"{why} at {graph.label(nid)}")
    for c in checks:
        if c.variable in found:
            c.notes.append("not differentiable here: " + "; ".join(found[c.variable])
                           + " (see docs/concepts/kinks.md)")
    return found


def sympy_stop_notes(job: Any, checks: list[Check], tol: Tolerance, notes: list[str],
                     what: str = "gradients") -> None:
    """What a sympy job that gave up or hit the budget leaves unproved, said once for both
    engines: each check without sympy's proof gets its ``why``, and one note counts them."""
    if job.error is not None:
        notes.append(f"sympy check gave up: {job.error}")
        return
    if job.finished:
        return
    missing = [c for c in checks if c.sympy_how is None]
    for c in missing:
        c.why = f"budget: sympy did not finish within {tol.time_budget:g} s"
    # A job run in this process (worker.py's "inline": Windows, the browser) is not stopped
    # at the deadline, only looked at between its results.
    soft = "" if getattr(job, "hard", True) else (
        "; it ran in this process (no worker can be forked here), so the budget was checked "
        "between its results and could not cut one long sympy call short")
    if missing:
        notes.append(f"sympy stopped at the budget ({tol.time_budget:g} s, --budget): "
                     f"{len(missing)} of {len(checks)} {what} without its proof{soft}")
    else:
        notes.append(f"sympy stopped at the budget ({tol.time_budget:g} s, --budget) "
                     f"before differentiating the whole formula{soft}")


def summary_words(counts: Mapping[str, int]) -> str:
    """"2 proved by sympy, 1 not checked (budget)" from Verification.counts()."""
    from ..core.result import PROOFS

    words = {**PROOFS, "failed": "FAILED"}
    return ", ".join(f"{n} {words[k]}" for k, n in counts.items())
