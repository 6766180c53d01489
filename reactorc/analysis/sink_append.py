"""Sink: `frames.append(x)`, `frames.extend(chunk)`, `frames += [x]` into a list that lives
across iterations."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted
from reactorc.analysis.loops import SinkMatch


def find(stmt: cst.CSTNode, loop_locals: set[str], ctx: Ctx) -> SinkMatch | None:
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
        call = stmt.value
        func = call.func
        if not (isinstance(func, cst.Attribute) and func.attr.value in ("append", "extend")):
            return None
        target = dotted(func.value)
        if not target or target.split(".")[0] in loop_locals or len(call.args) != 1:
            return None
        if call.args[0].keyword is not None or call.args[0].star:
            return None
        chunk = func.attr.value == "extend"
        return SinkMatch(
            kind="append",
            node=stmt,
            frame=call.args[0].value,
            target=target,
            call=f"{target}.{func.attr.value}",
            chunk=chunk,
            reasons=("extends the list with several frames",) if chunk else (),
        )
    if (
        isinstance(stmt, cst.AugAssign)
        and isinstance(stmt.operator, cst.AddAssign)
        and isinstance(stmt.value, cst.List)
        and len(stmt.value.elements) == 1
    ):
        target = dotted(stmt.target)
        if not target or target.split(".")[0] in loop_locals:
            return None
        return SinkMatch(
            kind="append",
            node=stmt,
            frame=stmt.value.elements[0].value,
            target=target,
            call=f"{target} +=",
        )
    return None
