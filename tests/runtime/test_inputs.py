"""Inputs from the client without any network: declaring camera/microphone tracks and upload
fields, the input buffer's reads, and a model paced by its input through the Runner."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
import reactor
from reactor import (
    Audio,
    BufferClosed,
    InputField,
    InputFrame,
    InputState,
    MediaInput,
    ReactorModel,
    ReactorPipeline,
    ReadMode,
    UploadedFile,
    Video,
    event,
    file_uploaded,
)
from reactor._inputs import InputBuffer
from reactor._runner import Runner
from reactor._schema import build_schema
from reactor._state import parse_text


def frame(value: int, pts: float | None = None) -> InputFrame:
    return InputFrame(np.full((4, 4, 3), value, np.uint8), pts)


def values(frames: list[InputFrame] | None) -> list[int]:
    assert frames is not None
    return [int(f.data[0, 0, 0]) for f in frames]


# ---- declaring inputs


class CameraInput(MediaInput):
    camera: Video


class Voice(Audio):
    sample_rate = 16_000
    buffer_seconds = 0.5


class AvInput(MediaInput):
    camera: Video
    voice: Voice


class MicOnly(MediaInput):
    mic: Audio


class ShortAudio(Audio):
    buffer_seconds = -1


class OddRate(Audio):
    sample_rate = 44_100.5  # type: ignore[assignment]


def test_a_media_input_class_lists_its_tracks_and_a_model_gets_one_buffer_per_track() -> None:
    class Model(ReactorPipeline):
        media: AvInput

        def inference(self):  # type: ignore[no-untyped-def]
            yield np.zeros((4, 4, 3), np.uint8)

    assert [(t.name, t.kind, t.sample_rate) for t in AvInput.tracks()] == [
        ("camera", "video", None),
        ("voice", "audio", 16_000),
    ]
    model = Model()
    assert isinstance(model.media, AvInput)
    assert isinstance(model.media.camera, InputBuffer)
    assert model.media.camera.name == "camera" and model.media.voice.kind == "audio"
    assert Model.input_tracks() == AvInput.tracks()
    # Two instances never share buffers.
    assert Model().media.camera is not model.media.camera


def test_wrong_input_declarations_fail_when_the_class_is_defined() -> None:
    with pytest.raises(TypeError, match=r"Bad.camera: a MediaInput field must be typed Video"):

        class Bad(MediaInput):
            camera: int

    with pytest.raises(TypeError, match="buffer_seconds must be a positive"):
        type("BadAudio", (MediaInput,), {"__annotations__": {"mic": ShortAudio}})
    with pytest.raises(TypeError, match="sample_rate must be an integer"):
        type("Odd", (MediaInput,), {"__annotations__": {"mic": OddRate}})
    with pytest.raises(TypeError, match="declares 2 MediaInput handles"):

        class Twice(ReactorPipeline):
            media: CameraInput
            sound: MicOnly


class SameName(MediaInput):
    main_video: Video


def test_an_input_named_like_an_output_track_is_refused() -> None:
    class Model(ReactorPipeline):
        media: SameName

        def inference(self):  # type: ignore[no-untyped-def]
            yield np.zeros((4, 4, 3), np.uint8)

    with pytest.raises(TypeError, match="main_video is both a track the model sends"):
        Runner(Model())


class Pictured(InputState):
    image: UploadedFile = InputField(description="A picture")
    level: int = 3


def test_the_schema_lists_inputs_as_sendonly_and_upload_fields_as_references() -> None:
    class Model(ReactorPipeline):
        state: Pictured
        media: AvInput

        def inference(self):  # type: ignore[no-untyped-def]
            yield np.zeros((4, 4, 3), np.uint8)

        @event
        def stamp(self, file: UploadedFile) -> None: ...

    doc = build_schema(Model)
    assert doc["x-reactor"]["tracks"] == [
        {"name": "main_video", "kind": "video", "direction": "recvonly"},
        {"name": "camera", "kind": "video", "direction": "sendonly"},
        {
            "name": "voice",
            "kind": "audio",
            "sample_rate": 16_000,
            "buffer_seconds": 0.5,
            "direction": "sendonly",
        },
    ]
    image = doc["components"]["schemas"]["State"]["properties"]["image"]
    assert image == {
        "$ref": "#/components/schemas/ReactorUploadReference",
        "description": "A picture",
    }
    assert "ReactorUploadReference" in doc["components"]["schemas"]
    stamp = doc["paths"]["/commands/stamp"]["post"]["requestBody"]["content"]["application/json"]
    assert stamp["schema"]["required"] == ["file"]
    assert "set_image" in doc["x-reactor"]["commands"]


# ---- the buffer


def test_latest_returns_the_newest_frames_and_drops_the_backlog() -> None:
    buffer = InputBuffer("camera")
    for v in range(5):
        buffer.push(frame(v))
    assert buffer.available == 5 and buffer.total_received == 5
    assert values(buffer.try_read(2)) == [3, 4]
    assert buffer.available == 0
    assert buffer.try_read() is None


def test_fifo_returns_the_oldest_frames_in_order_and_keeps_the_rest() -> None:
    buffer = InputBuffer("camera")
    for v in range(5):
        buffer.push(frame(v))
    assert values(buffer.try_read(2, mode=ReadMode.FIFO)) == [0, 1]
    assert values(buffer.try_read(1, mode=ReadMode.FIFO)) == [2]
    assert buffer.try_read(3, mode=ReadMode.FIFO) is None  # too few: nothing is taken
    assert buffer.available == 2


def test_a_full_buffer_drops_its_oldest_frames_and_counts_them() -> None:
    buffer = InputBuffer("camera", maxlen=3)
    evicted = [buffer.push(frame(v)) for v in range(5)]
    assert evicted == [0, 0, 0, 1, 1]
    assert buffer.dropped == 2
    assert values(buffer.try_read(3, mode=ReadMode.FIFO)) == [2, 3, 4]
    with pytest.raises(ValueError, match="holds at most 3"):
        buffer.try_read(4)


def test_an_audio_buffer_bounded_in_seconds_holds_that_many_samples() -> None:
    buffer = reactor._inputs.buffer_for(AvInput.tracks()[1])  # 0.5 s at 16 kHz
    chunk = InputFrame(np.zeros((1, 1600), np.int16))  # 0.1 s each
    for _ in range(8):
        buffer.push(chunk)
    assert buffer.available == 5  # 8000 samples = 0.5 s
    assert buffer.dropped == 3


def test_a_closed_buffer_raises_buffer_closed_and_drops_pushes_until_reset() -> None:
    buffer = InputBuffer("camera")
    buffer.push(frame(1))
    buffer.close()
    assert buffer.closed
    with pytest.raises(BufferClosed):
        buffer.try_read()
    assert buffer.push(frame(2)) == 0
    buffer.reset()
    assert not buffer.closed and buffer.available == 0 and buffer.total_received == 0
    assert buffer.try_read() is None


def test_publishing_follows_frames_and_the_end_of_the_client_track() -> None:
    now = [100.0]
    buffer = InputBuffer("camera", clock=lambda: now[0])
    assert not buffer.publishing  # nothing yet: a model falls back to its own frames
    buffer.push(frame(1))
    assert buffer.publishing
    now[0] += reactor._inputs.QUIET_SECONDS + 0.01
    assert not buffer.publishing  # the client stopped sending
    buffer.push(frame(2))
    assert buffer.publishing
    buffer.ended()  # its track ended (unpublished, peer gone)
    assert not buffer.publishing
    assert buffer.available == 2  # what came stays readable


async def test_read_waits_for_frames_pushed_from_another_thread() -> None:
    buffer = InputBuffer("camera")

    def feed() -> None:
        for v in range(3):
            time.sleep(0.02)
            buffer.push(frame(v))

    threading.Thread(target=feed).start()
    got = await asyncio.wait_for(buffer.read(n=3, mode=ReadMode.FIFO), 5)
    assert values(got) == [0, 1, 2]


async def test_read_times_out_and_a_close_wakes_a_waiting_read() -> None:
    buffer = InputBuffer("camera")
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        await buffer.read(timeout=0.05)
    waiting = asyncio.ensure_future(buffer.read())
    await asyncio.sleep(0.02)
    buffer.close()
    with pytest.raises(BufferClosed):
        await asyncio.wait_for(waiting, 5)


def test_read_counts_must_be_positive_integers() -> None:
    buffer = InputBuffer("camera")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="positive integer"):
            buffer.try_read(bad)  # type: ignore[arg-type]


# ---- uploads in the model API


class Photo(InputState):
    image: UploadedFile
    level: int = InputField(default=1, ge=0, le=9)


def test_an_upload_field_starts_empty_and_takes_only_an_uploaded_file() -> None:
    from reactor._state import check_update

    assert Photo().image is None
    png = UploadedFile("a.png", "image/png", b"\x89PNG....")
    assert check_update(Photo, "set_image", {"image": png}) == ({"image": png}, [])
    assert check_update(Photo, "set_image", {"image": None}) == ({"image": None}, [])
    _, (refused,) = check_update(Photo, "set_image", {"image": "a.png"})
    assert refused.field == "image" and "expected an uploaded file" in refused.reason
    assert Photo(image=png).as_dict() == {
        "image": {"name": "a.png", "mime_type": "image/png", "size": 8},
        "level": 1,
    }
    assert repr(png) == "UploadedFile(name='a.png', mime_type='image/png', size=8)"


def test_an_upload_field_cannot_have_a_file_default_or_choices() -> None:
    with pytest.raises(TypeError, match="default can only be None"):

        class Bad(InputState):
            image: UploadedFile = InputField(default=UploadedFile("a", "b/c", b""))  # type: ignore[arg-type]


def test_headless_set_reads_a_local_file_into_an_upload_field(tmp_path) -> None:
    picture = tmp_path / "cat.png"
    picture.write_bytes(b"\x89PNG-cat")
    value = parse_text(Photo._fields["image"], str(picture))
    assert value == UploadedFile("cat.png", "image/png", b"\x89PNG-cat")
    with pytest.raises(ValueError, match="cannot read"):
        parse_text(Photo._fields["image"], str(tmp_path / "missing.png"))


def test_file_uploaded_hooks_take_exactly_uploaded_file() -> None:
    with pytest.raises(TypeError, match="exactly one parameter named 'uploaded_file'"):

        @file_uploaded
        def wrong(self, file): ...  # type: ignore[no-untyped-def]


# ---- a model paced by its input (Runner, no network)


class Echo(ReactorPipeline):
    media: CameraInput

    def __init__(self) -> None:
        super().__init__()
        self.no_camera_steps = 0

    def inference(self):  # type: ignore[no-untyped-def]
        while True:
            frames = self.media.camera.try_read(mode=ReadMode.FIFO)
            if frames is None:
                if not self.media.camera.publishing:
                    self.no_camera_steps += 1
                yield None
                continue
            yield frames[0].data


async def collect(runner: Runner, into: list[Any]) -> None:
    async for paced in runner.frames():
        into.append(paced)


async def test_a_pipeline_paced_by_its_camera_shows_every_frame_in_order() -> None:
    model = Echo()
    runner = Runner(model)
    sent: list[dict[str, Any]] = []

    async def send(envelope: dict[str, Any]) -> None:
        sent.append(envelope)

    await runner.start_session(send)
    got: list[Any] = []
    consumer = asyncio.ensure_future(collect(runner, got))
    camera = runner.inputs["camera"]
    assert camera is model.media.camera
    for v in range(30):
        await asyncio.sleep(1 / 60)
        camera.push(frame(v, v / 60))
    for _ in range(200):
        if len(got) >= 30:
            break
        await asyncio.sleep(0.01)
    steps = runner._session.driver.steps  # type: ignore[union-attr]
    await runner.stop_session()
    await asyncio.wait_for(consumer, 5)
    assert [int(f.data[0, 0, 0]) for f in got] == list(range(30))
    # While it waited for frames the generator rested (woken by each frame), not spun: a few
    # idle turns per frame at most, not thousands.
    assert steps < 30 * 20
    # Nothing went wrong: the stop closed the camera while the model polled it.
    assert sent == [] and runner.failure is None


async def test_a_model_that_reads_nothing_is_not_slowed_by_an_unused_input() -> None:
    class Free(ReactorPipeline):
        media: CameraInput

        def inference(self):  # type: ignore[no-untyped-def]
            while True:
                yield np.zeros((4, 4, 3), np.uint8)

    runner = Runner(Free(), realtime=False, queue_frames=4)

    async def send(envelope: dict[str, Any]) -> None: ...

    await runner.start_session(send)
    got: list[Any] = []
    consumer = asyncio.ensure_future(collect(runner, got))
    await asyncio.sleep(0.3)
    await runner.stop_session()
    await asyncio.wait_for(consumer, 5)
    assert len(got) > 100  # no input ever came, and the model ran freely


async def test_an_async_generator_awaiting_read_ends_quietly_when_the_session_stops() -> None:
    class Waits(ReactorPipeline):
        media: CameraInput

        async def inference(self):  # type: ignore[no-untyped-def]
            while True:
                (got,) = await self.media.camera.read()
                yield got.data

    model = Waits()
    runner = Runner(model)
    sent: list[dict[str, Any]] = []

    async def send(envelope: dict[str, Any]) -> None:
        sent.append(envelope)

    await runner.start_session(send)
    got: list[Any] = []
    consumer = asyncio.ensure_future(collect(runner, got))
    runner.inputs["camera"].push(frame(9))
    for _ in range(200):
        if got:
            break
        await asyncio.sleep(0.01)
    assert [int(f.data[0, 0, 0]) for f in got] == [9]
    await asyncio.wait_for(runner.stop_session(), 5)  # the read in progress wakes and ends
    await asyncio.wait_for(consumer, 5)
    assert sent == [] and runner.failure is None
    assert model.media.camera.closed


async def test_each_session_starts_with_empty_inputs_and_upload_fields_end_with_it() -> None:
    class Model(ReactorPipeline):
        state: Photo
        media: CameraInput

        def inference(self):  # type: ignore[no-untyped-def]
            while True:
                yield np.zeros((4, 4, 3), np.uint8)

    model = Model()
    runner = Runner(model, realtime=False)

    async def send(envelope: dict[str, Any]) -> None: ...

    await runner.start_session(send)
    consumer = asyncio.ensure_future(collect(runner, []))
    runner.inputs["camera"].push(frame(1))
    png = UploadedFile("a.png", "image/png", b"png")
    assert await runner.command("set_image", {"image": png}) == []
    for _ in range(100):
        if model.state.image is png:
            break
        await asyncio.sleep(0.01)
    assert model.state.image is png
    await runner.stop_session()
    await asyncio.wait_for(consumer, 5)
    assert model.state.image is None  # nothing of the client's files is kept
    await runner.start_session(send)
    assert runner.inputs["camera"].total_received == 0
    assert runner.inputs["camera"].try_read() is None
    await runner.stop_session()


async def test_file_uploaded_hooks_and_file_events_run_between_steps_or_at_once() -> None:
    calls: list[tuple[str, str]] = []

    class Pipe(ReactorPipeline):
        def inference(self):  # type: ignore[no-untyped-def]
            while True:
                yield np.zeros((4, 4, 3), np.uint8)

        @file_uploaded
        def got(self, uploaded_file: UploadedFile) -> None:
            calls.append(("pipeline", uploaded_file.name))

        @event
        def stamp(self, file: UploadedFile) -> None:
            calls.append(("stamp", file.name))

    class Full(ReactorModel):
        async def run(self) -> None:
            await asyncio.Event().wait()

        @file_uploaded
        async def got(self, uploaded_file: UploadedFile) -> None:
            calls.append(("model", uploaded_file.name))

    async def send(envelope: dict[str, Any]) -> None: ...

    for model in (Pipe(), Full()):
        runner = Runner(model, realtime=False)
        await runner.start_session(send)
        consumer = asyncio.ensure_future(collect(runner, []))
        await runner.file_uploaded(UploadedFile("x.png", "image/png", b"x"))
        if isinstance(model, Pipe):
            assert (
                await runner.command("stamp", {"file": UploadedFile("y.png", "image/png", b"y")})
                == []
            )
            refused = await runner.command("stamp", {"file": "y.png"})
            assert refused[0].field == "file" and "expected an uploaded file" in refused[0].reason
        for _ in range(100):
            if len(calls) >= (2 if isinstance(model, Pipe) else 3):
                break
            await asyncio.sleep(0.01)
        await runner.stop_session()
        await asyncio.wait_for(consumer, 5)
    assert calls == [("pipeline", "x.png"), ("stamp", "y.png"), ("model", "x.png")]


async def test_a_full_control_model_awaits_its_camera_in_run() -> None:
    class Full(ReactorModel):
        media: CameraInput

        async def run(self) -> None:
            while True:
                frames = await self.media.camera.read(n=2, mode=ReadMode.FIFO)
                await self.emit(np.concatenate([f.data for f in frames], axis=1))

    runner = Runner(Full(), realtime=False)
    sent: list[dict[str, Any]] = []

    async def send(envelope: dict[str, Any]) -> None:
        sent.append(envelope)

    await runner.start_session(send)
    got: list[Any] = []
    consumer = asyncio.ensure_future(collect(runner, got))
    for v in range(4):
        runner.inputs["camera"].push(frame(v))
    for _ in range(200):
        if len(got) >= 2:
            break
        await asyncio.sleep(0.01)
    await runner.stop_session()
    await asyncio.wait_for(consumer, 5)
    assert [(int(f.data[0, 0, 0]), int(f.data[0, 4, 0])) for f in got] == [(0, 1), (2, 3)]
    assert sent == [] and runner.failure is None  # the read waiting at the stop ended quietly
