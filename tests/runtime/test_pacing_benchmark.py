"""The pacing benchmark keeps running and printing its figures (never asserted: machines vary)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pacing.py"


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_benchmark_prints_every_figure_as_json():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        check=True,
    )
    figures = json.loads(result.stdout)
    grid = {(row["model_fps"], row["batch"]) for row in figures["adaptive"]}
    assert grid == {(rate, batch) for rate in (10, 30, 80, 200) for batch in (1, 4, 16)}
    for row in [*figures["adaptive"], figures["fixed_30fps"]]:
        assert row["frames"] > 0
        assert row["achieved_fps"] > 0
        assert row["interval_error_ms_p99"] >= row["interval_error_ms_p50"] >= 0
    assert figures["fixed_30fps"]["target_fps"] == 30
    assert {row["batch"] for row in figures["throughput_pacing_off"]} == {1, 4, 16}
    assert all(row["ratio"] > 0 for row in figures["throughput_pacing_off"])
    synthetic = {
        (row["model_fps"], row["batch"]) for row in figures["throughput_pacing_off_synthetic"]
    }
    assert synthetic == {(rate, batch) for rate in (10, 30, 80, 200) for batch in (1, 4, 16)}
    for row in figures["throughput_pacing_off_synthetic"]:
        assert row["frames"] >= 2 * row["batch"] and row["frames"] % row["batch"] == 0
        assert row["ratio"] > 0 and row["meets_target"] == (row["ratio"] >= 0.97)
    assert len(figures["machine"]["load_average_before"]) == 3
