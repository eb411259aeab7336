"""The same work as `backprop` in its peers: micrograd and PyTorch autograd, from the same text.

Each peer starts from the expression text, exactly as `backprop` does: a Lark LALR parse with
the project's own grammar (building Lark's parse tree, no inline transformer), an iterative
walk of that tree that builds the peer's graph (which runs the forward pass as it goes), then
the peer's backward pass. Neither peer is needed by the tool or its tests; this module is
imported by benchmarks/bench.py only when they are installed.

micrograd (https://github.com/karpathy/micrograd) has +, -, *, /, ** (number exponent) and
relu; the functions the benchmark's expressions use (tanh, sigmoid, exp, log) are added here in
micrograd's own style: a new Value whose ``_backward`` closure applies the chain rule. Its
``backward`` builds a topological order with a recursive function, so deep graphs raise
RecursionError at Python's default limit; the benchmark records that instead of crashing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, ClassVar

from lark import Lark, Token, Tree

from backprop_cli.core.parse import load_grammar


@lru_cache(maxsize=1)
def tree_parser() -> Lark:
    """The project's grammar as a plain LALR parser that builds a tree (what a peer would do)."""
    return Lark(load_grammar(), parser="lalr", start="program")


def parse_tree(text: str) -> Tree[Any]:
    return tree_parser().parse(text)


class Ops:
    """How one peer makes leaves and applies each op (keys are the grammar's aliases)."""

    def var(self, name: str, value: float) -> Any:
        raise NotImplementedError

    def const(self, value: float) -> Any:
        raise NotImplementedError

    table: ClassVar[dict[str, Callable[..., Any]]] = {}


def build(tree: Tree[Any], ops: Ops, point: dict[str, float]) -> tuple[Any, dict[str, Any]]:
    """Walk the parse tree iteratively (post-order), building the peer's graph.

    Returns the output and the leaf of every input variable (to read gradients from).
    """
    leaves: dict[str, Any] = {}
    named: dict[str, Any] = {}
    out: list[Any] = []  # value stack
    stack: list[tuple[Any, bool]] = [(tree, False)]
    last: Any = None
    while stack:
        item, done = stack.pop()
        if isinstance(item, Token):
            continue
        kind = item.data
        if not done:
            if kind == "number":
                out.append(ops.const(float(item.children[0])))
                continue
            if kind == "var":
                name = str(item.children[0])
                if name in named:
                    out.append(named[name])
                else:
                    leaf = leaves.get(name)
                    if leaf is None:
                        leaf = leaves[name] = ops.var(name, point[name])
                    out.append(leaf)
                continue
            stack.append((item, True))
            for child in reversed(item.children):
                if isinstance(child, Tree):
                    stack.append((child, False))
            continue
        if kind == "args" or kind == "program":
            continue  # a call takes its arguments straight from the value stack
        if kind == "call":
            argc = sum(1 for c in item.children[1].children if isinstance(c, Tree))
            args = out[len(out) - argc:]
            del out[len(out) - argc:]
            out.append(ops.table[str(item.children[0])](*args))
        elif kind == "bare":
            last = out.pop()
        elif kind == "assign":
            last = named[str(item.children[0])] = out.pop()
        elif kind in ("group", "pos"):
            pass  # the value on the stack is the value of the group
        else:
            argc = sum(1 for c in item.children if isinstance(c, Tree))
            args = out[len(out) - argc:]
            del out[len(out) - argc:]
            out.append(ops.table[kind](*args))
    return last, leaves


# --- micrograd -----------------------------------------------------------------------------


