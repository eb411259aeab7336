"""Random shapes and points for a formula check, the truth at each, and when two values agree.

Points are drawn over the whole real line, both signs, and rejected only where the
expression cannot be computed: a NaN or an infinity in the forward or backward pass (the
core's DomainError says which node and why). Nothing is assumed about a domain from the
expression's text: `log(x^2)` and `sqrt(sum(x^2))` are defined for negative x, and a claim
that is right only for positive x must meet a negative one. A draw that falls outside the
domain is redrawn, first at the usual scale, then at other scales (small magnitudes and
large, both signs) and near the points found so far, up to MAX_DRAWS draws: a domain such as
`x > y`, `|x| < 1` or `tanh(y) > 0` is found on every seed.

Two values agree at the scale of the true gradient: |yours - truth| <= RTOL * max|truth| +
the float noise of the backward pass (NOISE times its largest upstream gradient, which is
where cancellation happens), and no absolute floor: a gradient of 1e-12 is compared at 1e-12.
A true gradient above its noise is never matched by 0.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ...core.arrays import Array, backward, dry_forward, forward
from ...core.errors import DomainError, InputError
from ...core.graph import Graph
from ...core.ops import VAR
from .claims import Claim, Shape, in_letters

RTOL = 1e-6  # relative to the true gradient's largest entry
NOISE = 64 * float(np.finfo(float).eps)  # float noise, relative to the largest upstream
DOMAIN_RETRIES = 8  # draws at the usual scale before other scales are tried
MAX_DRAWS = 256  # draws for one point before the domain is called empty
SCALE = 2.0  # the usual draw: uniform in [-2, 2], three significant digits
OTHER_SCALES = (1.0, 0.1, 10.0, 0.01, 100.0, 0.001, 1000.0, 1e4, 1e6)
# Work one second buys, for the estimate of a trial's cost (numpy on one core of a laptop,
# halved: an estimate that refuses a check must not refuse one that fits).
PRODUCTS_PER_SECOND = 5e9
ENTRIES_PER_SECOND = 1e8


def one_hot_inputs(graph: Graph) -> set[str]:
    """The labels of cross_entropy: drawn as one-hot rows, the only inputs not drawn freely."""
    nodes = graph.nodes
    return {nodes[node.inputs[1]].name or "" for node in nodes
            if node.op.name == "cross_entropy" and nodes[node.inputs[1]].op is VAR}


def draw_sizes(shapes: Mapping[str, Shape], rng: np.random.Generator,
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


def _readable(v: Array, scale: float) -> Array:
    """Three significant digits (a point one can read and type back), never exactly 0 (the
    kink of relu and abs)."""
    mag = np.where(v == 0.0, 1.0, np.abs(v))
    factor = 10.0 ** (2 - np.floor(np.log10(mag)))
    r = np.round(v * factor) / factor
    return np.where(r == 0.0, scale / 4, r)


def draw_point(graph: Graph, shapes: Mapping[str, Shape], sizes: Mapping[str, int],
               one_hot: set[str], rng: np.random.Generator, scale: float = SCALE,
               near: Mapping[str, Array] | None = None, spread: float = 0.5
               ) -> dict[str, Array]:
    """Every input, signed: uniform in [-scale, scale], or within ``spread`` (relative) of
    ``near`` where that point has the same shape."""
    point: dict[str, Array] = {}
    for name in graph.variables:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in shapes.get(name, ()))
        if name in one_hot:
            rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
            hot = np.zeros((rows, shape[-1] if shape else 1))
            hot[np.arange(rows), rng.integers(0, hot.shape[1], size=rows)] = 1.0
            point[name] = hot.reshape(shape)
            continue
        base = near.get(name) if near is not None else None
        if base is not None and base.shape == shape:
            width = spread * np.maximum(np.abs(base), 0.1)
            v = _readable(base + rng.uniform(-1.0, 1.0, size=shape) * width, scale)
        else:
            v = _readable(rng.uniform(-scale, scale, size=shape), scale)
        point[name] = np.asarray(v, dtype=float)
    return point


# ---------------------------------------------------------------- one trial


@dataclass
class Trial:
    """The expression at one point: its forward values, its backward pass, and the sizes."""

    point: dict[str, Array]
    sizes: dict[str, int]
    values: list[Array]
    upstream: list[Array | None]
    noise: float = 0.0  # the backward pass's float noise: NOISE x its largest upstream

    def grad(self, nid: int) -> Array:
        g = self.upstream[nid]
        return np.zeros_like(self.values[nid]) if g is None else g


def run_expression(graph: Graph, point: dict[str, Array], sizes: dict[str, int]) -> Trial:
    values = forward(graph, point)
    out = values[graph.output]
    if out.ndim:
        raise InputError(f"the output is {in_letters(out.shape, sizes)}, not a scalar: a gradient "
                         "formula is the gradient of a scalar loss", where="expression",
                         hint=f"reduce it, e.g. sum(G * ({graph.text(graph.output)})) with G "
                         "the upstream gradient (an input)")
    run = backward(graph, values, np.asarray(1.0))
    # The output's own seed (1) is left out: it is where every gradient starts, not a sum
    # whose terms can cancel (exp(x - 30) has no term larger than its gradient).
    largest = max((float(np.max(np.abs(u), initial=0.0)) for nid, u in enumerate(run.upstream)
                   if u is not None and nid != graph.output), default=0.0)
    return Trial(point, sizes, values, run.upstream, NOISE * largest)


def claim_env(claim: Claim, graph: Graph, trial: Trial) -> dict[str, Array]:
    """The claim's names at a trial: inputs, named intermediates, dimension letters."""
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


