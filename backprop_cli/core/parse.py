"""Text to graph: the Lark LALR parser, its inline transformer, and friendly syntax errors.

The transformer runs inside the LALR parser as each rule is reduced, so no parse tree
is built and nothing recurses: a 10,000-deep expression parses like a long one.
"""

from __future__ import annotations

import difflib
import keyword
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from .errors import InputError
from .gcpause import paused
from .graph import Graph
from .literals import ArrayLiteral
from .numbers import parse_number
from .ops import CONST, CONSTANTS, FUNCTIONS, JUXT, OPS, Param

GRAMMAR_FILE = "backprop.lark"

# Lark's terminal names, as a user would say them; an op's own terminal ("STAR") is named by
# its entry in the op table (``Op.token``).
_TERMINALS = {
    "NAME": "a name", "NUMBER": "a number", "SIGNED_NUMBER": "a number",
    "LPAR": "'('", "RPAR": "')'",
    "_SEP": "';' or a new line", "EQUAL": "'='", "COMMA": "','", "SEMICOLON": "';'",
    "$END": "the end of the input", "LSQB": "'['", "RSQB": "']'",
    "BAR": "'|'", "ROOT": "'√'", "TIMES": "'×'", "TRANSPOSE_T": "'ᵀ'",
    "SUPERSCRIPT": "a superscript",
    **{op.token[0]: f"'{op.token[1]}'" for op in OPS.values() if op.token},
}


def load_grammar() -> str:
    """The grammar ships inside the package (wheel) and lives in grammars/ in the repo."""
    package = Path(__file__).resolve().parent.parent  # backprop_cli/
    here = package
    for candidate in (package / "grammars" / GRAMMAR_FILE,
                      package.parent / "grammars" / GRAMMAR_FILE):
        if candidate.is_file():
            return candidate.read_text(encoding="utf-8")
    raise FileNotFoundError(f"grammar {GRAMMAR_FILE} not found next to {here}")


@lru_cache(maxsize=1)
def _parser() -> tuple[Lark, _Builder]:
    # The builder runs inline, as the LALR parser reduces each rule: no tree, no recursion.
    # Building the tables costs tens of milliseconds, so there is one parser per process and
    # its builder is reset for every parse (under _LOCK).
    # No cache=True: Lark's cache unpickles a file from the temp folder.
    builder = _Builder("")
    grammar = load_grammar()
    tables = _saved_tables(grammar)
    if tables is not None:
        # Building the LALR tables from the grammar costs ~40 ms at every start; loading them
        # from backprop_cli/core/_tables.py (plain Python literals, no pickle) costs ~5 ms.
        lark = Lark._load_from_dict(  # type: ignore[no-untyped-call]
            *tables, transformer=builder)
    else:
        lark = Lark(grammar, parser="lalr", start=["program", "bindings", "value"],
                    transformer=builder)
    return lark, builder


def _grammar_key(grammar: str) -> str:
    import hashlib

    import lark

    return hashlib.sha256(grammar.encode()).hexdigest() + " lark " + lark.__version__


def _saved_tables(grammar: str) -> tuple[dict[str, Any], dict[int, Any]] | None:
    """The saved tables, if they were made from this grammar by this version of Lark."""
    try:
        from . import _tables
    except ImportError:
        return None
    if _tables.KEY != _grammar_key(grammar):
        return None
    return _tables.DATA, _tables.MEMO


def write_tables(path: Path | None = None) -> Path:
    """Regenerate backprop_cli/core/_tables.py after changing the grammar (a test checks):

        python -c "from backprop_cli.core.parse import write_tables; write_tables()"
    """
    from lark.grammar import Rule
    from lark.lexer import TerminalDef

    grammar = load_grammar()
    lark = Lark(grammar, parser="lalr", start=["program", "bindings", "value"])
    data, memo = lark.memo_serialize([TerminalDef, Rule])
    data["options"].pop("transformer", None)
    path = path or Path(__file__).resolve().parent / "_tables.py"
    path.write_text(
        '"""LALR tables of grammars/backprop.lark, made by parse.write_tables(); do not edit."""\n'
        "# ruff: noqa: E501\n"
        "from typing import Any\n\n"
        f"KEY = {_grammar_key(grammar)!r}\n"
        f"DATA: dict[str, Any] = {data!r}\n"
        f"MEMO: dict[int, Any] = {memo!r}\n", encoding="utf-8")
    return path


NOT_NUMBERS = frozenset({"nan", "inf", "infinity"})  # any case: float() reads them all

