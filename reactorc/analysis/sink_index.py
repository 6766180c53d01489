"""Sink: writes into a preallocated tensor indexed by the frame counter: `out[i] = x`
(index-write) or `out[:, a:b] = x` with bounds from the counter (slice-write, a chunk)."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, base_name, names_of
from reactorc.analysis.loops import SinkMatch


def find(
    stmt: cst.CSTNode, loop_locals: set[str], index_names: set[str], ctx: Ctx
) -> SinkMatch | None:
    if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
        return None
    target = stmt.targets[0].target
    if not isinstance(target, cst.Subscript):
        return None
    base = base_name(target)
    if not base or (base in loop_locals and base != "self"):
        return None
    slice_hit = index_hit = False
    for el in target.slice:
        reads = names_of(el.slice).reads
        if not reads & index_names:
            continue
        if isinstance(el.slice, cst.Slice):
            slice_hit = True
        else:
            index_hit = True
    if not (slice_hit or index_hit):
        return None
    index_code = ", ".join(ctx.expr(el.slice) for el in target.slice) if target.slice else ""
    kind = "slice-write" if slice_hit and not index_hit else "index-write"
    return SinkMatch(
        kind=kind,
        node=stmt,
        frame=stmt.value,
        target=ctx.expr(target.value),
        index_expr=index_code,
        chunk=kind == "slice-write",
        reasons=("writes a slice of frames per iteration",) if kind == "slice-write" else (),
    )
