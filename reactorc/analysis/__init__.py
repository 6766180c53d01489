"""Analysis: find the pipeline, its frame loop, its state and dependencies; build the Plan.

Visitors and helpers here only read the tree; the rewriter (a separate stage) edits copies.
`explain(path)` is what `reactorc explain` runs: it never raises for bad input, every problem
is a diagnostic in the returned plan."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import libcst as cst

from reactorc.analysis import (
    blocking,
    bounds,
    candidates,
    constructor,
    deps,
    docstrings,
    epilogue,
    kept,
    per_step,
    ranking,
    sink_cat,
    state,
)
from reactorc.analysis._cst import Ctx, TooDeep, iter_nodes, names_of
from reactorc.analysis.index import FunctionInfo, ModuleIndex, build_index
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import Diagnostic, diagnostic, shorten, sort_diagnostics
from reactorc.parse import Source, parse_text, read_file
from reactorc.plan import (
    Candidate as PlanCandidate,
)
from reactorc.plan import (
    Constructor,
    FrameLoop,
    NonStateParam,
    Param,
    PerStepSequence,
    Plan,
    Sink,
    StateField,
    SymbolKind,
)

CHUNK_WORDS = ("chunk", "clip", "block", "segment", "window", "batch")


def explain(path: str | Path, *, symbol: str | None = None, loop_line: int | None = None) -> Plan:
    """Read, parse and analyse the file at `path`."""
    result = read_file(path)
    if result.source is None:
        return _refused(str(path), "", result.diagnostics)
    return analyze(result.source, symbol=symbol, loop_line=loop_line)


def explain_text(
    text: str, path: str = "<string>", *, symbol: str | None = None, loop_line: int | None = None
) -> Plan:
    """Like `explain`, for source text already in memory (tests, editors)."""
    result = parse_text(text, path)
    if result.source is None:
        return _refused(path, "", result.diagnostics)
    return analyze(result.source, symbol=symbol, loop_line=loop_line)


def _refused(path: str, sha: str, diags: tuple[Diagnostic, ...] | list[Diagnostic]) -> Plan:
    return _bare_plan(path, sha, diags)


def _bare_plan(
    path: str,
    sha: str,
    diags: tuple[Diagnostic, ...] | list[Diagnostic],
    *,
    symbol: str = "",
    symbol_kind: SymbolKind = "function",
    frame_loop: FrameLoop | None = None,
    candidates: tuple[PlanCandidate, ...] = (),
    imports: tuple[str, ...] = (),
) -> Plan:
    """A plan with no function behind it: a refusal (no frame loop) or a module-level loop."""
    return Plan(
        source_path=path,
        source_sha256=sha,
        symbol=symbol,
        symbol_kind=symbol_kind,
        class_name="",
        function_name="",
        function_span=None,
        is_async=False,
        frame_loop=frame_loop,
        decode_after_loop=False,
        constructor=Constructor(kind="none", class_name=""),
        params=(),
        state=(),
        non_state=(),
        pre_loop=(),
        epilogue=(),
        per_step=(),
        kept=(),
        candidates=candidates,
        diagnostics=sort_diagnostics(diags),
        imports=imports,
    )


@dataclass
class _Run:
    """One analysis: the context, what was found and the diagnostics gathered so far."""

    ctx: Ctx
    index: ModuleIndex
    diags: list[Diagnostic]

    def add(self, code: str, node: cst.CSTNode | None, message: str, hint: str) -> None:
        line = self.ctx.line(node) if node is not None else 1
        col = self.ctx.col1(node) if node is not None else 1
        self.diags.append(diagnostic(code, self.ctx.path, line, col, message, hint))


RECURSION_LIMIT = 3000
"""libcst computes positions recursively; this limit lets nesting a few hundred levels deep
(long `a + b + ...` chains) through while staying far from the C stack's end."""


@contextmanager
def _recursion_limit(limit: int) -> Iterator[None]:
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def analyze(source: Source, *, symbol: str | None = None, loop_line: int | None = None) -> Plan:
    """The plan for a parsed file, or a refusal whose diagnostics say why."""
    with _recursion_limit(RECURSION_LIMIT):
        try:
            return _analyze(source, symbol, loop_line)
        except (RecursionError, TooDeep):
            d = diagnostic(
                "RC005",
                source.path,
                1,
                1,
                "the file is nested too deeply to analyse",
                "split the deepest expression (a very long `a + b + ...` chain or deeply "
                "nested calls) into several statements",
            )
            return _refused(source.path, source.sha256, [d])


