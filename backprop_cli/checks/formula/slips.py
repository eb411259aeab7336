"""Naming the slip of a claim that differs: the lecture's likely slips, one table (SLIPS).

Each slip is a transformation of the true gradient (its sign, a factor, a transpose, a
missing batch sum, a backward pass that drops a fan-out branch or evaluates an activation's
derivative at the wrong value), or, for the slips that change a formula's structure (a
product in the wrong order, `*` for `@`), the same change undone on the claim. A claim whose
own shapes do not fit is named before any of them, in the user's letters.

The search is linear in the size of the claim and of the expression: each rule tries at most
MAX_PLACES places (nodes or edges), each place one pass, and every rule stops at the
deadline; a search cut either way says so ("the search for the slip stopped").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from ...core.arrays import Array, forward, local_gradients, unbroadcast, vjp
from ...core.errors import InputError
from ...core.graph import Graph
from ...core.ops import CONST, VAR
from .claims import Claim, in_letters, letter
from .points import Trial, close
from .report import Slip

T = TypeVar("T")
MAX_PLACES = 64  # places one rule tries (each costs a pass over the claim or the expression)

# (claim node id, what changes there): "swap" its operands, "T0"/"T1" transpose one of them,
# make it "mul" or "matmul", or "untranspose" (drop a .T).
Tweak = tuple[int, str] | None


def _forward_tweaked(graph: Graph, env: Mapping[str, Array], tweak: Tweak) -> Array | None:
    """The claim's value with one structural change (the inverse of a slip); None where the
    changed formula cannot be computed."""
    values: list[Array] = []
    with np.errstate(all="ignore"):
        for node in graph.nodes:
            op = node.op
            try:
                if op is VAR:
                    v = env[node.name or ""]
                elif op is CONST:
                    v = np.asarray(node.const, dtype=float)
                else:
                    args = [values[j] for j in node.inputs]
                    kind = tweak[1] if tweak is not None and tweak[0] == node.id else ""
                    if kind == "swap":
                        args.reverse()
                    elif kind in ("T0", "T1"):  # one use of an input, transposed
                        args[int(kind[1])] = args[int(kind[1])].T
                    if kind == "mul":
                        v = np.asarray(args[0] * args[1])
                    elif kind == "matmul":
                        v = np.asarray(args[0] @ args[1])
                    elif kind == "untranspose":
                        v = args[0]
                    else:
                        assert op.np_forward is not None
                        v = np.asarray(op.np_forward(np, *args), dtype=float)
            except (ValueError, TypeError, IndexError):
                return None
            values.append(v)
    out = values[graph.output]
    return out if np.all(np.isfinite(out)) else None


def _backward_slipped(graph: Graph, trial: Trial, target: int, *,
                      drop: tuple[int, int] | None = None,
                      local_at: tuple[int, Callable[[Array, Array], Array]] | None = None
                      ) -> Array | None:
    """The backward pass with one slip: an edge (consumer, input position) of a fan-out left
    out, or one elementwise node's local gradient replaced. None where it cannot run."""
    values = trial.values
    nodes = graph.nodes
    needs = graph.needs_grad()
    up: list[Array | None] = [None] * len(nodes)
    up[graph.output] = np.asarray(1.0)
    try:
        with np.errstate(all="ignore"):
            for node in reversed(nodes):
                g = up[node.id]
                if not node.inputs or not needs[node.id] or g is None:
                    continue
                args = tuple(values[j] for j in node.inputs)
                out = values[node.id]
                if local_at is not None and local_at[0] == node.id:
                    down: tuple[Array, ...] = (
                        unbroadcast(g * local_at[1](args[0], out), args[0].shape),)
                else:
                    down = vjp(node.op, args, out, g)
                for pos, (j, d) in enumerate(zip(node.inputs, down)):
                    if needs[j] and (node.id, pos) != drop:
                        prev = up[j]
                        up[j] = d if prev is None else prev + d
    except (ValueError, AssertionError):
        return None
    g = up[target]
    return np.zeros_like(values[target]) if g is None else g


# ---------------------------------------------------------------- slips


@dataclass
class _Context:
    """What a slip is tested against at one trial where the claim differs."""

    graph: Graph
    claim: Claim
    trial: Trial
    env: dict[str, Array]
    truth: Array
    yours: Array | None  # None: the claim could not be computed here
    deadline: float = float("inf")  # time.monotonic() past which slips stop searching
    cut: list[str] = field(default_factory=list)  # rules that left places untried

    def expired(self) -> bool:
        return time.monotonic() > self.deadline

    def same(self, candidate: Array | None) -> bool:
        return close(self.yours, candidate, self.trial.noise)

    def repaired(self, tweak: Tweak) -> bool:
        """Whether the claim with this change gives the true gradient."""
        if self.claim.graph is None:
            return False
        return close(_forward_tweaked(self.claim.graph, self.env, tweak), self.truth,
                     self.trial.noise)

    def places(self, rule: str, items: Iterable[T]) -> Iterable[T]:
        """At most MAX_PLACES of ``items``, while the deadline holds; a cut is recorded."""
        for k, item in enumerate(items):
            if k >= MAX_PLACES or self.expired():
                self.cut.append(rule)
                return
            yield item

    def claim_nodes(self, *names: str) -> list[int]:
        nodes = self.claim.graph.nodes if self.claim.graph is not None else []
        return [n.id for n in nodes if n.op.name in names]


