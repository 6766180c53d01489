"""What one client may send, and how long the model may take, before the server says no.

A public endpoint meets clients that send too much (huge bodies, message floods) or read too
little (a data channel nobody drains). Each limit here bounds the memory or time one client can
cost the server; going over it is answered with a reason, never with a dead server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

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
        for name in ("command_rate", "stuck_after"):
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


class MessageGate:
    """A token bucket over one session's data-channel messages, checked before a message is
    read: `rate` a second sustained, `burst` at once.

    A refused message is dropped unread. The first refusal of a burst is to be answered (one
    error per burst, so a flood is not echoed back message for message); the burst ends when a
    message is accepted again.
    """

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._refusing = False
        self.accepted = 0
        self.refused = 0
        self.bursts = 0
        """Refused bursts so far (each answered once)."""

    def admit(self) -> Admission:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            self._refusing = False
            self.accepted += 1
            return "accept"
        self.refused += 1
        if self._refusing:
            return "refuse"
        self._refusing = True
        self.bursts += 1
        return "refuse_and_tell"

    def reason(self) -> str:
        return (
            f"too many messages: this server takes {self.rate:g} a second (bursts of "
            f"{self.burst}) from a client; messages are dropped unread until the rate falls"
        )
