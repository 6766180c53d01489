"""`reactorc check pipeline.py -o out/`: exit 0 when the committed output is what convert writes
now, 1 with a unified diff when it is stale, 1 with the file names when it was edited by hand,
2 for bad usage; `--validate` runs validate on a current output. Also the shipped pre-commit
hook and the CI step that runs check on the committed outputs of the fixtures."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from validate_helpers import ROOT, SEED, convert_into, wrapper_path

from reactorc.check import compare_output
from reactorc.convert import build_files


def _reactorc(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactorc.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        check=False,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the seed pipeline with its converted output committed beside it."""
    shutil.copy(SEED, tmp_path / "pipeline.py")
    convert_into(tmp_path / "out", tmp_path / "pipeline.py")
    return tmp_path


def test_a_current_output_passes(project) -> None:
    done = _reactorc("check", "pipeline.py", "-o", "out", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stderr
    assert done.stdout == ""


def test_a_stale_output_fails_with_a_unified_diff(project) -> None:
    source = project / "pipeline.py"
    source.write_text(
        source.read_text().replace("guidance_scale: float = 7.5", "guidance_scale: float = 5.0")
    )
    done = _reactorc("check", "pipeline.py", "-o", "out", cwd=project)
    assert done.returncode == 1
    assert "stale: pipeline_stream.py" in done.stderr
    assert "reactorc convert pipeline.py -o out" in done.stderr
    assert "--- out/pipeline_stream.py (committed)" in done.stdout
    assert "+++ out/pipeline_stream.py (regenerated)" in done.stdout
    assert "-        default=7.5," in done.stdout
    assert "+        default=5.0," in done.stdout


def test_a_hand_edited_output_fails_naming_the_files(project) -> None:
    wrapper = wrapper_path(project / "out")
    wrapper.write_text(wrapper.read_text().replace("x = 0.8 * x", "x = 0.9 * x"))
    readme = project / "out" / "README.md"
    readme.write_text(readme.read_text() + "\nmy notes\n")
    done = _reactorc("check", "pipeline.py", "-o", "out", cwd=project)
    assert done.returncode == 1
    assert "edited by hand: pipeline_stream.py, README.md" in done.stderr
    assert "--force" in done.stderr
    assert done.stdout == ""  # no diff for a hand edit: the names say what to look at


def test_a_missing_generated_file_is_stale(project) -> None:
    (project / "out" / "server.py").unlink()
    done = _reactorc("check", "pipeline.py", "-o", "out", cwd=project)
    assert done.returncode == 1
    assert "stale: server.py" in done.stderr
    assert "+++ out/server.py (regenerated)" in done.stdout


def test_a_missing_output_folder_fails(project) -> None:
    done = _reactorc("check", "pipeline.py", "-o", "elsewhere", cwd=project)
    assert done.returncode == 1
    assert "elsewhere: missing; run `reactorc convert pipeline.py -o elsewhere`" in done.stderr


def test_other_files_in_the_output_folder_are_ignored(project) -> None:
    (project / "out" / "notes.txt").write_text("mine\n")
    assert compare_output(project / "out", _files(project)).ok


def _files(project: Path) -> dict[str, str]:
    from reactorc.analysis import explain

    return build_files(explain(project / "pipeline.py"), project / "pipeline.py", project / "out")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "fixtures/refused_interactive_prompt/pipeline.py", "-o", "x"], "cannot convert"),
        (["check", "no/such.py", "-o", "x"], "RC001"),
        (["check", "fixtures/seed/pipeline.py", "-o", "README.md"], "is not a folder"),
        (["check", "fixtures/seed/pipeline.py", "-o", "x", "--target", "nope"], "--target"),
    ],
)
def test_bad_usage_exits_2(args: list[str], message: str) -> None:
    done = _reactorc(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_validate_flag_runs_validate_on_a_current_output(project) -> None:
    done = _reactorc("check", "pipeline.py", "-o", "out", "--validate", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "equivalence" in done.stdout and "passed" in done.stdout


def test_the_ci_script_runs_check_on_every_committed_fixture_output() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    lines = [line for line in ci.splitlines() if "reactorc check" in line]
    assert any("tests/golden/*/" in line for line in lines), lines
    assert any("--validate" in line for line in lines), lines


def test_the_pre_commit_hook_runs_reactorc_check() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    hook = by_id["reactorc-check"]
    assert hook["entry"] == "reactorc check"
    assert hook["language"] == "python"
    assert hook["pass_filenames"] is False


def test_the_target_is_taken_from_the_committed_output(tmp_path) -> None:
    shutil.copy(SEED, tmp_path / "pipeline.py")
    done = _reactorc(
        "convert", "pipeline.py", "-o", "out", "--target", "reactor-runtime", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert _reactorc("check", "pipeline.py", "-o", "out", cwd=tmp_path).returncode == 0
    other = _reactorc("check", "pipeline.py", "-o", "out", "--target", "reactor", cwd=tmp_path)
    assert other.returncode == 1
    assert "stale: pipeline_stream.py, reactor.yaml" in other.stderr