@dataclass(frozen=True)
class SlipRule:
    """One entry of the slip table: whether the claim is the true gradient with this slip."""

    name: str
    sentence: str  # {target}, {var} and rule-specific fields are filled in
    detect: Callable[[_Context], str | None]  # a detail for the sentence, or None: no match
    # Slips already named that explain this one as well (2*x.T@q repaired by swapping the
    # product is also repaired by a broadcast *): the likelier, earlier entry is kept.
    unless: tuple[str, ...] = ()
    # The detail must be the same at every trial (a constant factor: one ratio for all).
    consistent: bool = False


def _sign(c: _Context) -> str | None:
    return "" if c.same(-c.truth) and np.any(c.truth) else None


def _missing_two(c: _Context) -> str | None:
    if c.same(c.truth / 2) and np.any(c.truth):
        return "missing"
    if c.same(c.truth * 2) and np.any(c.truth):
        return "extra"
    return None


def _mean_sizes(c: _Context) -> list[int]:
    sizes = []
    for node in c.graph.nodes:
        if node.op.name == "mean":
            a = c.trial.values[node.inputs[0]]
            if len(node.inputs) > 1:
                sizes.append(a.shape[int(c.trial.values[node.inputs[1]])])
            else:
                sizes.append(a.size)
    return [n for n in sizes if n > 1]


def _missing_mean(c: _Context) -> str | None:
    for n in _mean_sizes(c):
        if c.same(c.truth * n) and np.any(c.truth):
            return "missing"
        if c.same(c.truth / n) and np.any(c.truth):
            return "twice"
    return None


def _factor(c: _Context) -> str | None:
    if c.yours is None or np.shape(c.yours) != np.shape(c.truth) or not np.any(c.truth):
        return None
    k = int(np.argmax(np.abs(c.truth)))
    ratio = float(np.ravel(c.yours)[k] / np.ravel(c.truth)[k])
    if not np.isfinite(ratio) or ratio in (0.0,) or abs(abs(ratio) - 1.0) <= 1e-6:
        return None
    if _missing_two(c) or _missing_mean(c):
        return None  # named by its own entry
    return f"{ratio:.6g}" if c.same(c.truth * ratio) else None


def _transpose(c: _Context) -> str | None:
    if c.truth.ndim == 2 and c.same(c.truth.T):
        return "your formula is the transpose of the gradient"
    claim = c.claim.graph
    if claim is None:
        return None
    for nid in c.places("transpose", c.claim_nodes("transpose")):
        if c.repaired((nid, "untranspose")):
            return f"without the .T of `{claim.text(nid)}` it holds"
    nodes = claim.nodes
    uses = ((node, pos, nodes[j]) for node in nodes for pos, j in enumerate(node.inputs)
            if nodes[j].op is VAR and c.env[nodes[j].name or ""].ndim == 2)
    for node, pos, leaf in c.places("transpose", uses):
        if c.repaired((node.id, f"T{pos}")):
            return (f"{leaf.name}.T is missing in `{claim.text(node.id)}` (with "
                    f"{leaf.name}.T in place of {leaf.name} it holds)")
    return None


def _order(c: _Context) -> str | None:
    claim = c.claim.graph
    for nid in c.places("product order", c.claim_nodes("matmul")):
        if claim is not None and c.repaired((nid, "swap")):
            a, b = (claim.text(j) for j in claim.nodes[nid].inputs)
            return f"`{a} @ {b}` should be `{b} @ {a}`"
    return None


def _product_kind(c: _Context) -> str | None:
    claim = c.claim.graph
    if claim is None:
        return None
    for nid in c.places("product kind", c.claim_nodes("mul")):
        if c.repaired((nid, "matmul")):
            return f"`{claim.text(nid)}` is elementwise where a matrix product belongs"
    for nid in c.places("product kind", c.claim_nodes("matmul")):
        if c.repaired((nid, "mul")):
            return f"`{claim.text(nid)}` is a matrix product where an elementwise one belongs"
    return None


