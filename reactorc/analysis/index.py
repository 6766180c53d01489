"""What the module defines: functions and methods (by symbol), classes, enums, constants."""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from reactorc.analysis._cst import (
    Ctx,
    children_of,
    contains_yield,
    dotted,
    is_missing,
    literal,
    names_of,
)

ENUM_BASES = {"Enum", "IntEnum", "StrEnum", "enum.Enum", "enum.IntEnum", "enum.StrEnum"}


@dataclass(frozen=True)
class FunctionInfo:
    """A function or method the pipeline could be: `symbol` is "Class.method" or "function"."""

    symbol: str
    node: cst.FunctionDef
    cls: cst.ClassDef | None
    is_generator: bool = False

    @property
    def name(self) -> str:
        return self.node.name.value

    @property
    def class_name(self) -> str:
        return self.symbol.rsplit(".", 1)[0] if self.cls is not None else ""

    @property
    def is_async(self) -> bool:
        return self.node.asynchronous is not None

    @property
    def is_method(self) -> bool:
        return self.cls is not None and not self.is_static

    @property
    def is_static(self) -> bool:
        return any(dotted(d.decorator) == "staticmethod" for d in self.node.decorators)


@dataclass
class ModuleIndex:
    """Every function, method and class in the file (nested functions are part of theirs)."""

    functions: list[FunctionInfo] = field(default_factory=list)
    classes: dict[str, cst.ClassDef] = field(default_factory=dict)
    enums: dict[str, dict[str, Any]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    script: list[cst.CSTNode] = field(default_factory=list)
    """Module-level statements that run code (not defs, classes, imports, constants)."""
    imports: list[cst.CSTNode] = field(default_factory=list)

    def by_symbol(self, symbol: str) -> FunctionInfo | None:
        for f in self.functions:
            if f.symbol == symbol:
                return f
        return None

    def methods_of(self, class_name: str) -> list[FunctionInfo]:
        return [f for f in self.functions if f.class_name == class_name]


def build_index(ctx: Ctx) -> ModuleIndex:
    index = ModuleIndex()
    defined = set(dir(builtins))
    for stmt in ctx.source.module.body:
        _visit_top(stmt, index, ctx, defined)
    _state_of_script(ctx, index)
    return index


def _state_of_script(ctx: Ctx, index: ModuleIndex) -> None:
    """A declaration the script rebinds or mutates (`frames = []` then `frames.append(...)`,
    `n = 0` then `n += 1`) is the script's state, not a constant: it is script code."""
    changed: set[str] = set()
    for stmt in index.script:
        n = names_of(stmt)
        changed |= n.binds | n.mutates
    if not changed:
        return
    ordered = [
        stmt
        for stmt in ctx.source.module.body
        if stmt in index.script
        or (
            isinstance(stmt, cst.SimpleStatementLine)
            and stmt not in index.imports
            and any(
                isinstance(small, (cst.Assign, cst.AnnAssign, cst.AugAssign))
                and names_of(small).binds & changed
                for small in stmt.body
            )
        )
    ]
    index.script[:] = ordered


def _visit_top(stmt: cst.CSTNode, index: ModuleIndex, ctx: Ctx, defined: set[str]) -> None:
    if isinstance(stmt, cst.FunctionDef):
        index.functions.append(FunctionInfo(stmt.name.value, stmt, None, contains_yield(stmt)))
        defined.add(stmt.name.value)
    elif isinstance(stmt, cst.ClassDef):
        _visit_class(stmt, stmt.name.value, index)
        defined.add(stmt.name.value)
    elif isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                index.imports.append(stmt)
                defined |= _imported(small)
                break
            if isinstance(small, (cst.Assign, cst.AnnAssign)):
                _record_constant(small, index)
            if not is_declaration(small, defined):
                index.script.append(stmt)
                break
            defined |= names_of(small).binds
    elif isinstance(stmt, cst.If) and _is_type_checking(stmt):
        return
    else:
        index.script.append(stmt)


def is_declaration(small: cst.BaseSmallStatement, defined: set[str]) -> bool:
    """Assignments of literals (and of expressions of what is already declared, imported or
    defined), docstrings, `pass`, `__all__`: statements that compute nothing. A script's wrapper
    runs these, and only these, of its module-level code (`load_definitions` in the template
    keeps the same ones)."""
    if isinstance(small, cst.Pass):
        return True
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.BaseString)
    if isinstance(small, (cst.Assign, cst.AnnAssign)):
        if small.value is None:
            return True
        if any(isinstance(n, cst.Call) for n in _walk(small.value)):
            return False
        return names_of(small.value).reads <= defined  # `alphas = 1.0 - betas`: script code
    return False


def _imported(small: cst.Import | cst.ImportFrom) -> set[str]:
    if isinstance(small.names, cst.ImportStar):
        return set()
    out = set()
    for alias in small.names:
        if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
            out.add(alias.asname.name.value)
        else:
            out.add(dotted(alias.name).split(".")[0])
    return out


def _walk(node: cst.CSTNode) -> list[cst.CSTNode]:
    out, stack = [], [node]
    while stack:
        n = stack.pop()
        out.append(n)
        stack.extend(children_of(n))
    return out


def _is_type_checking(stmt: cst.If) -> bool:
    return dotted(stmt.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")


def _record_constant(small: cst.Assign | cst.AnnAssign, index: ModuleIndex) -> None:
    targets = [t.target for t in small.targets] if isinstance(small, cst.Assign) else [small.target]
    value = literal(small.value) if small.value is not None else None
    if small.value is None or is_missing(value):
        return
    for t in targets:
        if isinstance(t, cst.Name):
            index.constants[t.value] = value


def _visit_class(node: cst.ClassDef, prefix: str, index: ModuleIndex) -> None:
    index.classes[prefix] = node
    bases = {dotted(b.value) for b in node.bases}
    if bases & ENUM_BASES:
        index.enums[prefix] = _enum_members(node)
    for stmt in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
        if isinstance(stmt, cst.FunctionDef):
            index.functions.append(
                FunctionInfo(f"{prefix}.{stmt.name.value}", stmt, node, contains_yield(stmt))
            )
        elif isinstance(stmt, cst.ClassDef):
            _visit_class(stmt, f"{prefix}.{stmt.name.value}", index)


def _enum_members(node: cst.ClassDef) -> dict[str, Any]:
    members: dict[str, Any] = {}
    for stmt in node.body.body if isinstance(node.body, cst.IndentedBlock) else ():
        if not isinstance(stmt, cst.SimpleStatementLine):
            continue
        for small in stmt.body:
            if isinstance(small, cst.Assign) and len(small.targets) == 1:
                t = small.targets[0].target
                if isinstance(t, cst.Name) and not t.value.startswith("_"):
                    v = literal(small.value)
                    members[t.value] = None if is_missing(v) else v
    return members
