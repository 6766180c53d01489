"""Names in libcst trees, for the rewriter: which names a tree binds and reads, renaming
references (never attributes, keywords or definitions), and what the original binds at module
level (so the wrapper can import or borrow what its rewritten code uses)."""

from __future__ import annotations

import keyword
from collections.abc import Iterable

import libcst as cst


class NamePositions(cst.CSTVisitor):
    """Remembers which Name nodes are not variable references (attributes, keywords, defs)."""

    def __init__(self) -> None:
        self.not_refs: set[int] = set()

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.not_refs.add(id(node.attr))

    def visit_Arg(self, node: cst.Arg) -> None:
        if node.keyword is not None:
            self.not_refs.add(id(node.keyword))

    def visit_Param(self, node: cst.Param) -> None:
        self.not_refs.add(id(node.name))

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self.not_refs.add(id(node.name))

    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self.not_refs.add(id(node.name))

    def visit_ImportAlias(self, node: cst.ImportAlias) -> None:
        for n in iter_nodes(node):
            self.not_refs.add(id(n))


class _AllNodes(cst.CSTVisitor):
    def __init__(self) -> None:
        self.nodes: list[cst.CSTNode] = []

    def on_visit(self, node: cst.CSTNode) -> bool:
        self.nodes.append(node)
        return True


def iter_nodes(node: cst.CSTNode) -> Iterable[cst.CSTNode]:
    """`node` and everything under it, in one traversal (libcst's `children` re-visits)."""
    collect = _AllNodes()
    node.visit(collect)
    return collect.nodes


class _Rename(cst.CSTTransformer):
    """Replace variable references by name with an expression (all occurrences, any context)."""

    def __init__(self, mapping: dict[str, cst.BaseExpression], not_refs: set[int]) -> None:
        self.mapping = mapping
        self.not_refs = not_refs

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if id(original) in self.not_refs:
            return updated
        return self.mapping.get(original.value, updated)


def rename(node: cst.CSTNode, mapping: dict[str, cst.BaseExpression]) -> cst.CSTNode:
    """`node` with variable references renamed per `mapping` (attributes/keywords untouched)."""
    positions = NamePositions()
    node.visit(positions)
    return node.visit(_Rename(mapping, positions.not_refs))


def code_of(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


def parse_stmt(code: str) -> cst.BaseStatement:
    return cst.parse_statement(code)


def parse_expr(code: str) -> cst.BaseExpression:
    return cst.parse_expression(code)


def bound_names(node: cst.CSTNode) -> set[str]:
    """Every name the function binds: parameters, assignment and loop targets, defs, imports."""
    out: set[str] = set()

    def targets(t: cst.BaseExpression) -> None:
        if isinstance(t, cst.Name):
            out.add(t.value)
        elif isinstance(t, (cst.Tuple, cst.List)):
            for el in t.elements:
                targets(el.value)
        elif isinstance(t, cst.StarredElement):
            targets(t.value)

    for n in iter_nodes(node):
        if isinstance(n, cst.Param):
            out.add(n.name.value)
        elif isinstance(n, (cst.AssignTarget, cst.AnnAssign, cst.AugAssign, cst.For, cst.CompFor)):
            targets(n.target)
        elif isinstance(n, cst.AsName):
            targets(n.name)  # type: ignore[arg-type]
        elif isinstance(n, cst.NamedExpr):
            targets(n.target)
        elif isinstance(n, (cst.FunctionDef, cst.ClassDef)):
            out.add(n.name.value)
        elif isinstance(n, cst.ImportAlias):
            out.add(_alias_binding(n))
        elif isinstance(n, cst.ExceptHandler) and n.name is not None:
            targets(n.name.name)  # type: ignore[arg-type]
    return out


def referenced_names(node: cst.CSTNode) -> set[str]:
    positions = NamePositions()
    node.visit(positions)
    return {
        n.value
        for n in iter_nodes(node)
        if isinstance(n, cst.Name) and id(n) not in positions.not_refs
    }


def _alias_binding(alias: cst.ImportAlias) -> str:
    if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
        return alias.asname.name.value
    return code_of(alias.name).split(".")[0]


def module_bindings(module: cst.Module) -> dict[str, str]:
    """Names the original binds at module level: name -> the import statement that binds it,
    or "" when it is bound otherwise (def, class, assignment, guarded or relative import)."""
    out: dict[str, str] = {}
    for stmt in module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Import):
                    for alias in small.names:
                        out[_alias_binding(alias)] = f"import {code_of(alias).strip().rstrip(',')}"
                elif isinstance(small, cst.ImportFrom) and not isinstance(
                    small.names, cst.ImportStar
                ):
                    relative = bool(small.relative)
                    mod = code_of(small.module) if small.module is not None else ""
                    for alias in small.names:
                        name = _alias_binding(alias)
                        if relative or not mod:
                            out[name] = ""
                        else:
                            out[name] = f"from {mod} import {code_of(alias).strip().rstrip(',')}"
                else:
                    for name in bound_names(small):
                        out.setdefault(name, "")
        elif isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
            out[stmt.name.value] = ""
        elif _is_main_guard(stmt):
            continue  # runs only as a script: nothing it binds exists when the file is imported
        else:  # if/try/with at module level: whatever they bind comes from the module itself
            for n in iter_nodes(stmt):
                if isinstance(n, (cst.FunctionDef, cst.ClassDef)):
                    out.setdefault(n.name.value, "")
            for name in bound_names(stmt):
                out[name] = ""
    return out


def _is_main_guard(stmt: cst.CSTNode) -> bool:
    """`if __name__ == "__main__":`."""
    if not isinstance(stmt, cst.If) or not isinstance(stmt.test, cst.Comparison):
        return False
    text = code_of(stmt.test).replace("'", '"').replace(" ", "")
    return text in ('__name__=="__main__"', '"__main__"==__name__')


def fresh_name(base: str, taken: set[str]) -> str:
    name = base
    while name in taken or keyword.iskeyword(name):
        name += "_"
    return name
