"""Optimizers, decay schedules and penalties: first steps computed by hand, then the minimum."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backprop_cli.core.errors import InputError
from backprop_cli.learn.descend import descend
from backprop_cli.learn.optim import (
    OPTIMIZERS,
    Adam,
    Momentum,
    Nesterov,
    Penalty,
    Schedule,
    l1_gradient,
    l2_gradient,
    make_optimizer,
    parse_decay,
)

# f(w) = (w - 3)^2, f'(w) = 2(w - 3); minimum at w = 3. Start w = 0, eta = 0.1.
QUADRATIC = "(w-3)^2"


def first_ws(optimizer: str, n: int = 3, **kw: float) -> list[float]:
    run = descend(QUADRATIC, {"w": 0}, lr=0.1, steps=n, optimizer=optimizer, tol=0, **kw)
    return [s.params["w"] for s in run.trajectory]


def test_sgd_first_steps_by_hand() -> None:
    # w1 = 0 - 0.1*(-6) = 0.6;  w2 = 0.6 - 0.1*(2*(0.6-3) = -4.8) = 1.08;
    # w3 = 1.08 - 0.1*(2*(1.08-3) = -3.84) = 1.464
    assert first_ws("sgd") == pytest.approx([0.0, 0.6, 1.08, 1.464], abs=1e-12)


def test_momentum_first_steps_by_hand() -> None:
    # v <- 0.9 v + 0.1 g;  w <- w - v
    # step 1: g = -6,    v = 0 + -0.6 = -0.6,               w = 0.6
    # step 2: g = -4.8,  v = -0.54 + -0.48 = -1.02,         w = 1.62
    # step 3: g = -2.76, v = -0.918 + -0.276 = -1.194,      w = 2.814
    assert first_ws("momentum", momentum=0.9) == pytest.approx([0.0, 0.6, 1.62, 2.814],
                                                               abs=1e-12)


def test_nesterov_first_steps_by_hand() -> None:
    # v <- 0.9 v + 0.1 g(w - 0.9 v);  w <- w - v
    # step 1: look-ahead 0,                      g = -6,      v = -0.6,     w = 0.6
    # step 2: look-ahead 0.6 + 0.54 = 1.14,      g = -3.72,   v = -0.54 - 0.372 = -0.912,
    #         w = 1.512
    # step 3: look-ahead 1.512 + 0.8208 = 2.3328, g = -1.3344, v = -0.8208 - 0.13344 = -0.95424,
    #         w = 2.46624
    assert first_ws("nesterov", momentum=0.9) == pytest.approx(
        [0.0, 0.6, 1.512, 2.46624], abs=1e-12)


def test_adam_first_steps_by_hand() -> None:
    # m <- 0.9 m + 0.1 g;  v <- 0.999 v + 0.001 g^2;  w <- w - 0.1 m_hat / (sqrt(v_hat) + eps)
    # step 1: g = -6, m = -0.6, v = 0.036, m_hat = -6, v_hat = 36: w = 0.1 * 6/6 = 0.1
    #         (Adam's first step is eta times the sign of the gradient)
    # step 2: g = -5.8, m = -0.54 - 0.58 = -1.12, v = 0.035964 + 0.03364 = 0.069604,
    #         m_hat = -1.12/0.19 = -5.894737, v_hat = 0.069604/0.001999 = 34.819410,
    #         w = 0.1 + 0.1 * 5.894737/5.900797 = 0.1998973
    ws = first_ws("adam", n=2)
    assert ws[1] == pytest.approx(0.1, abs=1e-9)
    assert ws[2] == pytest.approx(0.1 + 0.1 * 5.894737 / 5.900797, abs=1e-6)
    assert ws[2] == pytest.approx(0.1998973, abs=1e-6)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_each_optimizer_finds_the_minimum_of_a_quadratic(optimizer: str) -> None:
    # An elongated bowl with its minimum at (1, -2), where f = 0.5.
    expr = "(w0 - 1)^2 + 10*(w1 + 2)^2 + 0.5"
    lr = 0.05 if optimizer != "adam" else 0.1
    run = descend(expr, "w0=4,w1=3", lr=lr, steps=5000, optimizer=optimizer, tol=1e-7)
    assert run.status == "converged"
    assert run.final["w0"] == pytest.approx(1, abs=1e-6)
    assert run.final["w1"] == pytest.approx(-2, abs=1e-6)
    assert run.trajectory[-1].loss == pytest.approx(0.5, abs=1e-9)
    assert run.trajectory[-1].grad_norm <= 1e-7


def test_optimizer_state_update_rules_directly() -> None:
    # The classes work on plain lists, without a graph: one step each from theta = [1, -1].
    g = [2.0, -4.0]
    m = Momentum(0.5)
    m.reset(2)
    assert m.update([1.0, -1.0], g, 0.1) == pytest.approx([0.8, -0.6])
    assert m.update([0.8, -0.6], g, 0.1) == pytest.approx([0.8 - 0.3, -0.6 + 0.6])
    n = Nesterov(0.5)
    n.reset(2)
    assert n.lookahead([1.0, -1.0]) is None  # no velocity yet: look-ahead is where we stand
    n.update([1.0, -1.0], g, 0.1)
    assert n.lookahead([0.8, -0.6]) == pytest.approx([0.8 - 0.5 * 0.2, -0.6 + 0.5 * 0.4])
    a = Adam()
    a.reset(2)
    assert a.update([1.0, -1.0], g, 0.01) == pytest.approx([0.99, -0.99])


def test_decay_schedules() -> None:
    exp = parse_decay("exp:0.1", 0.5)
    inv = parse_decay("inverse:1", 0.5)
    assert exp.rate(0) == 0.5 and inv.rate(0) == 0.5
    assert exp.rate(10) == pytest.approx(0.5 * math.exp(-1.0))  # 0.18393972
    assert exp.rate(10) == pytest.approx(0.18393972, abs=1e-8)
    assert inv.rate(1) == pytest.approx(0.25)  # 0.5 / (1 + 1)
    assert inv.rate(3) == pytest.approx(0.125)  # 0.5 / (1 + 3)
    assert parse_decay("none", 0.3) == Schedule(0.3)
    assert parse_decay(None, 0.3).rate(1000) == 0.3


def test_decay_acts_on_the_steps() -> None:
    # SGD with eta_t = 0.1/(1+t) on (w-3)^2 from 0:
    # t=0: eta 0.1,    g = -6:    w = 0.6
    # t=1: eta 0.05,   g = -4.8:  w = 0.6 + 0.24 = 0.84
    # t=2: eta 0.1/3,  g = -4.32: w = 0.84 + 0.144 = 0.984
    run = descend(QUADRATIC, {"w": 0}, lr=0.1, steps=3, decay="inverse:1", tol=0)
    assert [s.params["w"] for s in run.trajectory] == pytest.approx([0, 0.6, 0.84, 0.984])
    assert [s.lr for s in run.trajectory] == pytest.approx([0.1, 0.05, 0.1 / 3, 0.025])
    run = descend(QUADRATIC, {"w": 0}, lr=0.1, steps=2, decay="exp:0.5", tol=0)
    # t=1: eta = 0.1*exp(-0.5) = 0.0606531; w = 0.6 + 0.0606531*4.8 = 0.8911347
    assert run.trajectory[2].params["w"] == pytest.approx(0.6 + 0.1 * math.exp(-0.5) * 4.8)


@pytest.mark.parametrize("text", ["exp", "exp:", "linear:1", "exp:-1", "exp:nan", "inverse:x"])
def test_bad_decay_is_input_error(text: str) -> None:
    with pytest.raises(InputError):
        parse_decay(text, 0.1)


def test_l1_l2_gradients() -> None:
    theta = [2.0, -3.0, 0.0]
    assert l1_gradient(theta, 0.5) == [0.5, -0.5, 0.0]  # l1 * sign(w); 0 at w = 0
    assert l2_gradient(theta, 0.1) == pytest.approx([0.4, -0.6, 0.0])  # 2 * l2 * w
    both = Penalty(0.5, 0.1)
    assert both.gradient(theta) == pytest.approx([0.9, -1.1, 0.0])
    assert both.value(theta) == pytest.approx(0.5 * 5 + 0.1 * 13)


def test_penalties_move_the_minimum() -> None:
    # (w-3)^2 + l2 w^2 has its minimum at 3/(1+l2); (w-3)^2 + l1|w| at 3 - l1/2.
    l2 = descend(QUADRATIC, {"w": 0}, lr=0.1, steps=2000, l2=0.5, tol=1e-9)
    assert l2.final["w"] == pytest.approx(3 / 1.5, abs=1e-6)
    l1 = descend(QUADRATIC, {"w": 0}, lr=0.1, steps=2000, l1=1.0, tol=1e-9)
    assert l1.final["w"] == pytest.approx(2.5, abs=1e-6)
    assert l1.trajectory[0].loss == 9  # the penalty of w = 0 is 0
    assert l1.trajectory[-1].loss == pytest.approx(0.25 + 2.5)


@pytest.mark.parametrize("kw", [{"momentum": 1.0}, {"beta1": -0.1}, {"beta2": 1.5},
                                {"eps": 0.0}])
def test_bad_hyper_parameters(kw: dict[str, float]) -> None:
    with pytest.raises(InputError):
        make_optimizer("adam", **kw)


def test_unknown_optimizer_suggests() -> None:
    with pytest.raises(InputError) as exc:
        make_optimizer("adma")
    assert exc.value.hint is not None and "adam" in exc.value.hint


@settings(max_examples=25, deadline=None, derandomize=True)
@given(a=st.floats(0.2, 5), c=st.floats(-10, 10), w0=st.floats(-10, 10),
       optimizer=st.sampled_from(OPTIMIZERS))
def test_random_quadratics_reach_their_minimum(a: float, c: float, w0: float,
                                               optimizer: str) -> None:
    # a*(w - c)^2 has its minimum at c; eta = 0.1/a keeps every optimizer stable.
    lr = 0.5 if optimizer == "adam" else 0.1 / a
    run = descend(f"{a!r}*(w - ({c!r}))^2", {"w": w0}, lr=lr, steps=5000, optimizer=optimizer,
                  decay="inverse:0.01" if optimizer == "adam" else None, tol=1e-8)
    assert run.status == "converged"
    assert run.final["w"] == pytest.approx(c, abs=1e-6)