def micrograd_ops() -> Ops:
    from micrograd.engine import Value

    def unary(fn: Callable[[float], float], dfn: Callable[[float, float], float],
              name: str) -> Callable[[Any], Any]:
        # micrograd's pattern: compute the output, then a closure that adds
        # local gradient x upstream into the input's grad.
        def op(a: Any) -> Any:
            a = a if isinstance(a, Value) else Value(a)
            out = Value(fn(a.data), (a,), name)

            def _backward() -> None:
                a.grad += dfn(a.data, out.data) * out.grad

            out._backward = _backward
            return out

        return op

    def sigmoid(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    def power(a: Any, b: Any) -> Any:
        exponent = b.data if isinstance(b, Value) else b
        return a ** exponent  # micrograd: number exponents only

    class MicrogradOps(Ops):
        def var(self, name: str, value: float) -> Any:
            return Value(value)

        def const(self, value: float) -> Any:
            return Value(value)

        table: ClassVar[dict[str, Callable[..., Any]]] = {
            "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b, "neg": lambda a: -a, "pow": power,
            "relu": lambda a: a.relu(),
            "exp": unary(math.exp, lambda x, o: o, "exp"),
            "log": unary(math.log, lambda x, o: 1.0 / x, "log"),
            "tanh": unary(math.tanh, lambda x, o: 1.0 - o * o, "tanh"),
            "sigmoid": unary(sigmoid, lambda x, o: o * (1.0 - o), "sigmoid"),
        }

    return MicrogradOps()


def micrograd_run(text: str, point: dict[str, float]) -> dict[str, float]:
    """Parse, build (forward), backward; the gradients by input name."""
    ops = micrograd_ops()
    out, leaves = build(parse_tree(text), ops, point)
    out.backward()
    return {name: leaf.grad for name, leaf in leaves.items()}


# --- PyTorch -------------------------------------------------------------------------------


def torch_ops() -> Ops:
    import torch

    class TorchOps(Ops):
        def var(self, name: str, value: float) -> Any:
            return torch.tensor(value, dtype=torch.float64, requires_grad=True)

        def const(self, value: float) -> Any:
            return value  # a Python number: torch treats it as a constant

        table: ClassVar[dict[str, Callable[..., Any]]] = {
            "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b, "neg": lambda a: -a, "pow": lambda a, b: a ** b,
            "relu": torch.relu, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
        }

    return TorchOps()


def torch_run(text: str, point: dict[str, float]) -> dict[str, float]:
    ops = torch_ops()
    out, leaves = build(parse_tree(text), ops, point)
    out.backward()
    return {name: float(leaf.grad) for name, leaf in leaves.items()}


def torch_gradcheck(text: str, point: dict[str, float]) -> bool:
    """torch.autograd.gradcheck(fast_mode=True) of the expression at the point, from its text.

    One Lark LALR parse of the text, then gradcheck of a function that builds the torch graph
    from the parse tree over one float64 vector of the inputs: it compares one random
    direction of the analytical Jacobian with a finite difference. Parse and build are part
    of the work, as ours parses and builds (benchmarks/check_families.py, first_call.py).
    """
    import torch

    tree = parse_tree(text)
    names = list(point)
    index = {n: i for i, n in enumerate(names)}
    base = torch_ops()

    class VectorOps(type(base)):  # type: ignore[misc]
        vector: Any = None

        def var(self, name: str, value: float) -> Any:
            return self.vector[index[name]]

    ops = VectorOps()

    def f(x: Any) -> Any:
        ops.vector = x
        out, _ = build(tree, ops, point)
        return out

    x = torch.tensor([point[n] for n in names], dtype=torch.float64, requires_grad=True)
    return bool(torch.autograd.gradcheck(f, (x,), fast_mode=True, raise_exception=False))


# --- a plain Python tape: the practical floor after the same parse --------------------------


def tape_ops() -> Ops:
    """Values are tape indices; each op appends (inputs, local gradients) and its value."""
    vals: list[float] = []
    tape: list[tuple[tuple[int, ...], tuple[float, ...]]] = []

    def push(v: float, ins: tuple[int, ...], loc: tuple[float, ...]) -> int:
        vals.append(v)
        tape.append((ins, loc))
        return len(vals) - 1

    def unary(fn: Callable[[float], float],
              dfn: Callable[[float, float], float]) -> Callable[[int], int]:
        def op(a: int) -> int:
            x = vals[a]
            o = fn(x)
            return push(o, (a,), (dfn(x, o),))

        return op

    def sigmoid(x: float) -> float:
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    def add(a: int, b: int) -> int:
        return push(vals[a] + vals[b], (a, b), (1.0, 1.0))

    def sub(a: int, b: int) -> int:
        return push(vals[a] - vals[b], (a, b), (1.0, -1.0))

    def mul(a: int, b: int) -> int:
        x, y = vals[a], vals[b]
        return push(x * y, (a, b), (y, x))

    def div(a: int, b: int) -> int:
        x, y = vals[a], vals[b]
        return push(x / y, (a, b), (1.0 / y, -x / (y * y)))

    def power(a: int, b: int) -> int:
        x, y = vals[a], vals[b]
        o = x ** y
        return push(o, (a, b), (y * x ** (y - 1), o * math.log(x) if x > 0 else 0.0))

    class TapeOps(Ops):
        def var(self, name: str, value: float) -> Any:
            return push(value, (), ())

        def const(self, value: float) -> Any:
            return push(value, (), ())

        table: ClassVar[dict[str, Callable[..., Any]]] = {
            "add": add, "sub": sub, "mul": mul, "div": div, "pow": power,
            "neg": lambda a: push(-vals[a], (a,), (-1.0,)),
            "relu": unary(lambda x: max(0.0, x), lambda x, o: float(x > 0)),
            "exp": unary(math.exp, lambda x, o: o),
            "log": unary(math.log, lambda x, o: 1.0 / x),
            "tanh": unary(math.tanh, lambda x, o: 1.0 - o * o),
            "sigmoid": unary(sigmoid, lambda x, o: o * (1.0 - o)),
        }

    ops = TapeOps()
    ops.tape = tape  # type: ignore[attr-defined]
    return ops


def tape_run(text: str, point: dict[str, float]) -> dict[str, float]:
    """Parse (Lark LALR tree), record the tape (forward), sweep it backwards."""
    ops = tape_ops()
    out, leaves = build(parse_tree(text), ops, point)
    tape = ops.tape  # type: ignore[attr-defined]
    grad = [0.0] * len(tape)
    grad[out] = 1.0
    for k in range(len(tape) - 1, -1, -1):
        g = grad[k]
        ins, loc = tape[k]
        for j, d in zip(ins, loc):
            grad[j] += g * d
    return {name: grad[i] for name, i in leaves.items()}


def available() -> dict[str, Callable[[str, dict[str, float]], dict[str, float]]]:
    """The peers installed here, by name."""
    found: dict[str, Callable[[str, dict[str, float]], dict[str, float]]] = {}
    found["plain tape"] = tape_run
    try:
        import micrograd.engine  # noqa: F401

        found["micrograd"] = micrograd_run
    except ImportError:
        pass
    try:
        import torch  # noqa: F401

        found["torch"] = torch_run
    except ImportError:
        pass
    return found
