"""The pipeline's driver: where the file (or an `--entry` script) calls the pipeline, what each
parameter is bound to there, and the statements before that call that build those values.

`if __name__ == "__main__":` blocks, `main()` functions and other methods of the pipeline's class
(`render_video()` calling `self.render_path(self.poses, ...)`) are what a researcher runs; the
wrapper's `load()` runs the same statements instead — sliced to what the arguments need, with
`args = parser.parse_args()` read from config.yml — and `inference()` takes the values.
Nothing here decides roles: `arguments` does, from what is found here."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

import libcst as cst

from reactorc.analysis._cst import (
    Ctx,
    block,
    dotted,
    iter_calls,
    iter_nodes,
    last_name,
    names_of,
    param_list,
    target_names,
)
from reactorc.analysis.deps import _stmt_keys
from reactorc.analysis.index import FunctionInfo, ModuleIndex
from reactorc.analysis.options import is_parse_call, parse_functions

DRIVER_NAMES = ("main", "run", "demo", "cli", "generate", "inference", "infer", "test", "sample")
GENERIC_METHODS = frozenset(
    {"__call__", "forward", "run", "step", "predict", "sample", "generate", "__init__", "call"}
)
SEED_CALLS = frozenset(
    {"manual_seed", "seed_everything", "set_seed", "seed", "set_random_seed", "fix_seed"}
)
GLOBAL_SETUP_CALLS = SEED_CALLS | {"set_grad_enabled", "use_deterministic_algorithms"}
OPTIONS_MARK = "__reactorc_options__"
"""What a driver's `args = parser.parse_args()` reads in a slice: the options from config.yml."""
MAX_LEVELS = 3


@dataclass(frozen=True)
class SliceStatement:
    """One statement `load()` runs: its code (as in the driver's file, or synthetic), the line
    it comes from (0 for synthetic ones) and the names it binds."""

    code: str
    line: int
    binds: frozenset[str]
    node: cst.CSTNode = field(compare=False, hash=False, repr=False)


@dataclass
class CallSite:
    """One call of the pipeline: where, the statements its scope runs before it, and the
    expression bound to each parameter."""

    call: cst.Call
    scope: FunctionInfo | None
    before: list[cst.CSTNode]
    bound: dict[str, cst.BaseExpression]
    receiver: cst.BaseExpression | None
    origin: str
    complete: bool
    line: int


@dataclass
class Driver:
    """The chosen call site, resolved: the sliced statements (outer levels first), the names
    they leave unresolved, and where the options namespace comes from."""

    site: CallSite
    statements: list[SliceStatement]
    unresolved: set[str]
    namespace: str = ""
    pipeline_expr: str = ""
    levels: list[str] = field(default_factory=list)


def find_call_sites(fn: FunctionInfo, index: ModuleIndex, ctx: Ctx) -> list[CallSite]:
    """Calls of `fn` in the file's drivers, best first: the `__main__` block, `main()`-like
    functions, other functions, then methods; ties by how many parameters are bound. Script
    code that runs at import is not a driver (the file is then a module script)."""
    sites: list[CallSite] = []
    scopes: list[tuple[FunctionInfo | None, list[cst.CSTNode]]] = [(None, main_blocks(index))]
    scopes += [(f, [f.node]) for f in index.functions if f is not fn]
    for scope, roots in scopes:
        for root in roots:
            for call in iter_calls(root):
                receiver = _calls_pipeline(call, fn, scope, ctx, root)
                if receiver is False:
                    continue
                site = _site(call, fn, scope, receiver, index, ctx)  # type: ignore[arg-type]
                if site is not None:
                    sites.append(site)
    sites.sort(key=_rank)
    return sites


def main_blocks(index: ModuleIndex) -> list[cst.CSTNode]:
    """The `if __name__ == "__main__":` blocks of the module."""
    return [s for s in index.script if is_main_guard(s)]


def is_main_guard(stmt: cst.CSTNode) -> bool:
    if not isinstance(stmt, cst.If) or not isinstance(stmt.test, cst.Comparison):
        return False
    parts = [stmt.test.left] + [c.comparator for c in stmt.test.comparisons]
    texts = {dotted(p) or str(literal_text(p)) for p in parts}
    return "__name__" in texts and "__main__" in texts


