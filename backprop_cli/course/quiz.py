"""An interactive drill (`backprop quiz`): one generated circuit, the student types each
forward value, then node by node in backward order each upstream and downstream gradient;
every answer is checked at once with the grader's rounding rules and slip diagnoses.

Vectors and matrices too (wx-norm, relu-layer, softmax-ce): each answer is typed on one
line as [4, -2] or [[1, 0], [0, 1]] and checked entry by entry, its shape first; a gradient
sent down to an input used once is that input's gradient, so it is asked once.

Plain data and two callables (read a line, write text), so the drill runs the same in a
terminal, with answers piped on standard input, and in tests. A wrong answer is told with
the right one, and the drill goes on from the right one, so one slip is one lost point.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..checks.answers import Answer, AnswerTolerance, _allowance, answer, fmt
from ..core.errors import InputError
from ..core.ops import CONST, VAR
from .make import DIGITS, Made

HINT_WORDS = ("?", "h", "hint")
SCALAR_FAMILIES = ("add", "mul", "max", "circuit", "fanout", "neuron", "neuron-gates", "mlp")
ARRAY_FAMILIES = ("wx-norm", "relu-layer", "softmax-ce")
QUIT_WORDS = ("q", "quit", "exit")


@dataclass
class Question:
    prompt: str  # what is asked, in the lecture's words
    truth: Any  # a float; nested lists for an array quantity
    kind: str  # "value", "upstream", "downstream"
    hint: str  # what helps without giving the answer away
    nid: int
    pos: int | None = None  # downstream: which input of the gate
    key: str | None = None  # arrays: the answer's name as the grader knows it (q, dW, #2)
    name: str = ""  # the quantity in the student's names ((q^2), ∂f/∂x): for messages


@dataclass
class Score:
    right: int = 0
    asked: int = 0
    hints: int = 0
    total: int = 0  # questions in the drill
    wrong: list[str] = field(default_factory=list)
    slips: list[str] = field(default_factory=list)  # named slips of the wrong answers

    def line(self, stopped: bool = False) -> str:
        head = "stopped: " if stopped else ""
        hints = f", {self.hints} hint{'s' if self.hints != 1 else ''}" if self.hints else ""
        return (f"{head}score {self.right} of {self.asked}" +
                (f" (of {self.total} questions)" if stopped else "") + hints)


def _num(v: Any) -> float:
    """A scalar record's number (None only where the engine had nothing: not a number)."""
    return math.nan if v is None else float(v)


