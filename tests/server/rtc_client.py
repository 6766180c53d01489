"""An aiortc client of Reactor protocol v1, as a browser would act, for tests and benchmarks.

It offers a 127.0.0.1 host candidate (aioice leaves loopback out otherwise) and records each
received video frame's decoded counter and state value with the time it arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pixelcode
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from reactor._transport import PeerSettings, peer_settings

LOOPBACK = PeerSettings(ice_hosts=("127.0.0.1",))


@dataclass
class Received:
    """One decoded video frame: the counter and value drawn into it, and when it arrived."""

    counter: int
    value: int
    at: float
    pts: int


@dataclass
class Client:
    base: str
    http: aiohttp.ClientSession
    session: dict[str, Any] = field(default_factory=dict)
    pc: RTCPeerConnection | None = None
    channel: Any = None
    frames: dict[str, list[Received]] = field(default_factory=dict)
    audio_frames: dict[str, int] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    message_times: list[float] = field(default_factory=list)
    new_message: asyncio.Event = field(default_factory=asyncio.Event)
    new_frame: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    started_at: float = 0.0
    open: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def session_id(self) -> str:
        return self.session["session_id"]

    async def start(self) -> dict[str, Any]:
        self.started_at = time.monotonic()
        async with self.http.post(
            f"{self.base}/start_session",
            json={},
            headers={"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"},
        ) as response:
            body = await response.json()
            assert response.status == 200, body
        self.session = body
        return body

    async def connect(
        self, tracks: list[dict[str, Any]] | None = None, extra_channels: tuple[str, ...] = ()
    ) -> None:
        """Offer one recvonly transceiver per capability track and a `data` channel; wait for
        the channel to open."""
        tracks = tracks if tracks is not None else self.session["capabilities"]["tracks"]
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.extra = {label: pc.createDataChannel(label) for label in extra_channels}
        self.channel = pc.createDataChannel("data")
        self.channel.on("message", self._on_message)
        self.channel.on("open", self.open.set)
        transceivers = [pc.addTransceiver(t["kind"], direction="recvonly") for t in tracks]
        pc.on("track", self._on_track)
        with peer_settings(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        mapping = [
            {"mid": tr.mid, "name": t["name"], "kind": t["kind"], "direction": "recvonly"}
            for tr, t in zip(transceivers, tracks, strict=True)
        ]
        self._names = {tr.mid: t["name"] for tr, t in zip(transceivers, tracks, strict=True)}
        status, body = await self.transport(
            "POST",
            "sdp_params",
            {"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping},
        )
        assert status == 202, body
        status, body = await self.transport("GET", "sdp_params")
        assert status == 200, body
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp_answer"], "answer"))
        await asyncio.wait_for(self.open.wait(), 10)

    async def transport(
        self, method: str, route: str, body: Any = None, session_id: str | None = None
    ) -> tuple[int, Any]:
        url = f"{self.base}/sessions/{session_id or self.session_id}/transport/webrtc/{route}"
        headers = {"Authorization": "Bearer local", "Reactor-WebRTC-Version": "1.0"}
        async with self.http.request(method, url, json=body, headers=headers) as response:
            return response.status, await response.json()

    def _on_message(self, message: str | bytes) -> None:
        self.messages.append(json.loads(message))
        self.message_times.append(time.monotonic())
        self.new_message.set()

    def _on_track(self, track: Any) -> None:
        name = next(
            (
                n
                for mid, n in self._names.items()
                for t in self.pc.getTransceivers()
                if t.mid == mid and t.receiver.track is track
            ),
            track.id,
        )
        if track.kind == "video":
            self.frames[name] = []
            self.tasks.append(asyncio.ensure_future(self._read_video(name, track)))
        else:
            self.audio_frames[name] = 0
            self.tasks.append(asyncio.ensure_future(self._read_audio(name, track)))

    async def _read_video(self, name: str, track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                at = time.monotonic()
                counter, value = pixelcode.read(frame.to_ndarray(format="rgb24"))
                self.frames[name].append(Received(counter, value, at, frame.pts))
                self.new_frame.set()

    async def _read_audio(self, name: str, track: Any) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()
                self.audio_frames[name] += 1

    def send(self, scope: str, type_: str, data: Any) -> float:
        self.channel.send(json.dumps({"scope": scope, "data": {"type": type_, "data": data}}))
        return time.monotonic()

    def send_raw(self, raw: str | bytes) -> float:
        self.channel.send(raw)
        return time.monotonic()

    async def wait_message(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first message (seen so far or arriving within `timeout`) matching `predicate`."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            self.new_message.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no matching message in {timeout} s; got {self.messages}")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.new_message.wait(), left)

    async def wait_frames(
        self, count: int, track: str | None = None, timeout: float = 10.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            have = len(self.frames.get(track, [])) if track else sum(map(len, self.frames.values()))
            if have >= count:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"only {have} of {count} frames in {timeout} s")
            self.new_frame.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.new_frame.wait(), left)

    async def close(self, stop: bool = True) -> None:
        if stop:
            with contextlib.suppress(Exception):
                async with self.http.post(f"{self.base}/stop_session") as response:
                    await response.read()
        for task in self.tasks:
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
