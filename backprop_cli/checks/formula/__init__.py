"""Checking a claimed gradient formula (`dW = 2*(W@x)@x.T`) and naming the slip when it is wrong.

The truth is backprop's own gradient (the array engine, whose rules the test suite proves
against sympy and finite differences), computed at random shapes and points (points.py:
signed, redrawn only where the expression cannot be computed): dimensions written as letters
(`--shape W=m,n`) are drawn for every trial, distinct from one another, so that a transposed
formula cannot pass on square matrices. Values agree at the scale of the true gradient. A
claim for scalars that holds at every point is then put to sympy (proof.py), both sides
built from parsed trees (never from text): a difference that is not zero at a signed point
is a counterexample, one that simplifies to 0 a proof. A claim that differs is compared with
the likely slips of the lecture (slips.py).

One budget (``time_budget``, `--budget`) bounds the whole call: the trials take at most
TRIALS_SHARE of it (at least MIN_TRIALS while it lasts), and each claim's proof or slip
search a share of what is left; each says what it did not finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ...core import args as api_args
from ...core.arrays import Array, plain
from ...core.errors import DomainError, InputError
from ...core.formatting import describe
from ...core.graph import Graph
from ...core.parse import parse
from ...core.point import as_point
from ...core.result import TIME_BUDGET
from .. import worker
from ..timeout import call_within
from . import proof
from .claims import Claim, Shape, dims, infer_shapes, parse_claim, parse_shapes
from .points import PointFinder, Trial, claim_env, claim_value, close, run_expression, trial_seconds
from .report import ClaimCheck, Counterexample, FormulaReport, Slip, echoed_text
from .slips import SLIPS, VALUE_SLIPS, SlipRule, _Context, diagnose

DEFAULT_TRIALS = 24  # random shapes and points per claim: "a few dozen"
MIN_TRIALS = 4  # at least this many while the budget lasts
TRIALS_SHARE = 0.5  # of the budget, for the random trials
PROOF_MAX_NODES = 300  # sympy proofs only for formulas this small
PROOF_POINTS = 32  # signed points at which sympy evaluates a claim's difference


def check_formula(expression: str, claims: Mapping[str, str] | Iterable[str] | str, *,
                  shapes: Mapping[str, Any] | Iterable[str] | None = None,
                  at: Mapping[str, Any] | str | Iterable[str] | None = None,
                  trials: int = DEFAULT_TRIALS, seed: int = 0,
                  time_budget: float | None = None, grading: bool = False) -> FormulaReport:
    """Check claimed gradient formulas of ``expression``.

    ``claims``: {"dW": "2*(W@x)@x.T"}, or texts "dW = 2*(W@x)@x.T". ``shapes``: {"W": "m,n",
    "x": "n,1"} or texts "W=m,n"; letters are drawn at random for each trial, distinct from
    one another; undeclared names are scalars (or inferred: the inner size of @). ``at``: one
    more point, checked first. ``time_budget``: seconds for the whole check (default: the
    check's budget, 3 s). Raises InputError for bad input; never evaluates user text.
    ``grading``: a claim that cannot be computed at any point of the expression's domain
    (log of a negative) is a claim that differs, not an error, so a grader still grades
    the other answers.
    """
    if api_args.whole(trials, "trials", minimum=0) < 1:
        raise InputError("--trials must be at least 1", where="--trials")
    graph = parse(expression)
    declared = parse_shapes(shapes)
    letters = {d for s in declared.values() for d in s if isinstance(d, str)}
    if not isinstance(claims, Mapping):
        claims = api_args.strings(claims, "claims")
    parsed = [parse_claim(k, graph, v, letters) for k, v in claims.items()] \
        if isinstance(claims, Mapping) else [parse_claim(t, graph, None, letters) for t in claims]
    if not parsed:
        raise InputError("no claim to check", where="claim",
                         hint="give one or more claims: 'dx = 2*x'")
    return _run(expression, graph, parsed, declared, at, trials, seed, time_budget, grading)


def _run(expression: str, graph: Graph, parsed: list[Claim], declared: dict[str, Shape],
         at: Mapping[str, Any] | str | Iterable[str] | None, trials: int, seed: int,
         time_budget: float | None, grading: bool = False) -> FormulaReport:
    """The trials shared by every claim, then each claim's verdict, diagnosis or proof."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"--seed must be a whole number, 0 or more, not {seed!r}", where="--seed")
    budget = TIME_BUDGET if time_budget is None else api_args.number(time_budget, "time_budget")
    if not budget > 0:
        raise InputError("the budget must be a positive number of seconds", where="--budget")
    start = time.monotonic()
    deadline = start + budget
    for name in declared:
        if name not in graph.variables:
            import difflib

            hint = "only inputs have shapes; " + (f"did you mean {c[0]}?" if (
                c := difflib.get_close_matches(name, list(graph.variables), n=1)) else
                "the inputs are " + ", ".join(graph.variables))
            raise InputError(f"--shape gives a shape for '{name}', which is not an input of "
                             "the expression", where="--shape", hint=hint)
    all_shapes, notes = infer_shapes(graph, declared)
    _affordable(graph, parsed, all_shapes, budget)
    if not all_shapes and not graph.uses_arrays():  # a proof will follow: sympy's import
        worker.prestart()  # runs in the worker meanwhile, on another core (as evaluate's)
    rng = np.random.default_rng(seed)
    finder = PointFinder(graph, all_shapes, rng, deadline)
    results = [ClaimCheck(c.text, c.target, c.formula) for c in parsed]
    contexts: list[list[_Context]] = [[] for _ in parsed]
    skipped = [0] * len(parsed)
    agreed = [0] * len(parsed)  # trials where a claim is right and the gradient is not 0
    points = _given_point(graph, at, all_shapes)
    done = 0
    while done < trials:
        now = time.monotonic()
        if done and (now > deadline or (done >= MIN_TRIALS
                                        and now > start + budget * TRIALS_SHARE)):
            notes.append(f"stopped after {done} trials: the time budget is {budget:g} s")
            break
        try:
            trial = points.pop(0) if points else finder.find(small=done == 0)
        except DomainError:
            if not done:  # no point at all: the expression's domain is bad input
                raise
            notes.append(f"stopped after {done} trials: no further point in the domain was "
                         "found within the budget")
            break
        done += 1
        for k, claim in enumerate(parsed):
            _check_claim(graph, claim, trial, results[k], contexts[k], skipped, k, agreed)
    for k, (claim, res) in enumerate(zip(parsed, results)):
        if res.trials == 0 and res.verdict != "differs":
            _find_claims_domain(graph, claim, res, contexts[k], skipped, k, finder, grading,
                                agreed)
        if skipped[k]:
            res.notes.append(f"{skipped[k]} point(s) outside the formula's domain skipped")
    for k, (claim, res) in enumerate(zip(parsed, results)):
        if res.trials == 0:  # a grader's claim with no point in its domain: said already
            continue
        now = time.monotonic()  # this claim's share of what is left of the budget
        share = now + max(deadline - now, 0.0) / (len(parsed) - k)
        if res.verdict != "differs" and _provable(graph, claim, all_shapes, res):
            _prove(graph, claim, res, contexts[k], finder, share)
        if res.verdict == "differs":
            res.diagnosis, stopped = diagnose(contexts[k], share)
            if agreed[k]:  # a slip that scales the gradient cannot agree where it is not 0
                res.diagnosis = [_part_of_domain(agreed[k], res.trials), *(
                    s for s in res.diagnosis if s.name not in VALUE_SLIPS)]
            if stopped:
                res.notes.append(stopped)
            elif not res.diagnosis:
                res.notes.append("no known slip explains the difference")
        if res.verdict == "holds" and _has_kinks(graph, claim.graph):
            res.notes.append(KINK_NOTE)
    report_shapes = {name: list(s) for name, s in all_shapes.items()}
    return FormulaReport(expression, results, report_shapes, notes)


# Random points do not land on a kink (a set of measure zero), so a claim that differs from
# the truth only there is not told apart from it: said in the verdict's notes.
KINK_NOTE = ("no random point lands exactly on a kink (relu or an indicator at 0, a tie of "
             "max): a claim that differs only there, such as (s >= 0) for (s > 0), holds too")


def _has_kinks(*graphs: Graph | None) -> bool:
    return any(node.op.kink is not None for g in graphs if g is not None for node in g.nodes)


def _part_of_domain(agreed: int, trials: int) -> Slip:
    return Slip("part of the domain", f"Right on part of the domain only: your formula agrees "
                f"at {agreed} of {trials} points and differs at the others. Points are drawn "
                "with both signs: an input under an even power (x in log(x^2)) is negative "
                "too, and |x| is not x there.")


def _affordable(graph: Graph, parsed: list[Claim], shapes: Mapping[str, Shape],
                budget: float) -> None:
    """Bad input, before any trial, when one trial at the declared sizes would take longer
    than the whole budget (the shape and size errors of the expression come first)."""
    letters = sorted({d for s in shapes.values() for d in s if isinstance(d, str)})
    numbers = {d for s in shapes.values() for d in s if isinstance(d, int)}
    largest = dict.fromkeys(letters, 2 + len(letters) + len(numbers) + 3)  # draw_sizes' pool
    seconds, products = trial_seconds(graph, [c.graph for c in parsed if c.graph is not None],
                                      shapes, largest)
    if seconds > budget:
        raise InputError(f"one trial of this check would take about {seconds:.2g} s "
                         f"({products:.2g} multiply-adds in matrix products at the declared "
                         f"sizes), more than the budget of {budget:g} s", where="--shape",
                         hint="declare the dimensions as letters (--shape W=n,n) so that "
                         "small sizes are drawn, or give a larger --budget")


def _provable(graph: Graph, claim: Claim, shapes: Mapping[str, Shape], res: ClaimCheck) -> bool:
    """Scalars only, and small enough formulas (a note says why not)."""
    if claim.graph is None or graph.uses_arrays() or shapes or claim.graph.uses_arrays():
        return False
    if len(graph.nodes) + len(claim.graph.nodes) > PROOF_MAX_NODES:
        res.notes.append(f"no sympy proof: more than {PROOF_MAX_NODES} nodes (budget)")
        return False
    return True


def _prove(graph: Graph, claim: Claim, res: ClaimCheck, contexts: list[_Context],
           finder: PointFinder, deadline: float) -> None:
    """sympy's verdict on a scalar claim that held at every trial: proved, a point where it
    differs (checked again here, in floats, for the counterexample), or what held."""
    assert claim.graph is not None
    candidates = finder.candidates(PROOF_POINTS)
    outcome = proof.run(graph, claim.graph, claim.target_nid,
                        [{n: float(v) for n, v in p.items()} for p in candidates], deadline)
    if outcome.proved:
        res.verdict = "proved"
        return
    if outcome.differs is not None:
        k, yours, truth = outcome.differs
        point = candidates[k]
        trial = None
        try:
            trial = run_expression(graph, point, {})
        except DomainError:
            pass
        if trial is not None:
            _check_claim(graph, claim, trial, res, contexts, [0], 0)
        if res.verdict != "differs":  # floats cannot tell them apart here; sympy can
            res.verdict = "differs"
            res.counterexample = Counterexample(
                {n: [] for n in point}, {n: plain(v) for n, v in point.items()}, yours, truth,
                "sympy's values at 30 digits: within the float tolerance here (1e-6 of the "
                "gradient), but not equal")
        return
    res.notes.append(f"{outcome.why}; it holds at {res.trials} points")


def _find_claims_domain(graph: Graph, claim: Claim, res: ClaimCheck,
                        contexts: list[_Context], skipped: list[int], k: int,
                        finder: PointFinder, grading: bool, agreed: list[int]) -> None:
    """A claim undefined at every trial: points where both it and the expression can be
    computed are searched for, and it is judged there; bad input if there are none."""
    def defined(trial: Trial) -> None:
        try:
            claim_value(claim, graph, trial)
        except InputError:  # its shapes: judged by the trial, not a domain
            pass

    try:
        for _ in range(MIN_TRIALS):
            _check_claim(graph, claim, finder.find(accept=defined), res, contexts, skipped, k,
                         agreed)
    except DomainError as exc:
        if res.trials:
            return
        why = (f"the claim '{echoed_text(claim.text)}' cannot be computed at any point of "
               f"the expression's domain found in {finder.draws} random draws: "
               f"{exc.message.rsplit(': ', 1)[-1]}")
        if not grading:
            raise DomainError(why, where="claim",
                              hint="check the formula's logs, square roots and divisions") \
                from None
        res.verdict = "differs"
        res.notes.append(why)


def _given_point(graph: Graph, at: Mapping[str, Any] | str | Iterable[str] | None,
                 shapes: Mapping[str, Shape]) -> list[Trial]:
    """The --at point as the first trial; its arrays must fit the declared shapes."""
    if at is None:
        return []
    point = as_point(at)
    env = {name: np.asarray(v, dtype=float) for name, v in point.values.items()}
    env.update({name: np.array(v.values, dtype=float).reshape(v.shape)
                for name, v in point.arrays.items()})
    from ...core.point import match

    match(graph, env)
    sizes: dict[str, int] = {}
    for name, shape in shapes.items():
        given = env[name].shape
        if len(given) != len(shape) or any(
                isinstance(d, int) and d != k for d, k in zip(shape, given)):
            raise InputError(f"--at gives {name} as {describe(given)}, but its shape is "
                             f"{dims(shape)}", where="--at")
        for d, k in zip(shape, given):
            if isinstance(d, str) and sizes.setdefault(d, k) != k:
                raise InputError(f"--at: the dimension {d} is {sizes[d]} in one input and "
                                 f"{k} in {name}", where="--at")
    return [run_expression(graph, env, sizes)]


def _check_claim(graph: Graph, claim: Claim, trial: Trial, res: ClaimCheck,
                 contexts: list[_Context], skipped: list[int], k: int,
                 agreed: list[int] | None = None) -> None:
    env = claim_env(claim, graph, trial)
    truth = trial.grad(claim.target_nid)
    yours: Array | None
    note = ""
    try:
        if claim.graph is None:  # the user's function: its errors are its own, not caught
            assert claim.value is not None
            yours = None
        else:
            yours = claim_value(claim, graph, trial)
    except DomainError:
        skipped[k] += 1
        return
    except InputError as exc:  # the formula's own shapes do not fit here
        yours, note = None, f"your formula cannot be computed at these shapes: {exc.message}"
    if claim.value is not None:
        yours = claim.value(trial)
    res.trials += 1
    shapes = {name: list(v.shape) for name, v in trial.point.items()}
    if shapes not in res.shapes_tried:
        res.shapes_tried.append(shapes)
    if yours is not None and close(yours, truth, trial.noise):
        if agreed is not None and float(np.max(np.abs(truth), initial=0.0)) > trial.noise:
            agreed[k] += 1  # where the gradient is 0, any slip that scales it agrees too
        return
    res.verdict = "differs"
    if res.counterexample is None:
        res.counterexample = Counterexample.at(trial.point, yours, truth, note)
    if len(contexts) < 3:
        contexts.append(_Context(graph, claim, trial, env, truth, yours))


def check_gradient(expression: str, fn: Callable[..., Any], *,
                   shapes: Mapping[str, Any] | Iterable[str] | None = None,
                   at: Mapping[str, Any] | str | Iterable[str] | None = None,
                   wrt: Iterable[str] | None = None, trials: int = DEFAULT_TRIALS,
                   seed: int = 0, time_budget: float | None = None) -> FormulaReport:
    """Hold your own gradient code against backprop: ``fn(**inputs)`` (numpy arrays, floats
    for scalars) returns {name: gradient} (or one gradient when ``wrt`` names one input), at
    random shapes and points as for ``check_formula``; the same verdicts and slips (those of
    a formula's structure, which a function does not have, are not tried)."""
    if api_args.whole(trials, "trials", minimum=0) < 1:
        raise InputError("trials must be at least 1", where="trials")
    if not callable(fn):
        raise InputError(f"fn must be a function, not a {type(fn).__name__}", where="fn")
    graph = parse(expression)
    targets = list(wrt) if wrt is not None else list(graph.variables)
    for name in targets:
        if name not in graph.variables and name not in graph.named:
            raise InputError(f"wrt names '{name}', which is not in the expression",
                             where="wrt", hint="the inputs are " + ", ".join(graph.variables))
    label = getattr(fn, "__name__", "fn")
    last: list[Any] = [None, None]  # (trial, fn's value there): fn runs once per trial

    def value(name: str) -> Callable[[Trial], Array]:
        def at_trial(trial: Trial) -> Array:
            if last[0] is not trial:
                inputs = {n: float(v) if v.ndim == 0 else v.copy()
                          for n, v in trial.point.items()}
                out = call_within(TIME_BUDGET if time_budget is None else time_budget, fn,
                                  label, **inputs)
                if not isinstance(out, Mapping):
                    if len(targets) != 1:
                        raise InputError(f"{label} returned one value; with several inputs it "
                                         "returns a dict {name: gradient}", where="fn")
                    out = {targets[0]: out}
                last[0], last[1] = trial, out
            if name not in last[1]:
                raise InputError(f"{label} returned no gradient for '{name}'", where="fn",
                                 hint="return a dict with one entry per input, or pass wrt=")
            try:
                return np.asarray(last[1][name], dtype=float)
            except (TypeError, ValueError):
                raise InputError(f"{label} returned {type(last[1][name]).__name__} for "
                                 f"'{name}', not a number or an array of numbers",
                                 where="fn") from None

        return at_trial

    parsed = [Claim(f"d{n} = {label}(...)['{n}']", n, label, None,
                     graph.variables.get(n, graph.named.get(n, -1)), value(n))
              for n in targets]
    return _run(expression, graph, parsed, parse_shapes(shapes), at, trials, seed, time_budget)


__all__ = ["SLIPS", "ClaimCheck", "Counterexample", "FormulaReport", "Slip", "SlipRule",
           "check_formula", "check_gradient", "diagnose", "infer_shapes", "parse_claim",
           "parse_shapes"]
