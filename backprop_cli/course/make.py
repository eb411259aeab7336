"""Generating problems: families from the lecture, numbers a person can work by hand, keys
(ordinary problem sets with points) and worksheets (Markdown or LaTeX) with a blank per answer.

Every problem is drawn, run through the engine, and redrawn until its numbers are workable:
at level 1 every answer the key asks for is exact with at most two decimals (a sigmoid's input
is drawn to be 0, so that sigmoid gives 0.5 and its local gradient 0.25); at levels 2 and 3
answers are asked rounded to two decimals (the key sets ``digits = 2``), and a point is
redrawn when an answer would be huge, would round to a misleading 0.00, or sits on a kink
(relu at 0, a tie in max), where the gradient is a convention rather than a derivative.

Randomness comes only from ``random.Random`` seeded with a SHA-256 of the seed (and the
student id for ``variant``), never from ``hash()`` or the global generator, so the same
command writes the same file, byte for byte, on every machine and Python version.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InputError

LEVELS = (1, 2, 3)
MAX_COUNT = 200  # problems per key: a worksheet, not a data set
MAX_DRAWS = 500  # redraws per problem before giving up (a bug: families are built to fit)
FORWARD_POINTS = 1  # a forward value; a gradient (the lecture's point) is worth more
GRADIENT_POINTS = 2
LIMIT = 100.0  # no answer larger than this: by hand, big numbers are noise
DIGITS = 2  # the key's rounding rule for levels 2 and 3 (and harmless at level 1)


@dataclass
class Draft:
    """One drawn problem before it is checked: the expression and its point."""

    expression: str
    at: dict[str, Any]  # name -> number or nested list of numbers
    upstream: Any = None  # None: the default 1; else a number or a list
    no_grad: tuple[str, ...] = ()  # inputs that are data (a label y): no gradient asked
    optional: tuple[str, ...] = ()  # answers dropped at level 1 when not short (a loss)


@dataclass
class Family:
    name: str
    summary: str  # one line for `make --list`
    draw: Callable[[random.Random, int], Draft]
    description: str  # the problem's description in the key and worksheet


@dataclass
class Made:
    """A finished problem: what the key and the worksheet hold."""

    name: str
    family: str
    description: str
    draft: Draft
    answers: dict[str, Any]  # key -> number or nested list, in the order asked
    kinds: dict[str, str]  # key -> "value" | "gradient"
    quantity: dict[str, str]  # key -> what it is, as the lecture writes it
    points: dict[str, int] = field(default_factory=dict)
    shapes: dict[str, str] = field(default_factory=dict)  # key -> "2×2" for an array answer

    def what(self, key: str) -> str:
        """The blank's label: `gradient ∂f/∂W (2×2)`."""
        text = ("forward value of " if self.kinds[key] == "value" else "gradient ") \
            + self.quantity[key]
        return text + (f" ({self.shapes[key]})" if self.shapes.get(key) else "")


# ---------------------------------------------------------------- numbers


def _int(rng: random.Random, lo: int, hi: int, nonzero: bool = True) -> int:
    while True:
        v = rng.randint(lo, hi)
        if v or not nonzero:
            return v


def _dec(rng: random.Random, lo: float, hi: float, nonzero: bool = True) -> float:
    """One decimal in [lo, hi]: 10ths drawn as integers, so the float is the literal's."""
    while True:
        k = rng.randint(round(lo * 10), round(hi * 10))
        if k or not nonzero:
            return k / 10


def _num(rng: random.Random, level: int, span: int = 3) -> float:
    """Level 1: a small integer; level 2: an integer or one decimal; level 3: one decimal."""
    if level == 1 or (level == 2 and rng.random() < 0.5):
        return float(_int(rng, -span, span))
    return _dec(rng, -span, span)


def short(v: float) -> bool:
    """Exact with at most two decimals (0.25, -3, 0.5), and not huge."""
    if not math.isfinite(v) or abs(v) > LIMIT:
        return False
    scaled = v * 100
    return abs(scaled - round(scaled)) < 1e-7 * max(1.0, abs(scaled))


