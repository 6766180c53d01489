"""Hostile clients: 200 malformed or adversarial SDP offers (each a 4xx with a reason, checked
before any peer connection is built, memory flat, the server still serving), bodies over the
size limit (413), a data-channel flood (rate-limited, one error per refused burst, frames keep
their pace) and clients that never read (server memory stays bounded)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import aiohttp
import pytest
from cli_harness import project, reactor_run
from hostile_offers import hostile_offers
from reactor import _transport
from reactor._limits import Limits
from reactor._metrics import read_samples, resident_bytes
from reactor._runner import Runner
from rtc_client import Client
from server_harness import serving
from server_models import Counter

pytestmark = pytest.mark.timeout(180)

HOSTILE = hostile_offers()
API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


class CountingPeerConnection(_transport.RTCPeerConnection):
    built = 0

    def __init__(self, *args, **kwargs) -> None:
        CountingPeerConnection.built += 1
        super().__init__(*args, **kwargs)


async def post_offer(client: Client, sdp: object) -> tuple[int, dict]:
    url = f"{client.base}/sessions/{client.session_id}/transport/webrtc/sdp_params"
    headers = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0"}
    async with client.http.post(url, json={"sdp_offer": sdp}, headers=headers) as response:
        return response.status, await response.json()


@pytest.mark.slow
async def test_hostile_offers_get_a_4xx_with_a_reason_before_any_peer_is_built(
    monkeypatch, caplog
) -> None:
    monkeypatch.setattr(_transport, "RTCPeerConnection", CountingPeerConnection)
    caplog.set_level(logging.ERROR)
    async with serving(Runner(Counter())) as running:
        client = running.client()
        await client.start()
        rss: list[int] = []
        for round_ in range(3):
            for hostile in HOSTILE:
                started = time.monotonic()
                status, reply = await post_offer(client, hostile.sdp)
                assert status == hostile.status, (hostile.id, status, reply)
                assert reply["error"] == ("bad_offer" if status == 400 else "body_too_large")
                assert hostile.reason in reply["message"], (hostile.id, reply)
                assert "\n" not in reply["message"]
                assert time.monotonic() - started < 5.0, hostile.id
            rss.append(resident_bytes())
            assert CountingPeerConnection.built == 0, round_
        # Memory is flat: the second and third hundreds cost nothing the first did not.
        assert rss[2] - rss[0] < 8_000_000, rss
        assert not [r for r in caplog.records if "exception was never retrieved" in r.getMessage()]
        # The session survived it all: a good offer still connects and streams.
        await client.connect()
        await client.wait_frames(5)
        await client.close()
    assert CountingPeerConnection.built == 1


async def test_bodies_over_the_size_limit_get_413_and_the_server_goes_on() -> None:
    async with serving(Runner(Counter()), limits=Limits(max_body_bytes=10_000)) as running:
        client = running.client()
        await client.start()
        big = json.dumps({"sdp_offer": "v=0\r\n" + "a=x:" + "y" * 20_000})
        base = running.url.rstrip("/")
        transport = f"{base}/sessions/{client.session_id}/transport/webrtc"
        headers = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0", **API}

        async def chunked():
            for _ in range(30):
                yield b"x" * 1000  # no Content-Length: refused once 10,000 bytes have come

        for method, url, data in [
            ("POST", f"{transport}/sdp_params", big),
            ("PUT", f"{transport}/sdp_params", big),
            ("POST", f"{transport}/ice_candidates", big),
            ("POST", f"{base}/stop_session", big),
            ("POST", f"{base}/start_session", big),
            ("POST", f"{transport}/sdp_params", chunked()),
        ]:
            async with running.http.request(method, url, data=data, headers=headers) as response:
                assert response.status == 413, (method, url)
                reply = await response.json()
            assert (
                reply["error"] == "body_too_large"
                and "the limit is 10000 bytes" in reply["message"]
            )
        assert running.server.session is not None  # nothing was stopped by the big stop_session
        await client.connect()
        await client.wait_frames(3)
        await client.close()
        async with running.http.get(f"{base}/metrics") as response:
            samples = read_samples(await response.text())
    refused = samples["reactor_requests_refused_total"]
    assert refused[(("status", "413"), ("code", "body_too_large"))] == 6


async def scrape(http: aiohttp.ClientSession, url: str) -> dict:
    async with http.get(f"{url}/metrics") as response:
        return read_samples(await response.text())


def total(samples: dict, name: str, **labels: str) -> float:
    want = tuple(labels.items())
    return sum(v for k, v in samples.get(name, {}).items() if all(p in k for p in want))


@pytest.mark.slow
async def test_a_data_channel_flood_is_rate_limited_while_frames_keep_their_pace(
    tmp_path: Path,
) -> None:
    """10,000 messages a second for 10 s, valid and invalid, from a client in this process;
    the server runs in its own (`reactor run`), as it would in use. The same client's quiet
    5 s before are the yardstick for the server's CPU on this (shared) machine."""
    manifest = project(tmp_path, "server_models:Counter")
    rate, burst, seconds, quiet = 100, 200, 10.0, 5.0
    async with (
        reactor_run(manifest, "--command-rate", str(rate), "--command-burst", str(burst)) as served,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http,
    ):
        client = Client(served.url, http)
        await client.start()
        await client.connect()
        await client.wait_frames(10)
        valid = [
            json.dumps(
                {"scope": "application", "data": {"type": "set_level", "data": {"level": i}}}
            )
            for i in range(50)
        ]
        invalid = ["{not json", json.dumps({"scope": "nowhere"}), "[1, 2]"]
        messages = valid + invalid
        calm = await scrape(http, served.url)
        await asyncio.sleep(quiet)
        before = await scrape(http, served.url)
        started = time.monotonic()
        sent = 0
        while (elapsed := time.monotonic() - started) < seconds:
            if sent > elapsed * 10_000:
                await asyncio.sleep(0.005)
                continue
            for _ in range(50):
                client.channel.send(messages[sent % len(messages)])
                sent += 1
        during = await scrape(http, served.url)
        window = time.monotonic() - started
        # The client stops: whatever its SCTP still holds is never delivered.
        await client.pc.close()
        await asyncio.sleep(0.5)
        after = await scrape(http, served.url)
        span = time.monotonic() - started
        health = await asyncio.wait_for(http.get(f"{served.url}/health"), 5)
        assert health.status == 200
        code, took = await served.stop()
    assert code == 0 and took < 2.0
    assert sent >= 0.95 * seconds * 10_000

    # Rate-limited: what got past the gate is within the rate, for the whole time.
    passed = (
        total(after, "reactor_commands_total")
        + total(after, "reactor_commands_refused_total")
        - total(after, "reactor_commands_refused_total", reason="rate_limited")
        - total(before, "reactor_commands_total")
        - total(before, "reactor_commands_refused_total")
    )
    assert 0 < passed <= rate * span + burst, (passed, span)
    assert total(after, "reactor_commands_refused_total", reason="rate_limited") > 0
    assert total(after, "reactor_commands_refused_total", reason="malformed") > 0  # invalid ones
    assert total(after, "reactor_data_packets_dropped_total") > 0  # cut before decryption
    # One error per refused burst (a burst lasts while refusals come within a second).
    bursts = total(after, "reactor_refused_bursts_total")
    told = [
        m
        for m in client.messages
        if m["data"]["type"] == "error" and m["data"]["data"].get("rate_limited")
    ]
    assert 1 <= bursts <= seconds + 1, bursts
    assert bursts - 1 <= len(told) <= bursts  # (the last may be on its way when it closed)
    assert "too many messages" in told[0]["data"]["data"]["message"]

    def rates(a: dict, b: dict, seconds: float) -> tuple[float, float]:
        frames = total(b, "reactor_frames_sent_total") - total(a, "reactor_frames_sent_total")
        cpu = total(b, "process_cpu_seconds_total") - total(a, "process_cpu_seconds_total")
        return frames, cpu / seconds

    _, calm_cpu = rates(calm, before, quiet)
    frames, cpu = rates(before, during, window)
    # Frames kept their pace, one every 1/30 s all along, and the flood cost the server a
    # small part of one core (decrypting and acknowledging every packet of it cost 35-45 %
    # of a core, and made frames late, before packets over the rate were dropped unread).
    # How late frames were is a figure of benchmarks/soak.py: this machine is shared.
    assert 0.9 * 30 * window <= frames <= 1.1 * 30 * window + 2, (frames, window)
    assert cpu - calm_cpu < 0.2, (cpu, calm_cpu)


