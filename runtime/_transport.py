"""aiortc peer connections for streaming a model: one video track per `Video` field, one audio
track per `Audio` field, and the `data` channel.

Connection settings (ICE host addresses, encoder bitrate and frame rate) are scoped to the peer
connections made here: they live in a context variable that the two aiortc/aioice lookups we
wrap consult, so other peer connections in the same program keep aiortc's own behaviour and
aiortc's module constants are never changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import fractions
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aioice.ice
import av
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc import rtcrtpsender as _rtcrtpsender
from aiortc.codecs import h264 as _h264
from aiortc.codecs import vpx as _vpx
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.sdp import candidate_from_sdp
from reactor._options import ServeOptions
from reactor._receive import InboundTrack, InputSink, receive_input

log = logging.getLogger("reactor.transport")

VIDEO_CLOCK = 90_000
TRACK_QUEUE_FRAMES = 2
"""Frames a track holds for its encoder; when full the runner is held back, never thinned."""


@dataclass(frozen=True)
class PeerSettings:
    """How the peer connections this server makes behave (from `ServeOptions`)."""

    codec: str = "vp8"
    bitrate: int | None = None
    fps: float | None = None
    ice_hosts: tuple[str, ...] = ()
    stun: tuple[str, ...] = ()
    turn: tuple[str, ...] = ()

    @classmethod
    def from_options(cls, options: ServeOptions) -> PeerSettings:
        return cls(
            codec=options.codec,
            bitrate=options.bitrate,
            fps=options.fps,
            ice_hosts=tuple(options.ice_hosts),
            stun=tuple(options.stun),
            turn=tuple(options.turn),
        )


class SettingsError(ValueError):
    """A server option that cannot work; the message says which and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Scoped hooks into aioice and aiortc

_settings: contextvars.ContextVar[PeerSettings | None] = contextvars.ContextVar(
    "reactor_peer_settings", default=None
)
_hooks_installed = False


def _install_hooks() -> None:
    """Wrap aioice's host-address lookup and aiortc's encoder factory once.

    Both wrappers do exactly what the originals do unless the calling task runs inside
    `peer_settings(...)`: aioice gathers host candidates while a peer's local description is set,
    and aiortc creates a sender's encoder in the sender's task, which copies the context of the
    code that started it — ours.
    """
    global _hooks_installed
    if _hooks_installed:
        return
    original_hosts = aioice.ice.get_host_addresses
    original_encoder = _rtcrtpsender.get_encoder

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        settings = _settings.get()
        if settings is None:
            return original_hosts(use_ipv4, use_ipv6)
        if not settings.ice_hosts:
            # A machine with no network but loopback would otherwise offer no candidate at all.
            found = original_hosts(use_ipv4, use_ipv6)
            return found or (["127.0.0.1"] if use_ipv4 else [])
        return [
            h for h in settings.ice_hosts if (":" in h and use_ipv6) or (":" not in h and use_ipv4)
        ]

    def get_encoder(codec: RTCRtpCodecParameters) -> Any:
        settings = _settings.get()
        mime = codec.mimeType.lower()
        if settings is not None and (settings.bitrate or settings.fps):
            if mime == "video/vp8":
                return _Vp8Encoder(settings.bitrate)
            if mime == "video/h264":
                return _H264Encoder(settings.bitrate, settings.fps)
        return original_encoder(codec)

    get_host_addresses.__wrapped__ = original_hosts  # type: ignore[attr-defined]
    get_encoder.__wrapped__ = original_encoder  # type: ignore[attr-defined]
    aioice.ice.get_host_addresses = get_host_addresses
    _rtcrtpsender.get_encoder = get_encoder
    _hooks_installed = True


@contextlib.contextmanager
def peer_settings(settings: PeerSettings) -> Iterator[None]:
    """Apply `settings` to the peer connections negotiated inside this block (and to the tasks
    they start). Test clients use it too, to offer a 127.0.0.1 candidate on loopback."""
    _install_hooks()
    token = _settings.set(settings)
    try:
        yield
    finally:
        _settings.reset(token)


