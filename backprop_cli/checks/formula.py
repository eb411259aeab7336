"""Checking a claimed gradient formula (`dW = 2*(W@x)@x.T`) and naming the slip when it is wrong.

The truth is backprop's own gradient (the array engine, whose rules the test suite proves
against sympy and finite differences), computed at random shapes and points: dimensions
written as letters (`--shape W=m,n`) are drawn for every trial, distinct from one another,
so that a transposed formula cannot pass on square matrices. A claim for scalars that holds
at every point is then proved with sympy, both sides built from parsed trees (never from
text). A claim that differs is compared with the likely slips of the lecture (``SLIPS``):
each is a transformation of the true gradient (its sign, a factor, a transpose, a missing
batch sum, a backward pass that drops a fan-out branch or evaluates an activation's
derivative at the wrong value), or, for the slips that change a formula's structure (a
product in the wrong order, `*` for `@`), the same transformation undone on the claim.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core import args as api_args
from ..core.arrays import Array, backward, forward, local_gradients, plain, unbroadcast, vjp
from ..core.errors import BackpropError, DomainError, InputError
from ..core.formatting import describe
from ..core.graph import Graph
from ..core.ops import CONST, VAR
from ..core.parse import parse
from ..core.point import as_point
from .timeout import call_within

DEFAULT_TRIALS = 24  # random shapes and points per claim: "a few dozen"
MIN_TRIALS = 4  # at least this many even past the time budget
TIME_BUDGET = 2.0  # seconds of random trials per call
RTOL = 1e-6
ATOL = 1e-9
DOMAIN_RETRIES = 8  # new points drawn when a point falls outside the expression's domain
DIAGNOSIS_BUDGET = 2.0  # seconds: a 10,000-way fan-out has 10,000 branches to leave out
PROOF_MAX_NODES = 300  # sympy proofs only for formulas this small (simplify can take long)

Dim = int | str
Shape = tuple[Dim, ...]

_DIM = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*))\s*$")
_NAME = re.compile(r"[A-Za-z_\u0391-\u03a9\u03b1-\u03c9][A-Za-z0-9_\u0391-\u03a9\u03b1-\u03c9]*$")


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class Slip:
    """A named slip and the sentence that explains it, in the lecture's words."""

    name: str
    sentence: str

    def to_dict(self) -> dict[str, str]:
        return {"slip": self.name, "sentence": self.sentence}


@dataclass
class Counterexample:
    """The first trial where a claim differs: shapes, point, your value, backprop's value."""

    shapes: dict[str, list[int]]
    point: dict[str, Any]
    yours: Any  # None: the formula could not be computed there (``note`` says why)
    correct: Any
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"shapes": self.shapes, "point": self.point, "yours": self.yours,
                "correct": self.correct, "note": self.note}


@dataclass
class ClaimCheck:
    """One claim's verdict: ``proved`` (sympy), ``holds`` (at ``trials`` points) or ``differs``."""

    claim: str
    target: str
    formula: str
    verdict: str = "holds"
    trials: int = 0
    shapes_tried: list[dict[str, list[int]]] = field(default_factory=list)
    counterexample: Counterexample | None = None
    diagnosis: list[Slip] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.verdict != "differs"

    def describe(self) -> str:
        if self.verdict == "proved":
            return "proved by sympy"
        if self.verdict == "holds":
            return f"holds at {self.trials} point{'s' if self.trials != 1 else ''}"
        return "differs"

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "target": self.target, "formula": self.formula,
                "verdict": self.verdict, "summary": self.describe(), "trials": self.trials,
                "shapes_tried": self.shapes_tried,
                "counterexample": self.counterexample.to_dict() if self.counterexample else None,
                "diagnosis": [s.to_dict() for s in self.diagnosis], "notes": self.notes}


