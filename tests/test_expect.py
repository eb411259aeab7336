"""Checking a person's answers: parsing --expect, rounding-aware matching, chain-rule paths."""

from __future__ import annotations

from decimal import Decimal

import pytest

from backprop_cli import InputError, check_answers, evaluate
from backprop_cli.checks.answers import (
    MAX_PATHS,
    AnswerTolerance,
    chain_rule,
    match_answers,
    parse_expect,
    written_decimals,
)

SIMPLE = "(x+y)*z"
SIMPLE_AT = "x=-2,y=5,z=-4"
NEURON = "sigmoid(w0*x0 + w1*x1 + w2)"
NEURON_AT = {"w0": 2, "x0": -1, "w1": -3, "x1": -2, "w2": -3}


# ---------------------------------------------------------------- parsing --expect


def test_parse_expect_keeps_keys_values_and_writing() -> None:
    got = parse_expect(["dx=-4, dy=-4;value=-12", "dw0=-0.20 q=1.5e-3"])
    assert [a.key for a in got] == ["dx", "dy", "value", "dw0", "q"]
    assert [a.value for a in got] == [-4, -4, -12, -0.2, 0.0015]
    assert got[3].written == "-0.20" and got[3].decimals == 2
    spaced = parse_expect("dx = -4, dy =3")
    assert [(a.key, a.value) for a in spaced] == [("dx", -4), ("dy", 3)]


@pytest.mark.parametrize(("written", "decimals"), [
    ("0.20", 2), ("-0.2", 1), ("3.", 0), ("1.5e-3", 4), ("2.5e3", -2),
    ("-4", None), ("1e-3", None), ("12", None),
])
def test_written_decimals(written: str, decimals: int | None) -> None:
    assert written_decimals(written) == decimals


