"""Golden outputs: what `reactorc convert` writes for every convertible fixture, pinned in
`tests/golden/<fixture>/`. Refresh them with one command after an intended change:

    python tests/emit/refresh_golden.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from emit_helpers import GOLDEN, ROOT, convertible, golden_files

from reactorc.render import body_hash, source_hash, split_header

FIXTURES = convertible()
REFRESH = "python tests/emit/refresh_golden.py"


@pytest.fixture(scope="module")
def rendered() -> dict[str, dict[str, str]]:
    return {fx.name: golden_files(fx) for fx in FIXTURES}


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_output_matches_its_golden(fx, rendered) -> None:
    files = rendered[fx.name]
    folder = GOLDEN / fx.name
    assert sorted(p.name for p in folder.iterdir()) == sorted(files), f"run {REFRESH}"
    for name, text in files.items():
        assert (folder / name).read_text(encoding="utf-8") == text, f"{name} differs; run {REFRESH}"


def test_every_convertible_fixture_has_a_golden_and_no_golden_is_stale() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()) == sorted(
        fx.name for fx in FIXTURES
    )


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_every_file_carries_the_source_and_its_own_hash(fx, rendered) -> None:
    source = fx.pipeline_path.read_bytes()
    for name, text in rendered[fx.name].items():
        src, body, rest = split_header(text)
        assert src == source_hash(source), name
        assert body == body_hash(rest), name
        assert f"fixtures/{fx.name}/pipeline.py" in text.splitlines()[0], name


def test_generated_python_is_ruff_format_clean_where_it_lands() -> None:
    # named explicitly, the goldens are checked with this repository's ruff settings even
    # though the repository's own `ruff format` excludes tests/golden
    files = sorted(str(p) for p in GOLDEN.glob("*/*.py"))
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_python_has_no_undefined_names_or_unused_imports() -> None:
    # F841 is left out: an unused local the original itself binds (`trail, frames = [], []`)
    # stays as the original wrote it.
    files = sorted(str(p) for p in GOLDEN.glob("*/*.py"))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "ruff",
            "check",
            "--isolated",
            "--select",
            "F401,F811,F821,F823",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_the_wrapper_imports_the_original_by_path_and_never_copies_it(fx, rendered) -> None:
    wrapper = next(t for n, t in rendered[fx.name].items() if n.endswith("_stream.py"))
    assert f'/ "../../../fixtures/{fx.name}/pipeline.py"' in wrapper
    if fx.is_script:  # a script: its definitions only, never its script code
        assert "load_definitions(SOURCE, name)" in wrapper
    else:
        assert "spec_from_file_location(name, SOURCE)" in wrapper
    own_classes = [
        line for line in fx.pipeline_path.read_text().splitlines() if line.startswith("class ")
    ]
    assert not any(line in wrapper.splitlines() for line in own_classes)


def test_rendering_does_not_touch_the_original() -> None:
    before = {fx.name: fx.pipeline_path.read_bytes() for fx in FIXTURES}
    for fx in FIXTURES:
        golden_files(fx)
    assert {fx.name: fx.pipeline_path.read_bytes() for fx in FIXTURES} == before
    assert not list(Path(ROOT / "fixtures").glob("*/pipeline_stream.py"))
