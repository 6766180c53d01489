"""Rewrite: build the wrapper's `inference()` body from the original method's body.

A libcst transformer copies the pipeline's own statements and edits them where the plan says:
`self` becomes the loaded pipeline object, state fields are read from `self.state`, the sink
becomes a `yield`, the post-loop epilogue becomes a per-chunk `postprocess()`, pre-loop
statements that read a live field are re-run when that field changes, tqdm is dropped. It
decides nothing the plan does not say; what it cannot express is a `RewriteError`.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from reactorc.plan import LOADED_SOURCES, CameraRead, Plan, PreLoopStatement, Sink, Span
from reactorc.rewrite.chunk import (
    OffsetSlices,
    accumulator,
    accumulator_code,
    byte_names,
    chunk_expression,
    chunk_part,
    epilogue_statements,
    frames_return,
    offset_slices,
    postprocess_params,
    replace_code,
    simple_epilogue,
    written_frame,
)
from reactorc.rewrite.names import (
    NamePositions,
    bound_names,
    code_of,
    drop_dead_stores,
    fresh_name,
    iter_nodes,
    module_bindings,
    parse_expr,
    parse_stmt,
    plain_fstrings,
    referenced_names,
    rename,
    star_import,
)
from reactorc.rewrite.step import step_body

WRAPPER_SELF = "__wrapper_self__"
"""Placeholder for the wrapper's own `self` while the original's `self` is being renamed."""

WRAPPER_TO_VIDEO = "__wrapper_to_video__"
"""Placeholder for the wrapper's `to_video` until the original's names are settled."""

WRAPPER_NAMES: dict[str, str] = {
    "to_video": "",
    "restore_rng": "",
    "rng_state": "",
    "load_original": "",
    "original": "",
    "SOURCE": "",
    "FLOAT_RANGE": "",
    "numpy": "import numpy",
    "importlib": "import importlib.util",
    "sys": "import sys",
    "Path": "from pathlib import Path",
    "Literal": "from typing import Literal",
    "InputField": "",
    "InputState": "",
    "Output": "",
    "ReactorPipeline": "",
    "Video": "",
    "read_config": "",
    "PathLike": "from os import PathLike",
    "copy": "import copy",
    "ReactorApp": "",
    "session_started": "",
}
"""Module-level names the wrapper defines itself, with the import that binds them ("" = its own
definition): an original's global of the same name is bound under another name."""


class RewriteError(Exception):
    """The plan asks for something the rewriter cannot express; one line for the user."""


@dataclass(frozen=True)
class GlobalName:
    """A module-level name of the original that the wrapper's code uses.

    `import_code` is the import statement that binds it (absolute top-level imports are
    repeated in the wrapper); "" means the wrapper takes it from the loaded original module."""

    name: str
    import_code: str = ""
    alias: str = ""
    """The name the wrapper binds it to when its own name is taken by the wrapper ("" = same)."""


WriterFate = Literal["removed", "kept", "none"]
"""What the wrapper does with the writer a writer sink wrote to: `removed` (the statement that
opened it is gone, so nothing is opened), `kept` (opened as the original opens it, because
the original uses it elsewhere or opens it outside the function), `none` (no writer object:
`cv2.imwrite(...)`, a writer passed in, or not a writer sink)."""


@dataclass(frozen=True)
class Inference:
    """The rewritten `inference()`: its body as code (indented by 8 spaces, without the def),
    the decorators it keeps, and the original's module-level names that code needs."""

    body: str
    decorators: tuple[str, ...]
    globals: tuple[GlobalName, ...]
    pipeline_var: str
    is_async: bool
    recomputed: tuple[str, ...]
    """Live fields whose change re-runs pre-loop statements."""
    writer: WriterFate = "none"
    bgr: bool = False
    """Its frames are made for an OpenCV writer (BGR): `to_video()` reverses their channels."""


# --------------------------------------------------------------------------------------------
# Small name transformers (no metadata: they run on detached, already-edited trees)


class _LiveReads(cst.CSTTransformer):
    """Inside the frame loop: read live fields from the wrapper's state, per-step sequences too."""

    def __init__(
        self, direct: set[str], per_step: dict[str, tuple[str, bool]], not_refs: set[int]
    ) -> None:
        self.direct = direct
        self.per_step = per_step
        self.not_refs = not_refs

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        if isinstance(original.value, cst.Name) and original.value.value in self.per_step:
            index_code, has_sequence = self.per_step[original.value.value]
            sl = _code_of_slices(original.slice)
            if sl == index_code:
                current = _state_attr(original.value.value)
                if not has_sequence:
                    return current
                return cst.BooleanOperation(
                    left=current,
                    operator=cst.Or(),
                    right=original,
                    lpar=[cst.LeftParen()],
                    rpar=[cst.RightParen()],
                )
        return updated

    def leave_Name(self, original: cst.Name, updated: cst.Name) -> cst.BaseExpression:
        if id(original) in self.not_refs or original.value not in self.direct:
            return updated
        return _state_attr(original.value)


class _ReplaceExpr(cst.CSTTransformer):
    """Every subscript written `code` (`video[i]`) -> `by`."""

    def __init__(self, code: str, by: cst.BaseExpression) -> None:
        self.code = code
        self.by = by

    def leave_Subscript(
        self, original: cst.Subscript, updated: cst.Subscript
    ) -> cst.BaseExpression:
        return self.by if code_of(original).strip() == self.code else updated


def _code_of_slices(slices: Sequence[cst.SubscriptElement]) -> str:
    return ", ".join(code_of(s.slice).strip() for s in slices)


def _state_attr(field: str) -> cst.Attribute:
    return cst.Attribute(
        value=cst.Attribute(value=cst.Name(WRAPPER_SELF), attr=cst.Name("state")),
        attr=cst.Name(field),
    )


# --------------------------------------------------------------------------------------------
# Facts about the original function that the plan gives as code, re-found in the tree


def _is_guard(stmt: cst.CSTNode) -> bool:
    """`assert ...` or `if ...: raise ...` with nothing else: it checks, it computes nothing."""
    if isinstance(stmt, cst.SimpleStatementLine):
        return all(isinstance(s, cst.Assert) for s in stmt.body)
    if isinstance(stmt, cst.If) and stmt.orelse is None:
        body = stmt.body.body
        return all(
            isinstance(s, cst.SimpleStatementLine) and all(isinstance(x, cst.Raise) for x in s.body)
            for s in body
        )
    return False