class _FastLexer(Lexer):
    """A one-regex lexer for programs: whole parses take about 1.3x less time.

    Lark's contextual lexer costs about half of a parse (a 100,000-node expression spends
    about a second in it). This one only handles text made of the program's tokens; at the
    first character it cannot place it raises _FastLexError and `parse` starts over with
    Lark's own lexer, so every syntax error is Lark's, as before. Its patterns are Lark's
    (from the compiled grammar); where two match at one place the longer token wins
    (** over *, a newline after \\r over the blank \\r), as in Lark.
    """

    __future_interface__ = 2
    # The program's own terminals; the ops' terminals (+ * @ .T ...) come from the op table.
    STRUCTURE = ("_SEP", "__IGNORE_1", "COMMENT", "NUMBER", "NAME", "LPAR", "RPAR", "EQUAL",
                 "COMMA")
    # The student's notations (W^T, x², √, |x|, ×): after the ops, so that the common
    # tokens are tried first; ^T before ^ (the longer token wins, as in Lark).
    NOTATION = ("SUPERSCRIPT", "ROOT", "BAR", "TIMES")

    def __init__(self, lark: Lark):
        terminals = {t.name: t for t in lark.terminals}
        ops = {op.token[0] for op in OPS.values() if op.token} - set(self.STRUCTURE)
        # Longest first, as Lark orders them, so that ** is one POW rather than two STARs.
        # (= after the ops: == is one EQ, an indicator, not two; ^T before ^)
        by_width = sorted(ops, key=lambda n: (-terminals[n].pattern.max_width, n))
        by_width.insert(by_width.index("POW"), "TRANSPOSE_T")
        order = (*(t for t in self.STRUCTURE if t != "EQUAL"), *by_width, "EQUAL",
                 *self.NOTATION)
        self.ignore = frozenset(lark.lexer_conf.ignore)
        self.regex = re.compile("|".join(
            f"(?P<{name}>{terminals[name].pattern.to_regexp()})" for name in order))

    def lex(self, lexer_state: Any, parser_state: Any) -> Iterator[Token]:
        whole = lexer_state.text  # a TextSlice in Lark 1.3, the str itself before
        text: str = getattr(whole, "text", whole)
        pos: int = getattr(whole, "start", 0)
        end: int = getattr(whole, "end", len(text))
        match = self.regex.match
        ignore = self.ignore
        # Token(...) minus a keyword-argument shim, where this Lark has it.
        new: Callable[..., Token] = getattr(Token, "_future_new", Token)
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise _FastLexError
            kind = m.lastgroup or ""
            stop = m.end()
            if kind not in ignore:
                yield new(kind, m.group(), pos, None, None, None, None, stop)
            pos = stop


class _FastLexError(Exception):
    """The fast lexer met a character it does not place: Lark's lexer takes over."""


@lru_cache(maxsize=1)
def _fast_lexer() -> _FastLexer:
    return _FastLexer(_parser()[0])


