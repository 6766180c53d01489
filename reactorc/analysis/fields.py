"""State fields from the pipeline's parameters: a type, a default, bounds, choices and a
description for each parameter that is state; why each other one is not (RC201, RC202, RC204);
per-step sequences (RC206); a default that breaks its own guard (RC203)."""

from __future__ import annotations

from typing import Any

import libcst as cst

from reactorc.analysis import (
    bounds,
    docstrings,
    per_step,
    state,
)
from reactorc.analysis._cst import names_of
from reactorc.analysis.context import Run
from reactorc.analysis.index import FunctionInfo
from reactorc.analysis.loops import Candidate
from reactorc.plan import (
    NonStateParam,
    Param,
    PerStepSequence,
)


def fields_of(
    run: Run, fn: FunctionInfo, body: cst.CSTNode | None, best: Candidate
) -> tuple[list[Param], list[state.FieldDraft], list[NonStateParam], list[PerStepSequence]]:
    ctx = run.ctx
    index = run.index
    plist = state.params_of(fn.node, ctx, skip_self=fn.is_method)
    docs = docstrings.parse(fn.node.get_docstring(clean=True) or "")
    if fn.cls is not None and fn.name == "__call__" and not docs:
        docs = docstrings.parse(fn.cls.get_docstring(clean=True) or "")
    names = {p.name for p, _ in plist}
    guards = bounds.collect(fn.node.body, names, index.constants, ctx.line)
    steps = per_step.find(body, best.header.index_var, names, ctx) if body is not None else []
    step_names = {s.param for s in steps}
    iterated = names_of(best.header.iter_node).reads if best.header.iter_node is not None else set()
    fields: list[state.FieldDraft] = []
    non_state: list[NonStateParam] = []
    for param, node in plist:
        doc = docs.get(param.name)
        if param.kind in ("var_positional", "var_keyword"):
            star = "*" if param.kind == "var_positional" else "**"
            non_state.append(NonStateParam(param, f"{star}{param.name} is not a single value"))
            run.add(
                "RC204",
                node,
                f"`{star}{param.name}` is not state",
                "name the values the stream should change as parameters with defaults",
            )
            continue
        annotation = node.annotation.annotation if node.annotation else None
        info = state.type_of(annotation, node.default, doc, index)
        g = guards.get(param.name)
        if info.not_state == "" and info.type == "" and g is not None and g.isinstance_type:
            info = state.TypeInfo(g.isinstance_type)
        element = info.element or _doc_element(doc)
        if param.name in step_names and element in state.SCALARS:
            fields.append(
                state.FieldDraft(
                    name=param.name,
                    type=element,
                    default=None,
                    has_default=node.default is not None,
                    annotation=param.annotation,
                    default_code=param.default_code,
                    node=node,
                    description=doc.description if doc else "",
                    extras={"per_step": True},
                )
            )
            seq = next(s for s in steps if s.param == param.name)
            steps[steps.index(seq)] = PerStepSequence(
                seq.param, seq.element_field, seq.index_expr, seq.span, element
            )
            run.add(
                "RC206",
                node,
                f"`{param.name}` is read one element per step; it becomes a live field",
                f"clients send the current {param.name} value each step instead of a list",
            )
            continue
        choices = info.choices
        if g is not None and g.choices is not None and choices is None:
            choices = g.choices
            if (info.type in ("", "str", "int", "float") and not info.not_state) or (
                info.type == "" and info.not_state == "" and node.default is not None
            ):
                info = state.TypeInfo("choice", choices=choices)
        if not info.not_state and not info.type and param.name in iterated:
            info = state.TypeInfo("", not_state="the frame loop iterates over it: a sequence")
        if info.not_state or not info.type:
            reason = info.not_state or "it has no annotation, no literal default and no type"
            non_state.append(NonStateParam(param, reason))
            if info.not_state:
                run.add(
                    "RC201",
                    node,
                    f"parameter `{param.name}` is not state: {reason}",
                    "the wrapper passes it from load(); annotate it int/float/str/bool "
                    "if clients should change it",
                )
            else:
                run.add(
                    "RC202",
                    node,
                    f"type of parameter `{param.name}` is unknown: {reason}",
                    "annotate it int, float, str or bool and give it a default to make it state",
                )
            continue
        default, has_default = state.default_value(node.default, info, index)
        draft = state.FieldDraft(
            name=param.name,
            type=info.type,
            default=default,
            has_default=has_default,
            annotation=param.annotation,
            default_code=param.default_code,
            node=node,
            choices=choices,
            enum=info.enum,
            description=doc.description if doc else "",
        )
        if g is not None:
            value_type = _value_type(info, default)
            ge, le = bounds.resolve(g, value_type)
            if info.type in ("int", "float"):
                draft.extras["ge"], draft.extras["le"] = ge, le
            if g.min_length is not None:
                draft.extras["min_length"] = g.min_length
            if g.max_length is not None:
                draft.extras["max_length"] = g.max_length
            _check_default(run, draft, node)
        fields.append(draft)
    kept_steps = [s for s in steps if any(f.name == s.param for f in fields)]
    return [p for p, _ in plist], fields, non_state, kept_steps


def _value_type(info: state.TypeInfo, default: Any) -> str:
    if info.type != "choice":
        return info.type
    return type(default).__name__ if default is not None else "str"


def _doc_element(doc: docstrings.ParamDoc | None) -> str:
    if doc is None or not doc.type:
        return ""
    words = doc.type.replace(",", " ").split()
    for w in words[1:]:
        if w in state.SCALARS:
            return w
    return ""


def _check_default(run: Run, f: state.FieldDraft, node: cst.Param) -> None:
    v = f.default
    if not f.has_default or v is None:
        return
    problems = []
    ge, le = f.extras.get("ge"), f.extras.get("le")
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if ge is not None and v < ge:
            problems.append(f"below its lower bound {ge}")
        if le is not None and v > le:
            problems.append(f"above its upper bound {le}")
    if f.choices is not None and v not in f.choices:
        problems.append(f"not one of {list(f.choices)}")
    if problems:
        run.add(
            "RC203",
            node.default if node.default is not None else node,
            f"default {v!r} of `{f.name}` is {' and '.join(problems)}",
            "fix the default or the guard; the wrapper would reject its own default",
        )
