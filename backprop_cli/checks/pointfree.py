"""A problem without a point: its graph, for formula answers checked in general only.

A problem whose expected answers are all formulas (`expect = { dW = "2*(W@x)@x.T" }`, with
`shape = { W = "m,n", x = "n,1" }`) needs no `at`: a formula is checked in general by
checks/formula.py (proved by sympy, holds at N random points and shapes, or differs with
its slips named), and a point only adds the at-the-point check when one is given. Without a
point there is nothing to evaluate (an array expression's shapes come from its point), so
the answers are matched against the graph alone: a Result with no values, whose names
(inputs, intermediates, the output) resolve the answers' keys as usual.
"""

from __future__ import annotations

from ..core.parse import parse
from ..core.result import Result, records


def graph_result(expression: str) -> Result:
    """``expression`` parsed, with no point: names and gradients to ask for, no values."""
    graph = parse(expression)
    inputs = list(graph.variables)
    return Result(expression, graph.output_name, inputs, list(inputs), records(graph), graph)
