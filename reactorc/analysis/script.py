"""Module-level scripts (`generate.py`: argparse, load the model, loop at module level) as a
function the rest of the compiler already understands.

The script's statements are split three ways: the setup that builds the model and reads the
command line (it goes to the wrapper's `load()`), the statements that depend on what a client
may change (argparse options and literal module constants the frame loop reads, which become the
function's parameters), and the frame loop with what follows it. The last two are laid out, on
their own source lines, as the body of a synthetic function `__reactorc_script__` in a copy of the
file where every other line of script code is blank: line numbers stay the file's, so the plan
and its diagnostics point at the script itself. Nothing of the script runs at import time in the
wrapper: it loads the file's imports and definitions only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from reactorc.analysis import driver, kept, options, usage
from reactorc.analysis._cst import Ctx, dotted, iter_calls, iter_nodes, last_name, names_of
from reactorc.analysis.index import FunctionInfo, ModuleIndex
from reactorc.analysis.loops import Candidate
from reactorc.plan import ConfigKey

FUNCTION = "__reactorc_script__"
LOADING_CALLS = frozenset(
    {
        "load",
        "from_pretrained",
        "load_state_dict",
        "load_ckpt",
        "load_checkpoint",
        "read_video",
        "VideoCapture",
        "imread",
        "open",
        "hf_hub_download",
        "eval",
        "cuda",
        "to",
        "compile",
        "build_model",
        "create_model",
    }
)
PATH_SUFFIXES = options.PATH_SUFFIXES
NOT_KNOBS = usage.NOT_KNOBS


@dataclass(frozen=True)
class Lowered:
    """A module script as a function: the synthetic source (same lines as the file), what
    `load()` runs, the function's inputs (bound by the setup) and the options read."""

    text: str
    setup: tuple[str, ...]
    namespace: str
    config: tuple[ConfigKey, ...]
    inputs: tuple[str, ...]
    fields: tuple[str, ...]
    header_line: int
    helps: tuple[tuple[str, str], ...] = ()
    """(parameter, the option's `help=`) for the fields that are options."""


class NotLowerable(Exception):
    """The script's shape does not fit a function; the message says why, in one line."""


