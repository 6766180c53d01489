"""The diagnostic table: format, stable codes, and docs/diagnostics.md kept true.

Every code in the table has a section in docs/diagnostics.md; each section's example, run
through the analysis, prints the diagnostic the page shows; and every code is exercised by some
compiler test besides this one."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from reactorc.analysis import explain_text
from reactorc.convert import ConvertError, build_files
from reactorc.diagnostics import CODES, Diagnostic, diagnostic, format_all, sort_diagnostics
from reactorc.parse import parse_bytes, parse_text, read_file

REPO = Path(__file__).resolve().parents[2]
DOC = (REPO / "docs" / "diagnostics.md").read_text(encoding="utf-8")
SECTIONS = dict(re.findall(r"^## (RC\d{3})\n(.*?)(?=^## RC|\Z)", DOC, flags=re.S | re.M))


def test_format_is_path_line_col_code_severity_message_then_hint() -> None:
    d = diagnostic("RC110", "p.py", 3, 9, "blocking input", "remove it")
    assert d.format() == "p.py:3:9: RC110 error: blocking input\n  hint: remove it"
    assert d.to_json() == {
        "code": "RC110",
        "severity": "error",
        "line": 3,
        "col": 9,
        "message": "blocking input",
        "hint": "remove it",
    }


def test_severity_comes_from_the_code_table_and_unknown_codes_are_refused() -> None:
    assert diagnostic("RC104", "p.py", 1, 1, "m", "h").severity == "note"
    assert diagnostic("RC301", "p.py", 1, 1, "m", "h").severity == "warning"
    with pytest.raises(KeyError):
        diagnostic("RC999", "p.py", 1, 1, "m", "h")


def test_gathered_diagnostics_sort_by_position_then_severity() -> None:
    ds = [
        Diagnostic("RC113", "note", "p.py", 5, 1, "n", "h"),
        Diagnostic("RC110", "error", "p.py", 5, 1, "e", "h"),
        Diagnostic("RC201", "note", "p.py", 2, 4, "n2", "h"),
    ]
    assert [d.code for d in sort_diagnostics(ds)] == ["RC201", "RC110", "RC113"]
    assert format_all(sort_diagnostics(ds)).count("\n  hint: ") == 3


def test_codes_are_stable_and_well_formed() -> None:
    assert all(re.fullmatch(r"RC\d{3}", c) for c in CODES)
    # The numbers fixtures and other tools rely on.
    assert {"RC102", "RC110", "RC111"} <= set(CODES)
    assert all(CODES[c].severity == "error" for c in ("RC110", "RC111"))
    assert CODES["RC102"].severity == "note"  # module scripts convert: setup -> load(), loop


def test_every_code_is_documented_and_every_documented_code_exists() -> None:
    assert set(SECTIONS) == set(CODES)
    for code, c in CODES.items():
        assert f"**{c.severity}: {c.title}.**" in SECTIONS[code]
        assert "Fix:" in SECTIONS[code]


def _blocks(section: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", section, flags=re.S)


EXAMPLES = sorted(code for code, s in SECTIONS.items() if _blocks(s, "python"))


def _step_form_diagnostics(source: str, tmp_path: Path) -> list[Diagnostic]:
    """What `reactorc convert pipeline.py -o out --target reactor-app` reports (RC5xx)."""
    (tmp_path / "pipeline.py").write_text(source, encoding="utf-8")
    plan = explain_text(source, "pipeline.py")
    assert plan.ok, [d.format() for d in plan.diagnostics]
    try:
        build_files(plan, Path("pipeline.py"), Path("out"), "reactor-app")
    except ConvertError as exc:
        return list(exc.diagnostics)
    return []


@pytest.mark.parametrize("code", EXAMPLES)
def test_documented_example_prints_the_documented_diagnostic(
    code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    section = SECTIONS[code]
    (source,) = _blocks(section, "python")
    (shown,) = _blocks(section, "text")
    if code.startswith("RC6"):  # raised when converting for the step form, not by the plan
        monkeypatch.chdir(tmp_path)
        printed = [d.format() for d in _step_form_diagnostics(source, tmp_path)]
        assert printed and printed[0] == shown.strip(), printed
        return
    flags = re.search(r"`reactorc explain pipeline.py ([^`]*)`", section)
    kwargs: dict = {}
    if flags:
        args = shlex.split(flags.group(1))
        if "--symbol" in args:
            kwargs["symbol"] = args[args.index("--symbol") + 1]
        if "--loop-line" in args:
            kwargs["loop_line"] = int(args[args.index("--loop-line") + 1])
    plan = explain_text(source, "pipeline.py", **kwargs)
    printed = [d.format() for d in plan.diagnostics if d.code == code]
    assert printed, [d.code for d in plan.diagnostics]
    assert printed[0] == shown.strip()


def test_documented_file_level_examples_are_what_reactorc_prints(tmp_path: Path) -> None:
    missing = read_file("missing.py").diagnostics[0].format()
    assert missing in SECTIONS["RC001"]
    notes = tmp_path / "notes.md"
    notes.write_text("# Notes\n\nSome words here.\n")
    first = read_file(notes).diagnostics[0].format().replace(str(notes), "notes.md")
    assert first in SECTIONS["RC000"]
    latin1 = parse_bytes(b'x = 1\ntitle = "caf\xe9"\n', "pipeline.py").diagnostics[0].format()
    assert latin1 in SECTIONS["RC002"]
    empty = parse_text("", "pipeline.py").diagnostics[0].format()
    assert empty in SECTIONS["RC004"]
    chain = " + ".join(["k"] * 1500)
    deep = explain_text(f"x = {chain}\n", "pipeline.py").diagnostics[0].format()
    assert deep in SECTIONS["RC005"]


def test_every_code_is_exercised_by_a_compiler_test() -> None:
    here = Path(__file__)
    text = "".join(
        p.read_text(encoding="utf-8") for p in here.parent.glob("test_*.py") if p != here
    )
    missing = [code for code in CODES if code not in text]
    assert missing == []
