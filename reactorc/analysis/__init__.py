"""Analysis: find the pipeline, its frame loop, its state and dependencies; build the Plan.

The stage's face (what the CLI, convert, check and validate import). Visitors and helpers only
read the tree; the rewriter, a later stage, edits copies. `explain(path)` is what `reactorc
explain` runs: it never raises for bad input, every problem is a diagnostic in the returned
plan. Modules: `choose` (which loop is the frame loop), `build` (the plan for it), `fields`
(state from the parameters), `context` (one analysis' context, refusals), and one module per
loop shape (`shape_*`), sink kind (`sink_*`) and fact (`bounds`, `deps`, `epilogue`, ...)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from reactorc.analysis.choose import analyze
from reactorc.analysis.context import refused
from reactorc.analysis.hints import merge, read_sidecar
from reactorc.diagnostics import diagnostic, shorten
from reactorc.parse import parse_text, read_file
from reactorc.plan import Plan


def explain(
    path: str | Path,
    *,
    symbol: str | None = None,
    loop_line: int | None = None,
    arguments: Mapping[str, str] | None = None,
    entry: Path | None = None,
) -> Plan:
    """Read, parse and analyse the file at `path`, with the `reactorc.yaml` beside it and the
    command line's `--arg NAME=EXPR` values and `--entry` script."""
    result = read_file(path)
    if result.source is None:
        return refused(str(path), "", result.diagnostics)
    sidecar, problems = read_sidecar(Path(path))
    if problems:
        return refused(str(path), result.source.sha256, problems)
    hints = merge(sidecar, arguments or {}, entry)
    return analyze(result.source, symbol=symbol, loop_line=loop_line, hints=hints)


def explain_text(
    text: str, path: str = "<string>", *, symbol: str | None = None, loop_line: int | None = None
) -> Plan:
    """Like `explain`, for source text already in memory (tests, editors)."""
    result = parse_text(text, path)
    if result.source is None:
        return refused(path, "", result.diagnostics)
    return analyze(result.source, symbol=symbol, loop_line=loop_line)


def plan_for(
    path: str | Path,
    *,
    symbol: str | None = None,
    loop_line: int | None = None,
    arguments: Mapping[str, str] | None = None,
    entry: Path | None = None,
) -> Plan:
    """`explain`, for the commands: a bug in reactorc becomes an RC900 diagnostic in a refused
    plan, never a traceback."""
    try:
        return explain(path, symbol=symbol, loop_line=loop_line, arguments=arguments, entry=entry)
    except Exception as exc:
        d = diagnostic(
            "RC900",
            str(path),
            1,
            1,
            f"internal error in reactorc: {type(exc).__name__}: {shorten(str(exc), 160)}",
            "this is a bug in reactorc; please report it with the file that triggers it",
        )
        return refused(str(path), "", [d])


__all__ = ["analyze", "explain", "explain_text", "plan_for"]
