"""Running a typer app as a console script, the same way for `reactor` and `reactorc`: a usage
mistake is one line on stderr (`error: ... (see: reactor run --help)`) and exit status 2, never
a boxed panel or a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


class UsageProblem(Exception):
    """Bad input the user can fix; printed as one line, exit status 2."""


def say(message: str) -> None:
    """One line on stderr, unwrapped, whatever the terminal width."""
    sys.stderr.write(message.replace("\n", " ") + "\n")
    sys.stderr.flush()


def run_app(app: typer.Typer, prog_name: str, argv: list[str] | None = None) -> NoReturn:
    """Run `app`; exit with its status. `UsageProblem` and click's usage errors are one line."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name=prog_name, standalone_mode=False)
    except UsageProblem as exc:
        say(f"error: {exc}")
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        say("aborted")
        sys.exit(130)
    except Exception as exc:
        # Click's own usage errors (typer may vendor click, so match by shape, not by class).
        format_message = getattr(exc, "format_message", None)
        exit_code = getattr(exc, "exit_code", None)
        if format_message is None or not isinstance(exit_code, int):
            raise
        ctx = getattr(exc, "ctx", None)
        path = getattr(ctx, "command_path", None) or _command_path(command, prog_name, argv)
        hint = f" (see: {path} --help)" if exit_code == 2 else ""
        say(f"error: {format_message()}{hint}")
        sys.exit(exit_code)
    sys.exit(result if isinstance(result, int) else 0)


def _command_path(command: object, prog_name: str, argv: list[str] | None) -> str:
    """`prog sub` when the arguments name a subcommand (some parse errors carry no context)."""
    names = getattr(command, "commands", {})
    args = sys.argv[1:] if argv is None else argv
    sub = next((a for a in args if not a.startswith("-")), None)
    return f"{prog_name} {sub}" if sub in names else prog_name
