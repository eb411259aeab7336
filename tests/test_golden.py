"""The golden comparison itself: float noise passes, anything else fails."""

from __future__ import annotations

from tests.conftest import same_text


def test_same_text_tolerates_float_noise_only() -> None:
    assert same_text("| x | [2.64698e-23, 1] |", "| x | [0, 1] |")
    assert same_text("│ 0.5 │", "│ 0.500001 │")
    assert not same_text("| x | [1e-3, 1] |", "| x | [0, 1] |")
    assert not same_text("| x | 0.5 |", "| y | 0.5 |")
    assert not same_text("│ 1 │ 2 │", "│ 1 │")
