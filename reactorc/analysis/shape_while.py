"""Shape: `while cond:` loops (`while t < n: ...; t += 1`, `while True:` streams)."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, iter_nodes, names_of
from reactorc.analysis.loops import LoopHeader


def match(loop: cst.CSTNode, ctx: Ctx) -> LoopHeader | None:
    if not isinstance(loop, cst.While):
        return None
    cond_names = names_of(loop.test).reads
    index_var = ""
    for n in iter_nodes(loop.body):
        if (
            isinstance(n, cst.AugAssign)
            and isinstance(n.operator, cst.AddAssign)
            and isinstance(n.target, cst.Name)
            and n.target.value in cond_names
        ):
            index_var = n.target.value
            break
    return LoopHeader(
        kind="while",
        target="",
        iterable="",
        index_var=index_var,
        condition=ctx.expr(loop.test),
    )
