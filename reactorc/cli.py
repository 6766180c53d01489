"""The `reactorc` command (typer). One function per command; each turns user input into a call
of a compiler stage and its result into output and an exit status (0 done, 1 a check failed,
2 cannot convert or bad usage). New commands: add an `@app.command()` function below."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from reactor._commandline import UsageProblem, run_app
from rich.console import Console

from reactorc import __version__
from reactorc.analysis import plan_for
from reactorc.analysis.hints import parse_arg_flags
from reactorc.plan import Plan
from reactorc.report import print_diagnostics, print_plan

app = typer.Typer(
    name="reactorc",
    help="Turn an unmodified research inference pipeline into a real-time streaming model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SymbolOption = Annotated[
    str | None,
    typer.Option("--symbol", help="The pipeline: `Class.method`, `function` or `<module>`."),
]
"""Settles which pipeline to stream when the analysis finds several (explain, convert, check)."""
LoopLineOption = Annotated[
    int | None,
    typer.Option("--loop-line", min=1, help="Line of the frame loop's header."),
]
"""Settles which loop is the frame loop when several qualify (explain, convert, check)."""
ArgOption = Annotated[
    list[str] | None,
    typer.Option(
        "--arg",
        metavar="NAME=EXPR",
        help="A Python expression for a parameter nothing else gives a value (repeatable).",
    ),
]
"""What reactorc cannot find in the code: like `arguments:` in reactorc.yaml, and wins over it."""
EntryOption = Annotated[
    Path | None,
    typer.Option(
        "--entry",
        metavar="SCRIPT",
        help="The script that builds the pipeline and calls it (its setup goes into load()).",
    ),
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_CANNOT = 2


def _version(value: bool) -> None:
    if value:
        typer.echo(f"reactorc {__version__}")
        raise typer.Exit(EXIT_OK)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """reactorc: compile a research pipeline into a streaming model."""


def _arguments(values: list[str] | None) -> dict[str, str]:
    """`--arg NAME=EXPR` values; a malformed one is a usage error (one line, exit 2)."""
    arguments, problems = parse_arg_flags(values or [])
    if problems:
        raise UsageProblem(problems[0])
    return arguments


def _plan(
    path: Path,
    symbol: str | None,
    loop_line: int | None,
    values: list[str] | None,
    entry: Path | None,
) -> Plan:
    if entry is not None and not entry.is_file():
        raise UsageProblem(
            f"--entry {entry}: no such file; pass the script that calls the pipeline"
        )
    return plan_for(
        path, symbol=symbol, loop_line=loop_line, arguments=_arguments(values), entry=entry
    )


@app.command()
def explain(
    path: Annotated[Path, typer.Argument(help="The research pipeline's .py file.")],
    symbol: SymbolOption = None,
    loop_line: LoopLineOption = None,
    arg: ArgOption = None,
    entry: EntryOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
) -> None:
    """Print the plan for PATH: the frame loop, the state, where each argument comes from, what
    is recomputed. Writes nothing."""
    plan = _plan(path, symbol, loop_line, arg, entry)
    if as_json:
        sys.stdout.write(json.dumps(plan.to_json(), indent=2) + "\n")
    else:
        print_plan(plan, Console(highlight=False))
        if plan.diagnostics:
            print_diagnostics(plan.diagnostics, Console(stderr=True, highlight=False))
    raise typer.Exit(EXIT_OK if plan.ok else EXIT_CANNOT)


@app.command()
def convert(
    path: Annotated[Path, typer.Argument(help="The research pipeline's .py file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The folder to write.")],
    symbol: SymbolOption = None,
    loop_line: LoopLineOption = None,
    arg: ArgOption = None,
    entry: EntryOption = None,
    target: Annotated[
        str,
        typer.Option(
            "--target",
            help="reactor (this runtime), reactor-runtime (the Reactor platform's generator "
            "form, reactor-runtime 2.x and 3.x) or reactor-app (its step form, a ReactorApp for "
            "reactor-runtime 3.x).",
        ),
    ] = "reactor",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite generated files edited by hand.")
    ] = False,
) -> None:
    """Write a streaming wrapper for PATH into OUT: the wrapper, reactor.yaml, config.yml, server.py
    and README.md."""
    from reactorc.convert import ConvertError
    from reactorc.convert import convert as convert_plan
    from reactorc.render import TARGETS

    err = Console(stderr=True, highlight=False)
    if target not in TARGETS:
        err.print(f"error: --target must be one of {', '.join(TARGETS)}, got {target!r}")
        raise typer.Exit(EXIT_CANNOT)
    plan = _plan(path, symbol, loop_line, arg, entry)
    try:
        done = convert_plan(plan, path, out, target=target, force=force)  # type: ignore[arg-type]
    except ConvertError as exc:
        if exc.diagnostics:
            print_diagnostics(exc.diagnostics, err)
        err.print(f"error: {exc.message}", soft_wrap=True)
        raise typer.Exit(EXIT_CANNOT) from None
    if plan.diagnostics:
        print_diagnostics(plan.diagnostics, err)
    result = done.result
    assert result is not None
    changed = ", ".join(result.written) or "nothing (already up to date)"
    err.print(f"wrote {out}: {changed}", soft_wrap=True)
    serve = {
        "reactor": "reactor run",
        "reactor-runtime": "reactor run  (on the Reactor platform: python -m reactor_runtime.serve)",
        "reactor-app": "python -m reactor_runtime.serve  (reactor-runtime 3.x)",
    }[target]
    err.print(f"run it: cd {out} && {serve}", soft_wrap=True)
    raise typer.Exit(EXIT_OK)


@app.command()
def validate(
    folder: Annotated[Path, typer.Argument(help="The folder `reactorc convert -o` wrote.")],
    device: Annotated[
        str,
        typer.Option("--device", help="cuda, cpu, or auto (cuda when the model's torch has it)."),
    ] = "auto",
    frames: Annotated[int, typer.Option("--frames", help="Frames per session (at least).")] = 24,
    stream: Annotated[
        bool, typer.Option("--stream", help="Also stream through `reactor run`'s server.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the checks as JSON.")] = False,
    change: Annotated[
        list[str] | None,
        typer.Option("--change", help="field=value to use when changing that field."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A config file to load instead of config.yml.")
    ] = None,
    tolerance: Annotated[
        int | None,
        typer.Option("--tolerance", min=0, max=255, help="Allowed difference per channel (0-255)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for a frame before giving up.")
    ] = 120.0,
) -> None:
    """Run the wrapper in FOLDER for real and check it (exit 1 when a check fails)."""
    from reactorc.check import committed_target
    from reactorc.validate import run_validate

    if committed_target(folder) == "reactor-app":
        Console(stderr=True, highlight=False).print(
            f"error: {folder} is a --target reactor-app folder, a ReactorApp for reactor-runtime "
            "3.x; validate runs models on this project's runtime: validate the --target "
            "reactor-runtime output of the same pipeline (the two make the same frames)",
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_CANNOT)

    raise typer.Exit(
        run_validate(
            folder, device, frames, stream, as_json, tuple(change or ()), config, tolerance, timeout
        )
    )


@app.command()
def check(
    path: Annotated[Path, typer.Argument(help="The research pipeline's .py file.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="The committed output folder.")],
    symbol: SymbolOption = None,
    loop_line: LoopLineOption = None,
    arg: ArgOption = None,
    entry: EntryOption = None,
    target: Annotated[
        str | None,
        typer.Option(
            "--target",
            help="reactor, reactor-runtime or reactor-app (default: as the committed reactor.yaml).",
        ),
    ] = None,
    then_validate: Annotated[
        bool, typer.Option("--validate", help="When current, also run `reactorc validate`.")
    ] = False,
) -> None:
    """Exit 1 when OUT is stale (a diff) or edited by hand (the files); 0 when current."""
    from reactorc.check import run_check

    arguments = _arguments(arg)
    raise typer.Exit(
        run_check(path, out, symbol, loop_line, target, then_validate, arguments, entry)
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (`reactorc = reactorc.cli:main`): usage mistakes are one line
    and exit status 2, as with `reactor`."""
    run_app(app, "reactorc", argv)


if __name__ == "__main__":
    main()