def written(v: float) -> str:
    """A number as the key writes it: exact values as short as they are (-4, 0.25), others
    rounded to two decimals (0.73)."""
    if short(v):
        text = f"{round(v, 2):.2f}".rstrip("0").rstrip(".")
    else:
        text = f"{v:.{DIGITS}f}"
    return "0" if text in ("-0", "-0.00", "0.00") else text


def _flat(v: Any) -> list[float]:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [float(v)]


# ---------------------------------------------------------------- the families


def _add(rng: random.Random, level: int) -> Draft:
    up = _num(rng, 1, 4)
    if level == 1:
        return Draft("f = x + y", {"x": _num(rng, 1, 5), "y": _num(rng, 1, 5)}, up)
    if level == 2:
        return Draft("q = x + y\nf = q + z", {k: _num(rng, 2, 5) for k in "xyz"}, up)
    return Draft("q = x + y\nr = q + z\nf = r + w", {k: _num(rng, 3, 5) for k in "xyzw"},
                 _num(rng, 2, 3))


def _mul(rng: random.Random, level: int) -> Draft:
    up = _num(rng, 1, 3)
    if level == 1:
        return Draft("f = x * y", {"x": _num(rng, 1, 5), "y": _num(rng, 1, 5)}, up)
    if level == 2:
        return Draft("q = x * y\nf = q * z", {k: _num(rng, 2, 3) for k in "xyz"}, up)
    return Draft("q = x * y\nr = q * z\nf = r * w", {k: _num(rng, 3, 2) for k in "xyzw"})


def _max(rng: random.Random, level: int) -> Draft:
    up = _num(rng, 1, 4)
    if level == 1:
        return Draft("f = max(x, y)", {"x": _num(rng, 1, 5), "y": _num(rng, 1, 5)}, up)
    if level == 2:
        return Draft("m = max(x, y)\nf = m * z", {k: _num(rng, 2, 4) for k in "xyz"}, up)
    return Draft("a = x * y\nm = max(a, z)\nf = m * w + a",
                 {k: _num(rng, 3, 3) for k in "xyzw"})


def _circuit(rng: random.Random, level: int) -> Draft:
    if level == 1:
        return Draft("q = x + y\nf = q * z", {k: _num(rng, 1, 5) for k in "xyz"})
    if level == 2:
        return Draft("a = x * y\nm = max(z, w)\nf = 2 * (a + m)",
                     {k: _num(rng, 2, 4) for k in "xyzw"})
    return Draft("a = x * y\nm = max(z, w)\ns = a + m\nf = s * x",
                 {k: _num(rng, 3, 3) for k in "xyzw"})


def _fanout(rng: random.Random, level: int) -> Draft:
    if level == 1:
        return Draft("a = x + y\nf = a * x", {k: _num(rng, 1, 4) for k in "xy"})
    if level == 2:
        return Draft("a = x * y\nb = x + z\nf = a * b", {k: _num(rng, 2, 3) for k in "xyz"})
    return Draft("a = x * y\nb = a + x\nc = b * y\nf = c + a",
                 {k: _num(rng, 3, 2) for k in "xy"})


def _neuron_point(rng: random.Random, level: int, n: int) -> dict[str, float]:
    at: dict[str, float] = {}
    for k in range(n):
        at[f"w{k}"] = _num(rng, level)
        at[f"x{k}"] = _num(rng, level)
    s = sum(at[f"w{k}"] * at[f"x{k}"] for k in range(n))
    # Level 1: the bias cancels the weighted sum, so sigmoid's input is 0: sigmoid(0) = 0.5
    # and its local gradient 0.5 * 0.5 = 0.25, exact; otherwise any small bias.
    at[f"w{n}"] = round(-s, 1) + 0.0 if level == 1 else _num(rng, level)
    return at


def _neuron(rng: random.Random, level: int) -> Draft:
    n = 3 if level == 3 else 2
    terms = " + ".join(f"w{k}*x{k}" for k in range(n))
    return Draft(f"s = {terms} + w{n}\nf = sigmoid(s)", _neuron_point(rng, level, n))