def lower(
    cand: Candidate,
    index: ModuleIndex,
    ctx: Ctx,
    within: FunctionInfo | None = None,
    namespace: str = "",
) -> Lowered:
    """The synthetic function for the module-level frame loop `cand`; with `within`, for the
    loop of a script written as a function (`def main(): args = parse_args(); ...`): its body
    is the script, its options namespace (parsed in it, or its one parameter: `namespace`)
    the fields."""
    module = ctx.source.module
    lines = ctx.source.text.splitlines(keepends=True)
    top = list(module.body)
    if within is not None:
        if within.cls is not None or within.node.asynchronous is not None:
            raise NotLowerable("the function is a method or async")
        guard: cst.CSTNode | None = within.node
        scope = [
            s
            for i, s in enumerate(within.node.body.body)  # type: ignore[attr-defined]
            if not (i == 0 and _is_docstring(s))
        ]
    else:
        guard = next(
            (s for s in index.script if driver.is_main_guard(s) and _holds(s, cand.node, ctx)),
            None,
        )
        if guard is not None:
            outside = [
                s
                for s in top
                if s in index.script and s is not guard and ctx.line(s) < ctx.line(guard)
            ]
            scope = outside + list(guard.body.body)  # type: ignore[attr-defined]
        else:
            scope = [s for s in top if s in index.script]
    host = next((s for s in scope if _holds(s, cand.node, ctx)), None)
    if host is None:
        raise NotLowerable("the frame loop is not a statement of the script's own level")
    at = scope.index(host)
    pre, post = scope[:at], scope[at + 1 :]
    if any(isinstance(s, (cst.FunctionDef, cst.ClassDef)) for s in [*post, host]):
        raise NotLowerable("a definition sits inside the script's frame loop")
    parse_fns = options.parse_functions(ctx)
    declared = options.find_options(ctx)
    smalls: list[tuple[cst.CSTNode, cst.CSTNode]] = []  # (statement line, small statement)
    for stmt in pre:
        for small in driver.block_of(stmt):
            smalls.append((stmt, small))
            if not namespace and _options_target(small, parse_fns):
                namespace = _options_target(small, parse_fns)
    body_nodes: list[cst.CSTNode] = [host, *post]
    spaces = (namespace, *_aliases(smalls, namespace)) if namespace else ()
    # what a client may change: options and literal constants the loop (or its prologue) reads
    candidates_ = _field_candidates(declared, index, spaces)
    needed_ids = _needed(smalls, body_nodes, spaces)
    fields: set[str] = _reads(body_nodes, spaces) & set(candidates_)
    carried: set[str] = set()
    for node in body_nodes:
        n = names_of(node)
        carried |= n.binds | n.mutates
    streams = {name for node in body_nodes for name in _consumed(node)}
    carried |= streams
    pipeline: set[int] = set()
    bound_by_pipeline: set[str] = set()
    for _, small in smalls:
        if id(small) not in needed_ids or _only_parser(small, namespace):
            continue
        reads = _reads([small], spaces)
        if driver._global_setup(small):
            continue  # seeding the global RNG: the setup's draws (weights) depend on it too
        starts_state = bool(names_of(small).binds & carried)  # `frames = []`, the initial `x`
        opens_stream = bool(names_of(small).binds & streams)  # `cap = cv2.VideoCapture(path)`
        if (reads & (set(candidates_) | bound_by_pipeline) or starts_state) and (
            opens_stream or not _loads(small)
        ):
            pipeline.add(id(small))
            bound_by_pipeline |= names_of(small).binds
            fields |= reads & set(candidates_)
    while True:
        pipeline_smalls = [(s, m) for s, m in smalls if id(m) in pipeline]
        setup_smalls = [
            m
            for s, m in smalls
            if id(m) not in pipeline
            and not _only_parser(m, namespace)
            and not _is_options(m, namespace)
        ]
        function_nodes = body_nodes + [m for _, m in pipeline_smalls]
        needed = _reads(function_nodes, spaces, attributes=False)
        if namespace and not _namespace_beyond(function_nodes, namespace, fields):
            needed.discard(namespace)  # every option the function reads became a parameter
        bound_by_setup: set[str] = set()
        for m in setup_smalls:
            bound_by_setup |= names_of(m).binds
        sliced = driver.backward_slice(
            setup_smalls, needed & bound_by_setup | ({namespace} & needed)
        )
        # setup that reads what a recomputed statement binds: a move of it (`c2ws.to(device)`)
        # is recomputed with it; anything else (a dataset an option sizes, then a model) makes
        # that statement run once, in the setup
        bound_late = {b for _, m in pipeline_smalls for b in names_of(m).binds}
        readers = [n for n in sliced if names_of(n).reads & bound_late]
        moves = {id(n) for n in readers if _only_moves(n)}
        late = {
            id(m)
            for _, m in pipeline_smalls
            if names_of(m).binds
            & {r for n in readers if id(n) not in moves for r in names_of(n).reads}
        }
        if not late and not moves:
            break
        pipeline = (pipeline - late) | moves
    fields = _reads(function_nodes, spaces) & set(candidates_)
    inputs = sorted((needed & bound_by_setup) | ({namespace} & needed) - set(fields))
    if namespace and (namespace in inputs or any(_uses_namespace(n, namespace) for n in sliced)):
        setup = (f"{namespace} = {driver.OPTIONS_MARK}", *(_code(m) for m in sliced))
    else:
        setup = tuple(_code(m) for m in sliced)
    config = _config(declared, namespace, sliced, inputs, body_nodes, fields)
    text, header, helps = _synthetic(
        lines,
        ctx,
        guard,
        pre,
        pipeline,
        body_nodes,
        inputs,
        sorted(fields),
        (declared, index, namespace),
        smalls,
    )
    return Lowered(
        text=text,
        setup=setup,
        namespace=namespace,
        config=config,
        inputs=tuple(inputs),
        fields=tuple(sorted({f.split(".")[-1] for f in fields})),
        header_line=header,
        helps=helps,
    )