def literal_text(node: cst.CSTNode) -> str:
    if isinstance(node, cst.SimpleString):
        return node.value.strip("\"'")
    return ""


def _rank(site: CallSite) -> tuple[int, int, int]:
    scope = site.scope
    if scope is None:
        kind = 0
    elif scope.name in DRIVER_NAMES and scope.cls is None:
        kind = 1
    elif scope.cls is None:
        kind = 2
    else:
        kind = 3
    return (0 if site.complete else 1, kind, -len(site.bound))


def _calls_pipeline(
    call: cst.Call,
    fn: FunctionInfo,
    scope: FunctionInfo | None,
    ctx: Ctx,
    root: cst.CSTNode,
) -> cst.BaseExpression | bool | None:
    """The receiver of a call of `fn` (None for a plain function call), False when `call` does
    not call `fn`."""
    func = call.func
    if fn.cls is None:
        return None if isinstance(func, cst.Name) and func.value == fn.name else False
    method = fn.name
    class_name = fn.class_name.rsplit(".", 1)[-1]
    if method == "__call__":
        if isinstance(func, cst.Name) and _bound_to_class(func.value, class_name, root):
            return func
        if isinstance(func, cst.Call) and last_name(func.func) == class_name:
            return func
        return False
    if not isinstance(func, cst.Attribute) or func.attr.value != method:
        return False
    receiver = func.value
    if isinstance(receiver, cst.Name) and receiver.value in ("self", "cls"):
        if scope is not None and scope.cls is not None and scope.class_name == fn.class_name:
            return receiver
        return False
    if isinstance(receiver, cst.Name) and receiver.value == class_name:
        return receiver  # a static or class method called on the class
    if isinstance(receiver, cst.Call) and last_name(receiver.func) == class_name:
        return receiver
    if isinstance(receiver, cst.Name) and _bound_to_class(receiver.value, class_name, root):
        return receiver
    if method not in GENERIC_METHODS:
        return receiver  # a distinctive name: the object may come from a factory
    return False


def _bound_to_class(name: str, class_name: str, root: cst.CSTNode) -> bool:
    for node in iter_nodes(root):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            callee = last_name(node.value.func)
            if callee == class_name or (
                callee in ("from_pretrained", "from_config", "load", "build")
                and dotted(node.value.func).split(".")[0] == class_name
            ):
                for t in node.targets:
                    if name in target_names(t.target):
                        return True
    return False


def _site(
    call: cst.Call,
    fn: FunctionInfo,
    scope: FunctionInfo | None,
    receiver: cst.BaseExpression | None,
    index: ModuleIndex,
    ctx: Ctx,
) -> CallSite | None:
    listed = param_list(fn.node)
    if fn.cls is not None and not fn.is_static and listed:
        listed = listed[1:]  # self / cls: the receiver
    positional = [p.name.value for p, kind in listed if kind == "positional"]
    bound: dict[str, cst.BaseExpression] = {}
    complete = True
    i = 0
    for arg in call.args:
        if arg.star:
            complete = False
        elif arg.keyword is not None:
            bound[arg.keyword.value] = arg.value
        else:
            if i < len(positional):
                bound[positional[i]] = arg.value
            i += 1
    before = _before(_scope_body(scope, index), _statement_of(call, ctx), ctx)
    if before is None:
        return None
    return CallSite(
        call=call,
        scope=scope,
        before=before,
        bound=bound,
        receiver=receiver,
        origin=_origin(scope, ctx.line(call), ctx),
        complete=complete,
        line=ctx.line(call),
    )


def _origin(scope: FunctionInfo | None, line: int, ctx: Ctx) -> str:
    if scope is None:
        return f"the `__main__` block (line {line})"
    return f"{scope.symbol}() (line {line})"


def _scope_body(scope: FunctionInfo | None, index: ModuleIndex) -> list[cst.CSTNode]:
    if scope is None:
        return list(main_blocks(index))
    return block(scope.node.body)


def block_of(stmt: cst.CSTNode) -> list[cst.CSTNode]:
    if isinstance(stmt, cst.SimpleStatementLine):
        return list(stmt.body)
    return [stmt]