def _neuron_gates(rng: random.Random, level: int) -> Draft:
    n = 3 if level == 3 else 2
    terms = " + ".join(f"w{k}*x{k}" for k in range(n))
    return Draft(f"s = {terms} + w{n}\nn = -s\ne = exp(n)\nd = 1 + e\nf = 1 / d",
                 _neuron_point(rng, level, n))


def _mlp(rng: random.Random, level: int) -> Draft:
    at: dict[str, float] = {}
    for name in ("x1", "x2", "w11", "w12", "b1", "w21", "w22", "b2", "v1", "v2"):
        at[name] = _num(rng, level, 2)
    hidden = ("a1 = w11*x1 + w12*x2 + b1\nh1 = relu(a1)\n"
              "a2 = w21*x1 + w22*x2 + b2\nh2 = relu(a2)\n")
    if level == 1:
        return Draft(hidden + "f = v1*h1 + v2*h2", at)
    # Level 3's output is a sigmoid, a probability: its target is a label, 0 or 1.
    at["y"] = _num(rng, level, 2) if level == 2 else float(rng.randint(0, 1))
    out = "o = v1*h1 + v2*h2\n"
    if level == 2:
        return Draft(hidden + out + "e = o - y\nf = e * e", at, no_grad=("y",))
    return Draft(hidden + out + "p = sigmoid(o)\ne = p - y\nf = e * e", at, no_grad=("y",))


def _matrix(rng: random.Random, level: int, rows: int, cols: int, span: int) -> list[Any]:
    return [[_num(rng, level, span) for _ in range(cols)] for _ in range(rows)]


def _wx_norm(rng: random.Random, level: int) -> Draft:
    cols = 3 if level == 3 else 2
    span = 2 if level == 1 else 1
    w = _matrix(rng, level, 2, cols, span)
    x = [_num(rng, level, span) for _ in range(cols)]
    return Draft("q = W@x\nf = sum(q^2)", {"W": w, "x": x})


def _relu_layer(rng: random.Random, level: int) -> Draft:
    if level == 1:
        n = 4
        x = [_num(rng, 1, 4) for _ in range(n)]
        return Draft("f = relu(x)", {"x": x}, [_num(rng, 1, 9) for _ in range(n)])
    n = 3 if level == 3 else 2
    w = _matrix(rng, level, n, 2, 2)
    x = [_num(rng, level, 2) for _ in range(2)]
    b = [_num(rng, level, 2) for _ in range(n)]
    return Draft("h = W@x + b\nf = relu(h)", {"W": w, "x": x, "b": b},
                 [_num(rng, 1, 5) for _ in range(n)])


def _softmax_ce(rng: random.Random, level: int) -> Draft:
    if level == 1:
        # Equal logits: softmax is uniform (1/n, short for n = 2, 4, 5), so p and both
        # gradients are exact; the loss log(n) is not, and is not asked at level 1.
        n = rng.choice((2, 4, 5))
        c = float(_int(rng, -3, 3, nonzero=False))
        z = [c] * n
    else:
        n = 3 if level == 2 else 4
        z = [_dec(rng, -2, 2, nonzero=False) for _ in range(n)]
    y = [0.0] * n
    y[rng.randrange(n)] = 1.0
    return Draft("p = softmax(z)\nf = -sum(y * log(p))", {"z": z, "y": y}, no_grad=("y",),
                 optional=("value",))


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("add", "add gate, the gradient distributor, with an upstream gradient", _add,
           "add gates: each input receives the upstream gradient unchanged"),
    Family("mul", "mul gate, the swap multiplier, with an upstream gradient", _mul,
           "mul gates: each input receives the upstream gradient times the other input"),
    Family("max", "max gate, the gradient router (no ties)", _max,
           "max gates: the larger input receives the whole upstream gradient, the other 0"),
    Family("circuit", "the lecture's circuits: (x + y) z, then add, mul and max together",
           _circuit, "a circuit of add, mul and max gates"),
    Family("fanout", "a variable used twice: the gradients of its branches add", _fanout,
           "fan-out: where a value is used more than once, its gradients add"),
    Family("neuron", "the sigmoid neuron with one sigmoid gate", _neuron,
           "a sigmoid neuron, sigmoid as one gate: its local gradient is (1 - f) f"),
    Family("neuron-gates", "the sigmoid neuron expanded gate by gate (-, exp, +1, 1/x)",
           _neuron_gates, "a sigmoid neuron written gate by gate: negate, exp, +1, 1/x"),
    Family("mlp", "a small MLP: two relu units, then (level 2+) a squared error", _mlp,
           "a two-unit relu network"),
    Family("wx-norm", "||W x||^2 = sum((W x)^2): dW = 2 q x^T, dx = 2 W^T q", _wx_norm,
           "f = ||W x||^2 with q = W x: the gradient has the variable's shape"),
    Family("relu-layer", "a ReLU layer with an upstream gradient (level 2+: relu(W x + b))",
           _relu_layer, "a ReLU layer: the upstream gradient passes where the input is "
           "positive"),
    Family("softmax-ce", "softmax cross-entropy on a one-hot label: dz = softmax(z) - y",
           _softmax_ce, "softmax cross-entropy: the gradient with respect to the logits is "
           "p - y"),
)}


