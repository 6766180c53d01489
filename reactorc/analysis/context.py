"""What one analysis carries (the context, the module index, the diagnostics gathered) and
the plans built without a chosen function: a refusal, or a loop in module-level script code."""

from __future__ import annotations

from dataclasses import dataclass

import libcst as cst

from reactorc.analysis._cst import Ctx
from reactorc.analysis.hints import NO_HINTS, Hints
from reactorc.analysis.index import ModuleIndex
from reactorc.analysis.loops import Candidate
from reactorc.diagnostics import Diagnostic, diagnostic, sort_diagnostics
from reactorc.plan import (
    Candidate as PlanCandidate,
)
from reactorc.plan import (
    Constructor,
    FrameLoop,
    Plan,
    SymbolKind,
)


def refused(path: str, sha: str, diags: tuple[Diagnostic, ...] | list[Diagnostic]) -> Plan:
    return bare_plan(path, sha, diags)


def bare_plan(
    path: str,
    sha: str,
    diags: tuple[Diagnostic, ...] | list[Diagnostic],
    *,
    symbol: str = "",
    symbol_kind: SymbolKind = "function",
    frame_loop: FrameLoop | None = None,
    candidates: tuple[PlanCandidate, ...] = (),
    imports: tuple[str, ...] = (),
) -> Plan:
    """A plan with no function behind it: a refusal (no frame loop) or a module-level loop."""
    return Plan(
        source_path=path,
        source_sha256=sha,
        symbol=symbol,
        symbol_kind=symbol_kind,
        class_name="",
        function_name="",
        function_span=None,
        is_async=False,
        frame_loop=frame_loop,
        decode_after_loop=False,
        constructor=Constructor(kind="none", class_name=""),
        params=(),
        state=(),
        non_state=(),
        pre_loop=(),
        epilogue=(),
        per_step=(),
        kept=(),
        candidates=candidates,
        diagnostics=sort_diagnostics(diags),
        imports=imports,
    )


@dataclass
class Run:
    """One analysis: the context, what was found and the diagnostics gathered so far."""

    ctx: Ctx
    index: ModuleIndex
    diags: list[Diagnostic]
    hints: Hints = NO_HINTS

    def add(self, code: str, node: cst.CSTNode | None, message: str, hint: str) -> None:
        line = self.ctx.line(node) if node is not None else 1
        col = self.ctx.col1(node) if node is not None else 1
        self.diags.append(diagnostic(code, self.ctx.path, line, col, message, hint))


def loop_line_of(c: Candidate, ctx: Ctx) -> int:
    node = c.node
    if isinstance(node, cst.FunctionDef):
        return ctx.line(node.name)
    if isinstance(node, (cst.ListComp, cst.GeneratorExp)):
        return ctx.line(node.for_in)
    return ctx.line(node)
