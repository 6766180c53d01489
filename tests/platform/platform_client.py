"""An aiortc client of Reactor's own runtimes, for the platform tests: connect, receive the
video, send one `set_<field>` command, and say whether the frames changed.

Two wire protocols: reactor-runtime 2.x speaks local-runtime protocol v1 (`POST
/sessions/{id}/transport/webrtc/sdp_params`, one data channel `data`); 3.x routes through a
connection (`POST .../connections`, then `.../connections/{cid}/sdp_params`), has a second data
channel, `control`, and starts outbound tracks paused until the client sends `resume_track` on
it. Both carry commands as `{"scope": "application", "data": {"type": "set_x", "data": {...}}}`
on `data`.

Whether a command changed the frames is judged without aligning frame numbers (a lossy codec
and a paced network may drop or repeat frames): the converted models are deterministic and
restart the same clip at the same state, so before the command every frame is close to one
of the frames already seen, and after it (once it had time to apply) frames are far from all
of them. "Close" is measured against the codec's own noise on the repeated clip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from reactor._transport import PeerSettings, peer_settings

LOOPBACK = PeerSettings(ice_hosts=("127.0.0.1",))
HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
TRANSPORT_HEADERS = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0"}


@dataclass
class StreamReport:
    """What the client saw: frames before and after the command, and the two distances."""

    frames_before: int = 0
    frames_after: int = 0
    sizes: list[str] = field(default_factory=list)
    """The frame sizes received (W x H), in the order they first came."""
    noise: float = 0.0
    """Median distance of a repeated frame (a later clip before the command) to its nearest
    earlier frame: the codec's noise."""
    changed: float = 0.0
    """Median distance of a frame in the second half after the command to its nearest frame
    before it."""
    distances: list[float] = field(default_factory=list)
    """Each frame after the command: its distance to the nearest frame before it."""
    errors: list[str] = field(default_factory=list)
    messages: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "frames_before": self.frames_before,
            "frames_after": self.frames_after,
            "sizes": self.sizes,
            "noise": round(self.noise, 2),
            "changed": round(self.changed, 2),
            "distances": self.distances,
            "errors": self.errors,
            "messages": self.messages[:5],
        }