def _batch_sum(c: _Context) -> str | None:
    # The target was broadcast (a bias added to every column of a batch): the true gradient
    # sums the consumer's downstream over the stretched axis; the slip stops before the sum.
    target = c.claim.target_nid
    for node in c.graph.nodes:
        for pos, j in enumerate(node.inputs):
            if j != target or node.op.np_local is None:
                continue
            out = c.trial.values[node.id]
            if out.shape == c.trial.values[j].shape:
                continue
            args = tuple(c.trial.values[k] for k in node.inputs)
            loc = local_gradients(node.op, args, out)
            g = c.trial.grad(node.id)
            if loc is not None and c.same(g * loc[pos]):
                return c.graph.label(node.id) if node.name else f"`{c.graph.text(node.id)}`"
    return None


def _sig(x: Array) -> Array:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


# The activation's derivative written from its output (σ(1-σ), 1-tanh²), evaluated at the
# wrong value: at its input s, or at its output h (σ applied twice).
_WRONG_LOCALS: dict[str, tuple[tuple[str, Callable[[Array, Array], Array]], ...]] = {
    "sigmoid": (("s*(1-s) at the input s instead of σ(s)*(1-σ(s))", lambda s, h: s * (1 - s)),
                ("σ(h)*(1-σ(h)) at the output h = σ(s): σ applied twice",
                 lambda s, h: _sig(h) * (1 - _sig(h)))),
    "tanh": (("1-s² at the input s instead of 1-tanh(s)²", lambda s, h: 1 - s * s),
             ("1-tanh(h)² at the output h = tanh(s): tanh applied twice",
              lambda s, h: 1 - np.tanh(h) ** 2)),
    "exp": (("exp(h) at the output h = exp(s)", lambda s, h: np.exp(h)),),
}


def _activation(c: _Context) -> str | None:
    nodes = (node for node in c.graph.nodes if node.op.name in _WRONG_LOCALS)
    for node in c.places("activation", nodes):
        for what, local in _WRONG_LOCALS[node.op.name]:
            if c.same(_backward_slipped(c.graph, c.trial, c.claim.target_nid,
                                        local_at=(node.id, local))):
                return f"{node.op.name} in `{c.graph.text(node.id)}`: {what}"
    return None


def _fan_out(c: _Context) -> str | None:
    edges = ((j, uses, consumer, pos) for j, uses in c.graph.fan_outs().items()
             for consumer, pos in uses)
    for j, uses, consumer, pos in c.places("fan-out", edges):
        if c.same(_backward_slipped(c.graph, c.trial, c.claim.target_nid,
                                    drop=(consumer, pos))):
            node = c.graph.nodes[j]
            what = node.name or f"`{c.graph.text(j)}`"
            return (f"{what} is used {len(uses)} times; the branch through "
                    f"`{c.graph.text(consumer)}` is missing")
    return None


SLIPS: tuple[SlipRule, ...] = (
    SlipRule("transpose", "A transpose: {detail}. Always check: the gradient with respect to "
             "a variable has the same shape as the variable (∇_W f = 2q·xᵀ, not x·qᵀ).",
             _transpose),
    SlipRule("product order", "A wrong product order: {detail}. Matrix products do not "
             "commute; write the chain rule so the inner sizes meet (∇_W f = 2q·xᵀ).", _order,
             unless=("transpose",)),
    SlipRule("elementwise vs matrix product", "{detail}: the upstream gradient meets an "
             "elementwise gate entry by entry (⊙) and a matrix product through @.",
             _product_kind, unless=("transpose", "product order")),
    SlipRule("missing fan-out branch", "A missing fan-out branch: {detail}. A value used "
             "twice is a copy gate, a gradient adder: the gradients of its branches add.",
             _fan_out),
    SlipRule("sign", "A flipped sign: your formula is minus the gradient (a subtraction "
             "negates the gradient to its right input: the gradient negator).", _sign),
    SlipRule("factor 2", "A factor 2 is {detail}: the local gradient of q² is 2q "
             "(∂f/∂q_i = 2q_i).", _missing_two, unless=("missing fan-out branch",)),
    SlipRule("factor 1/n", "The 1/n of the mean is {detail}: mean distributes upstream/n to "
             "every entry.", _missing_mean),
    SlipRule("constant factor", "Off by a constant factor: your formula is {detail} times the "
             "gradient.", _factor, unless=("missing fan-out branch",), consistent=True),
    SlipRule("missing batch sum", "The sum over the batch is missing: {target} was broadcast "
             "in {detail}, so its gradient is the sum of the upstream over the broadcast axis "
             "(the copy gate adds its branches; for a bias, the column sum).", _batch_sum),
    SlipRule("activation derivative at the wrong value", "The activation's derivative at the "
             "wrong value: {detail}. Its local gradient is taken at the gate's own input.",
             _activation),
)


