"""State fields from the pipeline's parameters: a type, a default, bounds, choices and a
description for each parameter that is state; why each other one is not (RC201, RC202, RC204);
per-step sequences (RC206); a default that breaks its own guard (RC203)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import libcst as cst

from reactorc.analysis import (
    bounds,
    docstrings,
    driver,
    options,
    per_step,
    state,
    usage,
)
from reactorc.analysis._cst import is_missing, iter_nodes, literal, names_of
from reactorc.analysis.context import Run
from reactorc.analysis.index import FunctionInfo
from reactorc.analysis.loops import Candidate
from reactorc.plan import (
    NonStateParam,
    Param,
    PerStepSequence,
)


@dataclass(frozen=True)
class Conversion:
    """A parameter whose value the wrapper builds from a field: a list of prompts from `prompt`
    (kind "prompt"), a noise tensor or a random generator from `seed` (kind "seed")."""

    param: str
    field: str
    kind: str
    annotation: str


@dataclass
class Fields:
    """What the parameters of the pipeline become."""

    params: list[Param]
    fields: list[state.FieldDraft]
    non_state: list[NonStateParam]
    steps: list[PerStepSequence]
    conversions: list[Conversion]
    nodes: dict[str, cst.Param]
    unknown: set[str]
    """Parameters nothing in the signature, the docstring or the body gives a type."""


def fields_of(run: Run, fn: FunctionInfo, body: cst.CSTNode | None, best: Candidate) -> Fields:
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
    iterated = iterated_names(best.header.iter_node)
    fields: list[state.FieldDraft] = []
    non_state: list[NonStateParam] = []
    conversions: list[Conversion] = []
    unknown: set[str] = set()
    bound_in_body = names_of(fn.node.body).binds
    taken = names | bound_in_body
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
        declared = run.hints.fields.get(param.name)
        if param.name in run.hints.bound and not declared:
            non_state.append(NonStateParam(param, "bound by the script's setup"))
            continue
        annotation = node.annotation.annotation if node.annotation else None
        info = state.type_of(annotation, node.default, doc, index)
        if declared:
            info = state.TypeInfo(declared)
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
        conversion = _conversion(param, fields, conversions, taken, iterated)
        if conversion is not None:
            conversions.append(conversion)
            if conversion.field not in {f.name for f in fields}:
                fields.append(_converted_field(conversion, node, doc))
            non_state.append(NonStateParam(param, _conversion_reason(conversion)))
            continue
        how = f"declared in {run.hints.sidecar or 'reactorc.yaml'}" if declared else ""
        if not info.type and _untyped(param, node) and param.name not in iterated:
            evidence = usage.type_from_usage(param.name, fn.node.body)
            typed = evidence.type if evidence is not None else usage.type_from_name(param.name)
            if typed and not _used_as_object(param.name, fn.node.body):
                how = evidence.how if evidence is not None else f"named `{param.name}`"
                info = state.TypeInfo(typed)
        if not info.type and best.header.kind == "step" and param is plist[0][0]:
            action = _action_type(param.annotation) if _is_action(param.name, fn.name) else ""
            if action:  # the step's action is the live control, whatever tensor holds it
                info = state.TypeInfo(action)
                how = "the action a step() takes"
        if not info.type and not info.not_state and _untyped(param, node):
            typed, from_driver = _driver_type(run, fn, param.name)
            if typed:
                info, how = state.TypeInfo(typed), from_driver
        if info.not_state or not info.type:
            reason = info.not_state or "it has no annotation, no literal default and no type"
            non_state.append(NonStateParam(param, reason))
            if not info.not_state:
                unknown.add(param.name)
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
            how=how,
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
    return Fields(
        params=[p for p, _ in plist],
        fields=fields,
        non_state=non_state,
        steps=kept_steps,
        conversions=conversions,
        nodes={p.name: n for p, n in plist},
        unknown=unknown,
    )


SEQUENCE_CALLS = frozenset({"enumerate", "zip", "reversed", "list", "iter", "sorted", "tuple"})


def iterated_names(node: cst.CSTNode | None) -> set[str]:
    """The names whose elements the loop header steps through: `poses` in `for p in poses`,
    `enumerate(poses[:n])`, `zip(a, b)`; not `noise` in `range(noise.shape[1])`, which counts."""
    if node is None:
        return set()
    if isinstance(node, cst.Name):
        return {node.value}
    if isinstance(node, (cst.Subscript, cst.Attribute)):
        return iterated_names(node.value)
    if isinstance(node, cst.Call):
        name = node.func.value if isinstance(node.func, cst.Name) else ""
        if name in SEQUENCE_CALLS:
            out: set[str] = set()
            for arg in node.args:
                if arg.keyword is None:
                    out |= iterated_names(arg.value)
            return out
        if isinstance(node.func, cst.Attribute) and node.func.attr.value in ("items", "values"):
            return iterated_names(node.func.value)
    return set()


ACTION_WORDS = frozenset({"act", "action", "actions", "a", "key", "keys", "move", "control", "cmd"})


def _is_action(name: str, method: str) -> bool:
    """The first argument of `step()`, or one named like an action: a client's control. The
    image a `__call__(x)` or `predict(image)` takes is an input, not a number to send."""
    return method == "step" or bool(usage.words(name) & ACTION_WORDS)


def _action_type(annotation: str) -> str:
    """An action held in a tensor or a union (`torch.LongTensor`, `Union[int, ndarray]`): the
    scalar a client sends for it ("" when nothing says it is a number)."""
    text = annotation.replace(" ", "")
    if not text:
        return ""
    if any(w in text for w in ("LongTensor", "IntTensor", "int")):
        return "int"
    if any(w in text for w in ("FloatTensor", "float", "Tensor", "ndarray")):
        return "float"
    return ""


def _driver_type(run: Run, fn: FunctionInfo, name: str) -> tuple[str, str]:
    """The type of what the file's driver passes for `name` (a literal, or a command-line option
    with a type): (type, how) or ("", "")."""
    sites = driver.find_call_sites(fn, run.index, run.ctx)
    if not sites or name not in sites[0].bound or name in usage.NOT_KNOBS:
        return "", ""
    expr = sites[0].bound[name]
    value = literal(expr)
    if not is_missing(value) and value is not None and not isinstance(value, (list, tuple, dict)):
        return type(value).__name__, f"{sites[0].origin} passes `{run.ctx.expr(expr)}`"
    if isinstance(expr, cst.Name):
        declared = options.find_options(run.ctx)
        for scope_param in (expr.value,):
            opt = declared.get(scope_param)
            if opt is not None and opt.type in state.SCALARS and not opt.is_path:
                return opt.type, f"{sites[0].origin} passes the `--{opt.dest}` option"
    if isinstance(expr, cst.Attribute):
        opt = options.find_options(run.ctx).get(expr.attr.value)
        if opt is not None and opt.type in state.SCALARS and not opt.is_path:
            return opt.type, f"{sites[0].origin} passes the `--{opt.dest}` option"
    return "", ""


def _untyped(param: Param, node: cst.Param) -> bool:
    """Nothing in the signature says what the parameter is: no annotation, and no default or a
    `None` default."""
    if param.annotation:
        return False
    default = node.default
    return default is None or (isinstance(default, cst.Name) and default.value == "None")


OBJECT_ATTRIBUTES_OK = usage.STR_METHODS


def _used_as_object(name: str, body: cst.CSTNode) -> bool:
    """Called, or an attribute other than a string method read (`x.shape`, `x.to(...)`),
    or subscripted: an object, not a number or a text."""
    for node in iter_nodes(body):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == name
        ):
            return True
        if (
            isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
            and node.attr.value not in OBJECT_ATTRIBUTES_OK
        ):
            return True
        if (
            isinstance(node, cst.Subscript)
            and isinstance(node.value, cst.Name)
            and node.value.value == name
        ):
            return True
    return False


def _conversion(
    param: Param,
    fields: list[state.FieldDraft],
    conversions: list[Conversion],
    taken: set[str],
    iterated: set[str],
) -> Conversion | None:
    """A list of prompts -> the `prompt` field; a noise tensor or a generator -> `seed`."""
    if param.name in iterated:
        return None
    if usage.is_prompt_list(param.name, param.annotation):
        name = "prompt" if "prompt" not in taken - {param.name} else param.name
        if name == param.name or any(c.field == name for c in conversions):
            return None
        return Conversion(param.name, name, "prompt", param.annotation)
    if usage.is_noise(param.name, param.annotation) or usage.is_generator(
        param.name, param.annotation
    ):
        seed_field = next((f.name for f in fields if f.name == "seed"), "")
        name = seed_field or ("seed" if "seed" not in taken - {param.name} else "")
        if not name:
            return None
        return Conversion(param.name, name, "seed", param.annotation)
    return None


def _converted_field(
    c: Conversion, node: cst.Param, doc: docstrings.ParamDoc | None
) -> state.FieldDraft:
    if c.kind == "prompt":
        return state.FieldDraft(
            name=c.field,
            type="str",
            default=None,
            has_default=False,
            annotation="str",
            default_code="",
            node=node,
            description=doc.description if doc else "",
            param=c.param,
            how=f"`{c.param}` is a list of prompts",
        )
    return state.FieldDraft(
        name=c.field,
        type="int",
        default=0,
        has_default=True,
        annotation="int",
        default_code="0",
        node=node,
        description=f"Seed of the random `{c.param}` drawn at the start of each clip.",
        param=c.param,
        how=f"`{c.param}` is drawn from a seed",
    )


def _conversion_reason(c: Conversion) -> str:
    if c.kind == "prompt":
        return f"a list of prompts: built from the `{c.field}` field"
    return f"random: drawn from the `{c.field}` field at the start of each clip"


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
