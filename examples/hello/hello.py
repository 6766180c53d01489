"""A hand-written streaming model: a tiny, deterministic animation with live state.

A bright bar sweeps across a gradient; clients change its colour, speed and width while it
runs. No weights, no torch: it shows the runtime, not a network.
"""

from typing import Literal

import numpy as np
from reactor import InputField, InputState, Output, ReactorPipeline, Video

COLOURS = {"red": (230, 40, 40), "green": (40, 200, 80), "blue": (50, 90, 240)}


class HelloOutput(Output):
    main_video: Video


class HelloState(InputState):
    colour: Literal["red", "green", "blue"] = InputField(
        default="blue", description="Colour of the sweeping bar."
    )
    speed: float = InputField(
        default=2.0, ge=0.0, le=16.0, description="Pixels the bar moves per frame."
    )
    width: int = InputField(default=12, ge=1, le=64, description="Width of the bar in pixels.")


class HelloModel(ReactorPipeline):
    """A bar sweeping over a gradient; every frame is a pure function of its number and state."""

    state: HelloState
    fps = 30

    def load(self, config: dict) -> None:
        self.height = int(config.get("height", 128))
        self.width = int(config.get("width", 128))
        self.clip_frames = int(config.get("clip_frames", 240))
        ramp = np.linspace(0, 90, self.width, dtype=np.float32)
        self.background = np.broadcast_to(ramp[None, :, None], (self.height, self.width, 3))

    def inference(self):
        position = 0.0
        for _ in range(self.clip_frames):
            frame = self.background.astype(np.uint8)
            left = int(position) % self.width
            columns = (np.arange(self.state.width) + left) % self.width
            frame[:, columns] = COLOURS[self.state.colour]
            yield HelloOutput(main_video=frame)
            position += self.state.speed
