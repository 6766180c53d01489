"""What `reactorc validate` prints: a progress bar while sessions run, then a table of checks
(or JSON with --json). Exit status: 0 all checks passed or were skipped/warned, 1 a check
failed, 2 bad usage (one line on stderr)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from reactorc.validate.checks import DEVICES, Report, ValidateOptions
from reactorc.validate.output import UsageError
from reactorc.validate.run import validate

STATUS_STYLE = {"pass": "green", "fail": "bold red", "warn": "yellow", "skip": "dim"}


def run_validate(
    folder: Path,
    device: str,
    frames: int,
    stream: bool,
    as_json: bool,
    changes: tuple[str, ...],
    config: Path | None,
    tolerance: int | None,
    timeout: float = 120.0,
) -> int:
    """The `validate` command's body; returns the exit status."""
    err = Console(stderr=True, highlight=False)
    if device not in DEVICES:
        err.print(f"error: --device must be one of {', '.join(DEVICES)}, got {device!r}")
        return 2
    options = ValidateOptions(
        device=device,  # type: ignore[arg-type]
        frames=frames,
        stream=stream,
        changes=changes,
        config_path=config,
        tolerance=tolerance,
        timeout=timeout,
    )
    # The runtime logs model errors with tracebacks; validate reports them as checks instead.
    logging.getLogger("reactor").setLevel(logging.CRITICAL)
    try:
        if err.is_terminal:
            report = _with_progress(folder, options, err)
        else:
            report = validate(folder, options)
    except UsageError as exc:
        err.print(f"error: {exc}", soft_wrap=True)
        return 2
    except Exception as exc:  # a bug in validate itself: one line, not a traceback
        err.print(
            f"error: internal error in reactorc validate: {type(exc).__name__}: {exc}; "
            "this is a bug in reactorc, please report it",
            soft_wrap=True,
        )
        return 2
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), indent=2) + "\n")
    else:
        print_report(report, Console(highlight=False))
    return 0 if report.ok else 1


def _with_progress(folder: Path, options: ValidateOptions, err: Console) -> Report:
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("loading", total=None)

        def progress(phase: str, done: int, total: int) -> None:
            bar.update(task, description=phase, completed=done, total=total or None)

        return validate(folder, options, progress)


def print_report(report: Report, console: Console) -> None:
    """The checks as a table, then one line: passed or how many failed."""
    table = Table(
        title=f"{report.model} ({report.symbol}) on {report.device}",
        title_justify="left",
        show_lines=False,
    )
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for c in report.checks:
        style = STATUS_STYLE[c.status]
        table.add_row(c.name, f"[{style}]{c.status}[/]", _escape(c.detail))
    console.print(table)
    failed = [c.name for c in report.checks if c.status == "fail"]
    if failed:
        console.print(f"[bold red]FAILED[/]: {', '.join(failed)} ({report.seconds:.1f} s)")
    else:
        console.print(f"[green]passed[/] ({report.seconds:.1f} s)")


def _escape(text: Any) -> str:
    from rich.markup import escape

    return escape(str(text))


__all__ = ["print_report", "run_validate"]