def _analyze(source: Source, symbol: str | None, loop_line: int | None) -> Plan:
    ctx = Ctx.of(source)
    run = _Run(ctx, build_index(ctx), [])
    fn_cands, script_cands = candidates.find_all(run.index, ctx)

    if symbol is not None and symbol != "<module>":
        fn = run.index.by_symbol(symbol)
        if fn is None:
            known = [f.symbol for f in run.index.functions]
            with_loops = [s for s in known if any(c.symbol == s for c in fn_cands)]
            listed = ", ".join((with_loops or known)[:8]) or "none"
            run.add(
                "RC105",
                None,
                f"--symbol {symbol} names no function or method in this file",
                f"pass one of: {listed} (methods as Class.method)",
            )
            return _finish(run, None, [])
        pool = [c for c in fn_cands if c.fn is fn]
    elif symbol == "<module>":
        pool = list(script_cands)
    else:
        pool = list(fn_cands)

    if loop_line is not None:
        chosen_pool = [c for c in pool if _loop_line(c, ctx) == loop_line]
        if not chosen_pool:
            lines = sorted({_loop_line(c, ctx) for c in pool})
            listed = ", ".join(str(n) for n in lines[:12]) or "none"
            where = f" in {symbol}" if symbol else ""
            run.add(
                "RC106",
                None,
                f"--loop-line {loop_line} is not the header of a loop{where}",
                f"loop headers{where}: {listed}",
            )
            return _finish(run, None, [])
        pool = chosen_pool

    active = [c for c in pool if c.sinks]
    if loop_line is None:
        active_nodes = {id(c.node) for c in active}
        active = [c for c in active if not any(id(o) in active_nodes for o in c.outer)]

    if not active and symbol is None and loop_line is None:
        script_active = [c for c in script_cands if c.sinks]
        if script_active:
            best = script_active[0]
            run.add(
                "RC102",
                best.node,
                "the frame loop is module-level script code; there is no function to wrap",
                "move the loop into a function whose parameters are the inputs "
                "(e.g. `def generate(prompt, num_frames=16):`), then pass --symbol generate",
            )
            return _finish(run, best, [])
    if symbol == "<module>" and active:
        run.add(
            "RC102",
            active[0].node,
            "the frame loop is module-level script code; there is no function to wrap",
            "move the loop into a function whose parameters are the inputs, "
            "then pass --symbol with its name",
        )
        return _finish(run, active[0], [])

    if not active:
        where = _no_frames(run, pool, fn_cands, symbol)
        plan = _finish(run, None, [])
        if where is None:
            return plan
        fn = where.fn
        return replace(
            plan,
            symbol=where.symbol,
            symbol_kind="module" if fn is None else "method" if fn.is_method else "function",
            class_name=fn.class_name if fn is not None else "",
            function_name=fn.name if fn is not None else "",
            function_span=ctx.span(fn.node) if fn is not None else None,
        )

    ranked = ranking.rank(active, run.index.functions, ctx)
    if len(ranked) > 1 and ranked[0].score == ranked[1].score:
        a, b = ranked[0], ranked[1]
        run.add(
            "RC103",
            a.node,
            f"several frame loops rank equally: {a.symbol} (line {_loop_line(a, ctx)}) and "
            f"{b.symbol} (line {_loop_line(b, ctx)})",
            f"pass --symbol {a.symbol} or --loop-line {_loop_line(a, ctx)} to pick one",
        )
        return _finish(run, None, ranked)
    best = ranked[0]
    if len(ranked) > 1:
        others = "; ".join(
            f"{c.symbol} line {_loop_line(c, ctx)} (score {c.score}: {', '.join(c.reasons)})"
            for c in ranked[1:4]
        )
        run.add(
            "RC104",
            best.node,
            f"chose {best.symbol} line {_loop_line(best, ctx)} (score {best.score}: "
            f"{', '.join(best.reasons)}) over {others}",
            "pass --symbol and/or --loop-line to pick another loop",
        )
    return _finish(run, best, ranked)


