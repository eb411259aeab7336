"""One result model for both engines: what `evaluate` returns and every view reads.

Values are typed honestly: a float for a scalar, nested lists for an array (``Value``).
The verdict types (``Check``, ``Verification``, ``Tolerance``) live here too, so that the
checks fill them and the views read them without either knowing the other.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError
from .gcpause import paused
from .graph import TEXT_LIMIT, Graph
from .ops import CONST, CONSTANTS, FAN_OUT, VAR

# A float for a scalar, nested lists of floats for a vector or a matrix.
Value = float | list[Any]

SYMPY_RTOL = 1e-7
SYMPY_ATOL = 1e-9
FD_STEP = 1e-6  # relative step: h = FD_STEP * max(1, |x|)
FD_RTOL = 1e-4
FD_ATOL = 1e-6
# Wall-clock seconds for the whole check of one expression (sympy runs in a worker process
# that is stopped at the deadline; what it could not prove says "not checked (budget)").
# BACKPROP_BUDGET changes the default (the test suite sets it high: its verdicts must not
# depend on how busy the machine is).
TIME_BUDGET = float(os.environ.get("BACKPROP_BUDGET", "") or 3.0)

VERIFIERS = ("sympy", "numeric")

# What proved a gradient (Check.proof), strongest first, and how the table and summary say it.
PROOFS = {
    "sympy": "proved by sympy",  # sympy differentiated the whole formula, exact
    "sympy-gates": "proved by sympy gate by gate",  # sympy's derivative of every gate,
    # chained through the graph in 30-digit arithmetic: every input, in one pass
    "sympy-direction": "sympy along a random direction only",  # one combined check
    "numeric": "finite differences only",
    "numeric-direction": "finite differences along a random direction only",
    "budget": "not checked (budget)",
    "none": "not checked",
}


CHECK_CHOICES = "choose from sympy, numeric, both (sympy,numeric) or none"


def known_verifiers(names: Iterable[str], where: str = "--check") -> tuple[str, ...]:
    """``names`` as a tuple (`both` stands for sympy and numeric), or an InputError naming
    the first that is not a verifier."""
    verifiers: list[str] = []
    for v in names:
        if v == "both":
            verifiers += [n for n in VERIFIERS if n not in verifiers]
        elif v not in VERIFIERS:
            raise InputError(f"unknown check '{v}'", where=where, hint=CHECK_CHOICES)
        elif v not in verifiers:
            verifiers.append(v)
    return tuple(verifiers)


def parse_checks(text: str, where: str = "--check") -> tuple[str, ...]:
    """`sympy,numeric`, `both`, `sympy` or `none` (no verifier) as verifier names."""
    words = [w.strip() for w in text.split(",") if w.strip()]
    if words == ["none"]:
        return ()
    return known_verifiers(words, where)


@dataclass
class Tolerance:
    rtol: float = SYMPY_RTOL
    atol: float = SYMPY_ATOL
    fd_step: float = FD_STEP
    fd_rtol: float = FD_RTOL
    fd_atol: float = FD_ATOL
    time_budget: float = TIME_BUDGET


@dataclass
class Check:
    """One input's gradient, as backprop and each verifier see it."""

    variable: str
    value: Value
    backprop: Value
    sympy_derivative: str | None = None  # printed derivative (None: not computed)
    sympy_value: Value | None = None
    numeric: Value | None = None
    numeric_ok: bool | None = None
    near_kink: bool = False  # a finite-difference step crossed a kink (relu 0, max tie, ...)
    status: str = "pass"  # pass | fail | kink | unchecked
    notes: list[str] = field(default_factory=list)
    proof: str = "none"  # a key of PROOFS: which check proved it (checks/policy.py decides)
    why: str = ""  # why it is not checked (proof "budget" or "none")
    # "formula" or "gates": how sympy_value was found; "undefined": sympy found none (0/0, ∞);
    # "refuted": sympy disproved the rule of a gate this gradient passes through (arrays)
    sympy_how: str | None = None
    numeric_step: float | None = None  # the step h of the finite difference shown
    # (h, central difference, |difference - backprop|) from 1e-2 to 1e-9 (--explain, or a
    # finite difference that disagreed); arrays: for the first entry that disagreed.
    sweep: list[tuple[float, float | None, float | None]] | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("pass", "kink")


