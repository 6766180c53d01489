"""The client's camera and microphone over WebRTC: an aiortc client publishes tracks whose
frames carry a counter, the model echoes what it reads, the client sees its own frames come
back. Late, replaced, unpublished and never-sent tracks; sessions that share nothing."""

from __future__ import annotations

import asyncio
import time

import pytest
from input_client import InputClient, StampedCamera, Tone
from input_models import IDLE_VALUE, AsyncEcho, Echo, Listener
from reactor import ReadMode
from reactor._runner import Runner
from server_harness import Running, serving

pytestmark = pytest.mark.timeout(90)


def client(running: Running) -> InputClient:
    return InputClient(running.url.rstrip("/"), running.http)


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def echoed(c: InputClient, value: int) -> list[int]:
    """Counters of the received frames that show `value` (the camera's), in arrival order."""
    return [f.counter for f in c.frames.get("main_video", []) if f.value == value]


async def test_the_camera_is_listed_sendonly_and_the_model_echoes_every_frame_in_order() -> None:
    model = Echo(mode=ReadMode.FIFO)
    async with serving(Runner(model)) as running:
        c = client(running)
        body = await c.start()
        assert body["capabilities"]["tracks"] == [
            {"name": "main_video", "kind": "video", "direction": "recvonly"},
            {"name": "camera", "kind": "video", "direction": "sendonly"},
        ]
        async with running.http.get(f"{c.base}/schema") as response:
            schema = await response.json()
        assert {"name": "camera", "kind": "video", "direction": "sendonly"} in schema["x-reactor"][
            "tracks"
        ]
        await c.connect()
        # Before any camera frame the model shows its own card, and knows why.
        await until(lambda: echoed(c, IDLE_VALUE), what="the model's own frames")
        assert not running.runner.inputs["camera"].publishing
        # Published once ready, as the JS client's publishTrack does.
        camera = StampedCamera(fps=30, value=100)
        c.publish("camera", camera)
        await until(lambda: len(echoed(c, 100)) >= 60, timeout=20, what="60 echoed frames")
        c.publish("camera", None)
        await asyncio.sleep(0.5)
        seen = echoed(c, 100)
        assert seen == sorted(seen) and len(set(seen)) == len(seen)  # in order, none twice
        # No frame lost: every counter from the first echoed one to the last sent is back.
        assert set(range(seen[0], seen[-1] + 1)) <= set(seen)
        assert max(camera.sent) - seen[-1] <= 1
        assert running.runner.inputs["camera"].dropped == 0
        await c.close()


async def test_no_camera_means_the_model_runs_on_its_own_frames() -> None:
    model = Echo()
    async with serving(Runner(model)) as running:
        c = client(running)
        await c.start()
        await c.connect()
        await until(lambda: len(echoed(c, IDLE_VALUE)) >= 15, what="15 frames of the model's own")
        camera = running.runner.inputs["camera"]
        assert camera.total_received == 0 and not camera.publishing
        assert model.read == 0 and model.no_publisher >= 15
        await c.close()


async def test_a_camera_published_late_replaced_and_unpublished() -> None:
    model = Echo()
    async with serving(Runner(model)) as running:
        c = client(running)
        await c.start()
        await c.connect()
        await until(lambda: echoed(c, IDLE_VALUE), what="the model's own frames")
        first = StampedCamera(fps=30, value=100)
        c.publish("camera", first)
        await until(lambda: len(echoed(c, 100)) >= 10, what="the first camera's frames")
        assert running.runner.inputs["camera"].publishing
        # replaceTrack onto another source: its frames follow, without a new negotiation.
        second = StampedCamera(fps=30, value=160, first=5000, size=320)
        c.publish("camera", second)
        await until(lambda: len(echoed(c, 160)) >= 10, what="the second camera's frames")
        assert all(n >= 5000 for n in echoed(c, 160))
        # Unpublished: after a quiet second the model is back on its own frames.
        c.publish("camera", None)
        shown = len(c.frames["main_video"])
        await until(
            lambda: not running.runner.inputs["camera"].publishing, what="publishing to end"
        )
        await until(
            lambda: any(f.value == IDLE_VALUE for f in c.frames["main_video"][shown:]),
            what="the model's own frames again",
        )
        await c.close()


async def test_an_async_generator_is_paced_by_the_camera_and_ends_quietly() -> None:
    async with serving(Runner(AsyncEcho())) as running:
        c = client(running)
        await c.start()
        camera = StampedCamera(fps=20, value=120)
        await c.connect()
        c.publish("camera", camera)
        await until(lambda: len(echoed(c, 120)) >= 20, what="20 echoed frames")
        seen = echoed(c, 120)
        assert set(range(seen[0], seen[-1] + 1)) <= set(seen)
        await c.close()
        await until(lambda: running.server.session is None, what="the session to end")
        assert running.runner.failure is None
        assert not any(m["data"]["type"] == "error" for m in c.messages)


async def test_the_microphone_arrives_as_mono_int16_at_the_declared_rate() -> None:
    model = Listener()
    async with serving(Runner(model)) as running:
        c = client(running)
        await c.start()
        await c.connect()
        c.publish("mic", Tone())
        await until(lambda: model.samples >= 16_000, timeout=15, what="a second of audio")
        started, samples = time.monotonic(), model.samples
        await asyncio.sleep(1.0)
        rate = (model.samples - samples) / (time.monotonic() - started)
        assert 12_000 < rate < 20_000  # 16 kHz, as the model's Voice track declares
        assert model.shapes == {(1, "int16")}
        assert model.peak > 2000  # the tone, not silence
        await c.close()


async def test_nothing_of_one_client_reaches_the_next_session() -> None:
    model = Echo()
    async with serving(Runner(model)) as running:
        first = client(running)
        await first.start()
        await first.connect()
        first.publish("camera", StampedCamera(fps=30, value=100))
        await until(lambda: len(echoed(first, 100)) >= 10, what="the first client's frames")
        await first.close()
        await until(lambda: running.server.session is None, what="the first session to end")
        camera = running.runner.inputs["camera"]
        assert camera.closed  # the ended session's reads raise BufferClosed
        second = client(running)
        await second.start()
        await second.connect()
        await until(lambda: len(echoed(second, IDLE_VALUE)) >= 10, what="the second session")
        assert echoed(second, 100) == []
        assert camera.total_received == 0 and not camera.publishing
        await second.close()


async def test_a_client_that_only_receives_still_streams() -> None:
    """A client that maps every capability track recvonly (it never sends) is answered, and
    the model runs on its own frames."""
    async with serving(Runner(Echo())) as running:
        c = running.client()
        await c.start()
        await c.connect()  # rtc_client maps all tracks recvonly, the camera too
        await c.wait_frames(10, "main_video")
        assert {f.value for f in c.frames["main_video"]} == {IDLE_VALUE}
        await c.close()


async def test_a_camera_mapped_to_an_audio_section_is_refused() -> None:
    async with serving(Runner(Echo())) as running:
        c = client(running)
        await c.start()
        tracks = [
            {"name": "main_video", "kind": "video", "direction": "recvonly"},
            {"name": "camera", "kind": "audio", "direction": "sendonly"},
        ]
        with pytest.raises(AssertionError, match="camera"):
            await c.connect(tracks=tracks)
        await c.close()
