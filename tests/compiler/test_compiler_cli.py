"""`reactorc explain`: what a user sees, the JSON contract, exit statuses, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reactorc import analysis
from reactorc.cli import app

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "fixtures" / "seed" / "pipeline.py"

GOOD = """
import numpy as np


class Pipeline:
    def __call__(self, prompt: str = "a", gain: float = 1.0, num_frames: int = 4):
        \"\"\"Make a clip.

        Args:
            prompt: What to show.
            gain: Brightness.
            num_frames: Clip length.
        \"\"\"
        assert 0.0 <= gain <= 2.0
        emb = encode(prompt)
        frames = []
        for i in range(num_frames):
            frames.append(draw(emb, i) * gain)
        return np.stack(frames)
"""

BLOCKING = """
def run(n: int = 3):
    frames = []
    for i in range(n):
        key = input("key? ")
        frames.append(draw(key))
    return frames
"""


def write(tmp_path: Path, text: str, name: str = "pipeline.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, ["explain", *args])


def test_human_output_shows_loop_state_and_liveness(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, GOOD)))
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Pipeline.__call__" in out
    assert "line 17: for-range `i` over `range(num_frames)`" in out
    for name in ("prompt", "gain", "num_frames"):
        assert name in out
    assert "live" in out and "restart" in out
    assert "0.0 <= x <= 2.0" in out
    assert "line 15: `emb = encode(prompt)`  <- prompt" in out


def test_json_has_the_documented_contract(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, GOOD)), "--json")
    assert result.exit_code == 0
    plan = json.loads(result.stdout)
    assert plan["symbol"] == "Pipeline.__call__"
    loop = plan["frame_loop"]
    assert {k: loop[k] for k in ("line", "kind", "frames_per_iteration", "sink")} == {
        "line": 17,
        "kind": "for-range",
        "frames_per_iteration": 1,
        "sink": "append",
    }
    assert plan["decode_after_loop"] is False
    gain = next(f for f in plan["state"] if f["name"] == "gain")
    assert {k: gain[k] for k in ("type", "default", "ge", "le", "choices", "live")} == {
        "type": "float",
        "default": 1.0,
        "ge": 0.0,
        "le": 2.0,
        "choices": None,
        "live": True,
    }
    assert gain["description"] == "Brightness."
    for d in plan["diagnostics"]:
        assert set(d) == {"code", "severity", "line", "col", "message", "hint"}


def test_refusal_prints_compiler_style_diagnostics_and_exits_2(tmp_path: Path) -> None:
    path = write(tmp_path, BLOCKING)
    result = invoke(str(path))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    head = next(i for i, line in enumerate(lines) if "RC110" in line)
    assert (
        lines[head]
        == f'{path}:5:15: RC110 error: blocking input `input("key? ")` inside the frame loop'
    )
    assert lines[head + 1].startswith("  hint: a stream cannot wait for a key press")


def test_refusal_as_json_still_prints_the_diagnostics(tmp_path: Path) -> None:
    result = invoke(str(write(tmp_path, BLOCKING)), "--json")
    assert result.exit_code == 2
    plan = json.loads(result.stdout)
    assert [d["code"] for d in plan["diagnostics"] if d["severity"] == "error"] == ["RC110"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"def broken(:\n", "RC003"),
        (b"", "RC004"),
        (b"x = '\xff'\n", "RC002"),
    ],
)
def test_unusable_files_exit_2_with_one_diagnostic(
    tmp_path: Path, content: bytes, code: str
) -> None:
    path = tmp_path / "p.py"
    path.write_bytes(content)
    result = invoke(str(path))
    assert result.exit_code == 2
    assert f"{code} error" in result.stderr
    assert "Traceback" not in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke(str(tmp_path / "missing.py"))
    assert result.exit_code == 2
    assert "RC001 error: no such file" in result.stderr


@pytest.mark.parametrize(
    "args",
    [["--loop-line", "abc"], ["--loop-line", "0"], ["--bogus"], []],
    ids=["loop-line-not-int", "loop-line-zero", "unknown-option", "no-path"],
)
def test_bad_usage_exits_2(tmp_path: Path, args: list[str]) -> None:
    path = [str(write(tmp_path, GOOD))] if args else []
    result = invoke(*path, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_wrong_symbol_and_loop_line_exit_2_with_their_codes(tmp_path: Path) -> None:
    path = str(write(tmp_path, GOOD))
    bad_symbol = invoke(path, "--symbol", "Pipeline.run")
    assert bad_symbol.exit_code == 2 and "RC105" in bad_symbol.stderr
    assert "Pipeline.__call__" in bad_symbol.stderr
    bad_line = invoke(path, "--symbol", "Pipeline.__call__", "--loop-line", "3")
    assert bad_line.exit_code == 2 and "RC106" in bad_line.stderr
    good = invoke(path, "--symbol", "Pipeline.__call__", "--loop-line", "17", "--json")
    assert good.exit_code == 0 and json.loads(good.stdout)["frame_loop"]["line"] == 17


def test_internal_error_is_rc900_not_a_traceback(tmp_path: Path, monkeypatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(analysis, "explain", boom)
    result = invoke(str(write(tmp_path, GOOD)))
    assert result.exit_code == 2
    assert "RC900 error: internal error in reactorc: RuntimeError: simulated bug" in result.stderr
    assert "Traceback" not in result.output


def test_explain_writes_nothing(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    before = sorted(p.name for p in tmp_path.iterdir())
    invoke(str(path))
    invoke(str(path), "--json")
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_console_script_runs_explain_on_the_seed() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from reactorc.cli import main; main()",
            "explain",
            str(SEED),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["symbol"] == "OriginalPipeline.__call__"


def test_compiler_does_not_import_torch() -> None:
    code = (
        "import sys, reactorc.cli, reactorc.analysis\n"
        "from reactorc.analysis import explain\n"
        f"explain({str(SEED)!r})\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_ambiguous_file_lists_the_candidates_for_people(tmp_path: Path) -> None:
    two = """
    def first(n: int = 3):
        frames = []
        for i in range(n):
            frames.append(draw(i))
        return frames


    def second(n: int = 3):
        frames = []
        for i in range(n):
            frames.append(draw(i))
        return frames
    """
    result = invoke(str(write(tmp_path, two)))
    assert result.exit_code == 2
    assert "no plan" in result.stdout
    assert "first line 4 (score" in result.stdout and "second line 11 (score" in result.stdout
    assert "RC103 error" in result.stderr


def test_code_with_brackets_is_printed_verbatim(tmp_path: Path) -> None:
    source = """
    import torch

    def run(n: int = 3):
        video = torch.zeros(n, 3, 8, 8)
        for i in range(n):
            x = step(i)
            video[i] = (x[0, :3] + 1) / 2
        return video
    """
    result = invoke(str(write(tmp_path, source)))
    assert result.exit_code == 0
    assert "frame: `(x[0, :3] + 1) / 2`" in " ".join(result.stdout.split())
    one_shot = invoke(str(write(tmp_path, REFUSED_ONE_SHOT, "one_shot.py")))
    assert "out[i] = x" in one_shot.stderr


REFUSED_ONE_SHOT = """
def sample(steps: int = 5):
    x = noise()
    for t in range(steps):
        x = denoise(x, t)
    return x
"""