READS = frozenset({"read", "grab", "retrieve", "get_next_data", "readline"})
"""Methods that take the next item of a stream (a video capture, a reader, a file)."""


def _consumed(node: cst.CSTNode) -> set[str]:
    """Streams the loop reads to their end (`cap.read()`, `next(reader)`): each clip opens its
    own, as the script did once, so the setup that opens them runs per clip."""
    out: set[str] = set()
    for n in iter_nodes(node):
        if not isinstance(n, cst.Call):
            continue
        if (
            isinstance(n.func, cst.Attribute)
            and n.func.attr.value in READS
            and isinstance(n.func.value, cst.Name)
        ):
            out.add(n.func.value.value)
        elif (
            isinstance(n.func, cst.Name)
            and n.func.value == "next"
            and n.args
            and isinstance(n.args[0].value, cst.Name)
        ):
            out.add(n.args[0].value.value)
    return out


def _is_docstring(stmt: cst.CSTNode) -> bool:
    return (
        isinstance(stmt, cst.SimpleStatementLine)
        and len(stmt.body) == 1
        and isinstance(stmt.body[0], cst.Expr)
        and isinstance(stmt.body[0].value, cst.BaseString)
    )


def namespace_of(fn: FunctionInfo, ctx: Ctx) -> str:
    """The options namespace of a script written as a function, "" when it is not one: `args`
    in `def main(): args = parse_args()`, or the one parameter of `def run(args:
    argparse.Namespace)` / of a function the driver calls with what `parse_args()` returned."""
    node = fn.node
    if fn.cls is not None or node.asynchronous is not None:
        return ""
    params = node.params
    if (
        params.kwonly_params
        or params.posonly_params
        or isinstance(params.star_arg, cst.Param)
        or params.star_kwarg is not None
    ):
        return ""
    parse_fns = options.parse_functions(ctx)
    if not params.params:
        for stmt in node.body.body:  # type: ignore[attr-defined]
            for small in driver.block_of(stmt):
                target = _options_target(small, parse_fns)
                if target and "." not in target:
                    return target
        return ""
    if len(params.params) != 1:
        return ""
    param = params.params[0]
    name = param.name.value
    annotation = dotted(param.annotation.annotation) if param.annotation else ""
    if annotation.split(".")[-1] == "Namespace":
        return name
    parsed: set[str] = set()
    for n in iter_nodes(ctx.source.module):
        if isinstance(n, cst.Assign):
            target = _options_target(n, parse_fns)
            if target and "." not in target:
                parsed.add(target)
    for call in iter_calls(ctx.source.module):
        if (
            last_name(call.func) == fn.name
            and len(call.args) == 1
            and isinstance(call.args[0].value, cst.Name)
            and call.args[0].value.value in parsed
        ):
            return name
    return ""


def _needed(
    smalls: list[tuple[cst.CSTNode, cst.CSTNode]],
    body: list[cst.CSTNode],
    spaces: tuple[str, ...],
) -> set[int]:
    """The statements before the loop that the loop and what follows need (backward slice),
    seeding calls included."""
    wanted = _reads(body, spaces)
    needed: set[int] = set()
    for _, small in reversed(smalls):
        n = names_of(small)
        changed = (n.binds | n.mutates) & wanted
        if changed or driver._global_setup(small):
            needed.add(id(small))
            wanted |= _reads([small], spaces)
    return needed


def _namespace_beyond(nodes: list[cst.CSTNode], namespace: str, fields: set[str]) -> bool:
    """The options namespace is read as a whole, or for an option that is not a field."""
    for node in nodes:
        for n in iter_nodes(node):
            if isinstance(n, cst.Name) and n.value == namespace:
                parent_attr = None
                for m in iter_nodes(node):
                    if isinstance(m, cst.Attribute) and m.value is n:
                        parent_attr = m
                        break
                if parent_attr is None or f"{namespace}.{parent_attr.attr.value}" not in fields:
                    return True
    return False


