"""Session life: one client at a time, ping timeouts, hooks, fresh state per session,
reconnects, a client that vanishes, and no generating while nobody watches."""

from __future__ import annotations

import asyncio
import time

import pytest
from reactor._runner import Runner
from server_harness import serving
from server_models import Counter

pytestmark = pytest.mark.timeout(90)


async def until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def test_a_silent_client_is_dropped_after_the_ping_timeout() -> None:
    model = Counter()
    async with serving(Runner(model), ping_timeout=1.0) as running:
        client = running.client()
        await client.start()
        await client.connect()
        await client.wait_frames(3)
        assert model.log == ["connected"]
        await until(lambda: running.server.session is None)  # the client never pings
        assert "no ping" in running.server.ended[-1][1], running.server.ended
        await until(lambda: "disconnected" in model.log)
        assert model.log == ["connected", "disconnected"]
        steps = model.steps
        await asyncio.sleep(0.4)
        assert model.steps == steps  # nobody connected: the generator is stopped
        # The slot is free for the next client.
        other = running.client()
        await other.start()
        await other.connect()
        await other.wait_frames(3)
        await other.close()
        await client.close(stop=False)


async def test_a_pinging_client_stays_past_the_timeout() -> None:
    async with serving(Runner(Counter()), ping_timeout=1.0) as running:
        client = running.client()
        await client.start()
        await client.connect()
        for _ in range(8):
            client.send("runtime", "ping", {})
            await asyncio.sleep(0.3)
        assert running.server.session is not None and running.server.session.id == client.session_id
        before = len(client.frames["main_video"])
        await client.wait_frames(before + 5, "main_video")
        await client.close()


async def test_a_session_that_never_connects_expires() -> None:
    async with serving(Runner(Counter()), ping_timeout=0.5) as running:
        client = running.client()
        await client.start()
        await until(lambda: running.server.session is None)
        status, body = await client.transport("GET", "ice_servers")
        assert status == 410 and "no ping" in body["message"]


async def test_each_session_starts_from_the_default_state() -> None:
    model = Counter()
    async with serving(Runner(model)) as running:
        first = running.client()
        await first.start()
        await first.connect()
        first.send("application", "set_level", {"level": 99})
        await until(lambda: any(f.value == 99 for f in first.frames.get("main_video", [])))
        await first.close()
        assert model.log == ["connected", "disconnected"]
        second = running.client()
        await second.start()
        await second.connect()
        await second.wait_frames(5, "main_video")
        frames = second.frames["main_video"]
        assert {f.value for f in frames} == {10}
        assert frames[0].counter == 0  # the generator started again for this client
        await second.close()
        assert model.log == ["connected", "disconnected"] * 2


async def test_nothing_is_generated_before_the_peer_connects() -> None:
    model = Counter()
    async with serving(Runner(model)) as running:
        client = running.client()
        await client.start()
        await asyncio.sleep(0.3)
        assert model.steps == 0 and model.log == []
        await client.connect()
        await client.wait_frames(3)
        assert model.log == ["connected"]
        await client.close()
        assert model.log == ["connected", "disconnected"]


async def test_a_client_that_closes_its_peer_ends_the_session() -> None:
    model = Counter()
    async with serving(Runner(model)) as running:
        client = running.client()
        await client.start()
        await client.connect()
        await client.wait_frames(3)
        await client.pc.close()  # no stop_session
        await until(lambda: running.server.session is None, timeout=15)
        assert running.server.ended[-1][1].startswith("peer connection"), running.server.ended
        await until(lambda: "disconnected" in model.log)
        assert model.log == ["connected", "disconnected"]
        await client.close(stop=False)


async def test_put_reconnects_keeping_the_session_and_its_state() -> None:
    model = Counter()
    async with serving(Runner(model)) as running:
        client = running.client()
        await client.start()
        await client.connect()
        client.send("application", "set_level", {"level": 77})
        await until(lambda: any(f.value == 77 for f in client.frames.get("main_video", [])))
        last = client.frames["main_video"][-1].counter
        old_pc, old_tasks = client.pc, list(client.tasks)
        client.frames.clear()
        client.open.clear()
        # A fresh peer for the same session, offered with PUT.
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
        from reactor._transport import peer_settings
        from rtc_client import LOOPBACK

        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        client.pc = pc
        client.channel = pc.createDataChannel("data")
        client.channel.on("message", client._on_message)
        client.channel.on("open", client.open.set)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        pc.on("track", client._on_track)
        with peer_settings(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        client._names = {transceiver.mid: "main_video"}
        mapping = [{"mid": transceiver.mid, "name": "main_video", "kind": "video"}]
        body = {"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping}
        status, reply = await client.transport("POST", "sdp_params", body)
        assert status == 409 and "PUT" in reply["message"], reply
        status, reply = await client.transport("PUT", "sdp_params", body)
        assert status == 202, reply
        status, reply = await client.transport("GET", "sdp_params")
        await pc.setRemoteDescription(RTCSessionDescription(reply["sdp_answer"], "answer"))
        await client.wait_frames(5, "main_video")
        frames = client.frames["main_video"]
        assert {f.value for f in frames} == {77}
        assert frames[0].counter > last  # the same session's stream, continued
        assert model.log == ["connected"]
        assert running.server.session is not None
        for task in old_tasks:
            task.cancel()
        await old_pc.close()
        await client.close()
        assert model.log == ["connected", "disconnected"]
