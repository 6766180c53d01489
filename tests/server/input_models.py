"""Models that read what the client sends (camera, microphone, files), written with the real
`reactor` API, for the input and upload tests and `benchmarks/inputs.py`."""

from __future__ import annotations

import numpy as np
import pixelcode
from reactor import (
    Audio,
    InputField,
    InputState,
    MediaInput,
    ModelMessage,
    Output,
    ReactorModel,
    ReactorPipeline,
    ReadMode,
    UploadedFile,
    Video,
    event,
    file_uploaded,
)

SIZE = 256
IDLE_VALUE = 7
"""The value drawn into the frames a model shows while no camera frame is there."""


class CameraInput(MediaInput):
    camera: Video


class Picture(Output):
    main_video: Video


class Echo(ReactorPipeline):
    """Shows the newest camera frame it read; a counter-coded card while none comes (a sync
    generator that polls with try_read, as a converted pipeline does)."""

    media: CameraInput
    output: Picture

    def __init__(self, mode: ReadMode = ReadMode.LATEST) -> None:
        super().__init__()
        self.mode = mode
        self.read = 0
        self.idle = 0
        self.no_publisher = 0

    def inference(self):  # type: ignore[no-untyped-def]
        camera = self.media.camera
        while True:
            frames = camera.try_read(mode=self.mode)
            if frames is None:
                if not camera.publishing:
                    self.no_publisher += 1
                    card = pixelcode.picture(SIZE, SIZE, self.idle % 65536, IDLE_VALUE)
                    self.idle += 1
                    yield Picture(main_video=card)
                else:
                    yield None  # a camera is sending: wait for its next frame
                continue
            self.read += len(frames)
            yield Picture(main_video=frames[-1].data)


class AsyncEcho(ReactorPipeline):
    """The same echo as an async generator that awaits `read()` (paced by the camera)."""

    media: CameraInput
    output: Picture

    async def inference(self):  # type: ignore[no-untyped-def]
        while True:
            (frame,) = await self.media.camera.read(mode=ReadMode.FIFO)
            yield Picture(main_video=frame.data)


class Voice(Audio):
    sample_rate = 16_000


class MicInput(MediaInput):
    mic: Voice


class Heard(ModelMessage):
    """How much microphone audio the model has read so far."""

    samples: int
    frames: int
    shape: list[int]
    dtype: str
    loud: bool


class Listener(ReactorPipeline):
    """Reads the microphone (16 kHz mono) and reports what it heard once a second."""

    media: MicInput
    output: Picture

    def __init__(self) -> None:
        super().__init__()
        self.samples = 0
        self.frames = 0
        self.shapes: set[tuple[int, ...]] = set()
        self.peak = 0

    def inference(self):  # type: ignore[no-untyped-def]
        blank = pixelcode.picture(SIZE, SIZE, 0, 0)
        while True:
            frames = self.media.mic.try_read(n=1, mode=ReadMode.FIFO)
            while frames:
                data = frames[0].data
                self.frames += 1
                self.samples += data.shape[1]
                self.shapes.add((data.shape[0], str(data.dtype)))  # type: ignore[arg-type]
                self.peak = max(self.peak, int(np.abs(data.astype(np.int32)).max()))
                frames = self.media.mic.try_read(n=1, mode=ReadMode.FIFO)
            yield Picture(main_video=blank)


class Photo(InputState):
    image: UploadedFile = InputField(description="A picture to show")
    level: int = InputField(default=10, ge=0, le=255)


class Received(ModelMessage):
    """Which file the model got, and through which path."""

    via: str
    name: str
    mime_type: str
    size: int
    head: str


class WithUpload(ReactorPipeline):
    """An upload field (`set_image`), an event taking a file, and a `@file_uploaded` hook; each
    reports what it received. Frames show the image's size (bytes mod 65536) as the counter."""

    state: Photo
    output: Picture
    fps = 30

    def __init__(self) -> None:
        super().__init__()
        self.announced: list[UploadedFile] = []
        self.stamped: list[tuple[UploadedFile, int]] = []

    def inference(self):  # type: ignore[no-untyped-def]
        while True:
            image = self.state.image
            size = image.size if image is not None else 0
            yield Picture(main_video=pixelcode.picture(SIZE, SIZE, size % 65536, self.state.level))

    @file_uploaded
    async def on_file(self, uploaded_file: UploadedFile) -> None:
        self.announced.append(uploaded_file)
        await self.send(_received("announced", uploaded_file))

    @event(description="Stamp a file onto the picture")
    async def stamp(self, file: UploadedFile, strength: int = 1) -> None:
        self.stamped.append((file, strength))
        await self.send(_received("stamp", file))


def _received(via: str, file: UploadedFile) -> Received:
    return Received(via, file.name, file.mime_type, file.size, file.data[:8].hex())


class UploadModel(ReactorModel):
    """A full-control model with an upload field: its state is set at once, on the loop."""

    state: Photo
    output: Picture

    async def run(self) -> None:
        while True:
            await self.emit(Picture(main_video=np.zeros((SIZE, SIZE, 3), np.uint8)))


class Studio(Echo):
    """The camera echo with an upload field too (what the viewer test drives)."""

    state: Photo
