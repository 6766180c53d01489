"""Shape: `for x in xs` over a precomputed iterable (poses, blocks, actions), `enumerate`,
`zip`: the wrapper iterates it and restarts at its end."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis import progress
from reactorc.analysis._cst import Ctx, last_name
from reactorc.analysis.loops import LoopHeader


def match(loop: cst.CSTNode, ctx: Ctx) -> LoopHeader | None:
    if not isinstance(loop, cst.For):
        return None
    inner, wrapper = progress.unwrap(loop.iter, ctx)
    index_var = ""
    if (
        isinstance(inner, cst.Call)
        and last_name(inner.func) == "enumerate"
        and isinstance(loop.target, cst.Tuple)
        and loop.target.elements
        and isinstance(loop.target.elements[0].value, cst.Name)
    ):
        index_var = loop.target.elements[0].value.value
    return LoopHeader(
        kind="for-iter",
        target=ctx.expr(loop.target),
        iterable=ctx.source.module.code_for_node(inner).strip(),
        index_var=index_var,
        progress_wrapper=wrapper,
        iter_node=inner,
    )
