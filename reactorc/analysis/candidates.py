"""Find every loop that could be the frame loop, with the sinks at its own level.

Shape modules read the header (range, iterable, while, comprehension, generator, step);
sink modules find where a frame leaves one iteration. Nothing here ranks or decides."""

from __future__ import annotations

from dataclasses import replace

import libcst as cst

from reactorc.analysis import (
    evidence,
    shape_comprehension,
    shape_generator,
    shape_iter,
    shape_range,
    shape_step,
    shape_while,
    sink_append,
    sink_cat,
    sink_index,
    sink_writer,
    sink_yield,
)
from reactorc.analysis._cst import (
    LOOPS,
    Ctx,
    iter_calls,
    iter_nodes,
    last_name,
    names_of,
    own_statements,
    target_names,
)
from reactorc.analysis.index import FunctionInfo, ModuleIndex
from reactorc.analysis.loops import Candidate, LoopHeader, SinkMatch

HEADER_SHAPES = (shape_range, shape_iter, shape_while)


def find_all(index: ModuleIndex, ctx: Ctx) -> tuple[list[Candidate], list[Candidate]]:
    """(candidates in functions and methods, candidates in module-level script code)."""
    in_functions: list[Candidate] = []
    for fn in index.functions:
        in_functions.extend(in_function(fn, ctx))
    in_script: list[Candidate] = []
    for stmt in index.script:
        in_script.extend(_loops_in(stmt, None, ctx))
    return in_functions, in_script


def in_function(fn: FunctionInfo, ctx: Ctx) -> list[Candidate]:
    found = _loops_in(fn.node.body, fn, ctx)
    top = shape_generator.top_level_candidate(fn, ctx)
    if top is not None:
        found.append(top)
    step = shape_step.candidate(fn, ctx)
    if step is not None and not fn.is_generator:
        # a loop inside step() makes pieces of one step's frame (tokens, sub-steps)
        return [*(c for c in found if not c.sinks), step]
    return found


def _loops_in(root: cst.CSTNode, fn: FunctionInfo | None, ctx: Ctx) -> list[Candidate]:
    found: list[Candidate] = []
    for node in iter_nodes(root):
        header: LoopHeader | None = None
        if isinstance(node, LOOPS):
            for shape in HEADER_SHAPES:
                header = shape.match(node, ctx)
                if header is not None:
                    break
        elif isinstance(node, (cst.ListComp, cst.GeneratorExp)):
            header = shape_comprehension.match(node, ctx)
        if header is None:
            continue
        cand = Candidate(fn=fn, node=node, header=header, outer=_outer_loops(node, root, ctx))
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
            cand.sinks.append(shape_comprehension.sink(node, ctx))
        else:
            cand.sinks.extend(find_sinks(node, header, fn, ctx))
        found.append(cand)
    return found


def _outer_loops(node: cst.CSTNode, root: cst.CSTNode, ctx: Ctx) -> list[cst.CSTNode]:
    outer = []
    cur = ctx.parents.get(node)
    while cur is not None and cur is not root:
        if isinstance(cur, LOOPS):
            outer.append(cur)
        if isinstance(cur, (cst.FunctionDef, cst.ClassDef)):
            break
        cur = ctx.parents.get(cur)
    return outer


def find_sinks(
    loop: cst.For | cst.While, header: LoopHeader, fn: FunctionInfo | None, ctx: Ctx
) -> list[SinkMatch]:
    """The sinks among the statements one iteration runs at the loop's own level."""
    loop_locals = _fresh_containers(loop)
    index_names = _index_names(loop, header)
    generator = fn is not None and fn.is_generator
    sinks: list[SinkMatch] = []
    for stmt in own_statements(loop.body):
        if not isinstance(stmt, cst.BaseSmallStatement):
            continue
        match = (
            (sink_yield.find(stmt, ctx) if generator else None)
            or sink_cat.find(stmt, ctx)
            or sink_index.find(stmt, loop_locals, index_names, ctx)
            or sink_append.find(stmt, loop_locals, ctx)
            or sink_writer.find(stmt, ctx)
        )
        if match is not None:
            sinks.append(match)
    outputs = [s for s in sinks if not _read_back(s, loop)]
    if not sinks:
        return _inner_writer(loop, fn, ctx)
    return outputs or sinks


