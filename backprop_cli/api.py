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
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from .engine import Pass, backward, forward
from .errors import DomainError, InputError
from .graph import Graph
from .literals import ArrayValue, from_python
from .ops import CONST, FAN_OUT, VAR
from .parse import parse, parse_number, parse_value
from .point import Point, match, parse_point
from .verify import VERIFIERS, Tolerance, Verification, known_verifiers, verify


@dataclass
class NodeRecord:
    """One row of the lecture's circuit: a gate, its value and the gradients through it."""

    id: int
    label: str  # variable or intermediate name, else #id
    op: str
    expression: str  # the source text the node came from
    inputs: list[str]  # labels of its inputs, in order
    # Inputs no variable feeds (constants, constant subexpressions) need no gradient;
    # renderers leave them out.
    input_is_const: list[bool]
    gate: str
    value: float | None = None  # (array jobs: nested lists here and below, see arrays.py)
    local: list[Any] | None = None  # d node / d input (arrays: entrywise, or implicit: text)
    upstream: float | None = None  # d output / d node
    downstream: list[Any] | None = None  # upstream x local, per input
    local_symbolic: list[str] | None = None
    fan_out: list[tuple[str, float | None]] = field(default_factory=list)  # (consumer, branch)
    kink: str | None = None
    shape: list[int] | None = None  # array jobs only: [] scalar, [n] vector, [m, n] matrix
    jacobian: list[Any] | None = None  # --jacobian: explicit d node / d input, per input
    start: int = 0  # the node's span in the expression: expression[start:end]
    end: int = 0