def _bitrate_bounds(default_min: int, ceiling: int) -> tuple[int, int]:
    return min(default_min, ceiling), ceiling


class _Vp8Encoder(_vpx.Vp8Encoder):
    """aiortc's VP8 encoder with its own bitrate ceiling (the receiver may still lower it)."""

    def __init__(self, bitrate: int | None) -> None:
        self._bounds = _bitrate_bounds(_vpx.MIN_BITRATE, bitrate or _vpx.MAX_BITRATE)
        self._bitrate = bitrate or _vpx.DEFAULT_BITRATE
        super().__init__()
        self.target_bitrate = self._bitrate

    @property
    def target_bitrate(self) -> int:
        return self._bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        low, high = self._bounds
        self._bitrate = max(low, min(int(bitrate), high))
        # The base class sizes its rate-control buffer from its own private copy.
        self._Vp8Encoder__target_bitrate = self._bitrate


class _H264Encoder(_h264.H264Encoder):
    """aiortc's H.264 encoder with its own bitrate ceiling and frame rate."""

    def __init__(self, bitrate: int | None, fps: float | None) -> None:
        self._bounds = _bitrate_bounds(_h264.MIN_BITRATE, bitrate or _h264.MAX_BITRATE)
        self._bitrate = bitrate or _h264.DEFAULT_BITRATE
        self._fps = fractions.Fraction(fps or _h264.MAX_FRAME_RATE).limit_denominator(1001)
        super().__init__()
        self.target_bitrate = self._bitrate

    @property
    def target_bitrate(self) -> int:
        return self._bitrate

    @target_bitrate.setter
    def target_bitrate(self, bitrate: int) -> None:
        low, high = self._bounds
        self._bitrate = max(low, min(int(bitrate), high))

    def _encode_frame(self, frame: av.VideoFrame, force_keyframe: bool) -> Iterator[bytes]:
        codec = self.codec
        if codec is not None and (
            frame.width != codec.width
            or frame.height != codec.height
            or abs(self.target_bitrate - codec.bit_rate) / codec.bit_rate > 0.1
        ):
            self.buffer_data = b""
            self.buffer_pts = None
            self.codec = codec = None
        if codec is None:
            # Opened here rather than by the base class so the frame rate is ours.
            codec = av.CodecContext.create("libx264", "w")
            codec.width = frame.width
            codec.height = frame.height
            codec.bit_rate = self.target_bitrate
            codec.pix_fmt = "yuv420p"
            codec.framerate = self._fps
            codec.time_base = 1 / self._fps
            codec.options = {"level": "31", "tune": "zerolatency"}
            codec.profile = "Baseline"
            self.codec = codec
        return super()._encode_frame(frame, force_keyframe)


def check_settings(settings: PeerSettings) -> None:
    """Refuse settings that cannot work, with a message naming the option and the fix."""
    for host in settings.ice_hosts:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise SettingsError(
                f"--ice-host {host!r}: expected an IP address of this machine, e.g. 127.0.0.1"
            ) from None
    ice_servers(settings)


def ice_servers(settings: PeerSettings) -> list[RTCIceServer]:
    """The STUN/TURN servers a peer may use: none unless the server was started with some.

    TURN entries are `USER:PASSWORD@HOST:PORT` (optionally prefixed `turn:`/`turns:` and
    suffixed `?transport=tcp`).
    """
    servers = [RTCIceServer(urls=_stun_url(s)) for s in settings.stun]
    servers += [_turn_server(t) for t in settings.turn]
    return servers


def _stun_url(value: str) -> str:
    url = value if value.startswith(("stun:", "stuns:")) else f"stun:{value}"
    if not url.split(":", 1)[1]:
        raise SettingsError(f"--stun {value!r}: expected HOST[:PORT], e.g. stun.example.org:3478")
    return url


