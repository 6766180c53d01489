"""Dependencies: which pre-loop statements depend on which fields, and whether each field is
live (read each iteration, directly or through a statement the wrapper recomputes) or restart
(it only shapes the clip: the frame count, sizes, the initial value of carried state, seeds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst

from reactorc.analysis._cst import (
    Ctx,
    block,
    children_of,
    iter_calls,
    key_of,
    last_name,
    names_of,
)
from reactorc.plan import PreLoopStatement, Span

RNG_CALLS = {
    "Generator",
    "manual_seed",
    "default_rng",
    "RandomState",
    "Random",
    "PRNGKey",
    "SeedSequence",
    "seed",
}


@dataclass
class Liveness:
    """Per-field decision with the reason in words."""

    live: dict[str, bool] = field(default_factory=dict)
    reason: dict[str, str] = field(default_factory=dict)


def statements_before(
    fn_body: cst.BaseSuite, loop: cst.CSTNode, ctx: Ctx
) -> tuple[list[cst.CSTNode], list[cst.CSTNode]]:
    """(statements run before the loop, statements run after it) in the function, flattening
    the with/if/try blocks that enclose the loop."""
    chain = set()
    cur = ctx.parents.get(loop)
    while cur is not None:
        chain.add(cur)
        cur = ctx.parents.get(cur)
    before: list[cst.CSTNode] = []
    after: list[cst.CSTNode] = []
    _split(fn_body, loop, chain, before, after)
    return before, after


def _split(
    body: cst.BaseSuite,
    loop: cst.CSTNode,
    chain: set[cst.CSTNode],
    before: list[cst.CSTNode],
    after: list[cst.CSTNode],
) -> bool:
    found = False
    for i, stmt in enumerate(block(body)):
        if i == 0 and _is_docstring(stmt):
            continue
        if found:
            after.append(stmt)
        elif stmt is loop:
            found = True
        elif stmt in chain:
            inner_before: list[cst.CSTNode] = []
            inner_after: list[cst.CSTNode] = []
            if isinstance(stmt, (cst.With, cst.If, cst.Try, cst.For, cst.While)):
                found = _split(stmt.body, loop, chain, inner_before, inner_after)
            if found:
                before.extend(inner_before)
                after.extend(inner_after)
            else:
                # the loop sits inside an expression of this statement (a comprehension)
                found = True
        else:
            before.append(stmt)
    return found


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.BaseString)


def _stmt_keys(stmt: cst.CSTNode) -> tuple[set[str], set[str], set[str]]:
    """(reads, binds, mutates) of one statement; a statement that is a method call mutates
    its receiver (`self.scheduler.set_timesteps(n)` changes `self.scheduler`)."""
    n = names_of(stmt)
    mutates = set(n.mutates)
    if isinstance(stmt, cst.Expr) and isinstance(stmt.value, cst.Call):
        func = stmt.value.func
        if isinstance(func, cst.Attribute):
            key = key_of(func.value)
            if key and key != "self":
                mutates.add(key)
    return n.reads, n.binds, mutates


def _is_rng(stmt: cst.CSTNode) -> bool:
    return any(last_name(c.func) in RNG_CALLS for c in iter_calls(stmt))


@dataclass
class Flow:
    """What dependency tracking found, for the plan and for liveness."""

    pre_loop: list[PreLoopStatement]
    deps: dict[str, set[str]]
    seeded: set[str]


def track(
    before: list[cst.CSTNode], fields: Iterable[str], ctx: Ctx, prelude: Iterable[str] = ()
) -> Flow:
    """Field dependencies of every name bound before the loop, in statement order; `prelude`
    holds the wrapper's own statements (code) that run first (a prompt list built from the
    `prompt` field)."""
    fields = list(fields)
    deps: dict[str, set[str]] = {f: {f} for f in fields}
    seeded: set[str] = set()
    out: list[PreLoopStatement] = []
    prelude = list(prelude)
    for i, code in enumerate(prelude):
        stmt = cst.parse_statement(code + "\n")
        small = stmt.body[0] if isinstance(stmt, cst.SimpleStatementLine) else stmt
        reads, binds, _ = _stmt_keys(small)
        depends: set[str] = set()
        for r in reads:
            depends |= deps.get(r, set())
        rng = _is_rng(small)
        if rng:
            seeded |= depends
        for b in binds:
            deps[b] = set() if rng else set(depends)
        line = i - len(prelude)  # below every source line, in order
        out.append(
            PreLoopStatement(
                code=code,
                span=Span(line, 0, line, 0),
                depends_on=tuple(f for f in fields if f in depends),
                defines=tuple(sorted(binds)),
                reads=tuple(sorted(reads)),
                synthetic=True,
            )
        )
    for stmt in before:
        reads, binds, mutates = _stmt_keys(stmt)
        mutates = {m for m in mutates if m not in ctx.aliases or m in binds}
        depends: set[str] = set()
        for r in reads:
            depends |= deps.get(r, set())
        rng = _is_rng(stmt)
        if rng:
            seeded |= depends
        for b in binds:
            deps[b] = set() if rng else set(depends)
        for m in mutates - binds:
            deps[m] = deps.get(m, set()) | (set() if rng else depends)
        out.append(
            PreLoopStatement(
                code=ctx.code(stmt),
                span=ctx.span(stmt),
                depends_on=tuple(f for f in fields if f in depends),
                defines=tuple(sorted(binds | (mutates - binds))),
                reads=tuple(sorted(reads)),
            )
        )
    return Flow(out, deps, seeded)


def liveness(
    flow: Flow,
    fields: dict[str, str],
    body: cst.CSTNode | None,
    header: cst.CSTNode | None,
    epilogue: list[cst.CSTNode],
) -> Liveness:
    """Decide live/restart for each field (`fields` maps name -> type)."""
    result = Liveness()
    if body is None:
        for name in fields:
            result.live[name] = True
            result.reason[name] = "read on every call"
        return result
    n = names_of(body)
    carried = n.binds | n.mutates
    for stmt in _small_statements(body):
        _, _, mutates = _stmt_keys(stmt)
        carried |= mutates
    invariant = n.reads - carried
    via: dict[str, str] = {}
    for name in sorted(invariant):
        for f in flow.deps.get(name, set()):
            via.setdefault(f, name)
    header_fields: set[str] = set()
    if header is not None:
        for name in names_of(header).reads:
            header_fields |= flow.deps.get(name, set())
    epilogue_fields: set[str] = set()
    for stmt in epilogue:
        for name in names_of(stmt).reads:
            epilogue_fields |= flow.deps.get(name, set())
    carried_fields: set[str] = set()
    for name in carried:
        carried_fields |= flow.deps.get(name, set())
    for name, type_ in fields.items():
        if name in header_fields and (type_ == "int" or name not in via):
            if type_ == "int":
                result.live[name] = False
                result.reason[name] = "sets how many frames the loop makes: applies at restart"
            else:
                result.live[name] = True
                result.reason[name] = "changes what the loop iterates over: recomputed"
        elif name in via:
            result.live[name] = True
            result.reason[name] = (
                "read inside the frame loop"
                if via[name] == name
                else f"feeds `{via[name]}`, recomputed when it changes"
            )
        elif name in epilogue_fields:
            result.live[name] = True
            result.reason[name] = "used by the post-loop transform, applied to each chunk"
        elif name in flow.seeded:
            result.live[name] = False
            result.reason[name] = "seeds random numbers: applies at restart"
        elif name in carried_fields:
            result.live[name] = False
            result.reason[name] = (
                "sets the initial value of state the loop carries: applies at restart"
            )
        else:
            result.live[name] = False
            result.reason[name] = "not read by the frame loop: applies at restart"
    return result


def _small_statements(body: cst.CSTNode) -> list[cst.CSTNode]:
    out = []
    stack = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, cst.BaseSmallStatement):
            out.append(node)
            continue
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        stack.extend(children_of(node))
    return out
