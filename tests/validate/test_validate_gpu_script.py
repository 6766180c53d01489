"""scripts/gpu_check.sh on this CPU-only machine: its CPU dry path (convert + validate + one
table) and its refusals. Its CUDA run needs a GPU machine (see docs/ci.md)."""

from __future__ import annotations

import subprocess

import pytest
from validate_helpers import ROOT

SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def _script(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
def test_the_cpu_dry_path_prints_one_table_for_the_chosen_fixtures() -> None:
    done = _script(
        "--device", "cpu", "--no-install", "--only", "double_pendulum_while,seed", "--frames", "8"
    )
    assert done.returncode == 0, done.stdout + done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert [r.split("│")[1].strip() for r in rows] == ["double_pendulum_while", "seed"]
    assert all("│ ok " in r for r in rows)
    assert "2 fixtures, 0 with a failed check" in done.stdout
    assert "stream fps" in done.stdout  # --stream ran (delivered fps column filled)
    assert all(r.split("│")[9].strip().isdigit() for r in rows), rows


def test_cuda_without_a_cuda_torch_stops_with_a_reason() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    done = _script("--no-install")  # --device cuda is the default
    assert done.returncode == 2
    assert "sees no CUDA device" in done.stderr
    assert "--device cpu" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device", "tpu"], "--device must be cuda or cpu"),
        (["--device", "cpu", "--no-install", "--only", "nope"], "names no convertible fixture"),
        (["--bogus"], "unknown argument --bogus"),
    ],
)
def test_bad_arguments_exit_2(args: list[str], message: str) -> None:
    done = _script(*args)
    assert done.returncode == 2
    assert message in done.stderr