def _fit(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`frame` resampled (nearest) to `shape`: a sender under load may lower the resolution."""
    if frame.shape == shape:
        return frame
    rows = np.arange(shape[0]) * frame.shape[0] // shape[0]
    cols = np.arange(shape[1]) * frame.shape[1] // shape[1]
    return frame[np.ix_(rows, cols)]


def _nearest(frame: np.ndarray, reference: list[np.ndarray]) -> float:
    shape = max((f.shape for f in reference), key=lambda s: s[0] * s[1])
    stack = np.stack([_fit(f, shape) for f in reference]).astype(np.float32)
    diff = np.abs(stack - _fit(frame, shape).astype(np.float32)[None])
    return float(diff.mean(axis=(1, 2, 3)).min())


async def _post_json(http: aiohttp.ClientSession, url: str, body: Any, **kw: Any) -> Any:
    async with http.post(url, json=body, **kw) as resp:
        text = await resp.text()
        if resp.status >= 300:
            raise RuntimeError(f"POST {url}: {resp.status} {text[:300]}")
        return json.loads(text) if text else None


async def _start_session(http: aiohttp.ClientSession, base: str, deadline: float) -> Any:
    """POST /start_session, again while the server answers 503 (the model is still loading)."""
    while True:
        async with http.post(f"{base}/start_session", json={}, headers=HEADERS) as resp:
            text = await resp.text()
            if resp.status < 300:
                return json.loads(text)
            if resp.status != 503 or time.monotonic() > deadline:
                raise RuntimeError(f"POST {base}/start_session: {resp.status} {text[:300]}")
        await asyncio.sleep(0.5)


async def _answer(http: aiohttp.ClientSession, url: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        async with http.get(url, headers=TRANSPORT_HEADERS) as resp:
            if resp.status == 200:
                return (await resp.json())["sdp_answer"]
            if resp.status != 202:
                raise RuntimeError(f"GET {url}: {resp.status} {(await resp.text())[:300]}")
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no SDP answer from {url}")


async def stream_and_command(
    base: str,
    protocol: str,
    command: str,
    data: dict[str, Any],
    frames_before: int,
    frames_after: int,
    timeout: float = 90.0,
) -> StreamReport:
    """Stream from the server at `base` ("v1": reactor-runtime 2.x, "v3": 3.x), send
    `command` with `data` after `frames_before` frames, then take `frames_after` more; the
    change is judged on the second half of those (frames already queued when the command
    landed come first: up to 30 of them on 2.7.8 on a loaded machine)."""
    report = StreamReport()
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        session = await _start_session(http, base, deadline)
        sid = session["session_id"]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        opened: dict[str, asyncio.Event] = {"data": asyncio.Event(), "control": asyncio.Event()}
        data_channel = pc.createDataChannel("data")
        control = pc.createDataChannel("control") if protocol == "v3" else None
        data_channel.on("open", opened["data"].set)
        data_channel.on("message", lambda m: report.messages.append(m))
        if control is not None:
            control.on("open", opened["control"].set)
        transceiver = pc.addTransceiver("video", direction="recvonly")
        received: asyncio.Queue[np.ndarray] = asyncio.Queue()
        pumps: list[asyncio.Task[None]] = []

        @pc.on("track")
        def on_track(track: Any) -> None:
            async def pump() -> None:
                with contextlib.suppress(MediaStreamError):
                    while True:
                        frame = await track.recv()
                        await received.put(frame.to_ndarray(format="rgb24"))

            pumps.append(asyncio.ensure_future(pump()))

        try:
            with peer_settings(LOOPBACK):
                await pc.setLocalDescription(await pc.createOffer())
            mapping = [
                {
                    "mid": transceiver.mid,
                    "name": "main_video",
                    "kind": "video",
                    "direction": "recvonly",
                }
            ]
            prefix = f"{base}/sessions/{sid}/transport/webrtc"
            if protocol == "v3":
                conn = await _post_json(
                    http, f"{prefix}/connections", {}, headers=TRANSPORT_HEADERS
                )
                offer_url = f"{prefix}/connections/{conn['connection_id']}/sdp_params"
                body = {
                    "sdp_offer": pc.localDescription.sdp,
                    "track_mapping": mapping,
                    "ice_servers": [],
                }
            else:
                offer_url = f"{prefix}/sdp_params"
                body = {
                    "sdp_offer": pc.localDescription.sdp,
                    "client_info": {"sdk_version": "reactorc-tests", "sdk_type": "python"},
                    "track_mapping": mapping,
                }
            await _post_json(http, offer_url, body, headers=TRANSPORT_HEADERS)
            answer = await _answer(http, offer_url, deadline)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await asyncio.wait_for(opened["data"].wait(), deadline - time.monotonic())
            if control is not None:
                await asyncio.wait_for(opened["control"].wait(), deadline - time.monotonic())
                control.send(
                    json.dumps(
                        {
                            "type": "notification",
                            "event": "resume_track",
                            "data": {"name": "main_video"},
                        }
                    )
                )
            before: list[np.ndarray] = []
            while len(before) < frames_before:
                before.append(await asyncio.wait_for(received.get(), deadline - time.monotonic()))
            envelope = {"scope": "application", "data": {"type": command, "data": data}}
            data_channel.send(json.dumps(envelope))
            after: list[np.ndarray] = []
            while len(after) < frames_after:
                after.append(await asyncio.wait_for(received.get(), deadline - time.monotonic()))
        finally:
            await pc.close()
            for task in pumps:
                task.cancel()
            with contextlib.suppress(Exception):
                await _post_json(http, f"{base}/stop_session", None)
    for f in [*before, *after]:
        size = f"{f.shape[1]}x{f.shape[0]}"
        if size not in report.sizes:
            report.sizes.append(size)
    half = len(before) // 2
    report.frames_before = len(before)
    report.frames_after = len(after)
    report.noise = float(np.median([_nearest(f, before[:half]) for f in before[half:]]))
    distances = [_nearest(f, before) for f in after]
    report.changed = float(np.median(distances[len(distances) // 2 :]))
    report.distances = [round(d, 1) for d in distances]
    return report