def _statement_of(node: cst.CSTNode, ctx: Ctx) -> cst.CSTNode:
    cur: cst.CSTNode | None = node
    while cur is not None and not isinstance(
        cur, (cst.BaseSmallStatement, cst.BaseCompoundStatement)
    ):
        cur = ctx.parents.get(cur)
    return cur if cur is not None else node


def _before(
    statements: list[cst.CSTNode], target: cst.CSTNode, ctx: Ctx
) -> list[cst.CSTNode] | None:
    """The statements run before `target`, entering the compound statements that hold it; a
    `for` holding it contributes `for <target> in <iter>: break` (its first iteration)."""
    chain: set[cst.CSTNode] = set()
    cur = ctx.parents.get(target)
    while cur is not None:
        chain.add(cur)
        cur = ctx.parents.get(cur)
    out: list[cst.CSTNode] = []

    def walk(stmts: list[cst.CSTNode]) -> bool:
        for stmt in stmts:
            if stmt is target:
                return True
            if stmt in chain:
                if isinstance(stmt, cst.For):
                    out.append(_first_iteration(stmt, ctx))
                if isinstance(stmt, (cst.If, cst.With, cst.For, cst.While, cst.Try)):
                    inner = _suite_holding(stmt, chain)
                    if inner is not None and walk(block(inner)):
                        return True
                return True  # inside an expression of this statement
            out.append(stmt)
        return False

    return out if walk(statements) else None


def _suite_holding(stmt: cst.CSTNode, chain: set[cst.CSTNode]) -> cst.BaseSuite | None:
    suites: list[cst.BaseSuite] = []
    if isinstance(stmt, (cst.If, cst.With, cst.For, cst.While, cst.Try)):
        suites.append(stmt.body)
    if isinstance(stmt, cst.If) and stmt.orelse is not None:
        orelse = stmt.orelse
        while orelse is not None:
            suites.append(orelse.body)
            orelse = orelse.orelse if isinstance(orelse, cst.If) else None
    if isinstance(stmt, cst.Try):
        suites += [h.body for h in stmt.handlers]
        if stmt.orelse is not None:
            suites.append(stmt.orelse.body)
    for suite in suites:
        if suite in chain:
            return suite
    return None


def _first_iteration(loop: cst.For, ctx: Ctx) -> cst.CSTNode:
    code = f"for {ctx.expr(loop.target)} in {ctx.expr(loop.iter)}:\n    break\n"
    return cst.parse_statement(code)


def resolve(
    site: CallSite,
    exprs: list[cst.BaseExpression],
    fn: FunctionInfo,
    index: ModuleIndex,
    ctx: Ctx,
    level: int = 0,
) -> Driver:
    """The statements that build `exprs` at `site`, following the driver function's own
    parameters to its callers (`main(args)` called from the `__main__` block)."""
    parse_fns = parse_functions(ctx)
    before = [_mark_options(s, parse_fns) for s in site.before]
    needed: set[str] = set()
    for e in exprs:
        needed |= _reads(e)
    if site.receiver is not None:
        needed |= _reads(site.receiver)
    chosen = backward_slice(before, needed)
    bound_here: set[str] = set()
    for stmt in chosen:
        bound_here |= _stmt_keys(stmt)[1]
    reads: set[str] = set(needed)
    for stmt in chosen:
        reads |= _stmt_keys(stmt)[0]
    unresolved = {
        r
        for r in reads - bound_here
        if not _known_global(r, index, ctx) and r != OPTIONS_MARK and not _of_self(r, site, fn)
    }
    statements = [_slice_statement(s, ctx) for s in chosen]
    namespace = next(
        (
            next(iter(target_names(s.targets[0].target)), "")
            for s in chosen
            if isinstance(s, cst.Assign) and dotted(s.value) == OPTIONS_MARK
        ),
        "",
    )
    driver = Driver(site=site, statements=statements, unresolved=unresolved, namespace=namespace)
    driver.levels.append(site.origin)
    scope = site.scope
    params = {p.name.value for p, _ in param_list(scope.node)} if scope is not None else set()
    outer = unresolved & params
    if outer and scope is not None and level < MAX_LEVELS:
        callers = [s for s in find_call_sites(scope, index, ctx) if s.scope is not scope]
        for caller in callers:
            binding = [caller.bound[p] for p in sorted(outer) if p in caller.bound]
            if len(binding) != len(outer):
                continue
            up = resolve(caller, binding, scope, index, ctx, level + 1)
            binds = [
                _synthetic(f"{p} = {ctx.expr(caller.bound[p])}", frozenset({p}))
                for p in sorted(outer)
            ]
            driver.statements = up.statements + binds + driver.statements
            driver.unresolved = (unresolved - outer) | up.unresolved
            driver.namespace = driver.namespace or up.namespace
            driver.levels = up.levels + driver.levels
            break
    return driver


