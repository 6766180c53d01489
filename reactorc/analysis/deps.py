"""Dependencies: which pre-loop statements depend on which fields, and whether each field is
live (read each iteration, directly or through a statement the wrapper recomputes) or restart
(it only shapes the clip: the frame count, sizes, the initial value of carried state, seeds).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import libcst as cst

from reactorc.analysis import usage
from reactorc.analysis._cst import (
    Ctx,
    block,
    children_of,
    iter_calls,
    key_of,
    last_name,
    names_of,
    words,
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


# A pre-loop statement that loads a model or reads a file is too slow to recompute mid-stream:
# a field that reaches the loop only through one applies at restart.
MODEL_LOADERS = frozenset(
    {
        "from_pretrained",
        "from_single_file",
        "from_config",
        "load_state_dict",
        "load_checkpoint",
        "instantiate_from_config",
        "instantiate",
        "safe_open",
        "load_file",
        "compile",
    }
)
MODEL_WORDS = frozenset(
    {
        "model",
        "models",
        "pipeline",
        "pipe",
        "wrapper",
        "net",
        "network",
        "generator",
        "stream",
        "diffusion",
        "unet",
        "vae",
        "encoder",
        "decoder",
        "transformer",
        "renderer",
        "upsampler",
        "enhancer",
        "ckpt",
        "checkpoint",
        "weights",
    }
)
MODEL_KWARGS = frozenset(
    {
        "model",
        "model_path",
        "model_id",
        "model_id_or_path",
        "model_name",
        "ckpt",
        "ckpt_path",
        "checkpoint",
        "checkpoint_path",
        "weights",
        "pretrained",
        "pretrained_model_name_or_path",
    }
)
FILE_READERS = frozenset(
    {
        "read_video",
        "VideoReader",
        "VideoCapture",
        "VideoFileClip",
        "imread",
        "mimread",
        "vread",
        "get_reader",
        "load_video",
        "read_image",
        "load_image",
        "open",
        "load",
        "loadtxt",
        "read_csv",
        "read",
    }
)
DATA_WORDS = frozenset({"dataset", "loader", "reader", "capture", "video"})
# Calls that only move or retype what they are given: `x.to(device)`, `.cuda()`, `.eval()`.
PASSTHROUGH = frozenset(
    {"to", "cuda", "cpu", "half", "float", "bfloat16", "eval", "requires_grad_", "type"}
)


def heavy(stmt: cst.CSTNode) -> str:
    """ "model" when the statement builds or loads a model, "file" when it reads a file (a video,
    an image, a dataset), "" otherwise; judged on its outermost call, moves (`.to(device)`)
    and subscripts (`load(f)["G_ema"]`) aside."""
    target = ""
    if isinstance(stmt, (cst.Assign, cst.AnnAssign)):
        value = stmt.value
        if isinstance(stmt, cst.Assign) and len(stmt.targets) == 1:
            target = key_of(stmt.targets[0].target) or ""
        elif isinstance(stmt, cst.AnnAssign):
            target = key_of(stmt.target) or ""
    elif isinstance(stmt, cst.Expr):
        value = stmt.value
    elif isinstance(stmt, cst.With):  # `with ImageProcessor(size, model_path) as p:`
        for item in stmt.items:
            kind = heavy(cst.Expr(item.item))
            if kind:
                return kind
        return ""
    else:
        return ""
    call = _outer_call(value)
    if call is None:
        return ""
    name = last_name(call.func)
    if isinstance(call.func, cst.Attribute) and name in PASSTHROUGH:
        # `model.to(device)` as a statement of its own moves weights; `x = x.to(device)` moves
        # a value (what it is does not change)
        return "model" if isinstance(stmt, cst.Expr) else ""
    if name in MODEL_LOADERS:
        return "model"
    if name in FILE_READERS:
        return "file"
    name_words = words(name)
    if name.startswith(("load_", "build_", "create_", "init_", "get_")) and name_words & (
        MODEL_WORDS - {"stream"}
    ):
        return "model"
    if target and words(target.split(".")[-1]) & (DATA_WORDS - {"video"}):
        return "file"  # `dataset = dataset_dict[name](**kwargs)`
    if name[:1].isupper():
        keys = {a.keyword.value for a in call.args if a.keyword is not None}
        passed = {a.value.value for a in call.args if isinstance(a.value, cst.Name)}
        if (
            name_words & MODEL_WORDS
            or keys & MODEL_KWARGS
            or any(words(n) & {"model", "ckpt", "checkpoint", "weights"} for n in passed)
        ):
            return "model"
        if name_words & DATA_WORDS:
            return "file"
        if target and words(target.split(".")[-1]) & MODEL_WORDS:
            return "model"
    return ""


def _writes_into(stmt: cst.CSTNode, loaded: set[str]) -> bool:
    """The statement assigns into an attribute of something loaded, at any depth."""
    if not loaded:
        return False
    stack = [stmt]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.Assign, cst.AugAssign)):
            targets = (
                [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            )
            for t in targets:  # an attribute of the object: `grid.opt.x = 0`, not `poses[i] = p`
                root, attribute = t, False
                while isinstance(root, (cst.Attribute, cst.Subscript)):
                    attribute |= isinstance(root, cst.Attribute)
                    root = root.value
                if attribute and isinstance(root, cst.Name) and root.value in loaded:
                    return True
        elif not isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            stack.extend(children_of(node))
    return False


def _outer_call(expr: cst.BaseExpression | None) -> cst.Call | None:
    while expr is not None:
        if isinstance(expr, cst.Subscript):
            expr = expr.value
        elif (
            isinstance(expr, cst.Call)
            and isinstance(expr.func, cst.Attribute)
            and expr.func.attr.value in PASSTHROUGH
            and isinstance(expr.func.value, (cst.Call, cst.Subscript))
        ):
            expr = expr.func.value
        elif isinstance(expr, cst.Call):
            return expr
        else:
            return None
    return None


def _moved_only(stmt: cst.CSTNode) -> set[str]:
    """Names read only as arguments of a move (`.to(device)`, `.type(dtype)`): where a value
    lives, not what it is."""
    inside: set[str] = set()
    for call in iter_calls(stmt):
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in PASSTHROUGH:
            for a in call.args:
                inside |= names_of(a.value).reads
    if not inside:
        return set()
    elsewhere = set(names_of(_without_moves(stmt)).reads)
    return inside - elsewhere


def _without_moves(stmt: cst.CSTNode) -> cst.CSTNode:
    class _Strip(cst.CSTTransformer):
        def leave_Call(self, original: cst.Call, updated: cst.Call) -> cst.BaseExpression:
            if isinstance(updated.func, cst.Attribute) and updated.func.attr.value in PASSTHROUGH:
                return updated.with_changes(args=())
            return updated

    return stmt.visit(_Strip())


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
    # dependencies through statements cheap enough to recompute mid-stream (no model loads,
    # no file reads, no `.to(device)` moves)
    light: dict[str, set[str]] = field(default_factory=dict)
    # field -> (kind, name) of the first model build or file read it feeds
    built: dict[str, tuple[str, str]] = field(default_factory=dict)


def track(
    before: list[cst.CSTNode],
    fields: Iterable[str],
    ctx: Ctx,
    prelude: Iterable[str] = (),
    setup: Iterable[str] = (),
    inputs: Iterable[str] = (),
) -> Flow:
    """Field dependencies of every name bound before the loop, in statement order; `prelude`
    holds the wrapper's own statements (code) that run first (a prompt list built from the
    `prompt` field); `setup` the statements load() runs (a model the script loads); `inputs`
    the arguments that are objects from load() (a model, a renderer), not plain data."""
    fields = list(fields)
    deps: dict[str, set[str]] = {f: {f} for f in fields}
    light: dict[str, set[str]] = {f: {f} for f in fields}
    built: dict[str, tuple[str, str]] = {}
    loaded = set(inputs)  # names a model build or a file read bound, and objects from load()
    for code in setup:
        try:
            line = cst.parse_statement(code + "\n")
        except cst.ParserSyntaxError:
            continue
        small = line.body[0] if isinstance(line, cst.SimpleStatementLine) else line
        if heavy(small):
            loaded |= names_of(small).binds
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
            light[b] = set(deps[b])
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
        kind = "" if rng else heavy(stmt)
        if not kind and _writes_into(stmt, loaded):
            kind = "in place"  # weights changed in place: `grid.density_data.data[:] = 0.0`
        if kind:
            loaded |= binds
        lit: set[str] = set()
        if not rng and not kind:
            for r in reads - _moved_only(stmt):
                lit |= light.get(r, set())
        for b in binds:
            light[b] = set(lit)
        for m in mutates - binds:
            light[m] = light.get(m, set()) | lit
        if kind:
            for name in sorted(binds | mutates):
                for f in depends:
                    built.setdefault(f, (kind, name))
        out.append(
            PreLoopStatement(
                code=ctx.code(stmt),
                span=ctx.span(stmt),
                depends_on=tuple(f for f in fields if f in depends),
                defines=tuple(sorted(binds | (mutates - binds))),
                reads=tuple(sorted(reads)),
            )
        )
    return Flow(out, deps, seeded, light, built)


def liveness(
    flow: Flow,
    fields: dict[str, str],
    body: cst.CSTNode | None,
    header: cst.CSTNode | None,
    epilogue: list[cst.CSTNode],
    sink: cst.CSTNode | None = None,
    frame: cst.CSTNode | None = None,
) -> Liveness:
    """Decide live/restart for each field (`fields` maps name -> type); with the sink, only
    what the frame depends on inside the loop counts (see `frame_slice`)."""
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
    carried -= _none_filled(body)
    invariant = n.reads - carried
    if sink is not None:
        invariant &= frame_slice(body, sink, frame)
    light = flow.light or flow.deps
    via: dict[str, str] = {}
    for name in sorted(invariant):
        for f in light.get(name, set()):
            via.setdefault(f, name)
    header_fields: set[str] = set()
    if header is not None:
        for name in names_of(header).reads:
            header_fields |= light.get(name, set())
    reaches: set[str] = set()  # fields that reach the loop at all, heavy statements included
    for name in invariant | (names_of(header).reads if header is not None else set()):
        reaches |= flow.deps.get(name, set())
    epilogue_fields: set[str] = set()
    for stmt in epilogue:  # the accumulator's own initial value is not applied per chunk
        for name in names_of(stmt).reads - carried:
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
        elif name in reaches and name in flow.built:
            kind, what = flow.built[name]
            result.live[name] = False
            result.reason[name] = {
                "model": f"loads the model `{what}`: applies at restart (a reload would stall "
                "the stream)",
                "in place": f"changes the loaded `{what}` in place: applies at restart (it "
                "cannot be undone mid-clip)",
            }.get(kind, f"reads the file behind `{what}`: applies at restart")
        elif name in carried_fields:
            result.live[name] = False
            result.reason[name] = (
                "sets the initial value of state the loop carries: applies at restart"
            )
        else:
            result.live[name] = False
            result.reason[name] = "not read by the frame loop: applies at restart"
        fixed = usage.fixed_for_a_clip(name, type_)
        if result.live[name] and fixed:  # a path, a device, the frame size: never mid-clip
            result.live[name] = False
            result.reason[name] = fixed
    return result


@dataclass
class _Step:
    reads: set[str]
    writes: set[str]
    guards: set[str]


def frame_slice(body: cst.CSTNode, sink: cst.CSTNode, frame: cst.CSTNode | None = None) -> set[str]:
    """The names the frame depends on inside the loop body: the backward slice from the sink
    (`frames.append(x)`, `yield x`) over the body's statements and the conditions around them,
    any number of iterations back. A field read only to save, print or name a file is outside
    it. Arguments of moves (`.to(device)`) count as where a value lives, not what it is."""
    steps: list[_Step] = []
    sink_guards: set[str] = set()

    def walk(node: cst.CSTNode, guards: set[str]) -> None:
        nonlocal sink_guards
        if node is sink or (isinstance(node, cst.BaseSmallStatement) and _contains(node, sink)):
            sink_guards = set(guards)
        if isinstance(node, cst.BaseSmallStatement):
            reads, binds, mutates = _stmt_keys(node)
            steps.append(_Step(reads - _moved_only(node), binds | mutates, set(guards)))
            return
        if isinstance(node, (cst.FunctionDef, cst.ClassDef)):
            steps.append(_Step(set(), {node.name.value}, set(guards)))
            return
        inner = set(guards)
        if isinstance(node, (cst.If, cst.While)):
            inner |= names_of(node.test).reads
        elif isinstance(node, cst.For):
            inner |= names_of(node.iter).reads
            steps.append(_Step(names_of(node.iter).reads, _target_names(node.target), guards))
        elif isinstance(node, cst.With):
            for item in node.items:
                inner |= names_of(item.item).reads
        for child in children_of(node):
            walk(child, inner)

    if isinstance(body, cst.BaseExpression):
        return set(names_of(body).reads)
    walk(body, set())
    seed = frame if frame is not None else sink
    needed = set(names_of(seed).reads) - _moved_only(seed) | sink_guards
    taken = [False] * len(steps)
    changed = True
    while changed:
        changed = False
        for i, st in enumerate(steps):
            if not taken[i] and st.writes & needed:
                taken[i] = changed = True
                needed |= st.reads | st.guards
    return needed


def _none_filled(body: cst.CSTNode) -> set[str]:
    """Names the loop binds only to fill in a missing value (`if ratio is None: ratio =
    auto(...)`): a default computed once, not state carried from one iteration to the next."""
    guarded: set[str] = set()
    other: set[str] = set()
    stack: list[cst.CSTNode] = [body]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        name = _is_none_test(node.test) if isinstance(node, cst.If) else ""
        if name and node.orelse is None:
            inner = names_of(node.body)
            if (inner.binds | inner.mutates) == {name}:
                guarded.add(name)
                continue
        if isinstance(node, cst.BaseSmallStatement):
            _, binds, mutates = _stmt_keys(node)
            other |= binds | mutates
            continue
        stack.extend(children_of(node))
    return guarded - other


def _is_none_test(test: cst.BaseExpression) -> str:
    """`x` in `x is None`, "" for any other test."""
    if (
        isinstance(test, cst.Comparison)
        and isinstance(test.left, cst.Name)
        and len(test.comparisons) == 1
        and isinstance(test.comparisons[0].operator, cst.Is)
        and isinstance(test.comparisons[0].comparator, cst.Name)
        and test.comparisons[0].comparator.value == "None"
    ):
        return test.left.value
    return ""


def _contains(node: cst.CSTNode, inner: cst.CSTNode) -> bool:
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur is inner:
            return True
        stack.extend(children_of(cur))
    return False


def _target_names(target: cst.CSTNode) -> set[str]:
    out: set[str] = set()
    stack = [target]
    while stack:
        cur = stack.pop()
        if isinstance(cur, cst.Name):
            out.add(cur.value)
        elif isinstance(cur, (cst.Tuple, cst.List)):
            stack.extend(e.value for e in cur.elements)
        elif isinstance(cur, cst.StarredElement):
            stack.append(cur.value)
    return out


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
