"""Choosing the frame loop: the candidates of the file, narrowed by --symbol/--loop-line,
ranked; a tie, a module-level loop or no loop at all is a refusal with its diagnostics."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import libcst as cst

from reactorc.analysis import (
    candidates,
    driver,
    evidence,
    file_inputs,
    ranking,
    script,
    sink_writer,
)
from reactorc.analysis._cst import Ctx, TooDeep, iter_calls, last_name
from reactorc.analysis.build import finish
from reactorc.analysis.context import Run, loop_line_of, refused
from reactorc.analysis.hints import NO_HINTS, Hints
from reactorc.analysis.index import FunctionInfo, build_index
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import diagnostic, shorten, sort_diagnostics
from reactorc.parse import Source, parse_text
from reactorc.plan import Plan, Setup

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


def analyze(
    source: Source,
    *,
    symbol: str | None = None,
    loop_line: int | None = None,
    hints: Hints = NO_HINTS,
) -> Plan:
    """The plan for a parsed file, or a refusal whose diagnostics say why."""
    with _recursion_limit(RECURSION_LIMIT):
        try:
            plan = _analyze(source, symbol, loop_line, hints)
            found = file_inputs.find(plan)
            return replace(plan, file_inputs=found) if found else plan
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
            return refused(source.path, source.sha256, [d])


def _analyze(source: Source, symbol: str | None, loop_line: int | None, hints: Hints) -> Plan:
    ctx = Ctx.of(source)
    run = Run(ctx, build_index(ctx), [], hints)
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
            return finish(run, None, [])
        pool = [c for c in fn_cands if c.fn is fn]
    elif symbol == "<module>":
        pool = list(script_cands)
    else:
        pool = list(fn_cands) + _script_loops(script_cands, fn_cands)

    if loop_line is not None:
        chosen_pool = [c for c in pool if loop_line_of(c, ctx) == loop_line]
        if not chosen_pool:
            lines = sorted({loop_line_of(c, ctx) for c in pool})
            listed = ", ".join(str(n) for n in lines[:12]) or "none"
            where = f" in {symbol}" if symbol else ""
            run.add(
                "RC106",
                None,
                f"--loop-line {loop_line} is not the header of a loop{where}",
                f"loop headers{where}: {listed}",
            )
            return finish(run, None, [])
        pool = chosen_pool

    active = [c for c in pool if c.sinks]
    ruled_out: list[tuple[Candidate, str]] = []
    if symbol is None and loop_line is None:
        active, ruled_out = _rule_out(active, run)
    if loop_line is None:
        active_nodes = {id(c.node) for c in active}
        active = [c for c in active if not any(id(o) in active_nodes for o in c.outer)]

    if not active and symbol is None and loop_line is None:
        script_active = [c for c in script_cands if c.sinks]
        if script_active:
            return _module_script(run, source, script_active[0], hints)
    if symbol == "<module>" and active:
        best_script = ranking.rank(active, run.index.functions, ctx)[0]
        return _module_script(run, source, best_script, hints)

    if not active and ruled_out:
        listed = "; ".join(
            f"{c.symbol} line {loop_line_of(c, ctx)}: {why}" for c, why in ruled_out[:4]
        )
        run.add(
            "RC101",
            None,
            f"no frame loop found: the loops that collect something are not frame loops ({listed})",
            "point reactorc at the file that makes the frames, or pass --symbol/--loop-line "
            "to take one of these loops anyway",
        )
        return finish(run, None, [])
    if not active:
        where = _no_frames(run, pool, fn_cands, symbol)
        plan = finish(run, None, [])
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

    ranked = ranking.rank(active, run.index.functions, ctx, fn_cands + script_cands)
    if len(ranked) > 1 and ranked[0].score == ranked[1].score:
        a, b = ranked[0], ranked[1]
        run.add(
            "RC103",
            a.node,
            f"several frame loops rank equally: {a.symbol} (line {loop_line_of(a, ctx)}) and "
            f"{b.symbol} (line {loop_line_of(b, ctx)})",
            f"pass --symbol {a.symbol} or --loop-line {loop_line_of(a, ctx)} to pick one",
        )
        return finish(run, None, ranked)
    best = ranked[0]
    if symbol is None and loop_line is None and _refuse_best(run, best, ranked):
        return finish(run, None, ranked)
    if best.fn is None:
        return _module_script(run, source, best, hints, ranked)
    namespace = script.namespace_of(best.fn, ctx)
    if namespace:
        return _module_script(run, source, best, hints, ranked, best.fn, namespace)
    if len(ranked) > 1:
        others = "; ".join(
            f"{c.symbol} line {loop_line_of(c, ctx)} (score {c.score}: {', '.join(c.reasons)})"
            for c in ranked[1:4]
        )
        run.add(
            "RC104",
            best.node,
            f"chose {best.symbol} line {loop_line_of(best, ctx)} (score {best.score}: "
            f"{', '.join(best.reasons)}) over {others}",
            "pass --symbol and/or --loop-line to pick another loop",
        )
    return finish(run, best, ranked)


def _module_script(
    run: Run,
    source: Source,
    best: Candidate,
    hints: Hints,
    ranked: list[Candidate] | None = None,
    within: FunctionInfo | None = None,
    namespace: str = "",
) -> Plan:
    """The plan for a module-level frame loop: the script laid out as a function (setup ->
    load(), the loop -> inference()), analysed as one, reported at the script's own lines.
    `within`: the script is the body of a function that parses its own options."""
    ctx = run.ctx
    try:
        lowered = script.lower(best, run.index, ctx, within, namespace)
        lowered_source = parse_text(lowered.text, source.path).source
        if lowered_source is None:  # a layout the lowering got wrong: refused, never raised
            raise script.NotLowerable("the laid-out script does not parse")
    except script.NotLowerable as exc:
        run.add(
            "RC116",
            best.node,
            f"the script around the frame loop cannot be split into setup and loop: {exc}",
            "pass --symbol/--loop-line for a function's loop instead, if the file has one",
        )
        return finish(run, None, ranked or [])
    inner_hints = replace(
        hints,
        arguments={**{name: name for name in lowered.inputs}, **hints.arguments},
        bound=frozenset(lowered.inputs),
    )
    plan = _analyze(lowered_source, script.FUNCTION, ctx.line(best.node), inner_hints)
    arguments = tuple(
        replace(a, source="driver", detail="bound by the script's setup")
        if a.param in lowered.inputs and a.source == "sidecar" and a.param not in hints.arguments
        else a
        for a in plan.arguments
    )
    statements = (*hints.setup, *lowered.setup)
    setup = Setup(
        origin=f"the script's setup (before line {ctx.line(best.node)})",
        path="",
        statements=statements,
        config=lowered.config,
        namespace=lowered.namespace,
        rng=driver.seeded_generators(list(statements)),
    )
    helps = dict(lowered.helps)
    what = (
        f"{within.symbol}() parses its own options, a script in a function"
        if within is not None
        else "module-level script"
    )
    note = diagnostic(
        "RC102",
        ctx.path,
        ctx.line(best.node),
        ctx.col1(best.node),
        f"{what}: load() runs its setup ({len(lowered.setup)} statement(s)), "
        f"inference() its frame loop; {len(lowered.fields)} option(s) or constant(s) become fields",
        "nothing to do; the script's command-line options that the setup reads are in config.yml",
    )
    return replace(
        plan,
        source_sha256=source.sha256,
        symbol=within.symbol if within is not None else "<module>",
        symbol_kind="module",
        arguments=arguments,
        state=tuple(
            replace(f, description=f.description or helps.get(f.name, "")) for f in plan.state
        ),
        setup=setup if setup.statements else None,
        lowered_source=lowered.text,
        diagnostics=sort_diagnostics([*plan.diagnostics, note]),
        candidates=plan.candidates,
    )


def _script_loops(script_cands: list[Candidate], fn_cands: list[Candidate]) -> list[Candidate]:
    """Module-level loops that compete with the functions' own: script code's frame loops, but
    not a driver loop that only calls a per-call API of the file (`for a in actions:
    env.step(a)`), which drives the step candidate."""
    steps = {c.fn.name for c in fn_cands if c.header.kind == "step" and c.fn is not None}
    out = []
    for c in script_cands:
        calls = {last_name(call.func) for call in iter_calls(c.node)}
        if not calls & steps:
            out.append(c)
    return out


def _rule_out(
    active: list[Candidate], run: Run
) -> tuple[list[Candidate], list[tuple[Candidate, str]]]:
    """Candidates that cannot be the frame loop, with the reason: a method only the constructor
    runs or a loop that feeds a web page never are; a loop whose output no model makes is not,
    when another loop's is."""
    kept: list[Candidate] = []
    soft: list[tuple[Candidate, str]] = []
    hard: list[tuple[Candidate, str]] = []
    for c in active:
        if c.fn is not None and evidence.setup_only(c.fn, run.index):
            hard.append((c, f"`{c.fn.name}` only builds the object (called from __init__)"))
            continue
        why = evidence.no_frames(c, run.ctx)
        if why == evidence.UI_REASON:
            hard.append((c, why))
        elif why:
            soft.append((c, why))
        else:
            kept.append(c)
    if not kept:
        return [c for c, _ in soft], hard  # nothing better: those loops are all there is
    return kept, hard + soft


