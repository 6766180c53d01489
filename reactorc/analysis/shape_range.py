"""Shape: `for i in range(n)` (also `trange(n)`, `tqdm(range(n))`): the seed's frame loop."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis import progress
from reactorc.analysis._cst import Ctx
from reactorc.analysis.loops import LoopHeader


def match(loop: cst.CSTNode, ctx: Ctx) -> LoopHeader | None:
    if not isinstance(loop, cst.For):
        return None
    inner, wrapper = progress.unwrap(loop.iter, ctx)
    if not (isinstance(inner, cst.Call) and ctx.call_names(inner) & {"range", "builtins.range"}):
        return None
    target = loop.target
    return LoopHeader(
        kind="for-range",
        target=ctx.expr(target),
        iterable=ctx.source.module.code_for_node(inner).strip(),
        index_var=target.value if isinstance(target, cst.Name) else "",
        progress_wrapper=wrapper,
        iter_node=inner,
    )
