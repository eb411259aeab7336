"""The step-by-step replay: the backward pass told one gate at a time, in the lecture's words.

``backward_steps(result)`` returns plain data, one Step per gate in reverse topological order
(plus one step where an input fans out and its branches are added); ``forward_steps`` does the
same for the forward pass; ``render`` turns them into text. Everything is a plain loop, so a
10,000-deep expression replays too.

Nodes are called by their name (x, q), else by their source text in parentheses ((x+y)),
else by #id: "∂f/∂(x+y) = z = -4" reads like the lecture's df/dq = z = -4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from rich.text import Text

from ..core.graph import Graph
from ..core.ops import CONST, FAN_OUT, VAR, Op
from ..core.result import Result
from .names import formula, node_names
from .picture import gate_label, shape_text, value_text
from .render import fmt, text

SYMBOLIC_MAX_NODES = 400  # above this, local gradients are given as numbers only


@dataclass
class Local:
    """One input of a gate: the local gradient and what flows down to that input."""

    input: str
    value: Any  # floats; for array jobs nested lists (vectors, matrices)
    local: Any  # arrays: entrywise (elementwise ops), or None where only a rule exists
    downstream: Any
    symbolic: str | None = None  # d node / d input as a formula (z for d(q*z)/dq)
    const: bool = False  # constants need no gradient
    rule: str | None = None  # array ops: the vector-Jacobian product in words
    shape: list[int] | None = None  # array jobs: the input's shape


@dataclass
class Step:
    kind: str  # "gate" (backward through one gate) | "fan-out" (an input's branches add)
    node: str
    formula: str  # e.g. "q * z"
    gate: str  # the gate's label: *, +, exp, 1/x
    pattern: str  # the lecture's gate pattern
    value: Any
    upstream: Any  # the gradient arriving: d out / d node
    branches: list[tuple[str, Any]] = field(default_factory=list)  # fan-out: (from, branch)
    inputs: list[Local] = field(default_factory=list)
    seed: bool = False  # the output's upstream is the seed of the pass
    kink: str | None = None
    shape: list[int] | None = None  # array jobs: the node's shape ([] for a scalar)
    op: str = ""  # the op's name


def symbolic_locals(result: Result, names: list[str]) -> list[list[str] | None]:
    """d node / d input as formulas in the inputs' names, or [] per node when too big."""
    graph = result.graph
    if len(graph.nodes) > SYMBOLIC_MAX_NODES:
        return [None] * len(graph.nodes)
    import sympy as sp

    from ..checks.symbolic import exact, local_forms, run_deep

    def work() -> list[list[str] | None]:
        out: list[list[str] | None] = []
        symbols: dict[str, sp.Symbol] = {}
        for node in graph.nodes:
            if not node.inputs or node.op.array_only:  # array ops: a rule in words instead
                out.append(None)
                continue
            dummies, derivatives = local_forms(node.op, len(node.inputs))  # once per op
            subs = {}
            for d, j in zip(dummies, node.inputs):
                inp = graph.nodes[j]
                if inp.op is CONST:
                    subs[d] = exact(inp.literal) if inp.literal else sp.Float(inp.const)
                else:
                    subs[d] = symbols.setdefault(names[j], sp.Symbol(names[j], real=True))
            out.append([str(d.xreplace(subs)).replace("**", "^") for d in derivatives])
        return out

    return run_deep(work)


def backward_steps(result: Result, *, symbolic: bool = True,
                   names: list[str] | None = None) -> list[Step]:
    """One step per gate from the output back to the inputs; a fan-out input adds its branches.
    ``names``: what each node is called (default: names.node_names)."""
    graph = result.graph
    if result.value is None:
        raise ValueError("backward_steps needs an evaluated Result (give --at)")
    names = node_names(result) if names is None else names
    syms = symbolic_locals(result, names) if symbolic else [None] * len(graph.nodes)
    uses = graph.consumers()
    rec = result.nodes
    steps: list[Step] = []
    for node in reversed(graph.nodes):
        nid = node.id
        r = rec[nid]
        if node.op is CONST or (not node.inputs and len(uses[nid]) < 2):
            continue
        if r.upstream is None:  # a constant subexpression (2*1 in x^(2*1)): no gradient
            continue
        assert r.value is not None
        branches = []
        if len(uses[nid]) > 1:
            branches = [(_consumer(names, graph, c, pos), rec[c].downstream[pos])  # type: ignore[index]
                        for c, pos in uses[nid]]
        if node.op is VAR:
            steps.append(Step("fan-out", names[nid], names[nid], "", FAN_OUT, r.value,
                              r.upstream, branches, shape=r.shape))
            continue
        args = [names[j] for j in node.inputs]
        locs = []
        sym = syms[nid]
        twice = len(set(node.inputs)) < len(node.inputs)  # x*x: say which input slot
        assert r.local is not None and r.downstream is not None
        implicit = node.op.np_local is None and node.op.vjp is not None
        for pos, j in enumerate(node.inputs):
            if r.local[pos] is None or r.downstream[pos] is None:
                continue  # an input that needs no gradient and has none
            slot = f" [input {pos + 1}]" if twice else ""
            rule = None
            if r.shape is not None:
                rule = vjp_words(node.op, args, pos)
            locs.append(Local(names[j] + slot, rec[j].value or 0.0,
                              None if implicit else r.local[pos],
                              r.downstream[pos], sym[pos] if sym is not None else None,
                              graph.nodes[j].op is CONST, rule, rec[j].shape))
        pattern = node.op.gate + (f"; it fans out: {FAN_OUT}" if branches else "")
        steps.append(Step("gate", names[nid], formula(graph, nid, args), gate_label(graph, nid),
                          pattern, r.value, r.upstream, branches, locs,
                          seed=nid == graph.output, kink=r.kink, shape=r.shape,
                          op=node.op.name))
    return steps