def backward_slice(before: list[cst.CSTNode], needed: set[str]) -> list[cst.CSTNode]:
    """The statements of `before` that bind or change what `needed` reads, in order; seeding
    calls (`torch.manual_seed(...)`) stay with them."""
    needed = set(needed)
    chosen: list[cst.CSTNode] = []
    for stmt in reversed(before):
        if _reports(stmt):
            continue  # `logger.info(...)`, `print(...)`: nothing it changes is needed
        reads, binds, mutates = _stmt_keys(stmt)
        changed = (binds | mutates) & needed
        if changed or _global_setup(stmt):
            chosen.append(stmt)
            needed -= binds - reads - mutates
            needed |= reads
    chosen.reverse()
    return chosen


REPORTS = frozenset(
    {"print", "info", "debug", "warning", "warn", "error", "critical", "log", "pprint"}
)


def _reports(stmt: cst.CSTNode) -> bool:
    """A bare call that only reports (prints or logs)."""
    return (
        isinstance(stmt, cst.Expr)
        and isinstance(stmt.value, cst.Call)
        and last_name(stmt.value.func) in REPORTS
    )


def _global_setup(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.Expr)
        and isinstance(stmt.value, cst.Call)
        and last_name(stmt.value.func) in GLOBAL_SETUP_CALLS
    )


def _mark_options(stmt: cst.CSTNode, parse_fns: set[str]) -> cst.CSTNode:
    """`args = parser.parse_args()` -> `args = __reactorc_options__` (what load() builds from
    config.yml); `args, _ = parser.parse_known_args()` and `opt = Options().parse()` likewise."""
    if not isinstance(stmt, cst.Assign) or not _parses_options(stmt.value, parse_fns):
        return stmt
    target = stmt.targets[0].target
    if isinstance(target, cst.Tuple) and target.elements:
        target = target.elements[0].value
    if not isinstance(target, cst.Name):
        return stmt
    return cst.parse_statement(f"{target.value} = {OPTIONS_MARK}\n").body[0]  # type: ignore[attr-defined]


def _parses_options(value: cst.BaseExpression, parse_fns: set[str]) -> bool:
    if is_parse_call(value, parse_fns):
        return True
    return (
        isinstance(value, cst.Call)
        and isinstance(value.func, cst.Attribute)
        and value.func.attr.value in ("parse", "parse_args")
        and not value.args
        and isinstance(value.func.value, cst.Call)
        and "option" in last_name(value.func.value.func).lower()
    )


def _slice_statement(stmt: cst.CSTNode, ctx: Ctx) -> SliceStatement:
    try:
        code = ctx.code(stmt)
        line = ctx.line(stmt)
    except KeyError:  # a synthetic node (the first iteration of a loop, the options)
        code = cst.Module(body=[_as_statement(stmt)]).code.strip()
        line = 0
    return SliceStatement(code, line, frozenset(_stmt_keys(stmt)[1]), stmt)


def _as_statement(stmt: cst.CSTNode) -> cst.BaseStatement:
    if isinstance(stmt, cst.BaseSmallStatement):
        return cst.SimpleStatementLine(body=[stmt])
    return stmt  # type: ignore[return-value]


def _synthetic(code: str, binds: frozenset[str]) -> SliceStatement:
    node = cst.parse_statement(code + "\n")
    return SliceStatement(code, 0, binds, node)


def _reads(expr: cst.CSTNode) -> set[str]:
    return set(names_of(expr).reads)


def _of_self(name: str, site: CallSite, fn: FunctionInfo) -> bool:
    """`self` / `self.x` in a method of the pipeline's class: the pipeline object itself."""
    scope = site.scope
    in_class = scope is not None and scope.cls is not None and scope.class_name == fn.class_name
    return in_class and (name == "self" or name.startswith("self."))


