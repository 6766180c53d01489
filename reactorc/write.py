"""Write: put the rendered files in the output folder, all of them or none.

Files are written to a temporary folder beside the output first. A new output folder is that
folder renamed into place; into an existing one the files are moved one by one, the old ones
kept aside until every move succeeded and put back otherwise. Other files there are left alone. A generated file whose body
no longer matches the hash in its header was edited by hand and is kept unless forced.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reactorc.render import body_hash, split_header


class OutputError(Exception):
    """The output folder cannot be written as asked; one line saying what to do."""


@dataclass(frozen=True)
class WriteResult:
    """What a write did: the folder, the files written, and those that were already identical."""

    out_dir: Path
    written: tuple[str, ...]
    unchanged: tuple[str, ...]


def hand_edited(path: Path) -> str | None:
    """Why `path` must not be overwritten without --force ("" never; None when it may be)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return "it is not a readable text file reactorc wrote"
    _, recorded, body = split_header(text)
    if recorded is None:
        return "it was not written by reactorc"
    if body_hash(body) != recorded:
        return "it was edited by hand"
    return None


def check_existing(out_dir: Path, files: dict[str, str]) -> list[str]:
    """One line per existing file that a write would overwrite although it should not."""
    problems = []
    for name in files:
        path = out_dir / name
        if path.is_dir():
            problems.append(f"{path} is a folder")
        elif path.exists():
            why = hand_edited(path)
            if why:
                problems.append(f"{path}: {why}")
    return problems


def write_output(out_dir: Path, files: dict[str, str], *, force: bool = False) -> WriteResult:
    """Write `files` into `out_dir` atomically; OutputError (nothing written) when it cannot."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"{out_dir} exists and is not a folder; pass another -o")
    if out_dir.is_dir():
        problems = check_existing(out_dir, files)
        if problems and not force:
            raise OutputError(
                f"{problems[0]}; not overwriting it (pass --force to replace it"
                + (f", {len(problems) - 1} more file(s) too" if len(problems) > 1 else "")
                + ")"
            )
    parent = out_dir.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=parent))
    except OSError as exc:
        raise OutputError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    existed = out_dir.is_dir()
    unchanged = [n for n, text in files.items() if existed and _read(out_dir / n) == text]
    try:
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
        if existed:
            _replace_files(tmp, out_dir, [n for n in files if n not in unchanged])
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp made it private
            os.rename(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc}") from None
    written = tuple(n for n in files if n not in unchanged)
    return WriteResult(out_dir, written, tuple(unchanged))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _replace_files(tmp: Path, out_dir: Path, names: list[str]) -> None:
    """Move `names` from `tmp` into `out_dir`, keeping the old files aside until all are in;
    on any failure the files already moved are put back, so the folder is as it was."""
    done: list[tuple[str, bool]] = []
    try:
        for name in names:
            target = out_dir / name
            had = target.exists()
            if had:
                os.replace(target, tmp / f"{name}.old")
            done.append((name, had))
            os.replace(tmp / name, target)
    except OSError:
        for name, had in reversed(done):
            with contextlib.suppress(OSError):
                if had:
                    os.replace(tmp / f"{name}.old", out_dir / name)
                else:
                    (out_dir / name).unlink()
        raise