# --------------------------------------------------------------------------------------------
# The transformer


@dataclass
class _Decisions:
    """What the plan says, indexed by source line for the transformer."""

    loop_pos: tuple[int, int]
    sink_line: int
    sink_col: int
    epilogue_lines: set[int]
    drop_lines: set[int]
    recompute_lines: dict[int, PreLoopStatement]
    direct_live: set[str]
    refresh_live: list[str]
    per_step: dict[str, tuple[str, bool]]
    triggers: list[str]
    keep_accumulation: bool
    """The loop reads the accumulator besides adding to it (a context window): the original's
    accumulation stays and the yield follows it."""
    post_name: str
    """The name of the per-chunk epilogue function (`postprocess` unless the original uses it)."""
    emitted: str = ""
    bgr: bool = False
    """The frames are made for an OpenCV writer (BGR): `to_video(..., bgr=True)`."""
    """The counter of accumulator elements before the chunk ("" unless the epilogue slices the
    accumulator from an offset)."""


class _Builder(cst.CSTTransformer):
    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, plan: Plan, d: _Decisions, output_call: str, pipeline_var: str) -> None:
        super().__init__()
        self.plan = plan
        self.d = d
        self.output_call = output_call
        self.pipeline_var = pipeline_var
        self.fn_line = plan.function_span.start_line if plan.function_span else -1
        self.function: cst.FunctionDef | None = None
        self.recompute_nodes: dict[int, cst.BaseStatement] = {}
        self.epilogue_nodes: dict[int, cst.BaseStatement] = {}
        self.sink_done = False
        self.loop_done = False
        self.depth = 0
        self.writer: WriterFate = "none"
        """What became of a `with ... as <writer>:` around the sink."""

    # positions --------------------------------------------------------------------------
    def _pos(self, node: cst.CSTNode) -> tuple[int, int]:
        r = self.get_metadata(PositionProvider, node)
        return r.start.line, r.start.column

    def _in_function(self) -> bool:
        return self.depth > 0

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        if self._pos(node)[0] == self.fn_line and self.function is None and self.depth == 0:
            self.depth = 1
            return True
        if self.depth:
            self.depth += 1
            return True
        return True

    def leave_FunctionDef(
        self, original: cst.FunctionDef, updated: cst.FunctionDef
    ) -> cst.FunctionDef:
        if self.depth == 1:
            self.depth = 0
            if self._pos(original) == self.d.loop_pos:
                # a generator whose frames are not in a loop: its whole body is the "loop"
                self.loop_done = True
                positions = NamePositions()
                updated.body.visit(positions)
                live = _LiveReads(self.d.direct_live, self.d.per_step, positions.not_refs)
                updated = updated.with_changes(body=updated.body.visit(live))
            self.function = updated
        elif self.depth:
            self.depth -= 1
        return updated

    # statements -------------------------------------------------------------------------
    def on_leave(self, original: cst.CSTNode, updated: cst.CSTNode) -> object:
        result = super().on_leave(original, updated)
        if not self._in_function() or not isinstance(original, cst.BaseStatement):
            return result
        line, col = self._pos(original)
        if (line, col) == self.d.loop_pos or (
            self.plan.frame_loop is not None
            and self.plan.frame_loop.kind == "comprehension"
            and self._contains_loop(original)
        ):
            return result
        if line in self.d.recompute_lines and isinstance(result, cst.BaseStatement):
            self.recompute_nodes[line] = result
        if line in self.d.epilogue_lines:
            if isinstance(result, cst.BaseStatement):
                self.epilogue_nodes[line] = result
            return cst.RemoveFromParent()
        if line in self.d.drop_lines:
            return cst.RemoveFromParent()
        if isinstance(original, cst.SimpleStatementLine) and self._is_sink_statement(original):
            return self._sink_replacement(original, updated)  # type: ignore[arg-type]
        return result

    def _contains_loop(self, stmt: cst.CSTNode) -> bool:
        if not isinstance(stmt, cst.SimpleStatementLine):
            return False
        r = self.get_metadata(PositionProvider, stmt)
        return r.start.line <= self.d.loop_pos[0] <= r.end.line

    def _is_sink_statement(self, stmt: cst.SimpleStatementLine) -> bool:
        r = self.get_metadata(PositionProvider, stmt)
        start = (r.start.line, r.start.column)
        end = (r.end.line, r.end.column)
        return start <= (self.d.sink_line, self.d.sink_col) <= end

    def _sink_replacement(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.FlattenSentinel[cst.BaseStatement] | cst.BaseStatement:
        plan = self.plan
        assert plan.frame_loop is not None
        sink = plan.frame_loop.sink
        self.sink_done = True
        if self.d.emitted:
            emit = self._counted_emit()
        else:
            emit = yield_statement(
                self.output_call, chunk_expression(plan, self.d.post_name), bgr=self.d.bgr
            )
        if sink.kind in ("index-write", "slice-write"):
            return cst.FlattenSentinel([updated, emit])
        if sink.kind == "yield":  # every yield of the generator is wrapped (leave_Yield)
            return updated
        if sink.kind in ("append", "cat") and self.d.keep_accumulation:
            return cst.FlattenSentinel([updated, emit])
        return emit

    def _counted_emit(self) -> cst.FlattenSentinel[cst.BaseStatement]:
        """The chunk when the epilogue slices the accumulator from an offset: counted, and
        yielded only when the slice leaves something (the first frames may be context only)."""
        taken = self._taken() | {self.d.emitted}
        part_name = fresh_name("part", taken)
        out_name = fresh_name("chunk", taken | {part_name})
        expr = chunk_expression(self.plan, self.d.post_name, part_name, self.d.emitted)
        return cst.FlattenSentinel(
            [
                parse_stmt(f"{part_name} = {chunk_part(self.plan)}"),
                parse_stmt(f"{out_name} = {code_of(expr).strip()}"),
                parse_stmt(f"{self.d.emitted} += len({part_name})"),
                cst.If(
                    test=parse_expr(f"len({out_name})"),
                    body=cst.IndentedBlock(
                        body=[yield_statement(self.output_call, cst.Name(out_name), bgr=self.d.bgr)]
                    ),
                ),
            ]
        )

    def leave_With(
        self, original: cst.With, updated: cst.With
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement]:
        """`with get_writer(path) as writer:` around a writer sink: the writer is not opened."""
        fl = self.plan.frame_loop
        if not self._in_function() or fl is None or fl.sink.kind != "writer":
            return updated
        r = self.get_metadata(PositionProvider, original)
        if not r.start.line <= fl.sink.span.start_line <= r.end.line:
            return updated
        keep = [
            item
            for item in updated.items
            if not (
                item.asname is not None
                and isinstance(item.asname.name, cst.Name)
                and item.asname.name.value == fl.sink.target
            )
        ]
        if len(keep) == len(updated.items):
            return updated
        body = updated.body
        if isinstance(body, cst.IndentedBlock):  # its other calls (a header, flush) go too
            body = body.with_changes(
                body=[s for s in body.body if not _only_calls_on(s, fl.sink.target)]
            )
        if fl.sink.target in referenced_names(body):
            self.writer = "kept"  # used otherwise: opened as the original opens it
            return updated
        self.writer = "removed"
        if keep:
            keep[-1] = keep[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)
            return updated.with_changes(items=keep, body=body)
        return cst.FlattenSentinel(list(body.body))  # type: ignore[arg-type]

    def leave_Yield(self, original: cst.Yield, updated: cst.Yield) -> cst.Yield:
        """A generator pipeline: each frame it yields becomes an Output (not `yield from`)."""
        fl = self.plan.frame_loop
        if self.depth != 1 or fl is None or fl.sink.kind != "yield":
            return updated
        if updated.value is None or isinstance(updated.value, cst.From):
            return updated
        return updated.with_changes(value=_output(self.output_call, updated.value, bgr=self.d.bgr))

    # the frame loop ----------------------------------------------------------------------
    def leave_For(self, original: cst.For, updated: cst.For) -> cst.BaseStatement:
        if not self._in_function() or self._pos(original) != self.d.loop_pos:
            return updated
        return self._frame_loop(updated)

    def leave_While(self, original: cst.While, updated: cst.While) -> cst.BaseStatement:
        if not self._in_function() or self._pos(original) != self.d.loop_pos:
            return updated
        return self._frame_loop(updated)

    def leave_SimpleStatementLine(
        self, original: cst.SimpleStatementLine, updated: cst.SimpleStatementLine
    ) -> cst.BaseStatement | cst.FlattenSentinel[cst.BaseStatement] | cst.RemovalSentinel:
        loop = self.plan.frame_loop
        if (
            not self._in_function()
            or loop is None
            or loop.kind != "comprehension"
            or not self._contains_loop(original)
        ):
            return updated
        return self._comprehension_loop(original)

    def _comprehension_loop(self, stmt: cst.SimpleStatementLine) -> cst.BaseStatement:
        comp = None
        for n in iter_nodes(stmt):
            if isinstance(n, (cst.ListComp, cst.GeneratorExp)):
                r = self.get_metadata(PositionProvider, n)
                if (r.start.line, r.start.column) == self.d.loop_pos:
                    comp = n
        if comp is None or comp.for_in.inner_for_in is not None:
            raise RewriteError("the frame comprehension has several `for` clauses")
        body: list[cst.BaseStatement] = []
        for cond in comp.for_in.ifs:
            body.append(
                cst.If(
                    test=cst.UnaryOperation(operator=cst.Not(), expression=cond.test),
                    body=cst.IndentedBlock(body=[parse_stmt("continue")]),
                )
            )
        body.append(
            yield_statement(
                self.output_call,
                chunk_expression(self.plan, self.d.post_name),
                bgr=self.d.bgr,
            )
        )
        self.sink_done = True
        loop = cst.For(
            target=comp.for_in.target,
            iter=comp.for_in.iter,
            body=cst.IndentedBlock(body=body),
        )
        return self._frame_loop(loop)

    def _frame_loop(self, loop: cst.For | cst.While) -> cst.BaseStatement:
        self.loop_done = True
        plan = self.plan
        fl = plan.frame_loop
        assert fl is not None
        body = list(loop.body.body)
        # live reads where the loop uses them
        block = cst.IndentedBlock(body=body)
        positions = NamePositions()
        block.visit(positions)
        block = block.visit(_LiveReads(self.d.direct_live, self.d.per_step, positions.not_refs))
        body = list(block.body)
        head: list[cst.BaseStatement] = []
        head += self._recompute_block()
        head += [parse_stmt(f"{f} = {WRAPPER_SELF}.state.{f}") for f in self.d.refresh_live]
        if fl.camera is not None:  # the client's camera where the loop reads its input clip
            read, body = self._camera_read(fl.camera, body)
            head += [read] if read is not None else []
        if isinstance(loop, cst.For) and fl.progress_wrapper and fl.iterable:
            loop = loop.with_changes(iter=parse_expr(fl.iterable))
        if isinstance(loop, cst.For) and self._counts_an_unset_sequence(loop):
            # `range(len(actions))` with no actions but the client's: one step per frame, on
            # until the client restarts
            loop = loop.with_changes(iter=parse_expr("range(sys.maxsize)"))
        if isinstance(loop, cst.For) and self._iterates_live_sequence(loop):
            built = self._indexed_loop(loop, head, body)
        else:
            built = loop.with_changes(body=loop.body.with_changes(body=[*head, *body]))
        if not self.d.emitted:
            return built
        start = parse_stmt(f"{self.d.emitted} = 0")
        if isinstance(built, cst.FlattenSentinel):
            return cst.FlattenSentinel([start, *built.nodes])  # type: ignore[return-value]
        return cst.FlattenSentinel([start, built])  # type: ignore[return-value]

    def _camera_read(
        self, cam: CameraRead, body: list[cst.BaseStatement]
    ) -> tuple[cst.BaseStatement | None, list[cst.BaseStatement]]:
        """`frame = self.camera_frame(frame)` first in the body (`for frame in video`), or
        `video_i = self.camera_frame(video[i])` with the body reading `video_i` instead, or
        `frame = self.camera_frame(frame, bgr=True)` right after `ok, frame = cap.read()`
        (in the body: no statement for its head)."""
        if cam.kind == "iter":
            return parse_stmt(f"{cam.expr} = {WRAPPER_SELF}.camera_frame({cam.expr})"), body
        if cam.kind == "read":
            read = parse_stmt(f"{cam.expr} = {WRAPPER_SELF}.camera_frame({cam.expr}, bgr=True)")
            for i, stmt in enumerate(body):
                if _reads_capture(stmt, cam):
                    return None, [*body[: i + 1], read, *body[i + 1 :]]
            return None, body
        name = fresh_name(f"{cam.clip}_now", self._taken())
        block = cst.IndentedBlock(body=body).visit(_ReplaceExpr(cam.expr, cst.Name(name)))
        read = parse_stmt(f"{name} = {WRAPPER_SELF}.camera_frame({cam.expr})")
        return read, list(block.body)  # type: ignore[attr-defined]

    def _counts_an_unset_sequence(self, loop: cst.For) -> bool:
        """The header's count comes from a per-step sequence nothing gives a value."""
        unset = {name for name, (_, has) in self.d.per_step.items() if not has}
        if not unset or not isinstance(loop.iter, cst.Call):
            return False
        return code_of(loop.iter.func).strip() == "range" and bool(
            referenced_names(loop.iter) & unset
        )

    def _iterates_live_sequence(self, loop: cst.For) -> bool:
        if not isinstance(loop.iter, cst.Name) or loop.asynchronous is not None:
            return False
        name = loop.iter.value
        if name in self.d.triggers:
            return True
        return any(
            name in self.plan.pre_loop[i].defines
            for i in range(len(self.plan.pre_loop))
            if self.plan.pre_loop[i].span.start_line in self.d.recompute_lines
        )

    def _indexed_loop(
        self, loop: cst.For, head: list[cst.BaseStatement], body: list[cst.BaseStatement]
    ) -> cst.BaseStatement:
        """`for x in seq` over a sequence a live field rebuilds: index it, so a rebuilt
        sequence is used from the next frame on (at the same position)."""
        assert isinstance(loop.iter, cst.Name)
        seq = loop.iter.value
        position = fresh_name("position", self._taken())
        fetch = cst.SimpleStatementLine(
            body=[
                cst.Assign(
                    targets=[cst.AssignTarget(target=loop.target)],
                    value=parse_expr(f"{seq}[{position}]"),
                )
            ]
        )
        new_body = [*head, fetch, parse_stmt(f"{position} += 1"), *body]
        while_loop = cst.While(
            test=parse_expr(f"{position} < len({seq})"),
            body=cst.IndentedBlock(body=new_body),
        )
        return cst.FlattenSentinel([parse_stmt(f"{position} = 0"), while_loop])  # type: ignore[return-value]

    def _taken(self) -> set[str]:
        return bound_names(self.function) if self.function is not None else set()

    def _recompute_block(self) -> list[cst.BaseStatement]:
        triggers = self.d.triggers
        if not triggers:
            return []
        stmts = [
            (pre, parse_stmt(pre.code) if pre.synthetic else self.recompute_nodes[line])
            for line, pre in sorted(self.d.recompute_lines.items())
            if pre.synthetic or line in self.recompute_nodes
        ]
        if len(triggers) == 1:
            (f,) = triggers
            inner = [parse_stmt(f"{f} = {WRAPPER_SELF}.state.{f}"), *(node for _, node in stmts)]
            return [
                cst.If(
                    test=parse_expr(f"{WRAPPER_SELF}.state.{f} != {f}"),
                    body=cst.IndentedBlock(body=inner),
                )
            ]
        out: list[cst.BaseStatement] = [
            parse_stmt(f"{f}_changed = {WRAPPER_SELF}.state.{f} != {f}") for f in triggers
        ]
        out += [parse_stmt(f"{f} = {WRAPPER_SELF}.state.{f}") for f in triggers]
        groups: list[tuple[tuple[str, ...], list[cst.BaseStatement]]] = []
        for pre, node in stmts:
            key = tuple(f for f in triggers if f in pre.depends_on)
            if groups and groups[-1][0] == key:
                groups[-1][1].append(node)
            else:
                groups.append((key, [node]))
        for key, nodes in groups:
            test = " or ".join(f"{f}_changed" for f in key)
            out.append(cst.If(test=parse_expr(test), body=cst.IndentedBlock(body=nodes)))
        return out


def _only_calls_on(stmt: cst.CSTNode, name: str) -> bool:
    """`fh.write(header)` / `fh.flush()`: a statement line that only calls methods of `name`."""
    return isinstance(stmt, cst.SimpleStatementLine) and all(
        isinstance(small, cst.Expr)
        and isinstance(small.value, cst.Call)
        and isinstance(small.value.func, cst.Attribute)
        and isinstance(small.value.func.value, cst.Name)
        and small.value.func.value.value == name
        for small in stmt.body
    )


def _output(
    output_call: str, frames: cst.BaseExpression, *, bgr: bool = False
) -> cst.BaseExpression:
    """`Output(main_video=to_video(frames))`; `to_video(frames, bgr=True)` for frames made for
    an OpenCV writer (BGR)."""
    args = [cst.Arg(frames)]
    if bgr:
        args.append(cst.Arg(cst.Name("True"), keyword=cst.Name("bgr"), equal=_EQUAL))
    return cst.Call(
        func=parse_expr(output_call),
        args=[
            cst.Arg(
                keyword=cst.Name("main_video"),
                value=cst.Call(func=cst.Name(WRAPPER_TO_VIDEO), args=args),
                equal=cst.AssignEqual(
                    whitespace_before=cst.SimpleWhitespace(""),
                    whitespace_after=cst.SimpleWhitespace(""),
                ),
            )
        ],
    )


_EQUAL = cst.AssignEqual(
    whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")
)


def yield_statement(
    output_call: str, frames: cst.BaseExpression, *, bgr: bool = False
) -> cst.SimpleStatementLine:
    """`yield Output(main_video=to_video(frames))`."""
    output = _output(output_call, frames, bgr=bgr)
    return cst.SimpleStatementLine(body=[cst.Expr(cst.Yield(value=output))])


# --------------------------------------------------------------------------------------------
# The chunk: what one iteration adds, and the epilogue applied to it


# --------------------------------------------------------------------------------------------
# The entry point


def rewrite(plan: Plan, source: str, output_class: str) -> Inference:
    """Build `inference()` for `plan` from the original `source` (the text the plan came from)."""
    if not plan.ok or plan.frame_loop is None:
        raise RewriteError("the plan has no frame loop; nothing to rewrite")
    fl = plan.frame_loop
    module = cst.parse_module(source)
    bindings = module_bindings(module)
    if plan.symbol_kind == "step":
        return Inference(
            body=step_body(plan, module, output_class),
            decorators=(),
            globals=(),
            pipeline_var="env",
            is_async=False,
            recomputed=(),
        )
    wrapper = MetadataWrapper(module)
    fn_node = _find_function(wrapper, plan)
    if fl.kind == "comprehension":
        plan = _comprehension_plan(plan, wrapper)
        fl = plan.frame_loop
        assert fl is not None
    if fl.sink.kind == "writer":
        plan = _writer_plan(plan, fn_node)
        fl = plan.frame_loop
        assert fl is not None
    body_names = bound_names(fn_node)
    pipeline_var = fresh_name("pipeline", body_names | set(bindings))

    live = [f for f in plan.state if f.live and not f.per_step]
    assigned = body_names - {p.name for p in plan.params}
    assigned |= _assigned_in_body(fn_node)
    epilogue_lines = {s.span.start_line for s in plan.epilogue}
    writer, drop = _writer_opening(plan, wrapper, fn_node, epilogue_lines)
    recompute = {
        pre.span.start_line: pre
        for pre in plan.pre_loop
        if any(f.name in pre.depends_on for f in live)
        and pre.span.start_line not in drop  # a writer not opened is not reopened either
        and not _is_guard(cst.parse_statement(pre.code))
    }
    triggers = [f.name for f in live if any(f.name in p.depends_on for p in recompute.values())]
    loop_reads = _loop_reads(wrapper, fl.span)
    acc = accumulator(plan)
    keep_accumulation = bool(acc) and acc in _loop_reads(wrapper, fl.span, skip=fl.sink.span)
    direct = {
        f.name
        for f in live
        if f.name not in triggers and f.name not in assigned and f.name in loop_reads
    }
    refresh = [
        f.name
        for f in live
        if f.name not in triggers and f.name in assigned and f.name in loop_reads
    ]
    if (
        fl.kind == "for-iter"
        and fl.iterable in {f.name for f in live}
        and fl.iterable not in triggers
    ):
        # the live field is the iterated sequence itself: re-read it every step
        direct.discard(fl.iterable)
        refresh = [n for n in refresh if n != fl.iterable]
        triggers.append(fl.iterable)
    per_step = {s.param: (s.index_expr, _has_default(plan, s.param)) for s in plan.per_step}
    for pre in plan.pre_loop:
        defines = set(pre.defines)
        line = pre.span.start_line
        used_elsewhere = _reads_outside(wrapper, fn_node, epilogue_lines | {line}, fl.sink.span)
        if (
            acc
            and fl.sink.kind in ("append", "cat")
            and defines == {acc}
            and not keep_accumulation
            and acc not in used_elsewhere
        ):
            drop.add(line)
    drop |= _docstring_lines(fn_node, wrapper)
    d = _Decisions(
        loop_pos=(fl.span.start_line, fl.span.start_col),
        sink_line=fl.sink.span.start_line,
        sink_col=fl.sink.span.start_col,
        epilogue_lines={s.span.start_line for s in plan.epilogue},
        drop_lines=drop,
        recompute_lines=recompute,
        direct_live=direct,
        refresh_live=refresh,
        per_step=per_step,
        triggers=triggers,
        keep_accumulation=keep_accumulation,
        post_name=fresh_name("postprocess", body_names | set(bindings)),
        emitted=fresh_name("emitted", body_names | set(bindings)) if offset_slices(plan) else "",
        bgr=_bgr_sink(fl.sink, fn_node),
    )
    output_call = output_class
    builder = _Builder(plan, d, output_call, pipeline_var)
    wrapper.visit(builder)
    if builder.function is None or not builder.loop_done:
        raise RewriteError(f"could not find the frame loop of {plan.symbol} at line {fl.line}")
    if not builder.sink_done and fl.sink.kind != "yield":
        raise RewriteError(f"could not find the sink at line {fl.sink.span.start_line}")
    fn = builder.function
    post = _postprocess_def(plan, builder)
    rest: list[cst.BaseStatement] = [post] if post is not None else []
    rest += list(fn.body.body)  # type: ignore[arg-type]
    rest_block = _rename_self(cst.IndentedBlock(body=rest), pipeline_var, plan)
    used = referenced_names(rest_block)
    prologue = _rename_self(
        cst.IndentedBlock(body=_prologue(plan, pipeline_var)), pipeline_var, plan
    )
    kept_prologue: list[cst.BaseStatement] = []
    for stmt in reversed(
        prologue.body
    ):  # later prologue lines (noise from a seed) read earlier ones
        if _binds_used(stmt, used):
            kept_prologue.insert(0, stmt)
            used |= referenced_names(stmt)
    statements = kept_prologue + list(rest_block.body)
    # what only fed a save the wrapper dropped (`fps = reader.fps`) goes too
    body = drop_dead_stores(cst.IndentedBlock(body=statements))
    body = plain_fstrings(body)  # type: ignore[assignment]
    free = (referenced_names(body) - bound_names(body)) - {"self", WRAPPER_TO_VIDEO}
    free -= set(dir(builtins))
    decorators = tuple(k.code for k in plan.kept if k.kind in ("decorator", "call"))
    for dec in decorators:
        free |= referenced_names(cst.parse_expression(dec)) - set(dir(builtins))
    if star_import(module):  # `from utils import *`: what nothing else binds comes with it
        bindings = {
            **{
                n: ""
                for n in free
                if n not in bindings and n not in WRAPPER_NAMES and n != output_class
            },
            **bindings,
        }
    aliases: dict[str, cst.BaseExpression] = {}
    for name in sorted(free):
        ours = WRAPPER_NAMES.get(name)
        if name in bindings and ours is not None and (not ours or bindings[name] != ours):
            aliases[name] = cst.Name(fresh_name(f"original_{name}", free | set(bindings)))
    # the original's own `to_video`, `Path`, ... must not meet the wrapper's
    aliases[WRAPPER_TO_VIDEO] = cst.Name("to_video")
    body = rename(body, aliases)  # type: ignore[assignment]
    del aliases[WRAPPER_TO_VIDEO]
    inner = cst.Module(
        body=[cst.FunctionDef(name=cst.Name("f"), params=cst.Parameters(), body=body)]
    ).code.split("\n", 1)[1]
    names = tuple(
        GlobalName(name, "" if name in aliases else bindings[name], _alias(aliases, name))
        for name in sorted(free)
        if name in bindings
    )
    return Inference(
        body=_reindent(inner, 4, 8),
        decorators=decorators,
        globals=names,
        pipeline_var=pipeline_var,
        is_async=plan.is_async,
        recomputed=tuple(triggers),
        writer=builder.writer if builder.writer != "none" else writer,
        bgr=d.bgr,
    )


def _writer_opening(
    plan: Plan, wrapper: MetadataWrapper, fn_node: cst.CSTNode, epilogue_lines: set[int]
) -> tuple[WriterFate, set[int]]:
    """What becomes of a writer sink's writer opened before the loop, and the lines to drop:
    `writer = cv2.VideoWriter(...)` goes unless the original uses `writer` for more than the
    frames (and its release after the loop)."""
    fl = plan.frame_loop
    assert fl is not None
    if fl.sink.kind != "writer":
        return "none", set()
    writer: WriterFate = "kept" if fl.sink.target.startswith("self.") else "none"
    drop: set[int] = set()
    lazy = _lazy_openings(wrapper, fn_node, fl.sink.target)
    for pre in plan.pre_loop:
        if fl.sink.target not in pre.defines:
            continue
        line = pre.span.start_line
        skip = epilogue_lines | {line} | lazy
        used_elsewhere = _reads_outside(wrapper, fn_node, skip, fl.sink.span)
        writer = "kept" if fl.sink.target in used_elsewhere else "removed"
        if writer == "removed":
            drop |= {line} | lazy  # the writer is never opened: no file is written
    return writer, drop


OPENCV_WRITERS = frozenset({"VideoWriter", "imwrite"})


def _bgr_sink(sink: Sink, fn: cst.FunctionDef) -> bool:
    """The frames go to an OpenCV writer (`cv2.imwrite`, a `cv2.VideoWriter`), which takes BGR:
    the stream shows them as RGB."""
    if sink.kind != "writer":
        return False
    if sink.call.split(".")[-1] in OPENCV_WRITERS:
        return True
    for node in iter_nodes(fn.body):
        if isinstance(node, cst.Assign) and isinstance(node.value, cst.Call):
            func = code_of(node.value.func).strip().split(".")[-1]
            targets = {code_of(t.target).strip() for t in node.targets}
            if func in OPENCV_WRITERS and sink.target in targets:
                return True
    return False


def _lazy_openings(wrapper: MetadataWrapper, fn: cst.FunctionDef, target: str) -> set[int]:
    """Lines of `if writer is None: ... writer = open_writer(...)` (or `if not writer:`): the
    writer opened at the first frame, once its size is known."""
    positions = wrapper.resolve(PositionProvider)
    out: set[int] = set()
    for node in iter_nodes(fn.body):
        if not isinstance(node, cst.If) or node.orelse is not None:
            continue
        test = node.test
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            tested = code_of(test.expression).strip()
        elif (
            isinstance(test, cst.Comparison)
            and len(test.comparisons) == 1
            and isinstance(test.comparisons[0].operator, cst.Is)
            and code_of(test.comparisons[0].comparator).strip() == "None"
        ):
            tested = code_of(test.left).strip()
        else:
            continue
        opens = any(
            isinstance(n, cst.AssignTarget) and code_of(n.target).strip() == target
            for n in iter_nodes(node.body)
        )
        if tested == target and opens:
            out.add(positions[node].start.line)
    return out


def _comprehension_plan(plan: Plan, wrapper: MetadataWrapper) -> Plan:
    """Name what a frame comprehension's statement collects into, as the sink's target.

    `frames = [f(x) for x in xs]` collects into `frames` (one frame per element). When the
    statement does more with the list (`v = torch.stack([...]).permute(...)`, `return
    np.stack([...])`), that expression with the list replaced by `[frame]` is the new part of
    each iteration (sink kind "cat"), and what follows applies to it as to a grown tensor."""
    fl = plan.frame_loop
    assert fl is not None
    positions = wrapper.resolve(PositionProvider)
    comp: cst.ListComp | cst.GeneratorExp | None = None
    stmt: cst.SimpleStatementLine | None = None
    for node, r in positions.items():
        if isinstance(node, (cst.ListComp, cst.GeneratorExp)) and (
            r.start.line,
            r.start.column,
        ) == (fl.span.start_line, fl.span.start_col):
            comp = node
    for node, r in positions.items():
        if (
            isinstance(node, cst.SimpleStatementLine)
            and r.start.line <= fl.span.start_line <= r.end.line
        ):
            stmt = node
    if comp is None or stmt is None or len(stmt.body) != 1:
        raise RewriteError(f"cannot find the frame comprehension at line {fl.line}")
    small = stmt.body[0]
    one = cst.List(elements=[cst.Element(value=comp.elt)])
    if isinstance(small, cst.Return) and small.value is not None:
        value, target = small.value, ""
    elif (
        isinstance(small, cst.Assign)
        and len(small.targets) == 1
        and isinstance(small.targets[0].target, cst.Name)
    ):
        value, target = small.value, small.targets[0].target.value
    else:
        raise RewriteError(
            f"the frame comprehension at line {fl.line} is neither assigned to a name nor returned"
        )
    if value is comp and target:
        sink = replace(fl.sink, kind="append", target=target)
    else:
        part = code_of(value.deep_replace(comp, one))
        sink = replace(fl.sink, kind="cat", target=target, frame_expr=part)
    return replace(plan, frame_loop=replace(fl, sink=sink))


def _writer_plan(plan: Plan, fn_node: cst.CSTNode) -> Plan:
    """A writer given raw bytes (`fh.write(frame.tobytes())`) streams the array they came from;
    bytes that no array can be read back from are refused here, not at the first frame."""
    fl = plan.frame_loop
    assert fl is not None
    frame = written_frame(fl.sink.frame_expr, byte_names(fn_node))
    if frame is None:
        raise RewriteError(
            f"line {fl.sink.span.start_line}: `{fl.sink.call}({fl.sink.frame_expr})` writes "
            "bytes that the frame cannot be read back from; give that call the frame array (or "
            "`frame.tobytes()`), or write through a helper that takes the array, and convert again"
        )
    if frame == fl.sink.frame_expr:
        return plan
    return replace(plan, frame_loop=replace(fl, sink=replace(fl.sink, frame_expr=frame)))


def _alias(aliases: dict[str, cst.BaseExpression], name: str) -> str:
    alias = aliases.get(name)
    return alias.value if isinstance(alias, cst.Name) else ""


def _rename_self(body: cst.IndentedBlock, pipeline_var: str, plan: Plan) -> cst.IndentedBlock:
    mapping: dict[str, cst.BaseExpression] = {WRAPPER_SELF: cst.Name("self")}
    if plan.class_name and plan.symbol_kind != "function":
        mapping["self"] = cst.Name(pipeline_var)
    return rename(body, mapping)  # type: ignore[return-value]


def _reindent(code: str, old: int, new: int) -> str:
    out = []
    for line in code.splitlines():
        if line.startswith(" " * old):
            out.append(" " * new + line[old:])
        else:
            out.append(line)
    return "\n".join(out).rstrip() + "\n"


def _has_default(plan: Plan, name: str) -> bool:
    """The per-step sequence has a value of its own: a default, or what `load()` computed."""
    arg = plan.argument(name)
    if arg is not None and arg.source in LOADED_SOURCES:
        return True
    return any(p.name == name and p.default_code for p in plan.params)


def _find_function(wrapper: MetadataWrapper, plan: Plan) -> cst.FunctionDef:
    assert plan.function_span is not None
    positions = wrapper.resolve(PositionProvider)
    for node, r in positions.items():
        if isinstance(node, cst.FunctionDef) and r.start.line == plan.function_span.start_line:
            return node
    raise RewriteError(f"cannot find {plan.symbol} at line {plan.function_span.start_line}")


def _loop_reads(wrapper: MetadataWrapper, span: Span, skip: Span | None = None) -> set[str]:
    """Names the frame loop reads (body and header), leaving out the statement at `skip`."""
    positions = wrapper.resolve(PositionProvider)
    loop = None
    for node, r in positions.items():
        if isinstance(
            node, (cst.For, cst.While, cst.ListComp, cst.GeneratorExp, cst.FunctionDef)
        ) and (r.start.line, r.start.column) == (span.start_line, span.start_col):
            loop = node.body if isinstance(node, cst.FunctionDef) else node
            break
    if loop is None:
        return set()
    skipped: set[int] = set()
    if skip is not None:
        for node, r in positions.items():
            if isinstance(node, cst.SimpleStatementLine) and (r.start.line, r.start.column) <= (
                skip.start_line,
                skip.start_col,
            ) <= (r.end.line, r.end.column):
                skipped |= {id(n) for n in iter_nodes(node)}
    positions_ = NamePositions()
    loop.visit(positions_)
    return {
        n.value
        for n in iter_nodes(loop)
        if isinstance(n, cst.Name) and id(n) not in positions_.not_refs and id(n) not in skipped
    }


def _reads_capture(stmt: cst.BaseStatement, cam: CameraRead) -> bool:
    """`ok, frame = cap.read()`: the statement that reads the capture's next frame."""
    return isinstance(stmt, cst.SimpleStatementLine) and any(
        isinstance(small, cst.Assign)
        and isinstance(small.value, cst.Call)
        and code_of(small.value.func).strip() == f"{cam.clip}.read"
        and cam.expr in referenced_names(small.targets[0].target)
        for small in stmt.body
    )


def _reads_outside(
    wrapper: MetadataWrapper, fn: cst.FunctionDef, skip_lines: set[int], sink: Span
) -> set[str]:
    """Names the function reads outside the statements starting on `skip_lines` and the
    statement holding the sink (what is still read once those are gone)."""
    positions = wrapper.resolve(PositionProvider)
    skipped: set[int] = set()
    for node in iter_nodes(fn.body):
        if not isinstance(node, cst.BaseStatement):
            continue
        r = positions[node]
        holds_sink = isinstance(node, cst.SimpleStatementLine) and (
            (r.start.line, r.start.column)
            <= (sink.start_line, sink.start_col)
            <= (r.end.line, r.end.column)
        )
        if r.start.line in skip_lines or holds_sink:
            skipped |= {id(n) for n in iter_nodes(node)}
    names = NamePositions()
    fn.body.visit(names)
    return {
        n.value
        for n in iter_nodes(fn.body)
        if isinstance(n, cst.Name) and id(n) not in names.not_refs and id(n) not in skipped
    }


def _assigned_in_body(fn: cst.FunctionDef) -> set[str]:
    return bound_names(fn.body)


def _docstring_lines(fn: cst.FunctionDef, wrapper: MetadataWrapper) -> set[int]:
    body = fn.body.body
    if not body:
        return set()
    first = body[0]
    if (
        isinstance(first, cst.SimpleStatementLine)
        and len(first.body) == 1
        and isinstance(first.body[0], cst.Expr)
        and isinstance(first.body[0].value, (cst.SimpleString, cst.ConcatenatedString))
    ):
        positions = wrapper.resolve(PositionProvider)
        return {positions[first].start.line}
    return set()


def _binds_used(stmt: cst.BaseStatement, used: set[str]) -> bool:
    """A prologue line stays when the name it binds is read afterwards (or it binds none)."""
    return bool(bound_names(stmt) & used) or not bound_names(stmt)


def _prologue(plan: Plan, pipeline_var: str) -> list[cst.BaseStatement]:
    """The pipeline's parameters bound the way the plan says: fields from the state, inputs
    from what `load()` computed (`self.arguments`), defaults as written; then the wrapper's own
    statements that build converted parameters (a prompt list, noise from the seed)."""
    out: list[cst.BaseStatement] = []
    if plan.setup is not None and plan.setup.rng:
        # each clip draws what the original drew after the same setup and seeding
        out.append(parse_stmt(f"restore_rng({WRAPPER_SELF}.rng_state)"))
    if plan.class_name and plan.symbol_kind not in ("function", "module"):
        out.append(parse_stmt(f"{pipeline_var} = {WRAPPER_SELF}.pipeline"))
    per_step = {s.param for s in plan.per_step}
    fields = {f.name: f for f in plan.state}
    params = {p.name for p in plan.params}
    assigned: set[str] = set()
    for p in plan.params:
        arg = plan.argument(p.name)
        if p.name in per_step and arg is not None and arg.source in LOADED_SOURCES:
            out.append(parse_stmt(f"{p.name} = {WRAPPER_SELF}.arguments.{p.name}"))
        elif p.name in per_step:
            out.append(parse_stmt(f"{p.name} = {p.default_code or 'None'}"))
        elif p.name in fields:
            out.append(parse_stmt(f"{p.name} = {WRAPPER_SELF}.state.{p.name}"))
        elif arg is not None and arg.source in ("seed", "prompt"):
            if arg.field not in assigned and arg.field not in params:
                out.append(parse_stmt(f"{arg.field} = {WRAPPER_SELF}.state.{arg.field}"))
                assigned.add(arg.field)
        elif p.kind == "var_positional":
            out.append(parse_stmt(f"{p.name} = ()"))
        elif p.kind == "var_keyword":
            out.append(parse_stmt(f"{p.name} = {{}}"))
        elif arg is not None and arg.source in LOADED_SOURCES:
            out.append(parse_stmt(f"{p.name} = {WRAPPER_SELF}.arguments.{p.name}"))
        elif p.default_code:
            out.append(parse_stmt(f"{p.name} = {p.default_code}"))
        else:
            raise RewriteError(
                f"no value for parameter `{p.name}` of {plan.symbol}; say what to pass in "
                "reactorc.yaml (`reactorc explain` prints a stanza to fill)"
            )
    if plan.setup is not None:
        for name in plan.setup.names:
            out.append(parse_stmt(f"{name} = {WRAPPER_SELF}.arguments.{name}"))
    for fi in plan.file_inputs:  # a client's upload in place of the file the setup read
        rebuilt = f"rebuilt_{fi.field}"
        sets = "".join(f"    {name} = {rebuilt}.{name}\n" for name in fi.names)
        out.append(parse_stmt(f"{rebuilt} = {WRAPPER_SELF}.file_input({fi.field!r})\n"))
        out.append(parse_stmt(f"if {rebuilt} is not None:\n{sets}"))
    for pre in plan.pre_loop:
        if pre.synthetic:
            out.append(parse_stmt(pre.code))
    return out


def _postprocess_def(plan: Plan, builder: _Builder) -> cst.FunctionDef | None:
    if simple_epilogue(plan):
        return None
    epi = epilogue_statements(plan)
    params = postprocess_params(plan)
    stmts: list[cst.BaseStatement] = []
    acc = accumulator(plan)
    returned = False
    for st in epi:
        node = builder.epilogue_nodes.get(st.span.start_line)
        if node is None:
            continue
        if st.role == "return" and plan.after_call:
            node = _return_as(node, plan.result_name)
            returned = True
        elif st.role == "return":
            node = frames_return(node, acc)
        if accumulator_code(plan) != acc:  # `self.frames` in the epilogue is the chunk here
            node = replace_code(node, accumulator_code(plan), cst.Name(acc))
        if builder.d.emitted:
            node = node.visit(OffsetSlices(acc))  # type: ignore[assignment]
        stmts.append(node)
    has_return = any(st.role == "return" for st in epi)
    if not has_return and not plan.after_call:
        last = next((st.defines[0] for st in reversed(epi) if st.defines), acc)
        stmts.append(parse_stmt(f"return {last}"))  # the original saved, did not return
    if plan.after_call:
        if not returned:
            stmts.append(parse_stmt(f"{plan.result_name} = {acc}"))
        stmts += [parse_stmt(st.code + "\n") for st in plan.after_call]
        final = plan.after_call[-1].defines[0] if plan.after_call[-1].defines else acc
        stmts.append(parse_stmt(f"return {final}"))
    # live fields the epilogue reads (a gamma, a colour map) are read from the state per chunk
    live = {f.name for f in plan.state if f.live and not f.per_step}
    bound: set[str] = set(params)
    for st in (*epi, *plan.after_call):
        bound |= set(st.defines)
    direct = (live - set(builder.d.triggers)) - bound
    if direct and stmts:
        block = cst.IndentedBlock(body=stmts)
        positions = NamePositions()
        block.visit(positions)
        stmts = list(block.visit(_LiveReads(direct, {}, positions.not_refs)).body)
    lines = [s.span for s in epi]
    what = "The original's post-loop steps"
    if lines:
        first, last = lines[0].start_line, lines[-1].end_line
        what += f" (line {first})" if first == last else f" (lines {first}-{last})"
    if plan.after_call:
        what += " and what its driver does to the result" if lines else ""
        what = what if lines else "What the pipeline's driver does to its result"
    doc = parse_stmt(f'"""{what}, applied to one chunk."""')
    return cst.FunctionDef(
        name=cst.Name(builder.d.post_name),
        params=cst.Parameters(params=[cst.Param(cst.Name(p)) for p in params]),
        body=cst.IndentedBlock(body=[doc, *stmts]),
    )


def _return_as(node: cst.BaseStatement, name: str) -> cst.BaseStatement:
    """`return x` -> `name = x`: the pipeline's result, as its driver names it."""
    if (
        isinstance(node, cst.SimpleStatementLine)
        and isinstance(node.body[0], cst.Return)
        and node.body[0].value is not None
    ):
        return parse_stmt(f"{name} = {code_of(node.body[0].value).strip()}\n")
    return node
