"""Sink: a tensor grown each iteration, `video = torch.cat([video, new], dim=0)` (also
`np.concatenate`, `np.append`, `vstack`): the new part leaves the iteration."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, last_name
from reactorc.analysis.loops import SinkMatch

GROWERS = {"cat", "concat", "concatenate", "append", "vstack", "hstack", "dstack", "row_stack"}


def find(stmt: cst.CSTNode, ctx: Ctx) -> SinkMatch | None:
    if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
        return None
    target = dotted(stmt.targets[0].target)
    value = stmt.value
    if not (target and isinstance(value, cst.Call) and last_name(value.func) in GROWERS):
        return None
    if not value.args or value.args[0].keyword is not None:
        return None
    first = value.args[0].value
    if last_name(value.func) == "append" and len(value.args) >= 2:
        parts = [first, value.args[1].value]
    elif isinstance(first, (cst.List, cst.Tuple)):
        parts = [el.value for el in first.elements]
    else:
        return None
    if len(parts) != 2 or dotted(parts[0]) != target:
        return None
    return SinkMatch(kind="cat", node=stmt, frame=parts[1], target=target, call=dotted(value.func))


def adds_one_frame(new: cst.BaseExpression) -> bool:
    """`x[None]`, `x[None, ...]`, `x[np.newaxis]`, `x.unsqueeze(0)`, `np.expand_dims(x, 0)`."""
    if isinstance(new, cst.Subscript) and new.slice:
        first = new.slice[0].slice
        return isinstance(first, cst.Index) and dotted(first.value) in (
            "None",
            "np.newaxis",
            "numpy.newaxis",
        )
    return isinstance(new, cst.Call) and last_name(new.func) in ("unsqueeze", "expand_dims")
