"""Print a plan for people (rich): what streams, what a client may change, what is recomputed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from reactorc.analysis.hints import stanza
from reactorc.diagnostics import Diagnostic, shorten
from reactorc.plan import Plan

_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow", "note": "cyan"}


def print_plan(plan: Plan, console: Console) -> None:
    """The plan as headed sections; nothing is printed for a refused plan but its status."""
    if plan.frame_loop is None:
        _print(console, Text("no plan: reactorc cannot convert this file (see below)", "bold red"))
        _print_candidates(plan, console)
        return
    loop = plan.frame_loop
    kind = {"module": "module-level script"}.get(plan.symbol_kind, plan.symbol_kind)
    if plan.symbol_kind == "module" and plan.symbol != "<module>":
        kind = "a script in a function: it parses its own options"
    _print(
        console, Text.assemble(("pipeline ", "bold"), (plan.symbol, "bold green"), f"  ({kind})")
    )
    header = f"line {loop.line}: {loop.kind}"
    if loop.target:
        header += f" `{loop.target}`"
    if loop.iterable:
        header += f" over `{loop.iterable}`"
    if loop.condition:
        header += f" while `{loop.condition}`"
    _print(console, Text.assemble(("frame loop  ", "bold"), header))
    per = "a chunk of frames" if loop.frames_per_iteration == "chunk" else "one frame"
    target = f" `{loop.sink.target}`" if loop.sink.target else ""
    _print(
        console,
        f"  each iteration makes {per}; sink: {loop.sink.kind}{target} "
        f"(line {loop.sink.span.start_line}), frame: `{shorten(loop.sink.frame_expr, 70)}`",
    )
    if loop.progress_wrapper:
        _print(console, f"  progress bar dropped: {loop.progress_wrapper}")
    if loop.inner_loops:
        lines = ", ".join(str(n) for n in loop.inner_loops)
        _print(console, f"  inner loops (not frames): line {lines}")
    if plan.decode_after_loop:
        _print(console, "  decode after the loop: applied to each chunk")
    if plan.kept:
        _print(console, "  kept: " + ", ".join(f"`{k.code}`" for k in plan.kept))
    if loop.camera is not None:
        _print(
            console,
            f"  input clip `{loop.camera.clip}` read as `{loop.camera.expr}`: the wrapper reads "
            "the client's camera there (the clip while none sends)",
        )
    for fi in plan.file_inputs:
        _print(
            console,
            f"  {'picture' if fi.kind == 'image' else 'sound'} read once, `{fi.call}({fi.path})`: "
            f"clients may upload one instead (the `{fi.field}` field, from the next clip)",
        )

    if plan.state:
        table = Table(title="state", title_justify="left", show_lines=False)
        for col in ("field", "type", "default", "bounds / choices", "applies", "description"):
            table.add_column(col)
        for f in plan.state:
            table.add_row(
                f.name,
                f.type + (" (per step)" if f.per_step else ""),
                _json(f.default) if f.has_default else "-",
                _bounds(f),
                Text("live", "green") if f.live else Text("restart", "yellow"),
                f.description or f.reason,
            )
        _print(console, table)
        _print(console, "  live: from the next frame; restart: from the next clip", style="dim")
        for f in plan.state:
            _print(console, f"  {f.name}: {f.reason}", style="dim")
    if plan.arguments:
        _print(console, Text("arguments (where each parameter's value comes from)", "bold"))
        for a in plan.arguments:
            where = {
                "state": f"the `{a.field}` field",
                "seed": f"drawn from the `{a.field}` field",
                "prompt": f"built from the `{a.field}` field",
                "default": f"its default `{shorten(a.code, 40)}`",
                "config": f"config.yml `{a.config_key}`",
                "missing": "nothing yet: see the stanza below",
            }.get(a.source, a.detail)
            _print(console, f"  {a.param} ({a.role}): {where}")
    if plan.setup is not None:
        _print(console, Text.assemble(("load() runs ", "bold"), plan.setup.origin))
        for code in plan.setup.statements:
            _print(console, f"  {shorten(code, 76)}")
    missing = {a.param: a.code for a in plan.arguments if a.source == "missing"}
    if missing:
        _print(
            console,
            Text("to convert it, say what to pass in reactorc.yaml beside the pipeline:", "bold"),
        )
        _print(console, stanza(Path(plan.source_path).name, missing))
    recomputed = [s for s in plan.pre_loop if s.depends_on]
    if recomputed:
        _print(console, Text("recomputed when a field changes", "bold"))
        for s in recomputed:
            _print(
                console,
                f"  line {s.span.start_line}: `{shorten(s.code, 70)}`  <- {', '.join(s.depends_on)}",
            )
    touching = [e for e in plan.epilogue if e.role != "other"]
    if touching:
        _print(console, Text("after the loop (applied per chunk)", "bold"))
        for e in touching:
            mark = "  [reduces across frames]" if e.reduces_across_frames else ""
            _print(console, f"  line {e.span.start_line} {e.role}: `{shorten(e.code, 70)}`{mark}")
    cons = plan.constructor
    if cons.kind == "config":
        keys = ", ".join(
            f"{k.name}={k.default_code}" if k.has_default else f"{k.name} (required)"
            for k in cons.keys
        )
        _print(
            console,
            Text.assemble(("constructor ", "bold"), f"{cons.class_name}({cons.config_param})"),
        )
        _print(console, f"  config keys: {keys or 'none read'}")
    elif cons.kind == "kwargs":
        args = ", ".join(
            f"{p.name}={p.default_code}" if p.default_code else p.name for p in cons.params
        )
        _print(console, Text.assemble(("constructor ", "bold"), f"{cons.class_name}({args})"))
    if len(plan.candidates) > 1:
        _print_candidates(plan, console)


def _print_candidates(plan: Plan, console: Console) -> None:
    """The frame-loop candidates, best first, the chosen one starred."""
    if not plan.candidates:
        return
    _print(console, Text("candidates", "bold"))
    for c in plan.candidates:
        mark = "*" if c.chosen else " "
        _print(
            console, f" {mark} {c.symbol} line {c.line} (score {c.score}): {'; '.join(c.reasons)}"
        )


def print_diagnostics(diagnostics: tuple[Diagnostic, ...], console: Console) -> None:
    for d in diagnostics:
        head = f"{d.path}:{d.line}:{d.col}: "
        _print(
            console,
            Text.assemble(
                head, (f"{d.code} {d.severity}", _SEVERITY_STYLE[d.severity]), f": {d.message}"
            ),
            soft_wrap=True,
        )
        if d.hint:
            _print(console, f"  hint: {d.hint}", soft_wrap=True, highlight=False)


def _print(console: Console, *parts: Any, **kwargs: Any) -> None:
    """Print without rich markup: user code (`x[i]`, `frame[..., ::-1]`) must show verbatim."""
    kwargs.setdefault("highlight", False)
    console.print(*parts, markup=False, **kwargs)


def _bounds(f: Any) -> str:
    parts = []
    if f.choices is not None:
        parts.append("{" + ", ".join(_json(c) for c in f.choices) + "}")
    if f.ge is not None or f.le is not None:
        lo = "" if f.ge is None else f"{f.ge} <= "
        hi = "" if f.le is None else f" <= {f.le}"
        parts.append(f"{lo}x{hi}")
    if f.min_length is not None or f.max_length is not None:
        parts.append(f"len {f.min_length or 0}..{f.max_length if f.max_length is not None else ''}")
    return " ".join(parts) or "-"


def _json(v: Any) -> str:
    return repr(v) if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)
