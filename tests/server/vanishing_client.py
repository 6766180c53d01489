"""A client that disappears: run in a child process and killed with SIGKILL once it reaches its
point, so the server sees what a crashed tab or a pulled cable looks like (no stop_session, no
DTLS close, nothing at all).

`python vanishing_client.py` is a small fork server (benchmarks/soak.py starts one): it imports
aiortc once, then forks a client for each line `{"url", "point", "frames"}` it reads; each
client prints `<pid> <session id>` (or `<pid> error: ...`) when it reaches its point and then
freezes until the caller kills that pid.

Points: `before_answer` (the offer is posted, the answer never fetched), `after_ice` (the data
channel is open, no frame read yet), `mid_stream` (after `frames` frames).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import Callable

POINTS = ("before_answer", "after_ice", "mid_stream")


async def _reach(url: str, point: str, frames: int) -> str:
    import aiohttp
    from aiortc import RTCConfiguration, RTCPeerConnection
    from reactor._transport import peer_settings
    from rtc_client import LOOPBACK, Client

    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15))
    client = Client(url, http)
    CURRENT.append(client)
    await client.start()
    if point == "before_answer":
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.createDataChannel("data")
        pc.addTransceiver("video", direction="recvonly")
        with peer_settings(LOOPBACK):
            await pc.setLocalDescription(await pc.createOffer())
        status, body = await client.transport(
            "POST", "sdp_params", {"sdp_offer": pc.localDescription.sdp}
        )
        assert status == 202, body
        client.pc = pc
    else:
        await client.connect()
        if point == "mid_stream":
            await client.wait_frames(frames)
    return client.session_id


CURRENT: list = []
"""The client being driven (for the pings)."""


async def _ping_while_alive() -> None:
    """Ping as a live client does (the server's ping timeout may be short in a benchmark)."""
    while True:
        await asyncio.sleep(0.1)
        client = CURRENT[0] if CURRENT else None
        channel = getattr(client, "channel", None)
        if channel is not None and channel.readyState == "open":
            client.send("runtime", "ping", {})


def run(url: str, point: str, frames: int, report: Callable[[str], None]) -> None:
    """Child process: reach `point`, tell the parent (the session id, or "error: ..."), then
    freeze with everything open (the event loop blocked) until killed."""

    async def main() -> None:
        pinging = asyncio.ensure_future(_ping_while_alive())
        try:
            session = await asyncio.wait_for(_reach(url, point, frames), 30)
        except Exception as exc:  # the parent counts it as a failure
            report(f"error: {type(exc).__name__}: {exc}")
            return
        pinging.cancel()
        report(session)
        time.sleep(600)  # blocks the loop: no packet, no timer, as if the machine had gone

    asyncio.run(main())


def serve() -> None:
    """Fork a client per request line on stdin (this process stays single-threaded, so a fork
    is safe); children report on stdout."""
    import aiohttp  # noqa: F401  (imported once, here, for every child)
    import aiortc  # noqa: F401
    import rtc_client  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    for line in sys.stdin:
        request = json.loads(line)
        if os.fork() == 0:
            try:
                run(request["url"], request["point"], int(request["frames"]), _report)
            finally:
                os._exit(0)


def _report(text: str) -> None:
    """One line on stdout, written at once (children share it): `<pid> <text>`."""
    os.write(1, f"{os.getpid()} {' '.join(text.split())}\n".encode())


if __name__ == "__main__":
    serve()