@dataclass
class FormulaReport:
    expression: str
    claims: list[ClaimCheck]
    shapes: dict[str, list[Dim]]  # declared and inferred; undeclared names are scalars
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.claims)

    def to_dict(self) -> dict[str, Any]:
        return {"expression": self.expression, "ok": self.ok, "shapes": self.shapes,
                "notes": self.notes, "claims": [c.to_dict() for c in self.claims]}


# ---------------------------------------------------------------- input


def parse_shapes(texts: Iterable[str] | Mapping[str, Any] | None) -> dict[str, Shape]:
    """`W=m,n` (one option each) or {"W": "m,n"} / {"W": (3, "n")} -> {"W": (m, n)}."""
    if texts is None:
        return {}
    items: list[tuple[str, Any]] = []
    if isinstance(texts, Mapping):
        items = list(texts.items())
    else:
        for text in api_args.strings(texts, "--shape"):
            name, eq, dims = text.partition("=")
            if not eq:
                raise InputError(f"--shape '{text}' has no '='", where="--shape",
                                 hint="write it as --shape W=m,n (dimensions are numbers or "
                                 "letters)")
            items.append((name.strip(), dims))
    shapes: dict[str, Shape] = {}
    for name, dims in items:
        if not _NAME.match(name):
            raise InputError(f"--shape: '{name}' is not a name", where="--shape",
                             hint="write it as --shape W=m,n")
        if name in shapes:
            raise InputError(f"--shape gives '{name}' twice", where="--shape")
        parts = dims.split(",") if isinstance(dims, str) else list(dims)
        shape: list[Dim] = []
        for part in parts:
            if isinstance(part, int) and not isinstance(part, bool):
                text = str(part)
            else:
                text = str(part)
            m = _DIM.match(text)
            if m is not None and m.group(1) is not None and len(m.group(1).lstrip("0")) > 30:
                raise InputError(f"array too large: --shape {name}: a dimension of "
                                 f"{len(m.group(1).lstrip('0')):,} digits", where="--shape")
            if m is None or (m.group(1) is not None and int(m.group(1)) < 1):
                raise InputError(f"--shape {name}: '{text.strip()}' is not a dimension",
                                 where="--shape", hint="a dimension is a positive whole "
                                 "number or a letter: --shape W=m,n --shape x=n,1")
            shape.append(int(m.group(1)) if m.group(1) is not None else m.group(2))
        if not 1 <= len(shape) <= 2:
            raise InputError(f"--shape {name}: {len(shape)} dimensions; vectors have 1 and "
                             "matrices 2", where="--shape", hint="e.g. --shape x=n,1 for a column")
        _within_limit(name, shape)
        shapes[name] = tuple(shape)
    return shapes


def _within_limit(name: str, shape: list[Dim]) -> None:
    """The array limit, from the declared numbers alone, before anything is drawn: a
    15000x15000 matrix is refused here, not after numpy allocated 1.8 GB for it (a letter is
    drawn small, and counted as 1)."""
    from ..core.limits import LIMIT_HINT, size, too_many_entries

    numbers = tuple(d for d in shape if isinstance(d, int))
    why = too_many_entries(numbers if len(numbers) == len(shape) else None, size(numbers), 0)
    if why is not None:
        raise InputError(f"array too large: --shape {name}: "
                         + why.replace("its result would be", "it would be", 1),
                         where="--shape", hint=LIMIT_HINT)


@dataclass
class _Claim:
    text: str
    target: str
    formula: str
    graph: Graph | None  # None: the claim is a Python function's value (check_gradient)
    target_nid: int
    value: Callable[[_Trial], Any] | None = None  # that function, at one trial


