"""An aiortc client that also sends: a camera whose frames carry a counter (pixelcode), a
microphone tone, and uploads, as Reactor's JS client does them (`publishTrack` is a
`replaceTrack` on a transceiver offered sendonly from the start; `uploadFile` is POST, PUT,
`fileUploaded`). For the input and upload tests and benchmarks/inputs.py."""

from __future__ import annotations

import asyncio
import fractions
import json
import math
import time
from typing import Any

import av
import numpy as np
import pixelcode
from aiortc import MediaStreamTrack, RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from reactor._receive import release_on_marker
from reactor._transport import peer_settings
from rtc_client import LOOPBACK, Client


class StampedCamera(MediaStreamTrack):
    """A camera at `fps` whose frame n shows counter `first + n` and `value`; `sent` holds when
    each counter was handed to the encoder (monotonic seconds)."""

    kind = "video"

    def __init__(
        self, fps: float = 30.0, size: int = 256, value: int = 100, first: int = 0
    ) -> None:
        super().__init__()
        self.fps = fps
        self.size = size
        self.value = value
        self.first = first
        self.sent: dict[int, float] = {}
        self._n = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._n / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        counter = (self.first + self._n) % 65536
        picture = pixelcode.picture(self.size, self.size, counter, self.value)
        frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
        frame.pts = round(self._n * 90_000 / self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self.sent[counter] = time.monotonic()
        self._n += 1
        return frame


class Tone(MediaStreamTrack):
    """A 440 Hz stereo tone at 48 kHz in 20 ms frames, like a browser's microphone."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._samples = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._samples / 48_000
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = (self._samples + np.arange(960)) / 48_000
        wave = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        packed = np.repeat(wave, 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
        frame.sample_rate = 48_000
        frame.pts = self._samples
        frame.time_base = fractions.Fraction(1, 48_000)
        self._samples += 960
        return frame


class InputClient(Client):
    """`Client` that offers the model's input tracks sendonly and can publish onto them."""

    senders: dict[str, Any]

    async def connect(  # type: ignore[override]
        self,
        tracks: list[dict[str, Any]] | None = None,
        extra_channels: tuple[str, ...] = (),
        publish: dict[str, MediaStreamTrack] | None = None,
        marker_release: bool = True,
    ) -> None:
        """Like `Client.connect`, with a sendonly transceiver per input track (carrying the
        track in `publish`, if any: otherwise nothing is sent until `publish()`).
        `marker_release`: decode each received video frame on its last packet, as a browser
        does, instead of aiortc's wait for the next frame."""
        tracks = tracks if tracks is not None else self.session["capabilities"]["tracks"]
        publish = publish or {}
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        self.extra = {label: pc.createDataChannel(label) for label in extra_channels}
        self.channel = pc.createDataChannel("data")
        self.channel.on("message", self._on_message)
        self.channel.on("open", self.open.set)
        self.senders = {}
        transceivers = []
        for t in tracks:
            direction = t.get("direction", "recvonly")
            transceiver = pc.addTransceiver(t["kind"], direction=direction)
            if direction == "sendonly":
                self.senders[t["name"]] = transceiver.sender
                if t["name"] in publish:
                    transceiver.sender.replaceTrack(publish[t["name"]])
            elif marker_release and t["kind"] == "video":
                release_on_marker(transceiver.receiver)
            transceivers.append(transceiver)
        pc.on("track", self._on_track)
        with peer_settings(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        mapping = [
            {
                "mid": tr.mid,
                "name": t["name"],
                "kind": t["kind"],
                "direction": t.get("direction", "recvonly"),
            }
            for tr, t in zip(transceivers, tracks, strict=True)
        ]
        self._names = {tr.mid: t["name"] for tr, t in zip(transceivers, tracks, strict=True)}
        status, body = await self.transport(
            "POST", "sdp_params", {"sdp_offer": pc.localDescription.sdp, "track_mapping": mapping}
        )
        assert status == 202, body
        status, body = await self.transport("GET", "sdp_params")
        assert status == 200, body
        await pc.setRemoteDescription(RTCSessionDescription(body["sdp_answer"], "answer"))
        await asyncio.wait_for(self.open.wait(), 10)

    def publish(self, name: str, track: MediaStreamTrack | None) -> None:
        """What the JS client's publishTrack / unpublishTrack do: replaceTrack on the sender."""
        self.senders[name].replaceTrack(track)

    async def upload(
        self, data: bytes, name: str = "picture.png", mime_type: str = "image/png"
    ) -> tuple[dict[str, Any], float]:
        """The JS client's uploadFile: reserve a slot, PUT the bytes, send `fileUploaded`.
        Returns the slot and the seconds the two HTTP calls took."""
        started = time.monotonic()
        async with self.http.post(
            f"{self.base}/sessions/{self.session_id}/uploads",
            json={"name": name, "size": len(data), "mime_type": mime_type},
        ) as response:
            slot = await response.json()
            assert response.status == 201, slot
        async with self.http.put(slot["presigned_url"], data=data) as response:
            assert response.status == 200, await response.text()
        took = time.monotonic() - started
        self.send(
            "runtime",
            "fileUploaded",
            {
                "upload_id": slot["presigned_id"],
                "name": name,
                "mime_type": mime_type,
                "size": len(data),
            },
        )
        return slot, took

    def send_with_uploads(
        self, command: str, data: dict[str, Any], uploads: dict[str, dict[str, Any]]
    ) -> float:
        """sendCommand with a FileRef: the file goes in the envelope's `uploads` section."""
        envelope = {
            "scope": "application",
            "data": {"type": command, "data": data, "uploads": uploads},
        }
        self.channel.send(json.dumps(envelope))
        return time.monotonic()
