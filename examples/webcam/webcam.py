"""A webcam filter: edges, a cartoon look or a colour inversion of the client's camera, live.

It reads the camera the client sends (`media: CameraInput`) and shows each frame filtered, paced
by the camera itself. With no camera it filters a picture the client uploads (`picture`), or
shows a moving test card until either comes. Plain numpy; no weights.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Literal

import av
import numpy as np

try:  # the Reactor platform's runtime (reactor-runtime 3.10): the same names
    from reactor_runtime.interface import (
        InputField,
        InputState,
        MediaInput,
        Output,
        ReactorPipeline,
        UploadedFile,
        Video,
    )
except ImportError:  # this project's runtime
    from reactor import (
        InputField,
        InputState,
        MediaInput,
        Output,
        ReactorPipeline,
        UploadedFile,
        Video,
    )

log = logging.getLogger("webcam")
CARD_FPS = 30
"""Rate of the frames made without a camera (a camera's own rate paces the filtered ones)."""
QUIET_SECONDS = 1.0
"""A camera silent this long has stopped: back to the picture or the test card."""


class CameraInput(MediaInput):
    camera: Video


class FilterOutput(Output):
    main_video: Video


class FilterState(InputState):
    effect: Literal["edges", "cartoon", "invert", "none"] = InputField(
        default="edges", description="What the filter does to each frame."
    )
    strength: float = InputField(
        default=1.0, ge=0.0, le=1.0, description="Filtered picture over the original (0-1)."
    )
    picture: UploadedFile = InputField(
        description="A picture to filter while no camera sends (PNG or JPEG)."
    )


class WebcamFilter(ReactorPipeline):
    """Filters the client's camera frame by frame; a picture or a test card without one."""

    state: FilterState
    media: CameraInput

    def load(self, config: dict | str | None) -> None:
        if not isinstance(config, dict):  # reactor-runtime 3.x passes config.yml's path
            import yaml

            config = yaml.safe_load(Path(config).read_text()) if config else {}
        self.card_size = (int(config.get("height", 360)), int(config.get("width", 480)))
        self._picture: tuple[UploadedFile, np.ndarray | None] | None = None

    def inference(self):
        camera = self.media.camera
        tick, next_card = 0, time.monotonic()
        last_frame = -QUIET_SECONDS
        while True:
            frames = camera.try_read()  # the newest frame, never a backlog
            if frames is not None:
                last_frame = time.monotonic()
                yield FilterOutput(main_video=self.filtered(frames[-1].data))
            elif time.monotonic() - last_frame < QUIET_SECONDS:
                # A camera sends: rest until its next frame. (On this project's runtime
                # `camera.publishing` says the same; this form runs on reactor-runtime too.)
                yield None
            else:
                tick += 1
                time.sleep(max(0.0, next_card - time.monotonic()))
                next_card = max(next_card, time.monotonic() - 1 / CARD_FPS) + 1 / CARD_FPS
                source = self.picture() if self.state.picture is not None else None
                yield FilterOutput(
                    main_video=self.filtered(source if source is not None else self.card(tick))
                )

    def filtered(self, frame: np.ndarray) -> np.ndarray:
        effect = self.state.effect
        if effect == "none":
            return frame
        if effect == "invert":
            out = 255 - frame
        elif effect == "edges":
            out = np.repeat(edges(frame)[:, :, None], 3, axis=2)
        else:
            posterised = (frame // 64) * 64 + 32
            out = np.where(edges(frame)[:, :, None] > 60, 0, posterised).astype(np.uint8)
        strength = self.state.strength
        if strength >= 1.0:
            return out
        mixed = strength * out.astype(np.float32) + (1.0 - strength) * frame.astype(np.float32)
        return mixed.astype(np.uint8)

    def picture(self) -> np.ndarray | None:
        """The uploaded picture as RGB, decoded once per upload (None if it is not one)."""
        upload = self.state.picture
        if self._picture is None or self._picture[0] is not upload:
            self._picture = (upload, decode_image(upload))
        return self._picture[1]

    def card(self, tick: int) -> np.ndarray:
        height, width = self.card_size
        ramp = np.linspace(40, 200, width, dtype=np.float32)
        card = np.empty((height, width, 3), np.uint8)
        card[:] = ramp[None, :, None].astype(np.uint8)
        left = (tick * 4) % width
        card[:, left : left + 24] = (240, 200, 40)
        return card


def edges(frame: np.ndarray) -> np.ndarray:
    """Sobel edge strength of the frame's brightness, 0-255."""
    grey = frame.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    padded = np.pad(grey, 1, mode="edge")
    gx = (padded[:-2, 2:] + 2 * padded[1:-1, 2:] + padded[2:, 2:]) - (
        padded[:-2, :-2] + 2 * padded[1:-1, :-2] + padded[2:, :-2]
    )
    gy = (padded[2:, :-2] + 2 * padded[2:, 1:-1] + padded[2:, 2:]) - (
        padded[:-2, :-2] + 2 * padded[:-2, 1:-1] + padded[:-2, 2:]
    )
    return np.clip(np.hypot(gx, gy) / 4, 0, 255).astype(np.uint8)


def decode_image(upload: UploadedFile) -> np.ndarray | None:
    """An uploaded PNG/JPEG (anything FFmpeg reads as a picture) as RGB, even-sized."""
    try:
        with av.open(io.BytesIO(upload.data)) as container:
            frame = next(container.decode(video=0))
    except (av.FFmpegError, StopIteration, ValueError) as exc:
        log.warning("%s is not a picture this filter can read (%s)", upload.name, exc)
        return None
    rgb = frame.to_ndarray(format="rgb24")
    return rgb[: rgb.shape[0] // 2 * 2, : rgb.shape[1] // 2 * 2]
