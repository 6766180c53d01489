"""Sink: `yield frame` in a pipeline that is already a generator: the wrapper wraps it."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx
from reactorc.analysis.loops import SinkMatch


def find(stmt: cst.CSTNode, ctx: Ctx) -> SinkMatch | None:
    value: cst.BaseExpression | None = None
    if isinstance(stmt, (cst.Expr, cst.Assign, cst.AnnAssign)):
        value = stmt.value
    if not isinstance(value, cst.Yield) or isinstance(value.value, cst.From):
        return None
    if value.value is None:
        return None
    return SinkMatch(kind="yield", node=stmt, frame=value.value, target="")
