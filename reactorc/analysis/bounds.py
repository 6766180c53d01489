"""Bounds and choices from the guards researchers write at the top of a pipeline:
`assert lo <= x <= hi`, `assert x in (...)`, `if not 0 < x <= 1: raise ...`,
`if x < 0 or x > 1: raise ...`, `if mode not in MODES: raise ...`, `assert len(p) <= 77`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from reactorc.analysis._cst import block, dotted, is_missing, literal, own_statements

_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "in": "not in", "not in": "in"}


@dataclass
class Guards:
    """What the guards say about one parameter."""

    lower: list[tuple[float, bool]] = field(default_factory=list)
    """(value, strict) lower bounds."""
    upper: list[tuple[float, bool]] = field(default_factory=list)
    choices: list[Any] | None = None
    min_length: int | None = None
    max_length: int | None = None
    isinstance_type: str = ""
    lines: list[int] = field(default_factory=list)


def collect(
    body: cst.BaseSuite, params: set[str], constants: dict[str, Any], line_of: Any
) -> dict[str, Guards]:
    """Guards on `params` among the statements of a function body (not inside loops)."""
    found: dict[str, Guards] = {}
    for stmt in own_statements(body):
        if isinstance(stmt, cst.Assert):
            facts = _facts(stmt.test, True, params, constants)
        elif isinstance(stmt, cst.If) and _raises(stmt.body):
            facts = _facts(stmt.test, False, params, constants)
        else:
            continue
        for name, op, value in facts:
            g = found.setdefault(name, Guards())
            g.lines.append(line_of(stmt))
            _apply(g, op, value)
    return found


def _raises(body: cst.BaseSuite) -> bool:
    """The block raises at its own level (`if bad: raise ...`, with or without other
    statements, nested blocks of any kind included)."""
    return any(isinstance(s, cst.Raise) for s in block(body))


def _apply(g: Guards, op: str, value: Any) -> None:
    if op in (">", ">="):
        g.lower.append((value, op == ">"))
    elif op in ("<", "<="):
        g.upper.append((value, op == "<"))
    elif op == "in":
        g.choices = list(value)
    elif op == "len>=":
        g.min_length = max(g.min_length or 0, value)
    elif op == "len<=":
        g.max_length = value if g.max_length is None else min(g.max_length, value)
    elif op == "isinstance":
        g.isinstance_type = value


def _facts(
    expr: cst.BaseExpression, holds: bool, params: set[str], constants: dict[str, Any]
) -> list[tuple[str, str, Any]]:
    """(param, op, value) facts that are true when `expr` evaluates to `holds`."""
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
        return _facts(expr.expression, not holds, params, constants)
    if isinstance(expr, cst.BooleanOperation):
        both = (isinstance(expr.operator, cst.And) and holds) or (
            isinstance(expr.operator, cst.Or) and not holds
        )
        if both:
            return _facts(expr.left, holds, params, constants) + _facts(
                expr.right, holds, params, constants
            )
        return []
    if isinstance(expr, cst.Call) and holds and dotted(expr.func) == "isinstance":
        args = [a.value for a in expr.args]
        if len(args) == 2 and isinstance(args[0], cst.Name) and args[0].value in params:
            t = dotted(args[1])
            if t in ("int", "float", "str", "bool"):
                return [(args[0].value, "isinstance", t)]
        return []
    if not isinstance(expr, cst.Comparison):
        return []
    operands = [expr.left] + [t.comparator for t in expr.comparisons]
    ops = [_op(t.operator) for t in expr.comparisons]
    if not holds and len(ops) != 1:
        return []
    out: list[tuple[str, str, Any]] = []
    for i, op in enumerate(ops):
        if op is None:
            continue
        if not holds:
            op = _NEGATE.get(op)
            if op is None:
                continue
        out.extend(_pair(operands[i], op, operands[i + 1], params, constants))
    return out


def _pair(
    a: cst.BaseExpression,
    op: str,
    b: cst.BaseExpression,
    params: set[str],
    constants: dict[str, Any],
) -> list[tuple[str, str, Any]]:
    if op in ("in", "not in"):
        if op == "in" and isinstance(a, cst.Name) and a.value in params:
            value = literal(b, constants)
            if isinstance(value, (list, tuple, set, dict)) and value:
                return [(a.value, "in", list(value))]
        return []
    length_a, length_b = _len_of(a, params), _len_of(b, params)
    va, vb = _number(a, constants), _number(b, constants)
    if isinstance(a, cst.Name) and a.value in params and vb is not None:
        return [(a.value, op, vb)]
    if isinstance(b, cst.Name) and b.value in params and va is not None:
        return [(b.value, _FLIP[op], va)]
    if length_a and vb is not None:
        return _length(length_a, op, vb)
    if length_b and va is not None:
        return _length(length_b, _FLIP[op], va)
    return []


def _length(name: str, op: str, value: float) -> list[tuple[str, str, Any]]:
    n = int(value)
    if op == "<":
        return [(name, "len<=", n - 1)]
    if op == "<=":
        return [(name, "len<=", n)]
    if op == ">":
        return [(name, "len>=", n + 1)]
    return [(name, "len>=", n)]


def _len_of(node: cst.BaseExpression, params: set[str]) -> str:
    if (
        isinstance(node, cst.Call)
        and dotted(node.func) == "len"
        and len(node.args) == 1
        and isinstance(node.args[0].value, cst.Name)
        and node.args[0].value.value in params
    ):
        return node.args[0].value.value
    return ""


def _number(node: cst.BaseExpression, constants: dict[str, Any]) -> float | None:
    v = literal(node, constants)
    if is_missing(v) or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return v


def _op(op: cst.BaseCompOp) -> str | None:
    return {
        cst.LessThan: "<",
        cst.LessThanEqual: "<=",
        cst.GreaterThan: ">",
        cst.GreaterThanEqual: ">=",
        cst.In: "in",
        cst.NotIn: "not in",
    }.get(type(op))


def resolve(g: Guards, type_: str) -> tuple[Any, Any]:
    """(ge, le) for a field of `type_`: the tightest bounds; strict bounds on ints move by one,
    on floats they are kept as inclusive limits (InputField has only ge/le)."""
    ge = le = None
    for value, strict in g.lower:
        v = int(value) + 1 if strict and type_ == "int" and float(value).is_integer() else value
        v = _as_type(v, type_)
        ge = v if ge is None else max(ge, v)
    for value, strict in g.upper:
        v = int(value) - 1 if strict and type_ == "int" and float(value).is_integer() else value
        v = _as_type(v, type_)
        le = v if le is None else min(le, v)
    return ge, le


def _as_type(v: Any, type_: str) -> Any:
    if type_ == "float":
        return float(v)
    if type_ == "int" and float(v).is_integer():
        return int(v)
    return v
