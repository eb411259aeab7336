"""The computational graph: nodes in topological (creation) order, built without recursion."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import InputError
from .ops import CONST, IDENTITY, OPS, VAR, Op

TEXT_LIMIT = 80  # characters of source text kept per node (tables, JSON, messages)


@dataclass(slots=True)
class Node:
    id: int
    op: Op
    inputs: tuple[int, ...]
    start: int  # source span, for messages and the "expression" column
    end: int
    name: str | None = None  # variable name, or the name of a named intermediate
    const: float = 0.0  # value of a constant
    literal: str = ""  # a constant as typed, so sympy can use the exact decimal


@dataclass
class Graph:
    """Nodes are appended children-first, so list order is a topological order."""

    source: str
    nodes: list[Node] = field(default_factory=list)
    variables: dict[str, int] = field(default_factory=dict)  # name -> node id, first-use order
    named: dict[str, int] = field(default_factory=dict)  # named intermediates
    output: int = -1
    output_name: str = "f"
    # The student's notations the parser read (2x, Wᵀ, e^x, ...: issue 28), in words, for the
    # echo of the expression as read; the juxtapositions whose op the shapes decide (juxt
    # nodes); the constants read from a name (e, pi).
    notations: list[str] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    named_constants: list[int] = field(default_factory=list)

    def add(self, op: Op, inputs: tuple[int, ...], start: int, end: int) -> int:
        node = Node(len(self.nodes), op, inputs, start, end)
        self.nodes.append(node)
        return node.id

    def constant(self, value: float, literal: str, start: int, end: int) -> int:
        nid = self.add(CONST, (), start, end)
        self.nodes[nid].const = value
        self.nodes[nid].literal = literal
        return nid

    def variable(self, name: str, start: int, end: int) -> int:
        if name in self.named:
            return self.named[name]
        nid = self.variables.get(name)
        if nid is None:
            nid = self.add(VAR, (), start, end)
            self.nodes[nid].name = name
            self.variables[name] = nid
        return nid

    def assign(self, name: str, nid: int, start: int) -> None:
        if name in self.named:
            raise InputError(f"'{name}' is assigned twice", source=self.source, pos=start,
                             hint="give each intermediate its own name")
        if name in self.variables:
            raise InputError(f"'{name}' is used as an input before it is assigned",
                             source=self.source, pos=start,
                             hint="assign a name before using it, or pick another name")
        node = self.nodes[nid]
        if node.name is not None:
            # `q = x` or `r = q`: an alias of a node that already has a name.
            nid = self.add(IDENTITY, (nid,), node.start, node.end)
            node = self.nodes[nid]
        node.name = name
        self.named[name] = nid

    def read_products(self, shapes: Callable[[int], tuple[int, ...]]) -> None:
        """Give each juxtaposition (juxt node) the op its inputs' shapes decide (* @ outer),
        or raise an InputError naming both readings; ``shapes``: node id -> its shape."""
        for nid in self.products:
            self.read_product(nid, shapes)

    def read_product(self, nid: int, shapes: Callable[[int], tuple[int, ...]]) -> None:
        """read_products for one node, whose inputs' shapes are known."""
        node = self.nodes[nid]
        if node.op.reads_as is None:  # read already
            return
        a, b = node.inputs
        transposed = tuple(self.nodes[j].op.name == "transpose" for j in (a, b))
        name, why = node.op.reads_as((shapes(a), shapes(b)), transposed)
        if not name:
            left, right = self.text(a, 30), self.text(b, 30)
            raise InputError(f"`{self.text(nid, 60)}` could mean two things: "
                             + why.format(left, right), source=self.source,
                             pos=node.start, end=node.end,
                             hint=f"write {left} @ {right} or {left} * {right} (or "
                             f"outer({left}, {right}) for {left} {right}ᵀ)")
        node.op = OPS[name]

    def drop(self, ids: list[int]) -> None:
        """Remove nodes nothing reads (the e of e^x, once read as exp): renumber the rest."""
        gone = set(ids)
        new_id: list[int] = []
        kept: list[Node] = []
        for node in self.nodes:
            if node.id in gone:
                new_id.append(-1)
                continue
            new_id.append(len(kept))
            node.id = len(kept)
            node.inputs = tuple(new_id[j] for j in node.inputs)
            kept.append(node)
        self.nodes = kept
        self.variables = {k: new_id[v] for k, v in self.variables.items()}
        self.named = {k: new_id[v] for k, v in self.named.items()}
        self.output = new_id[self.output]
        self.products = [new_id[j] for j in self.products if new_id[j] >= 0]
        self.named_constants = [new_id[j] for j in self.named_constants if new_id[j] >= 0]

    def label(self, nid: int) -> str:
        """The lecture's name for a node: its variable or intermediate name, else #id."""
        name = self.nodes[nid].name
        return name if name is not None else f"#{nid}"

    def text(self, nid: int, limit: int | None = TEXT_LIMIT) -> str:
        """The node's source text, cut in the middle past ``limit`` characters.

        Uncut, the spans of a long sum's nodes add up quadratically: the nodes of a
        100,000-node sum would hold gigabytes of text.
        """
        node = self.nodes[nid]
        if limit is not None and node.end - node.start > limit:
            half = limit // 2
            return (self.source[node.start:node.start + half] + " … "
                    + self.source[node.end - half:node.end])
        return self.source[node.start:node.end]

    def consumers(self) -> list[list[tuple[int, int]]]:
        """For each node, the (consumer id, input position) pairs that read it: its fan-out."""
        uses: list[list[tuple[int, int]]] = [[] for _ in self.nodes]
        for node in self.nodes:
            nid = node.id
            for pos, j in enumerate(node.inputs):
                uses[j].append((nid, pos))
        return uses

    def fan_outs(self) -> dict[int, list[tuple[int, int]]]:
        """``consumers()`` of the nodes read more than once only, in node order (cheap: most
        nodes of a big graph are read once)."""
        count = [0] * len(self.nodes)
        for node in self.nodes:
            for j in node.inputs:
                count[j] += 1
        multi = {j: [] for j, c in enumerate(count) if c > 1}  # type: dict[int, list[tuple[int, int]]]
        if multi:
            for node in self.nodes:
                nid = node.id
                for pos, j in enumerate(node.inputs):
                    if j in multi:
                        multi[j].append((nid, pos))
        return multi

    def needs_grad(self) -> list[bool]:
        """Per node: does any variable feed it? Constants and constant subexpressions need
        no gradient, and may have none (the exponent of (-2)^2 has no real derivative)."""
        flags = [False] * len(self.nodes)
        for node in self.nodes:
            ins = node.inputs
            if not ins:
                flags[node.id] = node.op is VAR
            elif len(ins) == 2:
                flags[node.id] = flags[ins[0]] or flags[ins[1]]
            else:
                flags[node.id] = any([flags[j] for j in ins])
        return flags

    def uses_arrays(self) -> bool:
        """Whether an op of the expression needs the array engine (@, sum, softmax, ...)."""
        return any(node.op.array_only for node in self.nodes)

    def depth(self) -> int:
        """Longest path from a leaf to the output, in nodes (iterative)."""
        level = [0] * len(self.nodes)
        for node in self.nodes:
            if node.inputs:
                level[node.id] = 1 + max(level[j] for j in node.inputs)
        return max(level, default=0)

    def flat_depth(self) -> int:
        """Depth as sympy sees it: a chain of + (or of *) is one level, since sympy flattens
        it into one Add (Mul) node; a 10,000-term sum is shallow for sympy, a chain of
        10,000 functions is not."""
        level = [0] * len(self.nodes)
        for node in self.nodes:
            if not node.inputs:
                continue
            chain = node.op.chain
            level[node.id] = max(
                level[j] if chain and self.nodes[j].op.chain == chain else level[j] + 1
                for j in node.inputs)
        return max(level, default=0)

    def tree_size(self, cap: int) -> int:
        """Size of the output's expression with every shared subexpression written out again,
        as sympy's tree walks (diff, xreplace, printing) meet it; counted up to ``cap``.

        A sum of 10,000 products is about 30,000; an MLP, whose every hidden unit feeds the
        whole next layer, grows as width ** layers.
        """
        size = [1] * len(self.nodes)
        for node in self.nodes:
            if node.inputs:
                size[node.id] = min(cap, 1 + sum(size[j] for j in node.inputs))
        return size[self.output] if self.nodes else 0

    def ancestors_vars(self, nid: int) -> set[str]:
        """Variables that node ``nid`` depends on (iterative walk)."""
        seen = {nid}
        stack = [nid]
        found: set[str] = set()
        while stack:
            node = self.nodes[stack.pop()]
            if node.op is VAR and node.name is not None:
                found.add(node.name)
            for j in node.inputs:
                if j not in seen:
                    seen.add(j)
                    stack.append(j)
        return found

