"""State fields from the pipeline's parameters: type from the annotation (else the default,
else the docstring), choices from Literal/Enum; what is not plain data is reported as such."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import libcst as cst

from reactorc.analysis._cst import Ctx, dotted, is_missing, literal, param_list
from reactorc.analysis.docstrings import ParamDoc
from reactorc.analysis.index import ModuleIndex
from reactorc.plan import Param

SCALARS = ("bool", "int", "float", "str")
_TENSORS = ("Tensor", "ndarray", "Image", "FloatTensor", "LongTensor", "array", "Array")
_MODELS = ("Module", "Model", "Pipeline", "PreTrainedModel", "Scheduler", "Tokenizer")
_CALLABLES = ("Callable", "callable", "Function")
_COLLECTIONS = ("list", "List", "tuple", "Tuple", "Sequence", "dict", "Dict", "Mapping", "set")


@dataclass
class FieldDraft:
    """A parameter on its way to becoming a StateField (bounds and liveness come later)."""

    name: str
    type: str
    default: Any
    has_default: bool
    annotation: str
    default_code: str
    node: cst.Param
    choices: list[Any] | None = None
    enum: str = ""
    description: str = ""
    extras: dict[str, Any] = field(default_factory=dict)
    param: str = ""
    """The parameter it stands for when that is named otherwise (`text_prompts` -> `prompt`)."""
    how: str = ""
    """How the type was found when the parameter does not say (usage, name)."""
    source: str = "default"


@dataclass(frozen=True)
class TypeInfo:
    type: str
    choices: list[Any] | None = None
    enum: str = ""
    element: str = ""
    """For sequences: the element's scalar type ("" when unknown or not a sequence)."""
    not_state: str = ""
    """Why this is not state ("" when it is)."""


def params_of(fn: cst.FunctionDef, ctx: Ctx, skip_self: bool) -> list[tuple[Param, cst.Param]]:
    out = []
    for i, (p, kind) in enumerate(param_list(fn)):
        if skip_self and i == 0 and kind == "positional":
            continue
        out.append(
            (
                Param(
                    name=p.name.value,
                    annotation=ctx.expr(p.annotation.annotation) if p.annotation else "",
                    default_code=ctx.expr(p.default) if p.default is not None else "",
                    kind=kind,  # type: ignore[arg-type]
                    span=ctx.span(p),
                ),
                p,
            )
        )
    return out


def type_of(
    annotation: cst.BaseExpression | None,
    default: cst.BaseExpression | None,
    doc: ParamDoc | None,
    index: ModuleIndex,
) -> TypeInfo:
    """The field type a parameter gets, or why it is not state."""
    if annotation is not None:
        return _from_annotation(annotation, index)
    if default is not None:
        value = literal(default, index.constants)
        if not is_missing(value) and value is not None:
            if isinstance(value, bool):
                return TypeInfo("bool")
            for t in (int, float, str):
                if isinstance(value, t):
                    return TypeInfo(t.__name__)
            if isinstance(value, (list, tuple)):
                return TypeInfo("", element=_element_type(value), not_state="a list of values")
            return TypeInfo("", not_state=f"its default is a {type(value).__name__}")
        enum = _enum_default(default, index)
        if enum:
            return _enum_info(enum, index)
        if value is None and not is_missing(value) and doc and doc.type:
            return _from_doc(doc.type, index)
        if is_missing(value):
            return TypeInfo("", not_state="its default is computed, not plain data")
    if doc and doc.type:
        return _from_doc(doc.type, index)
    return TypeInfo("", not_state="")


def _from_doc(text: str, index: ModuleIndex) -> TypeInfo:
    """The type a docstring gives: `int, optional`, `str or None`, or diffusers' form with
    backticks and `*optional*` (the first alternative counts)."""
    clean = text.replace("`", "").replace("*", "")
    first = clean.split(",")[0].split(" or ")[0].strip()
    first = first.replace("optional", "").strip()
    if first in SCALARS:
        return TypeInfo(first)
    try:
        node = cst.parse_expression(first)
    except (cst.ParserSyntaxError, ValueError, RecursionError):
        return TypeInfo("", not_state=f"its documented type `{text}` is not plain data")
    return _from_annotation(node, index)