def _holds(stmt: cst.CSTNode, node: cst.CSTNode, ctx: Ctx) -> bool:
    cur: cst.CSTNode | None = node
    while cur is not None:
        if cur is stmt:
            return True
        cur = ctx.parents.get(cur)
    return False


def _field_candidates(
    declared: dict[str, options.Option], index: ModuleIndex, spaces: tuple[str, ...]
) -> dict[str, tuple[str, Any, str]]:
    """name -> (type, default, help) for options and constants a client could set."""
    out: dict[str, tuple[str, Any, str]] = {}
    for namespace in spaces:
        for dest, opt in declared.items():
            if opt.is_path or opt.many or opt.type not in ("int", "float", "str", "bool"):
                continue
            if dest in NOT_KNOBS:
                continue
            if opt.required and not opt.has_default:
                continue
            out[f"{namespace}.{dest}"] = (opt.type, opt.default, opt.help)
    for name, value in index.constants.items():
        if len(name) < 2 or name.isupper() or name.startswith("_") or name in NOT_KNOBS:
            continue
        if isinstance(value, (bool, int, float)):
            out[name] = (type(value).__name__, value, "")
        elif isinstance(value, str) and not ("/" in value or value.endswith(PATH_SUFFIXES)):
            out[name] = ("str", value, "")
    return out


def _reads(
    nodes: list[cst.CSTNode], spaces: tuple[str, ...], *, attributes: bool = True
) -> set[str]:
    """Names read, and `args.x` keys for the options namespace (and its aliases)."""
    out: set[str] = set()
    for node in nodes:
        out |= names_of(node).reads
        if spaces and attributes:
            for n in iter_nodes(node):
                if (
                    isinstance(n, cst.Attribute)
                    and isinstance(n.value, cst.Name)
                    and n.value.value in spaces
                ):
                    out.add(f"{n.value.value}.{n.attr.value}")
    return out


ALIAS_CALLS = frozenset({"merge", "create", "vars", "EasyDict", "edict", "SimpleNamespace"})


def _aliases(smalls: list[tuple[cst.CSTNode, cst.CSTNode]], namespace: str) -> tuple[str, ...]:
    """Names that hold every option too: `config = OmegaConf.merge(config, vars(args))`."""
    out: list[str] = []
    for _, small in smalls:
        if not (isinstance(small, cst.Assign) and isinstance(small.value, cst.Call)):
            continue
        call = small.value
        if last_name(call.func) not in ALIAS_CALLS:
            continue
        if not any(namespace in names_of(a.value).reads for a in call.args):
            continue
        for t in small.targets:
            if isinstance(t.target, cst.Name) and t.target.value not in (namespace, *out):
                out.append(t.target.value)
    return tuple(out)


def _loads(small: cst.CSTNode) -> bool:
    """Reads weights, files or moves a model: setup, whatever it depends on."""
    return any(last_name(c.func) in LOADING_CALLS for c in iter_calls(small))


MOVES = frozenset({"to", "cuda", "cpu", "half", "float", "eval", "contiguous"})


def _only_moves(small: cst.CSTNode) -> bool:
    """Its only loading calls move or retype a value (`torch.from_numpy(x).to(device)`)."""
    names = {last_name(c.func) for c in iter_calls(small)}
    return bool(names & MOVES) and not (names & LOADING_CALLS) - MOVES


PARSER_CALLS = frozenset({"ArgumentParser", "add_argument", "add_argument_group", "set_defaults"})


def _only_parser(small: cst.CSTNode, namespace: str) -> bool:
    """Builds the argument parser (`parser = ArgumentParser()`, `parser.add_argument(...,
    type=int)`); `w = int(opt.size)` is not."""
    calls = {last_name(c.func) for c in iter_calls(small)}
    return bool(calls & PARSER_CALLS) and calls <= PARSER_CALLS | {"str", "int", "float"}


