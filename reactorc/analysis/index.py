"""What the module defines: functions and methods (by symbol), classes, enums, constants."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from reactorc.analysis._cst import Ctx, children_of, contains_yield, dotted, is_missing, literal

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
    for stmt in ctx.source.module.body:
        _visit_top(stmt, index, ctx)
    return index


def _visit_top(stmt: cst.CSTNode, index: ModuleIndex, ctx: Ctx) -> None:
    if isinstance(stmt, cst.FunctionDef):
        index.functions.append(FunctionInfo(stmt.name.value, stmt, None, contains_yield(stmt)))
    elif isinstance(stmt, cst.ClassDef):
        _visit_class(stmt, stmt.name.value, index)
    elif isinstance(stmt, cst.SimpleStatementLine):
        for small in stmt.body:
            if isinstance(small, (cst.Import, cst.ImportFrom)):
                index.imports.append(stmt)
                break
            if isinstance(small, (cst.Assign, cst.AnnAssign)):
                _record_constant(small, index)
            if not _is_declaration(small):
                index.script.append(stmt)
                break
    elif isinstance(stmt, cst.If) and _is_type_checking(stmt):
        return
    else:
        index.script.append(stmt)


def _is_declaration(small: cst.BaseSmallStatement) -> bool:
    """Assignments of literals, docstrings, `pass`, `__all__`: statements that compute nothing."""
    if isinstance(small, cst.Pass):
        return True
    if isinstance(small, cst.Expr):
        return isinstance(small.value, cst.BaseString)
    if isinstance(small, cst.Assign):
        return not any(isinstance(n, cst.Call) for n in _walk(small.value))
    if isinstance(small, cst.AnnAssign):
        return small.value is None or not any(isinstance(n, cst.Call) for n in _walk(small.value))
    return False


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
