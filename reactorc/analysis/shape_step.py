"""Shape: a per-call `step(action)` API (gym-style environments, world models): each call
returns the next frame; the wrapper calls it once per frame with the live state."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, iter_nodes, param_list
from reactorc.analysis.index import FunctionInfo
from reactorc.analysis.loops import Candidate, LoopHeader, SinkMatch

STEP_NAMES = ("step", "next_frame")
PER_CALL_NAMES = ("__call__", "predict", "process_frame", "infer_frame", "img2img", "txt2img")
"""Methods called once per frame by the code that uses them (a camera loop, a game loop)."""
NETWORK_BASES = ("Module", "LightningModule", "Sequential", "ModuleList", "Model")


def candidate(fn: FunctionInfo, ctx: Ctx) -> Candidate | None:
    """`Class.step(self, action, ...)` (or a per-frame `__call__(frame)` / `predict(image)` of a
    class that is not a network) returning a value and containing no loop of its own that
    collects frames (that would make it a clip pipeline)."""
    if fn.cls is None or fn.is_generator:
        return None
    if fn.name not in STEP_NAMES:
        if fn.name not in PER_CALL_NAMES:
            return None
        bases = {dotted(b.value).rsplit(".", 1)[-1] for b in fn.cls.bases}
        if bases & set(NETWORK_BASES) or any(
            isinstance(n, (cst.For, cst.While)) for n in iter_nodes(fn.node.body)
        ):
            return None
    params = [p for p, _ in param_list(fn.node)][1:]
    if not params and fn.name in STEP_NAMES:
        return None
    returns = [
        n for n in iter_nodes(fn.node.body) if isinstance(n, cst.Return) and n.value is not None
    ]
    if not returns:
        return None
    value = returns[-1].value
    frame = value
    if isinstance(value, cst.Tuple) and value.elements:
        frame = value.elements[0].value
    header = LoopHeader(kind="step", target="", iterable="")
    sink = SinkMatch(kind="return", node=returns[-1], frame=frame, target="")
    return Candidate(fn=fn, node=fn.node, header=header, sinks=[sink])
