"""Writing the output folder: all files or none, hand edits and foreign files protected."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from reactorc import write
from reactorc.render import body_hash, header
from reactorc.write import OutputError, write_output


def generated(body: str) -> str:
    return header("x.py", "../p.py", "P.run", "0" * 16, body_hash(body)) + body


FILES = {"a.py": generated("A = 1\n"), "b.yaml": generated("b: 1\n"), "c.md": generated("c\n")}


def test_a_new_folder_appears_whole_with_normal_permissions(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = write_output(out, FILES)
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    assert result.written == tuple(FILES)
    assert stat.S_IMODE(out.stat().st_mode) == 0o777 & ~_umask()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_failure_half_way_puts_every_file_back(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "out"
    write_output(out, FILES)
    before = {p.name: p.read_text() for p in out.iterdir()}
    newer = {n: generated(f"# v2 of {n}\n") for n in FILES}
    real = os.replace
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:  # after the first file went in and the second was set aside
            raise OSError(28, "No space left on device")
        return real(src, dst)

    monkeypatch.setattr(write.os, "replace", flaky)
    with pytest.raises(OutputError, match="No space left on device"):
        write_output(out, newer)
    monkeypatch.undo()
    assert {p.name: p.read_text() for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_other_files_in_the_folder_are_left_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "weights.bin").write_bytes(b"\x00" * 10)
    write_output(out, FILES)
    assert (out / "weights.bin").read_bytes() == b"\x00" * 10


def test_an_edited_body_or_a_foreign_file_needs_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_output(out, FILES)
    (out / "a.py").write_text((out / "a.py").read_text() + "B = 2\n")
    with pytest.raises(OutputError, match=r"a\.py: it was edited by hand"):
        write_output(out, FILES)
    (out / "b.yaml").write_text("mine: true\n")
    with pytest.raises(OutputError, match=r"1 more file\(s\) too"):
        write_output(out, FILES)
    write_output(out, FILES, force=True)
    assert (out / "a.py").read_text() == FILES["a.py"]


def test_rewriting_identical_files_reports_them_unchanged(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_output(out, FILES)
    result = write_output(out, FILES)
    assert result.written == () and result.unchanged == tuple(FILES)