def _no_frames(
    run: _Run, pool: list[Candidate], fn_cands: list[Candidate], symbol: str | None
) -> Candidate | None:
    """RC111 when there are loops but nothing leaves an iteration (returns the loop it points
    at), RC101 when there is none."""
    loops = [c for c in pool if not c.outer and not isinstance(c.node, cst.FunctionDef)]
    loops = [c for c in loops if c.header.kind != "comprehension"] or loops
    if loops:
        loops.sort(key=lambda c: 0 if c.fn and c.fn.name in ranking.ENTRY_NAMES else 1)
        c = loops[0]
        run.add(
            "RC111",
            c.node,
            f"no per-frame boundary: nothing computed in the loop of {c.symbol} reaches an "
            "output before the loop ends",
            "collect each iteration's frame (frames.append(x), out[i] = x, or yield x); "
            "if another loop makes the frames, pass --symbol/--loop-line",
        )
        return c
    where = f"in {symbol} " if symbol else ""
    run.add(
        "RC101",
        None,
        f"no frame loop found {where}(no loop, generator or step() method produces frames)",
        "point reactorc at the file that holds the pipeline's frame loop, or pass --symbol",
    )
    return None


def _loop_line(c: Candidate, ctx: Ctx) -> int:
    node = c.node
    if isinstance(node, cst.FunctionDef):
        return ctx.line(node.name)
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        return ctx.line(node.for_in)
    return ctx.line(node)


def _finish(run: _Run, best: Candidate | None, ranked: list[Candidate]) -> Plan:
    ctx = run.ctx
    plan_cands = tuple(
        PlanCandidate(c.symbol, _loop_line(c, ctx), c.score, tuple(c.reasons), c is best)
        for c in ranked
    )
    if best is None:
        return _bare_plan(ctx.path, ctx.source.sha256, run.diags, candidates=plan_cands)
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


def _build(run: _Run, best: Candidate, cands: tuple[PlanCandidate, ...]) -> Plan:
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
        line=_loop_line(best, ctx),
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
        return _bare_plan(
            ctx.path,
            ctx.source.sha256,
            run.diags,
            symbol="<module>",
            symbol_kind="module",
            frame_loop=frame_loop,
            candidates=cands,
            imports=tuple(ctx.code(s) for s in run.index.imports),
        )

    # State
    params, fields, non_state, steps = _state(run, fn, body, best)
    flow = deps.track(before, [f.name for f in fields], ctx)
    field_types = {f.name: f.type for f in fields}
    live = deps.liveness(flow, field_types, body, header_node, after)
    for f in fields:
        if f.name in {s.param for s in steps}:
            live.live[f.name] = True
            live.reason[f.name] = f"read as `{f.name}[{best.header.index_var}]` each step"

    frames_name = (
        sink_match.target.split(".")[0]
        if sink_match.target and sink_match.kind in ACCUMULATING
        else ""
    )
    epi, return_expr = epilogue.analyse(after, frames_name, ctx)
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
        kept=tuple(kept.find(fn.node, node, ctx)),
        candidates=cands,
        diagnostics=sort_diagnostics(run.diags),
        return_expr=return_expr,
        docstring=fn.node.get_docstring(clean=True) or "",
        imports=tuple(ctx.code(s) for s in run.index.imports),
        reset_method=_reset_method(run.index, fn) if kind == "step" else "",
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
    if sink.frame is not None and any(
        _names_a_chunk(name, callee) for name, callee in _identifiers(sink.frame)
    ):
        return "chunk"
    return 1


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


