"""The wrapper's `load()`: the driver's statements the plan sliced (from the pipeline's file, an
`--entry` script or the user's reactorc.yaml), with `args = parser.parse_args()` read from
config.yml, then the pipeline object and the arguments `inference()` takes from it.

Names the statements use that the driver's file defines at module level are taken from that
file, loaded as the wrapper loads the original (an `--entry` script: its imports and
definitions only, never its script code); `self` in a driver that is a method of the pipeline's
class is the pipeline object."""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import libcst as cst

from reactorc.plan import LOADED_SOURCES, Plan
from reactorc.rewrite.names import (
    bound_names,
    module_bindings,
    parse_stmt,
    plain_fstrings,
    referenced_names,
    rename,
    star_import,
)

OPTIONS_MARK = "__reactorc_options__"
"""What the analysis put where the driver parsed its command line."""
WRAPPER_OWN = frozenset({"self", "config", "OPTIONS", "argparse", "SimpleNamespace"})


class SetupError(Exception):
    """The driver's statements cannot be made into `load()`; one line for the user."""


@dataclass(frozen=True)
class Load:
    """What `load()` runs, as code indented for the method body (8 spaces), and what it needs.

    `statements` run first; then `self.pipeline = pipeline` when `pipeline` is given (else the
    template builds it from config); then `self.arguments = SimpleNamespace(**arguments)`.
    `constructed_first`: the statements read the pipeline object (`self.poses` in a method
    that calls the pipeline), so the object is built from config before them."""

    statements: str
    pipeline: str
    arguments: tuple[tuple[str, str], ...]
    constructed_first: bool
    globals: tuple[tuple[str, str], ...]
    """(name, import statement) the wrapper binds at module level; import "" = from the
    original module."""
    entry_names: tuple[str, ...]
    """Names taken from the `--entry` script's definitions (`entry.<name>`)."""
    options: tuple[tuple[str, str], ...]
    """(option, default code) of the driver's command line, for the wrapper's OPTIONS."""
    rebuilds: str = ""
    """For each file input: a function of the uploaded file's path that runs the read and the
    statements after it that depend on it, returning the rebuilt values; defined at the end of
    `load()` (a closure over its variables) and kept in `self.rebuild[field]`."""


