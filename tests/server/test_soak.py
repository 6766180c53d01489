"""The shortened soak (benchmarks/soak.py with 100 sessions, 50 vanishing clients and a
2-minute stream) against `reactor run`: no failure, nothing lost, nothing leaked once the ping
timeout has passed (threads, descriptors, peer connections, asyncio tasks), RSS growth under
5 %. The stream runs on a second server meanwhile, to keep this near three minutes."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

WORKER_POOL = min(32, (os.cpu_count() or 1) + 4)
"""The size of `reactor run`'s worker pool (it never starts more)."""
SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def soak_module():
    spec = importlib.util.spec_from_file_location("soak_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def no_leak(before: dict, after: dict) -> None:
    assert after["threads"] <= before["threads"], (before, after)
    assert after["worker_threads"] <= WORKER_POOL, after
    assert after["open_fds"] <= before["open_fds"], (before, after)
    assert after["peer_connections"] == 0, after
    assert after["asyncio_tasks"] <= before["asyncio_tasks"], (before, after)
    assert after["rss_mb"] < before["rss_mb"] * 1.05, (before, after)


async def test_the_shortened_soak_loses_nothing_and_leaks_nothing(soak_module, tmp_path) -> None:
    ping_timeout = 0.5
    figures = await soak_module.soak(
        sessions=100,
        vanishing=50,
        minutes=2,
        ping_timeout=ping_timeout,
        flood_seconds=0,
        warmup=10,
        parallel_stream=True,
        folder=tmp_path,
    )
    sessions = figures["sessions"]
    assert sessions["failures"] == 0, sessions["failure_reasons"]
    for round_ in figures["concurrency"]["simultaneous_starts"]["rounds"]:
        assert round_ == {"won": 1, "refused_409": 19, "refused_with_reason": 19, "other": []}
    race = figures["concurrency"]["start_stop_race"]
    assert race["stolen"] == 0 and race["other"] == [] and race["ready_after"] == "ready", race
    assert race["started"] == race["stopped"] >= 1
    vanishing = figures["vanishing"]
    assert vanishing["failures"] == 0, vanishing["failure_reasons"]
    assert vanishing["freed_within_ping_timeout_plus_1s"] == 50, vanishing["freed_after_s"]
    resources = figures["resources"]
    no_leak(resources["before"], resources["after"])
    streamed = figures["stream_resources"]
    no_leak(streamed["before"], streamed["after"])
    stream = figures["stream"]
    assert stream["frames_lost"] == 0 and stream["frames_duplicated"] == 0, stream
    assert stream["frames_received"] >= 0.95 * 2 * 60 * 30, stream
    assert figures["server_exit"]["status"] == 0
    assert figures["server_exit"]["seconds_after_sigterm"] < 2.0
    assert figures["stream_server_exit"]["status"] == 0