def _from_annotation(node: cst.BaseExpression, index: ModuleIndex) -> TypeInfo:
    if isinstance(node, cst.SimpleString):
        value = literal(node)
        if isinstance(value, str):
            try:
                return _from_annotation(cst.parse_expression(value), index)
            except (cst.ParserSyntaxError, ValueError, RecursionError):
                return TypeInfo("", not_state=f"annotation {value!r} is not a type")
    name = dotted(node)
    last = name.rsplit(".", 1)[-1]
    if name in SCALARS:
        return TypeInfo(name)
    if name in index.enums or last in index.enums:
        return _enum_info(name if name in index.enums else last, index)
    # X | None
    if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
        parts = [p for p in (node.left, node.right) if dotted(p) != "None"]
        if len(parts) == 1:
            return _from_annotation(parts[0], index)
        return TypeInfo("", not_state="a union of types is not one field type")
    if isinstance(node, cst.Subscript):
        head = dotted(node.value).rsplit(".", 1)[-1]
        args = [el.slice.value for el in node.slice if isinstance(el.slice, cst.Index)]
        if head == "Optional" and len(args) == 1:
            return _from_annotation(args[0], index)
        if head == "Union":
            rest = [a for a in args if dotted(a) != "None"]
            if len(rest) == 1:
                return _from_annotation(rest[0], index)
            return TypeInfo("", not_state="a union of types is not one field type")
        if head == "Literal":
            values = [literal(a, index.constants) for a in args]
            if values and not any(is_missing(v) for v in values):
                return TypeInfo("choice", choices=values)
            return TypeInfo("", not_state="a Literal of non-literal values")
        if head == "Annotated" and args:
            return _from_annotation(args[0], index)
        if head in _COLLECTIONS:
            element = ""
            if args:
                inner = _from_annotation(args[0], index)
                element = inner.type if not inner.not_state else ""
            return TypeInfo("", element=element, not_state=f"`{head}[...]` is a collection")
    if last in _TENSORS or "Tensor" in last:
        return TypeInfo("", not_state="a tensor/array is not client state")
    if last in _MODELS or last.endswith(("Module", "Model", "Encoder", "Decoder")):
        return TypeInfo("", not_state="a model object is not client state")
    if last in _CALLABLES or (isinstance(node, cst.Subscript) and "Callable" in dotted(node.value)):
        return TypeInfo("", not_state="a callable is not client state")
    if last in _COLLECTIONS:
        return TypeInfo("", not_state=f"`{last}` is a collection")
    if last in ("Any", "object"):
        return TypeInfo("", not_state=f"`{last}` says nothing about the value")
    return TypeInfo("", not_state=f"`{name or 'this annotation'}` is not plain data")


def _element_type(values: list[Any] | tuple[Any, ...]) -> str:
    types = {type(v).__name__ for v in values}
    if len(types) == 1 and next(iter(types)) in SCALARS:
        return next(iter(types))
    if types == {"int", "float"}:
        return "float"
    return ""


def _enum_default(default: cst.BaseExpression, index: ModuleIndex) -> str:
    if isinstance(default, cst.Attribute):
        owner = dotted(default.value)
        if owner in index.enums:
            return owner
    return ""


def _enum_info(name: str, index: ModuleIndex) -> TypeInfo:
    members = index.enums.get(name, {})
    values = list(members.values())
    if not values or any(v is None or isinstance(v, (list, dict)) for v in values):
        values = list(members)
    return TypeInfo("choice", choices=values, enum=name)


def default_value(
    default: cst.BaseExpression | None, info: TypeInfo, index: ModuleIndex
) -> tuple[Any, bool]:
    """(JSON default, has_default). Enum members become their value."""
    if default is None:
        return None, False
    if info.enum and isinstance(default, cst.Attribute):
        members = index.enums.get(info.enum, {})
        member = default.attr.value
        if member in members:
            value = members[member]
            return (member if value is None or info.choices == list(members) else value), True
    value = literal(default, index.constants)
    if is_missing(value):
        return None, True
    if isinstance(value, tuple):
        value = list(value)
    if info.type == "float" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    return value, True
