"""validate --stream: serve a loaded model with `reactor run`'s server on a loopback port and
watch it from an aiortc client, as a browser would use it (Reactor protocol v1).

Measured at the client: time to the first frame after `start_session`, delivered frames per
second, and update latency: from the client sending `set_<field>` on the data channel to the
arrival of the first frame the model made after applying it. Everything runs in one process, so
the probe learns on the server side when the update was applied (the state object records it)
and which frames were made after (their pts), and matches them to the frames the client decodes
by pts (RTP adds a constant offset, found by matching the two pts sequences).

Networking: 127.0.0.1 only, a free port, no STUN/TURN (an empty RTCConfiguration), every wait
bounded.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from reactorc.validate.checks import Check

WAIT_FIRST_FRAME = 30.0
WAIT_UPDATE = 15.0
SETUP_TIMEOUT = 20.0
PING_TIMEOUT = 600.0
"""The probe sends no pings; the server must not drop it as a vanished client meanwhile."""


@dataclass
class _ServerSide:
    """What the server sent: (pts, produced) per video frame, and when an update was applied."""

    sent: list[tuple[int, float]] = field(default_factory=list)
    applied_at: float | None = None
    watching: bool = False
    """The model's state object could be watched for the update (else latency is not measured)."""


@dataclass
class _ClientSide:
    received: list[tuple[int, float]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)
    ended: bool = False
    """The stream is over: the video track ended, or the model failed for good."""

    def on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        self.messages.append(message)
        data = message.get("data", {}) if isinstance(message, dict) else {}
        if data.get("type") == "error" and data.get("data", {}).get("fatal"):
            self.ended = True
            self.new_frame.set()


def _watch_runner(runner: Any, server_side: _ServerSide, track: str, update_field: str) -> None:
    """Record the frames the server takes from the runner, and the moment the model's state
    takes the update (the driver sets it between two steps)."""
    original_frames = runner.frames
    original_start = runner.start_session

    async def frames() -> Any:
        async for frame in original_frames():
            if frame.track == track:
                server_side.sent.append((frame.pts, frame.produced))
            yield frame

    async def start_session(send: Any, **kwargs: Any) -> None:
        await original_start(send, **kwargs)
        state = runner.model.state
        if state is None or not update_field:
            return
        base = type(state)

        def setattr_watched(obj: Any, name: str, value: Any) -> None:
            base.__setattr__(obj, name, value)
            if name == update_field and server_side.applied_at is None:
                server_side.applied_at = time.monotonic()

        watched = type(f"Watched{base.__name__}", (base,), {"__setattr__": setattr_watched})
        with contextlib.suppress(TypeError):
            state.__class__ = watched
            server_side.watching = True

    runner.frames = frames
    runner.start_session = start_session


PTS_SLACK = 3
"""Ticks (of 90 kHz) a pts may move through the encoder's timestamp rounding."""


def _near(pts: int, sent_sorted: list[int]) -> int | None:
    """The sent pts within PTS_SLACK of `pts`, if any."""
    i = bisect.bisect_left(sent_sorted, pts - PTS_SLACK)
    if i < len(sent_sorted) and abs(sent_sorted[i] - pts) <= PTS_SLACK:
        return sent_sorted[i]
    return None


def _pts_offset(sent: list[int], received: list[int]) -> int | None:
    """The constant the transport added to every pts: the one that maps most received pts
    onto sent ones (within the encoder's rounding)."""
    if not sent or not received:
        return None
    ordered = sorted(sent)
    best, best_hits = None, 0
    for r in received[:5]:
        for s in sent[:64]:
            offset = (r - s) % 2**32
            hits = sum(1 for x in received[:64] if _near((x - offset) % 2**32, ordered) is not None)
            if hits > best_hits:
                best, best_hits = offset, hits
    return best


def _arrival_of(target: int, client: _ClientSide, sent: list[int]) -> float | None:
    """When the client received the frame the server sent with pts `target`."""
    offset = _pts_offset(sent, [p for p, _ in client.received])
    if offset is None:
        return None
    ordered = sorted(sent)
    for pts, at in client.received:
        if _near((pts - offset) % 2**32, ordered) == target:
            return at
    return None