def diagnose(contexts: list[_Context], deadline: float) -> tuple[list[Slip], str | None]:
    """Every slip that explains the claim at all the trials where it differs, and why the
    search stopped short, if it did (then a slip may have gone unnamed)."""
    found: list[Slip] = []
    if not contexts:
        return found, None
    for c in contexts:
        c.deadline = deadline
    first = contexts[0]
    target = first.claim.target
    if first.yours is not None and first.yours.shape != first.truth.shape:
        sizes = first.trial.sizes
        yours, truth = (in_letters(a.shape, sizes) for a in (first.yours, first.truth))
        found.append(Slip("wrong shape", f"Wrong shape: your formula is {yours}, d{target} is "
                          f"{truth} like {target}: a gradient has the shape of its variable."))
    found += _matching(SLIPS, contexts, found)
    if len(found) == 1 and found[0].name == "wrong shape" and first.yours is not None \
            and first.truth.ndim == 2 and first.yours.shape == first.truth.T.shape:
        # Two slips at once, as in x@(W@x).T for 2*(W@x)@x.T: transposed, and off by a factor.
        flipped = [replace(c, truth=c.truth.T, cut=c.cut) for c in contexts]
        more = _matching([r for r in SLIPS if r.name in VALUE_SLIPS], flipped, found)
        if more:
            found.append(Slip("transpose", SLIPS[0].sentence.format(
                detail="your formula is the transpose of the gradient, up to the slip below",
                target=target)))
            found += more
    unfit = None if found else _unfit(first)  # a slip that repairs it says more
    if unfit is not None:
        found.append(Slip("shapes do not fit", f"Your formula's shapes do not fit: {unfit}. "
                          "In a product A@B the inner sizes meet (m x n @ n x k); elementwise "
                          "operands have one shape (or broadcast)."))
    if first.expired():
        return found, "the search for the slip stopped at the budget; some slips were not tried"
    cut = sorted({rule for c in contexts for rule in c.cut})
    if cut:
        return found, (f"the search for the slip stopped after {MAX_PLACES} places per kind "
                       f"({', '.join(cut)}); some places were not tried")
    return found, None


def _unfit(c: _Context) -> str | None:
    """Where the claim's own shapes do not fit at this trial, in the user's letters:
    "`W@W` needs n = m: W is m x n and W is m x n"."""
    claim = c.claim.graph
    if claim is None or c.yours is not None:
        return None
    try:
        forward(claim, c.env)
    except InputError as exc:
        node = next((n for n in claim.nodes if n.inputs and n.start == exc.pos
                     and n.end == exc.end), None)
    else:
        return None
    if node is None:
        return None
    shapes = _shapes_before(claim, c.env, node.id)
    if shapes is None:
        return None
    sizes = c.trial.sizes
    said = " and ".join(f"{claim.text(j)} is {in_letters(s, sizes)}"
                        for j, s in zip(node.inputs, shapes))
    if node.op.name == "matmul" and len(shapes) == 2 and shapes[0] and shapes[1]:
        left = shapes[0][-1]
        right = shapes[1][0] if len(shapes[1]) < 2 else shapes[1][-2]
        return (f"`{claim.text(node.id)}` needs {letter(left, sizes)} = "
                f"{letter(right, sizes)}: {said}")
    return f"`{claim.text(node.id)}` cannot be computed: {said}"


def _shapes_before(claim: Graph, env: Mapping[str, Array], nid: int
                   ) -> list[tuple[int, ...]] | None:
    """The shapes of node ``nid``'s inputs (the nodes before it all fit)."""
    values: list[Array] = []
    with np.errstate(all="ignore"):
        for node in claim.nodes[:nid]:
            if node.op is VAR:
                values.append(env[node.name or ""])
            elif node.op is CONST:
                values.append(np.asarray(node.const, dtype=float))
            else:
                assert node.op.np_forward is not None
                try:
                    values.append(np.asarray(node.op.np_forward(np, *(values[j] for j in
                                                                   node.inputs))))
                except (ValueError, TypeError, IndexError):
                    return None
    return [np.shape(values[j]) for j in claim.nodes[nid].inputs]


# The slips that only scale the gradient: they combine with a transpose.
VALUE_SLIPS = ("sign", "factor 2", "factor 1/n", "constant factor")


def _matching(rules: Iterable[SlipRule], contexts: list[_Context],
              found: list[Slip]) -> list[Slip]:
    """The rules that explain every context, skipping those an earlier find explains."""
    target = contexts[0].claim.target
    out: list[Slip] = []
    for rule in rules:
        if any(f.name in rule.unless for f in (*found, *out)):
            continue
        details: list[str | None] = []
        for c in contexts:  # the first context it does not explain ends the rule's search
            details.append(rule.detect(c))
            if details[-1] is None:
                break
        if rule.consistent and (len(contexts) < 2 or len(set(details)) > 1):
            continue
        if len(details) == len(contexts) and all(d is not None for d in details):
            out.append(Slip(rule.name, rule.sentence.format(detail=details[0], target=target)))
    return out