def claim_value(claim: Claim, graph: Graph, trial: Trial) -> Array:
    """The claim's value at a trial (DomainError outside its domain, InputError where its
    shapes do not fit)."""
    assert claim.graph is not None
    return forward(claim.graph, claim_env(claim, graph, trial))[claim.graph.output]


def close(a: Array | None, b: Array | None, noise: float = 0.0) -> bool:
    """Whether ``a`` is ``b`` at the scale of ``b``: within RTOL of its largest entry, plus
    ``noise`` (the float noise of the pass that computed ``b``); no absolute floor."""
    if a is None or b is None or np.shape(a) != np.shape(b):
        return False
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    size = float(np.max(np.abs(b), initial=0.0))
    return float(np.max(np.abs(a - b), initial=0.0)) <= RTOL * size + noise


# ---------------------------------------------------------------- finding points


class PointFinder:
    """Draws trials inside the expression's domain (and, with ``accept``, a claim's), at the
    usual scale first, then at other scales and near the points found so far."""

    def __init__(self, graph: Graph, shapes: Mapping[str, Shape], rng: np.random.Generator,
                 deadline: float) -> None:
        self.graph, self.shapes, self.rng, self.deadline = graph, shapes, rng, deadline
        self.one_hot = one_hot_inputs(graph)
        self.found: list[dict[str, Array]] = []  # the last few points inside the domain
        self.draws = 0

    def point(self, attempt: int, sizes: dict[str, int]) -> dict[str, Array]:
        if attempt < DOMAIN_RETRIES:
            return draw_point(self.graph, self.shapes, sizes, self.one_hot, self.rng)
        k = attempt - DOMAIN_RETRIES
        if self.found and k % 2 == 0:  # near a point found: a narrow domain, once found
            near = self.found[int(self.rng.integers(len(self.found)))]
            return draw_point(self.graph, self.shapes, sizes, self.one_hot, self.rng,
                              near=near, spread=0.5 ** (1 + (k // 2) % 12))
        scale = OTHER_SCALES[(k // 2) % len(OTHER_SCALES)]
        return draw_point(self.graph, self.shapes, sizes, self.one_hot, self.rng, scale)

    def find(self, small: bool = False,
             accept: Callable[[Trial], object] | None = None) -> Trial:
        """A trial inside the domain; DomainError naming the last reason when MAX_DRAWS draws
        (or the deadline, past the first DOMAIN_RETRIES) found none."""
        last: DomainError | None = None
        attempt = 0
        for attempt in range(MAX_DRAWS):
            if attempt >= DOMAIN_RETRIES and time.monotonic() > self.deadline:
                break
            sizes = draw_sizes(self.shapes, self.rng, small)
            point = self.point(attempt, sizes)
            self.draws += 1
            try:
                trial = run_expression(self.graph, point, sizes)
                if accept is not None:
                    accept(trial)
            except DomainError as exc:
                last = exc
                continue
            self.found = [*self.found[-7:], point]
            return trial
        assert last is not None
        raise DomainError(f"no point in the domain found in {attempt + 1} random draws (both "
                          f"signs, magnitudes {min(OTHER_SCALES):g} to {max(OTHER_SCALES):g}): "
                          f"{last.message}", where="point",
                          hint="give one with --at, or declare which inputs are arrays with "
                          "--shape")

    def candidates(self, count: int) -> list[dict[str, Array]]:
        """Points for sympy to try a difference at (not run here): one in three at the usual
        scale, the others in turn near the points found and at each other scale."""
        out = []
        for k in range(count):
            attempt = 0 if k % 3 == 0 else DOMAIN_RETRIES + (k - k // 3 - 1)
            out.append(self.point(attempt, draw_sizes(self.shapes, self.rng)))
        return out


def trial_seconds(graph: Graph, claims: Iterable[Graph], shapes: Mapping[str, Shape],
                  sizes: Mapping[str, int]) -> tuple[float, int]:
    """An estimate of one trial's time, from the shapes alone (the forward pass, a backward
    pass of about twice its work, each claim's forward pass), and its matrix products'
    multiply-adds; shape and size errors of the expression as its forward pass raises them."""
    concrete = {name: tuple(sizes[d] if isinstance(d, str) else d for d in s)
                for name, s in shapes.items()}
    products, entries = dry_forward(graph, concrete)
    products, entries = 3 * products, 3 * entries
    for claim in claims:
        env = {name: concrete.get(name, ()) for name in claim.variables}
        try:
            more = dry_forward(claim, env)
        except InputError:  # the claim's own shapes: said by the trial, in the user's letters
            continue
        products, entries = products + more[0], entries + more[1]
    return products / PRODUCTS_PER_SECOND + entries / ENTRIES_PER_SECOND, products
