"""The four benchmark families of issue 12, as written there: text and a point for ~n nodes.

(benchmarks/bench.py uses these for the engine and peer comparison; another branch adds a
shared benchmarks/families.py for the checks, built from the same definitions.)

- sum: ``x1*y1 + ... + xk*yk``, 2k inputs in [-1, 1] (10,000 nodes: k = 2,500);
- chain: ``tanh(sigmoid(tanh(... tanh(x + 1) ...) + 1) + 1)``, levels alternating tanh and
  sigmoid, each adding 1, x = 0.5 (10,000 nodes: 3,333 levels);
- tree: a balanced binary tree of n/2 leaves over 8 inputs ``a``..``h`` in [0.3, 0.7], ``+``
  and ``*`` alternating with the height of the node;
- MLP: ``sigmoid(v1*tanh(w1_1*x1 + ... + w1_h*xh + b1) + ... + vh*tanh(...))``, h inputs and h
  hidden units (10,000 nodes: h = 57, 3,420 inputs), weights in ±1/sqrt(h).

Values are rounded to 4 decimals and never 0; everything is deterministic. With a ``seed``
(benchmarks/first_call.py's instances) sum, chain and MLP draw their values by it, and the
leaves too: sum pairs each x with a drawn y, chain draws tanh or sigmoid at each level, each
MLP unit reads the inputs in a drawn order (the tree's seeded form is tree_slice.seeded_tree).
Without one they are issue 12's instances, as before.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

Case = tuple[str, dict[str, float]]


def _value(rng: random.Random, lo: float, hi: float) -> float:
    while True:
        v = round(rng.uniform(lo, hi), 4)
        if v != 0.0:
            return v


def sum_family(n: int, seed: int | None = None) -> Case:
    k = max(1, (n + 1) // 4)
    rng = random.Random(1 if seed is None else seed)
    point: dict[str, float] = {}
    for i in range(1, k + 1):
        point[f"x{i}"] = _value(rng, -1, 1)
        point[f"y{i}"] = _value(rng, -1, 1)
    pair = list(range(1, k + 1))
    if seed is not None:
        rng.shuffle(pair)
    return " + ".join(f"x{i}*y{j}" for i, j in zip(range(1, k + 1), pair)), point


def chain_family(n: int, seed: int | None = None) -> Case:
    levels = max(1, n // 3)
    names = ("tanh", "sigmoid")
    if seed is None:
        # The innermost level is tanh: level i (from the inside, 0-based) is names[i % 2].
        ops, x = [names[i % 2] for i in range(levels)], 0.5
    else:
        rng = random.Random(seed)
        ops, x = [rng.choice(names) for _ in range(levels)], _value(rng, -1, 1)
    opens = "".join(op + "(" for op in reversed(ops))
    return opens + "x + 1)" + " + 1)" * (levels - 1), {"x": x}


def tree_family(n: int) -> Case:
    leaves = max(2, n // 2)
    names = "abcdefgh"
    rng = random.Random(3)
    point = {name: _value(rng, 0.3, 0.7) for name in names}
    level = [names[i % 8] for i in range(leaves)]
    height = 1
    while len(level) > 1:
        op = "+" if height % 2 else "*"
        nxt = [f"({level[i]}{op}{level[i + 1]})" for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
        height += 1
    return level[0], point


def mlp_family(n: int, seed: int | None = None) -> Case:
    # 3h^2 + 6h nodes: h^2 weights, h^2 products, h^2 - 1 + h adds, ...
    h = max(1, round((-6 + math.sqrt(36 + 12 * n)) / 6))
    rng = random.Random(4 if seed is None else seed)
    scale = 1 / math.sqrt(h)
    point: dict[str, float] = {}
    for i in range(1, h + 1):
        point[f"x{i}"] = _value(rng, -1, 1)
    units = []
    for j in range(1, h + 1):
        terms = []
        order = list(range(1, h + 1))
        if seed is not None:
            rng.shuffle(order)
        for i in order:
            point[f"w{j}_{i}"] = _value(rng, -scale, scale)
            terms.append(f"w{j}_{i}*x{i}")
        point[f"b{j}"] = _value(rng, -0.1, 0.1)
        point[f"v{j}"] = _value(rng, -scale, scale)
        units.append(f"v{j}*tanh({' + '.join(terms)} + b{j})")
    return f"sigmoid({' + '.join(units)})", point


ENGINE_FAMILIES: dict[str, Callable[..., Case]] = {
    "sum": sum_family,
    "chain": chain_family,
    "tree": tree_family,
    "MLP": mlp_family,
}
