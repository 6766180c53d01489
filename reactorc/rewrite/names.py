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

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if node.module is not None:  # `from utils.params import f`: a module path, not a name
            for n in iter_nodes(node.module):
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


def star_import(module: cst.Module) -> bool:
    """The module imports `*` at its top level: names the file never binds may come from it."""
    return any(
        isinstance(small, cst.ImportFrom) and isinstance(small.names, cst.ImportStar)
        for stmt in module.body
        if isinstance(stmt, cst.SimpleStatementLine)
        for small in stmt.body
    )


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


def drop_dead_stores(block: cst.IndentedBlock) -> cst.IndentedBlock:
    """`fps = reader.fps` whose name nothing reads any more (it only fed a save the wrapper
    dropped): the assignment goes, its value stays as a statement when it calls something
    (what it does still happens). Nested functions' own statements are left alone."""
    while True:
        counts = _name_counts(block)
        lines = _outer_lines(block)
        stores: dict[str, int] = {}  # plain `name = ...` stores outside what they assign
        for line in lines:
            target = _single_target(line)
            if target is not None and target not in _name_counts(line.body[0].value):  # type: ignore[attr-defined]
                stores[target] = stores.get(target, 0) + 1
        dead = next(
            (
                line
                for line in lines
                if (target := _single_target(line)) is not None
                and (
                    counts.get(target, 0) == _name_counts(line).get(target, 0)
                    or counts.get(target, 0) == stores.get(target, 0)
                )
            ),
            None,
        )
        if dead is None:
            pair = next(
                (
                    (line, i)
                    for line in _outer_lines(block)
                    for i, name in enumerate(_pair_targets(line))
                    if name and counts.get(name, 0) == _name_counts(line).get(name, 0)
                ),
                None,
            )
            if pair is None:
                return block
            block = block.visit(_ReplaceNode(pair[0], _without_pair(pair[0], pair[1])))  # type: ignore[assignment]
            continue
        small = dead.body[0]
        value = small.value  # type: ignore[attr-defined]
        calls = value is not None and any(
            isinstance(n, (cst.Call, cst.Await, cst.Yield)) for n in iter_nodes(value)
        )
        kept: cst.BaseSmallStatement = cst.Expr(value) if calls else cst.Pass()
        replacement: cst.CSTNode | cst.RemovalSentinel = (
            dead.with_changes(body=[kept])
            if calls or isinstance(dead, cst.SimpleStatementSuite)
            else cst.RemoveFromParent()
        )
        block = block.visit(_ReplaceNode(dead, replacement))  # type: ignore[assignment]
        block = block.visit(_NoEmptyBlocks())  # type: ignore[assignment]


def _name_counts(node: cst.CSTNode) -> dict[str, int]:
    positions = NamePositions()
    node.visit(positions)
    out: dict[str, int] = {}
    for n in iter_nodes(node):
        if isinstance(n, cst.Name) and id(n) not in positions.not_refs:
            out[n.value] = out.get(n.value, 0) + 1
    return out


Line = cst.SimpleStatementLine | cst.SimpleStatementSuite


def _outer_lines(block: cst.CSTNode) -> list[Line]:
    out: list[Line] = []
    stack: list[cst.CSTNode] = [block]
    while stack:
        node = stack.pop()
        if isinstance(node, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            continue
        if isinstance(node, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            out.append(node)
            continue
        stack.extend(node.children)
    return out


def _single_target(line: Line) -> str | None:
    if len(line.body) != 1:
        return None
    small = line.body[0]
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
    elif isinstance(small, cst.AnnAssign) and small.value is not None:
        target = small.target
    else:
        return None
    return target.value if isinstance(target, cst.Name) else None


def _pair_targets(line: Line) -> list[str]:
    """`a, b = [], []`: the target names, one per value (names of values that call nothing);
    [] for any other statement."""
    if len(line.body) != 1 or not isinstance(line.body[0], cst.Assign):
        return []
    small = line.body[0]
    if len(small.targets) != 1:
        return []
    target, value = small.targets[0].target, small.value
    if not isinstance(target, (cst.Tuple, cst.List)) or not isinstance(
        value, (cst.Tuple, cst.List)
    ):
        return []
    if len(target.elements) != len(value.elements) or len(target.elements) < 2:
        return []
    out = []
    for t, v in zip(target.elements, value.elements, strict=True):
        plain = isinstance(t, cst.Element) and isinstance(t.value, cst.Name)
        pure = isinstance(v, cst.Element) and not any(
            isinstance(n, (cst.Call, cst.Await, cst.Yield)) for n in iter_nodes(v.value)
        )
        out.append(t.value.value if plain and pure else "")  # type: ignore[union-attr]
    return out


def _without_pair(line: Line, i: int) -> cst.CSTNode:
    small = line.body[0]
    assert isinstance(small, cst.Assign)
    target, value = small.targets[0].target, small.value
    assert isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List))
    targets = [e.value for k, e in enumerate(target.elements) if k != i]
    values = [e.value for k, e in enumerate(value.elements) if k != i]
    if len(targets) == 1:
        new_target: cst.BaseAssignTargetExpression = targets[0]  # type: ignore[assignment]
        new_value: cst.BaseExpression = values[0]
    else:
        new_target = cst.Tuple([cst.Element(t) for t in targets])
        new_value = cst.Tuple([cst.Element(v) for v in values])
    return line.with_changes(
        body=[small.with_changes(targets=[cst.AssignTarget(new_target)], value=new_value)]
    )


class _NoEmptyBlocks(cst.CSTTransformer):
    def leave_IndentedBlock(
        self, original: cst.IndentedBlock, updated: cst.IndentedBlock
    ) -> cst.IndentedBlock:
        if updated.body:
            return updated
        return updated.with_changes(body=[cst.SimpleStatementLine(body=[cst.Pass()])])


class _ReplaceNode(cst.CSTTransformer):
    def __init__(self, node: cst.CSTNode, by: cst.CSTNode | cst.RemovalSentinel) -> None:
        self.node = node
        self.by = by

    def on_leave(
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> cst.CSTNode | cst.RemovalSentinel:
        return self.by if original_node is self.node else updated_node


class _PlainFStrings(cst.CSTTransformer):
    def leave_FormattedString(
        self, original: cst.FormattedString, updated: cst.FormattedString
    ) -> cst.BaseExpression:
        if any(isinstance(p, cst.FormattedStringExpression) for p in updated.parts):
            return updated
        text = "".join(p.value for p in updated.parts if isinstance(p, cst.FormattedStringText))
        prefix = updated.prefix.lower().replace("f", "")
        text = text.replace("{{", "{").replace("}}", "}")
        return cst.SimpleString(f"{prefix}{updated.end}{text}{updated.end}")


def plain_fstrings(node: cst.CSTNode) -> cst.CSTNode:
    """`f"no placeholders"` -> `"no placeholders"` in code copied from the original, so the
    generated file passes `ruff check --select F` (F541) without changing a value."""
    return node.visit(_PlainFStrings())
