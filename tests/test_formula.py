"""`backprop formula`: claimed gradient formulas checked at random shapes and points (issue 13).

The lecture's examples, one slip per test (named exactly), the shapes and domains of the
random points, bad input (exit 2, one message), the JSON, docs/guides/formulas.md's commands,
outer(u, v).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from backprop_cli import check_formula
from backprop_cli.checks.formula import infer_shapes, parse_shapes
from backprop_cli.checks.formula.points import draw_point, draw_sizes, one_hot_inputs
from backprop_cli.core.errors import InputError
from backprop_cli.core.parse import parse

from .conftest import assert_bad_input, invoke, no_crash, squash

WX = {"W": "m,n", "x": "n,1"}
BIAS = {"X": "B,d", "W": "d,h", "b": "h", "G": "B,h"}
PAGE = Path(__file__).resolve().parent.parent / "docs" / "guides" / "formulas.md"


def one(expr: str, claim: str, **kw: object):  # type: ignore[no-untyped-def]
    report = check_formula(expr, [claim], trials=kw.pop("trials", 8), **kw)  # type: ignore[arg-type]
    (c,) = report.claims
    return c


def slips(c) -> set[str]:  # type: ignore[no-untyped-def]
    return {s.name for s in c.diagnosis}


# --- the lecture's examples hold ------------------------------------------------------------


@pytest.mark.parametrize("expr, claim, shapes", [
    ("sum((W@x)^2)", "dW = 2*(W@x)@x.T", WX),
    ("sum((W@x)^2)", "dx = 2*W.T@(W@x)", WX),
    ("q = W@x; f = sum(q^2)", "dW = 2*q@x.T", WX),
    ("q = W@x; f = sum(q^2)", "dq = 2*q", WX),
    ("cross_entropy(z, y)", "dz = softmax(z) - y", {"z": "b,k"}),
    ("sum(G * (X@W + b))", "db = sum(G, 0)", BIAS),
    ("sum(G * (X@W + b))", "dW = X.T@G", BIAS),
    # The ReLU layer with an upstream G: relu'(s) written relu(s)/s (s is never 0 here).
    ("sum(G * relu(W@x))", "dW = (G*relu(W@x)/(W@x))@x.T", {"W": "m,n", "x": "n,1", "G": "m,1"}),
    ("mean((W@x)^2)", "dW = 2*(W@x)@x.T/m", WX),
])
def test_a_right_formula_holds_at_every_trial(expr: str, claim: str,
                                              shapes: dict[str, str]) -> None:
    c = one(expr, claim, shapes=shapes)
    assert c.verdict == "holds", (c.counterexample, c.diagnosis)
    assert c.trials == 8 and c.counterexample is None and not c.diagnosis
    assert c.describe() == "holds at 8 points"


def test_a_scalar_formula_is_proved_by_sympy() -> None:
    c = one("sin(x^2)", "dx = 2*x*cos(x^2)")
    assert c.verdict == "proved" and c.describe() == "proved by sympy"


def test_a_scalar_formula_in_named_intermediates_is_proved() -> None:
    c = one("q = x*y; f = q*q + q", "dx = (2*q + 1)*y")
    assert c.verdict == "proved"


# --- one slip each, named exactly -----------------------------------------------------------


@pytest.mark.parametrize("expr, claim, shapes, expected", [
    ("sum((W@x)^2)", "dW = 2*x@(W@x).T", WX, {"wrong shape", "transpose"}),
    ("sum((W@x)^2)", "dx = 2*W@(W@x)", WX, {"transpose"}),
    ("sum((W@x)^2)", "dW = 2*x.T@(W@x)", WX, {"product order"}),
    ("sum((W@x)^2)", "dW = (W@x)@x.T", WX, {"factor 2"}),
    ("sum((W@x)^2)", "dW = -2*(W@x)@x.T", WX, {"sign"}),
    ("mean((W@x)^2)", "dW = 2*(W@x)@x.T", WX, {"factor 1/n"}),
    ("sum((W@x)^2)", "dW = 3*(W@x)@x.T", WX, {"constant factor"}),
    ("cross_entropy(z, y)", "dz = y - softmax(z)", {"z": "b,k"}, {"sign"}),
    ("sum(G * (X@W + b))", "db = G", BIAS, {"wrong shape", "missing batch sum"}),
    ("sum(G * (X@W))", "dW = X.T*G", {"X": "B,d", "W": "d,h", "G": "B,h"},
     {"elementwise vs matrix product"}),
    ("sum(G * sigmoid(W@x))", "dW = (G*(W@x)*(1-W@x))@x.T", {"W": "m,n", "x": "n,1", "G": "m,1"},
     {"activation derivative at the wrong value"}),
    ("sum(G * sigmoid(W@x))", "dW = (G*sigmoid(sigmoid(W@x))*(1-sigmoid(sigmoid(W@x))))@x.T",
     {"W": "m,n", "x": "n,1", "G": "m,1"}, {"activation derivative at the wrong value"}),
    ("x*y + x", "dx = y", {}, {"missing fan-out branch"}),
    ("sin(x^2)", "dx = x*cos(x^2)", {}, {"factor 2"}),
])
def test_a_slip_is_named(expr: str, claim: str, shapes: dict[str, str],
                         expected: set[str]) -> None:
    c = one(expr, claim, shapes=shapes)
    assert c.verdict == "differs"
    assert slips(c) == expected, [s.sentence for s in c.diagnosis]
    assert all(s.sentence.endswith(".") for s in c.diagnosis)


@pytest.mark.parametrize("claim, second", [("dW = x@(W@x).T", "factor 2"),
                                           ("dW = -2*x@(W@x).T", "sign")])
def test_a_transpose_and_a_factor_at_once_are_both_named(claim: str, second: str) -> None:
    # The issue's `x@(W@x).T` for 2*(W@x)@x.T: transposed and without the 2.
    c = one("sum((W@x)^2)", claim, shapes=WX)
    assert [s.name for s in c.diagnosis] == ["wrong shape", "transpose", second]


def test_the_wrong_shape_is_said_in_the_users_letters() -> None:
    c = one("sum((W@x)^2)", "dW = 2*x@(W@x).T", shapes=WX)
    shape = next(s for s in c.diagnosis if s.name == "wrong shape")
    assert shape.sentence.startswith("Wrong shape: your formula is n x m, dW is m x n like W")


def test_a_missing_transpose_names_the_factor() -> None:
    c = one("sum((W@x)^2)", "dx = 2*W@(W@x)", shapes=WX)
    assert "W.T is missing" in c.diagnosis[0].sentence
    assert c.counterexample is not None and c.counterexample.yours is None
    assert "cannot be computed at these shapes" in c.counterexample.note


def test_an_unexplained_difference_says_so() -> None:
    c = one("x*y", "dx = x")
    assert c.verdict == "differs" and not c.diagnosis
    assert "no known slip explains the difference" in c.notes


def test_the_counterexample_shows_shapes_point_yours_and_correct() -> None:
    c = one("sum((W@x)^2)", "dW = (W@x)@x.T", shapes=WX)
    ce = c.counterexample
    assert ce is not None
    w = np.array(ce.point["W"])
    x = np.array(ce.point["x"])
    assert ce.shapes == {"W": list(w.shape), "x": list(x.shape)}
    assert np.allclose(ce.correct, 2 * (w @ x) @ x.T)
    assert np.allclose(ce.yours, (w @ x) @ x.T)


# --- shapes and points ----------------------------------------------------------------------


def test_letters_are_distinct_in_every_trial() -> None:
    rng = np.random.default_rng(1)
    shapes = parse_shapes(["W=m,n", "V=n,k", "x=k,3"])
    for _ in range(50):
        sizes = draw_sizes(shapes, rng)
        assert len(set(sizes.values())) == 3 and 3 not in sizes.values()


def test_a_transpose_cannot_pass_on_square_matrices() -> None:
    # W's letters differ, so W is never square and the transpose is always caught.
    c = check_formula("sum(A*W)", ["dW = A.T"], shapes={"W": "m,n", "A": "m,n"}, trials=20)
    assert c.claims[0].verdict == "differs"
    assert all(s["W"][0] != s["W"][1] for s in c.claims[0].shapes_tried)


def test_shapes_are_inferred_from_the_inner_size_of_matmul() -> None:
    graph = parse("sum((W@x)^2)")
    shapes, notes = infer_shapes(graph, parse_shapes(["W=m,n"]))
    assert shapes["x"] == ("n",)
    assert notes == ["x inferred: a vector of n, from W@x (declare --shape x=n,1 for a column)"]


def test_the_labels_of_cross_entropy_get_the_logits_shape_and_are_one_hot() -> None:
    graph = parse("cross_entropy(z, y)")
    shapes, notes = infer_shapes(graph, parse_shapes(["z=b,k"]))
    assert shapes["y"] == ("b", "k") and "y inferred" in notes[0]
    point = draw_point(graph, shapes, {"b": 3, "k": 4}, one_hot_inputs(graph),
                       np.random.default_rng(0))
    assert point["y"].shape == (3, 4)
    assert np.all(point["y"].sum(axis=1) == 1) and set(np.unique(point["y"])) == {0.0, 1.0}


def test_inputs_of_log_and_sqrt_are_drawn_with_both_signs_where_defined() -> None:
    # Points are redrawn only where the expression cannot be computed: x under log(x^2) is
    # drawn negative too, x under log(x) never (its draws there are rejected).
    for expr, negative in (("log(x^2) + sqrt(y^2)", True), ("log(x) + sqrt(y) + z", False)):
        c = check_formula(expr, ["dx = 2/x" if negative else "dx = 1/x"], trials=24)
        (claim,) = c.claims
        assert claim.verdict == "proved"
    graph = parse("log(x^2)")
    rng = np.random.default_rng(0)
    xs = [draw_point(graph, {}, {}, set(), rng)["x"] for _ in range(50)]
    assert min(xs) < 0 < max(xs)


def test_inputs_under_a_log_through_sums_and_products_hold() -> None:
    c = one("sum(log(W@x + b))", "db = 1/(W@x + b)", shapes={"W": "m,n", "x": "n", "b": "m"})
    assert c.verdict == "holds"


def test_undeclared_names_are_scalars() -> None:
    c = one("sum(c * W)", "dc = sum(W)", shapes={"W": "m,n"})
    assert c.verdict == "holds" and c.shapes_tried[0]["c"] == []


def test_the_at_point_is_checked_first() -> None:
    c = one("sum((W@x)^2)", "dW = 2*(W@x)@x.T", shapes=WX,
            at="W=[[0.1,0.5],[-0.3,0.8]],x=[[0.2],[0.4]]")
    assert c.verdict == "holds" and c.shapes_tried[0] == {"W": [2, 2], "x": [2, 1]}


def test_a_claim_that_differs_only_at_the_at_point_is_caught() -> None:
    c = one("relu(x)", "dx = 1", at="x=-1")
    assert c.verdict == "differs" and c.counterexample is not None
    assert c.counterexample.point == {"x": -1.0}


def test_the_seed_gives_the_same_trials() -> None:
    a = one("sum((W@x)^2)", "dW = (W@x)@x.T", shapes=WX, seed=5)
    b = one("sum((W@x)^2)", "dW = (W@x)@x.T", shapes=WX, seed=5)
    assert a.to_dict() == b.to_dict()


# --- bad input: exit 2, one message ---------------------------------------------------------


@pytest.mark.parametrize("args, fragments", [
    (("sum((W@x)^2)", "dW = 2*(W@x@x.T", "--shape", "W=m,n"), ("claim: syntax error",)),
    (("sum((W@x)^2)", "dW = 2*(w@x)@x.T", "--shape", "W=m,n"),
     ("unknown name 'w' in the claim", "did you mean W?")),
    (("sum((W@x)^2)", "dz = 2", "--shape", "W=m,n"), ("is for 'z', which is not in the",)),
    (("sum(W@x)", "dW = x", "--shape", "W=3,4", "--shape", "x=5"),
     ("shape mismatch", "inner dimensions differ (4 vs 5)")),
    (("log(x)", "dx = log(-x-1)"), ("cannot be computed at any point of the expression's domain",
                                     "log of a non-positive number")),
    (("sum((W@x)^2)", "2*x"), ("does not say which gradient it gives", "dNAME = FORMULA")),
    (("W@x", "dW = 2", "--shape", "W=m,n", "--shape", "x=n,1"), ("not a scalar",)),
    (("x", "dx = 1", "--shape", "W=m"), ("which is not an input",)),
    (("x", "dx = 1", "--shape", "x=m,0"), ("'0' is not a dimension",)),
    (("x", "dx = 1", "--shape", "x"), ("has no '='",)),
])
def test_bad_input_is_one_message_and_exit_2(args: tuple[str, ...],
                                             fragments: tuple[str, ...]) -> None:
    assert_bad_input(invoke("formula", *args), *fragments)


def test_no_claim_text_reaches_eval_or_sympify(monkeypatch: pytest.MonkeyPatch,
                                               fresh_worker: None) -> None:
    import builtins

    import numpy.random  # noqa: F401 - imported first: its namedtuples are made with eval
    import sympy

    def refuse(*a: object, **k: object) -> None:
        raise AssertionError("user text reached eval/sympify")

    monkeypatch.setattr(sympy, "sympify", refuse)
    monkeypatch.setattr(builtins, "eval", refuse)
    assert one("sin(x^2)", "dx = 2*x*cos(x^2)").verdict == "proved"


def test_a_grader_gets_an_undefined_claim_as_differing_not_as_an_error() -> None:
    report = check_formula("log(x)", ["dx = log(-x-1)", "dx = 1/x"], trials=4, grading=True)
    undefined, right = report.claims
    assert undefined.verdict == "differs"
    assert any("cannot be computed at any" in n for n in undefined.notes)
    assert right.verdict == "proved"


def test_library_errors_are_input_errors() -> None:
    with pytest.raises(InputError, match="no claim to check"):
        check_formula("x", [])


# --- CLI: table, JSON, exit codes -----------------------------------------------------------


def test_the_table_shows_verdict_diagnosis_and_counterexample() -> None:
    r = invoke("formula", "sum((W@x)^2)", "dW = 2*(W@x)@x.T", "dW = (W@x)@x.T",
               "--shape", "W=m,n", "--shape", "x=n,1", "--trials", "6")
    no_crash(r)
    assert r.code == 1
    flat = " ".join(r.stdout.replace("│", " ").split())
    assert "holds at 6 points" in flat and "differs" in flat
    assert "A factor 2 is missing" in flat and "correct:" in flat and "yours:" in flat


def test_json_has_the_issues_fields() -> None:
    r = invoke("formula", "sum((W@x)^2)", "dW = x@(W@x).T", "--shape", "W=m,n",
               "--shape", "x=n,1", "--json", "--trials", "5")
    assert r.code == 1
    doc = json.loads(r.stdout)
    (c,) = doc["claims"]
    for key in ("claim", "target", "verdict", "trials", "shapes_tried", "counterexample",
                "diagnosis"):
        assert key in c
    assert c["target"] == "W" and c["verdict"] == "differs" and c["trials"] == 5
    assert set(c["counterexample"]) >= {"shapes", "point", "yours", "correct"}
    assert c["diagnosis"][0]["slip"] == "wrong shape" and c["diagnosis"][0]["sentence"]


def test_exit_0_when_every_claim_holds() -> None:
    r = invoke("formula", "sin(x^2)", "dx = 2*x*cos(x^2)")
    assert r.code == 0 and "proved by sympy" in r.stdout


def _readme_commands() -> list[tuple[str, int, str]]:
    """Each `backprop formula ...   # exit N[: what]` line of docs/guides/formulas.md."""
    section = PAGE.read_text(encoding="utf-8")
    found = []
    for line in section.splitlines():
        m = re.match(r"backprop formula (.*?)\s+# exit (\d)(?:: (.*))?$", line)
        if m:
            found.append((m.group(1), int(m.group(2)), m.group(3) or ""))
    return found


def _readme_python() -> list[str]:
    section = PAGE.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


@pytest.mark.parametrize("block", _readme_python())
def test_each_readme_python_example_runs_and_holds(block: str) -> None:
    namespace: dict[str, object] = {}
    exec(compile(block, "formulas.md", "exec"), namespace)  # our own docs, not user input
    assert namespace["report"].ok  # type: ignore[attr-defined]


def test_the_readme_has_the_lecture_examples() -> None:
    commands = " ".join(c for c, _, _ in _readme_commands())
    for fragment in ("dW = 2*(W@x)@x.T", "dz = softmax(z) - y", "db = sum(G, 0)",
                     "dx = 2*x*cos(x^2)"):
        assert fragment in commands


@pytest.mark.parametrize("command, code, what", _readme_commands())
def test_each_readme_example_comes_out_as_written(command: str, code: int, what: str) -> None:
    r = invoke("formula", *shlex.split(command), "--json")
    no_crash(r)
    assert r.code == code, r.output
    claims = json.loads(r.stdout)["claims"]
    if what == "proved by sympy":
        assert all(c["summary"] == what for c in claims)
    elif what:  # the slip named
        assert all(what in [d["slip"] for d in c["diagnosis"]] for c in claims), claims


# --- outer(u, v) ----------------------------------------------------------------------------


def test_outer_is_u_v_transpose_and_backprop_agrees_with_sympy() -> None:
    from backprop_cli import evaluate

    r = evaluate("sum(outer(u, v) * A)", {"u": "[1,2]", "v": "[3,4,5]",
                                           "A": "[[1,0,2],[0,1,0]]"})
    assert r.ok and r.value == pytest.approx(21.0)
    assert r.gradients["A"] == [[3.0, 4.0, 5.0], [6.0, 8.0, 10.0]]
    assert r.gradients["u"] == [13.0, 4.0] and r.gradients["v"] == [1.0, 2.0, 2.0]


def test_a_1d_formula_writes_u_v_transpose_with_outer() -> None:
    c = one("sum((W@x)^2)", "dW = outer(2*W@x, x)", shapes={"W": "m,n"})
    assert c.verdict == "holds"


def test_outer_needs_vectors() -> None:
    assert_bad_input(invoke("eval", "sum(outer(A, A))", "--at", "A=[[1,2],[3,4]]"),
                     "outer needs two vectors")


# --- examples/formulas.toml: the lecture's vectorised examples --------------------------------

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "formulas.toml"


def _examples() -> list[tuple[str, str, str, list[str] | None]]:
    from backprop_cli.core.tomlcompat import tomllib

    data = tomllib.loads(EXAMPLES.read_text(encoding="utf-8"))
    cases: list[tuple[str, str, str, list[str] | None]] = []
    for name, ex in data.items():
        cases += [(name, ex["expression"], claim, None) for claim in ex["right"]]
        cases += [(name, ex["expression"], w["claim"], w["slips"]) for w in ex["wrong"]]
    return cases


@pytest.mark.parametrize("name, expr, claim, expected", _examples(),
                         ids=lambda v: v if isinstance(v, str) else None)
def test_each_example_comes_out_as_written(name: str, expr: str, claim: str,
                                           expected: list[str] | None) -> None:
    from backprop_cli.core.tomlcompat import tomllib

    shapes = tomllib.loads(EXAMPLES.read_text(encoding="utf-8"))[name]["shape"]
    c = one(expr, claim, shapes=shapes)
    if expected is None:
        assert c.verdict == "holds", (c.counterexample, [s.sentence for s in c.diagnosis])
    else:
        assert c.verdict == "differs" and [s.name for s in c.diagnosis] == expected, \
            [s.sentence for s in c.diagnosis]


# --- check_gradient: the user's own gradient code -------------------------------------------


def _relu_layer(w: np.ndarray, x: np.ndarray, g: np.ndarray) -> dict[str, np.ndarray]:
    s = w @ x
    return {"W": (g * (s > 0)) @ x.T, "x": w.T @ (g * (s > 0)), "G": np.maximum(s, 0)}


RELU_LAYER = {"W": "m,n", "x": "n,1", "G": "m,1"}


def test_check_gradient_holds_for_a_right_backward_pass() -> None:
    from backprop_cli import check_gradient

    report = check_gradient("sum(G * relu(W@x))",
                            lambda W, x, G: _relu_layer(W, x, G), shapes=RELU_LAYER)  # noqa: N803
    assert report.ok and {c.target for c in report.claims} == {"W", "x", "G"}
    assert all(c.verdict == "holds" for c in report.claims)


def test_check_gradient_names_the_slip_of_a_wrong_backward_pass() -> None:
    from backprop_cli import check_gradient

    def buggy(W: np.ndarray, x: np.ndarray, G: np.ndarray) -> dict[str, np.ndarray]:  # noqa: N803
        right = _relu_layer(W, x, G)
        return {**right, "W": right["W"].T, "x": -right["x"]}

    report = check_gradient("sum(G * relu(W@x))", buggy, shapes=RELU_LAYER)
    found = {c.target: slips(c) for c in report.claims}
    assert found == {"W": {"wrong shape", "transpose"}, "x": {"sign"}, "G": set()}


def test_check_gradient_takes_one_gradient_with_wrt() -> None:
    from backprop_cli import check_gradient

    report = check_gradient("x*y + x", lambda x, y: y, wrt=["x"])
    (c,) = report.claims
    assert slips(c) == {"missing fan-out branch"}


def test_check_gradient_says_which_gradient_is_missing() -> None:
    from backprop_cli import check_gradient

    with pytest.raises(InputError, match="returned no gradient for 'y'"):
        check_gradient("x*y", lambda x, y: {"x": y})


def test_the_expression_may_come_from_stdin() -> None:
    r = invoke("formula", "-", "dx = 2*x", "--shape", "x=n", input="sum(x^2)")
    no_crash(r)
    assert r.code == 0 and "holds at 24 points" in r.stdout


def test_inferred_shapes_are_said_under_the_table() -> None:
    r = invoke("formula", "sum((W@x)^2)", "dW = outer(2*W@x, x)", "--shape", "W=m,n")
    assert r.code == 0
    assert "x inferred: a vector of n, from W@x" in squash(r.stdout)


def test_an_at_point_must_fit_the_declared_shapes() -> None:
    assert_bad_input(invoke("formula", "sum((W@x)^2)", "dW = 2*(W@x)@x.T", "--shape", "W=m,n",
                            "--shape", "x=n,1", "--at", "W=[[1,2]],x=[3,4]"),
                     "--at gives x as a vector of 2, but its shape is n×1")