def _state(
    run: _Run, fn: FunctionInfo, body: cst.CSTNode | None, best: Candidate
) -> tuple[list[Param], list[state.FieldDraft], list[NonStateParam], list[PerStepSequence]]:
    ctx = run.ctx
    index = run.index
    plist = state.params_of(fn.node, ctx, skip_self=fn.is_method)
    docs = docstrings.parse(fn.node.get_docstring(clean=True) or "")
    if fn.cls is not None and fn.name == "__call__" and not docs:
        docs = docstrings.parse(fn.cls.get_docstring(clean=True) or "")
    names = {p.name for p, _ in plist}
    guards = bounds.collect(fn.node.body, names, index.constants, ctx.line)
    steps = per_step.find(body, best.header.index_var, names, ctx) if body is not None else []
    step_names = {s.param for s in steps}
    iterated = names_of(best.header.iter_node).reads if best.header.iter_node is not None else set()
    fields: list[state.FieldDraft] = []
    non_state: list[NonStateParam] = []
    for param, node in plist:
        doc = docs.get(param.name)
        if param.kind in ("var_positional", "var_keyword"):
            star = "*" if param.kind == "var_positional" else "**"
            non_state.append(NonStateParam(param, f"{star}{param.name} is not a single value"))
            run.add(
                "RC204",
                node,
                f"`{star}{param.name}` is not state",
                "name the values the stream should change as parameters with defaults",
            )
            continue
        annotation = node.annotation.annotation if node.annotation else None
        info = state.type_of(annotation, node.default, doc, index)
        g = guards.get(param.name)
        if info.not_state == "" and info.type == "" and g is not None and g.isinstance_type:
            info = state.TypeInfo(g.isinstance_type)
        element = info.element or _doc_element(doc)
        if param.name in step_names and element in state.SCALARS:
            fields.append(
                state.FieldDraft(
                    name=param.name,
                    type=element,
                    default=None,
                    has_default=node.default is not None,
                    annotation=param.annotation,
                    default_code=param.default_code,
                    node=node,
                    description=doc.description if doc else "",
                    extras={"per_step": True},
                )
            )
            seq = next(s for s in steps if s.param == param.name)
            steps[steps.index(seq)] = PerStepSequence(
                seq.param, seq.element_field, seq.index_expr, seq.span, element
            )
            run.add(
                "RC206",
                node,
                f"`{param.name}` is read one element per step; it becomes a live field",
                f"clients send the current {param.name} value each step instead of a list",
            )
            continue
        choices = info.choices
        if g is not None and g.choices is not None and choices is None:
            choices = g.choices
            if (info.type in ("", "str", "int", "float") and not info.not_state) or (
                info.type == "" and info.not_state == "" and node.default is not None
            ):
                info = state.TypeInfo("choice", choices=choices)
        if not info.not_state and not info.type and param.name in iterated:
            info = state.TypeInfo("", not_state="the frame loop iterates over it: a sequence")
        if info.not_state or not info.type:
            reason = info.not_state or "it has no annotation, no literal default and no type"
            non_state.append(NonStateParam(param, reason))
            if info.not_state:
                run.add(
                    "RC201",
                    node,
                    f"parameter `{param.name}` is not state: {reason}",
                    "the wrapper passes it from load(); annotate it int/float/str/bool "
                    "if clients should change it",
                )
            else:
                run.add(
                    "RC202",
                    node,
                    f"type of parameter `{param.name}` is unknown: {reason}",
                    "annotate it int, float, str or bool and give it a default to make it state",
                )
            continue
        default, has_default = state.default_value(node.default, info, index)
        draft = state.FieldDraft(
            name=param.name,
            type=info.type,
            default=default,
            has_default=has_default,
            annotation=param.annotation,
            default_code=param.default_code,
            node=node,
            choices=choices,
            enum=info.enum,
            description=doc.description if doc else "",
        )
        if g is not None:
            value_type = _value_type(info, default)
            ge, le = bounds.resolve(g, value_type)
            if info.type in ("int", "float"):
                draft.extras["ge"], draft.extras["le"] = ge, le
            if g.min_length is not None:
                draft.extras["min_length"] = g.min_length
            if g.max_length is not None:
                draft.extras["max_length"] = g.max_length
            _check_default(run, draft, node)
        fields.append(draft)
    kept_steps = [s for s in steps if any(f.name == s.param for f in fields)]
    return [p for p, _ in plist], fields, non_state, kept_steps


def _value_type(info: state.TypeInfo, default: Any) -> str:
    if info.type != "choice":
        return info.type
    return type(default).__name__ if default is not None else "str"


def _doc_element(doc: docstrings.ParamDoc | None) -> str:
    if doc is None or not doc.type:
        return ""
    words = doc.type.replace(",", " ").split()
    for w in words[1:]:
        if w in state.SCALARS:
            return w
    return ""


def _check_default(run: _Run, f: state.FieldDraft, node: cst.Param) -> None:
    v = f.default
    if not f.has_default or v is None:
        return
    problems = []
    ge, le = f.extras.get("ge"), f.extras.get("le")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if ge is not None and v < ge:
            problems.append(f"below its lower bound {ge}")
        if le is not None and v > le:
            problems.append(f"above its upper bound {le}")
    if f.choices is not None and v not in f.choices:
        problems.append(f"not one of {list(f.choices)}")
    if problems:
        run.add(
            "RC203",
            node.default if node.default is not None else node,
            f"default {v!r} of `{f.name}` is {' and '.join(problems)}",
            "fix the default or the guard; the wrapper would reject its own default",
        )


__all__ = ["analyze", "explain", "explain_text"]
