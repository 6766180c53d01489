"""Small read-only helpers over libcst nodes shared by the analysis modules."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst.metadata import CodeRange, PositionProvider

from reactorc.parse import Source
from reactorc.plan import Span

LOOPS = (cst.For, cst.While)
SCOPES = (cst.FunctionDef, cst.ClassDef, cst.Lambda)
_MISSING = object()


class TooDeep(Exception):
    """The tree is nested deeper than libcst's recursive passes can follow."""


@dataclass(frozen=True)
class Ctx:
    """What every analysis module needs: the parsed source, node positions, parent links and
    the import aliases that give callees their qualified names.

    Parents and qualified names are computed here in one walk rather than by libcst's
    ParentNodeProvider/QualifiedNameProvider: those cost about 0.8 s on a 1,500-line file,
    the walk about 0.1 s, and analysis needs only import-level qualification."""

    source: Source
    positions: Any
    parents: dict[cst.CSTNode, cst.CSTNode]
    aliases: dict[str, str]

    @classmethod
    def of(cls, source: Source) -> Ctx:
        try:
            positions = source.wrapper.resolve(PositionProvider)
        except KeyError as exc:
            # libcst swallows a RecursionError deep in codegen and fails on a missing position
            raise TooDeep("positions could not be computed") from exc
        parents: dict[cst.CSTNode, cst.CSTNode] = {}
        aliases: dict[str, str] = {}
        kids: dict[int, tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] = {}
        stack: list[cst.CSTNode] = [source.module]
        while stack:
            node = stack.pop()
            children = tuple(node.children)
            kids[id(node)] = (node, children)
            for child in children:
                parents[child] = node
            stack.extend(children)
            if isinstance(node, (cst.Import, cst.ImportFrom)):
                _record_aliases(node, aliases)
        _CHILDREN.set(kids)
        return cls(source, positions, parents, aliases)

    @property
    def path(self) -> str:
        return self.source.path

    def code(self, node: cst.CSTNode) -> str:
        """The source code of `node`, without its leading/trailing blank lines and comments."""
        return self.source.module.code_for_node(node).strip()

    def expr(self, node: cst.BaseExpression) -> str:
        return self.source.module.code_for_node(node).strip()

    def range(self, node: cst.CSTNode) -> CodeRange:
        return self.positions[node]

    def span(self, node: cst.CSTNode) -> Span:
        r = self.positions[node]
        return Span(r.start.line, r.start.column, r.end.line, r.end.column)

    def line(self, node: cst.CSTNode) -> int:
        return self.positions[node].start.line

    def col1(self, node: cst.CSTNode) -> int:
        """1-based column, as diagnostics show it."""
        return self.positions[node].start.column + 1

    def qualname(self, node: cst.CSTNode) -> str:
        """`np.stack` -> `numpy.stack` after `import numpy as np`; "" when not a dotted name."""
        d = dotted(node)
        if not d:
            return ""
        head, _, rest = d.partition(".")
        full = self.aliases.get(head)
        if full is None:
            return d
        return f"{full}.{rest}" if rest else full

    def call_names(self, call: cst.Call) -> set[str]:
        """Every name the callee may be known by: its dotted code and its qualified names
        (`from tqdm import tqdm; tqdm(...)` gives both `tqdm` and `tqdm.tqdm`)."""
        d = dotted(call.func)
        return {d, self.qualname(call.func)} - {""}


def dotted(node: cst.CSTNode) -> str:
    """`a.b.c` for Name/Attribute chains (calls in the chain are skipped: `a().b` -> `a.b`)."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr.value}" if base else ""
    if isinstance(node, cst.Call):
        return dotted(node.func)
    return ""


def last_name(node: cst.CSTNode) -> str:
    """The final identifier of a callee: `cv2.imwrite` -> `imwrite`, `self.vae.decode` -> `decode`."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    if isinstance(node, cst.Call):
        return last_name(node.func)
    return ""


