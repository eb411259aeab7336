"""One vocabulary: an option shared by commands has one flag, meaning, default and parser."""

from __future__ import annotations

import json
import re

import pytest
import typer.main

from backprop_cli.cli import app

from .conftest import assert_bad_input, invoke

HEADLINE = ["(x+y)*z", "--at", "x=-2,y=5,z=-4"]


def _params() -> dict[str, dict[str, object]]:
    group = typer.main.get_command(app)
    return {name: {p.name: p for p in cmd.params}  # type: ignore[attr-defined]
            for name, cmd in group.commands.items()}  # type: ignore[attr-defined]


# What a shared option may change per command: its help, where it says what the command
# does with it (--at of descend is a starting point), and -o's and --seed's default (replay
# writes replay.html; quiz draws a new seed).
PER_COMMAND = {"at": {"help"}, "check": {"help"}, "expr": {"help"},
               "output": {"help", "default"}, "seed": {"help", "default"}}


@pytest.mark.parametrize("option", ["upstream", "check", "max_rows", "width", "as_json",
                                    "at", "expand", "expr", "output", "seed"])
def test_shared_options_agree_everywhere(option: str) -> None:
    seen = [(name, p) for name, params in _params().items()
            for pname, p in params.items() if pname == option]
    assert len(seen) >= 2, option
    first = seen[0][1]
    may_differ = PER_COMMAND.get(option, set())
    for _name, p in seen[1:]:
        assert p.opts == first.opts  # type: ignore[attr-defined]
        if "help" not in may_differ:
            assert p.help == first.help  # type: ignore[attr-defined]
        if "default" not in may_differ:
            assert p.default == first.default  # type: ignore[attr-defined]


def test_a_number_option_says_the_default_its_command_gives() -> None:
    import re

    from backprop_cli.cli.options import shown

    said = [(name, p) for name, params in _params().items() for p in params.values()
            if re.search(r"\[default: [^]]*\]$", p.help or "")]  # type: ignore[attr-defined]
    assert len(said) >= 10  # rtol, atol, lr, eps, tol, ...
    for name, p in said:
        assert isinstance(p.default, float), (name, p.name)  # type: ignore[attr-defined]
        assert p.help.endswith(f"[default: {shown(p.default)}]"), (  # type: ignore[attr-defined]
            name, p.name)  # type: ignore[attr-defined]


def test_max_rows_has_one_default() -> None:
    defaults = {name: params["max_rows"].default for name, params in _params().items()
                if "max_rows" in params}
    assert set(defaults) == {"eval", "descend", "fit"}
    assert len(set(defaults.values())) == 1, defaults


def test_check_both_is_sympy_and_numeric() -> None:
    both = invoke("eval", *HEADLINE, "--check", "both", "--json")
    default = invoke("eval", *HEADLINE, "--json")
    assert both.code == 0, both.output

    def untimed(out: str) -> dict[str, object]:
        doc = json.loads(out)
        doc["check_summary"].pop("seconds")  # how long the check took: not a verdict
        return doc

    assert untimed(both.stdout) == untimed(default.stdout)
    assert invoke("check", "examples/lecture.toml", "--check", "both").code == 0


def test_check_none_and_a_bad_name_list_every_value() -> None:
    assert invoke("eval", *HEADLINE, "--check", "none").code == 0
    assert_bad_input(invoke("eval", *HEADLINE, "--check", "sympi"), "unknown check 'sympi'",
                     "sympy, numeric, both (sympy,numeric) or none")
    assert_bad_input(invoke("check", "examples/lecture.toml", "--check", "bth"),
                     "unknown check 'bth'", "or none")


def test_input_format_and_its_old_spelling() -> None:
    new = invoke("check", "examples/lecture.toml", "--input-format", "toml")
    old = invoke("check", "examples/lecture.toml", "--format", "toml")
    assert new.code == old.code == 0
    assert new.stdout == old.stdout
    assert "--input-format" in old.stderr and new.stderr == ""


