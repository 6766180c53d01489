"""Decorators and context managers the wrapper keeps around the frame loop
(`@torch.no_grad()`, `torch.inference_mode()`, autocast)."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, last_name
from reactorc.plan import KeptWrapper

KEEP = {"no_grad", "inference_mode", "autocast", "enable_grad", "set_grad_enabled", "sdp_kernel"}


def find(fn: cst.FunctionDef, loop: cst.CSTNode, ctx: Ctx) -> list[KeptWrapper]:
    kept = [
        KeptWrapper("decorator", ctx.code(d.decorator), ctx.span(d))
        for d in fn.decorators
        if last_name(d.decorator) in KEEP
    ]
    withs: list[KeptWrapper] = []
    cur = ctx.parents.get(loop)
    while cur is not None and cur is not fn:
        if isinstance(cur, cst.With):
            block = [
                KeptWrapper("with", ctx.code(item.item), ctx.span(cur))
                for item in cur.items
                if last_name(item.item) in KEEP or dotted(item.item).endswith(tuple(KEEP))
            ]
            withs = block + withs  # outer blocks first, items in source order
        cur = ctx.parents.get(cur)
    return kept + withs
