"""Helpers for the compiler tests: analyse a dedented source snippet into a plan."""

from __future__ import annotations

import textwrap
from typing import Any

from reactorc.analysis import explain_text
from reactorc.plan import Plan


def plan_of(source: str, **kwargs: Any) -> Plan:
    """The plan for `source` (dedented), analysed as if it were the file `pipeline.py`."""
    return explain_text(textwrap.dedent(source), "pipeline.py", **kwargs)


def codes(plan: Plan) -> list[str]:
    """The diagnostic codes of a plan, in the order they are printed."""
    return [d.code for d in plan.diagnostics]


def errors(plan: Plan) -> list[str]:
    return [d.code for d in plan.diagnostics if d.severity == "error"]


def loop_summary(plan: Plan) -> tuple:
    """(symbol, line, kind, frames_per_iteration, sink) — what the shape tables compare."""
    assert plan.frame_loop is not None, [d.format() for d in plan.diagnostics]
    fl = plan.frame_loop
    return (plan.symbol, fl.line, fl.kind, fl.frames_per_iteration, fl.sink.kind)
