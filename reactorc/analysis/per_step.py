"""Per-step sequences: a parameter read as `actions[i]` with the frame counter becomes a live
field the client sets each step, instead of a list fixed up front."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, iter_nodes
from reactorc.plan import PerStepSequence


def find(body: cst.CSTNode, index_var: str, params: set[str], ctx: Ctx) -> list[PerStepSequence]:
    if not index_var:
        return []
    found: dict[str, PerStepSequence] = {}
    for node in iter_nodes(body):
        if not (
            isinstance(node, cst.Subscript)
            and isinstance(node.value, cst.Name)
            and node.value.value in params
            and len(node.slice) == 1
            and isinstance(node.slice[0].slice, cst.Index)
        ):
            continue
        index = node.slice[0].slice.value
        if isinstance(index, cst.Name) and index.value == index_var:
            name = node.value.value
            found.setdefault(
                name,
                PerStepSequence(
                    param=name,
                    element_field=name,
                    index_expr=ctx.expr(index),
                    span=ctx.span(node),
                ),
            )
    return list(found.values())
