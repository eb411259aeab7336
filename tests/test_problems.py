"""Problem sets: TOML and JSON Lines, and every way a file or a problem can be malformed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from backprop_cli import InputError, load_problems, parse_problems
from backprop_cli.course.problems import Invalid, Problem

ROOT = Path(__file__).resolve().parent.parent
LECTURE = ROOT / "examples" / "lecture.toml"

GOOD = '''
[simple]
expression = "(x+y)*z"
at = { x = -2, y = 5, z = -4 }
expect = { value = -12, dx = -4 }
'''


def one(text: str, fmt: str = "toml") -> Problem | Invalid:
    (item,) = parse_problems(text, fmt=fmt).items
    return item


def test_lecture_answer_key_loads() -> None:
    pset = load_problems(LECTURE)
    assert pset.format == "toml" and not pset.invalid and len(pset.problems) >= 10
    assert pset.title
    neuron = next(p for p in pset.problems if p.name == "neuron-exp")
    assert neuron.expect["dw0"] == "-0.20"  # written decimals kept
    assert neuron.at == {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


def test_toml_fields_and_lines() -> None:
    p = one('\n[p]\nexpression = "x*y"\nat = "x=1,y=2"\nupstream = 2.5\ndigits = 2\n'
            'rtol = 0.01\natol = 0\ncheck = ["numeric"]\ndescription = "d"\n'
            'expect = "dx=5,dy=2.5"\n')
    assert isinstance(p, Problem)
    assert (p.name, p.line, p.expression, p.at, p.upstream) == ("p", 2, "x*y", "x=1,y=2", 2.5)
    assert (p.digits, p.rtol, p.atol, p.check, p.expect) == (2, 0.01, 0.0, ("numeric",),
                                                             "dx=5,dy=2.5")
    assert p.lines["expect"] == 11


def test_top_level_defaults_apply_unless_a_problem_overrides() -> None:
    pset = parse_problems('digits = 2\ncheck = "none"\n' + GOOD +
                          '[own]\nexpression = "x"\nat = {x = 1}\ndigits = "exact"\n')
    a, b = pset.problems
    assert (a.digits, a.check) == (2, ())
    assert (b.digits, b.check) == ("exact", ())


def test_dotted_tables_and_multiline_expressions() -> None:
    p = one('[n.expect]\nds = 0.20\n[n]\nexpression = """\ns = 2*x\nf = sigmoid(s)\n"""\n'
            'at.x = 0.5\n')
    assert isinstance(p, Problem)
    assert p.expect == {"ds": "0.20"} and p.at == {"x": "0.5"}
    assert "sigmoid" in p.expression and p.lines["at"] == 8
    assert p.lines["expression"] == 4 and p.lines["expression:body"] == 5


def test_bad_toml_syntax_names_the_line_and_keeps_the_other_problems() -> None:
    text = GOOD + '\n[broken]\nexpression = = "x"\nat = {}\n\n[after]\nexpression = "x"\n' \
        'at = {x=1}\n'
    pset = parse_problems(text)
    names = [(type(it).__name__, it.name) for it in pset.items]
    assert names == [("Problem", "simple"), ("Invalid", "broken"), ("Problem", "after")]
    bad = pset.invalid[0]
    assert bad.line == 8 and "bad TOML at line 8" in bad.message
    assert [it.index for it in pset.items] == [1, 2, 3]


def test_bad_toml_in_the_preamble_is_a_file_error() -> None:
    with pytest.raises(InputError, match="bad TOML at line 1"):
        parse_problems('digits = = 2\n' + GOOD)


def test_duplicate_table_is_reported_against_the_second() -> None:
    pset = parse_problems(GOOD + GOOD)
    assert len(pset.problems) == 1 and pset.invalid[0].line == 7


@pytest.mark.parametrize(("body", "message", "line"), [
    ('at = {x = 1}', "missing 'expression'", 2),
    ('expression = "x"', "missing 'at'", 2),
    ('expression = "x"\nat = {x = 1}\nexpresion = "y"', "unknown key 'expresion'", 5),
    ('expression = 3\nat = {}', "'expression' must be a non-empty string, not the number 3", 3),
    ('expression = ""\nat = {}', "'expression' must be a non-empty string", 3),
    ('expression = "x"\nat = [1]', "'at' must be a table or a string", 4),
    ('expression = "x"\nat = {x = true}', "'at.x' must be a number, a vector or a matrix, "
     "not a boolean", 4),
    ('expression = "x"\nat = {x = "nan"}', "'at.x': 'nan' is not a finite number", 4),
    ('expression = "x"\nat = {x = 1}\nexpect = 3', "'expect' must be a table or a string", 5),
    ('expression = "x"\nat = {x = 1}\nexpect = {dx = "one"}', "'expect.dx': 'one' is not", 5),
    # A list is an array answer (tests/test_expect_arrays.py); a list of lists of lists is not.
    ('expression = "x"\nat = {x = 1}\nexpect = {dx = [[[1]]]}', "at most two levels", 5),
    ('expression = "x"\nat = {x = 1}\nupstream = "big"', "'upstream': 'big' is not", 5),
    ('expression = "x"\nat = {x = 1}\ndigits = -1', "'digits' must be a whole number", 5),
    ('expression = "x"\nat = {x = 1}\ndigits = 2.5', "'digits' must be a whole number", 5),
    ('expression = "x"\nat = {x = 1}\ndigits = "two"', "'digits' must be a whole number", 5),
    ('expression = "x"\nat = {x = 1}\nrtol = -0.1', "'rtol' must not be negative", 5),
    ('expression = "x"\nat = {x = 1}\ncheck = ["symbolic"]', "unknown check 'symbolic'", 5),
    ('expression = "x"\nat = {x = 1}\ncheck = 1', "'check' must be a list", 5),
    ('expression = "x"\nat = {x = 1}\ndescription = 1', "'description' must be a string", 5),
])
def test_malformed_problem(body: str, message: str, line: int) -> None:
    item = one(f"\n[p]\n{body}\n")
    assert isinstance(item, Invalid), item
    assert message in item.message
    assert item.line == line
    assert item.where() == f"problem 'p' (line {line})"


def test_unknown_key_suggests_the_nearest() -> None:
    item = one('[p]\nexpression = "x"\nat = {x = 1}\nexpcet = {dx = 1}\n')
    assert isinstance(item, Invalid) and item.hint == "did you mean 'expect'?"


@pytest.mark.parametrize(("text", "message"), [
    ("", "has no problems"),
    ("# only a comment\n", "has no problems"),
    ("digits = 2\n", "has no problems"),
    ('diggits = 2\n' + GOOD, "unknown top-level key 'diggits'"),
    ('digits = "many"\n' + GOOD, "line 1"),
])
def test_malformed_file(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_problems(text, fmt="toml")


def test_unreadable_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_problems(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'[p]\nexpression = "\xe9"\n')
    with pytest.raises(InputError, match="not UTF-8"):
        load_problems(latin)


# ---------------------------------------------------------------- JSON Lines


def test_jsonl_problems_and_errors_per_line() -> None:
    lines = [
        json.dumps({"name": "a", "expression": "x*y", "at": {"x": 3, "y": -4},
                    "expect": {"dx": -4, "dy": 3}}),
        "",
        '{"expression": "x", "at": ',
        "[1, 2]",
        '{"expression": "x", "at": {"x": NaN}}',
        json.dumps({"name": 7, "expression": "x", "at": {"x": 1}}),
        json.dumps({"expression": "x", "at": {"x": 0.50}, "expect": {"dx": 1.0}, "tol": 1}),
        '{"expression": "x", "at": {"x": 0.50}, "expect": {"value": 0.50}}',
    ]
    pset = parse_problems("\n".join(lines), source="-")
    assert pset.format == "jsonl"
    got = [(type(it).__name__, it.name, it.line) for it in pset.items]
    assert got == [("Problem", "a", 1), ("Invalid", "line 3", 3), ("Invalid", "line 4", 4),
                   ("Invalid", "line 5", 5), ("Invalid", "line 6", 6),
                   ("Invalid", "line 7", 7), ("Problem", "line 8", 8)]
    msgs = [it.message for it in pset.invalid]
    assert msgs[0].startswith("invalid JSON") and "column" in msgs[0]
    assert "not a list" in msgs[1] and "NaN" in msgs[2] and "'name'" in msgs[3]
    assert "unknown key 'tol'" in msgs[4]
    assert pset.problems[1].expect == {"value": "0.50"}  # JSON decimals kept as written


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("p.jsonl", "", "jsonl"), ("p.ndjson", "", "jsonl"), ("p.toml", "", "toml"),
    ("<stdin>", '\n  {"expression": "x"}', "jsonl"), ("<stdin>", "[p]\n", "toml"),
])
def test_format_detection(name: str, text: str, fmt: str) -> None:
    from backprop_cli.course.problems import _format

    assert _format("auto", name, text) == fmt


def test_unknown_format() -> None:
    with pytest.raises(InputError, match="unknown format"):
        parse_problems(GOOD, fmt="yaml")


def test_syntax_error_in_a_sub_table_drops_the_whole_problem() -> None:
    text = GOOD + '[p]\nexpression = "x"\nat = {x = 1}\n[p.expect]\ndx = = 1\n'
    pset = parse_problems(text)
    assert [p.name for p in pset.problems] == ["simple"]
    (bad,) = pset.invalid
    assert (bad.name, bad.line) == ("p", 10)


def test_a_broken_header_is_blamed_on_its_own_problem() -> None:
    text = GOOD + '[broken\nexpression = "x"\nat = {x = 1}\n'
    pset = parse_problems(text)
    assert [p.name for p in pset.problems] == ["simple"]
    (bad,) = pset.invalid
    assert bad.line == 6 and bad.name == "[broken"


def test_arbitrary_text_is_a_problem_set_or_bad_input_never_a_crash() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    alphabet = st.sampled_from(list('[]{}="\'.,#\n xat0-12expressionexpect:'))

    @settings(max_examples=300, deadline=None)
    @given(st.text(alphabet, max_size=80), st.sampled_from(["toml", "jsonl"]))
    def run(text: str, fmt: str) -> None:
        try:
            pset = parse_problems(text, fmt=fmt)
        except InputError:
            return
        assert all(isinstance(it, (Problem, Invalid)) for it in pset.items)

    run()
