"""`backprop make`: families, workable numbers, byte-for-byte seeds, variants, keys that pass
`backprop check`, and worksheets with a blank for every answer."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from backprop_cli.cli import app
from backprop_cli.core.fileio import write_atomic
from backprop_cli.course import make as mk
from backprop_cli.course.batch import run_problems
from backprop_cli.course.problems import parse_problems

runner = CliRunner()


def _key(names: str | None = None, **kw: object) -> str:
    made = mk.make(names, **kw)  # type: ignore[arg-type]
    return mk.key_toml(made, command="backprop make", title="t")


def _flat(v: object) -> list[float]:
    if isinstance(v, list):
        return [x for item in v for x in _flat(item)]
    return [float(v)]  # type: ignore[arg-type]


def test_list_names_every_family_one_line_each() -> None:
    res = runner.invoke(app, ["make", "--list"])
    assert res.exit_code == 0
    lines = res.output.strip().splitlines()
    assert [ln.split()[0] for ln in lines] == list(mk.FAMILIES)


@pytest.mark.parametrize("level", mk.LEVELS)
def test_every_family_and_level_gives_a_key_that_passes_check(level: int) -> None:
    text = _key(None, seed=11, count=len(mk.FAMILIES), level=level)
    report = run_problems(parse_problems(text, "toml", "key.toml"))
    assert report.ok, report.summary_line()
    assert len(report.results) == len(mk.FAMILIES)


def test_same_seed_same_bytes_other_seed_other_numbers() -> None:
    a = _key(None, seed=5, count=6)
    assert a == _key(None, seed=5, count=6)
    assert a != _key(None, seed=6, count=6)


def test_variant_depends_on_the_seed_and_the_id() -> None:
    base = _key("mlp", seed=1, count=2, variant="s1")
    assert base == _key("mlp", seed=1, count=2, variant="s1")
    assert base != _key("mlp", seed=1, count=2, variant="s2")
    assert base != _key("mlp", seed=2, count=2, variant="s1")
    assert base != _key("mlp", seed=1, count=2)


def test_cli_writes_the_same_key_file_twice(tmp_path: Path) -> None:
    for name in ("a.toml", "b.toml"):
        res = runner.invoke(app, ["make", "--seed", "9", "--count", "5", "-o",
                                  str(tmp_path / name)])
        assert res.exit_code == 0, res.output
    assert (tmp_path / "a.toml").read_bytes() == (tmp_path / "b.toml").read_bytes()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".backprop-")]


def test_writing_into_a_fifo_keeps_it_a_fifo(tmp_path: Path) -> None:
    # Like -o /dev/null: an existing special file is written into, never renamed over.
    import os
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    write_atomic(str(fifo), "key\n", where="-o")
    reader.join(timeout=10)
    assert got == ["key\n"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_key_has_points_per_answer_and_the_rounding_rule() -> None:
    pset = parse_problems(_key("neuron", seed=3, count=1), "toml", "key.toml")
    (problem,) = pset.problems
    assert isinstance(problem.expect, dict) and isinstance(problem.points, dict)
    assert set(problem.points) == set(problem.expect)
    assert problem.points_for("dw0") == mk.GRADIENT_POINTS
    assert problem.points_for("s") == mk.FORWARD_POINTS
    assert problem.digits == 2


def test_level_one_sigmoid_input_is_zero_so_everything_is_exact() -> None:
    (m,) = mk.make("neuron-gates", seed=4, count=1, level=1)
    assert m.answers["s"] == 0 and m.answers["value"] == 0.5
    assert m.answers["ds"] == 0.25
    assert all(mk.short(x) for v in m.answers.values() for x in _flat(v))


def test_level_one_softmax_leaves_out_the_loss_that_is_not_short() -> None:
    (m,) = mk.make("softmax-ce", seed=2, count=1, level=1)
    assert "value" not in m.answers and "dz" in m.answers and "p" in m.answers
    assert "dy" not in m.answers  # the label is data, not a parameter


def test_no_answer_sits_on_a_kink() -> None:
    for level in mk.LEVELS:
        for m in mk.make("max,relu-layer,mlp", seed=21, count=9, level=level):
            at = m.draft.at
            if m.family == "max" and level < 3:
                assert at["x"] != at["y"]
            if m.family == "relu-layer" and level == 1:
                assert 0 not in at["x"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(min_value=0, max_value=2**40))
def test_random_seeds_level_one_keys_pass_check_and_every_value_is_short(seed: int) -> None:
    made = mk.make(None, seed=seed, count=len(mk.FAMILIES), level=1)
    for m in made:
        assert all(mk.short(x) for v in m.answers.values() for x in _flat(v)), m.name
        assert all(x == int(x) for v in m.draft.at.values() for x in _flat(v)), m.name
    text = mk.key_toml(made, command="backprop make", title="t")
    assert run_problems(parse_problems(text, "toml", "k.toml"), check=("numeric",)).ok


def test_written_numbers() -> None:
    assert [mk.written(v) for v in (-4.0, 0.25, 0.5, 0.7310585, -0.0, 3.0000000000000004)] \
        == ["-4", "0.25", "0.5", "0.73", "0", "3"]


def test_unknown_family_is_one_clear_error() -> None:
    res = runner.invoke(app, ["make", "nueron"])
    assert res.exit_code == 2
    assert "unknown problem family 'nueron'" in res.output and "neuron" in res.output


@pytest.mark.parametrize("args", [["--level", "4"], ["--count", "0"]])
def test_bad_level_or_count_exit_2(args: list[str]) -> None:
    assert runner.invoke(app, ["make", *args]).exit_code == 2


def test_markdown_worksheet_has_a_blank_for_every_answer(tmp_path: Path) -> None:
    key, sheet = tmp_path / "k.toml", tmp_path / "w.md"
    res = runner.invoke(app, ["make", "--seed", "2", "--count", str(len(mk.FAMILIES)),
                              "-o", str(key), "--worksheet", str(sheet)])
    assert res.exit_code == 0, res.output
    text = sheet.read_text()
    pset = parse_problems(key.read_text(), "toml", "k.toml")
    for k, p in enumerate(pset.problems, 1):
        assert f"## Problem {k}: {p.name}" in text
        section = text.split(f"## Problem {k}: ")[1].split("## Problem ")[0]
        assert "```mermaid" in section
        assert isinstance(p.expect, dict)
        rows = re.findall(r"^\| (\S+) \| .* \| &nbsp; \|$", section, re.M)
        assert [r.replace("\\_", "_") for r in rows] == list(p.expect)
    # No answer leaks into the picture: the circuit is drawn without numbers.
    assert "grad " not in text


def _latex(tmp_path: Path, level: int = 2) -> Path:
    sheet = tmp_path / "w.tex"
    res = runner.invoke(app, ["make", "--seed", "8", "--count", str(len(mk.FAMILIES)),
                              "--level", str(level), "--worksheet", str(sheet)])
    assert res.exit_code == 0, res.output
    return sheet


def test_latex_worksheet_is_a_balanced_document_with_escaped_text(tmp_path: Path) -> None:
    text = _latex(tmp_path).read_text()
    assert text.startswith("\\documentclass") and text.rstrip().endswith("\\end{document}")
    body = re.sub(r"\\begin\{verbatim\}.*?\\end\{verbatim\}", "", text, flags=re.S)
    for env in ("verbatim", "tabular", "document"):
        assert text.count(f"\\begin{{{env}}}") == text.count(f"\\end{{{env}}}")
    # Outside verbatim, no raw TeX specials from names or descriptions (||W x||^2, W@x).
    assert "^2" not in body and "_" not in body.replace("\\_", "")
    assert text.count("\\rule{5cm}") == sum(
        len(p.expect) for p in parse_problems(
            mk.key_toml(mk.make(None, seed=8, count=len(mk.FAMILIES), level=2),
                        command="c", title="t"), "toml", "k.toml").problems
        if isinstance(p.expect, dict))
    assert all(ord(ch) < 128 for ch in text.split("\\begin{document}")[1])


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
@pytest.mark.parametrize("level", mk.LEVELS)
def test_latex_worksheet_compiles(tmp_path: Path, level: int) -> None:
    sheet = _latex(tmp_path, level)
    done = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error",
                           sheet.name], cwd=tmp_path, capture_output=True, timeout=120)
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-2000:]
    assert (tmp_path / "w.pdf").exists()


def test_answer_template_is_blank_then_full_marks_when_filled(tmp_path: Path) -> None:
    from backprop_cli.course.grade import grade, read_submission

    key, tpl = tmp_path / "k.toml", tmp_path / "a.toml"
    res = runner.invoke(app, ["make", "circuit,wx-norm,neuron", "--count", "3", "--seed", "6",
                              "-o", str(key), "--template", str(tpl)])
    assert res.exit_code == 0, res.output
    pset = parse_problems(key.read_text(), "toml", "k.toml")
    blank = grade(pset, read_submission(tpl))
    assert blank.gradable and blank.score == 0
    assert all(a.status == "missing" for p in blank.problems for a in p.answers)
    answers = {m.name: m.answers for m in mk.make("circuit,wx-norm,neuron", seed=6, count=3)}
    lines, table = [], ""
    for line in tpl.read_text().splitlines():
        if line.startswith("["):
            table = line.strip("[]")
        elif "=" in line and not line.startswith("#"):
            k = line.split("=")[0].strip()
            line = line.replace("=", f"= {mk._toml_value(answers[table][k])}", 1)
        lines.append(line)
    filled = "\n".join(lines)
    full = grade(pset, read_submission("a.toml", filled))
    assert full.score == full.max_score > 0

