"""Write: put the rendered files in the output folder, all of them or none.

Files are written to a temporary folder beside the output and swapped in with renames, so an
interrupted convert leaves the old output (or nothing) in place. A generated file whose body
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
    unchanged = []
    try:
        if out_dir.is_dir():  # keep what else the folder holds
            for entry in out_dir.iterdir():
                if entry.name in files:
                    continue
                dest = tmp / entry.name
                if entry.is_dir() and not entry.is_symlink():
                    shutil.copytree(entry, dest, symlinks=True)
                else:
                    shutil.copy2(entry, dest, follow_symlinks=False)
            unchanged = [
                n
                for n, text in files.items()
                if (out_dir / n).is_file() and _read(out_dir / n) == text
            ]
        for name, text in files.items():
            (tmp / name).write_text(text, encoding="utf-8", newline="\n")
        _swap(tmp, out_dir)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise OutputError(f"cannot write {out_dir}: {exc.strerror or exc}") from None
    written = tuple(n for n in files if n not in unchanged)
    return WriteResult(out_dir, written, tuple(unchanged))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _swap(tmp: Path, out_dir: Path) -> None:
    """Replace `out_dir` by `tmp` with two renames; on failure the old folder is put back."""
    if not out_dir.exists():
        os.rename(tmp, out_dir)
        return
    mode = out_dir.stat().st_mode & 0o7777
    os.chmod(tmp, mode)
    backup = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=tmp.parent))
    backup.rmdir()
    os.rename(out_dir, backup)
    try:
        os.rename(tmp, out_dir)
    except OSError:
        os.rename(backup, out_dir)
        raise
    with contextlib.suppress(OSError):
        shutil.rmtree(backup)