def parse_claim(text: str, graph: Graph, formula: str | None = None,
                letters: Iterable[str] = ()) -> _Claim:
    """`dW = 2*q@x.T` (or a target and ``formula``), parsed with the tool's own grammar.
    The formula may use the inputs, the named intermediates and the dimension letters of
    the shapes (`2*q@x.T/m`: m is the size drawn for that trial)."""
    source = text if formula is None else f"{text} = {formula}"
    key, eq, body = source.partition("=")
    key = key.strip()
    if not eq or not _NAME.match(key) or not key.startswith("d") or len(key) < 2:
        raise InputError(f"the claim '{source.strip()}' does not say which gradient it gives",
                         source=source, pos=0, where="claim",
                         hint="write it as dNAME = FORMULA, e.g. 'dx = 2*x' or "
                         "'dW = 2*(W@x)@x.T'")
    offset = len(source) - len(body)
    try:
        claim_graph = parse(body)
    except InputError as exc:  # positions in the whole claim, as the user typed it
        exc.message = exc.message.replace("expression:", "claim:", 1)
        exc.where, exc.source = "claim", source
        exc.pos = None if exc.pos is None else exc.pos + offset
        exc.end = None if exc.end is None else exc.end + offset
        raise
    target = key[1:]
    known = [*graph.variables, *graph.named]
    if target not in known:
        close = _close_names(target, known)
        hint = f"did you mean d{close[0]}?" if close else (
            "claims are for the inputs and named intermediates: "
            + ", ".join(f"d{k}" for k in known))
        raise InputError(f"the claim '{source.strip()}' is for '{target}', which is not in the "
                         "expression", source=source, pos=source.index(key),
                         end=source.index(key) + len(key), where="claim", hint=hint)
    for name, nid in claim_graph.variables.items():
        if name not in known and name not in letters:
            node = claim_graph.nodes[nid]
            close = _close_names(name, known)
            hint = f"did you mean {close[0]}?" if close else (
                "a formula may use the inputs and named intermediates: " + ", ".join(known))
            raise InputError(f"unknown name '{name}' in the claim", source=source,
                             pos=node.start + offset, end=node.end + offset, where="claim",
                             hint=hint)
    nid = graph.variables.get(target, graph.named.get(target, -1))
    return _Claim(f"{key} = {body.strip()}", target, body.strip(), claim_graph, nid)


def _close_names(name: str, known: list[str]) -> list[str]:
    """w for W first (a letter's case is the likeliest slip), then difflib's near names."""
    same = [k for k in known if k.lower() == name.lower()]
    return same or difflib.get_close_matches(name, known, n=1)


# ---------------------------------------------------------------- shapes and points


def infer_shapes(graph: Graph, declared: Mapping[str, Shape]) -> tuple[dict[str, Shape],
                                                                        list[str]]:
    """Undeclared inputs whose shape the expression fixes: the inner size of `@`, the other
    vector of `dot`, the labels of `cross_entropy`. Everything else undeclared is a scalar."""
    shapes = dict(declared)
    notes: list[str] = []
    nodes = graph.nodes

    def var(j: int) -> str | None:
        node = nodes[j]
        return node.name if node.op is VAR else None

    changed = True
    while changed:
        changed = False
        for node in nodes:
            if len(node.inputs) != 2:
                continue
            a, b = (var(j) for j in node.inputs)
            if a is None or b is None:
                continue
            name = node.op.name
            new: tuple[str, Shape, str] | None = None
            if name == "matmul" and a in shapes and b not in shapes:
                new = (b, (shapes[a][-1],), f"a vector of {shapes[a][-1]}, from {a}@{b}")
            elif name == "matmul" and b in shapes and a not in shapes:
                new = (a, (shapes[b][0],), f"a vector of {shapes[b][0]}, from {a}@{b}")
            elif name in ("dot", "cross_entropy") and (a in shapes) != (b in shapes):
                known, other = (a, b) if a in shapes else (b, a)
                new = (other, shapes[known], f"{_dims(shapes[known])} like {known}, from "
                       f"{name}({a}, {b})")
            if new is not None:
                shapes[new[0]] = new[1]
                notes.append(f"{new[0]} inferred: {new[2]}"
                             + (" (declare --shape x=n,1 for a column)"
                                if len(new[1]) == 1 and name == "matmul" else ""))
                changed = True
    return shapes, notes


def _dims(shape: Shape) -> str:
    return "scalar" if not shape else "×".join(str(d) for d in shape)


