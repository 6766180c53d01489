"""A misbehaving model under `reactor run`: a load() that hangs (reported as loading, then the
process ends with exit 1 and the reason), a step that blocks forever (stop_session still
returns, the model is reported stuck, the next client gets a 503 with the reason), clips that
leak memory (reported as growth per clip). SIGTERM ends the process within 2 s in each case."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from cli_harness import Served, project, reactor_run
from reactor._metrics import read_samples
from rtc_client import Client

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict]:
    async with http.get(url) as response:
        return response.status, await response.json()


async def start_session(http: aiohttp.ClientSession, served: Served) -> tuple[int, dict, dict]:
    async with http.post(f"{served.url}/start_session", headers=API) as response:
        return response.status, await response.json(), dict(response.headers)


async def metrics(http: aiohttp.ClientSession, served: Served) -> dict:
    async with http.get(f"{served.url}/metrics") as response:
        return read_samples(await response.text())


async def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        await asyncio.sleep(0.1)


async def test_a_load_that_hangs_is_reported_loading_then_ends_the_process_with_exit_1(
    tmp_path: Path,
) -> None:
    manifest = project(tmp_path, "fault_models:HangingLoad")
    started = time.monotonic()
    async with (
        reactor_run(manifest, "--load-timeout", "4") as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        assert "the model is loading" in served.banner
        status, health = await get_json(http, f"{served.url}/health")
        assert status == 503 and health["status"] == "loading"
        assert "the model is loading" in health["reason"] and "the limit is 4 s" in health["reason"]
        status, refused, headers = await start_session(http, served)
        assert status == 503 and refused["error"] == "model_loading", refused
        assert int(headers["Retry-After"]) >= 1
        status, schema = await get_json(http, f"{served.url}/schema")  # known from the class
        assert status == 200 and "/commands/set_level" in schema["paths"]
        code = await asyncio.wait_for(served.proc.wait(), 30)
    took = time.monotonic() - started
    assert code == 1
    assert 4 <= took < 4 + 15, took
    errors = served.errors()
    assert errors == [
        "error: the model did not finish loading within 4 s (its load() is still running); "
        "--load-timeout sets how long loading may take"
    ], errors


async def test_sigterm_while_the_model_hangs_in_load_exits_within_2_s(tmp_path: Path) -> None:
    manifest = project(tmp_path, "fault_models:HangingLoad")
    async with reactor_run(manifest) as served:
        async with aiohttp.ClientSession() as http:
            _, health = await get_json(http, f"{served.url}/health")
        assert health["status"] == "loading"
        code, took = await served.stop()
    assert code == 0 and took < 2.0, (code, took)


async def test_a_slow_load_serves_health_meanwhile_and_clients_once_loaded(tmp_path: Path) -> None:
    manifest = project(tmp_path, "fault_models:SlowLoad", {"load_seconds": 3})
    async with (
        reactor_run(manifest) as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        status, health = await get_json(http, f"{served.url}/health")
        assert (status, health["status"]) == (503, "loading")

        async def ready() -> bool:
            return (await get_json(http, f"{served.url}/health"))[1]["status"] == "ready"

        await wait_for(ready, 30, "the model loaded")
        client = Client(served.url, http)
        await client.start()
        await client.connect()
        await client.wait_frames(5)
        await client.close()
        code, took = await served.stop()
    assert code == 0 and took < 2.0


async def test_a_step_that_blocks_forever_is_reported_stuck_and_refuses_the_next_client(
    tmp_path: Path,
) -> None:
    manifest = project(tmp_path, "fault_models:BlockingStep", {"frames_before_block": 10})
    async with (
        reactor_run(manifest, "--stuck-after", "2") as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        client = Client(served.url, http)
        await client.start()
        await client.connect()
        await client.wait_frames(8)  # then the model's 11th step never returns
        # The streaming client hears that the model is stuck, and /health says so.
        stuck = await client.wait_message(
            lambda m: m["data"]["type"] == "error" and m["data"]["data"].get("stuck"), timeout=15
        )
        assert "has been running for" in stuck["data"]["data"]["message"]
        status, health = await get_json(http, f"{served.url}/health")
        assert (status, health["status"]) == (503, "stuck")
        assert client.session_id in health["reason"]
        # stop_session still returns, within 2 s.
        sent = time.monotonic()
        async with http.post(f"{served.url}/stop_session") as response:
            assert response.status == 200
        assert time.monotonic() - sent < 2.0
        status, health = await get_json(http, f"{served.url}/health")
        assert (status, health["status"]) == (503, "stuck")
        assert f"did not return when session {client.session_id} ended" in health["reason"]
        # The next client is told why at once, instead of waiting on the model.
        sent = time.monotonic()
        status, refused, headers = await start_session(http, served)
        assert time.monotonic() - sent < 2.0
        assert status == 503 and refused["error"] == "model_stuck"
        assert refused["message"].startswith("the model's last step has been running for")
        assert f"did not return when session {client.session_id} ended" in refused["message"]
        assert int(headers["Retry-After"]) >= 1
        figures = await metrics(http, served)
        assert figures["reactor_model_state"][(("state", "stuck"),)] == 1
        assert figures["reactor_sessions_refused_total"][(("reason", "stuck"),)] == 1
        assert figures["reactor_sessions_ended_total"][(("reason", "client_stopped"),)] == 1
        await client.close(stop=False)
        code, took = await served.stop()
    assert code == 0 and took < 2.0, (code, took)


async def clips_growth(tmp_path: Path, leak_mb: int) -> dict:
    """Serve LeakyClips (3-frame clips) to one client for 30 clips; /health's memory part."""
    manifest = project(tmp_path, "fault_models:LeakyClips", {"leak_mb": leak_mb})
    async with (
        reactor_run(manifest) as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
    ):
        client = Client(served.url, http)
        await client.start()
        await client.connect()

        async def enough() -> bool:
            return (await get_json(http, f"{served.url}/health"))[1]["memory"]["clips"] >= 30

        await wait_for(enough, 60, "30 clips")
        _, health = await get_json(http, f"{served.url}/health")
        figures = await metrics(http, served)
        await client.close()
        code, took = await served.stop()
    assert code == 0 and took < 2.0, (code, took)
    gauge = figures["reactor_model_memory_growth_per_clip_bytes"][(("memory", "rss"),)]
    return {**health, "gauge": gauge}


async def test_a_model_that_leaks_per_clip_shows_its_growth_per_clip_in_health(
    tmp_path: Path,
) -> None:
    health = await clips_growth(tmp_path, leak_mb=4)
    memory = health["memory"]
    assert 3_000_000 < memory["rss_growth_per_clip_bytes"] < 6_000_000, memory
    assert memory["rss_clips_measured"] == 12
    assert health["gauge"] > 3_000_000
    assert len(health["warnings"]) == 1 and "grows by" in health["warnings"][0]
    assert "per clip" in health["warnings"][0]


async def test_a_model_that_does_not_leak_shows_no_growth(tmp_path: Path) -> None:
    health = await clips_growth(tmp_path, leak_mb=0)
    assert abs(health["memory"]["rss_growth_per_clip_bytes"]) < 500_000, health["memory"]
    assert health["warnings"] == []