def _first_after_update(server_side: _ServerSide) -> int | None:
    applied = server_side.applied_at
    if applied is None:
        return None
    return next((pts for pts, produced in server_side.sent if produced >= applied), None)


async def probe_stream(
    model: Any, *, frames: int = 30, update: tuple[str, Any] | None = None
) -> list[Any]:
    """Serve `model` on loopback, stream `frames` frames to an aiortc client, send `update`
    halfway; returns the stream checks."""

    try:
        return await asyncio.wait_for(
            _probe(model, frames, update), SETUP_TIMEOUT + WAIT_FIRST_FRAME + 60.0
        )
    except TimeoutError:
        return [Check("stream", "fail", "the streaming run did not finish in time")]
    except Exception as exc:
        return [Check("stream", "fail", f"streaming failed: {type(exc).__name__}: {exc}")]


async def _probe(model: Any, count: int, update: tuple[str, Any] | None) -> list[Any]:
    import aiohttp
    from reactor._options import ServeOptions
    from reactor._runner import Runner
    from reactor._server import ReactorServer, run_server

    runner = Runner(model)
    video = [t.name for t in runner.tracks if t.kind == "video"]
    if not video:
        return [Check("stream", "skip", "the model has no video track")]
    server_side = _ServerSide()
    _watch_runner(runner, server_side, video[0], update[0] if update else "")
    server = ReactorServer(
        runner,
        ServeOptions(host="127.0.0.1", port=0, ice_hosts=("127.0.0.1",), ping_timeout=PING_TIMEOUT),
        model_name="validate",
    )
    stop = asyncio.Event()
    ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(run_server(server, stop=stop, ready=ready.set_result))
    try:
        url = (await asyncio.wait_for(ready, SETUP_TIMEOUT)).rstrip("/")
        timeout = aiohttp.ClientTimeout(total=SETUP_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            return await _client_run(http, url, video[0], count, update, server_side)
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


async def _client_run(
    http: Any,
    base: str,
    track_name: str,
    count: int,
    update: tuple[str, Any] | None,
    server_side: _ServerSide,
) -> list[Any]:
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError
    from reactor._transport import PeerSettings, peer_settings

    client = _ClientSide()
    started = time.monotonic()
    headers = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
    async with http.post(f"{base}/start_session", json={}, headers=headers) as response:
        body = await response.json()
        if response.status != 200:
            return [Check("stream", "fail", f"start_session answered {response.status}: {body}")]
    session_id = body["session_id"]
    tracks = body["capabilities"]["tracks"]
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    readers: list[asyncio.Task[None]] = []
    opened = asyncio.Event()
    try:
        channel = pc.createDataChannel("data")
        channel.on("open", opened.set)
        channel.on("message", client.on_message)
        transceivers = [pc.addTransceiver(t["kind"], direction="recvonly") for t in tracks]
        wanted_mid: list[str] = []

        async def read_video(track: Any) -> None:
            try:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        frame = await track.recv()
                        client.received.append((int(frame.pts), time.monotonic()))
                        client.new_frame.set()
            finally:
                client.ended = True
                client.new_frame.set()

        def on_track(track: Any) -> None:
            if track.kind != "video":
                return
            for tr in pc.getTransceivers():
                if tr.receiver.track is track and tr.mid in wanted_mid:
                    readers.append(asyncio.ensure_future(read_video(track)))

        pc.on("track", on_track)
        with peer_settings(PeerSettings(ice_hosts=("127.0.0.1",))):
            await pc.setLocalDescription(await pc.createOffer())
        mapping = [
            {"mid": tr.mid, "name": t["name"], "kind": t["kind"], "direction": "recvonly"}
            for tr, t in zip(transceivers, tracks, strict=True)
        ]
        wanted_mid.extend(m["mid"] for m in mapping if m["name"] == track_name)
        route = f"{base}/sessions/{session_id}/transport/webrtc/sdp_params"
        auth = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0"}
        async with http.post(
            route,
            json={"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping},
            headers=auth,
        ) as response:
            if response.status != 202:
                return [Check("stream", "fail", f"sdp offer answered {response.status}")]
        async with http.get(route, headers=auth) as response:
            answer = await response.json()
            if response.status != 200:
                return [Check("stream", "fail", f"sdp answer: {response.status} {answer}")]
        await pc.setRemoteDescription(RTCSessionDescription(answer["sdp_answer"], "answer"))
        await asyncio.wait_for(opened.wait(), SETUP_TIMEOUT)

        if not await _wait_frames(client, 1, WAIT_FIRST_FRAME):
            why = _error_text(client) or "no frame arrived"
            return [Check("stream", "fail", f"no frame reached the client: {why}")]
        first_frame = client.received[0][1] - started
        half = max(2, count // 2)
        await _wait_frames(client, half, WAIT_UPDATE)
        sent_at = None
        if update is not None:
            name, value = update
            sent_at = time.monotonic()
            channel.send(
                json.dumps(
                    {"scope": "application", "data": {"type": f"set_{name}", "data": {name: value}}}
                )
            )
        await _wait_frames(client, count, WAIT_UPDATE + count / 5)
        if update is not None:
            deadline = time.monotonic() + WAIT_UPDATE
            while time.monotonic() < deadline and not client.ended:
                target = _first_after_update(server_side)
                sent_pts = [p for p, _ in server_side.sent]
                if target is not None and _arrival_of(target, client, sent_pts) is not None:
                    break
                await _wait_frames(client, len(client.received) + 1, 1.0)
    finally:
        with contextlib.suppress(Exception):
            async with http.post(f"{base}/stop_session", json={"session_id": session_id}) as r:
                await r.read()
        for reader in readers:
            reader.cancel()
        await pc.close()
    return _stream_checks(client, server_side, first_frame, update, sent_at)


async def _wait_frames(client: _ClientSide, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while len(client.received) < count:
        if client.ended:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        client.new_frame.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.new_frame.wait(), left)
    return True


def _error_text(client: _ClientSide) -> str:
    for m in client.messages:
        data = m.get("data", {})
        if data.get("type") == "error":
            return str(data.get("data", {}).get("message", data))
    return ""


def _stream_checks(
    client: _ClientSide,
    server_side: _ServerSide,
    first_frame: float,
    update: tuple[str, Any] | None,
    sent_at: float | None,
) -> list[Any]:

    checks = []
    times = [t for _, t in client.received]
    span = times[-1] - times[0]
    delivered = (len(times) - 1) / span if span > 0 else 0.0
    sent = server_side.sent
    sent_span = sent[-1][1] - sent[0][1] if len(sent) > 1 else 0.0
    produced_rate = (len(sent) - 1) / sent_span if sent_span > 0 else 0.0
    figures = {
        "first_frame_s": round(first_frame, 3),
        "delivered_fps": round(delivered, 2),
        "frames_received": len(times),
        "frames_sent": len(sent),
    }
    error = _error_text(client)
    if error:
        checks.append(Check("stream", "fail", f"the client got an error: {error}", figures))
    elif produced_rate and delivered < 0.5 * produced_rate:
        checks.append(
            Check(
                "stream",
                "fail",
                f"{delivered:.1f} fps reached the client of {produced_rate:.1f} made",
                figures,
            )
        )
    else:
        checks.append(
            Check(
                "stream",
                "pass",
                f"first frame at the client {first_frame * 1000:.0f} ms after start_session; "
                f"{delivered:.1f} fps delivered ({len(times)} frames)",
                figures,
            )
        )
    name = "stream: update latency"
    if update is None or sent_at is None:
        checks.append(Check(name, "skip", "no live field to change"))
        return checks
    if not server_side.watching:
        checks.append(Check(name, "skip", "the model's state object cannot be watched"))
        return checks
    if server_side.applied_at is None:
        checks.append(Check(name, "fail", f"set_{update[0]} was never applied by the model"))
        return checks
    target = _first_after_update(server_side)
    if target is None:
        checks.append(Check(name, "fail", "the model made no frame after applying the update"))
        return checks
    at = _arrival_of(target, client, [p for p, _ in server_side.sent])
    if at is None:
        checks.append(Check(name, "fail", "the first frame made after the update never arrived"))
        return checks
    latency = at - sent_at
    checks.append(
        Check(
            name,
            "pass",
            f"set_{update[0]} -> first frame showing it at the client: {latency * 1000:.0f} ms",
            {"update_latency_ms": round(latency * 1000, 1)},
        )
    )
    return checks


__all__ = ["probe_stream"]