def _options_target(small: cst.CSTNode, parse_fns: set[str]) -> str:
    """`args` in `args = parser.parse_args()` (the options namespace), "" otherwise."""
    marked = driver._mark_options(small, parse_fns)
    if marked is small or not isinstance(marked, cst.Assign):
        return ""
    return dotted(marked.targets[0].target)


def _is_options(small: cst.CSTNode, namespace: str) -> bool:
    return (
        bool(namespace)
        and isinstance(small, cst.Assign)
        and bool(_options_target(small, set()) or _parses(small))
        and namespace in {dotted(t.target) for t in small.targets}
    )


def _parses(small: cst.Assign) -> bool:
    return any(
        last_name(c.func) in options.PARSE_CALLS or last_name(c.func) in ("parse", "get_opts")
        for c in iter_calls(small)
    )


def _uses_namespace(node: cst.CSTNode, namespace: str) -> bool:
    return namespace in names_of(node).reads


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _config(
    declared: dict[str, options.Option],
    namespace: str,
    setup: list[cst.CSTNode],
    inputs: list[str],
    body: list[cst.CSTNode],
    fields: set[str],
) -> tuple[ConfigKey, ...]:
    """Options the setup (and the loop, through the namespace) reads: config.yml keys."""
    if not namespace:
        return ()
    used: list[str] = []
    whole = False
    for node in [*setup, *body]:
        for n in iter_nodes(node):
            if (
                isinstance(n, cst.Attribute)
                and isinstance(n.value, cst.Name)
                and n.value.value == namespace
            ):
                key = f"{namespace}.{n.attr.value}"
                if key not in fields and n.attr.value not in used:
                    used.append(n.attr.value)
            elif (
                isinstance(n, cst.Arg)
                and isinstance(n.value, cst.Name)
                and n.value.value == namespace
            ):
                whole = True
    return options.config_keys(declared, list(declared) if whole else used)


