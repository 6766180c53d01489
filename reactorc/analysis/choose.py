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
    ranking,
)
from reactorc.analysis._cst import Ctx, TooDeep
from reactorc.analysis.build import finish
from reactorc.analysis.context import Run, loop_line_of, refused
from reactorc.analysis.hints import NO_HINTS, Hints
from reactorc.analysis.index import build_index
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import diagnostic
from reactorc.parse import Source
from reactorc.plan import (
    Plan,
)

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
            return _analyze(source, symbol, loop_line, hints)
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
        pool = list(fn_cands)

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
            return finish(run, best, [])
    if symbol == "<module>" and active:
        run.add(
            "RC102",
            active[0].node,
            "the frame loop is module-level script code; there is no function to wrap",
            "move the loop into a function whose parameters are the inputs, "
            "then pass --symbol with its name",
        )
        return finish(run, active[0], [])

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

    ranked = ranking.rank(active, run.index.functions, ctx)
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
