"""What descend and fit share: the starting point and the loss graph bound to node ids."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..core.graph import Graph
from ..core.literals import ArrayValue
from ..core.point import as_point


def start_point(at: Mapping[str, Any] | str | Iterable[str]) -> dict[str, Any]:
    """Numbers as floats, vectors and matrices (x=[0.2,0.4], lists, numpy) as ArrayValues."""
    if isinstance(at, Mapping):
        given = {k: v for k, v in at.items() if isinstance(v, ArrayValue)}
        point = as_point({k: v for k, v in at.items() if k not in given})
        return {**point.values, **point.arrays, **given}
    point = as_point(at)
    return {**point.values, **point.arrays}


class BoundLoss:
    """The loss graph with columns, parameters and the --predict node bound to node ids
    (for the scalar model in fit.py and the array model in array_model.py)."""

    def __init__(self, graph: Graph, columns: list[str], params: list[str],
                 predict: str | None):
        self.graph = graph
        self.col_index = [(name, columns.index(name)) for name in graph.variables
                          if name in columns]
        self.params = params
        self.param_ids = [graph.variables[p] for p in params]
        self.predict_id: int | None = None
        if predict is not None:
            self.predict_id = graph.output if predict == graph.output_name \
                else graph.named.get(predict, graph.variables.get(predict))
