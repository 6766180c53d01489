"""What one client may send, and how long the model may take, before the server says no.

A public endpoint meets clients that send too much (huge bodies, message floods) or read too
little (a data channel nobody drains). Each limit here bounds the memory or time one client can
cost the server; going over it is answered with a reason, never with a dead server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from reactor._sdp_check import MAX_OFFER_BYTES


@dataclass(frozen=True)
class Limits:
    """The server's limits (`ServeOptions.limits`; `reactor run` sets the ones it has flags for)."""

    max_body_bytes: int = 256 * 1024
    """A JSON request body larger than this is answered 413 without being read."""
    max_offer_bytes: int = MAX_OFFER_BYTES
    """An SDP offer larger than this is answered 400."""
    command_rate: float = 100.0
    """Data-channel messages a session may send per second, sustained (pings included)."""
    command_burst: int = 200
    """...and in one burst above that rate."""
    data_packet_rate: float = 400.0
    """Data-channel packets (DTLS records carrying SCTP) a client may deliver per second; more
    are dropped before they are decrypted, and the client's SCTP sends them again, slower.
    Decrypting and acknowledging a packet costs the event loop far more than refusing the
    message it carries, so a flood is cut here first."""
    outbound_buffer_bytes: int = 1024 * 1024
    """Messages to a client that is not reading them wait up to this many bytes; more are
    dropped (and counted), so a reader that never drains cannot grow the server."""
    load_timeout: float | None = 600.0
    """Seconds the model's `load()` may take before `reactor run` gives up (exit 1); None: no
    limit."""
    stuck_after: float = 60.0
    """A model step running longer than this makes the server report the model stuck."""

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_offer_bytes", "command_burst", "outbound_buffer_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("command_rate", "data_packet_rate", "stuck_after"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.load_timeout is not None and not self.load_timeout > 0:
            raise ValueError(f"load_timeout must be positive, got {self.load_timeout}")


# -------------------------------------------------------------------------------------------------
# Request bodies


class BodyTooLarge(Exception):
    """A request body over the limit; `size` is its length when the client said it."""

    def __init__(self, limit: int, size: int | None) -> None:
        self.limit = limit
        self.size = size
        said = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(f"the request body is {said}; the limit is {limit} bytes")


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request's body, read only up to `limit` bytes: a body that says it is larger
    (Content-Length) is refused unread, one that turns out larger is refused at the limit."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise BodyTooLarge(limit, declared)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit, declared)
        chunks.append(chunk)


def too_large_response(exc: BodyTooLarge) -> web.Response:
    """413 with the reason; the connection is closed rather than drained of the rest."""
    response = web.json_response(
        {"error": "body_too_large", "message": str(exc), "limit": exc.limit}, status=413
    )
    response.force_close()
    return response


# -------------------------------------------------------------------------------------------------
# Data-channel messages

Admission = Literal["accept", "refuse_and_tell", "refuse"]


class TokenBucket:
    """`rate` tokens a second, at most `burst` saved up."""

    def __init__(
        self, rate: float, burst: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


DTLS_APPLICATION_DATA = 23
"""The first byte of a DTLS record carrying application data (SCTP, for WebRTC); handshake
and alert records (22, 21) and SRTP/SRTCP (128-191) are other bytes (RFC 7983)."""


def throttle_data_packets(
    ice_transport: Any, rate: float, burst: int, on_drop: Callable[[], None] | None = None
) -> None:
    """Drop the data-channel packets a peer's ICE transport delivers beyond `rate` a second,
    before DTLS decrypts them. Media (SRTP/SRTCP), the DTLS handshake and alerts pass
    untouched; SCTP treats a drop as loss, so the sender retransmits and slows down.

    aiortc's DTLS transport reads each datagram with `ice_transport._recv()`, an attribute
    of the instance; it is wrapped once per transport."""
    if getattr(ice_transport, "_reactor_throttled", False):
        return
    receive = ice_transport._recv
    bucket = TokenBucket(rate, burst)

    async def recv() -> bytes:
        while True:
            data = await receive()
            if data and data[0] == DTLS_APPLICATION_DATA and not bucket.take():
                if on_drop is not None:
                    on_drop()
                continue
            return data

    ice_transport._recv = recv
    ice_transport._reactor_throttled = True


BURST_QUIET_SECONDS = 1.0
"""A refused burst ends once the client has gone this long without a refusal."""


class MessageGate:
    """A token bucket over one session's data-channel messages, checked before a message is
    read: `rate` a second sustained, `burst` at once.

    A refused message is dropped unread. The first refusal of a burst is to be answered, and
    only that one, so a flood is not echoed back message for message; the burst lasts while
    refusals keep coming (less than `BURST_QUIET_SECONDS` apart). Messages within the rate are
    still accepted meanwhile.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._bucket = TokenBucket(rate, burst, clock=clock)
        self._last_refused: float | None = None
        self.accepted = 0
        self.refused = 0
        self.bursts = 0
        """Refused bursts so far (each answered once)."""

    def admit(self) -> Admission:
        if self._bucket.take():
            self.accepted += 1
            return "accept"
        now = self._clock()
        self.refused += 1
        last, self._last_refused = self._last_refused, now
        if last is not None and now - last < BURST_QUIET_SECONDS:
            return "refuse"
        self.bursts += 1
        return "refuse_and_tell"

    def reason(self) -> str:
        return (
            f"too many messages: this server takes {self.rate:g} a second (bursts of "
            f"{self.burst}) from a client; messages are dropped unread until the rate falls"
        )