def vjp_words(op: Op, args: list[str], pos: int) -> str | None:
    """The rule by which gradient flows to input ``pos`` of an array gate, in words."""
    words = op.words or op.implicit
    if len(words) == 1:
        return words[0].format(*args)
    return words[pos].format(*args) if pos < len(words) else None


def _consumer(names: list[str], graph: Graph, c: int, pos: int) -> str:
    node = graph.nodes[c]
    if node.inputs.count(node.inputs[pos]) > 1:
        return f"{names[c]}, input {pos + 1}"
    return names[c]


@dataclass
class ForwardStep:
    node: str
    formula: str  # q = x + y
    numbers: str  # -2 + 5
    gate: str
    value: Any


def forward_steps(result: Result, names: list[str] | None = None) -> list[ForwardStep]:
    """One step per gate in topological order: the gate applied to its input values."""
    graph = result.graph
    names = node_names(result) if names is None else names
    arrays = result.shaped
    out = []
    for node in graph.nodes:
        if not node.inputs:
            continue
        args = [names[j] for j in node.inputs]
        vals = [_num(result.nodes[j].value, arrays) for j in node.inputs]
        vals = [f"({v})" if v.startswith("-") and node.op.symbol and k > 0 else v
                for k, v in enumerate(vals)]
        out.append(ForwardStep(names[node.id], formula(graph, node.id, args),
                               formula(graph, node.id, vals), gate_label(graph, node.id),
                               result.nodes[node.id].value or 0.0))
    return out


def _num(v: Any, arrays: bool) -> str:
    """A number or an array on one line: 6 significant digits for scalar jobs, the picture's
    three (0.088, [0.22, 0.26], abbreviated past four entries) for array jobs."""
    return value_text(v, True) if arrays else fmt(v)


def _d(out: str, of: str) -> str:
    return f"∂{out}/∂{of}"


def render_lines(result: Result, steps: list[Step],
                 forward: list[ForwardStep] | None = None) -> list[tuple[str, str]]:
    """The replay as (style, line) pairs; the words follow the lecture."""
    out = result.output
    arrays = result.shaped

    def n(v: Any) -> str:
        return _num(v, arrays)

    lines: list[tuple[str, str]] = []
    if forward is not None:
        lines.append(("bold", "Forward pass: from the inputs to the output, one gate at a time"))
        inputs = ", ".join(f"{k} = {n(v)}" for k, v in (result.point or {}).items())
        lines.append(("", f"  inputs: {inputs}"))
        for k, f in enumerate(forward, 1):
            lines.append(("", f"Forward step {k}: {f.node} = {f.formula} = {f.numbers} = "
                              f"{n(f.value)}   [{f.gate} gate]"))
        lines.append(("", ""))
    lines.append(("bold", "Backward pass: from the output back to the inputs, "
                          "one gate at a time (reverse topological order)"))
    for k, s in enumerate(steps, 1):
        if s.kind == "fan-out":
            me = f"{s.node}: {shape_text(s.shape)}" if shape_text(s.shape) else s.node
            lines.append(("bold", f"Step {k}: input {me} fans out into {len(s.branches)} "
                                  f"branches [{s.pattern}]"))
            for src, g in s.branches[:MAX_BRANCHES]:
                lines.append(("", f"  branch from {src}: {n(g)}"))
            if len(s.branches) > MAX_BRANCHES:
                lines.append(("", f"  … and {len(s.branches) - MAX_BRANCHES:,} more branches"))
            total = _sum(s.branches, arrays)
            lines.append(("", f"  the branches add: {_d(out, s.node)} = {total} = "
                              f"{n(s.upstream)}"))
            continue
        me = f"{s.node}: {shape_text(s.shape)}" if shape_text(s.shape) else s.node
        lines.append(("bold", f"Step {k}: {me} = {s.formula}   "
                              f"[{s.gate} gate: {s.pattern}]"))
        if s.seed:
            lines.append(("", f"  upstream gradient arriving: {_d(out, s.node)} = "
                              f"{n(s.upstream)} (the seed at the output)"))
        elif s.branches:
            srcs = [src for src, _ in s.branches[:MAX_BRANCHES]]
            if len(s.branches) > MAX_BRANCHES:
                srcs.append(f"{len(s.branches) - MAX_BRANCHES:,} more")
            lines.append(("", f"  upstream gradient arriving: {_d(out, s.node)} = "
                              f"{_sum(s.branches, arrays)} = {n(s.upstream)} (fan-out: branches "
                              f"from {', '.join(srcs)} add)"))
        else:
            lines.append(("", f"  upstream gradient arriving: {_d(out, s.node)} = "
                              f"{n(s.upstream)}"))
        if s.shape is not None:
            lines += _array_gate_lines(out, s)
        else:
            for loc in s.inputs:
                if loc.const:
                    continue
                shown = n(loc.local)
                middle = f" = {loc.symbolic}" if loc.symbolic and loc.symbolic != shown else ""
                lines.append(("", f"  local gradient: {_d(s.node, loc.input)}{middle} = {shown}"))
            for loc in s.inputs:
                if loc.const:
                    continue
                lines.append(("", f"  downstream to {loc.input}: {_d(out, loc.input)} = "
                                  f"{_d(out, s.node)} · {_d(s.node, loc.input)} = "
                                  f"{n(s.upstream)} · {_paren(n(loc.local))} = "
                                  f"{n(loc.downstream)}"))
        if s.inputs and all(loc.const for loc in s.inputs):
            lines.append(("", "  its inputs are constants: no gradient flows further"))
        if s.kink:
            lines.append(("yellow", f"  not differentiable here: {s.kink}"))
    grads = result.gradients or {}
    if grads:
        lines.append(("bold", "Gradients: " + ", ".join(
            f"{_d(out, k)} = {n(v)}" for k, v in grads.items())))
    return lines