def family_lines() -> list[str]:
    """`backprop make --list`: one line per family."""
    width = max(len(n) for n in FAMILIES)
    return [f"{f.name:<{width}}  {f.summary}" for f in FAMILIES.values()]


# ---------------------------------------------------------------- making


def normalise_id(raw: str) -> str:
    """A student's id as every tool compares it: trimmed and case-folded, so the roster's
    `Alice@Uni.edu` and the platform's `alice@uni.edu` draw the same numbers."""
    vid = raw.strip().casefold()
    if not vid:
        raise InputError("the student id (--variant) is empty", where="--variant")
    return vid


def rng_for(seed: int, variant: str | None = None, index: int = 0) -> random.Random:
    """The generator of problem ``index``: SHA-256 of the seed, the student id and the index,
    so a variant's numbers depend on both and nothing else (not on hash() or the clock)."""
    material = f"backprop make|{seed}|{variant if variant is not None else ''}|{index}"
    # surrogatepass: an id from bytes that are not UTF-8 (argv decodes them to surrogates)
    digest = hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()
    return random.Random(int.from_bytes(digest[:16], "big"))


def families(names: Sequence[str] | str | None) -> list[Family]:
    if names is None or names == "all" or names == ["all"]:
        return list(FAMILIES.values())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    out = []
    for n in names:
        if n not in FAMILIES:
            import difflib

            close = difflib.get_close_matches(n, list(FAMILIES), n=1)
            raise InputError(f"unknown problem family '{n}'", where="FAMILY",
                             hint=(f"did you mean '{close[0]}'? " if close else "")
                             + "see `backprop make --list`")
        out.append(FAMILIES[n])
    return out


def make(names: Sequence[str] | str | None = None, *, seed: int = 0, count: int = 1,
         level: int = 1, variant: str | None = None) -> list[Made]:
    """``count`` problems, cycling through the families named (all of them by default)."""
    if level not in LEVELS:
        raise InputError(f"--level must be 1, 2 or 3, not {level}", where="--level")
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"--count must be from 1 to {MAX_COUNT}, not {count}",
                         where="--count")
    chosen = families(names)
    if variant is not None:  # `Alice@Uni.edu ` on the roster is alice@uni.edu at grading
        variant = normalise_id(variant)
    made: list[Made] = []
    seen: dict[str, int] = {}
    for k in range(count):
        fam = chosen[k % len(chosen)]
        seen[fam.name] = seen.get(fam.name, 0) + 1
        made.append(_make_one(fam, rng_for(seed, variant, k), level,
                              f"{fam.name}-{seen[fam.name]}"))
    return made


def _make_one(fam: Family, rng: random.Random, level: int, name: str) -> Made:
    for _ in range(MAX_DRAWS):
        draft = fam.draw(rng, level)
        got = _answers(draft, level)
        if got is not None:
            answers, kinds, quantity, shapes = got
            points = {k: GRADIENT_POINTS if kinds[k] == "gradient" else FORWARD_POINTS
                      for k in answers}
            return Made(name, fam.name, fam.description, draft, answers, kinds, quantity,
                        points, shapes)
    raise RuntimeError(f"family {fam.name} found no workable numbers in {MAX_DRAWS} draws "
                       f"at level {level} (please report it)")