@pytest.mark.parametrize(("text", "message"), [
    ("", "is empty"),
    ("dx", "has no value"),
    ("dx=", "has no value"),
    ("dx=1,dx=2", "twice"),
    ("=4", "without a name"),
    ("dx 4", "has no value"),
    ("dx=nan", "not a finite number"),
    ("dx=1_000", "not a finite number"),
    ("dx=1e999", "not a finite number"),
    ("dx=٣", "not a finite number"),
])
def test_parse_expect_rejects(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_expect(text)


# ---------------------------------------------------------------- matching


def test_exact_answers_match() -> None:
    r = evaluate(SIMPLE, at=SIMPLE_AT)
    truth = {"value": r.value, **{f"d{k}": v for k, v in (r.gradients or {}).items()}}
    text = ",".join(f"{k}={v:g}" for k, v in truth.items())
    answers = match_answers(r, text)
    assert answers.ok and not answers.mismatches
    assert {c.key: c.truth for c in answers.checks} == truth
    assert all(c.rounding == "exact" for c in answers.checks)


def test_named_intermediates_forward_value_and_upstream_gradient() -> None:
    r = evaluate("q = x + y; f = q * z", at=SIMPLE_AT)
    q = next(n for n in r.nodes if n.label == "q")
    answers = match_answers(r, f"q={q.value:g},dq={q.upstream:g},x=-2")
    kinds = {c.key: (c.kind, c.target) for c in answers.checks}
    assert kinds == {"q": ("value", "q"), "dq": ("gradient", "q"), "x": ("value", "x")}
    assert answers.ok


def test_rounded_answers_are_accepted_as_written() -> None:
    r = evaluate(NEURON, at=NEURON_AT)
    dw0 = (r.gradients or {})["w0"]
    two = f"{dw0:.2f}"  # the lecture's -0.20 for -0.1966...
    assert abs(float(two) - dw0) > 1e-3  # really rounded, not exact
    answers = match_answers(r, f"dw0={two},value={r.value:.2f}")
    assert answers.ok
    assert answers.checks[0].rounding == "2 decimals, as written"


def test_wrong_rounding_is_rejected_with_a_hint() -> None:
    r = evaluate(NEURON, at=NEURON_AT)
    dw0 = (r.gradients or {})["w0"]
    cut = f"{int(dw0 * 100) / 100:.2f}"  # truncated instead of rounded: -0.19
    answers = match_answers(r, f"dw0={cut}")
    (c,) = answers.mismatches
    assert c.truth == dw0 and c.written == cut
    assert any("rounds to" in h for h in c.hints)


def test_integer_answers_are_exact_unless_digits_says_otherwise() -> None:
    r = evaluate("x * y", at="x=1.1,y=2")
    assert not match_answers(r, "dy=1").ok  # 1 is not 1.1
    assert match_answers(r, "dy=1", AnswerTolerance.from_option("0")).ok
    assert match_answers(r, "dy=1.1").ok


def test_digits_option_and_exact_mode() -> None:
    r = evaluate(NEURON, at=NEURON_AT)
    dw0 = (r.gradients or {})["w0"]
    one = f"dw0={dw0:.1f}"  # -0.2
    assert match_answers(r, one, AnswerTolerance.from_option(2)).ok
    assert match_answers(r, one).ok  # as written: 1 decimal
    assert not match_answers(r, f"dw0={dw0:.2f}", AnswerTolerance.from_option("exact")).ok
    assert not match_answers(r, f"dw0={dw0:.2f}", AnswerTolerance.from_option(4)).ok


@pytest.mark.parametrize("bad", ["-1", "16", "two", "2.5"])
def test_bad_digits(bad: str) -> None:
    with pytest.raises(InputError, match="--digits"):
        AnswerTolerance.from_option(bad)


def test_relative_and_absolute_tolerances() -> None:
    r = evaluate("x * y", at="x=100,y=3")
    assert not match_answers(r, "dy=101").ok
    assert match_answers(r, "dy=101", AnswerTolerance(None, False, rtol=0.02)).ok
    assert match_answers(r, "dy=101", AnswerTolerance(None, False, atol=1.5)).ok


def test_unknown_name_is_bad_input_with_a_suggestion() -> None:
    r = evaluate("q = x + y; f = q * z", at=SIMPLE_AT)
    with pytest.raises(InputError, match="neither an input nor an intermediate") as exc:
        match_answers(r, "dk=1")
    assert exc.value.hint is not None and "intermediates: q" in exc.value.hint
    with pytest.raises(InputError) as exc:
        match_answers(r, "valeu=1")
    assert exc.value.hint is not None and exc.value.hint.startswith("did you mean value?")


def test_missing_point_and_duplicate_meaning() -> None:
    with pytest.raises(InputError, match="needs a point"):
        match_answers(evaluate(SIMPLE), "dx=1")
    with pytest.raises(InputError, match="same answer"):
        match_answers(evaluate(SIMPLE, at=SIMPLE_AT), "dx=-4,df/dx=-4")


def test_other_key_forms_node_ids_and_df_dx() -> None:
    r = evaluate(SIMPLE, at=SIMPLE_AT)
    add = next(n for n in r.nodes if n.op == "add")
    answers = match_answers(r, f"{add.label}={add.value:g},df/dz=3,d{add.label}={add.upstream:g}")
    assert answers.ok and [c.kind for c in answers.checks] == ["value", "gradient", "gradient"]


# ---------------------------------------------------------------- the chain rule


def test_chain_rule_single_path_lists_each_local_gradient() -> None:
    r = evaluate("q = x + y; f = q * z", at=SIMPLE_AT)
    (c,) = match_answers(r, "dx=4").mismatches
    assert c.explanation == ["df/dx = df/dq * dq/dx = (-4) * 1 = -4"]
    assert "the sign is flipped" in c.hints
    assert c.quantity == "df/dx"


def test_chain_rule_fan_out_lists_every_path_and_spots_a_missed_branch() -> None:
    r = evaluate("x * x + x", at="x=3")
    lines, products = chain_rule(r, r.graph.variables["x"])
    assert len(products) == 3 and sum(products) == (r.gradients or {})["x"]
    assert "sum over 3 paths" in lines[0] and len(lines) == 4
    (c,) = match_answers(r, f"dx={products[0]:g}").mismatches
    assert any("path 1 alone" in h for h in c.hints)


def test_chain_rule_with_an_upstream_seed() -> None:
    r = evaluate("x * y", at="x=3,y=-4", upstream=2)
    (c,) = match_answers(r, "dx=-4").mismatches  # forgot the seed: -4 instead of -8
    assert c.quantity == "dL/dx"
    assert c.explanation[0].startswith("dL/dx = dL/df * df/dx = 2 * (-4)")
    assert any("upstream seed" in h for h in c.hints)


def test_chain_rule_is_capped_on_exponential_fan_out() -> None:
    lines = ["q1 = x + x"] + [f"q{k + 1} = q{k} + q{k}" for k in range(1, 20)]
    r = evaluate("\n".join(lines), at="x=1", check=())
    explanation, products = chain_rule(r, r.graph.variables["x"])
    assert len(products) == MAX_PATHS
    assert f"sum over {2 ** 20:,} paths" in explanation[0]
    assert "more paths, not listed" in explanation[-1]


def test_chain_rule_on_a_10000_deep_chain_is_iterative_and_elided() -> None:
    r = evaluate("x" + "+1" * 10_000, at="x=1", check=())
    explanation, products = chain_rule(r, r.graph.variables["x"])
    assert products == [1.0] and len(explanation) == 1
    assert "more) ..." in explanation[0] and len(explanation[0]) < 400


def test_value_mismatch_shows_the_forward_computation() -> None:
    r = evaluate("q = x + y; f = q * z", at=SIMPLE_AT)
    (c,) = match_answers(r, "q=-3").mismatches
    assert c.explanation == ["q = x + y = 3, with x = -2, y = 5"]
    assert c.hints == ["the sign is flipped"]


# ---------------------------------------------------------------- the API


def test_check_answers_api_fields() -> None:
    answers = check_answers(NEURON, NEURON_AT, {"value": "0.73", "dw0": Decimal("-0.20"),
                                                "dx0": 0.39})
    assert answers.result is not None and answers.result.ok
    by_key = {c.key: c for c in answers.checks}
    assert by_key["value"].ok and by_key["dw0"].ok
    assert not by_key["dx0"].ok  # a float is exact unless digits says how it was rounded
    assert check_answers(NEURON, NEURON_AT, {"dx0": 0.39}, digits=2).ok
    doc = answers.to_dict()
    assert doc["ok"] is False and {c["key"] for c in doc["checks"]} == {"value", "dw0", "dx0"}
    assert set(doc["checks"][0]) >= {"answer", "truth", "allowed", "rounding", "explanation"}


def test_hints_for_a_missed_branch_and_a_mul_gate_that_was_not_swapped() -> None:
    r = evaluate("x * x + x", at="x=3")
    _, products = chain_rule(r, r.graph.variables["x"])
    grad = (r.gradients or {})["x"]
    (c,) = match_answers(r, f"dx={grad - products[2]:g}").mismatches
    assert any("leaves out path 3" in h for h in c.hints)
    r = evaluate("q = x + y; f = q * z", at=SIMPLE_AT)
    (c,) = match_answers(r, "dz=-4").mismatches  # z's own value instead of q's
    assert any("mul gate swaps" in h and "other input, q" in h for h in c.hints)
    assert c.explanation == ["df/dz = 3: z feeds f directly, so this is f's local gradient"]


def test_a_fraction_is_bad_input_not_a_traceback() -> None:
    # parse_number used Fraction() then float(): "1/3" passed the first and crashed the second.
    from backprop_cli.core.numbers import parse_number

    with pytest.raises(InputError, match="not a finite number"):
        parse_number("1/3", source="1/3", pos=0)
    # As an answer, 1/3 is a formula since issue 13 (tests/test_formula_answers.py).
    assert parse_expect("dx=1/3")[0].formula == "1/3"


def test_arbitrary_expect_text_parses_or_is_bad_input() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    @settings(max_examples=300, deadline=None)
    @given(st.text(st.sampled_from(list("dxqv=,; -.0123e#/\t")), max_size=30))
    def run(text: str) -> None:
        try:
            answers = parse_expect(text)
        except InputError:
            return
        assert all(a.key and "=" not in a.key for a in answers)

    run()


def test_a_scalar_answer_for_an_array_gradient_is_a_wrong_shape_not_a_traceback() -> None:
    # Array answers are checked since tests/test_expect_arrays.py; a scalar for a vector
    # gradient is a wrong answer (exit 1) that names the shape, not bad input.
    from typer.testing import CliRunner

    from backprop_cli.cli import app

    r = CliRunner().invoke(app, ["eval", "relu(x)", "--at", "x=[1,-2,3,-1]",
                                 "--upstream", "[4,-1,5,9]", "--expect", "dx=1"])
    assert r.exit_code == 1
    assert "wrong shape: yours is a scalar, but dx is a vector of 4" in r.output
    assert "Traceback" not in r.output