MAX_BRANCHES = 8  # a fan-out to more gates is summarised


def _array_gate_lines(out: str, s: Step) -> list[tuple[str, str]]:
    """An array gate: the local rule (entrywise, or the vector-Jacobian product in words)
    and the gradient flowing to each input, which has that input's shape."""
    lines: list[tuple[str, str]] = []
    up = _num(s.upstream, True)
    for loc in s.inputs:
        if loc.const:
            continue
        shape = shape_text(loc.shape)
        has = f"   ({shape}, the shape of {loc.input.split(' [input')[0]})" if shape else ""
        # A broadcast input (a scalar, a bias vector against a matrix) has fewer entries
        # than the gate: the products of the entries it was copied to add back.
        broadcast = bool(s.shape) and loc.shape is not None and loc.shape != s.shape
        if loc.local is None:  # an array op: the Jacobian is never formed
            lines.append(("", f"  local rule for {loc.input}: {_d(out, loc.input)} = {loc.rule}"
                              f"   (vector-Jacobian product: the Jacobian "
                              f"∂{s.node}/∂{loc.input} is never formed)"))
            lines.append(("", f"  downstream to {loc.input}: {_d(out, loc.input)} = {loc.rule}"
                              f" = {_num(loc.downstream, True)}{has}"))
            continue
        local = _num(loc.local, True)
        middle = f" = {loc.symbolic}" if loc.symbolic and loc.symbolic != local else ""
        entrywise = ", entry by entry (the Jacobian's diagonal)" if s.shape else ""
        lines.append(("", f"  local gradient{entrywise}: {_d(s.node, loc.input)}{middle} = "
                          f"{local}"))
        product = "upstream ⊙ local" if s.shape else "upstream · local"
        if loc.rule:
            product += f" ({loc.rule})"
        if broadcast:
            product = f"Σ({product}): {loc.input} was broadcast, so its entries add back"
            if loc.shape:
                product += f" over the axes it was stretched along, to {shape_text(loc.shape)}"
            lines.append(("", f"  downstream to {loc.input}: {_d(out, loc.input)} = {product}"
                              f" = Σ({up} ⊙ {local}) = {_num(loc.downstream, True)}"))
            continue
        op = "⊙" if s.shape else "·"
        lines.append(("", f"  downstream to {loc.input}: {_d(out, loc.input)} = {product} = "
                          f"{up} {op} {_paren(local)} = {_num(loc.downstream, True)}{has}"))
    return lines


def _sum(branches: list[tuple[str, Any]], arrays: bool = False) -> str:
    terms = [_paren(_num(g, arrays)) for _, g in branches]
    if len(terms) > MAX_BRANCHES:
        terms = [*terms[:MAX_BRANCHES - 2], f"… ({len(terms) - MAX_BRANCHES + 2:,} more)",
                 *terms[-1:]]
    return " + ".join(terms)


def _paren(v: str) -> str:
    return f"({v})" if v.startswith("-") else v


RICH_MAX_LINES = 2000  # beyond this, plain text: rich takes seconds per 10,000 lines


def render(result: Result, steps: list[Step],
           forward: list[ForwardStep] | None = None) -> Text | str:
    """The replay as one rich Text, or plain text for very long replays.

    Either way, user-derived text is made safe by ``render.text`` (control characters
    shown escaped, never markup).
    """
    lines = render_lines(result, steps, forward)
    if len(lines) > RICH_MAX_LINES:
        return "\n".join(text(line).plain for _, line in lines) + "\n"
    out = Text()
    for style, line in lines:
        out.append_text(text(line + "\n", style))
    out.rstrip()
    return out
