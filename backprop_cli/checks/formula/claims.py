"""A formula check's input: shapes (`W=m,n`), claims (`dW = 2*(W@x)@x.T`, parsed with the
tool's own grammar, never evaluated as text), the shapes the expression fixes, and shapes
said in the user's letters."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ...core import args as api_args
from ...core.errors import InputError
from ...core.graph import Graph
from ...core.limits import LIMIT_HINT, size, too_many_entries
from ...core.ops import VAR
from ...core.parse import parse

Dim = int | str
Shape = tuple[Dim, ...]

_DIM = re.compile(r"\s*(?:([0-9]+)|([A-Za-z_][A-Za-z0-9_]*))\s*$")
_NAME = re.compile(r"[A-Za-z_\u0391-\u03a9\u03b1-\u03c9][A-Za-z0-9_\u0391-\u03a9\u03b1-\u03c9]*$")


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
    numbers = tuple(d for d in shape if isinstance(d, int))
    why = too_many_entries(numbers if len(numbers) == len(shape) else None, size(numbers), 0)
    if why is not None:
        raise InputError(f"array too large: --shape {name}: "
                         + why.replace("its result would be", "it would be", 1),
                         where="--shape", hint=LIMIT_HINT)


@dataclass
class Claim:
    text: str
    target: str
    formula: str
    graph: Graph | None  # None: the claim is a Python function's value (check_gradient)
    target_nid: int
    value: Callable[[Any], Any] | None = None  # that function, at one trial (points.Trial)


def parse_claim(text: str, graph: Graph, formula: str | None = None,
                letters: Iterable[str] = ()) -> Claim:
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
    return Claim(f"{key} = {body.strip()}", target, body.strip(), claim_graph, nid)


def _close_names(name: str, known: list[str]) -> list[str]:
    """w for W first (a letter's case is the likeliest slip), then difflib's near names."""
    same = [k for k in known if k.lower() == name.lower()]
    return same or difflib.get_close_matches(name, known, n=1)



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
                new = (other, shapes[known], f"{dims(shapes[known])} like {known}, from "
                       f"{name}({a}, {b})")
            if new is not None:
                shapes[new[0]] = new[1]
                notes.append(f"{new[0]} inferred: {new[2]}"
                             + (" (declare --shape x=n,1 for a column)"
                                if len(new[1]) == 1 and name == "matmul" else ""))
                changed = True
    return shapes, notes


def dims(shape: Shape) -> str:
    return "scalar" if not shape else "×".join(str(d) for d in shape)


def letter(k: int, sizes: Mapping[str, int]) -> str:
    """A size in the user's letters where it is one letter's draw (n, not 3), else the number."""
    named = [name for name, size in sizes.items() if size == k]
    return named[0] if len(named) == 1 else str(k)


def in_letters(shape: tuple[int, ...], sizes: Mapping[str, int]) -> str:
    """A shape in the user's letters where a size is one letter's draw: n x m, not 3 x 2."""
    said = [letter(k, sizes) for k in shape]
    if not said:
        return "a scalar"
    if len(said) == 1:
        return f"a vector of {said[0]}"
    return " x ".join(said)