def _turn_server(value: str) -> RTCIceServer:
    scheme, rest = "turn", value
    for prefix in ("turns:", "turn:"):
        if value.startswith(prefix):
            scheme, rest = prefix[:-1], value[len(prefix) :]
            break
    credentials, at, address = rest.rpartition("@")
    username, colon, password = credentials.partition(":")
    if not at or not colon or not username or not address:
        raise SettingsError(
            f"--turn {value!r}: expected USER:PASSWORD@HOST[:PORT], "
            "e.g. turn:alice:secret@turn.example.org:3478"
        )
    return RTCIceServer(urls=f"{scheme}:{address}", username=username, credential=password)


def ice_servers_json(settings: PeerSettings) -> list[dict[str, Any]]:
    """The `ice_servers` route's body: the same servers, in the protocol's shape."""
    result = []
    for server in ice_servers(settings):
        urls = [server.urls] if isinstance(server.urls, str) else list(server.urls)
        entry: dict[str, Any] = {"uris": urls}
        if server.username is not None:
            entry["credentials"] = {"username": server.username, "password": server.credential}
        result.append(entry)
    return result


# ---------------------------------------------------------------------------------------------
# Tracks


class FrameTrack(MediaStreamTrack):
    """One outgoing track fed with the runner's paced frames; pts come from the pacer."""

    def __init__(self, name: str, kind: str, sample_rate: int | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.name = name
        self.sample_rate = sample_rate or 48_000
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=TRACK_QUEUE_FRAMES)
        self._finished = False
        self.frames_sent = 0

    async def put(self, frame: Any) -> None:
        """Hand one paced frame to the encoder; waits while the encoder is behind. A frame for
        a finished track (its peer has gone) goes nowhere."""
        if not self._finished:
            await self._queue.put(frame)

    def finish(self) -> None:
        """End the track because its peer is gone: frames not yet encoded are discarded (which
        also frees a producer waiting for room) and the encoder gets end-of-stream."""
        self._finished = True
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def recv(self) -> av.VideoFrame | av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        self.frames_sent += 1
        if self.kind == "video":
            return video_frame(frame.data, frame.pts)
        return audio_frame(frame.data, frame.pts, self.sample_rate)