_CHILDREN: ContextVar[dict[int, tuple[cst.CSTNode, tuple[cst.CSTNode, ...]]] | None] = ContextVar(
    "reactorc_children", default=None
)
"""Children of every node of the tree being analysed, computed once by `Ctx.of`: libcst's
`node.children` runs a visitor on each access, which dominated analysis time."""


def children_of(node: cst.CSTNode) -> tuple[cst.CSTNode, ...]:
    cache = _CHILDREN.get()
    entry = cache.get(id(node)) if cache is not None else None
    if entry is not None and entry[0] is node:
        return entry[1]
    return tuple(node.children)


def iter_nodes(node: cst.CSTNode, *, into_scopes: bool = False) -> Iterator[cst.CSTNode]:
    """Every node below `node` (itself included), not entering nested defs/classes/lambdas."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        if n is not node and not into_scopes and isinstance(n, SCOPES):
            continue
        stack.extend(reversed(children_of(n)))


def iter_calls(node: cst.CSTNode) -> Iterator[cst.Call]:
    for n in iter_nodes(node):
        if isinstance(n, cst.Call):
            yield n


def own_statements(body: cst.BaseSuite) -> Iterator[cst.CSTNode]:
    """Statements of a block and of the if/with/try blocks in it, not entering loops or defs:
    what one iteration of the enclosing loop runs at its own level."""
    for stmt in block(body):
        yield stmt
        if isinstance(stmt, cst.If):
            yield from own_statements(stmt.body)
            orelse = stmt.orelse
            while orelse is not None:
                yield from own_statements(orelse.body)
                orelse = orelse.orelse if isinstance(orelse, cst.If) else None
        elif isinstance(stmt, cst.With):
            yield from own_statements(stmt.body)
        elif isinstance(stmt, cst.Try):
            yield from own_statements(stmt.body)
            for h in stmt.handlers:
                yield from own_statements(h.body)
            if stmt.orelse:
                yield from own_statements(stmt.orelse.body)
            if stmt.finalbody:
                yield from own_statements(stmt.finalbody.body)


def block(body: cst.BaseSuite) -> list[cst.CSTNode]:
    """The statements of a suite; small statements of a simple line are listed one by one."""
    if isinstance(body, cst.IndentedBlock):
        out: list[cst.CSTNode] = []
        for stmt in body.body:
            if isinstance(stmt, cst.SimpleStatementLine):
                out.extend(stmt.body)
            else:
                out.append(stmt)
        return out
    if isinstance(body, cst.SimpleStatementSuite):
        return list(body.body)
    return []


class _Names:
    """Names read and bound by a piece of code (a good approximation of Python's scoping)."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.binds: set[str] = set()
        self.mutates: set[str] = set()


def names_of(node: cst.CSTNode) -> _Names:
    """Reads, binds and mutations (`x[i] = ...`, `x.append(...)`, `x += ...`) in `node`."""
    out = _Names()
    _collect(node, out, top=True)
    return out


_MUTATORS = {"append", "extend", "insert", "add", "update", "add_", "copy_", "fill_", "zero_"}


def _collect(node: cst.CSTNode, out: _Names, *, top: bool = False) -> None:
    if isinstance(node, cst.Name):
        out.reads.add(node.value)
        return
    if isinstance(node, cst.Attribute):
        if isinstance(node.value, cst.Name) and node.value.value == "self":
            out.reads.add(f"self.{node.attr.value}")
        _collect(node.value, out)
        return
    if isinstance(node, (cst.FunctionDef, cst.ClassDef)) and not top:
        out.binds.add(node.name.value)
        for d in node.decorators:
            _collect(d, out)
        return
    if isinstance(node, cst.Lambda) and not top:
        inner = _Names()
        _collect(node.body, inner)
        params = {p.name.value for p in node.params.params}
        out.reads |= inner.reads - params
        return
    if isinstance(node, (cst.ListComp, cst.SetComp, cst.GeneratorExp, cst.DictComp)):
        inner = _Names()
        bound: set[str] = set()
        f = node.for_in
        while f is not None:
            _collect(f.iter, inner)
            bound |= _target_names(f.target)
            for cond in f.ifs:
                _collect(cond, inner)
            f = f.inner_for_in
        if isinstance(node, cst.DictComp):
            _collect(node.key, inner)
            _collect(node.value, inner)
        else:
            _collect(node.elt, inner)
        out.reads |= inner.reads - bound
        return
    if isinstance(node, cst.Assign):
        for t in node.targets:
            _bind_target(t.target, out)
        _collect(node.value, out)
        return
    if isinstance(node, cst.AnnAssign):
        _bind_target(node.target, out)
        if node.value is not None:
            _collect(node.value, out)
        return
    if isinstance(node, cst.AugAssign):
        _collect(node.target, out)
        _bind_target(node.target, out)
        out.mutates |= _target_names(node.target) | _base_names(node.target)
        _collect(node.value, out)
        return
    if isinstance(node, (cst.For,)):
        _bind_target(node.target, out)
        _collect(node.iter, out)
        _collect(node.body, out)
        if node.orelse:
            _collect(node.orelse, out)
        return
    if isinstance(node, cst.WithItem):
        _collect(node.item, out)
        if node.asname is not None:
            _bind_target(node.asname.name, out)
        return
    if isinstance(node, cst.NamedExpr):
        _bind_target(node.target, out)
        _collect(node.value, out)
        return
    if isinstance(node, (cst.Import, cst.ImportFrom)):
        for alias in node.names if not isinstance(node.names, cst.ImportStar) else ():
            name = alias.asname.name if alias.asname else alias.name
            out.binds.add(dotted(name).split(".")[0])
        return
    if isinstance(node, cst.Call):
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in _MUTATORS:
            out.mutates |= _base_names(node.func.value)
            if key_of(node.func.value).startswith("self."):
                out.mutates.add(key_of(node.func.value))
        _collect(node.func, out)
        for a in node.args:
            _collect(a.value, out)
        return
    if isinstance(node, cst.Arg):
        _collect(node.value, out)
        return
    if isinstance(node, cst.Param):
        return
    for child in children_of(node):
        _collect(child, out)


def _bind_target(target: cst.CSTNode, out: _Names) -> None:
    if isinstance(target, cst.Name):
        out.binds.add(target.value)
    elif isinstance(target, (cst.Tuple, cst.List)):
        for el in target.elements:
            _bind_target(el.value, out)
    elif isinstance(target, cst.StarredElement):
        _bind_target(target.value, out)
    elif isinstance(target, cst.Subscript):
        _collect(target, out)
        out.mutates |= _base_names(target)
        if key_of(target).startswith("self."):
            out.mutates.add(key_of(target))
    elif isinstance(target, cst.Attribute):
        _collect(target.value, out)
        out.mutates |= _base_names(target)
        if isinstance(target.value, cst.Name) and target.value.value == "self":
            out.binds.add(f"self.{target.attr.value}")
        elif key_of(target.value).startswith("self."):
            out.mutates.add(key_of(target.value))


def _target_names(target: cst.CSTNode) -> set[str]:
    if isinstance(target, cst.Name):
        return {target.value}
    if isinstance(target, (cst.Tuple, cst.List)):
        names: set[str] = set()
        for el in target.elements:
            names |= _target_names(el.value)
        return names
    if isinstance(target, cst.StarredElement):
        return _target_names(target.value)
    return set()


def _base_names(node: cst.CSTNode) -> set[str]:
    """The variable at the root of `x[i].y[j]` -> {"x"}."""
    while isinstance(node, (cst.Subscript, cst.Attribute, cst.Call)):
        node = node.value if not isinstance(node, cst.Call) else node.func
    return {node.value} if isinstance(node, cst.Name) else set()


def target_names(target: cst.CSTNode) -> set[str]:
    return _target_names(target)


def base_name(node: cst.CSTNode) -> str:
    names = _base_names(node)
    return next(iter(names)) if names else ""


def literal(node: cst.CSTNode | None, constants: dict[str, Any] | None = None) -> Any:
    """The Python value of a literal expression (numbers, strings, bools, None, tuples, lists,
    dicts, sets, unary minus), resolving module-level constants by name; `_MISSING` when it is
    not a literal."""
    if node is None:
        return _MISSING
    if isinstance(node, cst.Name):
        if node.value in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[node.value]
        if constants is not None and node.value in constants:
            return constants[node.value]
        return _MISSING
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString)):
        try:
            return ast.literal_eval(node.value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return _MISSING
    if isinstance(node, cst.ConcatenatedString):
        left, right = literal(node.left, constants), literal(node.right, constants)
        if isinstance(left, str) and isinstance(right, str):
            return left + right
        return _MISSING
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        v = literal(node.expression, constants)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return -v if isinstance(node.operator, cst.Minus) else v
        return _MISSING
    if isinstance(node, (cst.Tuple, cst.List, cst.Set)):
        values = []
        for el in node.elements:
            if isinstance(el, cst.StarredElement):
                return _MISSING
            v = literal(el.value, constants)
            if v is _MISSING:
                return _MISSING
            values.append(v)
        return tuple(values) if isinstance(node, cst.Tuple) else values
    if isinstance(node, cst.Dict):
        d = {}
        for el in node.elements:
            if not isinstance(el, cst.DictElement):
                return _MISSING
            k, v = literal(el.key, constants), literal(el.value, constants)
            if k is _MISSING or v is _MISSING or isinstance(k, (list, dict)):
                return _MISSING
            d[k] = v
        return d
    return _MISSING


def is_missing(value: Any) -> bool:
    return value is _MISSING


MISSING = _MISSING


def param_list(fn: cst.FunctionDef) -> list[tuple[cst.Param, str]]:
    """All parameters of `fn` in order with their kind."""
    p = fn.params
    out: list[tuple[cst.Param, str]] = [(x, "positional") for x in p.posonly_params]
    out += [(x, "positional") for x in p.params]
    if isinstance(p.star_arg, cst.Param):
        out.append((p.star_arg, "var_positional"))
    out += [(x, "keyword") for x in p.kwonly_params]
    if p.star_kwarg is not None:
        out.append((p.star_kwarg, "var_keyword"))
    return out


def contains_yield(fn: cst.FunctionDef) -> bool:
    return any(isinstance(n, cst.Yield) for n in iter_nodes(fn.body))


def _record_aliases(node: cst.Import | cst.ImportFrom, aliases: dict[str, str]) -> None:
    if isinstance(node.names, cst.ImportStar):
        return
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted(alias.name)
            local = dotted(alias.asname.name) if alias.asname else full.split(".")[0]
            aliases.setdefault(local, full if alias.asname else local)
        return
    module = "" if node.relative or node.module is None else dotted(node.module)
    for alias in node.names:
        name = dotted(alias.name)
        local = dotted(alias.asname.name) if alias.asname else name
        aliases.setdefault(local, f"{module}.{name}" if module else name)


def key_of(node: cst.CSTNode) -> str:
    """The variable a value lives in, as dependency tracking names it: `x` for `x[i].y`,
    `self.cache` for `self.cache.k[0]` (attributes of `self` are told apart)."""
    chain: list[cst.CSTNode] = []
    while isinstance(node, (cst.Subscript, cst.Attribute, cst.Call)):
        chain.append(node)
        node = node.value if not isinstance(node, cst.Call) else node.func
    if not isinstance(node, cst.Name):
        return ""
    if node.value == "self":
        for n in reversed(chain):
            if isinstance(n, cst.Attribute):
                return f"self.{n.attr.value}"
            break
    return node.value


def words(identifier: str) -> set[str]:
    """The lower-case words of an identifier or expression (`all_rgbs` -> {all, rgbs},
    `noiseLevel` -> {noise, level}), for matching names against word lists."""
    parts = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+", identifier)
    return {p.lower() for p in parts}