def _inner_writer(loop: cst.For | cst.While, fn: FunctionInfo | None, ctx: Ctx) -> list[SinkMatch]:
    """A loop whose frames leave in an inner loop that only pastes, converts and writes what
    this loop's model call made (`pred = model(batch)`, then `for p, f in zip(pred, frames):
    ...; out.write(f)`): the inner loop's writer is this loop's sink, several frames each."""
    made: set[str] = set()
    for stmt in own_statements(loop.body):
        if isinstance(stmt, cst.BaseSmallStatement) and any(
            last_name(c.func) not in evidence.NON_FRAME_CALLS | evidence.PLUMBING_CALLS
            for c in iter_calls(stmt)
        ):
            made |= names_of(stmt).binds
    if not made:
        return []
    for inner in own_statements(loop.body):
        if not isinstance(inner, cst.For) or not names_of(inner.iter).reads & made:
            continue
        calls = [last_name(c.func) for c in iter_calls(inner.body)]
        allowed = evidence.NON_FRAME_CALLS | evidence.PLUMBING_CALLS | evidence.IMAGE_EDITS
        writers = set(sink_writer.FRAME_ARG) | {"save"}
        if not all(name in allowed or name in writers for name in calls):
            continue
        for stmt in own_statements(inner.body):
            if isinstance(stmt, cst.BaseSmallStatement):
                match = sink_writer.find(stmt, ctx)
                if match is not None:
                    return [replace(match, chunk=True)]
    return []


def _read_back(sink: SinkMatch, loop: cst.For | cst.While) -> bool:
    """An accumulator the loop reads back (a KV cache, a context window) carries state
    between iterations; when the loop has another sink, that one is where frames leave."""
    if sink.kind in ("writer", "yield") or not sink.target:
        return False
    key = sink.target.split(".")[0] if not sink.target.startswith("self.") else sink.target
    for node in iter_nodes(loop.body):
        if node is sink.node or not isinstance(node, cst.BaseSmallStatement):
            continue
        n = names_of(node)
        if key in n.reads and key not in n.mutates:
            return True
    return False


_ALLOCATORS = {
    "list",
    "dict",
    "zeros",
    "empty",
    "ones",
    "full",
    "zeros_like",
    "empty_like",
    "ones_like",
    "full_like",
    "new_zeros",
    "new_empty",
    "new_ones",
    "new_full",
}


def _fresh_containers(loop: cst.For | cst.While) -> set[str]:
    """Names the loop body binds to a new list or buffer each iteration (`chunks = []`,
    `tile = torch.zeros(...)`): what is collected into them stays inside one iteration."""
    fresh: set[str] = set()
    for node in iter_nodes(loop.body):
        if not isinstance(node, cst.Assign):
            continue
        value = node.value
        if isinstance(value, (cst.List, cst.Dict)) or (
            isinstance(value, cst.Call) and last_name(value.func) in _ALLOCATORS
        ):
            for t in node.targets:
                fresh |= target_names(t.target)
    if isinstance(loop, cst.For):
        fresh |= target_names(loop.target)
    return fresh


def _index_names(loop: cst.For | cst.While, header: LoopHeader) -> set[str]:
    """The frame counter and names computed from it in the body (`s = i * k; e = s + k`)."""
    names = {header.index_var} - {""}
    if isinstance(loop, cst.For) and not names:
        names = target_names(loop.target)
    if not names:
        return set()
    for _ in range(2):
        for stmt in own_statements(loop.body):
            if isinstance(stmt, cst.Assign):
                n = names_of(stmt)
                if n.reads & names:
                    names |= {b for b in n.binds if b not in n.mutates}
    return names