def _answers(draft: Draft, level: int) -> tuple[dict[str, Any], dict[str, str],
                                               dict[str, str], dict[str, str]] | None:
    """Every forward value and gradient to ask (forward order, then backward order), or None
    when the numbers are not workable and the problem must be redrawn."""
    from ..checks.evaluate import evaluate
    from ..core.errors import BackpropError

    try:
        result = evaluate(draft.expression, draft.at,
                          upstream=1.0 if draft.upstream is None else draft.upstream,
                          check=())
    except BackpropError:
        return None  # a domain error (log of 0, ...): draw again
    graph = result.graph
    out = graph.output
    if any(rec.kink for rec in result.nodes):
        return None
    named = [nid for name, nid in graph.named.items() if nid != out]
    inputs = [graph.variables[n] for n in result.inputs if n not in draft.no_grad]
    top = "L" if result.seed != 1.0 else result.output  # as the grader names it
    answers: dict[str, Any] = {}
    kinds: dict[str, str] = {}
    quantity: dict[str, str] = {}
    shapes: dict[str, str] = {}
    order = [(graph.label(n), n, "value") for n in named] + [("value", out, "value")]
    order += [(f"d{graph.label(n)}", n, "gradient") for n in reversed(named)]
    order += [(f"d{graph.label(n)}", n, "gradient") for n in inputs]
    for key, nid, kind in order:
        rec = result.nodes[nid]
        v = rec.value if kind == "value" else rec.upstream
        if v is None:
            return None
        entries = _flat(v)
        if level == 1 and not all(short(x) for x in entries):
            if key in draft.optional:
                continue
            return None
        # Levels 2-3: rounded to two decimals. Not huge, and not a nonzero that rounds to
        # 0.00 (a student's exact 0 would be "right" for the wrong reason).
        if any(abs(x) > LIMIT or (x != 0 and abs(x) < 0.005) for x in entries):
            return None
        answers[key] = v
        kinds[key] = kind
        if rec.shape:
            shapes[key] = "×".join(str(n) for n in rec.shape)
        label = graph.label(nid)
        quantity[key] = ((label if nid != out else result.output) if kind == "value"
                         else f"∂{top}/∂{label}")
    return answers, kinds, quantity, shapes


# ---------------------------------------------------------------- the key (TOML)


def _toml_value(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    return written(float(v))


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else '"' + k.replace('"', '\\"') + '"'


def _inline(table: dict[str, Any]) -> str:
    return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v) if not isinstance(v, int) else v}"
                            for k, v in table.items()) + " }"


def key_toml(made: Sequence[Made], *, command: str, title: str) -> str:
    """The answer key: an ordinary problem set (`backprop check KEY.toml` passes), with
    per-answer points and the rounding rule the grader applies to students' answers."""
    lines = [
        f"# Answer key written by `{visible(command)}`.",
        "# An ordinary problem set: `backprop check` on this file must pass. To grade a",
        "# student's answers: `backprop check KEY.toml --answers STUDENT.toml`.",
        "# digits = 2: answers are accepted when right to two decimals. points: per answer.",
        "# carried_forward: the share of an answer's points given when it is wrong only",
        "# because an earlier wrong answer was carried forward correctly.",
        "",
        f'title = "{_toml_str(title)}"',
        f"digits = {DIGITS}",
        "carried_forward = 1.0",
        "",
    ]
    for m in made:
        lines.append(f"[{_toml_key(m.name)}]")
        lines.append(f'description = "{_toml_str(m.description)}"')
        lines.append('expression = """\n' + m.draft.expression + '\n"""')
        lines.append("at = " + _inline({k: v for k, v in m.draft.at.items()}))
        if m.draft.upstream is not None:
            lines.append(f"upstream = {_toml_value(m.draft.upstream)}")
        lines.append("expect = " + _inline(m.answers))
        lines.append("points = { " + ", ".join(f"{_toml_key(k)} = {p}"
                                               for k, p in m.points.items()) + " }")
        lines.append("")
    text = "\n".join(lines)
    _reads_back(text, made, title)
    return text