@pytest.mark.parametrize("args,flag", [
    (["eval", *HEADLINE, "--rtol", "-1"], "--rtol must not be negative"),
    (["eval", *HEADLINE, "--upstream", "two"], "--upstream"),
    (["descend", "(w-3)^2", "--at", "w=0", "--lr", "0.1x"], "--lr"),
    (["descend", "(w-3)^2", "--at", "w=0", "--tol", "-1"], "--tol must not be negative"),
])
def test_numbers_are_parsed_by_their_option(args: list[str], flag: str) -> None:
    assert_bad_input(invoke(*args), flag)


def test_upstream_number_and_array() -> None:
    assert invoke("eval", *HEADLINE, "--upstream", "2").code == 0
    r = invoke("eval", "relu(x)", "--at", "x=[1,-2,3,-1]", "--upstream", "[4,-1,5,9]", "--json")
    assert r.code == 0, r.output


@pytest.mark.parametrize("args,typo,suggestion", [
    (["eval", "x*y", "--att", "x=1,y=2"], "--att", "--at"),
    (["eval", "--jsn", "x*y", "--at", "x=1,y=2"], "--jsn", "--json"),  # before the expression
    (["check", "examples/lecture.toml", "--jsn"], "--jsn", "--json"),
    (["descend", "(w-3)^2", "--at", "w=0", "--setps", "3"], "--setps", "--steps"),
    (["fit", "w*x", "--data", "examples/line.csv", "--epoch", "3"], "--epoch", "--epochs"),
    (["steps", "x*y", "--at=x=1,y=2", "--froward"], "--froward", "--forward"),
])
def test_unknown_option_gets_did_you_mean(args: list[str], typo: str, suggestion: str) -> None:
    err = assert_bad_input(invoke(*args), f"no such option: {typo}",
                           f"did you mean {suggestion}?")
    assert "expression" not in err


def test_unknown_option_without_a_close_one_points_to_help() -> None:
    assert_bad_input(invoke("eval", "x", "--at", "x=1", "--zzzzzz"),
                     "no such option: --zzzzzz", "see backprop eval --help")


def test_a_leading_minus_is_still_an_expression() -> None:
    r = invoke("eval", "-x^2", "--at", "x=3")
    assert r.code == 0, r.output


# --- a constant expression needs no --at (issue 17: `eval "2^3^2"` is 512) -----------------

def test_constant_evaluates_without_at() -> None:
    r = invoke("eval", "2^3^2")
    assert r.code == 0, r.output
    assert "f = 512" in r.stdout
    assert "nothing to differentiate" in r.stdout
    assert "Gradients of" not in r.stdout
    assert "verified" not in r.stdout and "checks:" not in r.stdout  # nothing was checked


def test_constant_accepts_at_and_says_it_is_unused() -> None:
    r = invoke("eval", "2^3^2", "--at", "x=1", "--json")
    assert r.code == 0, r.output
    import json

    doc = json.loads(r.stdout)
    assert doc["value"] == 512 and doc["gradients"] == {}
    assert any("not used" in n for n in doc["notes"])


# --- --help examples print verbatim at any width --------------------------------------------

def _example_lines(epilog: str) -> list[str]:
    blocks = epilog.split("\b\n")[1:]
    return [line for block in blocks for line in block.strip("\n").split("\n") if line]


