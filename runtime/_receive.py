"""Receiving a client's camera and microphone: aiortc's decoded frames into the model's
`InputBuffer`s.

aiortc decodes each inbound track (PyAV) on its own thread; a reader task here turns every
decoded frame into an `InputFrame` (video `(H, W, 3)` RGB, audio `(1, M)` int16 mono at the
rate the model declared) and hands it to an `InputSink`, which the server points at the current
session's buffers. A track the client publishes late, replaces or unpublishes needs nothing
special: frames just start, change size, or stop.

aiortc's jitter buffer hands a video frame to the decoder only when the next frame's first
packet arrives, one frame interval late. `release_on_marker` gives a receiver a buffer that
releases a frame as soon as its last packet (the RTP marker bit) completes it, as browsers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Protocol

import av
from aiortc.jitterbuffer import JitterBuffer, JitterFrame
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket
from reactor._inputs import InputBuffer, InputFrame

log = logging.getLogger("reactor.receive")

_RECEIVER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
"""Where an aiortc receiver keeps its jitter buffer (one per receiver, made in its __init__)."""


class InputSink(Protocol):
    """Where a peer's inbound frames go: the current session's input buffers."""

    def push(self, track: str, frame: InputFrame) -> None: ...
    def ended(self, track: str) -> None: ...


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's video jitter buffer, releasing a frame as soon as its packets are all in.

    A frame is complete when the packets from the buffer's start run without a gap, share one
    timestamp, and the last carries the RTP marker bit. A missing packet holds the frame until
    it is retransmitted, exactly as before; only the wait for the *next* frame is gone.
    """

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        pli, frame = super().add(packet)
        if frame is not None:
            return pli, frame
        return pli, self._completed_frame()

    def _completed_frame(self) -> JitterFrame | None:
        if self._origin is None:
            return None
        packets: list[RtpPacket] = []
        for count in range(self._capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None or (packets and packet.timestamp != packets[0].timestamp):
                return None
            packets.append(packet)
            if packet.marker:
                frame = JitterFrame(
                    data=b"".join(p._data for p in packets),  # type: ignore[attr-defined]
                    timestamp=packets[0].timestamp,
                )
                self.remove(count + 1)
                return frame
        return None


def release_on_marker(receiver: Any) -> bool:
    """Give an aiortc video receiver a `MarkerJitterBuffer` (before its media starts); False,
    leaving it as it is, when this aiortc keeps its buffer elsewhere."""
    current = getattr(receiver, _RECEIVER_BUFFER, None)
    if not isinstance(current, JitterBuffer) or isinstance(current, MarkerJitterBuffer):
        return isinstance(current, MarkerJitterBuffer)
    setattr(receiver, _RECEIVER_BUFFER, MarkerJitterBuffer(current.capacity, is_video=True))
    return True


class InboundTrack:
    """Reads one client track until it ends, delivering each decoded frame to a sink."""

    def __init__(
        self,
        name: str,
        kind: str,
        track: Any,
        sink: InputSink,
        *,
        sample_rate: int | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.frames = 0
        """Frames delivered so far."""
        self._track = track
        self._sink = sink
        self._sample_rate = sample_rate or 48_000
        self._resampler: av.AudioResampler | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reading (frames flow once the client sends them)."""
        self._task = asyncio.ensure_future(self._read())

    async def stop(self) -> None:
        """Stop reading; the sink hears that the track ended."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _read(self) -> None:
        convert: Callable[[Any], list[InputFrame]] = (
            self._video if self.kind == "video" else self._audio
        )
        try:
            while True:
                try:
                    decoded = await self._track.recv()
                except MediaStreamError:
                    return
                try:
                    frames = convert(decoded)
                except Exception as exc:  # a frame PyAV cannot convert is skipped, not fatal
                    log.warning("input track %r: skipped a frame (%s)", self.name, exc)
                    continue
                for frame in frames:
                    self.frames += 1
                    self._sink.push(self.name, frame)
        finally:
            self._sink.ended(self.name)

    def _video(self, decoded: av.VideoFrame) -> list[InputFrame]:
        return [InputFrame(decoded.to_ndarray(format="rgb24"), _seconds(decoded))]

    def _audio(self, decoded: av.AudioFrame) -> list[InputFrame]:
        if self._resampler is None:
            self._resampler = av.AudioResampler(format="s16", layout="mono", rate=self._sample_rate)
        pts = _seconds(decoded)
        out = []
        for frame in self._resampler.resample(decoded):
            samples = frame.to_ndarray().reshape(1, -1)
            out.append(InputFrame(samples, pts))
            if pts is not None:
                pts += samples.shape[1] / self._sample_rate
        return out


def _seconds(frame: av.VideoFrame | av.AudioFrame) -> float | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return float(frame.pts * frame.time_base)


def receive_input(transceiver: Any, info: Any, sink: InputSink) -> InboundTrack | None:
    """Receive the client's track on `transceiver` as model input `info` (name, kind,
    sample_rate): answer its section recvonly and start reading. None (the section answered
    inactive) when the client's offer does not send on it."""
    track = transceiver.receiver.track
    if track is None:
        transceiver.direction = "inactive"
        return None
    transceiver.direction = "recvonly"
    if info.kind == "video" and not release_on_marker(transceiver.receiver):
        log.info("this aiortc keeps its jitter buffer elsewhere; video input arrives a frame later")
    inbound = InboundTrack(
        info.name, info.kind, track, sink, sample_rate=getattr(info, "sample_rate", None)
    )
    inbound.start()
    return inbound


class BufferSink:
    """An `InputSink` into a session's input buffers, while `live()` says that session is the
    current one: frames of an ended session's peer (or before its model started) go nowhere."""

    def __init__(self, buffers: dict[str, InputBuffer], live: Callable[[], bool]) -> None:
        self._buffers = buffers
        self._live = live

    def push(self, track: str, frame: InputFrame) -> None:
        buffer = self._buffers.get(track)
        if buffer is not None and self._live():
            buffer.push(frame)

    def ended(self, track: str) -> None:
        buffer = self._buffers.get(track)
        if buffer is not None and self._live():
            buffer.ended()