def _reads_back(text: str, made: Sequence[Made], title: str) -> None:
    """The key just written, read back as `check` will read it: the same title and every
    problem whole. A difference is a bug here (exit 3), never a key that fails later."""
    from ..core.errors import BackpropError
    from .problems import Problem, parse_problems

    try:
        pset = parse_problems(text, fmt="toml", source="the key written")
    except BackpropError as exc:
        raise RuntimeError(f"the key written does not read back: {exc.message}") from None
    names = [p.name for p in pset.items if isinstance(p, Problem)]
    if pset.title != visible(title) or names != [m.name for m in made]:
        raise RuntimeError(f"the key written does not read back: title {pset.title!r}, "
                           f"problems {names!r}")


def visible(text: str) -> str:
    """``text`` with every character that is not printable (newline, CR, tab, U+2028, bidi
    controls, a lone surrogate from undecodable bytes) shown as its escape (``\\n``,
    ``\\u2028``): one line that says what it holds, safe in a comment, a title or a
    worksheet. A --variant id goes through here before any file shows it."""
    if text.isprintable():
        return text
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(ch if ch.isprintable() else named.get(ch) or (
        f"\\u{ord(ch):04x}" if ord(ch) <= 0xFFFF else f"\\U{ord(ch):08x}") for ch in text)


def _toml_str(s: str) -> str:
    """The body of a TOML basic string: backslashes and quotes escaped, and whatever is not
    printable shown visibly (TOML refuses raw control characters and lone surrogates)."""
    return visible(s).replace("\\", "\\\\").replace('"', '\\"')


def answers_template(made: Sequence[Made], title: str) -> str:
    """The student's answer file, every answer blank (`dx =`): the grader reads a blank as a
    missing answer, so a half-filled template is graded as far as it goes."""
    lines = [f"# Answers to: {visible(title)}",
             "# Write each answer after its '=': a number (exact, or rounded to two decimals),",
             "# a vector as [4, -2], a matrix row by row as [[1, 0], [0, 1]].", ""]
    for m in made:
        lines.append(f"[{_toml_key(m.name)}]")
        width = max(len(_toml_key(k)) for k in m.answers)
        lines += [f"{_toml_key(k):<{width}} =    # {m.what(k)}" for k in m.answers]
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- the worksheet


def _symbolic(m: Made) -> Any:
    """The circuit without numbers (answers must not be drawn on the worksheet's picture):
    evaluated at the point (arrays need it for their shapes), then every number blanked."""
    import dataclasses

    from ..checks.evaluate import evaluate

    result = evaluate(m.draft.expression, m.draft.at,
                      upstream=1.0 if m.draft.upstream is None else m.draft.upstream, check=())
    nodes = [dataclasses.replace(r, value=None, upstream=None, downstream=None, local=None,
                                 fan_out=[]) for r in result.nodes]
    return dataclasses.replace(result, value=None, gradients=None, nodes=nodes)


def _point_text(v: Any) -> str:
    if isinstance(v, list):
        return "[" + ", ".join(_point_text(x) for x in v) + "]"
    return written(float(v))


def worksheet_markdown(made: Sequence[Made], title: str) -> str:
    """Each problem: the expression, the point, the circuit (Mermaid, no numbers), and a
    table with a blank for every answer the key asks for."""
    from ..views.export import md
    from ..views.picture import to_mermaid

    out = [f"# {md(title)}", "",
           "Work each circuit forward (values), then backward (gradients). Write answers "
           "exactly, or rounded to two decimals. Where an upstream gradient arrives at the "
           "output, L is the loss the output feeds: ∂L/∂x = upstream × ∂f/∂x.", ""]
    for k, m in enumerate(made, 1):
        out += [f"## Problem {k}: {md(m.name)}", "", md(m.description) + ".", ""]
        out += ["```", m.draft.expression, "```", ""]
        point = ", ".join(f"{md(n)} = {md(_point_text(v))}" for n, v in m.draft.at.items())
        out.append(f"At {point}" + (f", with upstream gradient {md(_point_text(m.draft.upstream))}"
                                    " arriving at the output" if m.draft.upstream is not None
                                    else "") + ".")
        out += ["", "```mermaid", to_mermaid(_symbolic(m)).rstrip("\n"), "```", ""]
        out += ["| answer | what | your answer |", "|---|---|---|"]
        for key in m.answers:
            out.append(f"| {md(key)} | {md(m.what(key))} | &nbsp; |")
        out.append("")
    return "\n".join(out)


