"""Shape: the pipeline is already a generator (`yield frame`): the wrapper iterates it.

A yield inside a loop makes that loop the frame loop (kind "generator"); yields outside any
loop make the function itself the frame boundary (its `def` line)."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis import sink_yield
from reactorc.analysis._cst import LOOPS, Ctx, iter_nodes
from reactorc.analysis.index import FunctionInfo
from reactorc.analysis.loops import Candidate, LoopHeader


def top_level_candidate(fn: FunctionInfo, ctx: Ctx) -> Candidate | None:
    """A candidate for the yields of a generator function that sit outside every loop."""
    if not fn.is_generator:
        return None
    sinks = []
    for n in iter_nodes(fn.node.body):
        if isinstance(n, cst.BaseSmallStatement) and not _in_loop(n, fn.node, ctx):
            m = sink_yield.find(n, ctx)
            if m is not None:
                sinks.append(m)
    if not sinks:
        return None
    header = LoopHeader(kind="generator", target="", iterable="")
    return Candidate(fn=fn, node=fn.node, header=header, sinks=sinks)


def _in_loop(node: cst.CSTNode, fn: cst.FunctionDef, ctx: Ctx) -> bool:
    cur = ctx.parents.get(node)
    while cur is not None and cur is not fn:
        if isinstance(cur, LOOPS):
            return True
        cur = ctx.parents.get(cur)
    return False
