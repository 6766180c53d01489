"""The per-chunk epilogue: what the pipeline does with the frames after its loop (collect,
decode, permute/clamp/*255, `.cpu().numpy()`), and the statements that reduce across the whole
clip (a min/max/mean over every frame), which change meaning when applied per chunk."""

from __future__ import annotations

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, iter_calls, last_name, names_of
from reactorc.plan import EpilogueStatement

COLLECT = {"stack", "cat", "concat", "concatenate", "array", "asarray", "vstack", "tensor"}
REDUCERS = {
    "min",
    "max",
    "mean",
    "std",
    "sum",
    "var",
    "amin",
    "amax",
    "median",
    "quantile",
    "percentile",
    "norm",
    "ptp",
    "nanmin",
    "nanmax",
    "nanmean",
}
DECODERS = ("decode", "vae", "decoder", "autoencoder", "first_stage_model")


def analyse(
    after: list[cst.CSTNode], frames_name: str, ctx: Ctx
) -> tuple[list[EpilogueStatement], str]:
    """The epilogue statements in order, and the code of the returned expression ("")."""
    derived = {frames_name} - {""}
    out: list[EpilogueStatement] = []
    return_expr = ""
    for stmt in after:
        n = names_of(stmt)
        touches = bool(n.reads & derived)
        is_return = isinstance(stmt, cst.Return)
        if is_return and stmt.value is not None:
            return_expr = ctx.expr(stmt.value)
        role = "other"
        decode = reduces = False
        if touches and side_effect(stmt):
            role = "other"  # saving, printing, plotting: not a transform of the frames
        elif touches:
            decode = _decodes(stmt)
            reduces = _reduces(stmt, derived, ctx)
            if decode:
                role = "decode"
            elif _collects(stmt, frames_name):
                role = "collect"
            else:
                role = "transform"
            derived |= n.binds
        if is_return:
            role = "return" if not touches or role in ("other", "collect", "transform") else role
        out.append(
            EpilogueStatement(
                code=ctx.code(stmt),
                span=ctx.span(stmt),
                defines=tuple(sorted(n.binds)),
                reads=tuple(sorted(n.reads)),
                reduces_across_frames=reduces,
                is_decode=decode,
                is_return=is_return,
                role=role,
            )
        )
    return out, return_expr


def applied(epi: list[EpilogueStatement] | tuple[EpilogueStatement, ...]) -> list[int]:
    """Indices of the post-loop statements a wrapper applies to each chunk of an accumulating
    loop: the frame transforms and what they read, saving, printing and logging aside."""
    if not any(s.role != "other" for s in epi):
        return []
    needed = {name for s in epi if s.role != "other" for name in s.reads}
    out: list[int] = []
    for i in range(len(epi) - 1, -1, -1):
        st = epi[i]
        if st.role != "other" or (set(st.defines) & needed and not st.is_return):
            out.insert(0, i)
            needed |= set(st.reads)
    return [i for i in out if epi[i].role != "other" or not _bare_call(epi[i].code)]


def _bare_call(code: str) -> bool:
    stmt = cst.parse_statement(code)
    small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else stmt
    return isinstance(small, cst.Expr)


SIDE_EFFECTS = frozenset(
    {
        "save",
        "savez",
        "savefig",
        "imwrite",
        "imsave",
        "mimsave",
        "mimwrite",
        "write",
        "write_video",
        "export_to_video",
        "save_video",
        "save_videos_grid",
        "save_image",
        "print",
        "dump",
        "log",
        "info",
        "debug",
        "warning",
        "makedirs",
        "mkdir",
        "close",
        "release",
        "show",
        "imshow",
        "plot",
        "subplots",
        "figure",
        "system",
        "call",
        "run",
        "upload",
        "add_video",
        "add_image",
    }
)


def side_effect(stmt: cst.CSTNode) -> bool:
    """A statement the wrapper drops after the loop: it saves, prints, plots or logs (a bare
    call, or one of the known output calls anywhere in it); it does not transform frames."""
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
        return True
    return any(
        last_name(c.func) in SIDE_EFFECTS or last_name(c.func).startswith(("save_", "write_"))
        for c in iter_calls(stmt)
    )


def _decodes(stmt: cst.CSTNode) -> bool:
    for call in iter_calls(stmt):
        name = dotted(call.func).lower() or last_name(call.func).lower()
        if any(d in part for part in name.split(".") for d in DECODERS):
            return True
    return False


def _collects(stmt: cst.CSTNode, frames_name: str) -> bool:
    for call in iter_calls(stmt):
        if (
            last_name(call.func) in COLLECT
            and call.args
            and frames_name
            and frames_name in names_of(call.args[0].value).reads
        ):
            return True
    return False


def _reduces(stmt: cst.CSTNode, derived: set[str], ctx: Ctx) -> bool:
    """A reduction over a frames-derived value with no axis, or along axis 0 (time)."""
    for call in iter_calls(stmt):
        name = last_name(call.func)
        if name not in REDUCERS:
            continue
        if isinstance(call.func, cst.Attribute) and not _is_module(call.func.value, ctx):
            subject = call.func.value
            axis_args = list(call.args)
        elif call.args:
            subject = call.args[0].value
            axis_args = list(call.args[1:])
        else:
            continue
        if not names_of(subject).reads & derived:
            continue
        if _axis_is_time_or_all(axis_args):
            return True
    return False


def _is_module(node: cst.CSTNode, ctx: Ctx) -> bool:
    head = ctx.qualname(node).split(".")[0]
    return head in ("numpy", "torch", "np", "math", "jax", "jnp", "builtins")


def _axis_is_time_or_all(args: list[cst.Arg]) -> bool:
    for a in args:
        if a.keyword is None or a.keyword.value in ("dim", "axis"):
            v = a.value
            if isinstance(v, cst.Integer):
                return v.value == "0"
            if isinstance(v, (cst.Tuple, cst.List)):
                return any(
                    isinstance(e.value, cst.Integer) and e.value.value == "0" for e in v.elements
                )
            return False
    return True
