"""The chunk: what one iteration of the frame loop adds, and the original's post-loop
epilogue applied to it (the wrapper's nested `postprocess()`), for every sink kind."""

from __future__ import annotations

import re

import libcst as cst

from reactorc.analysis.epilogue import applied
from reactorc.plan import EpilogueStatement, Plan
from reactorc.rewrite.names import code_of, iter_nodes, parse_expr, referenced_names

EMITTED = "emitted"
"""`postprocess()`'s parameter: how many elements the accumulator held before this chunk."""

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
    return tuple(plan.epilogue[i] for i in applied(plan.epilogue))


def simple_epilogue(plan: Plan) -> bool:
    """The epilogue only returns the collected frames (`np.stack(frames)`, `video`)."""
    epi = epilogue_statements(plan)
    if plan.after_call and plan.frame_loop is not None and accumulator(plan):
        return False  # the driver's own transforms of the result run per chunk too
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


def chunk_part(plan: Plan) -> str:
    """What one iteration adds to the accumulator, as code ("" when it does not accumulate)."""
    fl = plan.frame_loop
    assert fl is not None
    sink = fl.sink
    if sink.kind in ("index-write", "slice-write"):
        return f"{accumulator_code(plan)}[{_slice_keeping_axes(sink.index_expr)}]"
    if sink.kind == "cat" or (
        sink.kind == "append" and fl.frames_per_iteration == 1 and simple_epilogue(plan)
    ):
        return sink.frame_expr
    if sink.kind == "append" and sink.call.endswith(".extend"):
        return f"list({sink.frame_expr})"
    if sink.kind == "append":
        return f"[{sink.frame_expr}]"
    return ""


def chunk_expression(
    plan: Plan, post_name: str = "postprocess", part: str = "", emitted: str = EMITTED
) -> cst.BaseExpression:
    """The frames of one iteration (`part`, else what the sink adds), passed through
    `postprocess()` when the epilogue does more than collect them."""
    fl = plan.frame_loop
    assert fl is not None
    part = part or chunk_part(plan)
    if not part:
        return parse_expr(fl.sink.frame_expr)
    if simple_epilogue(plan):
        return parse_expr(part)
    passed = [emitted if p == EMITTED else p for p in postprocess_params(plan)[1:]]
    return parse_expr(f"{post_name}({', '.join([part, *passed])})")


def postprocess_params(plan: Plan) -> list[str]:
    """The accumulator, then names the epilogue reads before it rebinds them (they are passed
    in, so the per-chunk function sees the loop's values without rebinding the loop's); last,
    the count of elements before the chunk when the epilogue slices the accumulator from an
    offset (`all_latents[BUFFER:]`)."""
    acc = accumulator(plan)
    out = [acc]
    defined: set[str] = {acc}
    epi = epilogue_statements(plan)
    later_defines = [set(s.defines) for s in epi]
    for k, st in enumerate(epi):
        first = _bound_first(st.code)  # a `for` target, a `with ... as` name
        for name in st.reads:
            if name in defined or name in out or name in first:
                continue
            if any(name in d for d in later_defines[k:]):
                out.append(name)
        defined |= set(st.defines)
    if offset_slices(plan):
        out.append(EMITTED)
    return out


def _bound_first(code: str) -> set[str]:
    stmt = cst.parse_statement(code)
    out: set[str] = set()
    if isinstance(stmt, cst.For):
        out |= referenced_names(stmt.target)
    elif isinstance(stmt, cst.With):
        for item in stmt.items:
            if item.asname is not None:
                out |= referenced_names(item.asname.name)
    return out


def offset_slices(plan: Plan) -> bool:
    """The epilogue takes the accumulator from an offset (`for l in all_latents[BUFFER:]`,
    the first frames only context): per chunk the offset counts from the clip's start."""
    acc = accumulator(plan)
    if not acc or plan.frame_loop is None:
        return False
    return any(
        _offset_slice(n, acc) is not None
        for st in epilogue_statements(plan)
        for n in iter_nodes(cst.parse_statement(st.code))
    )


def _offset_slice(node: cst.CSTNode, acc: str) -> cst.Slice | None:
    if not (
        isinstance(node, cst.Subscript)
        and isinstance(node.value, cst.Name)
        and node.value.value == acc
        and len(node.slice) == 1
        and isinstance(node.slice[0].slice, cst.Slice)
    ):
        return None
    sl = node.slice[0].slice
    if sl.lower is None or sl.upper is not None or sl.step is not None:
        return None
    if isinstance(sl.lower, cst.UnaryOperation):  # `frames[-4:]`: the last ones, not an offset
        return None
    return sl