_BUILTINS = frozenset(dir(builtins))


def _known_global(name: str, index: ModuleIndex, ctx: Ctx) -> bool:
    """A module-level name of the file (function, class, constant, import) or a builtin."""
    head = name.split(".")[0]
    if head in _BUILTINS or head in ctx.aliases or head in index.constants:
        return True
    if head in index.classes or any(f.cls is None and f.name == head for f in index.functions):
        return True
    return head in module_bindings_of(index)


def module_bindings_of(index: ModuleIndex) -> set[str]:
    """Names that module-level script statements bind (a model built at import time)."""
    out: set[str] = set()
    for stmt in index.script:
        for small in block_of(stmt):
            if isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign)):
                out |= names_of(small).binds
    return out


RESULT = "result"
SIDE_EFFECT_CALLS = frozenset(
    {
        "save",
        "imwrite",
        "mimwrite",
        "mimsave",
        "write",
        "export_to_video",
        "save_video",
        "save_image",
        "write_video",
        "print",
        "show",
        "imshow",
        "savefig",
        "dump",
        "log",
        "append",
        "extend",
        "makedirs",
        "mkdir",
    }
)


def after_call(site: CallSite, ctx: Ctx) -> tuple[str, list[cst.CSTNode]]:
    """(name of the result, statements after the call that transform it) in the driver's
    scope: what the researcher does to the frames before saving them. A result used inside an
    expression (`pipe(...)[0]`) starts with a synthetic `name = result[0]`."""
    stmt = _statement_of(site.call, ctx)
    if not isinstance(stmt, cst.Assign) or len(stmt.targets) != 1:
        return "", []
    target = stmt.targets[0].target
    if not isinstance(target, cst.Name):
        return "", []
    out: list[cst.CSTNode] = []
    if stmt.value is site.call:
        result = target.value
    else:
        result = RESULT
        value = stmt.value.deep_replace(site.call, cst.Name(RESULT))
        code = f"{target.value} = {cst.Module(body=[]).code_for_node(value).strip()}\n"
        out.append(cst.parse_statement(code).body[0])  # type: ignore[attr-defined]
    derived = {target.value}
    scope = ctx.parents.get(stmt)
    while scope is not None and not isinstance(scope, (cst.IndentedBlock, cst.Module)):
        scope = ctx.parents.get(scope)
    statements = block(scope) if isinstance(scope, cst.IndentedBlock) else []
    if stmt not in statements:
        return (result, out) if out else ("", [])
    for later in statements[statements.index(stmt) + 1 :]:
        n = names_of(later)
        if not n.reads & derived:
            continue
        if not isinstance(later, (cst.Assign, cst.AugAssign, cst.AnnAssign)) or any(
            last_name(c.func) in SIDE_EFFECT_CALLS for c in iter_calls(later)
        ):
            break
        if n.binds & derived and not n.binds - derived and isinstance(later, cst.Assign):
            out.append(later)  # rebinds the frames: `video = video[0]`
        elif n.binds:
            out.append(later)
        derived |= n.binds
    return (result, out) if out else ("", [])


SEEDED: dict[str, tuple[str, ...]] = {
    "torch.manual_seed": ("torch",),
    "torch.random.manual_seed": ("torch",),
    "np.random.seed": ("numpy",),
    "numpy.random.seed": ("numpy",),
    "random.seed": ("random",),
}
"""Seeding calls and the generators they seed; any other `*seed*` helper (`seed_everything`,
`set_seed`) is taken to seed all three."""


def seeded_generators(statements: list[str]) -> tuple[str, ...]:
    """The global generators the statements seed, in a fixed order."""
    found: set[str] = set()
    for code in statements:
        try:
            node = cst.parse_statement(code + "\n")
        except cst.ParserSyntaxError:
            continue
        for call in iter_calls(node):
            name = dotted(call.func)
            if name in SEEDED:
                found |= set(SEEDED[name])
            elif last_name(call.func) in SEED_CALLS and "generator" not in name.lower():
                found |= {"torch", "numpy", "random"}
    return tuple(g for g in ("torch", "numpy", "random") if g in found)
