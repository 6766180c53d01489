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
restart the same clip at the same state, so the test hands in that clip's frames, made
in-process. Before the command every frame received is close to one of them, or to a frame
received earlier (the codec's own loss, which grows when a loaded sender lowers the quality of
a noisy picture): the median of those distances is the noise. After the command the client
reads frames until the median of the last WINDOW is far from all of those (more than noise +
MARGIN levels) or it has read a cap of them: the command's latency varies (3 to 10 frames on
reactor-runtime 3.10; 9 to 80 and more on 2.7.8), and a loaded sender lowers the quality of
single frames.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from reactor._transport import PeerSettings, peer_settings

LOOPBACK = PeerSettings(ice_hosts=("127.0.0.1",))
HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
TRANSPORT_HEADERS = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0"}


WINDOW = 12
"""Frames whose median distance shows the command applied (or not)."""
MARGIN = 8.0
"""Levels (of 255, mean per pixel) above the noise that count as a different picture; the
fixtures' live changes move frames by 20 to 45."""
FRAME_TIMEOUT = 30.0
"""Seconds without a frame (or a step of the set-up) that end the client with an error."""


@dataclass
class StreamReport:
    """What the client saw before and after the command, and how far frames were from the clip."""

    frames_before: int = 0
    frames_after: int = 0
    sizes: list[str] = field(default_factory=list)
    """The frame sizes received (W x H), in the order they first came."""
    noise: float = 0.0
    """Median distance of a frame in the second half before the command to its nearest frame
    of the clip at the default state or of the first half: the codec's noise."""
    threshold: float = 0.0
    """Farther than this from every known frame counts as changed: noise + MARGIN."""
    latency_frames: int | None = None
    """Frames received after the command before the first WINDOW whose median distance
    exceeds the threshold; None when none did within the cap."""
    changed: float = 0.0
    """The median distance of the last WINDOW frames read."""
    distances: list[float] = field(default_factory=list)
    """Each frame after the command: its distance to the nearest known frame."""
    messages: list[Any] = field(default_factory=list)
    phase: str = "start"
    """How far the client got (named in a timeout's error)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "frames_before": self.frames_before,
            "frames_after": self.frames_after,
            "sizes": self.sizes,
            "noise": round(self.noise, 2),
            "threshold": round(self.threshold, 2),
            "latency_frames": self.latency_frames,
            "changed": round(self.changed, 2),
            "distances": self.distances,
            "messages": self.messages[:5],
            "phase": self.phase,
        }


def _fit(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """`frame` resampled (nearest) to `shape`: a sender under load may lower the resolution."""
    if frame.shape == shape:
        return frame
    rows = np.arange(shape[0]) * frame.shape[0] // shape[0]
    cols = np.arange(shape[1]) * frame.shape[1] // shape[1]
    return frame[np.ix_(rows, cols)]


def _as_sent(frame: np.ndarray) -> np.ndarray:
    """`frame` as video codecs carry it: RGB to YUV 4:2:0 (a quarter of the colour resolution)
    and back. Compared with that, a received frame differs by the codec's loss only."""
    yuv = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24").reformat(
        format="yuv420p"
    )
    return yuv.to_ndarray(format="rgb24")


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


PING = json.dumps({"scope": "runtime", "data": {"type": "ping", "data": {}}})
"""What Reactor's JS client sends every 5 s; both runtimes drop a client silent for 20 s."""


async def _ping(channel: Any) -> None:
    while True:
        channel.send(PING)
        await asyncio.sleep(5.0)


def _wait(deadline: float) -> float:
    """How long the next step may take: FRAME_TIMEOUT, and never past `deadline`."""
    return max(0.0, min(FRAME_TIMEOUT, deadline - time.monotonic()))


async def _start_session(http: aiohttp.ClientSession, base: str, deadline: float) -> Any:
    """POST /start_session, again while the model is still loading (3.x answers 503, 2.x names
    its state CREATED)."""
    while True:
        async with http.post(f"{base}/start_session", json={}, headers=HEADERS) as resp:
            text = await resp.text()
            if resp.status < 300:
                return json.loads(text)
            loading = resp.status == 503 or "CREATED" in text
            if not loading or time.monotonic() > deadline:
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
    reference: np.ndarray,
    frames_before: int,
    max_frames_after: int,
    timeout: float = 170.0,
) -> StreamReport:
    """Stream from the server at `base` ("v1": reactor-runtime 2.x, "v3": 3.x), send
    `command` with `data` after `frames_before` frames, then read frames until WINDOW of them
    differ from `reference` (the clip at the default state, (N, H, W, 3)) and from those
    before, or `max_frames_after` have come. Each step may take FRAME_TIMEOUT s, the whole
    `timeout` s."""
    report = StreamReport()
    try:
        return await _stream(
            report,
            base,
            protocol,
            command,
            data,
            reference,
            frames_before,
            max_frames_after,
            timeout,
        )
    except TimeoutError:
        raise TimeoutError(
            f"stuck in {report.phase} (after {len(report.distances)} frames past the command; "
            f"{FRAME_TIMEOUT:.0f} s a step, {timeout:.0f} s in all)"
        ) from None


async def _stream(
    report: StreamReport,
    base: str,
    protocol: str,
    command: str,
    data: dict[str, Any],
    reference: np.ndarray,
    frames_before: int,
    max_frames_after: int,
    timeout: float,
) -> StreamReport:
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
        pumps: list[asyncio.Task[None]] = []  # the track readers and the pinger

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
            report.phase = "negotiation"
            await _post_json(http, offer_url, body, headers=TRANSPORT_HEADERS)
            answer = await _answer(http, offer_url, deadline)
            await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
            await asyncio.wait_for(opened["data"].wait(), _wait(deadline))
            pumps.append(asyncio.ensure_future(_ping(data_channel)))
            if control is not None:
                await asyncio.wait_for(opened["control"].wait(), _wait(deadline))
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
            report.phase = "frames before the command"
            while len(before) < frames_before:
                before.append(await asyncio.wait_for(received.get(), _wait(deadline)))
            clip = [_as_sent(f) for f in reference]
            half = len(before) // 2
            noise = [_nearest(f, clip + before[:half]) for f in before[half:]]
            report.noise = float(np.median(noise))
            report.threshold = report.noise + MARGIN
            known = clip + before
            envelope = {"scope": "application", "data": {"type": command, "data": data}}
            data_channel.send(json.dumps(envelope))
            after: list[np.ndarray] = []
            report.phase = "frames after the command"
            while len(after) < max_frames_after:
                after.append(await asyncio.wait_for(received.get(), _wait(deadline)))
                report.distances.append(round(_nearest(after[-1], known), 1))
                window = report.distances[-WINDOW:]
                if len(window) == WINDOW and float(np.median(window)) > report.threshold:
                    report.latency_frames = len(after) - WINDOW
                    break
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
    report.frames_before = len(before)
    report.frames_after = len(after)
    report.changed = float(np.median(report.distances[-WINDOW:]))
    return report