def video_frame(data: np.ndarray, pts: int) -> av.VideoFrame:
    """An RGB (H, W, 3) uint8 array as a frame stamped on the 90 kHz clock."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(data), format="rgb24")
    frame.pts = int(pts)
    frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
    return frame


def audio_frame(data: np.ndarray, pts: int, sample_rate: int) -> av.AudioFrame:
    """An int16 (channels, samples) array as an interleaved s16 frame on the sample clock."""
    channels = data.shape[0]
    if channels not in (1, 2):
        raise ValueError(f"audio with {channels} channels; WebRTC carries mono or stereo")
    packed = np.ascontiguousarray(data.T.reshape(1, -1), dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(
        packed, format="s16", layout="mono" if channels == 1 else "stereo"
    )
    frame.sample_rate = sample_rate
    frame.pts = int(pts)
    frame.time_base = fractions.Fraction(1, sample_rate)
    return frame


# ---------------------------------------------------------------------------------------------
# The peer


class OfferError(ValueError):
    """An SDP offer or track mapping this server cannot answer; the message says why."""


@dataclass(frozen=True)
class TrackInfo:
    """A track of the model, as the peer needs it: one it sends (`recvonly` from the client's
    side) or one it reads from the client (`sendonly`)."""

    name: str
    kind: str
    sample_rate: int | None = None
    direction: str = "recvonly"


class Peer:
    """One client's peer connection: answers its offer, carries the model's tracks, and hands
    data-channel messages, in order, to `on_message`."""

    def __init__(
        self,
        settings: PeerSettings,
        tracks: list[TrackInfo],
        on_message: Callable[[str | bytes], Awaitable[None]],
        on_state: Callable[[str], Awaitable[None]],
        inputs: InputSink | None = None,
    ) -> None:
        """`inputs` receives the frames of the tracks the client sends (`sendonly` ones)."""
        self.settings = settings
        self._tracks = tracks
        self._on_message = on_message
        self._on_state = on_state
        self._pc: RTCPeerConnection | None = None
        self._channel: Any = None
        self._outbox: list[str] = []
        self._inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None
        self.sinks: dict[str, FrameTrack] = {}
        self._inputs = inputs
        self.inbound: dict[str, InboundTrack] = {}
        """The client's tracks being read, by input name."""
        self.channel_open = asyncio.Event()
        self.closed = False

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState if self._pc else "new"

    async def answer(self, offer_sdp: str, track_mapping: list[dict[str, Any]] | None) -> str:
        """Answer the client's offer; the answer carries every host candidate (no trickle)."""
        if not isinstance(offer_sdp, str) or "v=0" not in offer_sdp:
            raise OfferError("sdp_offer must be the text of an SDP offer (starting with v=0)")
        if "m=application" not in offer_sdp:
            raise OfferError(
                "the SDP offer has no data channel; create one labelled 'data' before the offer "
                "(commands and pings travel on it)"
            )
        with peer_settings(self.settings):
            pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers(self.settings)))
            self._pc = pc
            pc.on("datachannel", self._on_datachannel)
            pc.on("connectionstatechange", self._on_connection_state)
            self._prefer_codec(pc, offer_sdp.count("\nm=video "))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            except Exception as exc:
                raise OfferError(f"the SDP offer cannot be used: {_one_line(exc)}") from None
            self._attach_tracks(pc, track_mapping)
            try:
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                raise OfferError(f"cannot answer this SDP offer: {_one_line(exc)}") from None
        self._reader = asyncio.ensure_future(self._read_messages())
        return pc.localDescription.sdp

    def _prefer_codec(self, pc: RTCPeerConnection, video_sections: int) -> None:
        """Make the chosen codec the one we send when the client offers it (others stay as a
        fallback): transceivers made before the offer is applied take its video sections, in
        order, with our codec preferences."""
        codecs = RTCRtpSender.getCapabilities("video").codecs
        wanted = f"video/{self.settings.codec}".lower()
        ordered = [c for c in codecs if c.mimeType.lower() == wanted]
        ordered += [c for c in codecs if c.mimeType.lower() != wanted]
        for _ in range(video_sections):
            pc.addTransceiver("video", direction="sendonly").setCodecPreferences(ordered)

    def _attach_tracks(self, pc: RTCPeerConnection, mapping: list[dict[str, Any]] | None) -> None:
        """Put each model track on the transceiver the client named for it (by mid), or, with
        no mapping, on the transceivers of its kind in order."""
        transceivers = {t.mid: t for t in pc.getTransceivers()}
        ours = {t.name: t for t in self._tracks}
        chosen: list[tuple[Any, TrackInfo]] = []
        if mapping:
            for entry in mapping:
                if not isinstance(entry, dict):
                    raise OfferError("track_mapping entries must be objects {mid, name, kind}")
                name, mid, kind = entry.get("name"), entry.get("mid"), entry.get("kind")
                if name not in ours:
                    raise OfferError(
                        f"track_mapping names track {name!r}; this model sends "
                        f"{sorted(ours) or 'no tracks'}"
                    )
                if kind is not None and kind != ours[name].kind:
                    raise OfferError(
                        f"track_mapping says {name!r} is {kind}; it is {ours[name].kind}"
                    )
                if mid not in transceivers:
                    raise OfferError(f"track_mapping names mid {mid!r}, which the offer lacks")
                if transceivers[mid].kind != ours[name].kind:
                    raise OfferError(
                        f"mid {mid!r} is a {transceivers[mid].kind} section; "
                        f"{name!r} is {ours[name].kind}"
                    )
                chosen.append((transceivers[mid], ours[name]))
        else:
            free = [t for t in pc.getTransceivers()]
            for info in sorted(self._tracks, key=lambda i: i.direction == "sendonly"):
                # An input needs a section the client sends on (aiortc made it a remote track).
                match = next(
                    (
                        t
                        for t in free
                        if t.kind == info.kind
                        and (info.direction != "sendonly" or t.receiver.track is not None)
                    ),
                    None,
                )
                if match is not None:
                    free.remove(match)
                    chosen.append((match, info))
        for transceiver, info in chosen:
            if info.direction == "sendonly":
                inbound = (
                    receive_input(transceiver, info, self._inputs)
                    if self._inputs is not None
                    else None
                )
                if inbound is not None:
                    self.inbound[info.name] = inbound
                elif self._inputs is None:
                    transceiver.direction = "inactive"
                continue
            track = FrameTrack(info.name, info.kind, info.sample_rate)
            transceiver.sender.replaceTrack(track)
            transceiver.direction = "sendonly"
            self.sinks[info.name] = track
        used = {id(t) for t, _ in chosen}
        for transceiver in pc.getTransceivers():
            if id(transceiver) not in used:
                transceiver.direction = "inactive"  # a section no model track goes to

    def _on_datachannel(self, channel: Any) -> None:
        if channel.label != "data":
            log.info("ignoring data channel %r (only 'data' carries commands)", channel.label)
            channel.close()
            return
        self._channel = channel

        @channel.on("message")
        def on_message(message: str | bytes) -> None:
            self._inbox.put_nowait(message)

        @channel.on("close")
        def on_close() -> None:
            self.channel_open.clear()

        if channel.readyState == "open":
            self._flush()
        else:
            channel.on("open", self._flush)

    def _flush(self) -> None:
        self.channel_open.set()
        outbox, self._outbox = self._outbox, []
        for text in outbox:
            self.send(text)

    async def _on_connection_state(self) -> None:
        if self._pc is not None:
            await self._on_state(self._pc.connectionState)

    async def _read_messages(self) -> None:
        while True:
            message = await self._inbox.get()
            if message is None:
                return
            try:
                await self._on_message(message)
            except Exception:
                log.exception("handling a data-channel message failed")

    async def add_candidates(self, entries: list[Any]) -> int:
        """Add trickled remote candidates (`{candidate, sdpMid?, sdpMLineIndex?}`, the browser's
        RTCIceCandidate JSON); an empty candidate ends the list. How many were added."""
        if self._pc is None:
            raise OfferError("no offer yet: POST sdp_params before ice_candidates")
        added = 0
        for entry in entries:
            text = entry.get("candidate") if isinstance(entry, dict) else None
            if not isinstance(text, str):
                raise OfferError('each candidate must be an object {"candidate": "candidate:..."}')
            if not text:
                continue
            try:
                candidate = candidate_from_sdp(text.removeprefix("candidate:").strip())
            except Exception:
                raise OfferError(f"not an ICE candidate: {text[:80]!r}") from None
            candidate.sdpMid = entry.get("sdpMid")
            candidate.sdpMLineIndex = entry.get("sdpMLineIndex")
            if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
                candidate.sdpMLineIndex = 0
            try:
                await self._pc.addIceCandidate(candidate)
            except Exception as exc:
                raise OfferError(f"cannot add candidate {text[:80]!r}: {_one_line(exc)}") from None
            added += 1
        return added

    def send(self, text: str) -> None:
        """Send one message; before the channel opens, messages wait and go out in order."""
        channel = self._channel
        if channel is not None and channel.readyState == "open":
            channel.send(text)
        elif not self.closed:
            self._outbox.append(text)

    async def close(self) -> None:
        """End the tracks and close the connection; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        for track in self.sinks.values():
            track.finish()
        for inbound in self.inbound.values():
            await inbound.stop()
        self._inbox.put_nowait(None)
        if self._reader is not None and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if self._pc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pc.close(), 1.0)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