async def test_a_client_that_never_reads_its_data_channel_cannot_grow_the_server() -> None:
    from aiortc.rtcsctptransport import DataChunk

    limits = Limits(
        outbound_buffer_bytes=64 * 1024,
        command_rate=2000,
        command_burst=2000,
        data_packet_rate=5000,
    )
    async with serving(Runner(Counter()), limits=limits) as running:
        client = running.client()
        await client.start()
        await client.connect()
        await client.wait_frames(3)
        sctp = client.pc.sctp
        original = sctp._receive_chunk

        async def deaf(chunk) -> None:  # never reads, so never acknowledges, what it is sent
            if not isinstance(chunk, DataChunk):
                await original(chunk)

        sctp._receive_chunk = deaf
        for _ in range(400):  # each answered with the model's schema, several KB
            client.send("runtime", "requestSchema", {})
            await asyncio.sleep(0.002)
        peer = running.server.session.peer
        deadline = time.monotonic() + 20
        while peer.dropped == 0:
            assert time.monotonic() < deadline, "nothing was dropped"
            await asyncio.sleep(0.1)
        buffered = peer._channel.bufferedAmount
        assert buffered <= limits.outbound_buffer_bytes, buffered
        frames = len(client.frames["main_video"])
        await client.wait_frames(frames + 10)  # media still flows
        async with running.http.get(f"{running.url}metrics") as response:
            samples = read_samples(await response.text())
        assert samples["reactor_messages_dropped_total"][(("reason", "client_not_reading"),)] > 0
        await client.close()


async def test_http_clients_that_never_read_their_answers_cannot_grow_the_server() -> None:
    """Connections that pipeline requests for the viewer's script (16 KB each) and never read:
    the server writes what the socket takes and waits; it does not buffer the rest."""
    async with serving(Runner(Counter())) as running:
        host, port = running.url.split("//")[1].strip("/").split(":")
        request = f"GET /viewer/viewer.js HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        before = resident_bytes()
        writers = []
        for _ in range(20):
            _, writer = await asyncio.open_connection(host, int(port))
            writer.write(request * 500)  # 8 MB of answers asked for, per connection
            writers.append(writer)
        await asyncio.sleep(3)
        grown = resident_bytes() - before
        async with running.http.get(f"{running.url}health") as response:
            assert response.status == 200
        for writer in writers:
            writer.transport.abort()
        assert grown < 40_000_000, grown  # 160 MB were asked for