def questions(made: Made) -> tuple[Any, list[Question]]:
    """The drill for one problem: the evaluated circuit and its questions, forward values in
    forward order, then per gate in backward order its upstream and its downstreams."""
    from ..checks.evaluate import evaluate
    from ..views.names import node_names

    draft = made.draft
    result = evaluate(draft.expression, draft.at,
                      upstream=1.0 if draft.upstream is None else draft.upstream, check=())
    graph = result.graph
    names = node_names(result)
    if result.shaped:
        return result, _array_questions(made, result, names)
    recs = result.nodes
    top = "L" if draft.upstream is not None else result.output
    gates = [n for n in graph.nodes if n.op is not VAR and n.op is not CONST]
    qs: list[Question] = []
    for node in gates:
        rec = recs[node.id]
        shown = [f"{names[j]} = {fmt(recs[j].value)}" for j in node.inputs
                 if graph.nodes[j].op is not CONST]
        qs.append(Question(f"forward: value of {names[node.id]}", _num(rec.value), "value",
                           f"{names[node.id]} is the {node.op.name} gate applied to its inputs"
                           + (f": {', '.join(shown)}" if shown else ""), node.id))
    uses = graph.consumers()
    for node in reversed(gates):
        rec = recs[node.id]
        name = names[node.id]
        if node.id == graph.output:
            # The rule, not the number: the number is the answer itself.
            hint = ("the backward pass starts at the output with the upstream gradient the "
                    "problem gives for it" if draft.upstream is not None else
                    f"the backward pass starts at the output: how much does {top} change "
                    f"when {top} itself changes by a little?")
        else:
            branches = [names[c] for c, _ in uses[node.id]]
            hint = (f"the upstream gradient at {name} is what its consumer "
                    f"({branches[0]}) sent down" if len(branches) == 1 else
                    f"{name} feeds {len(branches)} gates ({', '.join(branches)}): the "
                    "gradients of the branches add")
        qs.append(Question(f"backward at {name}: upstream gradient ∂{top}/∂{name}",
                           _num(rec.upstream), "upstream", hint, node.id))
        for pos, j in enumerate(node.inputs):
            if graph.nodes[j].op is CONST:
                continue
            local = rec.local[pos] if rec.local is not None else math.nan
            down = rec.downstream[pos] if rec.downstream is not None else math.nan
            qs.append(Question(
                f"backward at {name}: downstream gradient to {names[j]}", float(down),
                "downstream", f"downstream = upstream × local; the {node.op.name} gate is a "
                f"{rec.gate}: its local gradient with respect to {names[j]} is "
                f"{fmt(local)}", node.id, pos))
    for name in result.inputs:
        nid = graph.variables[name]
        if name in draft.no_grad or len(uses[nid]) < 2:
            continue  # used once: its gradient is the one downstream already asked
        qs.append(Question(f"backward at {name}: total gradient ∂{top}/∂{name}",
                           _num(recs[nid].upstream), "upstream",
                           f"{name} is used {len(uses[nid])} times: add the downstream "
                           "gradients of its branches", nid))
    return result, qs


def _array_questions(made: Made, result: Any, names: list[str]) -> list[Question]:
    """Forward values in forward order, then per gate in backward order the gradient it
    sends to each input (an input used by several gates: the total, once, at the end)."""
    from ..core.formatting import describe

    graph = result.graph
    recs = result.nodes
    keys_of = {rec.id: rec.label for rec in recs}
    out = graph.output
    top = "L" if made.draft.upstream is not None else result.output
    gates = [n for n in graph.nodes if n.op is not VAR and n.op is not CONST]
    uses = graph.consumers()
    qs: list[Question] = []
    for node in gates:
        rec = recs[node.id]
        inputs = ", ".join(names[j] for j in node.inputs if graph.nodes[j].op is not CONST)
        qs.append(Question(f"forward: value of {names[node.id]}", rec.value, "value",
                           f"{names[node.id]} is the {node.op.name} gate applied to {inputs}; "
                           f"it is {describe(rec.shape or [])}", node.id,
                           key="value" if node.id == out else keys_of[node.id],
                           name=names[node.id]))
    shared = []
    for node in reversed(gates):
        for pos, j in enumerate(node.inputs):
            if graph.nodes[j].op is CONST or names[j] in made.draft.no_grad:
                continue
            if len(uses[j]) > 1:
                if j not in shared:
                    shared.append(j)
                continue
            up = recs[node.id].upstream
            qs.append(Question(
                f"backward at {names[node.id]}: downstream gradient to {names[j]} "
                f"(∂{top}/∂{names[j]})", recs[j].upstream, "downstream",
                f"the {node.op.name} gate sends its upstream gradient {fmt(up)} back by its "
                f"rule; a gradient has its variable's shape, {describe(recs[j].shape or [])}",
                node.id, pos, key=f"d{keys_of[j]}", name=f"∂{top}/∂{names[j]}"))
    for j in shared:
        qs.append(Question(f"backward at {names[j]}: total gradient ∂{top}/∂{names[j]}",
                           recs[j].upstream, "upstream",
                           f"{names[j]} is used {len(uses[j])} times: add the gradients its "
                           "branches send down", j, key=f"d{keys_of[j]}",
                           name=f"∂{top}/∂{names[j]}"))
    return qs


