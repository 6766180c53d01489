"""The plan for a chosen frame loop: where its frames go, how many per iteration, what is live
and what restarts, what runs before and after it, how the object is constructed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import libcst as cst

from reactorc.analysis import (
    arguments,
    blocking,
    camera,
    constructor,
    deps,
    epilogue,
    kept,
    sink_cat,
)
from reactorc.analysis._cst import Ctx, dotted, iter_nodes, last_name, names_of, target_names
from reactorc.analysis.constructor import CONFIG_NAMES
from reactorc.analysis.context import Run, bare_plan, loop_line_of
from reactorc.analysis.fields import fields_of
from reactorc.analysis.index import FunctionInfo, ModuleIndex
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import diagnostic, shorten, sort_diagnostics
from reactorc.plan import (
    Candidate as PlanCandidate,
)
from reactorc.plan import (
    FrameLoop,
    Plan,
    Sink,
    StateField,
)


def finish(run: Run, best: Candidate | None, ranked: list[Candidate]) -> Plan:
    ctx = run.ctx
    plan_cands = tuple(
        PlanCandidate(c.symbol, loop_line_of(c, ctx), c.score, tuple(c.reasons), c is best)
        for c in ranked
    )
    if best is None:
        return bare_plan(ctx.path, ctx.source.sha256, run.diags, candidates=plan_cands)
    return _build(run, best, plan_cands)


ACCUMULATING = ("append", "index-write", "slice-write", "cat")


def _primary_sink(best: Candidate, after_reads: set[str], ctx: Ctx) -> int:
    """Where the frames of this loop go when several statements look like sinks: an
    accumulator the code after the loop uses, else a sink that runs every iteration (not under
    an `if`), else the first."""

    def rank(i_s: tuple[int, Any]) -> tuple[int, int, int]:
        i, s = i_s
        used_after = s.kind in ACCUMULATING and s.target.split(".")[0] in after_reads
        conditional = any(isinstance(p, cst.If) for p in _parents_until(s.node, best.node, ctx))
        return (0 if used_after else 1, 1 if conditional else 0, i)

    return min(enumerate(best.sinks), key=rank)[0]


def _parents_until(node: cst.CSTNode, stop: cst.CSTNode, ctx: Ctx) -> list[cst.CSTNode]:
    out = []
    cur = ctx.parents.get(node)
    while cur is not None and cur is not stop:
        out.append(cur)
        cur = ctx.parents.get(cur)
    return out


def _build(run: Run, best: Candidate, cands: tuple[PlanCandidate, ...]) -> Plan:
    ctx = run.ctx
    fn = best.fn
    node = best.node
    is_fn_node = isinstance(node, cst.FunctionDef)

    # Where the loop sits: statements before and after it, its body and header.
    if fn is not None and not is_fn_node:
        before, after = deps.statements_before(fn.node.body, node, ctx)
    else:
        before, after = [], []
    after_reads: set[str] = set()
    for stmt in after:
        after_reads |= names_of(stmt).reads
    sink_match = best.sinks[_primary_sink(best, after_reads, ctx)]

    if isinstance(node, (cst.For, cst.While)):
        body: cst.CSTNode | None = node.body
        header_node: cst.CSTNode | None = node.iter if isinstance(node, cst.For) else node.test
    elif isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        body, header_node = node.elt, node.for_in.iter
    else:
        body, header_node = None, None

    # Frame loop
    kind = best.header.kind
    fpi = _frames_per_iteration(best, sink_match, after, ctx)
    sink_span = ctx.span(sink_match.node)
    loop_span = ctx.span(node)
    body_span = ctx.span(body) if body is not None else loop_span
    inner = tuple(
        sorted(
            ctx.line(n)
            for n in iter_nodes(node.body if isinstance(node, (cst.For, cst.While)) else node)
            if n is not node and isinstance(n, (cst.For, cst.While))
        )
    )
    frame_loop = FrameLoop(
        line=loop_line_of(best, ctx),
        col=ctx.range(node if not is_fn_node else node.name).start.column,
        kind=kind,  # type: ignore[arg-type]
        target=best.header.target,
        iterable=best.header.iterable,
        frames_per_iteration=fpi,
        sink=Sink(
            kind=sink_match.kind,
            frame_expr=ctx.expr(sink_match.frame) if sink_match.frame is not None else "",
            target=sink_match.target,
            span=sink_span,
            call=sink_match.call,
            index_expr=sink_match.index_expr,
        ),
        span=loop_span,
        body_span=body_span,
        index_var=best.header.index_var,
        progress_wrapper=best.header.progress_wrapper,
        condition=best.header.condition,
        inner_loops=inner,
        is_async=isinstance(node, cst.For) and node.asynchronous is not None,
    )
    if best.header.progress_wrapper:
        run.add(
            "RC113",
            node,
            f"the progress bar `{best.header.progress_wrapper}` around the frame loop is dropped",
            "nothing to do: a stream has no end for a progress bar to measure",
        )
    blocking_root = node.body if isinstance(node, (cst.For, cst.While)) else node
    for call, _ in blocking.find(blocking_root, ctx):
        run.add(
            "RC110",
            call,
            f"blocking input `{shorten(ctx.code(call), 40)}` inside the frame loop",
            "a stream cannot wait for a key press: remove the call and make what it reads a "
            "parameter of the pipeline (it becomes live state)",
        )

    if fn is None:
        return bare_plan(
            ctx.path,
            ctx.source.sha256,
            run.diags,
            symbol="<module>",
            symbol_kind="module",
            frame_loop=frame_loop,
            candidates=cands,
            imports=tuple(ctx.code(s) for s in run.index.imports),
        )

    # State and where every argument comes from
    found = fields_of(run, fn, body, best)
    params, fields, non_state, steps = found.params, found.fields, found.non_state, found.steps
    prepared = arguments.prepare(run, fn, found, best, run.hints)
    flow = deps.track(
        before,
        [f.name for f in fields],
        ctx,
        prelude=prepared.synthetic,
        setup=prepared.setup.statements if prepared.setup is not None else (),
        inputs=[n.param.name for n in non_state if n.param.name not in CONFIG_NAMES],
    )
    field_types = {f.name: f.type for f in fields}
    frames_name = (
        sink_match.target.split(".")[0]
        if sink_match.target and sink_match.kind in ACCUMULATING
        else ""
    )
    epi, return_expr = epilogue.analyse(after, frames_name, ctx)
    per_chunk = [after[i] for i in epilogue.applied(epi)] if frames_name else []
    live = deps.liveness(
        flow, field_types, body, header_node, per_chunk, sink_match.node, sink_match.frame
    )
    for f in fields:
        if f.name in {s.param for s in steps}:
            live.live[f.name] = True
            live.reason[f.name] = f"read as `{f.name}[{best.header.index_var}]` each step"
    args = arguments.finish(prepared, found, live.live)
    _note_inferred(run, found, prepared)
    _note_inputs(run, found, args)

    for stmt, st in zip(after, epi, strict=True):
        if st.reduces_across_frames:
            run.add(
                "RC301",
                stmt,
                f"`{shorten(st.code, 60)}` reduces across all frames of the clip; per chunk it sees "
                "only that chunk's frames",
                "use fixed bounds instead (e.g. clamp(0, 1)) or accept per-chunk values",
            )
    decode_after = any(s.is_decode for s in epi)

    state_fields = tuple(
        StateField(
            name=f.name,
            type=f.type,
            default=f.default,
            has_default=f.has_default,
            annotation=f.annotation,
            default_code=f.default_code,
            ge=f.extras.get("ge"),
            le=f.extras.get("le"),
            min_length=f.extras.get("min_length"),
            max_length=f.extras.get("max_length"),
            choices=tuple(f.choices) if f.choices is not None else None,
            enum=f.enum,
            live=live.live[f.name],
            reason=live.reason[f.name],
            description=f.description,
            span=ctx.span(f.node),
            per_step=f.extras.get("per_step", False),
            param=f.param,
            source=f.source,
        )
        for f in fields
    )
    cls_node = fn.cls
    cons = constructor.find(fn.class_name, cls_node, ctx)
    for key in cons.keys:
        if not key.has_default:
            run.diags.append(
                diagnostic(
                    "RC401",
                    ctx.path,
                    key.line,
                    1,
                    f"config key {key.name!r} is read without a default",
                    f"set `{key.name}` in config.yml; the wrapper passes it to "
                    f"{fn.class_name}(config)",
                )
            )
    symbol_kind = "method" if fn.cls is not None else "function"
    if fn.is_generator:
        symbol_kind = "generator"
    elif kind == "step":
        symbol_kind = "step"
    clip = camera.find(
        best,
        before,
        ctx,
        exclude={f.name for f in fields} | {s.param for s in steps} | {frames_name},
        chunk=fpi == "chunk",
    )
    if clip is not None:
        frame_loop = replace(frame_loop, camera=clip)
    return Plan(
        source_path=ctx.path,
        source_sha256=ctx.source.sha256,
        symbol=fn.symbol,
        symbol_kind=symbol_kind,  # type: ignore[arg-type]
        class_name=fn.class_name,
        function_name=fn.name,
        function_span=ctx.span(fn.node),
        is_async=fn.is_async,
        frame_loop=frame_loop,
        decode_after_loop=decode_after,
        constructor=cons,
        params=tuple(params),
        state=state_fields,
        non_state=tuple(non_state),
        pre_loop=tuple(flow.pre_loop),
        epilogue=tuple(epi),
        per_step=tuple(steps),
        kept=tuple(prepared.kept + kept.find(fn.node, node, ctx)),
        candidates=cands,
        diagnostics=sort_diagnostics(run.diags),
        return_expr=return_expr,
        docstring=fn.node.get_docstring(clean=True) or "",
        imports=tuple(ctx.code(s) for s in run.index.imports),
        reset_method=_reset_method(run.index, fn) if kind == "step" else "",
        arguments=args,
        setup=prepared.setup,
        after_call=tuple(prepared.after_call),
        result_name=prepared.result_name,
    )


def _note_inputs(run: Run, found: Any, args: tuple[Any, ...]) -> None:
    """RC201/RC202: what each parameter that is not a field is, and what the wrapper passes."""
    by_param = {a.param: a for a in args}
    for ns in found.non_state:
        arg = by_param.get(ns.param.name)
        if arg is None or arg.source in ("seed", "prompt", "missing"):
            continue
        if ns.param.name in run.hints.bound:
            continue  # a lowered script's own setup binds it: RC102 says so
        node = found.nodes.get(ns.param.name)
        passes = {
            "default": f"its default `{arg.code}`",
            "driver": arg.detail,
            "entry": arg.detail,
            "sidecar": f"`{arg.code}` from {arg.detail}",
            "config": f"config.yml's `{arg.config_key}`",
        }.get(arg.source, arg.detail)
        what = "a live sequence, one element per frame" if arg.role == "live" else "an input"
        if ns.param.name in found.unknown:
            run.add(
                "RC202",
                node,
                f"type of `{ns.param.name}` is unknown: {what}; the wrapper passes {passes}",
                f"to let clients set it, declare its type in reactorc.yaml: "
                f"`fields: {{{ns.param.name}: int}}` (int, float, str or bool)",
            )
        else:
            run.add(
                "RC201",
                node,
                f"`{ns.param.name}` is not a client field ({ns.reason}): {what}; the wrapper "
                f"passes {passes}",
                f"to pass something else, set it in reactorc.yaml: `arguments: {{{ns.param.name}: ...}}`",
            )


def _note_inferred(run: Run, found: Any, prepared: Any) -> None:
    """RC207 for a type read from use or name, RC208 for a parameter built from a field."""
    for f in found.fields:
        if f.how and not f.param:
            run.add(
                "RC207",
                found.nodes.get(f.name),
                f"`{f.name}` is a {f.type} field: {f.how}",
                f"to give it another type, declare it in reactorc.yaml: `fields: {{{f.name}: {f.type}}}`",
            )
    for c in found.conversions:
        if c.param in prepared.missing:
            continue
        what = "built from" if c.kind == "prompt" else "drawn from"
        run.add(
            "RC208",
            found.nodes.get(c.param),
            f"`{c.param}` is {what} the `{c.field}` field each clip",
            "nothing to do; clients set the field",
        )


def _reset_method(index: ModuleIndex, fn: FunctionInfo) -> str:
    names = {m.name for m in index.methods_of(fn.class_name)}
    return next((n for n in ("reset", "reset_episode", "init_episode") if n in names), "")


def _frames_per_iteration(best: Candidate, sink: Any, after: list[cst.CSTNode], ctx: Ctx) -> Any:
    """ "chunk" when the sink says so (extend, time slices) or a name in the frame is a block of
    frames (`clip_frames`, `chunk`: whole words, so `np.clip(x, 0, 1)` is one frame); else 1."""
    if sink.chunk:
        return "chunk"
    if sink.kind == "cat" and sink.frame is not None and sink_cat.adds_one_frame(sink.frame):
        return 1
    if sink.kind == "cat" and _one_along_cat_axis(best, sink, ctx):
        return 1
    if sink.frame is not None and _makes_a_clip(sink.frame):
        return "chunk"
    if isinstance(sink.frame, cst.Name) and isinstance(best.node, (cst.For, cst.While)):
        for node in iter_nodes(best.node.body):  # `samples = vae.decode(z, num_frames=n)`
            if (
                isinstance(node, cst.Assign)
                and any(sink.frame.value in target_names(t.target) for t in node.targets)
                and _makes_a_clip(node.value)
            ):
                return "chunk"
    if _iterates_batches(best, ctx):
        return "chunk"
    if sink.frame is not None and any(
        _names_a_chunk(name, callee) for name, callee in _identifiers(sink.frame)
    ):
        return "chunk"
    return 1


CHUNK_WORDS = ("chunk", "clip", "block", "segment", "window", "batch")
CLIP_ATTRIBUTES = frozenset({"videos", "frames", "video"})
CLIP_KEYWORDS = frozenset({"video_length", "num_frames", "n_frames", "num_video_frames"})
BATCH_LOADERS = frozenset({"DataLoader", "VideoReader", "batched", "chunked"})


def _one_along_cat_axis(best: Candidate, sink: Any, ctx: Ctx) -> bool:
    """`x = torch.cat([x, chunk], dim=1)` where the loop made `chunk` with a size of 1 along
    that axis (`torch.randn((B, 1, C, H, W))`): one frame per iteration, whatever its name."""
    if not isinstance(sink.frame, cst.Name) or not isinstance(best.node, (cst.For, cst.While)):
        return False
    dim = 0
    for call in iter_nodes(sink.node):
        if isinstance(call, cst.Call) and last_name(call.func) in ("cat", "concatenate"):
            for arg in call.args:
                named = arg.keyword is not None and arg.keyword.value in ("dim", "axis")
                if named and isinstance(arg.value, cst.Integer):
                    dim = int(arg.value.value)
    for node in iter_nodes(best.node.body):
        if (
            isinstance(node, cst.Assign)
            and any(sink.frame.value in target_names(t.target) for t in node.targets)
            and isinstance(node.value, cst.Call)
            and node.value.args
        ):
            shape = node.value.args[0].value
            if isinstance(shape, (cst.Tuple, cst.List)) and len(shape.elements) > dim:
                size = shape.elements[dim].value
                return isinstance(size, cst.Integer) and size.value == "1"
    return False


def _makes_a_clip(frame: cst.CSTNode) -> bool:
    """`pipe(...).videos`, a call given `video_length=`/`num_frames=`: several frames."""
    for node in iter_nodes(frame):
        if isinstance(node, cst.Attribute) and node.attr.value in CLIP_ATTRIBUTES:
            owner = dotted(node.value).split(".")[-1]
            if (
                node.attr.value == "videos"
                or isinstance(node.value, cst.Call)
                or owner in ("out", "output", "outputs", "result", "res", "pipeline_output")
            ):
                return True
        if isinstance(node, cst.Call) and any(
            a.keyword is not None and a.keyword.value in CLIP_KEYWORDS for a in node.args
        ):
            return True
    return False


def _iterates_batches(best: Candidate, ctx: Ctx) -> bool:
    """`for src in reader:` where `reader = DataLoader(source, batch_size=seq_chunk)`: each
    iteration is a batch of frames."""
    node = best.node
    if not isinstance(node, cst.For) or best.fn is None:
        return False
    names = names_of(node.iter).reads
    for n in iter_nodes(best.fn.node.body):
        if not (isinstance(n, cst.Assign) and isinstance(n.value, cst.Call)):
            continue
        if last_name(n.value.func) not in BATCH_LOADERS:
            continue
        if not any(target_names(t.target) & names for t in n.targets):
            continue
        for arg in n.value.args:
            if arg.keyword is not None and arg.keyword.value in ("batch_size", "chunk_size"):
                return not (isinstance(arg.value, cst.Integer) and arg.value.value == "1")
    return False


_CHUNK_FORMS = frozenset(f"{w}{end}" for w in CHUNK_WORDS for end in ("", "s", "es"))


def _names_a_chunk(identifier: str, callee: bool) -> bool:
    """Whether a word of `identifier` (`clip_frames`, `latentChunk`) is a chunk word. A callee
    names what it does (`np.clip`, `clip_by_value`), so it counts only when it ends in the
    noun it returns (`decode_chunk`)."""
    words = [w.lower() for w in re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", identifier)]
    if callee:
        return len(words) > 1 and words[-1] in _CHUNK_FORMS
    return any(w in _CHUNK_FORMS for w in words)


def _identifiers(expr: cst.CSTNode) -> Iterator[tuple[str, bool]]:
    """(identifier, whether it names the function called) for each name in `expr`; keyword
    argument names (`batch=2`) and text are not names of the frame."""
    callees = {
        id(c.func.attr if isinstance(c.func, cst.Attribute) else c.func)
        for c in iter_nodes(expr)
        if isinstance(c, cst.Call)
    }
    keywords = {id(a.keyword) for a in iter_nodes(expr) if isinstance(a, cst.Arg) and a.keyword}
    for node in iter_nodes(expr):
        if isinstance(node, cst.Name) and id(node) not in keywords:
            yield node.value, id(node) in callees
