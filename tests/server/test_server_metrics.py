"""`GET /metrics` (Prometheus text, read back by Prometheus' own parser) counts what happened:
sessions started and ended by reason, frames sent and late, update latencies, refused commands
by reason, uploaded bytes; `GET /health` says ready or busy with a reason."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families
from reactor._metrics import Metrics, merge_pages, read_samples
from reactor._runner import Runner
from server_harness import serving
from server_models import Counter

pytestmark = pytest.mark.timeout(60)

API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


async def page(running) -> str:
    async with running.http.get(f"{running.url}metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return await response.text()


def families(text: str) -> dict:
    """Parsed by prometheus_client, which refuses anything that is not the text format."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(parsed: dict, family: str, sample: str, **labels: str) -> float:
    for s in parsed[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise AssertionError(f"no sample {sample}{labels}")


async def test_a_session_is_counted_from_start_to_end() -> None:
    async with serving(Runner(Counter())) as running:
        parsed = families(await page(running))
        assert value(parsed, "reactor_sessions_started", "reactor_sessions_started_total") == 0
        assert value(parsed, "reactor_upload_bytes", "reactor_upload_bytes_total") == 0
        assert value(parsed, "reactor_model_state", "reactor_model_state", state="ready") == 1

        client = running.client()
        await client.start()
        async with running.http.post(f"{running.url}start_session", headers=API) as refused:
            assert refused.status == 409
        await client.connect()
        await client.wait_frames(5)
        async with running.http.get(f"{running.url}health") as response:
            health = await response.json()
        assert response.status == 200 and health["status"] == "busy"
        assert client.session_id in health["reason"]
        assert health["memory"]["clips"] == 1

        client.send("application", "set_level", {"level": 77})
        client.send("application", "set_level", {"level": 999})  # out of bounds
        client.send("application", "set_nothing", {})
        client.send_raw("{not json")
        client.send("runtime", "frobnicate", {})
        await client.wait_message(  # one error each, except for set_level 77
            lambda m: sum(x["data"]["type"] == "error" for x in client.messages) >= 4
        )
        frames = client.frames["main_video"]
        while not any(f.value == 77 for f in frames):
            await client.wait_frames(len(frames) + 1)
        async with running.http.get(f"{running.url}sessions/nope") as response:
            assert response.status == 404
        await client.close()

        parsed = families(await page(running))
    assert value(parsed, "reactor_sessions_started", "reactor_sessions_started_total") == 1
    assert (
        value(
            parsed,
            "reactor_sessions_ended",
            "reactor_sessions_ended_total",
            reason="client_stopped",
        )
        == 1
    )
    assert (
        value(parsed, "reactor_sessions_refused", "reactor_sessions_refused_total", reason="busy")
        == 1
    )
    sent = value(parsed, "reactor_frames_sent", "reactor_frames_sent_total", track="main_video")
    assert sent >= len(frames)
    assert value(parsed, "reactor_frame_delay_seconds", "reactor_frame_delay_seconds_count") == sent
    assert (
        value(parsed, "reactor_update_latency_seconds", "reactor_update_latency_seconds_count") == 1
    )
    latency = value(parsed, "reactor_update_latency_seconds", "reactor_update_latency_seconds_sum")
    assert 0 < latency < 2.0
    assert value(parsed, "reactor_commands", "reactor_commands_total") == 1
    for reason in ("invalid_value", "unknown_command", "malformed"):
        assert (
            value(
                parsed, "reactor_commands_refused", "reactor_commands_refused_total", reason=reason
            )
            >= 1
        )
    assert (
        value(
            parsed,
            "reactor_requests_refused",
            "reactor_requests_refused_total",
            status="404",
            code="unknown_session",
        )
        == 1
    )
    assert value(parsed, "reactor_peer_connections", "reactor_peer_connections") == 0
    assert value(parsed, "process_resident_memory_bytes", "process_resident_memory_bytes") > 0
    assert value(parsed, "process_open_fds", "process_open_fds") > 0
    assert value(parsed, "process_threads", "process_threads") >= 1
    assert value(parsed, "reactor_asyncio_tasks", "reactor_asyncio_tasks") >= 1
    buckets = [
        s.value for s in parsed["reactor_frame_delay_seconds"].samples if s.name.endswith("_bucket")
    ]
    assert buckets == sorted(buckets) and buckets[-1] == sent


async def test_uploaded_bytes_are_counted_by_the_function_uploads_call() -> None:
    async with serving(Runner(Counter())) as running:
        running.server.metrics.upload_received(1500)
        running.server.metrics.upload_received(500)
        parsed = families(await page(running))
    assert value(parsed, "reactor_upload_bytes", "reactor_upload_bytes_total") == 2000


def test_a_frame_is_late_after_half_an_interval() -> None:
    metrics = Metrics()
    metrics.frame_sent("v", due=10.0, released=10.004)  # no interval yet: 10 ms rule
    metrics.frame_sent("v", due=10.1, released=10.149)  # 100 ms interval: late after 50 ms
    metrics.frame_sent("v", due=10.2, released=10.251)
    metrics.frame_sent("a", due=5.0, released=5.02)
    assert metrics.frames_sent.value(track="v") == 3
    assert metrics.frames_late.value(track="v") == 1
    assert metrics.frames_late.value(track="a") == 1
    assert metrics.frame_delay.count == 4


def test_label_values_are_escaped_and_pages_merge_with_a_replica_label() -> None:
    one, two = Metrics(), Metrics()
    one.sessions_ended.inc(reason='odd "quoted"\nreason\\')
    two.sessions_started.inc(3)
    two.frame_delay.observe(0.003)
    merged = merge_pages({"replica-0": one.render(), "replica-1": two.render()})
    parsed = families(merged)
    samples = read_samples(merged)
    assert samples["reactor_sessions_started_total"] == {
        (("replica", "replica-0"),): 0.0,
        (("replica", "replica-1"),): 3.0,
    }
    assert samples["reactor_sessions_ended_total"] == {
        (("replica", "replica-0"), ("reason", 'odd "quoted"\nreason\\')): 1.0
    }
    bucket = value(
        parsed,
        "reactor_frame_delay_seconds",
        "reactor_frame_delay_seconds_bucket",
        replica="replica-1",
        le="0.005",
    )
    assert bucket == 1
    assert merged.count("# TYPE reactor_sessions_started_total counter") == 1
