"""The stream benchmark's server-side figures (release lateness, encode time, jitter)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "stream.py"


@pytest.fixture(scope="module")
def stream():
    spec = importlib.util.spec_from_file_location("stream_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def trace(n: int, interval: float, late: float, encode: float, slow: tuple[int, ...] = ()) -> dict:
    released = [(i * 3000, 10.0 + i * interval + late, 10.0 + i * interval) for i in range(n)]
    encoded = [
        (pts - (i % 2), at + (encode * 5 if i in slow else encode))  # timestamps off by a tick
        for i, (pts, at, _) in enumerate(released)
    ]
    return {"released": released, "encoded": encoded}


def test_steady_frames_show_their_lateness_and_encode_time_and_no_jitter(stream):
    figures = stream.server_figures(trace(100, 1 / 30, 0.0005, 0.002), 1 / 30)
    assert figures["frames"] == 70  # the first 30 are warm-up
    assert figures["release_late_ms"] == {"p50": 0.5, "p99": 0.5}
    assert figures["release_to_encoded_ms"] == {"p50": 2.0, "p99": 2.0}
    assert figures["release_jitter_p99_ms"] == 0.0
    assert figures["encoded_jitter_p99_ms"] == 0.0


def test_slow_encodes_show_as_encoded_jitter_not_release_jitter(stream):
    figures = stream.server_figures(trace(100, 1 / 30, 0.0, 0.002, slow=(60, 70)), 1 / 30)
    assert figures["release_jitter_p99_ms"] == 0.0
    assert figures["release_to_encoded_ms"]["p99"] == 10.0
    assert figures["encoded_jitter_p99_ms"] == 8.0


def test_frames_without_a_matching_encoded_frame_are_left_out(stream):
    data = trace(100, 1 / 30, 0.0, 0.002)
    data["encoded"] = data["encoded"][:50]
    assert stream.server_figures(data, 1 / 30)["frames"] == 20
    assert stream.server_figures({}, 1 / 30)["frames"] == 0
