"""The server's settings, as the `reactor run` command line parses them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class ServeOptions:
    """How `reactor run` serves a model over the network (README: Serving)."""

    host: str = "127.0.0.1"
    port: int = 8080
    codec: Literal["vp8", "h264"] = "vp8"
    bitrate: int | None = None
    """Target video bitrate in bits per second; None keeps the encoder's default."""
    fps: float | None = None
    """Overrides the model's own `fps` (fixed rate); None lets the model set or adapt it."""
    ice_hosts: tuple[str, ...] = ()
    """Limit ICE host candidates to these addresses (e.g. 127.0.0.1 for loopback)."""
    stun: tuple[str, ...] = ()
    turn: tuple[str, ...] = field(default_factory=tuple)
    ping_timeout: float = 20.0
    """Seconds without a client ping before its session is dropped."""
    max_upload_bytes: int = 100 * 1024 * 1024
    """Largest file a client may upload (a session may upload 256 MiB in all, or this if more)."""
    max_uploads: int = 16
    """Files one session may upload."""
    upload_types: tuple[str, ...] = ()
    """Content types a client may upload (`image/*` wildcards); empty accepts any."""
    upload_wait: float = 10.0
    """Seconds a command naming an upload waits for the upload's bytes."""