def own_value(q: Question, result: Any, mine: dict[tuple[Any, ...], float]) -> float | None:
    """What ``q``'s answer is when computed from the student's own accepted (rounded)
    answers, ``mine``: ("value", node), ("upstream", node), ("down", node, input) -> value.
    None when no earlier answer of theirs enters it (and for arrays, always)."""
    if q.key is not None:
        return None
    graph = result.graph
    node = graph.nodes[q.nid]
    recs = result.nodes

    def value(j: int) -> float:
        return mine.get(("value", j), float(recs[j].value))

    used = any(("value", j) in mine for j in node.inputs)
    try:
        if q.kind == "value":
            return float(node.op.forward(*[value(j) for j in node.inputs])) if used else None
        if q.kind == "downstream" and q.pos is not None:
            up = mine.get(("upstream", q.nid))
            used = used or up is not None or ("value", q.nid) in mine
            up = float(recs[q.nid].upstream) if up is None else up
            args = tuple(value(j) for j in node.inputs)
            local = node.op.local(args, value(q.nid))[q.pos]
            return up * float(local) if used else None
        if q.kind == "upstream" and q.nid != graph.output:
            total, used = 0.0, False
            for c, pos in graph.consumers()[q.nid]:
                got = mine.get(("down", c, pos))
                used = used or got is not None
                down = recs[c].downstream
                total += got if got is not None else float(down[pos] if down else 0.0)
            return total if used else None
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return None


def check(q: Question, text: str, result: Any, level: int,
          own: Any = None, show: bool = True) -> tuple[bool, list[str]]:
    """Is ``text`` right for ``q``? The key's rule (two decimals; exact values may be written
    exactly), also against ``own`` (the answer from the student's own rounded earlier
    answers, see own_value), and the slip that most likely explains a wrong answer, told
    in the names the drill uses. ``show=False`` (a key's `show_correct = false`): no correct
    value, and only the hints that name a method slip without giving the value away."""
    tol = AnswerTolerance.from_option(DIGITS)
    if q.key is not None:
        return _check_array(q, text, result, tol, own, show)
    a: Answer = answer("answer", text.strip(), where="answer")
    allowed, _, _ = _allowance(a, q.truth, tol)
    if abs(a.value - q.truth) <= allowed:
        return True, []
    if own is not None and math.isfinite(own) and abs(a.value - own) <= allowed:
        return True, [_rounded_right(q, show)]
    hints: list[str] = []
    if q.truth != 0 and abs(a.value + q.truth) <= allowed:
        hints.append("the sign is flipped")
    rec = result.nodes[q.nid]
    if q.kind == "downstream" and q.pos is not None and rec.local is not None:
        up, local = float(rec.upstream), float(rec.local[q.pos])
        node = result.graph.nodes[q.nid]
        own = float(result.nodes[node.inputs[q.pos]].value)
        if up != 1 and abs(a.value - local) <= allowed:
            hints.append("that is the local gradient alone: multiply by the upstream "
                         f"gradient {fmt(up)}")
        elif local != 1 and abs(a.value - up) <= allowed:
            hints.append("that is the upstream gradient alone: multiply by the local "
                         f"gradient {fmt(local)}")
        elif node.op.swaps and own * up != q.truth and abs(a.value - own * up) <= allowed:
            hints.append(f"a {node.op.name} gate swaps: the local gradient is the other input")
    if q.kind == "upstream":
        hints += _upstream_hints(q, a.value, allowed, result)
    if not show:
        return False, ["not right"] + [f"hint: {h}" for h in hints if _method(h)]
    return False, [f"the {q.kind} is {fmt(q.truth)}"] + [f"hint: {h}" for h in hints]


# Hints that name the method's slip without pinning the value down (grade.py's _conceal
# keeps the same kind): a flipped sign or "multiply by 3" give the value away.
def _method(hint: str) -> bool:
    return "branch" in hint or " gate swaps" in hint


def _rounded_right(q: Question, show: bool) -> str:
    return "right from your rounded earlier answers" + (
        f" (unrounded: {fmt(q.truth)})" if show else "")


