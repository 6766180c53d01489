"""Shape: `frames = [self.render(p) for p in poses]` and `np.stack([f(i) for i in range(n)])`:
a comprehension whose element is a computed frame."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis import progress
from reactorc.analysis._cst import Ctx, iter_nodes, last_name
from reactorc.analysis.loops import LoopHeader, SinkMatch

COLLECTORS = {"stack", "concatenate", "cat", "array", "asarray", "tensor", "list", "vstack"}


def match(comp: cst.CSTNode, ctx: Ctx) -> LoopHeader | None:
    """A list comprehension / generator expression that computes something per element (its
    element calls a function) and is collected: assigned to a name, or passed to stack/cat."""
    if not isinstance(comp, (cst.ListComp, cst.GeneratorExp)):
        return None
    if comp.for_in.inner_for_in is not None:
        return None
    if not any(isinstance(n, cst.Call) for n in iter_nodes(comp.elt)):
        return None
    parent = ctx.parents.get(comp)
    if isinstance(parent, cst.Arg):
        call = ctx.parents.get(parent)
        if not (isinstance(call, cst.Call) and last_name(call.func) in COLLECTORS):
            return None
    elif not isinstance(parent, (cst.Assign, cst.Return)):
        return None
    f = comp.for_in
    inner, wrapper = progress.unwrap(f.iter, ctx)
    is_range = isinstance(inner, cst.Call) and ctx.call_names(inner) & {"range", "builtins.range"}
    index_var = f.target.value if is_range and isinstance(f.target, cst.Name) else ""
    return LoopHeader(
        kind="comprehension",
        target=ctx.expr(f.target),
        iterable=ctx.source.module.code_for_node(inner).strip(),
        index_var=index_var,
        progress_wrapper=wrapper,
        iter_node=inner,
    )


def sink(comp: cst.ListComp | cst.GeneratorExp, ctx: Ctx) -> SinkMatch:
    """The comprehension collects its element: an "append" sink into the assigned name."""
    parent = ctx.parents.get(comp)
    target = ""
    if isinstance(parent, cst.Assign) and isinstance(parent.targets[0].target, cst.Name):
        target = parent.targets[0].target.value
    return SinkMatch(kind="append", node=comp, frame=comp.elt, target=target)
