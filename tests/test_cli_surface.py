"""What a new user meets first on both commands: --version, --help and a usage mistake look
the same way on `reactor` and `reactorc` (one plain line, exit status 2, the help to read)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata

import pytest
import reactor.cli

import reactorc.cli
from reactorc import __version__

MAINS: dict[str, Callable[[list[str] | None], None]] = {
    "reactor": reactor.cli.main,
    "reactorc": reactorc.cli.main,
}
BOX = set("╭╮╰╯│─")


def run(prog: str, argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    monkeypatch.setenv("COLUMNS", "160")
    monkeypatch.setenv("TERM", "dumb")
    with pytest.raises(SystemExit) as info:
        MAINS[prog](argv)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


@pytest.mark.parametrize("prog", sorted(MAINS))
def test_version_prints_the_installed_version(prog: str, capsys, monkeypatch) -> None:
    code, out, _ = run(prog, ["--version"], capsys, monkeypatch)
    assert code == 0
    assert out.strip() == f"{prog} {metadata.version('reactorc')}"
    assert metadata.version("reactorc") == __version__


@pytest.mark.parametrize(
    ("prog", "argv", "expected"),
    [
        ("reactor", ["frobnicate"], "error: No such command 'frobnicate'. (see: reactor --help)"),
        ("reactorc", ["frobnicate"], "error: No such command 'frobnicate'. (see: reactorc --help)"),
        ("reactor", ["run", "--bogus"], "(see: reactor run --help)"),
        ("reactorc", ["convert", "x.py", "--bogus"], "(see: reactorc convert --help)"),
        ("reactorc", ["convert"], "error: Missing argument 'PATH'. (see: reactorc convert --help)"),
        ("reactor", ["schema", "--manifest"], "(see: reactor schema --help)"),
    ],
)
def test_a_usage_mistake_is_one_plain_line_and_exit_2(
    prog: str, argv: list[str], expected: str, capsys, monkeypatch
) -> None:
    code, out, err = run(prog, argv, capsys, monkeypatch)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert expected in err and err.startswith("error: ")
    assert not BOX & set(err), "a boxed panel"
    assert f"{prog} {prog}" not in err


@pytest.mark.parametrize(
    ("prog", "argv"),
    [
        ("reactorc", ["convert", "--help"]),
        ("reactorc", ["explain", "--help"]),
        ("reactorc", ["check", "--help"]),
        ("reactorc", ["validate", "--help"]),
        ("reactor", ["run", "--help"]),
        ("reactor", ["--help"]),
    ],
)
def test_help_names_arguments_in_capitals_and_flags_take_no_value(
    prog: str, argv: list[str], capsys, monkeypatch
) -> None:
    code, out, _ = run(prog, argv, capsys, monkeypatch)
    assert code == 0
    assert "<bool>" not in out and "{path}" not in out and "{folder}" not in out
    if prog == "reactorc" and argv[0] in ("convert", "explain", "check"):
        assert f"Usage: reactorc {argv[0]} [OPTIONS] PATH" in out


def test_convert_help_lists_every_file_it_writes(capsys, monkeypatch, tmp_path) -> None:
    from pathlib import Path

    seed = Path(__file__).resolve().parents[1] / "fixtures" / "seed" / "pipeline.py"
    with pytest.raises(SystemExit):
        reactorc.cli.main(["convert", str(seed), "-o", str(tmp_path / "out")])
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    capsys.readouterr()
    _, out, _ = run("reactorc", ["convert", "--help"], capsys, monkeypatch)
    help_text = " ".join(out.split())
    described = {"pipeline_stream.py": "the wrapper"}
    for name in written:
        assert described.get(name, name) in help_text, name
    assert len(written) == 5
