"""`reactorc check pipeline.py -o out/`: the CI gate for committed generated wrappers.

It regenerates the output in memory with the same stages as `reactorc convert` (`build_files`)
and compares it with what is committed. A file whose body no longer matches the body hash in
its own header was edited by hand (reported by name: move the change into the original, or
convert with --force); a file that differs from what convert would write now is stale
(reported as a unified diff: run convert again and commit). Exit 0 current, 1 stale or edited,
2 bad usage or a pipeline that cannot be converted.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from reactorc.render import body_hash, split_header


@dataclass(frozen=True)
class CheckResult:
    """How a committed output compares with a fresh conversion."""

    out_dir: Path
    current: tuple[str, ...]
    missing: tuple[str, ...]
    hand_edited: tuple[str, ...]
    stale: tuple[str, ...]
    diff: str
    """Unified diff from the committed files to the regenerated ones (stale and missing)."""

    @property
    def ok(self) -> bool:
        return not (self.missing or self.hand_edited or self.stale)


def compare_output(out_dir: Path, files: dict[str, str]) -> CheckResult:
    """Compare the regenerated `files` with those committed in `out_dir`."""
    current: list[str] = []
    missing: list[str] = []
    edited: list[str] = []
    stale: list[str] = []
    diffs: list[str] = []
    for name, fresh in files.items():
        path = out_dir / name
        try:
            committed = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            missing.append(name)
            diffs.append(_diff("", fresh, out_dir, name))
            continue
        except (OSError, UnicodeDecodeError):
            edited.append(name)
            continue
        _, recorded, body = split_header(committed)
        if recorded is None or body_hash(body) != recorded:
            edited.append(name)
            continue
        if committed != fresh:
            stale.append(name)
            diffs.append(_diff(committed, fresh, out_dir, name))
            continue
        current.append(name)
    return CheckResult(
        out_dir=out_dir,
        current=tuple(current),
        missing=tuple(missing),
        hand_edited=tuple(edited),
        stale=tuple(stale),
        diff="".join(diffs),
    )


def _diff(old: str, new: str, out_dir: Path, name: str) -> str:
    where = (out_dir / name).as_posix()
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"{where} (committed)",
            tofile=f"{where} (regenerated)",
        )
    )


def committed_target(out: Path) -> str:
    """The target a committed output was converted for: the Reactor platform's manifest form
    (`runtime: {import: ...}`) means reactor-runtime, or reactor-app when the module it imports
    is the step form's (`<name>_app`, where the generator form's is `<name>_stream`)."""
    import yaml

    try:
        data = yaml.safe_load((out / "reactor.yaml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return "reactor"
    if not isinstance(data, dict) or "runtime" not in data:
        return "reactor"
    runtime = data["runtime"] if isinstance(data["runtime"], dict) else {}
    module = str(runtime.get("import", "")).partition(":")[0]
    return "reactor-app" if module.endswith("_app") else "reactor-runtime"


def run_check(
    path: Path,
    out: Path,
    symbol: str | None,
    loop_line: int | None,
    target: str | None,
    then_validate: bool,
    arguments: dict[str, str] | None = None,
    entry: Path | None = None,
) -> int:
    """The `check` command's body; returns the exit status. `target` None: as committed."""
    import sys

    from rich.console import Console

    from reactorc.analysis import plan_for
    from reactorc.convert import ConvertError, build_files
    from reactorc.render import TARGETS
    from reactorc.report import print_diagnostics

    err = Console(stderr=True, highlight=False)
    if target is None:
        target = committed_target(out)
    if target not in TARGETS:
        err.print(f"error: --target must be one of {', '.join(TARGETS)}, got {target!r}")
        return 2
    if out.exists() and not out.is_dir():
        err.print(f"error: -o {out} is not a folder; pass the committed output folder")
        return 2
    plan = plan_for(path, symbol=symbol, loop_line=loop_line, arguments=arguments, entry=entry)
    try:
        files = build_files(plan, path, out, target)  # type: ignore[arg-type]
    except ConvertError as exc:
        if exc.diagnostics:
            print_diagnostics(exc.diagnostics, err)
        err.print(f"error: {exc.message}", soft_wrap=True)
        return 2
    if not out.is_dir():
        err.print(
            f"{out}: missing; run `reactorc convert {path} -o {out}` and commit it",
            soft_wrap=True,
        )
        return 1
    result = compare_output(out, files)
    convert_cmd = f"reactorc convert {path} -o {out}"
    if symbol:
        convert_cmd += f" --symbol {symbol}"
    if loop_line:
        convert_cmd += f" --loop-line {loop_line}"
    if target != "reactor":
        convert_cmd += f" --target {target}"
    if entry is not None:
        convert_cmd += f" --entry {entry}"
    for name, expr in (arguments or {}).items():
        convert_cmd += f" --arg '{name}={expr}'"
    if result.hand_edited:
        names = ", ".join(result.hand_edited)
        err.print(
            f"{out}: edited by hand: {names} (the body no longer matches its reactorc-hash); "
            f"put the change in {path} and run `{convert_cmd} --force`",
            soft_wrap=True,
        )
    if result.stale or result.missing:
        sys.stdout.write(result.diff)
        names = ", ".join(result.stale + result.missing)
        err.print(
            f"{out}: stale: {names} differ from what {path} generates now; run `{convert_cmd}` "
            "and commit the result",
            soft_wrap=True,
        )
    if not result.ok:
        return 1
    err.print(f"{out}: up to date with {path} ({len(result.current)} files)", soft_wrap=True)
    if then_validate:
        from reactorc.validate import run_validate

        if target == "reactor-app":
            err.print(
                f"{out}: --validate runs models on this project's runtime, and a reactor-app "
                "folder needs reactor-runtime 3.x: validate the --target reactor-runtime output",
                soft_wrap=True,
            )
            return 2

        return run_validate(out, "auto", 24, False, False, (), None, None)
    return 0


__all__ = ["CheckResult", "compare_output", "run_check"]
