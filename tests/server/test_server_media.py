"""The media path with an aiortc client in the same process, over loopback."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(60)


async def test_client_receives_paced_frames_in_order(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        await client.wait_frames(20, "main_video")
        counters = [f.counter for f in client.frames["main_video"]]
        assert counters[:20] == list(range(counters[0], counters[0] + 20))
        assert all(f.value == 10 for f in client.frames["main_video"])
    finally:
        await client.close()
