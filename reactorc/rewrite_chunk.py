"""The chunk: what one iteration of the frame loop adds, and the original's post-loop
epilogue applied to it (the wrapper's nested `postprocess()`), for every sink kind."""

from __future__ import annotations

import re

import libcst as cst

from reactorc.plan import EpilogueStatement, Plan
from reactorc.rewrite_names import code_of, parse_expr, referenced_names

COLLECT_CALLS = frozenset({"np.stack", "numpy.stack", "np.array", "numpy.array", "torch.stack"})
"""Collecting calls that, applied to a list of one frame, only add a leading axis of one."""


def accumulator_code(plan: Plan) -> str:
    """What the original collects frames into, as written (`frames`, `self.video`); "" for
    writers, yields and returns."""
    assert plan.frame_loop is not None
    sink = plan.frame_loop.sink
    if sink.kind in ("append", "index-write", "slice-write", "cat") and sink.target:
        return sink.target.split("[")[0]
    return ""


def accumulator(plan: Plan) -> str:
    """The accumulator as a plain name: `postprocess()`'s parameter (`self.frames` -> `frames`)."""
    return accumulator_code(plan).split(".")[-1]


def epilogue_statements(plan: Plan) -> tuple[EpilogueStatement, ...]:
    """The post-loop statements the wrapper applies to each chunk (none for writers/yields)."""
    fl = plan.frame_loop
    assert fl is not None
    if fl.sink.kind in ("writer", "yield", "return") or not accumulator(plan):
        return ()
    return plan.epilogue


def simple_epilogue(plan: Plan) -> bool:
    """The epilogue only returns the collected frames (`np.stack(frames)`, `video`)."""
    epi = epilogue_statements(plan)
    if not epi:
        return True
    if len(epi) != 1 or epi[0].role != "return":
        return False
    acc = accumulator(plan)
    value = _return_value(epi[0].code)
    if value is None:
        return False
    if isinstance(value, cst.Name):
        return value.value == acc
    fl = plan.frame_loop
    assert fl is not None
    if fl.frames_per_iteration != 1 or fl.sink.kind != "append":
        return False
    if isinstance(value, cst.Call) and code_of(value.func) in COLLECT_CALLS and value.args:
        first, *rest = value.args
        return (
            first.keyword is None
            and isinstance(first.value, cst.Name)
            and first.value.value == acc
            and all(
                (a.keyword is None or a.keyword.value == "axis") and code_of(a.value).strip() == "0"
                for a in rest
            )
            and len(rest) <= 1
        )
    return False


def _return_value(code: str) -> cst.BaseExpression | None:
    stmt = cst.parse_statement(code)
    if isinstance(stmt, cst.SimpleStatementLine) and isinstance(stmt.body[0], cst.Return):
        return stmt.body[0].value
    return None


def _slice_keeping_axes(index_code: str) -> str:
    """`i` -> `i : i + 1`: a written slice that keeps every axis of the preallocated tensor."""
    expr = cst.parse_expression(f"x[{index_code}]")
    assert isinstance(expr, cst.Subscript)
    parts = []
    for el in expr.slice:
        code = code_of(el.slice).strip()
        if isinstance(el.slice, cst.Index) and code not in ("...", "None"):
            if re.fullmatch(r"[A-Za-z_][A-Za-z_0-9]*", code):
                parts.append(f"{code} : {code} + 1")
            else:
                parts.append(f"({code}) : ({code}) + 1")
        else:
            parts.append(code)
    return ", ".join(parts)


def chunk_expression(plan: Plan, post_name: str = "postprocess") -> cst.BaseExpression:
    """The frames of one iteration, passed through `postprocess()` when the epilogue does more
    than collect them."""
    fl = plan.frame_loop
    assert fl is not None
    sink = fl.sink
    if sink.kind in ("index-write", "slice-write"):
        part = f"{accumulator_code(plan)}[{_slice_keeping_axes(sink.index_expr)}]"
    elif sink.kind == "cat" or (
        sink.kind == "append" and fl.frames_per_iteration == 1 and simple_epilogue(plan)
    ):
        part = sink.frame_expr
    elif sink.kind == "append" and sink.call.endswith(".extend"):
        part = f"list({sink.frame_expr})"
    elif sink.kind == "append":
        part = f"[{sink.frame_expr}]"
    else:
        return parse_expr(sink.frame_expr)
    if simple_epilogue(plan):
        return parse_expr(part)
    passed = postprocess_params(plan)[1:]
    return parse_expr(f"{post_name}({', '.join([part, *passed])})")


def postprocess_params(plan: Plan) -> list[str]:
    """The accumulator, then names the epilogue reads before it rebinds them (they are passed
    in, so the per-chunk function sees the loop's values without rebinding the loop's)."""
    acc = accumulator(plan)
    out = [acc]
    defined: set[str] = {acc}
    epi = epilogue_statements(plan)
    later_defines = [set(s.defines) for s in epi]
    for k, st in enumerate(epi):
        for name in st.reads:
            if name in defined or name in out:
                continue
            if any(name in d for d in later_defines[k:]):
                out.append(name)
        defined |= set(st.defines)
    return out


class _ReplaceCode(cst.CSTTransformer):
    def __init__(self, code: str, by: cst.BaseExpression) -> None:
        self.code = code
        self.by = by

    def leave_Attribute(
        self, original: cst.Attribute, updated: cst.Attribute
    ) -> cst.BaseExpression:
        return self.by if code_of(original) == self.code else updated


def replace_code(node: cst.BaseStatement, code: str, by: cst.BaseExpression) -> cst.BaseStatement:
    """`node` with every attribute chain written `code` (e.g. `self.frames`) replaced by `by`."""
    return node.visit(_ReplaceCode(code, by))  # type: ignore[return-value]


def frames_return(node: cst.BaseStatement, acc: str) -> cst.BaseStatement:
    """`return Output(frames=np.stack(out), nsfw=[...])` -> `return np.stack(out)`: keep the part
    of a returned record/tuple/dict that holds the frames."""
    if not isinstance(node, cst.SimpleStatementLine) or not isinstance(node.body[0], cst.Return):
        return node
    value = node.body[0].value
    if value is None:
        return node
    candidates: list[cst.BaseExpression] = []
    if isinstance(value, cst.Call) and any(a.keyword is not None for a in value.args):
        candidates = [a.value for a in value.args]
    elif isinstance(value, cst.Tuple):
        candidates = [e.value for e in value.elements]
    elif isinstance(value, cst.Dict):
        candidates = [e.value for e in value.elements if isinstance(e, cst.DictElement)]
    for c in candidates:
        if acc in referenced_names(c) and not _is_len_only(c, acc):
            return node.with_changes(body=[cst.Return(value=c)])
    return node


def _is_len_only(expr: cst.BaseExpression, acc: str) -> bool:
    code = code_of(expr)
    return f"len({acc})" in code and code.count(acc) == 1