def load_body(plan: Plan, original: cst.Module, entry: cst.Module | None) -> Load | None:
    """`load()` for `plan`, None when nothing but the constructor is needed."""
    setup = plan.setup
    arguments = [a for a in plan.arguments if a.source in LOADED_SOURCES]
    if setup is None and not arguments:
        return None
    statements: list[cst.BaseStatement] = []
    from_entry = setup is not None and bool(setup.path)
    if setup is not None:
        for code in setup.statements:
            if code.strip().endswith(f"= {OPTIONS_MARK}"):
                target = code.split("=", 1)[0].strip()
                code = f"{target} = argparse.Namespace(**{{**OPTIONS, **config}})"
            statements.append(parse_stmt(code + "\n"))
    values: list[tuple[str, str]] = [(a.param, a.code) for a in arguments]
    if setup is not None:
        values += [(n, n) for n in setup.names if n not in {v[0] for v in values}]
    method_driver = bool(plan.class_name) and plan.symbol_kind != "function"
    uses_self = any("self" in referenced_names(s) for s in statements) or any(
        "self" in referenced_names(cst.parse_expression(code)) for _, code in values
    )
    constructed_first = method_driver and uses_self and not (setup and setup.pipeline_expr)
    block = plain_fstrings(cst.IndentedBlock(body=statements))  # type: ignore[assignment]
    if constructed_first:
        block = rename(block, {"self": cst.parse_expression("self.pipeline")})  # type: ignore[assignment]
        values = [
            (
                name,
                _code(
                    rename(
                        cst.parse_expression(code), {"self": cst.parse_expression("self.pipeline")}
                    )
                ),
            )
            for name, code in values
        ]
    bound = bound_names(block)
    free: set[str] = set()
    for stmt in block.body:
        free |= referenced_names(stmt)
    for _, code in values:
        free |= referenced_names(cst.parse_expression(code))
    if setup is not None and setup.pipeline_expr:
        free |= referenced_names(cst.parse_expression(setup.pipeline_expr))
    free -= bound | set(dir(builtins)) | WRAPPER_OWN
    source_module = entry if from_entry and entry is not None else original
    bindings = module_bindings(source_module)
    unknown = sorted(n for n in free if n not in bindings)
    if unknown and star_import(source_module):
        # `from models.nerf import *`: the names come with the loaded module
        bindings = {**bindings, **dict.fromkeys(unknown, "")}
        unknown = []
    if unknown:
        raise SetupError(
            f"the driver's statements ({setup.origin if setup else 'reactorc.yaml'}) use "
            f"{', '.join(unknown)}, which its file does not define; say what they are in the "
            "reactorc.yaml `setup`"
        )
    globals_: list[tuple[str, str]] = []
    entry_names: list[str] = []
    if from_entry:
        mapping = {n: cst.parse_expression(f"entry.{n}") for n in sorted(free)}
        block = rename(block, mapping)  # type: ignore[assignment]
        values = [
            (name, _code(rename(cst.parse_expression(code), mapping))) for name, code in values
        ]
        entry_names = sorted(free)
    else:
        globals_ = [(n, bindings[n]) for n in sorted(free)]
    pipeline = ""
    if setup is not None and setup.pipeline_expr:
        expr = cst.parse_expression(setup.pipeline_expr)
        if from_entry:
            expr = rename(expr, {n: cst.parse_expression(f"entry.{n}") for n in entry_names})  # type: ignore[assignment]
        pipeline = _code(expr)
    body = cst.Module(body=list(block.body)).code if block.body else ""
    options = tuple((k.name, k.default_code) for k in setup.config) if setup else ()
    rebuilds = _rebuilds(plan, list(block.body), dict(values))
    return Load(
        statements=_indent(body, 8),
        pipeline=pipeline,
        arguments=tuple(values),
        constructed_first=constructed_first,
        globals=tuple(globals_),
        entry_names=tuple(entry_names),
        options=options,
        rebuilds=_indent(rebuilds, 8) if rebuilds else "",
    )


def _rebuilds(plan: Plan, statements: list[cst.BaseStatement], values: dict[str, str]) -> str:
    """`def rebuild_<field>(path): ...; return SimpleNamespace(...)` per file input: the read
    with `path` where the original's path was, then the setup statements that depend on it."""
    out: list[str] = []
    for fi in plan.file_inputs:
        if fi.statement >= len(statements):
            continue
        read = statements[fi.statement].visit(_PathSwap(fi.path, "uploaded_path"))
        tainted = bound_names(read)
        body: list[cst.BaseStatement] = [read]  # type: ignore[list-item]
        for stmt in statements[fi.statement + 1 :]:
            if referenced_names(stmt) & tainted:
                body.append(stmt)
                tainted |= bound_names(stmt)
        fields = ", ".join(f"{name}={values.get(name, name)}" for name in fi.names)
        body.append(parse_stmt(f"return SimpleNamespace({fields})\n"))
        fn = cst.FunctionDef(
            name=cst.Name(f"rebuild_{fi.field}"),
            params=cst.Parameters(params=[cst.Param(cst.Name("uploaded_path"))]),
            body=cst.IndentedBlock(body=body),
        )
        out.append(cst.Module(body=[fn]).code)
        out.append(f"self.rebuild[{fi.field!r}] = rebuild_{fi.field}\n")
    if not out:
        return ""
    return "self.rebuild = {}\n" + "".join(out)


class _PathSwap(cst.CSTTransformer):
    """The read's path argument -> `name` (the uploaded file's path)."""

    def __init__(self, path: str, name: str) -> None:
        self.path = path
        self.name = name
        self.done = False

    def leave_Arg(self, original: cst.Arg, updated: cst.Arg) -> cst.Arg:
        if not self.done and _code(original.value) == self.path:
            self.done = True
            return updated.with_changes(value=cst.Name(self.name))
        return updated


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node).strip()


def _indent(code: str, n: int) -> str:
    return "".join(" " * n + line if line.strip() else line for line in code.splitlines(True))