@dataclass
class Verification:
    checks: list[Check]
    mode: str  # "per-variable" or "random direction"
    notes: list[str] = field(default_factory=list)
    direction: dict[str, Any] | None = None  # random-direction results, when used
    budget: float = TIME_BUDGET  # seconds allowed for the whole check
    seconds: float = 0.0  # seconds it took

    @property
    def ok(self) -> bool:
        """No gradient failed a check (a gradient not checked is not a failure; --strict
        asks for ``complete`` too)."""
        return all(c.status != "fail" for c in self.checks) and all(
            v.get("ok", True) is not False for v in (self.direction or {}).values()
            if isinstance(v, dict))

    @property
    def complete(self) -> bool:
        """Every gradient was checked by something."""
        return all(c.proof not in ("budget", "none") for c in self.checks)

    def counts(self) -> dict[str, int]:
        """How many gradients each kind of check proved, and how many failed (PROOFS keys,
        plus "failed"), in PROOFS order; kinds with none are left out."""
        out = {}
        for kind in (*PROOFS, "failed"):
            n = sum(1 for c in self.checks
                    if (c.status == "fail" if kind == "failed" else
                        c.status != "fail" and c.proof == kind))
            if n:
                out[kind] = n
        return out


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
    value: Value | None = None  # array jobs: nested lists, here and below
    local: list[Any] | None = None  # d node / d input (arrays: entrywise, or implicit: text)
    upstream: Value | None = None  # d output / d node
    downstream: list[Any] | None = None  # upstream x local, per input
    local_symbolic: list[str] | None = None
    fan_out: list[tuple[str, Value | None]] = field(default_factory=list)  # (consumer, branch)
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
    point: dict[str, Value] | None = None
    value: Value | None = None
    gradients: dict[str, Value] | None = None
    seed: Value = 1.0  # --upstream: a number, or an array for an array output
    verification: Verification | None = None
    symbolic: dict[str, str] = field(default_factory=dict)  # input -> sympy's df/dinput
    notes: list[str] = field(default_factory=list)
    # The expression as it was read (2*x for 2x, W @ x for W x, exp(x) for e^x), when a
    # notation was read as something else than typed; None otherwise.
    read_as: str | None = None

    @property
    def ok(self) -> bool:
        return self.verification is None or self.verification.ok

    def __repr__(self) -> str:
        """A few lines, as sympy prints its objects: `print(r)` and a terminal IPython show
        what was computed, not 30 KB of fields (``to_dict()`` and the views have it all)."""
        from .formatting import inline

        named = self.output in self.graph.named  # `q = W@x; f = sum(q^2)` names its output
        head = f"Result {'' if named else f'{self.output} = '}{one_line(self.expression)}"
        if self.point:
            head += " at " + one_line(", ".join(f"{k}={inline(v, 4)}"
                                                 for k, v in self.point.items()))
        lines = [head]
        if self.value is None:
            lines.append("  no point: the graph only")
            return "\n".join(lines)
        lines.append(f"  value: {inline(self.value, 6)}")
        if self.gradients:
            grads = [f"d{k}={inline(v, 4)}" for k, v in self.gradients.items()]
            shown = ", ".join(grads[:REPR_ITEMS]) + (
                f", … ({len(grads) - REPR_ITEMS} more)" if len(grads) > REPR_ITEMS else "")
            lines.append(f"  gradients: {one_line(shown, 200)}")
        if self.verification is not None:
            counts = self.verification.counts()
            said = [f"{n} failed" if k == "failed" else f"{n} {PROOFS[k]}"
                    for k, n in counts.items()]
            lines.append("  checks: " + (", ".join(said) or "none"))
        return "\n".join(lines)

    __str__ = __repr__

    # Jupyter: the node table and the circuit (views/notebook.py, through core/display.py).
    def _repr_html_(self) -> str | None:
        from .display import html

        return html("result", self)

    def replay(self, **options: Any) -> Any:
        """The interactive replay, shown inline in Jupyter (``.save(path)`` writes the page)."""
        from .display import call

        return call("replay", self, **options)

    def check_summary(self) -> dict[str, Any] | None:
        """The `--json` "check_summary": counts per kind of proof, complete, budget, seconds."""
        v = self.verification
        if v is None:
            return None
        return {"counts": v.counts(), "complete": v.complete, "checked_nothing":
                all(c.proof in ("budget", "none") for c in v.checks),
                "budget_seconds": v.budget, "seconds": round(v.seconds, 3)}

    @property
    def shaped(self) -> bool:
        """Whether the array engine ran: then every node carries its shape (arrays.py)."""
        return any(n.shape is not None for n in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """The `--json` document (see docs/reference/json.md)."""
        checks = []
        if self.verification is not None:
            for c in self.verification.checks:
                checks.append({
                    "variable": c.variable, "value": c.value, "backprop": c.backprop,
                    "sympy_derivative": c.sympy_derivative, "sympy": c.sympy_value,
                    "numeric": c.numeric, "status": c.status, "ok": c.ok, "notes": c.notes,
                    "proof": c.proof, "proved_by": PROOFS[c.proof], "why": c.why or None,
                    "numeric_step": c.numeric_step,
                    "fd_sweep": None if c.sweep is None else [
                        {"h": h, "numeric": d, "error": e} for h, d, e in c.sweep],
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
            "check_summary": self.check_summary(),
            "symbolic_gradients": self.symbolic or None,
            "notes": self.notes + (self.verification.notes if self.verification else []),
            "read_as": self.read_as,
        }


@dataclass(repr=False)  # Result's short text, not the dataclass's fields
class ArrayResult(Result):
    """A Result whose values, gradients and checks may be nested lists (arrays)."""

    shapes: dict[str, list[int]] = field(default_factory=dict)  # input -> shape

    def to_dict(self) -> dict[str, Any]:
        doc = super().to_dict()
        for node, rec in zip(doc["nodes"], self.nodes):
            node["shape"] = rec.shape
            if rec.jacobian is not None:
                node["jacobian"] = rec.jacobian
        doc["shapes"] = self.shapes
        return doc


REPR_ITEMS = 6  # gradients (answers, problems) a short repr lists before counting the rest


def one_line(text: str, limit: int = 100) -> str:
    """Text on one line for a short repr, cut with "…" past ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def records(graph: Graph) -> list[NodeRecord]:
    """One record per node: labels, source text, gate; values and gradients come later.

    One plain loop with the collector paused (it allocates a few objects per node and frees
    none): this used to cost as much as the parse itself at 10,000 nodes.
    """
    nodes = graph.nodes
    needs = graph.needs_grad()
    labels = [n.name if n.name is not None else f"#{n.id}" for n in nodes]  # graph.label
    source = graph.source
    limit = TEXT_LIMIT
    half = limit // 2
    out: list[NodeRecord] = []
    append = out.append
    record = NodeRecord
    with paused():
        for node in nodes:
            nid = node.id
            ins = node.inputs
            s, e = node.start, node.end
            op = node.op
            if len(ins) == 2:
                a, b = ins
                names = [labels[a], labels[b]]
                const = [not needs[a], not needs[b]]
            elif ins:
                names = [labels[j] for j in ins]
                const = [not needs[j] for j in ins]
            else:
                names, const = [], []
            # graph.text: cut in the middle past TEXT_LIMIT characters
            expression = source[s:e] if e - s <= limit else \
                source[s:s + half] + " … " + source[e - half:e]
            append(record(id=nid, label=labels[nid], op=op.name, expression=expression,
                          inputs=names, input_is_const=const, gate=op.gate,
                          start=s, end=e))
        for nid, uses in graph.fan_outs().items():
            rec = out[nid]
            rec.fan_out = [(labels[c], None) for c, _ in uses]
            rec.gate = FAN_OUT if nodes[nid].op in (VAR, CONST) \
                else f"{rec.gate}; fans out: {FAN_OUT}"
    for nid in graph.named_constants:  # e, pi: the table says a name was read as a constant
        literal = nodes[nid].literal
        out[nid].gate = f"constant: {CONSTANTS[literal].says} = {CONSTANTS[literal].value:.6g}"
    return out