@pytest.mark.parametrize("columns", ["40", "60", "80", "120"])
def test_help_examples_are_verbatim(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    group = typer.main.get_command(app)
    for name, cmd in group.commands.items():  # type: ignore[attr-defined]
        lines = _example_lines(cmd.epilog or "")
        assert lines, f"{name} --help has no example"
        out = invoke(name, "--help").stdout
        for line in lines:
            assert line.strip() in [row.strip() for row in out.splitlines()], (name, line)


def test_help_shows_numbers_and_words_not_internal_names() -> None:
    # A default computed from a constant (the piped width) once printed as `app.PIPED_WIDTH`.
    group = typer.main.get_command(app)
    for name in group.commands:  # type: ignore[attr-defined]
        out = invoke(name, "--help").stdout
        assert not re.search(r"\b[a-z_]+\.[A-Z][A-Z_]{2,}\b", out), name  # module.CONSTANT


def test_example_commands_fit_80_columns_and_continue_with_backslash() -> None:
    from backprop_cli.cli.options import shell_lines

    long = ("backprop fit - --data examples/xor.csv --init random --seed 2 --optimizer adam "
            "--lr 0.1 --epochs 150 --batch-size 8 --val-split 0.25 --predict yhat")
    lines = shell_lines(long).split("\n")
    assert len(lines) > 1 and all(len(line) <= 72 for line in lines)
    assert all(line.endswith(" \\") for line in lines[:-1])
    assert " ".join(line.rstrip("\\ ").strip() for line in lines) == long
    assert any("--val-split 0.25" in line for line in lines)  # an option keeps its value


def test_shell_completion_script_is_offered() -> None:
    r = invoke("--show-completion", "bash")
    assert r.code == 0, r.output
    assert "_BACKPROP_COMPLETE" in r.stdout


# --- messages speak the input's language: a problem file's keys, not CLI options ----------

def test_bad_key_in_a_problem_file_names_the_files_key(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    problems = tmp_path / "bad.toml"
    problems.write_text('[p1]\nexpression = "(x+y)*z"\nat = { x = -2, y = 5, z = -4 }\n'
                        'expect = { value = -12, dw = -4 }\n', encoding="utf-8")
    junit = tmp_path / "report.xml"
    r = invoke("check", str(problems), "--junit", str(junit))
    assert r.code == 2, r.output
    table = " ".join(r.stdout.split())
    assert "expect names 'dw'" in table and "--expect" not in table
    xml = junit.read_text(encoding="utf-8")
    assert "expect names 'dw'" in xml and "--expect" not in xml


def test_the_same_mistake_on_the_command_line_names_the_option() -> None:
    assert_bad_input(invoke("eval", *HEADLINE, "--expect", "dw=-4"), "--expect names 'dw'")


# --- smaller items --------------------------------------------------------------------------

def test_upstream_seed_tables_say_dl() -> None:
    out = invoke("eval", *HEADLINE, "--upstream", "2").stdout
    assert "backprop ∂L/∂input" in out and "upstream ∂L/∂node" in out
    assert "∂f/∂input" not in out


def test_fit_api_takes_an_int_shape() -> None:
    from backprop_cli.core.errors import InputError
    from backprop_cli.learn.fit import fit, read_csv

    loss = open("examples/xor-mlp-matrix.txt", encoding="utf-8").read()
    data = read_csv("examples/xor.csv")
    kw = {"init": "random", "seed": 1, "epochs": 2, "bind": {"x": ["x1", "x2"]}}
    as_int = fit(loss, data, shape={"W1": (2, 2), "b1": 2, "w2": 2}, **kw)
    as_text = fit(loss, data, shape={"W1": "2x2", "b1": (2,), "w2": [2]}, **kw)
    assert as_int.final.keys() == as_text.final.keys()
    assert as_int.to_dict()["history"] == as_text.to_dict()["history"]
    with pytest.raises(InputError, match="must be an int"):
        fit(loss, data, shape={"W1": 2.5}, **kw)


@pytest.mark.parametrize("args,fragments", [
    (["descend", "w^2", "--at", "w=1", "--decay", "foo"], ["exp:K, inverse:K or none"]),
    (["descend", "w^2", "--at", "w=1", "--optimizer", "foo"],
     ["sgd, momentum, nesterov, adam"]),
    (["check", "examples/lecture.toml", "--input-format", "foo"],
     ["unknown format 'foo'", "auto, toml, jsonl"]),
    (["graph", "x*y", "--format", "foo"], ["dot, mermaid, svg, png, text"]),
])
def test_hints_list_every_valid_value(args: list[str], fragments: list[str]) -> None:
    assert_bad_input(invoke(*args), *fragments)
