"""Convert: analysis -> plan -> rewrite -> render -> write, for `reactorc convert`.

Every way it can fail for the user's input is a `ConvertError` carrying one line (and the
analysis diagnostics when the plan refused); the command prints it and exits 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from reactorc.diagnostics import Diagnostic
from reactorc.plan import Plan
from reactorc.render import TARGETS, RenderError, Target, decode_source, render
from reactorc.rewrite import RewriteError
from reactorc.rewrite.app import StepFormError, refusal_diagnostic
from reactorc.write import OutputError, WriteResult, write_output


class ConvertError(Exception):
    """Conversion stopped: `message` says why; `diagnostics` are the analysis' own, if any."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics


@dataclass(frozen=True)
class Conversion:
    """A finished conversion: the plan, the files, and what was written."""

    plan: Plan
    files: dict[str, str] = field(hash=False)
    result: WriteResult | None


def build_files(
    plan: Plan, source_path: Path, out_dir: Path, target: Target = "reactor"
) -> dict[str, str]:
    """The output folder's files for an analysed pipeline (in memory); ConvertError if it refused."""
    if target not in TARGETS:
        raise ConvertError(f"unknown target {target!r}; choose one of {', '.join(TARGETS)}")
    if not plan.ok:
        raise ConvertError(f"cannot convert {source_path}", plan.diagnostics)
    missing = [a.param for a in plan.arguments if a.source == "missing"]
    if missing:
        names = ", ".join(f"`{m}`" for m in missing)
        raise ConvertError(
            f"cannot convert {source_path}: no value for {names}; fill the reactorc.yaml stanza "
            "above (beside the pipeline) or pass --arg NAME=EXPR / --entry SCRIPT",
            tuple(d for d in plan.diagnostics if d.code == "RC501"),
        )
    try:
        source = source_path.read_bytes()
    except OSError as exc:
        raise ConvertError(f"cannot read {source_path}: {exc.strerror or exc}") from None
    try:
        return render(plan, source, source_path, out_dir, target)
    except StepFormError as exc:
        where = refusal_diagnostic(exc, plan, decode_source(source), str(source_path))
        raise ConvertError(
            f"cannot convert {source_path} for --target {target}", (where,)
        ) from None
    except (RewriteError, RenderError) as exc:
        raise ConvertError(f"cannot generate the wrapper for {plan.symbol}: {exc}") from None
    except Exception as exc:  # a bug in reactorc: one line, not a traceback
        raise ConvertError(
            f"internal error in reactorc while generating the wrapper for {plan.symbol}: "
            f"{type(exc).__name__}: {exc}; please report it with the file that triggers it"
        ) from None


def convert(
    plan: Plan,
    source_path: Path,
    out_dir: Path,
    *,
    target: Target = "reactor",
    force: bool = False,
    write: bool = True,
) -> Conversion:
    """Render the files for `plan` and write them into `out_dir` (all or none)."""
    files = build_files(plan, source_path, out_dir, target)
    if source_path.name in files and out_dir.resolve() == source_path.resolve().parent:
        raise ConvertError(f"-o {out_dir} would overwrite the original {source_path.name}")
    if not write:
        return Conversion(plan, files, None)
    try:
        result = write_output(out_dir, files, force=force)
    except OutputError as exc:
        raise ConvertError(str(exc)) from None
    return Conversion(plan, files, result)