@dataclass
class _Domain:
    positive: set[str]  # feeds log, sqrt or a fractional power
    one_hot: set[str]  # the labels of cross_entropy


# Ops whose output is positive when their inputs are: log(W@x + b) gets positive W, x and b.
_KEEPS_POSITIVE = frozenset({"add", "mul", "div", "matmul", "sum", "mean", "transpose", "id",
                             "dot", "outer", "pow", "sqrt"})


def _domain(graph: Graph) -> _Domain:
    positive: set[str] = set()
    one_hot: set[str] = set()
    nodes = graph.nodes
    for node in nodes:
        name = node.op.name
        ins = [nodes[j] for j in node.inputs]
        needs = name in ("log", "sqrt") or (
            name == "pow" and ins[1].op is CONST and ins[1].const != int(ins[1].const))
        if needs:
            # The variables under the argument, through ops that keep a value positive
            # (iterative: a long sum under a log is not a deep recursion).
            stack, seen = [node.inputs[0]], set()
            while stack:
                j = stack.pop()
                if j in seen:
                    continue
                seen.add(j)
                arg = nodes[j]
                if arg.op is VAR:
                    positive.add(arg.name or "")
                elif arg.op.name in _KEEPS_POSITIVE:
                    stack.extend(arg.inputs[:1] if arg.op.name == "pow" else arg.inputs)
        if name == "cross_entropy" and ins[1].op is VAR:
            one_hot.add(ins[1].name or "")
    return _Domain(positive, one_hot)


def _draw_sizes(shapes: Mapping[str, Shape], rng: np.random.Generator,
                small: bool = False) -> dict[str, int]:
    """One size per letter, distinct from each other and from the declared numbers; with
    ``small``, the smallest such sizes (the first trial: a counterexample one can read)."""
    letters = sorted({d for s in shapes.values() for d in s if isinstance(d, str)})
    numbers = {d for s in shapes.values() for d in s if isinstance(d, int)}
    pool = [k for k in range(2, 2 + len(letters) + len(numbers) + (0 if small else 4))
            if k not in numbers][:len(letters) if small else None]
    picked: list[int] = [int(k) for k in rng.choice(pool, size=len(letters), replace=False)] \
        if letters else []
    return dict(zip(letters, picked))


def _draw_point(graph: Graph, shapes: Mapping[str, Shape], sizes: Mapping[str, int],
                domain: _Domain, rng: np.random.Generator) -> dict[str, Array]:
    point: dict[str, Array] = {}
    for name in graph.variables:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in shapes.get(name, ()))
        if name in domain.one_hot:
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            hot = np.zeros((rows, shape[-1] if shape else 1))
            hot[np.arange(rows), rng.integers(0, hot.shape[1], size=rows)] = 1.0
            point[name] = hot.reshape(shape)
            continue
        if name in domain.positive:
            v = np.round(rng.uniform(0.2, 2.0, size=shape), 2)
        else:
            v = np.round(rng.uniform(-2.0, 2.0, size=shape), 2)
            v = np.where(v == 0.0, 0.5, v)  # away from relu's and abs's kink
        point[name] = np.asarray(v, dtype=float)
    return point


# ---------------------------------------------------------------- one trial


@dataclass
class _Trial:
    """The expression at one point: its forward values, its backward pass, and the sizes."""

    point: dict[str, Array]
    sizes: dict[str, int]
    values: list[Array]
    upstream: list[Array | None]

    def grad(self, nid: int) -> Array:
        g = self.upstream[nid]
        return np.zeros_like(self.values[nid]) if g is None else g


def _run_expression(graph: Graph, point: dict[str, Array], sizes: dict[str, int]) -> _Trial:
    values = forward(graph, point)
    out = values[graph.output]
    if out.ndim:
        raise InputError(f"the output is {in_letters(out.shape, sizes)}, not a scalar: a gradient "
                         "formula is the gradient of a scalar loss", where="expression",
                         hint=f"reduce it, e.g. sum(G * ({graph.text(graph.output)})) with G "
                         "the upstream gradient (an input)")
    run = backward(graph, values, np.asarray(1.0))
    return _Trial(point, sizes, values, run.upstream)