def _synthetic(
    lines: list[str],
    ctx: Ctx,
    guard: cst.CSTNode | None,
    pre: list[cst.CSTNode],
    pipeline: set[int],
    body_nodes: list[cst.CSTNode],
    inputs: list[str],
    fields: list[str],
    known: tuple[dict[str, options.Option], ModuleIndex, str],
    smalls: list[tuple[cst.CSTNode, cst.CSTNode]],
) -> tuple[str, int, tuple[tuple[str, str], ...]]:
    """The file with script lines blanked but the function's; the def on a freed line; the
    options' help texts by parameter."""
    out = list(lines)
    keep: list[tuple[int, int]] = []  # line ranges (1-based, inclusive) of the function body
    for stmt in pre:
        members = [m for s, m in smalls if s is stmt]
        if members and all(id(m) in pipeline for m in members):
            keep.append(_range(stmt, ctx))
    for node in body_nodes:
        keep.append(_range(node, ctx))
    script_lines: set[int] = set()
    for stmt in pre + body_nodes:
        a, b = _range(stmt, ctx)
        script_lines |= set(range(a, b + 1))
    kept_lines: set[int] = set()
    for a, b in keep:
        kept_lines |= set(range(a, b + 1))
    for n in script_lines - kept_lines:
        out[n - 1] = "\n"
    first = min(a for a, _ in keep)
    if isinstance(guard, cst.FunctionDef):
        header = ctx.line(guard.name)
        indent = ""
        body_indent = 0  # already indented in the function
        body_start = ctx.line(guard.body.body[0]) if guard.body.body else header + 1  # type: ignore[attr-defined]
        for n in range(header + 1, body_start):
            out[n - 1] = "\n"  # the rest of a def header written over several lines
        for d in guard.decorators:
            if last_name(d.decorator) not in kept.KEEP:  # grad modes stay
                a, b = _range(d, ctx)
                for n in range(a, b + 1):
                    out[n - 1] = "\n"
    elif guard is not None:
        header = ctx.line(guard)
        indent = ""
        body_indent = 0  # already indented under the guard
    else:
        inside: set[int] = set()
        for stmt in ctx.source.module.body:
            a, b = _range(stmt, ctx)
            inside |= set(range(a, b + 1))
        blank = {n for n in range(1, first) if n not in inside and not lines[n - 1].strip()}
        free = sorted((script_lines - kept_lines) | blank)
        free = [n for n in free if n < first]
        if not free:
            raise NotLowerable("no line before the frame loop is free to hold the function")
        header = free[-1]
        indent = ""
        body_indent = 4
    if guard is not None and not isinstance(guard, cst.FunctionDef):
        # statements of the script before the guard that stay in the function: not supported
        outside_kept = [a for a, _ in keep if a < ctx.line(guard)]
        if outside_kept:
            raise NotLowerable(
                "the loop depends on changeable script code outside its __main__ block"
            )
    declared, index, _ = known
    taken = set(inputs)
    for node in [*body_nodes, *(m for _, m in smalls if id(m) in pipeline)]:
        n = names_of(node)
        taken |= n.reads | n.binds
    renamed = {  # an option named like a variable of the script (`--frames`, `frames = []`)
        f: f"{f.split('.')[0]}_{f.split('.', 1)[1]}"
        for f in fields
        if "." in f and f.split(".", 1)[1] in taken
    }
    params = [*inputs]
    for f in fields:  # `args.x` and an alias's `config.x` are one parameter
        param = _param(f, declared, index, renamed.get(f, ""))
        if param not in params:
            params.append(param)
    out[header - 1] = f"{indent}def {FUNCTION}({', '.join(params)}):\n"
    end = max(b for _, b in keep)
    moved: list[str] = []
    if guard is None or not isinstance(guard, cst.FunctionDef):
        # definitions, imports and constants between the def and the loop would end up in the
        # function (a constant shadowing its own parameter): they move below the file's last
        # line, so every line above keeps its number
        for stmt in ctx.source.module.body:
            a, b = _range(stmt, ctx)
            if stmt in index.script or not header < a <= end:
                continue
            moved.append("".join(lines[a - 1 : b]))
            for n in range(a, b + 1):
                out[n - 1] = "\n"
    if body_indent:
        for n in range(header + 1, end + 1):
            if out[n - 1].strip():
                out[n - 1] = " " * body_indent + out[n - 1]
    if moved:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out += ["\n", "# moved out of the script's function (reactorc)\n", *moved]
    text = "".join(out)
    helps: dict[str, str] = {}
    for f in fields:
        if "." in f:
            text = _replace_attribute(text, f, header, renamed.get(f, ""))
            dest = f.split(".", 1)[1]
            if declared[dest].help:
                helps.setdefault(renamed.get(f, dest), declared[dest].help)
    return text, header, tuple(helps.items())


def _replace_attribute(text: str, key: str, header: int, name: str = "") -> str:
    """`args.steps` -> `steps` (or `name`) in the function's lines (after the header)."""
    ns, attr = key.split(".", 1)
    lines = text.splitlines(keepends=True)
    import re

    pattern = re.compile(rf"\b{re.escape(ns)}\.{re.escape(attr)}\b")
    for i in range(header, len(lines)):
        lines[i] = pattern.sub(name or attr, lines[i])
    return "".join(lines)


def _param(
    field: str, declared: dict[str, options.Option], index: ModuleIndex, name: str = ""
) -> str:
    """The synthetic function's parameter for an option (`args.x`) or a module constant."""
    if "." in field:
        dest = field.split(".", 1)[1]
        opt = declared[dest]
        default = opt.default_code if opt.has_default and opt.default_code else _neutral(opt.type)
        return f"{name or dest}: {opt.type} = {default}"
    value = index.constants[field]
    return f"{field}: {type(value).__name__} = {value!r}"


def _neutral(type_: str) -> str:
    return {"int": "0", "float": "0.0", "str": '""', "bool": "False"}.get(type_, "None")


def _range(node: cst.CSTNode, ctx: Ctx) -> tuple[int, int]:
    """First and last line of a statement, a def's or class's decorators included."""
    r = ctx.range(node)
    start = r.start.line
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and node.decorators:
        start = min(start, ctx.range(node.decorators[0]).start.line)
    return start, r.end.line
