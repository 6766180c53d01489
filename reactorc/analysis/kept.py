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


GENERATOR_SAFE = {"no_grad", "inference_mode", "enable_grad"}
"""Context managers that also work as decorators of a generator function (torch wraps each
resumption), so the call site's can decorate the wrapper's `inference()`."""


def at_call_site(call: cst.CSTNode, ctx: Ctx, already: list[KeptWrapper]) -> list[KeptWrapper]:
    """The grad modes a driver calls the pipeline under (`with torch.no_grad(): render_path(...)`),
    as decorators of `inference()`, unless the pipeline already has one of its own."""
    if any(last_name(cst.parse_expression(k.code)) in GENERATOR_SAFE for k in already):
        return []
    found: list[KeptWrapper] = []
    cur = ctx.parents.get(call)
    while cur is not None:
        if isinstance(cur, cst.With):
            for item in cur.items:
                if last_name(item.item) in GENERATOR_SAFE and isinstance(item.item, cst.Call):
                    found.insert(0, KeptWrapper("call", ctx.code(item.item), ctx.span(cur)))
        if isinstance(cur, cst.FunctionDef):
            found[:0] = [
                KeptWrapper("call", ctx.code(d.decorator), ctx.span(d))
                for d in cur.decorators
                if last_name(d.decorator) in GENERATOR_SAFE
            ]
        cur = ctx.parents.get(cur)
    return found[:1]
