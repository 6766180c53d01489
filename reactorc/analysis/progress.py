"""Progress bars around the frame loop's iterable (tqdm, trange, diffusers' progress_bar).

They are dropped from the wrapper: a stream has no end for a bar to measure."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, last_name

WRAPPERS = {
    "tqdm",
    "tqdm.tqdm",
    "tqdm.auto.tqdm",
    "tqdm.notebook.tqdm",
    "tqdm.rich.tqdm",
    "tqdm.std.tqdm",
    "rich.progress.track",
    "progress_bar",
    "track",
}
RANGE_WRAPPERS = {"trange", "tqdm.trange", "tqdm.auto.trange", "tqdm.notebook.trange"}


def unwrap(expr: cst.BaseExpression, ctx: Ctx) -> tuple[cst.BaseExpression, str]:
    """The iterable without its progress wrapper, and the wrapper's name ("" when none).

    `tqdm(range(n), desc=...)` -> `range(n)`; `trange(n)` -> `range(n)`;
    `enumerate(tqdm(xs))` -> `enumerate(xs)`. New nodes are built; the tree is not edited."""
    if not isinstance(expr, cst.Call):
        return expr, ""
    names = ctx.call_names(expr) | {last_name(expr.func)}
    positional = [a for a in expr.args if a.keyword is None and a.star == ""]
    if names & RANGE_WRAPPERS:
        args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in positional]
        return cst.Call(func=cst.Name("range"), args=args), "trange"
    if names & WRAPPERS and positional:
        inner, _ = unwrap(positional[0].value, ctx)
        return inner, (last_name(expr.func) or "tqdm")
    if last_name(expr.func) in ("enumerate", "zip", "reversed", "list") and positional:
        changed, wrapper = [], ""
        for a in expr.args:
            if a.keyword is None and a.star == "" and not wrapper:
                inner, wrapper = unwrap(a.value, ctx)
                changed.append(a.with_changes(value=inner))
            else:
                changed.append(a)
        if wrapper:
            return expr.with_changes(args=changed), wrapper
    return expr, ""