def _claim_env(claim: _Claim, graph: Graph, trial: _Trial) -> dict[str, Array]:
    env: dict[str, Array] = {}
    if claim.graph is None:
        return env
    for name in claim.graph.variables:
        if name in graph.variables:
            env[name] = trial.point[name]
        elif name in graph.named:
            env[name] = trial.values[graph.named[name]]
        else:  # a dimension letter: its size at this trial
            env[name] = np.asarray(float(trial.sizes.get(name, np.nan)))
    return env


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


def _backward_slipped(graph: Graph, trial: _Trial, target: int, *,
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
    claim: _Claim
    trial: _Trial
    env: dict[str, Array]
    truth: Array
    yours: Array | None  # None: the claim could not be computed here
    deadline: float = float("inf")  # time.perf_counter() past which slips stop searching

    def expired(self) -> bool:
        return time.perf_counter() > self.deadline

    def same(self, candidate: Array | None) -> bool:
        return _close(self.yours, candidate)

    def repaired(self, tweak: Tweak) -> bool:
        """Whether the claim with this change gives the true gradient."""
        if self.claim.graph is None:
            return False
        return _close(_forward_tweaked(self.claim.graph, self.env, tweak), self.truth)

    def claim_nodes(self, *names: str) -> list[int]:
        nodes = self.claim.graph.nodes if self.claim.graph is not None else []
        return [n.id for n in nodes if n.op.name in names]


def _close(a: Array | None, b: Array | None) -> bool:
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    return bool(np.allclose(a, b, rtol=RTOL, atol=ATOL * scale * 1e3))


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
    if not np.isfinite(ratio) or ratio in (0.0,) or _close(np.asarray(abs(ratio)), np.asarray(1.0)):
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
    for nid in c.claim_nodes("transpose"):
        if c.repaired((nid, "untranspose")):
            return f"without the .T of `{claim.text(nid)}` it holds"
    nodes = claim.nodes
    for node in nodes:
        for pos, j in enumerate(node.inputs):
            leaf = nodes[j]
            if leaf.op is VAR and c.env[leaf.name or ""].ndim == 2 \
                    and c.repaired((node.id, f"T{pos}")):
                return (f"{leaf.name}.T is missing in `{claim.text(node.id)}` (with "
                        f"{leaf.name}.T in place of {leaf.name} it holds)")
    return None


def _order(c: _Context) -> str | None:
    claim = c.claim.graph
    for nid in c.claim_nodes("matmul"):
        if claim is not None and c.repaired((nid, "swap")):
            a, b = (claim.text(j) for j in claim.nodes[nid].inputs)
            return f"`{a} @ {b}` should be `{b} @ {a}`"
    return None


def _product_kind(c: _Context) -> str | None:
    claim = c.claim.graph
    if claim is None:
        return None
    for nid in c.claim_nodes("mul"):
        if c.repaired((nid, "matmul")):
            return f"`{claim.text(nid)}` is elementwise where a matrix product belongs"
    for nid in c.claim_nodes("matmul"):
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
    for node in c.graph.nodes:
        if c.expired():
            return None
        for what, local in _WRONG_LOCALS.get(node.op.name, ()):
            if c.same(_backward_slipped(c.graph, c.trial, c.claim.target_nid,
                                        local_at=(node.id, local))):
                return f"{node.op.name} in `{c.graph.text(node.id)}`: {what}"
    return None


def _fan_out(c: _Context) -> str | None:
    for j, uses in c.graph.fan_outs().items():
        for consumer, pos in uses:
            if c.expired():
                return None
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


def diagnose(contexts: list[_Context], budget: float = DIAGNOSIS_BUDGET
             ) -> tuple[list[Slip], bool]:
    """Every slip that explains the claim at all the trials where it differs, and whether the
    search stopped at the time budget (then a slip may have gone unnamed)."""
    found: list[Slip] = []
    if not contexts:
        return found, False
    deadline = time.perf_counter() + budget
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
        flipped = [replace(c, truth=c.truth.T) for c in contexts]
        more = _matching([r for r in SLIPS if r.name in _VALUE_SLIPS], flipped, found)
        if more:
            found.append(Slip("transpose", SLIPS[0].sentence.format(
                detail="your formula is the transpose of the gradient, up to the slip below",
                target=target)))
            found += more
    return found, first.expired()


# The slips that only scale the gradient: they combine with a transpose.
_VALUE_SLIPS = ("sign", "factor 2", "factor 1/n", "constant factor")


def _matching(rules: Iterable[SlipRule], contexts: list[_Context],
              found: list[Slip]) -> list[Slip]:
    """The rules that explain every context, skipping those an earlier find explains."""
    target = contexts[0].claim.target
    out: list[Slip] = []
    for rule in rules:
        if any(f.name in rule.unless for f in (*found, *out)):
            continue
        details = [rule.detect(c) for c in contexts]
        if rule.consistent and (len(contexts) < 2 or len(set(details)) > 1):
            continue
        if all(d is not None for d in details):
            out.append(Slip(rule.name, rule.sentence.format(detail=details[0], target=target)))
    return out


def in_letters(shape: tuple[int, ...], sizes: Mapping[str, int]) -> str:
    """A shape in the user's letters where a size is one letter's draw: n x m, not 3 x 2."""
    by_size: dict[int, list[str]] = {}
    for letter, k in sizes.items():
        by_size.setdefault(k, []).append(letter)
    dims = [by_size[k][0] if len(by_size.get(k, [])) == 1 else str(k) for k in shape]
    if not dims:
        return "a scalar"
    if len(dims) == 1:
        return f"a vector of {dims[0]}"
    return " x ".join(dims)


# ---------------------------------------------------------------- sympy proof (scalars)


def _prove(graph: Graph, claim: _Claim) -> bool:
    """sympy shows the claim equal to d out / d target: both built node by node."""
    from . import symbolic

    formula = claim.graph
    assert formula is not None

    def work() -> bool:
        import sympy as sp

        real: list[Any] = []
        held: list[Any] = []  # the target held as a symbol of its own
        hold = sp.Dummy("target", real=True)
        for node in graph.nodes:
            for exprs in (real, held):
                if node.op is VAR:
                    e = symbolic.symbol(node.name or "")
                elif node.op is CONST:
                    e = symbolic.exact(node.literal)
                else:
                    e = node.op.sympy(symbolic.SP, *(exprs[j] for j in node.inputs))
                exprs.append(e)
            held[-1] = hold if node.id == claim.target_nid else held[-1]
        truth = sp.diff(held[graph.output], hold).xreplace({hold: real[claim.target_nid]})
        mine: list[Any] = []
        for node in formula.nodes:
            if node.op is VAR:
                name = node.name or ""
                e = symbolic.symbol(name) if name in graph.variables \
                    else real[graph.named[name]]
            elif node.op is CONST:
                e = symbolic.exact(node.literal)
            else:
                e = node.op.sympy(symbolic.SP, *(mine[j] for j in node.inputs))
            mine.append(e)
        difference = mine[formula.output] - truth
        return bool(difference == 0 or sp.simplify(difference) == 0)

    try:
        return symbolic.run_deep(work)
    except (TypeError, ValueError, AttributeError, RecursionError):
        return False


# ---------------------------------------------------------------- the check


def check_formula(expression: str, claims: Mapping[str, str] | Iterable[str] | str, *,
                  shapes: Mapping[str, Any] | Iterable[str] | None = None,
                  at: Mapping[str, Any] | str | Iterable[str] | None = None,
                  trials: int = DEFAULT_TRIALS, seed: int = 0,
                  time_budget: float = TIME_BUDGET, grading: bool = False) -> FormulaReport:
    """Check claimed gradient formulas of ``expression``.

    ``claims``: {"dW": "2*(W@x)@x.T"}, or texts "dW = 2*(W@x)@x.T". ``shapes``: {"W": "m,n",
    "x": "n,1"} or texts "W=m,n"; letters are drawn at random for each trial, distinct from
    one another; undeclared names are scalars (or inferred: the inner size of @). ``at``: one
    more point, checked first. Raises InputError for bad input; never evaluates user text.
    ``grading``: a claim that cannot be computed at any point tried (log of a negative) is a
    claim that differs, not an error, so a grader still grades the other answers.
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


def _run(expression: str, graph: Graph, parsed: list[_Claim], declared: dict[str, Shape],
         at: Mapping[str, Any] | str | Iterable[str] | None, trials: int, seed: int,
         time_budget: float, grading: bool = False) -> FormulaReport:
    """The trials shared by every claim, then each claim's verdict, diagnosis or proof."""
    seed = api_args.whole(seed, "seed")  # numpy's generators: a whole number from 0
    time_budget = api_args.number(time_budget, "time_budget", positive=True)
    for name in declared:
        if name not in graph.variables:
            hint = "only inputs have shapes; " + (f"did you mean {c[0]}?" if (
                c := difflib.get_close_matches(name, list(graph.variables), n=1)) else
                "the inputs are " + ", ".join(graph.variables))
            raise InputError(f"--shape gives a shape for '{name}', which is not an input of "
                             "the expression", where="--shape", hint=hint)
    all_shapes, notes = infer_shapes(graph, declared)
    domain = _domain(graph)
    rng = np.random.default_rng(seed)
    results = [ClaimCheck(c.text, c.target, c.formula) for c in parsed]
    contexts: list[list[_Context]] = [[] for _ in parsed]
    skipped = [0] * len(parsed)
    points = _given_point(graph, at, all_shapes)
    start = time.perf_counter()
    done = 0
    while done < trials:
        if done >= MIN_TRIALS and time.perf_counter() - start > time_budget:
            notes.append(f"stopped after {done} trials: the time budget is {time_budget:g} s")
            break
        trial = points.pop(0) if points else _random_trial(graph, all_shapes, domain, rng,
                                                           small=done == 0)
        done += 1
        for k, claim in enumerate(parsed):
            _check_claim(graph, claim, trial, results[k], contexts[k], skipped, k)
    for k, (claim, res) in enumerate(zip(parsed, results)):
        if res.trials == 0 and res.verdict != "differs":
            why = (f"the claim '{claim.text}' cannot be computed at any of the {done} points "
                   "tried (outside its domain)")
            if not grading:
                raise DomainError(why, where="claim",
                                  hint="check the formula's logs, square roots and divisions")
            res.verdict = "differs"
            res.notes.append(why)
            continue
        if skipped[k]:
            res.notes.append(f"{skipped[k]} point(s) outside the formula's domain skipped")
        if res.verdict == "differs":
            res.diagnosis, stopped = diagnose(contexts[k])
            if stopped:
                res.notes.append(f"the search for the slip stopped after {DIAGNOSIS_BUDGET:g} s "
                                 "(budget); some slips were not tried")
            elif not res.diagnosis:
                res.notes.append("no known slip explains the difference")
        elif claim.graph is not None and not graph.uses_arrays() and not all_shapes \
                and not claim.graph.uses_arrays():
            if len(graph.nodes) + len(claim.graph.nodes) > PROOF_MAX_NODES:
                res.notes.append(f"no sympy proof: more than {PROOF_MAX_NODES} nodes (budget)")
            elif _prove(graph, claim):
                res.verdict = "proved"
            else:
                res.notes.append("sympy could not show it equal in general; checked at points")
    report_shapes = {name: list(s) for name, s in all_shapes.items()}
    return FormulaReport(expression, results, report_shapes, notes)


def _given_point(graph: Graph, at: Mapping[str, Any] | str | Iterable[str] | None,
                 shapes: Mapping[str, Shape]) -> list[_Trial]:
    """The --at point as the first trial; its arrays must fit the declared shapes."""
    if at is None:
        return []
    point = as_point(at)
    env = {name: np.asarray(v, dtype=float) for name, v in point.values.items()}
    env.update({name: np.array(v.values, dtype=float).reshape(v.shape)
                for name, v in point.arrays.items()})
    from ..core.point import match

    match(graph, env)
    sizes: dict[str, int] = {}
    for name, shape in shapes.items():
        given = env[name].shape
        if len(given) != len(shape) or any(
                isinstance(d, int) and d != k for d, k in zip(shape, given)):
            raise InputError(f"--at gives {name} as {describe(given)}, but its shape is "
                             f"{_dims(shape)}", where="--at")
        for d, k in zip(shape, given):
            if isinstance(d, str) and sizes.setdefault(d, k) != k:
                raise InputError(f"--at: the dimension {d} is {sizes[d]} in one input and "
                                 f"{k} in {name}", where="--at")
    return [_run_expression(graph, env, sizes)]


def _random_trial(graph: Graph, shapes: Mapping[str, Shape], domain: _Domain,
                  rng: np.random.Generator, small: bool = False) -> _Trial:
    last: BackpropError | None = None
    for _ in range(DOMAIN_RETRIES):
        sizes = _draw_sizes(shapes, rng, small)
        point = _draw_point(graph, shapes, sizes, domain, rng)
        try:
            return _run_expression(graph, point, sizes)
        except DomainError as exc:
            last = exc
    assert last is not None
    raise DomainError(f"no point in the expression's domain found in {DOMAIN_RETRIES} random "
                      f"tries: {last.message}", where="point",
                      hint="give one with --at, or declare which inputs are arrays with --shape")


def _check_claim(graph: Graph, claim: _Claim, trial: _Trial, res: ClaimCheck,
                 contexts: list[_Context], skipped: list[int], k: int) -> None:
    env = _claim_env(claim, graph, trial)
    truth = trial.grad(claim.target_nid)
    yours: Array | None
    note = ""
    try:
        if claim.graph is None:  # the user's function: its errors are its own, not caught
            assert claim.value is not None
            yours = None
        else:
            yours = forward(claim.graph, env)[claim.graph.output]
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
    if yours is not None and _close(yours, truth):
        return
    res.verdict = "differs"
    if res.counterexample is None:
        res.counterexample = Counterexample(
            shapes, {name: plain(v) for name, v in trial.point.items()},
            plain(yours) if yours is not None else None, plain(truth), note)
    if len(contexts) < 3:
        contexts.append(_Context(graph, claim, trial, env, truth, yours))


def check_gradient(expression: str, fn: Callable[..., Any], *,
                   shapes: Mapping[str, Any] | Iterable[str] | None = None,
                   at: Mapping[str, Any] | str | Iterable[str] | None = None,
                   wrt: Iterable[str] | None = None, trials: int = DEFAULT_TRIALS,
                   seed: int = 0, time_budget: float = TIME_BUDGET) -> FormulaReport:
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

    def value(name: str) -> Callable[[_Trial], Array]:
        def at_trial(trial: _Trial) -> Array:
            if last[0] is not trial:
                inputs = {n: float(v) if v.ndim == 0 else v.copy()
                          for n, v in trial.point.items()}
                out = call_within(time_budget, fn, label, **inputs)
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

    parsed = [_Claim(f"d{n} = {label}(...)['{n}']", n, label, None,
                     graph.variables.get(n, graph.named.get(n, -1)), value(n))
              for n in targets]
    return _run(expression, graph, parsed, parse_shapes(shapes), at, trials, seed, time_budget)


__all__ = ["SLIPS", "ClaimCheck", "Counterexample", "FormulaReport", "Slip", "SlipRule",
           "check_formula", "check_gradient", "diagnose", "infer_shapes", "parse_claim",
           "parse_shapes"]