def _upstream_hints(q: Question, answer: float, allowed: float, result: Any) -> list[str]:
    """The upstream gradient at a node is the sum of what its consumers sent down: a slip
    named by its branches, in the drill's names (not the grader's chain-rule paths, which
    number the paths from the output and can run through a fan-out far above)."""
    from ..views.names import node_names

    graph = result.graph
    if q.nid == graph.output:
        return []
    names = node_names(result)
    uses = graph.consumers()[q.nid]
    if len(uses) > 1:
        for c, pos in uses:
            down = result.nodes[c].downstream
            d = float(down[pos]) if down is not None else math.nan
            if abs(answer - d) <= allowed:
                return [f"that is the gradient from {names[c]} alone: {names[q.nid]} feeds "
                        f"{len(uses)} gates, and the gradients of its branches add"]
            if d != 0 and abs(answer - (q.truth - d)) <= allowed:
                return [f"that leaves out the branch through {names[c]}: {names[q.nid]} "
                        f"feeds {len(uses)} gates, and every branch's gradient is added"]
    seed = result.seed
    if not isinstance(seed, list) and seed not in (0.0, 1.0) \
            and abs(answer * seed - q.truth) <= allowed * max(1.0, abs(seed)):
        return [f"that is the gradient for an upstream of 1: multiply by the upstream "
                f"gradient {fmt(seed)} given at the output"]
    return []


def _check_array(q: Question, text: str, result: Any, tol: AnswerTolerance,
                 own: Any = None, show: bool = True) -> tuple[bool, list[str]]:
    """An array answer, by the grader's rules: its shape, then each entry; the slips the
    grader names (transpose, a constant factor, a flipped sign), in the drill's names;
    right, as in grading, when it is what the student's own rounded answers give."""
    from ..checks.answers import _Keys, match_answers, verdict
    from ..core.formatting import entry
    from ..views.names import node_names
    from .carried import _within

    assert q.key is not None
    c = match_answers(result, {q.key: text.strip()}, tol).checks[0]
    if c.ok:
        return True, []
    same_shape = c.shape == c.answer_shape
    if own is not None and same_shape and _within(c, own):
        return True, [_rounded_right(q, show)]
    c.key = q.name or c.key  # `#4`, `d#4` are the grader's names: say (q^2), ∂f/∂(q^2)
    c.quantity = q.name or c.quantity
    c.target = node_names(result)[_Keys(result).resolve(q.key)[1]]
    if show:
        return False, [c.verdict(), f"the {q.kind} is {fmt(q.truth)}"] + [
            f"hint: {h}" for h in c.hints]
    if not same_shape:
        return False, [verdict(c)]  # shapes only
    bad = [e for e in c.entries if not e.ok]
    return False, [f"{c.key}: {len(bad)} of {len(c.entries)} entries are not right: "
                   + ", ".join(f"{c.key}{entry(e.index)}" for e in bad[:6])
                   + (" …" if len(bad) > 6 else "")]


def own_array(q: Question, result: Any, mine: dict[str, Any]) -> Any:
    """An array question's answer from the student's own accepted (rounded) answers
    ``mine`` (grader key -> array), by the grader's rerun; None when none of them enters it."""
    if q.key is None or not mine:
        return None
    import numpy as np

    from ..checks.answers import _Keys
    from .carried import _Arrays, _rerun

    resolve = _Keys(result).resolve
    theirs = {k: (*resolve(k), v) for k, v in mine.items() if k != q.key}
    theirs[q.key] = (*resolve(q.key), np.asarray(q.truth, dtype=float))
    carried, used = _rerun(result, theirs, _Arrays)
    return carried.get(q.key) if used.get(q.key) else None


def _array_value(text: str) -> Any:
    import numpy as np

    a = answer("answer", text, where="answer")
    if a.shape is None:
        return np.asarray(a.value, dtype=float)
    return np.asarray([e.value for e in a.entries], dtype=float).reshape(a.shape)


