"""Models the server tests serve, written with the real `reactor` API. Each video frame shows
its index within the session and the `level` state value (see pixelcode)."""

from __future__ import annotations

import asyncio
from typing import Literal

import numpy as np
import pixelcode
from reactor import (
    Audio,
    InputField,
    InputState,
    ModelMessage,
    Output,
    ReactorModel,
    ReactorPipeline,
    Video,
    connected,
    disconnected,
    event,
)

SIZE = 256


class Knobs(InputState):
    level: int = InputField(default=10, ge=0, le=255, description="Value drawn into each frame")
    label: str = InputField(default="hello", max_length=32, description="A caption")
    mode: Literal["warm", "cool"] = InputField(default="warm", description="Colour scheme")
    mirror: bool = InputField(default=False, description="Flip the picture")


class Poked(ModelMessage):
    """Sent back when the client pokes the model."""

    times: int


class Picture(Output):
    main_video: Video


class Counter(ReactorPipeline):
    """Counts frames; `level` is drawn into the pixels."""

    fps = 30
    state: Knobs
    output: Picture
    log: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.log = []
        self.pokes = 0
        self.steps = 0

    def inference(self):  # type: ignore[no-untyped-def]
        index = 0
        while True:
            self.steps += 1
            yield pixelcode.picture(SIZE, SIZE, index, self.state.level)
            index += 1

    @event(name="poke", description="Poke the model; it answers with a Poked message", dedupe=True)
    async def poke(self, strength: int = 1) -> None:
        self.pokes += 1
        await self.send(Poked(times=self.pokes))

    @connected
    async def hello(self) -> None:
        self.log.append("connected")
        await self.send({"type": "hello", "data": {"level": self.state.level}})

    @disconnected
    def bye(self) -> None:
        self.log.append("disconnected")


def counter_at(rate: float, batch: int = 1) -> Counter:
    """A Counter yielding `batch` frames at a time at `rate` frames per second."""

    class Paced(Counter):
        fps = rate

        def inference(self):  # type: ignore[no-untyped-def]
            index = 0
            while True:
                frames = [
                    pixelcode.picture(SIZE, SIZE, index + i, self.state.level) for i in range(batch)
                ]
                yield np.stack(frames) if batch > 1 else frames[0]
                index += batch

    return Paced()


class AV(Output):
    main_video: Video
    sound: Audio


class WithSound(Counter):
    """Counter plus a mono audio track (one 48 kHz chunk per frame)."""

    output: AV

    def inference(self):  # type: ignore[no-untyped-def]
        index = 0
        while True:
            yield AV(
                main_video=pixelcode.picture(SIZE, SIZE, index, self.state.level),
                sound=np.zeros((1, 1600), dtype=np.int16),
            )
            index += 1


class Emitter(ReactorModel):
    """A ReactorModel with full control: emits frames itself while a client is connected."""

    state: Knobs
    output: Picture

    def __init__(self) -> None:
        super().__init__()
        self.log: list[str] = []

    async def run(self) -> None:
        index = 0
        while self.connected.is_set():
            await self.emit(pixelcode.picture(SIZE, SIZE, index, self.state.level))
            index += 1
            await asyncio.sleep(1 / 30)

    @event(description="Say something back")
    async def echo(self, text: str) -> None:
        await self.send({"type": "echo", "data": {"text": text}})

    @disconnected
    def bye(self) -> None:
        self.log.append("disconnected")


class Faulty(Counter):
    """Raises in its 5th step once; the runtime reports it and starts the generator again."""

    failed = False

    def inference(self):  # type: ignore[no-untyped-def]
        index = 0
        while True:
            if index == 5 and not Faulty.failed:
                Faulty.failed = True
                raise RuntimeError("the model tripped")
            yield pixelcode.picture(SIZE, SIZE, index, self.state.level)
            index += 1


class Broken(Counter):
    """Fails on every start; the runtime gives up after its restarts."""

    def inference(self):  # type: ignore[no-untyped-def]
        yield pixelcode.picture(SIZE, SIZE, 0, self.state.level)
        raise RuntimeError("always fails")
