"""Property tests of the formula checker: random expressions, their true gradient formula, and
that formula perturbed by each known slip, which must be diagnosed as exactly that slip.

Scalars: random smooth expressions in x and y; the true derivative comes from sympy (the test's
own oracle, built from the test's own tree) and is printed in the tool's grammar. Arrays: random
layers `c*sum(G * act_k(...act_1(A@B)))` (and a mean, a broadcast bias, a fan-out), whose
gradient formulas are written by the chain rule and matrix calculus, with random activations,
scales and targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backprop_cli import check_formula

TRIALS = 6
SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

X, Y = sp.symbols("x y", real=True)


# --- scalars --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Expr:
    text: str
    sym: sp.Expr


LEAVES = st.sampled_from([Expr("x", X), Expr("y", Y), Expr("2", sp.Integer(2))])


def _combine(children: st.SearchStrategy[Expr]) -> st.SearchStrategy[Expr]:
    unary = st.tuples(st.sampled_from(["sin", "cos", "tanh"]), children).map(
        lambda t: Expr(f"{t[0]}({t[1].text})", getattr(sp, t[0])(t[1].sym)))
    square = children.map(lambda a: Expr(f"({a.text})^2", a.sym ** 2))
    binary = st.tuples(st.sampled_from(["+", "-", "*"]), children, children).map(
        lambda t: Expr(f"({t[1].text}) {t[0]} ({t[2].text})",
                       {"+": t[1].sym + t[2].sym, "-": t[1].sym - t[2].sym,
                        "*": t[1].sym * t[2].sym}[t[0]]))
    return st.one_of(unary, square, binary)


SCALARS = st.recursive(LEAVES, _combine, max_leaves=5).filter(
    lambda e: sp.diff(e.sym, X) != 0)

SCALAR_SLIPS = {
    "sign": "-({})",
    "factor 2": "({})/2",
    "constant factor": "3*({})",
}


def _diagnosed(expr: str, claim: str, shapes: dict[str, str] | None = None) -> set[str]:
    report = check_formula(expr, [claim], shapes=shapes, trials=TRIALS)
    (c,) = report.claims
    assert c.verdict == "differs", (expr, claim)
    return {s.name for s in c.diagnosis}


@SETTINGS
@given(SCALARS)
def test_the_true_scalar_derivative_is_proved(e: Expr) -> None:
    truth = str(sp.diff(e.sym, X))  # sympy's printing is the tool's grammar (** is ^)
    report = check_formula(e.text, [f"dx = {truth}"], trials=TRIALS)
    assert report.claims[0].verdict == "proved", (e.text, truth)


# x used once: with x used twice (x + x), "half the gradient" is also one fan-out branch
# left out, and the checker names that one (the copy gate) instead.
ONCE = SCALARS.filter(lambda e: e.text.count("x") == 1)


@SETTINGS
@given(ONCE, st.sampled_from(sorted(SCALAR_SLIPS)))
def test_a_perturbed_scalar_derivative_names_its_slip(e: Expr, slip: str) -> None:
    truth = str(sp.diff(e.sym, X))
    claim = "dx = " + SCALAR_SLIPS[slip].format(truth)
    assert _diagnosed(e.text, claim) == {slip}, (e.text, claim)


@SETTINGS
@given(SCALARS)
def test_a_missing_scalar_fan_out_branch_is_named(e: Expr) -> None:
    # x feeds e and, once more, the branch exp(x) (no generated e is proportional to it):
    # leaving that branch out is the slip.
    expr = f"({e.text}) + exp(x)"
    claim = f"dx = {sp.diff(e.sym, X)}"
    assert _diagnosed(expr, claim) == {"missing fan-out branch"}, (expr, claim)


# --- arrays ---------------------------------------------------------------------------------

# act(z) and the gradient at z of sum(G * act(z)), for the mean, bias and fan-out families.
ACTIVATIONS = {
    "": ("({})", "G"),
    "sigmoid": ("sigmoid({})", "G*sigmoid({0})*(1-sigmoid({0}))"),
    "tanh": ("tanh({})", "G*(1-tanh({0})^2)"),
    "exp": ("exp({})", "G*exp({0})"),
}
LAYER = {"A": "m,k", "B": "k,n", "G": "m,n"}


@dataclass(frozen=True)
class Layer:
    expr: str
    target: str
    upstream: str  # F: the gradient at A@B, in the tool's grammar
    shapes: dict[str, str]

    def truth(self, upstream: str | None = None) -> str:
        f = upstream or self.upstream
        return f"({f})@B.T" if self.target == "A" else f"A.T@({f})"

    def slipped(self, slip: str, choice: int) -> str:
        f, t = self.upstream, self.truth()
        if slip == "sign":
            return f"-({t})"
        if slip == "factor 2":
            return [f"({t})/2", f"2*({t})"][choice % 2]
        if slip == "constant factor":
            return f"3*({t})"
        if slip == "transpose":
            return f"({t}).T"
        if slip == "product order":
            return f"B.T@({f})" if self.target == "A" else f"({f})@A.T"
        if slip == "elementwise vs matrix product":
            return f"({f})*B.T" if self.target == "A" else f"A.T*({f})"
        raise AssertionError(slip)


# An activation's derivative written at its input z (None: the identity, a factor 1).
DERIVATIVES = {"": None, "sigmoid": "sigmoid({0})*(1-sigmoid({0}))",
               "tanh": "(1-tanh({0})^2)", "exp": "exp({0})"}
WRONG_FACTOR = {
    "sigmoid": ["({0})*(1-({0}))", "sigmoid(sigmoid({0}))*(1-sigmoid(sigmoid({0})))"],
    "tanh": ["(1-({0})^2)", "(1-tanh(tanh({0}))^2)"],
}


def chain(acts: list[str], scale: str, wrong: tuple[int, int] | None = None) -> tuple[str, str]:
    """f = scale*sum(G * act_k(...act_1(A@B))) and F, its gradient at A@B by the chain rule:
    G times each activation's derivative at its own input (``wrong``: (which activation, which
    wrong value) evaluated at the wrong value instead)."""
    z = "A@B"
    factors = ["G"] if scale == "1" else [scale, "G"]
    for k, act in enumerate(acts):
        d = DERIVATIVES[act]
        if wrong is not None and wrong[0] == k:
            d = WRONG_FACTOR[act][wrong[1]]
        if d is not None:
            factors.append(d.format(z))
        z = f"{act}({z})"
    return f"{scale}*sum(G * {z})", "*".join(factors)


# Random layers: one to three activations (exp only outermost, so values stay finite) and a
# constant scale; the target A or B.
ACTS = st.tuples(st.lists(st.sampled_from(["", "sigmoid", "tanh"]), min_size=0, max_size=2),
                 st.sampled_from(["", "sigmoid", "tanh", "exp"])).map(lambda t: [*t[0], t[1]])
SCALE = st.sampled_from(["1", "0.5", "3"])


@st.composite
def layers(draw: st.DrawFn) -> Layer:
    expr, upstream = chain(draw(ACTS), draw(SCALE))
    return Layer(expr, draw(st.sampled_from(["A", "B"])), upstream, LAYER)


LAYER_SLIPS = ["sign", "factor 2", "constant factor", "transpose", "product order",
               "elementwise vs matrix product"]


@SETTINGS
@given(layers())
def test_the_true_layer_gradient_holds(layer: Layer) -> None:
    report = check_formula(layer.expr, [f"d{layer.target} = {layer.truth()}"],
                           shapes=layer.shapes, trials=TRIALS)
    c = report.claims[0]
    assert c.verdict == "holds", (layer, c.counterexample)


@SETTINGS
@given(layers(), st.sampled_from(LAYER_SLIPS), st.integers(0, 1))
def test_a_perturbed_layer_gradient_names_its_slip(layer: Layer, slip: str,
                                                   choice: int) -> None:
    claim = f"d{layer.target} = {layer.slipped(slip, choice)}"
    found = _diagnosed(layer.expr, claim, layer.shapes)
    assert found - {"wrong shape"} == {slip}, (layer.expr, claim, found)
    assert ("wrong shape" in found) == (slip == "transpose")


@st.composite
def wrong_values(draw: st.DrawFn) -> tuple[list[str], tuple[int, int]]:
    acts = draw(ACTS)
    k = draw(st.integers(0, len(acts) - 1))
    acts[k] = draw(st.sampled_from(sorted(WRONG_FACTOR)))
    return acts, (k, draw(st.integers(0, 1)))


@SETTINGS
@given(wrong_values(), SCALE, st.sampled_from(["A", "B"]))
def test_an_activation_derivative_at_the_wrong_value_is_named(
        case: tuple[list[str], tuple[int, int]], scale: str, target: str) -> None:
    acts, wrong = case
    expr, upstream = chain(acts, scale, wrong)
    layer = Layer(expr, target, upstream, LAYER)
    claim = f"d{target} = {layer.truth()}"
    assert _diagnosed(expr, claim, LAYER) == {"activation derivative at the wrong value"}, claim


@SETTINGS
@given(st.sampled_from(sorted(ACTIVATIONS)), st.sampled_from(["A", "B"]))
def test_a_missing_1_over_n_of_a_mean_is_named(act: str, target: str) -> None:
    forward, local = ACTIVATIONS[act]
    layer = Layer(f"mean(G * {forward.format('A@B')})", target, local.format("A@B"), LAYER)
    right = f"d{target} = ({layer.truth()})/(m*n)"
    report = check_formula(layer.expr, [right], shapes=LAYER, trials=TRIALS)
    assert report.claims[0].verdict == "holds"
    assert _diagnosed(layer.expr, f"d{target} = {layer.truth()}", LAYER) == {"factor 1/n"}


@SETTINGS
@given(st.sampled_from(sorted(ACTIVATIONS)))
def test_a_missing_batch_sum_is_named(act: str) -> None:
    forward, local = ACTIVATIONS[act]
    shapes = {"X": "B,d", "W": "d,h", "b": "h", "G": "B,h"}
    expr = f"sum(G * {forward.format('X@W + b')})"
    upstream = local.format("X@W + b")
    report = check_formula(expr, [f"db = sum({upstream}, 0)"], shapes=shapes, trials=TRIALS)
    assert report.claims[0].verdict == "holds"
    assert _diagnosed(expr, f"db = {upstream}", shapes) == {"wrong shape", "missing batch sum"}


@SETTINGS
@given(st.sampled_from(sorted(ACTIVATIONS)), st.integers(0, 1))
def test_a_missing_fan_out_branch_of_a_layer_is_named(act: str, which: int) -> None:
    # A feeds the layer and a second branch sum(H * A): dA = (F)@B.T + H.
    forward, local = ACTIVATIONS[act]
    shapes = {**LAYER, "H": "m,k"}
    expr = f"sum(G * {forward.format('A@B')}) + sum(H * A)"
    layer_branch = f"({local.format('A@B')})@B.T"
    report = check_formula(expr, [f"dA = {layer_branch} + H"], shapes=shapes, trials=TRIALS)
    assert report.claims[0].verdict == "holds"
    claim = f"dA = {[layer_branch, 'H'][which]}"
    assert _diagnosed(expr, claim, shapes) == {"missing fan-out branch"}
