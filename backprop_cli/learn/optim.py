"""Optimizers, learning-rate decay schedules and L1/L2 penalties, on lists of parameters.

A parameter is a float or, for vector and matrix parameters, a numpy array: every rule is
elementwise, so the same arithmetic serves both (this module never imports numpy itself).

The update rules are the ones in Ruder (2016), "An overview of gradient descent optimization
algorithms", which the lecture cites; each class keeps its state (velocity, moments) between
steps. An optimizer is used in two moves per step:

    probe = opt.lookahead(theta)       # where the gradient is wanted (Nesterov looks ahead)
    theta = opt.update(theta, grad_at_probe, lr)

Nothing here knows about graphs or the terminal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import InputError

Vector = list[Any]  # floats, or numpy arrays (updated entry by entry)

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam")
DECAYS = ("none", "exp", "inverse")


# --- learning-rate decay ------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """The lecture's decay: eta0*exp(-k t) ("exp") or eta0/(1 + k t) ("inverse").

    t counts parameter updates, from 0."""

    eta0: float
    kind: str = "none"
    k: float = 0.0

    def rate(self, t: int) -> float:
        if self.kind == "exp":
            return self.eta0 * math.exp(-self.k * t)
        if self.kind == "inverse":
            return self.eta0 / (1.0 + self.k * t)
        return self.eta0

    def describe(self) -> str:
        if self.kind == "exp":
            return f"eta = {self.eta0:g} * exp(-{self.k:g} t)"
        if self.kind == "inverse":
            return f"eta = {self.eta0:g} / (1 + {self.k:g} t)"
        return f"eta = {self.eta0:g} (constant)"

    def to_dict(self) -> dict[str, object]:
        return {"eta0": self.eta0, "kind": self.kind, "k": self.k}


def parse_decay(text: str | None, eta0: float) -> Schedule:
    """`exp:0.01`, `inverse:0.1`, `none` (or None) -> a Schedule."""
    if eta0 <= 0 or not math.isfinite(eta0):
        raise InputError("--lr must be a positive number", where="--lr",
                         hint="a typical learning rate is 0.1 or 0.01")
    if text is None or text.strip() in ("", "none"):
        return Schedule(eta0)
    kind, sep, k_text = text.strip().partition(":")
    if kind not in ("exp", "inverse") or not sep:
        raise InputError(f"--decay '{text}' is not exp:K, inverse:K or none", where="--decay",
                         hint="e.g. --decay exp:0.01 (eta0*exp(-K t)), --decay inverse:0.1 "
                         "(eta0/(1+K t)) or --decay none (constant)")
    from ..core.numbers import parse_number

    k, _ = parse_number(k_text.strip(), source=text, pos=len(kind) + 1, where="--decay")
    if k < 0:
        raise InputError("the decay rate K must not be negative", where="--decay",
                         hint="K = 0 means no decay; larger K shrinks the rate faster")
    return Schedule(eta0, kind, k)


# --- penalties ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Penalty:
    """l1 * sum |w| + l2 * sum w^2, added to the loss; gradient l1*sign(w) + 2*l2*w."""

    l1: float = 0.0
    l2: float = 0.0

    def value(self, theta: Sequence[Any]) -> float:
        if not (self.l1 or self.l2):
            return 0.0
        return math.fsum(_total(self.l1 * abs(w) + self.l2 * w * w) for w in theta)

    def gradient(self, theta: Sequence[Any]) -> Vector:
        # sign(0) = 0: the subgradient of |w| at 0 that the eval command's abs also takes.
        # (w > 0) * 1.0 is 1.0/0.0 for a float and a 0/1 float array for an array.
        return [self.l1 * ((w > 0) * 1.0 - (w < 0) * 1.0) + 2.0 * self.l2 * w for w in theta]

    def __bool__(self) -> bool:
        return bool(self.l1 or self.l2)

    @classmethod
    def checked(cls, l1: float, l2: float) -> Penalty:
        """The penalty of --l1 and --l2, each of which must be a non-negative number."""
        for label, lam in (("--l1", l1), ("--l2", l2)):
            if not (lam >= 0 and math.isfinite(lam)):
                raise InputError(f"{label} must be a non-negative number", where=label)
        return cls(l1, l2)


def l1_gradient(theta: Sequence[float], lam: float) -> Vector:
    return Penalty(l1=lam).gradient(theta)


def l2_gradient(theta: Sequence[float], lam: float) -> Vector:
    return Penalty(l2=lam).gradient(theta)


# --- optimizers ---------------------------------------------------------------------------

@dataclass
class SGD:
    """theta <- theta - eta * g (the lecture's gradient-descent step)."""

    name = "sgd"

    def reset(self, n: int) -> None:
        pass

    def lookahead(self, theta: Vector) -> Vector | None:
        return None  # the gradient is taken where we stand

    def update(self, theta: Vector, grad: Vector, lr: float) -> Vector:
        return [w - lr * g for w, g in zip(theta, grad)]

    def hyper(self) -> dict[str, float]:
        return {}


@dataclass
class Momentum:
    """v <- gamma*v + eta*g;  theta <- theta - v  (a ball rolling downhill keeps its speed)."""

    gamma: float = 0.9
    velocity: Vector = field(default_factory=list)
    name = "momentum"

    def reset(self, n: int) -> None:
        self.velocity = [0.0] * n

    def lookahead(self, theta: Vector) -> Vector | None:
        return None

    def update(self, theta: Vector, grad: Vector, lr: float) -> Vector:
        if len(self.velocity) != len(theta):
            self.reset(len(theta))
        self.velocity = [self.gamma * v + lr * g for v, g in zip(self.velocity, grad)]
        return [w - v for w, v in zip(theta, self.velocity)]

    def hyper(self) -> dict[str, float]:
        return {"momentum": self.gamma}


@dataclass
class Nesterov(Momentum):
    """Momentum with the gradient taken where the velocity is about to carry us:
    v <- gamma*v + eta*g(theta - gamma*v);  theta <- theta - v."""

    name = "nesterov"

    def lookahead(self, theta: Vector) -> Vector | None:
        if len(self.velocity) != len(theta):
            self.reset(len(theta))
        if not any(_nonzero(v) for v in self.velocity):
            return None
        return [w - self.gamma * v for w, v in zip(theta, self.velocity)]


@dataclass
class Adam:
    """Kingma and Ba (2015): m and v are running means of g and g^2, corrected for their zero
    start; theta <- theta - eta * m_hat / (sqrt(v_hat) + eps)."""

    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    m: Vector = field(default_factory=list)
    v: Vector = field(default_factory=list)
    t: int = 0
    name = "adam"

    def reset(self, n: int) -> None:
        self.m = [0.0] * n
        self.v = [0.0] * n
        self.t = 0

    def lookahead(self, theta: Vector) -> Vector | None:
        return None

    def update(self, theta: Vector, grad: Vector, lr: float) -> Vector:
        if len(self.m) != len(theta):
            self.reset(len(theta))
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        self.m = [b1 * m + (1 - b1) * g for m, g in zip(self.m, grad)]
        self.v = [b2 * v + (1 - b2) * g * g for v, g in zip(self.v, grad)]
        c1 = 1 - b1 ** self.t
        c2 = 1 - b2 ** self.t
        return [w - lr * (m / c1) / (_sqrt(v / c2) + self.eps)
                for w, m, v in zip(theta, self.m, self.v)]

    def hyper(self) -> dict[str, float]:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


Optimizer = SGD | Momentum | Nesterov | Adam


def make_optimizer(name: str, *, momentum: float = 0.9, beta1: float = 0.9,
                   beta2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    """Build an optimizer by name, checking its hyper-parameters."""
    for label, value in (("--momentum", momentum), ("--beta1", beta1), ("--beta2", beta2)):
        if not 0.0 <= value < 1.0:
            raise InputError(f"{label} must be in [0, 1), got {value:g}", where=label,
                             hint="typical values: momentum 0.9, beta1 0.9, beta2 0.999")
    if not eps > 0 or not math.isfinite(eps):
        raise InputError("--eps must be a small positive number", where="--eps",
                         hint="the usual value is 1e-8")
    if name == "sgd":
        return SGD()
    if name == "momentum":
        return Momentum(momentum)
    if name == "nesterov":
        return Nesterov(momentum)
    if name == "adam":
        return Adam(beta1, beta2, eps)
    import difflib

    close = difflib.get_close_matches(name, OPTIMIZERS, n=1)
    raise InputError(f"unknown optimizer '{name}'", where="--optimizer",
                     hint=(f"did you mean {close[0]}? " if close else "")
                     + "choose from " + ", ".join(OPTIMIZERS))


def norm(v: Sequence[Any]) -> float:
    """The Euclidean norm over every entry of every parameter (arrays count entry by entry)."""
    return math.sqrt(math.fsum(e * e for x in v for e in _entries(x)))


def finite(theta: Sequence[Any]) -> bool:
    """Whether every entry of every parameter is a finite number."""
    return all(math.isfinite(e) for x in theta for e in _entries(x))


def _entries(x: Any) -> list[float]:
    return x.ravel().tolist() if hasattr(x, "ravel") else [x]


def _total(x: Any) -> float:
    return math.fsum(_entries(x))


def _nonzero(x: Any) -> bool:
    return bool(x.any()) if hasattr(x, "any") else bool(x)


def _sqrt(x: Any) -> Any:
    # numpy computes x ** 0.5 as sqrt, entry by entry; floats keep math.sqrt.
    return x ** 0.5 if hasattr(x, "ravel") else math.sqrt(x)