class _Text:
    """What _FastLexer.lex reads from Lark's lexer state: the text."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


@lru_cache(maxsize=1)
def _lalr_tables() -> tuple[Any, Any, Any, dict[Any, tuple[int, Any, str]]]:
    """Lark's LALR tables for `program`, and per rule (size, callback, origin's name)."""
    from lark.parsers.lalr_analysis import Reduce

    try:
        inner = _parser()[0].parser.parser.parser  # ParsingFrontend -> LALR_Parser -> _Parser
        table = inner.parse_table
        callbacks = inner.callbacks
        table.states, table.start_states, table.end_states  # noqa: B018
    except AttributeError:  # another Lark inside: its own parse loop does the work
        raise NotImplementedError("Lark's parser internals") from None
    if any(isinstance(k, str) for k in callbacks):  # callbacks on tokens: none in this grammar
        raise NotImplementedError("token callbacks")
    reductions = {}
    for actions in table.states.values():
        for action, rule in actions.values():
            if action is Reduce and rule not in reductions:
                reductions[rule] = (len(rule.expansion), callbacks[rule], rule.origin.name)
    return (table.states, table.start_states["program"], table.end_states["program"],
            reductions)


def _run_lalr(source: str) -> Graph:
    """Lark's LALR loop (lark/parsers/lalr_parser_state.py, ``feed_token``) over the fast
    lexer's tokens, in one function: no call per token, each rule's callback found by
    identity (Lark's dict compares rules with ``__eq__``). The callbacks are Lark's own (its
    child filters, then _Builder), so the graph is the same; a token with no action raises
    _FastLexError and Lark parses again, reporting the syntax error itself."""
    from lark.parsers.lalr_analysis import Shift

    states, start, end, reductions = _lalr_tables()
    state_stack = [start]
    value_stack: list[Any] = []
    push_state = state_stack.append
    push_value = value_stack.append
    for tok in _fast_lexer().lex(_Text(source), None):
        ttype = tok.type
        while True:
            try:
                action, arg = states[state_stack[-1]][ttype]
            except KeyError:
                raise _FastLexError from None
            if action is Shift:
                push_state(arg)
                push_value(tok)
                break
            size, callback, origin = reductions[arg]
            if size:
                children = value_stack[-size:]
                del state_stack[-size:]
                del value_stack[-size:]
            else:
                children = []
            value = callback(children)
            push_state(states[state_stack[-1]][origin][1])
            push_value(value)
    while True:  # the end of the input: reduce until the start rule is complete
        try:
            action, arg = states[state_stack[-1]]["$END"]
        except KeyError:
            raise _FastLexError from None
        if action is Shift:
            raise _FastLexError
        size, callback, origin = reductions[arg]
        if size:
            children = value_stack[-size:]
            del state_stack[-size:]
            del value_stack[-size:]
        else:
            children = []
        value = callback(children)
        push_state(states[state_stack[-1]][origin][1])
        push_value(value)
        if state_stack[-1] == end:
            return value_stack[-1]  # type: ignore[no-any-return]


def _parse_program(lark: Lark, builder: _Builder, source: str) -> Graph:
    """Parse with the fast lexer; anything it cannot lex, or a syntax error, goes to Lark's."""
    try:
        return _run_lalr(source)
    except (_FastLexError, NotImplementedError):
        pass
    builder.reset(source, bound=builder.bound)  # start over: Lark's lexer, Lark's syntax error
    return lark.parse(source, start="program")  # type: ignore[return-value]


class _Builder(Transformer):  # type: ignore[type-arg]
    """Callbacks named after the grammar's aliases; each returns (node id, start, end)."""

    def __init__(self, source: str):
        super().__init__()
        self.reset(source)
        # The infix (a + b), prefix (-a) and postfix (A.T: a token but no symbol) ops of the
        # table: Lark looks a callback up by the rule's alias, which is the op's name, so each
        # op gets one here and no method. The op itself is looked up in OPS at each parse, as
        # before (a test swaps an entry).
        for op in OPS.values():
            if op.symbol:
                setattr(self, op.name, partial(self._binary if op.arity == 2 else self._prefix,
                                               op.name))
            elif op.token:
                setattr(self, op.name, partial(self._postfix, op.name))
        self.pow = self._pow  # e^x is exp(x)
        self.transpose = self._transpose  # W^T and Wᵀ are noted for the echo

    def reset(self, source: str, where: str = "--at", bound: frozenset[str] = frozenset()
              ) -> None:
        self.g = Graph(source)
        self.src = source
        self.numbers: dict[str, float] = {}
        self.where = where
        self.bound = bound  # names given values (--at e=2): not constants
        self.unused: list[int] = []  # nodes no longer read (the e of e^x)
        self.defined = -1  # where f(x, y) = ... starts
        self.late_vars = False  # a variable made after its right neighbour: x(y+z)

    def binding(self, c: list[Any]) -> tuple[str, str | ArrayLiteral, int, int]:
        name, num = c
        if isinstance(num, ArrayLiteral):
            return str(name), num, name.start_pos, num.end
        return str(name), str(num), name.start_pos, num.end_pos

    def vector(self, c: list[Any]) -> ArrayLiteral:
        lsq, *nums, rsq = c
        row = [(str(t), t.start_pos, t.end_pos) for t in nums]
        return ArrayLiteral([row], 1, lsq.start_pos, rsq.end_pos)

    def matrix(self, c: list[Any]) -> ArrayLiteral:
        lsq, *rows, rsq = c
        width = len(rows[0].rows[0])
        for k, row in enumerate(rows):
            if len(row.rows[0]) != width:
                n = len(row.rows[0])
                raise InputError(f"ragged matrix: row {k + 1} has {n} "
                                 f"entr{'y' if n == 1 else 'ies'}, row 1 has {width}",
                                 source=self.src, pos=row.start, end=row.end, where=self.where,
                                 hint="every row of a matrix needs the same number of entries")
        return ArrayLiteral([r.rows[0] for r in rows], 2, lsq.start_pos, rsq.end_pos)

    def value(self, c: list[Any]) -> Any:
        return c[0]

    def bindings(self, c: list[tuple[str, str, int, int]]) -> list[tuple[str, str, int, int]]:
        return c

    def _binary(self, name: str, c: list[Any]) -> tuple[int, int, int]:
        (a, s, _), (b, _, e) = c[0], c[-1]  # pow keeps its token in between: ^ or **
        return self.g.add(OPS[name], (a, b), s, e), s, e

    def _prefix(self, name: str, c: list[Any]) -> tuple[int, int, int]:
        sign, (a, _, e) = c
        return self.g.add(OPS[name], (a,), sign.start_pos, e), sign.start_pos, e

    def _postfix(self, name: str, c: list[Any]) -> tuple[int, int, int]:
        (a, s, _), tok = c
        return self.g.add(OPS[name], (a,), s, tok.end_pos), s, tok.end_pos

    def _pow(self, c: list[Any]) -> tuple[int, int, int]:
        (a, s, _), (b, _, e) = c[0], c[-1]
        if a in self.g.named_constants and self.g.nodes[a].literal == "e":
            # e^x is exp(x): exp's gate, exp's local gradient, proved as sympy's exp.
            self.unused.append(a)
            self.g.notations.append("e^x as exp(x)")
            return self.g.add(FUNCTIONS["exp"], (b,), s, e), s, e
        return self.g.add(OPS["pow"], (a, b), s, e), s, e

    def _transpose(self, c: list[Any]) -> tuple[int, int, int]:
        if c[1].type != "TRANSPOSE":
            self.g.notations.append(f"{c[1]} as .T")
        return self._postfix("transpose", c)

    def juxt(self, c: list[Any]) -> tuple[int, int, int]:
        """2x, W x, (x+y)z and × ·: a product, * or @ as the shapes decide. A constant
        beside anything scales it (*); otherwise the engines read it once the shapes are
        known (Graph.read_products)."""
        (a, s, _), (b, _, e) = c[0], c[-1]
        for nid in (a, b):  # x if y else z is code, not a product of five names
            name = self.g.nodes[nid].name
            if name is not None and keyword.iskeyword(name):
                node = self.g.nodes[nid]
                raise InputError(f"expression: syntax error: unexpected '{name}'",
                                 source=self.src, pos=node.start, end=node.end,
                                 hint="the expression language is maths, not Python: "
                                 "operators are + - * / ^ and names are plain words")
        self._not_a_literal(b)
        self.g.notations.append("a product written without *")
        return self._product(a, b, s, e), s, e

    def _not_a_literal(self, b: int) -> None:
        # 2x is a product, but 1_000, 0x10 and 1j are Python's numbers, not 1*_000, 0*x10.
        right = self.g.nodes[b]
        start = right.start
        while start > 0 and (self.src[start - 1].isdigit() or self.src[start - 1] == "."):
            start -= 1  # the digits just before the name, if any
        name = right.name
        if name is None or start == right.start:
            return
        if name[0] == "_" or name in ("j", "J") or (self.src[start:right.start] == "0"
                                                    and name[0] in "xXbBoO"):
            text = self.src[start:right.end]
            raise InputError(f"expression: syntax error: '{text}' is not a number",
                             source=self.src, pos=start, end=right.end,
                             hint="use plain ASCII digits such as 2.5, .5 or 1e-3 (no _, "
                             "no 0x, no j); a product of a number and a name is written 2*x "
                             "or 2x")

    def _product(self, a: int, b: int, s: int, e: int) -> int:
        nodes = self.g.nodes
        if self._constant(nodes[a]) or self._constant(nodes[b]):
            return self.g.add(OPS["mul"], (a, b), s, e)
        nid = self.g.add(JUXT, (a, b), s, e)
        self.g.products.append(nid)
        return nid

    def _constant(self, node: Any) -> bool:
        # A literal, or a negated one (-2x): a number beside anything is the scalar product.
        if node.op is CONST:
            return True
        return node.op.name == "neg" and self.g.nodes[node.inputs[0]].op is CONST

    def superscript(self, c: list[Any]) -> tuple[int, int, int]:
        """x², x⁻¹: the power with the superscript's exponent, as x^2 and x^-1 read."""
        tok = c[1]
        text = str(tok).translate(_SUPERSCRIPTS)
        digits = text.lstrip("+-")
        power, _, _ = self.number([Token("NUMBER", digits, tok.start_pos, end_pos=tok.end_pos)])
        if text.startswith("-"):
            power = self.g.add(OPS["neg"], (power,), tok.start_pos, tok.end_pos)
        self.g.notations.append(f"{tok} as ^{text}")
        return self._pow([c[0], (power, tok.start_pos, tok.end_pos)])  # e² is exp(2)

    def root(self, c: list[Any]) -> tuple[int, int, int]:
        tok, (a, _, e) = c
        self.g.notations.append("√ as sqrt")
        return self.g.add(FUNCTIONS["sqrt"], (a,), tok.start_pos, e), tok.start_pos, e

    def bars(self, c: list[Any]) -> tuple[int, int, int]:
        left, (a, _, _), right = c
        s, e = left.start_pos, right.end_pos
        self.g.notations.append("|x| as abs(x)")
        return self.g.add(FUNCTIONS["abs"], (a,), s, e), s, e

    def pos(self, c: list[Any]) -> tuple[int, int, int]:
        plus, (a, _, e) = c
        return a, plus.start_pos, e

    def group(self, c: list[Any]) -> tuple[int, int, int]:
        lpar, (a, _, _), rpar = c
        return a, lpar.start_pos, rpar.end_pos

    def number(self, c: list[Any]) -> tuple[int, int, int]:
        tok = c[0]
        text = str(tok)
        value = self.numbers.get(text)
        if value is None:  # each distinct literal is read once per parse (the 1 of x + 1 ...)
            value, _ = parse_number(text, source=self.src, pos=tok.start_pos, end=tok.end_pos)
            self.numbers[text] = value
        s, e = tok.start_pos, tok.end_pos
        return self.g.constant(value, text, s, e), s, e

    def _not_a_number_name(self, tok: Any) -> None:
        # Python's float() reads these words as numbers; here they are neither numbers nor
        # names, so that `x + nan` is never a variable called nan (docs/guides/expressions.md).
        if str(tok).lower() in NOT_NUMBERS:
            raise InputError(f"'{tok}' is not a number an expression can use", source=self.src,
                             pos=tok.start_pos, end=tok.end_pos,
                             hint="nan and inf are rejected: write a finite number such as "
                             "1e300, and name variables otherwise")

    def var(self, c: list[Any]) -> tuple[int, int, int]:
        tok = c[0]
        name = str(tok)
        lower = name.lower()  # one lower() for both checks: this runs once per name
        if lower in NOT_NUMBERS:
            self._not_a_number_name(tok)
        s, e = tok.start_pos, tok.end_pos
        g = self.g
        if name in CONSTANTS and name not in self.bound and name not in g.named:
            nid = g.constant(CONSTANTS[name].value, name, s, e)
            g.named_constants.append(nid)
            g.notations.append(f"{name} as {CONSTANTS[name].says}")
            return nid, s, e
        # A function's name in any case (_function), inlined: Σ is not σ.
        if lower in FUNCTIONS and (name in FUNCTIONS or name.isascii()) \
                and name not in g.named:
            # sin x, sqrt x: the argument is the next word, if one follows.
            after = self.src[e:e + 40].split(maxsplit=1)
            word = after[0].rstrip(";,)") if after else ""
            arg = word if word and (word[0].isalnum() or word[0] in "_(") else "..."
            call = f"{name}({arg.strip('()')})" if arg != "..." else f"{name}(...)"
            raise InputError(f"'{name}' is a function", source=self.src, pos=s, end=e,
                             hint=f"call it with parentheses: did you mean {call}?")
        return g.variable(name, s, e), s, e

    def args(self, c: list[Any]) -> list[Any]:
        return c

    def call(self, c: list[Any]) -> tuple[int, int, int]:
        tok, args, rpar = c
        name = str(tok)
        op = FUNCTIONS.get(name)
        if op is None:  # _function(name), inlined: one call per function call counts
            op = _function(name)
            if op is not None:
                self.g.notations.append(f"{name} as {op.name}")  # ReLU(x) is relu(x)
        if op is None and len(args) == 1 and _reads_as_product(name, self.g):
            # x(y+z), W(x+b): a variable beside a parenthesis is a product.
            a = args[0][0]
            v, s, _ = self.var([tok])
            self.late_vars = True
            self.g.notations.append("a product written without *")
            return self._product(v, a, s, rpar.end_pos), s, rpar.end_pos
        if op is None:
            close = difflib.get_close_matches(name, sorted(FUNCTIONS), n=3, cutoff=0.5)
            if name == "Σ":  # Σ(x): the sum of a vector's entries
                close = ["sum"]
            # Two letters swapped (tahn) is the likeliest slip: tanh before the nearer tan.
            close.sort(key=lambda c: sorted(c) != sorted(name))
            inner = self.src[args[0][1]:args[-1][2]] if args else ""
            hint = f"did you mean {close[0]}({inner})?" if close else ""
            raise InputError(f"unknown function '{name}'", source=self.src, pos=tok.start_pos,
                             end=tok.end_pos, hint=(hint + " " if hint else "")
                             + "known functions: " + ", ".join(sorted(FUNCTIONS)))
        if op.param is not None and len(args) == op.arity + 1:
            self._check_param(name, op.param, args[-1])
        elif len(args) != op.arity:
            want = "1 argument" if op.arity == 1 else f"{op.arity} arguments"
            if op.param is not None:
                want += f" (or {op.arity + 1}: {name}({op.param.usage}))"
            raise InputError(f"{name} takes {want}, got {len(args)}", source=self.src,
                             pos=tok.start_pos, end=rpar.end_pos)
        ids = tuple(a for a, _, _ in args)
        return self.g.add(op, ids, tok.start_pos, rpar.end_pos), tok.start_pos, rpar.end_pos

    def _check_param(self, name: str, param: Param, arg: tuple[int, int, int]) -> None:
        """A constant argument (an axis, a slope): a constant as typed, nothing computed."""
        nid, s, e = arg
        node = self.g.nodes[nid]
        if node.op is not CONST or not param.accepts(node.literal):
            raise InputError(f"the {param.name} of {name} must be {param.what}, not "
                             f"'{self.src[s:e][:40]}'", source=self.src, pos=s, end=e,
                             hint=param.hint.format(name=name))

    def assign(self, c: list[Any]) -> tuple[str, int, int]:
        tok, (a, _, _) = c
        self._not_a_number_name(tok)
        self.g.assign(str(tok), a, tok.start_pos)
        return str(tok), a, tok.start_pos

    def define(self, c: list[Any]) -> tuple[str, int, int]:
        """f(x, y) = ...: the output, named f; its parameters are the inputs, in order."""
        tok, params, _rpar, body = c
        for nid, s, e in params:
            node = self.g.nodes[nid]
            if node.name is None or node.op.name != "var" or self.src[s:e] != node.name:
                raise InputError(f"the parameters of {tok}(...) = ... must be names, not "
                                 f"'{self.src[s:e][:40]}'", source=self.src, pos=s, end=e,
                                 hint=f"write it as {tok}(x, y) = ... or name the output "
                                 f"only: {tok} = ...")
        self.defined = tok.start_pos
        return self.assign([tok, body])

    def bare(self, c: list[Any]) -> tuple[None, int, int]:
        (a, s, _) = c[0]
        return None, a, s

    def program(self, c: list[Any]) -> Graph:
        g = self.g
        *body, (last_name, out, last_start) = c
        for name, _, start in body:
            if name is None:
                raise InputError("only the last statement may be a bare expression",
                                 source=self.src, pos=start,
                                 hint="name it (q = ...) so later statements can use it")
        if self.defined >= 0 and self.defined != last_start:
            raise InputError("f(x, ...) = ... names the output: it must be the last statement",
                             source=self.src, pos=self.defined,
                             hint="name the intermediates first (q = x + y), then the output")
        g.output = out
        if last_name is not None:
            g.output_name = last_name
        elif "f" in g.variables or "f" in g.named:
            g.output_name = "out"
        _check_all_used(g)
        if self.unused:
            g.drop(self.unused)
        if self.late_vars:  # x(y+z) made x after y and z: inputs in the order written
            g.variables = dict(sorted(g.variables.items(), key=lambda kv: g.nodes[kv[1]].start))
        return g


def _function(name: str) -> Any:
    """The op a function name stands for: as written, else in lower case (ReLU, Tanh); a
    Greek capital keeps its case (Σ is not σ)."""
    op = FUNCTIONS.get(name)
    return op if op is not None or not name.isascii() else FUNCTIONS.get(name.lower())


def _reads_as_product(name: str, graph: Graph) -> bool:
    """Whether `name(...)`, name not a function, is a product: a variable-like name (one
    letter, maybe with digits: W, x1, w_0) or a name the program already uses; a longer
    unknown name (swish, sigmod) stays an unknown function, with its suggestions."""
    if name == "Σ":  # the sum sign, not a product
        return False
    if name in graph.named or name in graph.variables or name in CONSTANTS:
        return True
    if difflib.get_close_matches(name, list(FUNCTIONS), n=1, cutoff=0.75):
        return False
    return len(name) == 1 or (name[0].isalpha() and all(ch.isdigit() or ch == "_"
                                                           for ch in name[1:]))


# Prefixes of a pasted library call (np.exp) and maths characters the grammar does not read.
_MODULES = frozenset({"np", "numpy", "math", "torch", "F", "sp", "sympy", "jnp", "tf"})
_UNICODE_HINTS = {
    "∑": "sums are written sum(...) (of a vector or matrix) or with +",
    "∏": "products are written with *",
    "÷": "division is written /",
    "∗": "multiplication is written *",
    "≤": "comparisons are not expressions here", "≥": "comparisons are not expressions here",
}
_SUPERSCRIPTS = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁺", "0123456789-+")


def _check_all_used(g: Graph) -> None:
    used = [False] * len(g.nodes)
    used[g.output] = True
    for node in reversed(g.nodes):
        if used[node.id]:
            for j in node.inputs:
                used[j] = True
    for name, nid in g.named.items():
        if not used[nid]:
            node = g.nodes[nid]
            raise InputError(f"'{name}' is assigned but the output never uses it",
                             source=g.source, pos=node.start, end=node.end,
                             hint="remove the statement, or use it in a later one")


def parse(source: str, bound: Iterable[str] = ()) -> Graph:
    """Parse a program (statements separated by ';' or new lines) into a graph.

    ``bound``: the names given values (--at); e, pi and π are constants unless bound."""
    if not isinstance(source, str):  # the Python API's callers: one InputError, named
        raise InputError(f"the expression must be a string, not "
                         f"{'None' if source is None else 'a ' + type(source).__name__}",
                         where="expression")
    if not source.strip():
        raise InputError("the expression is empty",
                         hint='try: backprop eval "(x+y)*z" --at x=-2,y=5,z=-4')
    lark, builder = _parser()
    with _LOCK, paused():
        builder.reset(source, bound=frozenset(bound))
        try:
            graph = _parse_program(lark, builder, source)
        except UnexpectedInput as exc:
            raise _syntax_error(exc, source, "expression") from None
        finally:
            builder.reset("")
    return graph


def parse_value(text: str, where: str) -> str | ArrayLiteral:
    """A lone number or array literal (--upstream): the number's text, or the array."""
    if not text.strip():
        raise InputError(f"{where} is empty", where=where, hint="give a number or [4,-1,5,9]")
    lark, builder = _parser()
    with _LOCK:
        builder.reset(text, where)
        try:
            result = lark.parse(text, start="value")
        except UnexpectedInput as exc:
            raise _syntax_error(exc, text, where) from None
        finally:
            builder.reset("")
    return result if isinstance(result, ArrayLiteral) else str(result)


def parse_bindings(text: str) -> list[tuple[str, str | ArrayLiteral, int, int]]:
    """`x=-2,y=5` -> [(name, number text, start, end)], in order, duplicates kept."""
    if not text.strip():
        raise InputError("--at is empty", where="--at", hint="write it as --at x=-2,y=5")
    lark, builder = _parser()
    with _LOCK:
        builder.reset(text)
        try:
            result: list[tuple[str, str | ArrayLiteral, int, int]]
            result = lark.parse(text, start="bindings")  # type: ignore[assignment]
        except UnexpectedInput as exc:
            raise _syntax_error(exc, text, "--at") from None
        finally:
            builder.reset("")
    return result


def _syntax_error(exc: UnexpectedInput, source: str, where: str) -> InputError:
    pos = exc.pos_in_stream if exc.pos_in_stream is not None else len(source)
    if isinstance(exc, UnexpectedToken) and exc.token.type == "$END":
        pos = len(source)
    expected: set[str] = set()
    if isinstance(exc, (UnexpectedToken, UnexpectedEOF)):
        expected = set(exc.expected)
    elif isinstance(exc, UnexpectedCharacters):
        expected = set(exc.allowed or ())
    wanted = sorted({_TERMINALS.get(t, _anon(t)) for t in expected})
    if pos < len(source) and source[pos] == "]" and source[:pos].rstrip().endswith("[") \
            and where != "expression":
        return InputError(f"{where}: empty arrays are not supported", source=source,
                          pos=source[:pos].rstrip().rindex("["), end=pos + 1, where=where,
                          hint="an array needs at least one entry, e.g. x=[0.5] or "
                          "W=[[1, 0], [0, 1]]")
    if isinstance(exc, UnexpectedCharacters):
        ch = source[pos] if pos < len(source) else ""
        what = f"unexpected character {ch!r}"
    elif isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        what = f"unexpected {_TERMINALS.get(exc.token.type, repr(str(exc.token)))}"
        if exc.token.type in ("NAME", "NUMBER", "SIGNED_NUMBER"):
            what = f"unexpected {str(exc.token)!r}"
    else:
        what = "the input ends too early"
    hint = _suggest(exc, source, pos, where)
    expect = ""
    if wanted:
        expect = "expected " + (", ".join(wanted[:-1]) + " or " + wanted[-1]
                                if len(wanted) > 1 else wanted[0])
    return InputError(f"{where}: syntax error: {what}" + (f"; {expect}" if expect else ""),
                      source=source, pos=pos, where=where, hint=hint)


def _anon(name: str) -> str:
    # Lark names anonymous string terminals by what they match, e.g. COMMA, STAR, __ANON_0.
    return _TERMINALS.get(name, name.lower())


def _suggest(exc: UnexpectedInput, source: str, pos: int, where: str) -> str | None:
    if where == "--at":
        return ("write values as name=number, separated by commas: --at x=-2,y=5,z=1e-3; "
                "arrays as x=[0.2,0.4] or W=[[0.1,0.5],[-0.3,0.8]]")
    if where == "--upstream":
        return "write a number, a vector [4,-1,5,9] or a matrix [[1,0],[0,1]]"
    before = source[:pos].rstrip()
    token = getattr(exc, "token", None)
    ttype = getattr(token, "type", None)
    side_by_side = before and (before[-1].isalnum() or before[-1] in "_)")
    if ttype in _COMPARISONS:
        return ("a comparison is an indicator, 1 where it holds and 0 elsewhere, written in "
                "its own parentheses: (s > 0), (s > 0)*s, ((a < b) < c)")
    if ttype in ("NUMBER", "SIGNED_NUMBER") and side_by_side:
        # 2x is a product, x 2 is not: a number after a term is a slip for x*2 or x^2.
        return (f"a number after a term: write the product with '*' ({before.split()[-1]}*"
                f"{token}) or the power with '^' ({before.split()[-1]}^{token})")
    if ttype in ("NAME", "LPAR", "BAR") and side_by_side:
        return "two terms stand side by side: write the product with '*', e.g. 2*|x|"
    if pos < len(source) and source[pos] == "=" and _NAMED_ARGUMENT.search(source[:pos]):
        return ("arguments have no names (no axis=0): the axis of sum and mean is the second "
                "argument, e.g. sum(A, 0)")
    if pos < len(source) and source[pos] in "[]" and where == "expression":
        return ("only round parentheses group: ( ... ); vector and matrix values such as "
                "[0.2,0.4] go in --at")
    if isinstance(exc, UnexpectedCharacters):
        ch = source[pos] if pos < len(source) else ""
        if ch in "[]{}":
            return "only round parentheses group: ( ... )"
        if ch in "'\"":
            return "the expression language has no strings; names are plain words like x or w0"
        if ch == ".":
            # np.exp(x), math.log(x): the function alone is meant.
            module = before.split()[-1] if before.split() else ""
            name = source[pos + 1:].split("(", 1)[0].strip()
            if module in _MODULES and _function(name) is not None:
                return (f"functions are called by name alone: did you mean {name}(...)? "
                        f"(no '{module}.')")
            return "attributes and methods are not part of the language (only A.T, the transpose)"
        if ch in _UNICODE_HINTS:
            return _UNICODE_HINTS[ch]
        return "operators are + - * / ^ (or **); names use letters, digits and _"
    if ttype == "$END" or isinstance(exc, UnexpectedEOF):
        if source.count("(") > source.count(")"):
            return "a '(' is never closed: add ')'"
        return "the expression stops after an operator: complete it"
    if ttype == "RPAR" and source[:pos].count("(") < source[: pos + 1].count(")"):
        return "this ')' has no matching '('"
    return None


_COMPARISONS = frozenset({"GT", "GE", "LT", "LE", "EQ", "NE"})  # the indicators' terminals
_LOCK = threading.Lock()
# `f(A, name` just before an '=': a keyword argument such as sum(A, axis=0).
_NAMED_ARGUMENT = re.compile(r"\w\s*\([^()]*,\s*\w+\s*$")