def _ascii_tree(m: Made) -> list[str]:
    from ..views.picture import to_text

    plain = to_text(_symbolic(m)).plain
    # pdflatex's verbatim has no box-drawing glyphs: the tree in ASCII.
    table = str.maketrans({"├": "|", "└": "`", "│": "|", "─": "-"})
    return [ln.translate(table) for ln in plain.splitlines()[1:]]


def worksheet_latex(made: Sequence[Made], title: str) -> str:
    """A complete LaTeX document (article class, no extra packages beyond amsmath) with the
    circuit as a tree and a blank line for every answer."""
    from ..views.export import tex

    out = [r"\documentclass[11pt]{article}", r"\usepackage[utf8]{inputenc}",
           r"\usepackage[T1]{fontenc}",
           r"\usepackage{amsmath}",
           r"\begin{document}", rf"\section*{{{tex(title)}}}",
           tex("Work each circuit forward (values), then backward (gradients). Write answers "
               "exactly, or rounded to two decimals.")]
    for k, m in enumerate(made, 1):
        out.append(rf"\subsection*{{Problem {k}: {tex(m.name)}}}")
        out.append(tex(m.description) + ".")
        out.append(r"\begin{verbatim}")
        out += [_verbatim_safe(ln) for ln in m.draft.expression.splitlines()]
        out.append(r"\end{verbatim}")
        point = ", ".join(f"{tex(n)} = {tex(_point_text(v))}" for n, v in m.draft.at.items())
        up = (f", with upstream gradient {tex(_point_text(m.draft.upstream))} arriving at the "
              "output" if m.draft.upstream is not None else "")
        out.append(f"At {point}{up}.")
        out.append("")
        out.append(r"The circuit, from the output back to the inputs:")
        out.append(r"\begin{verbatim}")
        out += [_verbatim_safe(ln) for ln in _ascii_tree(m)]
        out.append(r"\end{verbatim}")
        out.append(r"\begin{tabular}{lll}")
        out.append(r"\textbf{answer} & \textbf{what} & \textbf{your answer} \\ \hline")
        for key in m.answers:
            out.append(rf"\texttt{{{tex(key)}}} & {tex(m.what(key))} & "
                       r"\rule{5cm}{0.4pt} \\[1.2em]")
        out.append(r"\end{tabular}")
    out.append(r"\end{document}")
    return "\n".join(out) + "\n"


def _verbatim_safe(line: str) -> str:
    # Inside verbatim only `\end{verbatim}` ends it; keep to printable ASCII as well.
    line = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in line)
    return line.replace(r"\end{verbatim}", r"\end {verbatim}")


def worksheet(made: Sequence[Made], path: str, title: str) -> str | bytes:
    """The worksheet for ``path``'s suffix: .md (Markdown), .tex (LaTeX), .html (one page
    with the circuits drawn, worksheet_html.py) or .pdf (TikZ through pdflatex,
    worksheet_pdf.py)."""
    lower = path.lower()
    if lower.endswith((".md", ".markdown")):
        return worksheet_markdown(made, title)
    if lower.endswith(".tex"):
        return worksheet_latex(made, title)
    if lower.endswith((".html", ".htm")):
        from .worksheet_html import worksheet_html

        return worksheet_html(made, title, _point_text)
    if lower.endswith(".pdf"):
        from .worksheet_pdf import worksheet_pdf

        return worksheet_pdf(made, title, _point_text)
    raise InputError(f"cannot tell the worksheet's format from '{path}'", where="--worksheet",
                     hint="name it FILE.md (Markdown), FILE.tex (LaTeX), FILE.html or "
                     "FILE.pdf")
