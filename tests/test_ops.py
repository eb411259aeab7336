"""The op table, one op at a time: local gradients against central differences and sympy.

Points come from a grid that includes 0 and negatives; a point is used wherever the op is
defined and differentiable there (kinks are tested on their own below).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import sympy as sp

from backprop_cli import evaluate
from backprop_cli.checks.symbolic import SP, to_float
from backprop_cli.core.ops import FUNCTIONS, OPS, Op

GRID = (-2.5, -1.0, 0.0, 0.5, 2.0, 3.0)


def points(op: Op) -> list[tuple[float, ...]]:
    return list(itertools.product(GRID, repeat=op.arity))


def forward(op: Op, args: tuple[float, ...]) -> float | None:
    try:
        out = op.forward(*args)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return out if math.isfinite(out) else None


def central(op: Op, args: tuple[float, ...], k: int) -> float | None:
    h = 1e-6 * max(1.0, abs(args[k]))
    plus = forward(op, (*args[:k], args[k] + h, *args[k + 1:]))
    minus = forward(op, (*args[:k], args[k] - h, *args[k + 1:]))
    if plus is None or minus is None:
        return None
    return (plus - minus) / (2 * h)


# Array-only ops (matmul, softmax, ...) have no float rule: tests/test_arrays.py covers them.
SCALAR_OPS = sorted(name for name, op in OPS.items() if not op.array_only)


def sympy_locals(op: Op, args: tuple[float, ...]) -> list[float | None]:
    syms = sp.symbols(f"a0:{op.arity}", real=True)
    form = op.sympy(SP, *syms)
    at = {s: sp.nsimplify(a) for s, a in zip(syms, args)}  # grid values are exact decimals
    return [to_float(sp.diff(form, s).xreplace(at)) for s in syms]


@pytest.mark.parametrize("name", SCALAR_OPS)
def test_local_gradients_match_central_differences_and_sympy(name: str) -> None:
    op = OPS[name]
    checked = 0
    for args in points(op):
        out = forward(op, args)
        if out is None or (op.kink is not None and op.kink(args) is not None):
            continue
        local = op.local(args, out)
        assert len(local) == op.arity, (name, args, local)
        reference = sympy_locals(op, args)
        for k, (d, ref) in enumerate(zip(local, reference)):
            if not math.isfinite(d):
                # No finite local gradient: sympy must not have a real one either.
                assert ref is None or not math.isfinite(ref), (name, args, k, d, ref)
                continue
            if ref is not None:
                assert d == pytest.approx(ref, rel=1e-12, abs=1e-12), (name, args, k, d, ref)
            fd = central(op, args, k)
            if fd is not None:
                assert d == pytest.approx(fd, rel=1e-5, abs=1e-6), (name, args, k, d, fd)
            checked += 1
    assert checked >= 3, f"{name}: too few points checked"


@pytest.mark.parametrize("name", SCALAR_OPS)
def test_forward_matches_the_sympy_form(name: str) -> None:
    op = OPS[name]
    syms = sp.symbols(f"a0:{op.arity}", real=True)
    form = op.sympy(SP, *syms)
    for args in points(op):
        out = forward(op, args)
        ref = to_float(form.xreplace({s: sp.nsimplify(a) for s, a in zip(syms, args)}))
        if out is None:
            continue
        assert ref is not None and out == pytest.approx(ref, rel=1e-12, abs=1e-300), (name, args)


GRAMMAR = (Path(__file__).resolve().parents[1] / "grammars" / "backprop.lark").read_text()


def missing_fields(op: Op) -> list[str]:
    """What an entry lacks to be a whole op: each name is the field (or pair) to fill in."""
    missing = []
    if op.arity not in (1, 2):
        missing.append("arity (1 or 2)")
    if not op.gate.strip():
        missing.append("gate (the gate-pattern words)")
    if not op.array_only:
        # A scalar op: float forward and local gradients, a sympy form of its inputs.
        for field in ("forward", "local", "sympy"):
            if not callable(getattr(op, field)):
                missing.append(field)
    elif op.sympy_array is None:
        missing.append("sympy_array (an array op's sympy form)")
    # The array rule: entrywise (np_forward + np_local) or a vector-Jacobian product.
    if op.np_forward is None:
        missing.append("np_forward")
    if op.np_local is None and op.vjp is None:
        missing.append("np_local or vjp (the array rule)")
    if op.vjp is not None and not op.implicit:
        missing.append("implicit (how the vjp forms each downstream, for the node table)")
    # Expansion or primitive: an expansion must build only primitive gates (checked in
    # test_expand.py); there is nothing to declare for a primitive.
    if op.expand is not None and not callable(op.expand):
        missing.append("expand (a function building the primitive gates)")
    # Reachable from the grammar: an infix/prefix rule aliased to the op's name (with its
    # terminal named in ``token``), a postfix token, or a function name.
    if op.symbol:
        if f"-> {op.name}" not in GRAMMAR:
            missing.append(f"a grammar rule '-> {op.name}' in grammars/backprop.lark")
        if op.token is None:
            missing.append("token (the grammar terminal of its symbol)")
    elif FUNCTIONS.get(op.name) is not op:
        missing.append("a function name (FUNCTIONS)")
    if op.token is not None and not op.symbol and f"-> {op.name}" not in GRAMMAR:
        missing.append(f"a postfix grammar rule '-> {op.name}' in grammars/backprop.lark")
    if op.token is not None and f'"{op.token[1]}"' not in GRAMMAR and \
            op.token[0] not in GRAMMAR:
        missing.append(f"token {op.token} not in the grammar")
    if op.kink is not None and op.branch is None and op.np_branch is None:
        missing.append("branch (which smooth piece a point is on, beside its kink)")
    if op.kink is not None and op.np_local is not None and op.np_branch is None:
        missing.append("np_branch (the kink, entry by entry)")
    return missing


def assert_complete(op: Op) -> None:
    missing = missing_fields(op)
    assert not missing, f"op {op.name} lacks: {'; '.join(missing)}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_is_complete(name: str) -> None:
    op = OPS[name]
    assert op.name == name
    assert_complete(op)
    for alias in op.aliases:
        assert FUNCTIONS[alias] is op


def test_completeness_names_the_op_and_the_missing_field() -> None:
    import dataclasses

    half = dataclasses.replace(OPS["sin"], np_local=None, gate="", name="sine")
    with pytest.raises(AssertionError, match=r"op sine lacks: gate \(the gate-pattern words\); "
                       r"np_local or vjp \(the array rule\); a function name"):
        assert_complete(half)


def test_every_function_is_reached_by_the_parser() -> None:
    # Each function name, called with its arity, parses to a node of that op.
    from backprop_cli.core.parse import parse

    for alias, op in FUNCTIONS.items():
        args = ", ".join(["x", "y"][:op.arity])
        graph = parse(f"{alias}({args})")
        assert graph.nodes[graph.output].op is op, alias


# --- kinks: reported exactly at the kink, nowhere else ----------------------------------------

TINY = 5e-324  # the smallest positive float


@pytest.mark.parametrize("name", ["relu", "abs", "step"])
def test_unary_kink_is_exactly_at_zero(name: str) -> None:
    op = OPS[name]
    assert op.kink is not None and op.branch is not None
    assert op.kink((0.0,)) is not None
    assert op.kink((-0.0,)) is not None
    for x in (TINY, -TINY, 1.0, -1.0):
        assert op.kink((x,)) is None
    assert op.branch((TINY,)) != op.branch((0.0,)) != op.branch((-TINY,))
    assert op.local((0.0,), op.forward(0.0)) == (0.0,)  # the documented subgradient


@pytest.mark.parametrize("name", ["max", "min"])
def test_binary_kink_is_exactly_at_a_tie(name: str) -> None:
    op = OPS[name]
    assert op.kink is not None and op.branch is not None
    for a in (0.0, -2.0, 3.5):
        assert op.kink((a, a)) is not None
        assert op.local((a, a), a) == (0.5, 0.5)
        up, down = math.nextafter(a, math.inf), math.nextafter(a, -math.inf)
        assert op.kink((a, up)) is None and op.kink((up, a)) is None
        assert op.kink((a, down)) is None
        assert op.branch((a, up)) != op.branch((a, a)) != op.branch((up, a))
        assert sum(op.local((a, up), op.forward(a, up))) == 1.0


def test_smooth_ops_have_no_kinks() -> None:
    smooth = {name for name, op in OPS.items() if op.kink is None}
    assert smooth >= {"add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt",
                      "sigmoid", "tanh"}
    assert smooth >= {"sin", "cos", "tan", "softplus"}
    assert {name for name, op in OPS.items() if op.kink is not None} == {
        "relu", "abs", "max", "min", "leaky_relu", "rowmax", "step",
        "gt", "ge", "lt", "le", "eq", "ne"}  # the indicators jump where both sides are equal


# --- numeric edges -------------------------------------------------------------------------

@pytest.mark.parametrize("x", [1000.0, -1000.0, 710.0, -710.0, 1e308, -1e308])
def test_sigmoid_is_stable_far_out(x: float) -> None:
    op = OPS["sigmoid"]
    out = op.forward(x)  # no OverflowError
    assert 0.0 <= out <= 1.0
    assert out == (1.0 if x > 0 else pytest.approx(0.0, abs=1e-300))
    (d,) = op.local((x,), out)
    assert math.isfinite(d) and d == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize("x", ["1000", "-1000"])
def test_sigmoid_and_tanh_at_1000_end_to_end(x: str) -> None:
    r = evaluate("sigmoid(x) + tanh(x)", at={"x": x})
    assert r.value is not None and math.isfinite(r.value)
    assert r.gradients == {"x": pytest.approx(0.0, abs=1e-300)}
    assert r.ok


def test_pow_local_at_zero_base() -> None:
    pow_ = OPS["pow"]
    assert pow_.local((0.0, 2.0), 0.0) == (0.0, 0.0)
    assert pow_.local((0.0, 1.0), 0.0) == (1.0, 0.0)  # x^1 is x
    assert pow_.local((0.0, 0.0), 1.0)[0] == 0.0  # x^0 is the constant 1
    d_base, _ = pow_.local((0.0, 0.5), 0.0)
    assert d_base == math.inf  # sqrt-like: no finite gradient at 0


@pytest.mark.parametrize(("expr", "grad"), [("x^1", 1.0), ("x^0", 0.0), ("x^2", 0.0),
                                            ("x^3", 0.0)])
def test_integer_powers_at_zero_end_to_end(expr: str, grad: float) -> None:
    r = evaluate(expr, at="x=0")
    assert r.gradients == {"x": grad}
    assert r.ok


def test_pow_exponent_gradient_is_not_real_for_a_negative_base() -> None:
    d_base, d_exp = OPS["pow"].local((-2.0, 3.0), -8.0)
    assert d_base == 12.0
    assert math.isnan(d_exp)
    # ...which is fine while the exponent is a constant:
    assert evaluate("x^3", at="x=-2").gradients == {"x": 12.0}


# --- sin, cos, tan, softplus, leaky_relu -----------------------------------------------------

def test_tan_at_a_pole_is_a_domain_error_naming_the_node() -> None:
    from backprop_cli import DomainError

    with pytest.raises(DomainError) as info:
        evaluate("q = x * 1; f = tan(q)", at={"x": math.pi / 2})
    msg = info.value.message
    assert "`tan(q)`" in msg and "cos(1.5708) is 0 to float precision" in msg


def test_tan_near_but_not_at_a_pole_is_finite() -> None:
    x = math.pi / 2 - 1e-6
    r = evaluate("tan(x)", at={"x": x})
    assert r.value == pytest.approx(math.tan(x), rel=1e-12)
    assert r.gradients == {"x": pytest.approx(1 + math.tan(x) ** 2, rel=1e-9)}


def test_tan_of_an_array_at_a_pole_names_the_entry() -> None:
    from backprop_cli import DomainError

    with pytest.raises(DomainError, match=r"tan at a pole.*entry \[1\]"):
        evaluate("sum(tan(x))", at={"x": [0.5, math.pi / 2]})


@pytest.mark.parametrize("x", [1000.0, -1000.0, 710.0, -710.0, 1e308, -1e308])
def test_softplus_is_stable_far_out(x: float) -> None:
    op = OPS["softplus"]
    out = op.forward(x)  # max(x, 0) + log1p(exp(-|x|)): no OverflowError
    assert out == (pytest.approx(x, rel=1e-15) if x > 0 else pytest.approx(0.0, abs=1e-300))
    (d,) = op.local((x,), out)
    assert d == (1.0 if x > 0 else pytest.approx(0.0, abs=1e-300))


def test_softplus_local_is_sigmoid() -> None:
    softplus, sigmoid = OPS["softplus"], OPS["sigmoid"]
    for x in (-3.0, 0.0, 0.5, 4.0):
        assert softplus.local((x,), softplus.forward(x)) == (sigmoid.forward(x),)


@pytest.mark.parametrize(("expr", "at", "value", "grad"), [
    ("leaky_relu(x)", "x=-2", -0.02, 0.01),  # default slope 0.01
    ("leaky_relu(x, 0.2)", "x=-2", -0.4, 0.2),
    ("leaky_relu(x, 0.2)", "x=3", 3.0, 1.0),
])
def test_leaky_relu_away_from_the_kink(expr: str, at: str, value: float, grad: float) -> None:
    r = evaluate(expr, at=at)
    assert r.value == pytest.approx(value, rel=1e-15)
    assert r.gradients == {"x": pytest.approx(grad, rel=1e-15)}
    assert r.ok and r.verification.checks[0].status == "pass"


@pytest.mark.parametrize(("expr", "slope"), [("leaky_relu(x)", 0.01), ("leaky_relu(x, 0.2)", 0.2)])
def test_leaky_relu_at_zero_takes_the_slope_as_pytorch(expr: str, slope: float) -> None:
    # PyTorch's leaky_relu backward: x > 0 ? 1 : slope, so the slope at exactly 0.
    r = evaluate(expr, at="x=0")
    assert r.gradients == {"x": slope}
    node = next(n for n in r.nodes if n.op == "leaky_relu")
    assert node.kink is not None and f"subgradient {slope:g}" in node.kink
    check = r.verification.checks[0]
    assert check.status == "kink" and r.ok
    assert check.sympy_value == pytest.approx(slope, rel=1e-12)  # sympy takes the same side


def test_leaky_relu_kink_is_exactly_at_zero() -> None:
    op = OPS["leaky_relu"]
    assert op.kink is not None and op.branch is not None
    for args in ((0.0,), (-0.0,), (0.0, 0.3)):
        assert op.kink(args) is not None
    for x in (TINY, -TINY):
        assert op.kink((x,)) is None and op.kink((x, 0.3)) is None
    assert op.branch((TINY,)) != op.branch((0.0,)) != op.branch((-TINY,))


def test_leaky_relu_on_arrays_takes_the_same_subgradient() -> None:
    r = evaluate("sum(leaky_relu(x, 0.5))", at={"x": [-2.0, 0.0, 3.0]})
    assert r.value == pytest.approx(-1.0 + 0.0 + 3.0)
    assert r.gradients is not None
    assert list(r.gradients["x"]) == [0.5, 0.5, 1.0]


@pytest.mark.parametrize(("expr", "message"), [
    ("leaky_relu(x, y)", "the slope of leaky_relu must be a constant number, not 'y'"),
    ("leaky_relu(x, 0.1, 2)", "leaky_relu takes 1 argument (or 2: leaky_relu(x, slope)), got 3"),
    ("sum(x, 2)", "the axis of sum must be the constant 0 or 1, not '2'"),
    ("sum(x, 0, 1)", "sum takes 1 argument (or 2: sum(A, axis)), got 3"),
])
def test_a_constant_parameter_is_checked_by_the_parser(expr: str, message: str) -> None:
    from backprop_cli import InputError

    with pytest.raises(InputError) as info:
        evaluate(expr, at="x=1,y=1", check=())
    assert info.value.message == message


ELEMENTWISE = sorted(name for name, op in OPS.items() if not op.array_only and op.np_local)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_the_array_rule_agrees_with_the_scalar_rule_entry_by_entry(name: str) -> None:
    # np_forward / np_local on the grid as arrays give forward / local of each point, at
    # kinks too (the same subgradient in both engines).
    import numpy as np

    op = OPS[name]
    pts = [p for p in points(op) if forward(op, p) is not None]
    arrays = tuple(np.array([p[k] for p in pts]) for k in range(op.arity))
    with np.errstate(all="ignore"):
        out = op.np_forward(np, *arrays)  # type: ignore[misc]
        local = op.np_local(np, arrays, out)  # type: ignore[misc]
    for i, p in enumerate(pts):
        value = op.forward(*p)
        assert out[i] == pytest.approx(value, rel=1e-14, abs=1e-300), (name, p)
        for k, d in enumerate(op.local(p, value)):
            got = np.broadcast_to(local[k], out.shape)[i]
            if math.isfinite(d):
                assert got == pytest.approx(d, rel=1e-12, abs=1e-300), (name, p, k)