def _slot(q: Question) -> tuple[Any, ...]:
    if q.kind == "downstream":
        return ("down", q.nid, q.pos)
    return (q.kind, q.nid)


def run(made: Made, read: Callable[[], str | None], write: Callable[[str], None],
        circuit: str, level: int = 1, echo: bool = False, *,
        max_questions: int | None = None, show: bool = True) -> tuple[Score, bool]:
    """Drill ``made``: ``read()`` gives a line (None at the end of input), ``write`` shows
    text; ``echo`` repeats each answer read (piped input is not shown by a terminal).
    Returns the score and whether the drill ran to its end. KeyboardInterrupt and the end
    of input stop it with the score so far. A first '?' gives the rule and the numbers to
    use, a second the answer (the question then counts as wrong). ``max_questions`` cuts a
    longer drill; ``show=False`` never states a correct value (`show_correct = false`)."""
    result, qs = questions(made)
    cut = len(qs)
    if max_questions is not None and len(qs) > max_questions:
        qs = qs[:max_questions]
    score = Score(total=len(qs))
    mine: dict[tuple[Any, ...], float] = {}
    arrays: dict[str, Any] = {}  # array answers accepted, by the grader's key
    draft = made.draft
    point = ", ".join(f"{n} = {fmt(v)}" for n, v in draft.at.items())
    write(f"{made.description}.\n\n{draft.expression}\n\nat {point}"
          + (f", upstream gradient {fmt(draft.upstream)} arriving at the output"
             if draft.upstream is not None else "") + "\n\n" + circuit + "\n\n")
    write(f"{len(qs)} questions: type a number (exact, or rounded to {DIGITS} decimals)"
          + (", a vector as [4, -2], a matrix as [[1, 0], [0, 1]]"
             if any(q.key is not None for q in qs) else "")
          + ", '?' for a hint, 'q' to stop.\n"
          + (f"(the first {len(qs)} of its {cut} questions: --max-questions {cut} asks them "
             "all)\n" if cut > len(qs) else ""))
    try:
        for k, q in enumerate(qs, 1):
            hinted = revealed = False
            while True:
                write(f"[{k}/{len(qs)}] {q.prompt} = ")
                line = read()
                if line is None:
                    write("\n" + score.line(stopped=True) + "\n")
                    return score, False
                text = line.strip()
                if echo:
                    write(text + "\n")
                if text.lower() in QUIT_WORDS:
                    write(score.line(stopped=True) + "\n")
                    return score, False
                if text.lower() in HINT_WORDS:
                    if not hinted:
                        score.hints += 1
                        hinted = True
                        write(f"  hint: {q.hint}\n")
                        continue
                    revealed = True
                    break
                if not text:
                    continue
                try:
                    own = own_array(q, result, arrays) if q.key is not None else \
                        own_value(q, result, mine)
                    ok, lines = check(q, text, result, level, own, show)
                except InputError as exc:
                    write(f"  '{text}' is not a number ({exc.message}); try again\n")
                    continue
                break
            score.asked += 1
            if revealed:
                score.wrong.append(q.prompt)
                write(f"  the {q.kind} is {fmt(q.truth)}\n" if show else
                      "  no more hints here: on to the next question\n")
            elif ok:
                score.right += 1
                # What they will compute on next: their own (rounded) number.
                if q.key is None:
                    mine[_slot(q)] = float(answer("answer", text, where="answer").value)
                else:
                    arrays[q.key] = _array_value(text)
                write("  ✓ right" + (f" ({lines[0]})" if lines else "") + "\n")
            else:
                from .classresults import slips_of

                score.wrong.append(q.prompt)
                score.slips += slips_of(lines)
                write("  ✗ " + "\n    ".join(lines) + "\n")
    except KeyboardInterrupt:
        write("\n" + score.line(stopped=True) + "\n")
        return score, False
    write(score.line() + "\n")
    return score, True