class OffsetSlices(cst.CSTTransformer):
    """`acc[a:]` -> `acc[max(a - emitted, 0):]`: the offset counted from the clip's start."""

    def __init__(self, acc: str, emitted: str = EMITTED) -> None:
        self.acc = acc
        self.emitted = emitted

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        sl = _offset_slice(original, self.acc)
        if sl is None or sl.lower is None:
            return updated
        lower = parse_expr(f"max(({code_of(sl.lower).strip()}) - {self.emitted}, 0)")
        return updated.with_changes(
            slice=[updated.slice[0].with_changes(slice=sl.with_changes(lower=lower))]
        )


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


TO_BYTES_METHODS = frozenset({"tobytes", "tostring"})
"""Array methods that serialise a frame to its raw bytes: the wrapper yields the array instead."""

TO_BYTES_CALLS = frozenset({"bytes", "bytearray", "memoryview"})
"""Builtins that take a frame's raw bytes: `bytes(frame)` is the frame for the wrapper."""

_BYTES_METHODS = TO_BYTES_METHODS | {"encode", "pack", "dumps", "compress", "getvalue"}
"""Calls whose result is bytes from which no frame array can be read back."""


def written_frame(frame_expr: str, byte_names: set[str]) -> str | None:
    """The array a writer sink is given, as code: `fh.write(frame.astype(np.uint8).tobytes())`
    writes `frame.astype(np.uint8)`; None when what is written is bytes the frame cannot be
    recovered from (`header + frame.tobytes()`, a name bound to bytes in `byte_names`)."""
    expr = parse_expr(frame_expr)
    stripped = False
    while True:
        inner = _serialised_array(expr)
        if inner is None:
            break
        expr, stripped = inner, True
    if _is_bytes(expr, byte_names):
        return None
    return code_of(expr).strip() if stripped else frame_expr


def byte_names(node: cst.CSTNode) -> set[str]:
    """Names `node` binds to bytes (`buf = frame.tobytes()`): a writer given one writes bytes."""
    out: set[str] = set()
    for n in iter_nodes(node):
        if isinstance(n, cst.Assign) and _is_bytes(n.value, out):
            out |= {t.target.value for t in n.targets if isinstance(t.target, cst.Name)}
        elif (
            isinstance(n, cst.AnnAssign | cst.AugAssign)
            and isinstance(n.target, cst.Name)
            and n.value is not None
            and _is_bytes(n.value, out)
        ):
            out.add(n.target.value)
    return out


def _serialised_array(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """`x.tobytes()` / `bytes(x)` -> `x`; None for anything else."""
    if not isinstance(expr, cst.Call):
        return None
    func = expr.func
    if (
        isinstance(func, cst.Attribute)
        and func.attr.value in TO_BYTES_METHODS
        and all(a.keyword is not None and a.keyword.value == "order" for a in expr.args)
    ):
        return func.value
    if (
        isinstance(func, cst.Name)
        and func.value in TO_BYTES_CALLS
        and len(expr.args) == 1
        and expr.args[0].keyword is None
        and not expr.args[0].star
    ):
        return expr.args[0].value
    return None


def _is_bytes(expr: cst.BaseExpression, byte_names: set[str]) -> bool:
    """Whether `expr` is bytes rather than an array: a bytes literal, a serialising call, bytes
    joined or sliced, or a name bound to bytes."""
    if isinstance(expr, cst.Name):
        return expr.value in byte_names
    if isinstance(expr, cst.SimpleString):
        return "b" in expr.prefix.lower()
    if isinstance(expr, cst.ConcatenatedString):
        return _is_bytes(expr.left, byte_names)
    if isinstance(expr, cst.Call):
        name = code_of(expr.func).strip().split(".")[-1]
        return name in _BYTES_METHODS or name in TO_BYTES_CALLS
    if isinstance(expr, cst.BinaryOperation):
        return _is_bytes(expr.left, byte_names) or _is_bytes(expr.right, byte_names)
    if isinstance(expr, cst.Subscript):
        return _is_bytes(expr.value, byte_names)
    return False