@dataclass
class Result:
    """What `evaluate` returns and every renderer reads."""

    expression: str
    output: str  # the output's name (f, or the last statement's name)
    inputs: list[str]
    wrt: list[str]
    nodes: list[NodeRecord]
    graph: Graph
    point: dict[str, float] | None = None
    value: float | None = None
    gradients: dict[str, float] | None = None
    seed: float = 1.0
    verification: Verification | None = None
    symbolic: dict[str, str] = field(default_factory=dict)  # input -> sympy's df/dinput
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verification is None or self.verification.ok

    @property
    def shaped(self) -> bool:
        """Whether the array engine ran: then every node carries its shape (arrays.py)."""
        return any(n.shape is not None for n in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document (see README: JSON format)."""
        checks = []
        if self.verification is not None:
            for c in self.verification.checks:
                checks.append({
                    "variable": c.variable, "value": c.value, "backprop": c.backprop,
                    "sympy_derivative": c.sympy_derivative, "sympy": c.sympy_value,
                    "numeric": c.numeric, "status": c.status, "ok": c.ok, "notes": c.notes,
                })
        return {
            "expression": self.expression,
            "output": self.output,
            "value": self.value,
            "point": self.point,
            "upstream_seed": self.seed,
            "gradients": self.gradients,
            "ok": self.ok,
            "wrt": self.wrt,
            "nodes": [
                {
                    "id": n.id, "label": n.label, "op": n.op, "expression": n.expression,
                    "inputs": n.inputs, "gate": n.gate, "value": n.value, "local": n.local,
                    "upstream": n.upstream, "downstream": n.downstream,
                    "local_symbolic": n.local_symbolic,
                    "fan_out": [{"to": to, "gradient": g} for to, g in n.fan_out],
                    "kink": n.kink, "start": n.start, "end": n.end,
                }
                for n in self.nodes
            ],
            "checks": checks,
            "check_mode": self.verification.mode if self.verification else None,
            "direction_check": self.verification.direction if self.verification else None,
            "symbolic_gradients": self.symbolic or None,
            "notes": self.notes + (self.verification.notes if self.verification else []),
        }


def evaluate(expression: str, at: Mapping[str, Any] | str | Iterable[str] | None = None,
             *, wrt: Iterable[str] | None = None, upstream: float | str | Any = 1.0,
             check: Iterable[str] = VERIFIERS, tolerance: Tolerance | None = None,
             symbolic_locals: bool | None = None, jacobian: bool = False,
             expand: bool = False) -> Result:
    """Parse, run forward and backward at ``at``, and check every gradient.

    ``at`` is a mapping ({"x": -2}) or `--at` text ("x=-2,y=5", or several such strings).
    Without ``at`` the result is symbolic: local gradients and sympy's derivatives only.
    ``expand=True`` rewrites compound gates (sigmoid, tanh) as primitive gates first.
    Raises InputError or DomainError (both BackpropError) for input that cannot be used.
    Vectors and matrices (``at={"x": [0.2, 0.4]}``, "x=[0.2,0.4]", an array ``upstream``,
    an array op such as @ or sum, or ``jacobian=True``) go to the array engine (arrays.py).
    """
    graph = parse(expression)
    if expand:
        from .expand import expand as expand_graph

        graph = expand_graph(graph)
    inputs = list(graph.variables)
    targets = _wrt(graph, wrt)
    verifiers = known_verifiers(check)
    seed = _upstream(upstream)
    if isinstance(seed, float) and not math.isfinite(seed):
        raise InputError("--upstream must be a finite number", where="--upstream")
    nodes = _records(graph)
    array_ops = graph.uses_arrays()
    result = Result(expression, graph.output_name, inputs, targets, nodes, graph,
                    seed=seed if isinstance(seed, float) else 1.0)
    if at is None and array_ops:
        raise InputError("an expression with array operations needs --at values: the shapes "
                         "come from them", where="--at",
                         hint='e.g. --at "W=[[0.1,0.5],[-0.3,0.8]]" --at "x=[0.2,0.4]"')
    if at is None:
        want_symbols = True if symbolic_locals is None else symbolic_locals
        _symbolic(result, want_symbols)
        return result

    point = _point(at)
    if point.arrays or array_ops or isinstance(seed, ArrayValue) or jacobian:
        from .arrays import evaluate_arrays

        if symbolic_locals:
            result.notes.append("--symbolic: local gradients are shown as formulas for "
                                "scalar expressions only")
        return evaluate_arrays(graph, point, targets, result, seed, verifiers, tolerance,
                               jacobian)
    assert isinstance(seed, float)
    upstream = seed
    match(graph, point.values)
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
        _fill_symbolic_locals(result)
    if verifiers:
        result.verification = verify(graph, point, run, targets, verifiers, tolerance)
    return result


def _point(at: Mapping[str, float | str] | str | Iterable[str]) -> Point:
    if isinstance(at, str):
        return parse_point([at])
    if isinstance(at, Mapping):
        values: dict[str, float] = {}
        exact: dict[str, Fraction] = {}
        arrays: dict[str, ArrayValue] = {}
        for name, v in at.items():
            if isinstance(v, str) and v.strip().startswith("["):
                lit = parse_value(v, "--at")
                assert not isinstance(lit, str)
                arrays[name] = lit.resolve(v, "--at")
            elif isinstance(v, (list, tuple)) or getattr(v, "ndim", None):
                arrays[name] = from_python(name, v)
            elif isinstance(v, str):
                values[name], exact[name] = parse_number(v, source=v, pos=0, where="--at")
            else:
                f = float(v)
                if not math.isfinite(f):
                    raise InputError(f"the value of '{name}' is not a finite number", where="at")
                values[name], exact[name] = f, Fraction(f)
        return Point(values, exact, arrays)
    return parse_point(list(at))


def _upstream(upstream: float | str | Any) -> float | ArrayValue:
    """--upstream: a number, or a vector/matrix literal (text, list or numpy array)."""
    if isinstance(upstream, str):
        lit = parse_value(upstream, "--upstream")
        if isinstance(lit, str):
            return parse_number(lit, source=upstream, pos=0, where="--upstream")[0]
        return lit.resolve(upstream, "--upstream")
    if isinstance(upstream, (list, tuple)) or getattr(upstream, "ndim", None):
        return from_python("--upstream", upstream, where="--upstream")
    return float(upstream)


def _wrt(graph: Graph, wrt: Iterable[str] | None) -> list[str]:
    if wrt is None:
        return list(graph.variables)
    names = list(dict.fromkeys(wrt))  # x,x checks x once
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


def _records(graph: Graph) -> list[NodeRecord]:
    records = []
    needs = graph.needs_grad()
    for node in graph.nodes:
        gate = node.op.gate
        records.append(NodeRecord(
            id=node.id, label=graph.label(node.id), op=node.op.name,
            expression=graph.text(node.id), inputs=[graph.label(j) for j in node.inputs],
            input_is_const=[not needs[j] for j in node.inputs], gate=gate,
            start=node.start, end=node.end,
        ))
    for nid, uses in enumerate(graph.consumers()):
        if len(uses) > 1:
            records[nid].fan_out = [(graph.label(c), None) for c, _ in uses]
            records[nid].gate = FAN_OUT if graph.nodes[nid].op in (VAR, CONST) \
                else f"{records[nid].gate}; fans out: {FAN_OUT}"
    return records


def _finite_or_none(v: float, needed: bool) -> float | None:
    # An input that no variable feeds may have no gradient at all (d/db a^b at a < 0 is
    # NaN): nothing downstream uses it, so it is reported as None rather than as NaN.
    return v if needed or math.isfinite(v) else None


def _fill(result: Result, run: Pass) -> None:
    graph = result.graph
    uses = graph.consumers()
    needs = graph.needs_grad()
    for rec in result.nodes:
        nid = rec.id
        rec.value = run.values[nid]
        rec.upstream = _finite_or_none(run.upstream[nid], needs[nid])
        inputs = graph.nodes[nid].inputs
        if inputs:
            rec.local = [_finite_or_none(v, needs[j]) for j, v in zip(inputs, run.local[nid])]
            rec.downstream = [_finite_or_none(v, needs[j])
                              for j, v in zip(inputs, run.downstream[nid])]
        rec.kink = run.kinks.get(nid)
        if len(uses[nid]) > 1:
            rec.fan_out = [(graph.label(c), run.downstream[c][pos]) for c, pos in uses[nid]]


def _fill_symbolic_locals(result: Result) -> None:
    from . import symbolic

    def work() -> None:
        for rec in result.nodes:
            if result.graph.nodes[rec.id].inputs:
                rec.local_symbolic = [symbolic.printed(d)
                                      for d in symbolic.local_symbolic(result.graph, rec.id)]

    symbolic.run_deep(work)


def _symbolic(result: Result, locals_too: bool) -> None:
    from . import symbolic
    from .verify import _sympy_unaffordable

    graph = result.graph
    if locals_too:
        _fill_symbolic_locals(result)
    why_not = _sympy_unaffordable(graph)
    if why_not:
        result.notes.append(f"sympy derivatives not shown: {why_not}")
        return

    def work() -> None:
        f = symbolic.output_expr(graph)
        for name in result.wrt:
            result.symbolic[name] = symbolic.printed(f.diff(symbolic.symbol(name)))

    symbolic.run_deep(work)
