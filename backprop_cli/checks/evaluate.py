"""The Python API: build, run and check an expression, and get plain data back.

    >>> from backprop_cli import evaluate
    >>> r = evaluate("(x+y)*z", at={"x": -2, "y": 5, "z": -4})
    >>> r.value, r.gradients
    (-12.0, {'x': -4.0, 'y': -4.0, 'z': 3.0})

The CLI renders exactly this object; nothing here knows about the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..core import args
from ..core.engine import Pass, backward, forward
from ..core.errors import DomainError, InputError
from ..core.gcpause import paused
from ..core.graph import Graph
from ..core.literals import ArrayValue, from_python
from ..core.numbers import parse_number
from ..core.parse import parse, parse_value
from ..core.point import Point, as_point, match
from ..core.result import VERIFIERS, Result, Tolerance, known_verifiers, records
from ..core.written import reading
from .verify import Begun, begin, verify

if TYPE_CHECKING:
    from .worker import Send


def evaluate(expression: str, at: Mapping[str, Any] | str | Iterable[str] | None = None,
             *, wrt: Iterable[str] | None = None, upstream: float | str | Any = 1.0,
             check: Iterable[str] = VERIFIERS, tolerance: Tolerance | None = None,
             symbolic_locals: bool | None = None, jacobian: bool = False,
             expand: bool = False, budget: float | None = None,
             explain: bool = False) -> Result:
    """Parse, run forward and backward at ``at``, and check every gradient.

    ``at`` is a mapping ({"x": -2}) or `--at` text ("x=-2,y=5", or several such strings).
    Without ``at`` the result is symbolic: local gradients and sympy's derivatives only.
    ``expand=True`` rewrites compound gates (sigmoid, tanh) as primitive gates first.
    Raises InputError or DomainError (both BackpropError) for input that cannot be used.
    Vectors and matrices (``at={"x": [0.2, 0.4]}``, "x=[0.2,0.4]", an array ``upstream``,
    an array op such as @ or sum, or ``jacobian=True``) go to the array engine (arrays.py).
    ``budget``: wall-clock seconds for the whole check (default ``Tolerance.time_budget``,
    3 s); sympy is stopped there and says "not checked (budget)" for what it did not prove.
    ``explain=True`` keeps the finite differences' step sweep for the gradients (--explain).
    """
    if tolerance is not None and not isinstance(tolerance, Tolerance):
        raise InputError(f"tolerance must be a Tolerance, not a {type(tolerance).__name__}",
                         where="tolerance")
    if budget is not None:
        seconds = args.number(budget, "the budget (seconds)", positive=True)
        from dataclasses import replace

        tolerance = replace(tolerance or Tolerance(), time_budget=seconds)
    check = args.strings(check, "check")
    if "sympy" in check:
        from .worker import prestart

        prestart()  # the sympy worker imports sympy while this process parses and runs
    graph = parse(expression, bound=_bound(at))
    if expand:
        from ..core.expand import expand as expand_graph

        graph = expand_graph(graph)
    inputs = list(graph.variables)
    targets = _wrt(graph, wrt)
    verifiers = known_verifiers(check)
    seed = _upstream(upstream)
    if isinstance(seed, float) and not math.isfinite(seed):
        raise InputError("--upstream must be a finite number", where="--upstream")
    nodes = records(graph)
    array_ops = graph.uses_arrays()
    result = Result(expression, graph.output_name, inputs, targets, nodes, graph,
                    seed=seed if isinstance(seed, float) else 1.0)
    if at is None and array_ops:
        raise InputError("an expression with array operations needs --at values: the shapes "
                         "come from them", where="--at",
                         hint='e.g. --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]"')
    _note_constants(result)
    constant = not inputs
    if constant:
        # A constant (2^3^2) has a value and nothing to differentiate: it is evaluated
        # without --at, and --at values given anyway are not an error.
        if at is not None and as_point(at).values:
            result.notes.append("the --at values are not used: the expression has no inputs")
        at = {}
        result.notes.append("nothing to differentiate: the expression has no inputs")
    if at is None:
        _read_scalars(result)
        want_symbols = True if symbolic_locals is None else symbolic_locals
        _symbolic(result, want_symbols, (tolerance or Tolerance()).time_budget)
        return result

    point = as_point(at)
    if point.arrays or array_ops or isinstance(seed, ArrayValue) or jacobian:
        from .evaluate_arrays import evaluate_arrays

        if symbolic_locals:
            result.notes.append("--symbolic: local gradients are shown as formulas for "
                                "scalar expressions only")
        return evaluate_arrays(graph, point, targets, result, seed, verifiers, tolerance,
                               jacobian, explain)
    assert isinstance(seed, float)
    upstream = seed
    _read_scalars(result)
    match(graph, point.values)
    # sympy's gates start in the worker now, while this process runs the passes (not with
    # --symbolic, whose own job takes the worker first).
    begun = begin(graph, point, targets, seed, verifiers, tolerance) \
        if verifiers and not symbolic_locals else None
    try:
        return _scalar(result, graph, point, targets, seed, verifiers, tolerance,
                       symbolic_locals, explain, begun)
    finally:
        if begun is not None:
            begun.stop()


def _scalar(result: Result, graph: Graph, point: Point, targets: list[str], upstream: float,
            verifiers: tuple[str, ...], tolerance: Tolerance | None,
            symbolic_locals: bool | None, explain: bool, begun: Begun | None) -> Result:
    """The scalar passes and their check (``begun``: sympy's part, already running)."""
    inputs = list(graph.variables)
    values = forward(graph, point.values)
    run = backward(graph, values, upstream)
    grads = {name: run.upstream[graph.variables[name]] for name in inputs}
    for name in targets:
        if not math.isfinite(grads[name]):
            nid = graph.variables[name]
            raise DomainError(f"the gradient with respect to '{name}' overflows a float",
                              source=graph.source, pos=graph.nodes[nid].start,
                              end=graph.nodes[nid].end, where="point",
                              hint="use smaller values or a smaller --upstream")
    result.point = dict(point.values)
    result.value = values[graph.output]
    result.gradients = {name: grads[name] for name in targets}
    _fill(result, run)
    if symbolic_locals:
        # One budget for the whole check: what the formulas took is not left to the proof.
        import time
        from dataclasses import replace

        tolerance = tolerance or Tolerance()
        started = time.monotonic()
        _fill_symbolic_locals(result, tolerance.time_budget)
        tolerance = replace(tolerance, time_budget=max(
            0.05, tolerance.time_budget - (time.monotonic() - started)))
    if verifiers:
        result.verification = verify(graph, point, run, targets, verifiers, tolerance, explain,
                                     begun)
    return result


def _bound(at: Mapping[str, Any] | str | Iterable[str] | None) -> list[str]:
    """The names --at gives values: e and pi among them are inputs, not constants. An --at
    that does not parse binds nothing here; its error comes where --at is read."""
    if at is None:
        return []
    if isinstance(at, Mapping):
        return list(at)
    try:
        point = as_point(at)
    except InputError:
        return []
    return [*point.values, *point.arrays]


def _note_constants(result: Result) -> None:
    from ..core.ops import CONSTANTS

    graph = result.graph
    for name in dict.fromkeys(graph.nodes[nid].literal for nid in graph.named_constants):
        result.notes.append(f"'{name}' is read as {CONSTANTS[name].says} "
                            f"({CONSTANTS[name].value:.6g}); to make it an input, give it a "
                            f"value: --at {name}=...")


def _read_scalars(result: Result) -> None:
    """Every value is a scalar: each juxtaposition is the product *; then the echo."""
    graph = result.graph
    if graph.products:
        from ..core.ops import JUXT

        graph.read_products(lambda nid: ())
        for nid in graph.products:
            rec, op = result.nodes[nid], graph.nodes[nid].op
            rec.op, rec.gate = op.name, rec.gate.replace(JUXT.gate, op.gate)
    result.read_as = reading(graph)


def _upstream(upstream: float | str | Any) -> float | ArrayValue:
    """--upstream: a number, or a vector/matrix literal (text, list or numpy array)."""
    if isinstance(upstream, str):
        lit = parse_value(upstream, "--upstream")
        if isinstance(lit, str):
            return parse_number(lit, source=upstream, pos=0, where="--upstream")[0]
        return lit.resolve(upstream, "--upstream")
    if isinstance(upstream, (list, tuple)) or getattr(upstream, "ndim", None):
        return from_python("--upstream", upstream, where="--upstream")
    return args.number(upstream, "--upstream")


def _wrt(graph: Graph, wrt: Iterable[str] | None) -> list[str]:
    if wrt is None:
        return list(graph.variables)
    names = list(dict.fromkeys(args.strings(wrt, "--wrt")))  # x,x checks x once
    if not names:
        inputs = ", ".join(graph.variables) or "none"
        raise InputError("--wrt names no input", where="--wrt",
                         hint=f"the expression's inputs are {inputs}")
    for w in names:
        if w not in graph.variables:
            hint = "the expression's inputs are " + (", ".join(graph.variables) or "none")
            if w in graph.named:
                hint = f"'{w}' is an intermediate; its gradient is the upstream column of its node"
            raise InputError(f"--wrt names '{w}', which is not an input of the expression",
                             where="--wrt", hint=hint)
    return names


def _finite_or_none(v: float, needed: bool) -> float | None:
    # An input that no variable feeds may have no gradient at all (d/db a^b at a < 0 is
    # NaN): nothing downstream uses it, so it is reported as None rather than as NaN.
    return v if needed or math.isfinite(v) else None


def _fill(result: Result, run: Pass) -> None:
    """Values and gradients into the records: one plain loop, the collector paused."""
    graph = result.graph
    nodes = graph.nodes
    needs = graph.needs_grad()
    values, ups, locs, downs, kinks = (run.values, run.upstream, run.local, run.downstream,
                                       run.kinks)
    isfinite = math.isfinite
    with paused():
        for rec in result.nodes:
            nid = rec.id
            rec.value = values[nid]
            u = ups[nid]
            rec.upstream = u if needs[nid] or isfinite(u) else None
            inputs = nodes[nid].inputs
            if inputs:
                loc, down = locs[nid], downs[nid]
                if len(inputs) == 2:
                    a, b = inputs
                    every = needs[a] and needs[b]
                elif len(inputs) == 1:
                    every = needs[inputs[0]]
                else:
                    every = all([needs[j] for j in inputs])
                if every:
                    rec.local, rec.downstream = list(loc), list(down)
                else:
                    rec.local = [_finite_or_none(v, needs[j]) for j, v in zip(inputs, loc)]
                    rec.downstream = [_finite_or_none(v, needs[j]) for j, v in zip(inputs, down)]
            rec.kink = kinks.get(nid) if kinks else None
        labels = [n.name if n.name is not None else f"#{n.id}" for n in nodes]  # graph.label
        records = result.nodes
        for nid, uses in graph.fan_outs().items():
            records[nid].fan_out = [(labels[c], downs[c][pos]) for c, pos in uses]


def _fill_symbolic_locals(result: Result, budget: float) -> None:
    _symbolic_job(result, True, False, budget)


def _symbolic(result: Result, locals_too: bool, budget: float) -> None:
    _symbolic_job(result, locals_too, True, budget)


def _symbolic_job(result: Result, locals_too: bool, derivatives: bool, budget: float) -> None:
    """Symbolic local gradients and/or sympy's derivatives, in the budgeted worker: each is
    sent as soon as it is printed, and what the budget cut is said in a note."""
    import time

    from .verify import _sympy_unaffordable
    from .worker import Job

    graph = result.graph
    why_not = _sympy_unaffordable(graph) if derivatives else None
    if why_not:
        result.notes.append(f"sympy derivatives not shown: {why_not}")
        derivatives = False
    if not (locals_too or derivatives):
        return

    ids = [rec.id for rec in result.nodes if graph.nodes[rec.id].inputs]
    job = Job(_symbolic_work, (graph, ids, result.wrt, locals_too, derivatives),
              time.monotonic() + budget, nodes=len(graph.nodes))
    try:
        for message in job.results():
            if message[0] == "local":
                result.nodes[message[1]].local_symbolic = message[2]
            else:
                result.symbolic[message[1]] = message[2]
    finally:
        job.stop()
    if job.error is not None:
        result.notes.append(f"sympy gave up: {job.error}")
    elif not job.finished:
        missing = [n for n in result.wrt if n not in result.symbolic] if derivatives else []
        what = f"; no derivative for {', '.join(missing)}" if missing else ""
        result.notes.append(f"sympy stopped at the budget ({budget:g} s, --budget){what}")


def _symbolic_work(graph: Graph, ids: list[int], wrt: list[str], locals_too: bool,
                   derivatives: bool, send: Send) -> None:
    """The worker's job for symbolic mode: the printed local gradients of the gates ``ids``,
    then sympy's derivative per input, each sent as soon as it is printed."""
    from . import symbolic

    if locals_too:
        for nid in ids:
            send(("local", nid, [symbolic.printed(d)
                                 for d in symbolic.local_symbolic(graph, nid)]))
    if derivatives:
        f = symbolic.output_expr(graph)
        for name in wrt:
            send(("derivative", name, symbolic.printed(f.diff(symbolic.symbol(name)))))