def _refuse_best(run: Run, best: Candidate, ranked: list[Candidate]) -> bool:
    """Refuse, with a precise diagnostic, when the best loop is not a per-frame boundary the
    wrapper can stream: its frames cross threads, one call per iteration makes a whole clip, or
    it only turns a clip its caller made into frames."""
    ctx = run.ctx
    threads = evidence.through_threads(best, ctx)
    if threads:
        run.add(
            "RC114",
            best.node,
            f"producer/consumer threads: {threads}",
            "a stream needs the frames made on one thread, one loop iteration at a time; "
            "pass --symbol/--loop-line for the function whose loop makes them, if there is one",
        )
        return True
    sink = best.sinks[0]
    if sink.kind == "writer" and sink_writer.clip_writer(sink.call):
        run.add(
            "RC115",
            sink.node,
            f"each iteration of the loop at line {loop_line_of(best, ctx)} saves a whole clip "
            f"(`{shorten(ctx.code(sink.node), 50)}`): it goes clip by clip, with no frame boundary",
            "nothing to stream frame by frame; if the model can make frames one at a time, point "
            "reactorc at the code that does",
        )
        return True
    clip = evidence.whole_clip_call(best, ctx)
    if clip is not None:
        run.add(
            "RC115",
            clip,
            f"one call makes a whole clip each iteration (`{shorten(ctx.code(clip), 50)}`): the "
            f"loop at line {loop_line_of(best, ctx)} goes clip by clip, with no frame boundary",
            "nothing to stream frame by frame; if the model can make frames one at a time, point "
            "reactorc at the code that does",
        )
        return True
    maker = evidence.clip_maker(best, run.index, ctx)
    if maker is not None:
        caller, line = maker
        run.add(
            "RC111",
            best.node,
            f"no per-frame boundary: {caller.symbol} makes the whole clip in its loop at line "
            f"{line}, then calls {best.symbol}, which only turns it into frames",
            "nothing to stream frame by frame; pass --symbol/--loop-line to convert this loop "
            "on its own",
        )
        return True
    return False


def _no_frames(
    run: Run, pool: list[Candidate], fn_cands: list[Candidate], symbol: str | None
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
