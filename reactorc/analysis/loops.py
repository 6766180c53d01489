"""The loop model every shape and sink module fills in: candidates for the frame loop."""

from __future__ import annotations

from dataclasses import dataclass, field

import libcst as cst

from reactorc.analysis.index import FunctionInfo
from reactorc.plan import LoopKind, SinkKind

LoopNode = cst.For | cst.While | cst.ListComp | cst.GeneratorExp | cst.FunctionDef


@dataclass(frozen=True)
class LoopHeader:
    """What a shape module reads off a loop header."""

    kind: LoopKind
    target: str
    iterable: str
    index_var: str = ""
    progress_wrapper: str = ""
    condition: str = ""
    iter_node: cst.BaseExpression | None = None
    """The iterable with its progress wrapper removed (a new node when one was removed)."""


@dataclass(frozen=True)
class SinkMatch:
    """What a sink module found in one iteration: the frame leaving it and where to."""

    kind: SinkKind
    node: cst.CSTNode
    """The statement (or expression, for comprehensions/yield) that is the sink."""
    frame: cst.BaseExpression | None
    target: str
    call: str = ""
    index_expr: str = ""
    chunk: bool = False
    """True when the sink itself says several frames leave at once (extend, time slices)."""
    reasons: tuple[str, ...] = ()


@dataclass
class Candidate:
    """A loop that could be the frame loop, in `fn` (None for module-level code)."""

    fn: FunctionInfo | None
    node: LoopNode
    header: LoopHeader
    sinks: list[SinkMatch] = field(default_factory=list)
    outer: list[cst.CSTNode] = field(default_factory=list)
    """Loops of the same function enclosing this one, innermost first."""
    score: int = 0
    reasons: list[str] = field(default_factory=list)

    @property
    def symbol(self) -> str:
        return self.fn.symbol if self.fn is not None else "<module>"
