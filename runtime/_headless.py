"""`reactor run --headless`: run a model through the real Runner (driver + pacer) into an mp4.

No network. What validation and CI use to see a model's frames. The file appears only when
the run succeeded: frames go to a temporary file next to the target, renamed at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from reactor._model import ReactorModel, ReactorPipeline
from reactor._pacer import PTS_CLOCK
from reactor._runner import PacedFrame, Runner
from reactor._state import InputState, check_value, parse_text


class HeadlessInputError(Exception):
    """Bad input to a headless run (a --set, the output path); one line for the user."""


class ModelFailedError(Exception):
    """The model failed for good during the run; nothing was written."""


@dataclass(frozen=True)
class HeadlessResult:
    """What a headless run wrote."""

    path: Path
    frames: int
    duration: float
    """Seconds of video, from the first frame's pts to the last frame's end."""
    size: tuple[int, int]
    """(width, height) of the video stream."""
    errors: tuple[str, ...]
    """Model errors reported during the run (the generator was restarted after each)."""


def check_output_path(out: Path) -> None:
    """Fail early, before loading any model, when `out` cannot be written."""
    if out.is_dir():
        raise HeadlessInputError(f"--out {out}: is a folder; give a file name like clip.mp4")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        raise HeadlessInputError(f"--out {out}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise HeadlessInputError(f"--out {out}: folder {parent} is not writable")
    if out.exists() and not os.access(out, os.W_OK):
        raise HeadlessInputError(f"--out {out}: file exists and is not writable")


def parse_sets(state_cls: type[InputState] | None, sets: list[str]) -> dict[str, Any]:
    """`field=value` strings → checked state values; HeadlessInputError naming what is wrong."""
    values: dict[str, Any] = {}
    fields = {f.name: f for f in state_cls.public_fields()} if state_cls is not None else {}
    for item in sets:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise HeadlessInputError(f"--set {item!r}: expected field=value")
        field = fields.get(name)
        if field is None:
            known = ", ".join(fields) or "none"
            raise HeadlessInputError(f"--set {name}: unknown field; the state fields are: {known}")
        try:
            value = parse_text(field, text)
        except ValueError as exc:
            raise HeadlessInputError(f"--set {name}: {exc}") from None
        stored, reason = check_value(field, value)
        if reason is not None:
            raise HeadlessInputError(f"--set {name}={text}: {reason}")
        values[name] = stored
    return values


class _Mp4:
    """An mp4 being written: the first video track (H.264) and the first audio track (AAC)."""

    def __init__(self, path: Path, fps: float | None, audio_rate: int | None) -> None:
        self.container = av.open(str(path), mode="w", format="mp4")
        self.fps = fps
        self.audio_rate = audio_rate
        self.video: Any = None
        self.audio: Any = None
        self.size: tuple[int, int] = (0, 0)
        self.last_pts = -1

    def _open_video(self, frame: np.ndarray) -> None:
        height, width = frame.shape[:2]
        self.size = (width + width % 2, height + height % 2)  # yuv420p needs even sides
        stream = self.container.add_stream("libx264", rate=round(self.fps or 30))
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, PTS_CLOCK)
        stream.codec_context.time_base = Fraction(1, PTS_CLOCK)
        stream.options = {"crf": "18", "preset": "veryfast"}
        self.video = stream

    def add_video(self, frame: PacedFrame) -> None:
        data = frame.data
        if self.video is None:
            self._open_video(data)
        width, height = self.size
        if data.shape[0] != height or data.shape[1] != width:
            pad_h, pad_w = height - data.shape[0], width - data.shape[1]
            if pad_h >= 0 and pad_w >= 0 and pad_h <= 1 and pad_w <= 1:
                data = np.pad(data, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")
        picture = av.VideoFrame.from_ndarray(data, format="rgb24")
        if picture.width != width or picture.height != height:
            picture = picture.reformat(width=width, height=height)
        picture.pts = max(frame.pts, self.last_pts + 1)
        picture.time_base = Fraction(1, PTS_CLOCK)
        self.last_pts = picture.pts
        for packet in self.video.encode(picture):
            self.container.mux(packet)

    def add_audio(self, frame: PacedFrame, rate: int) -> None:
        data = frame.data
        if data.shape[0] > 2:
            data = data[:2]
        if self.audio is None:
            self.audio = self.container.add_stream("aac", rate=rate)
            self.audio.layout = "stereo" if data.shape[0] == 2 else "mono"
        chunk = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(data), format="s16p", layout=self.audio.layout.name
        )
        chunk.sample_rate = rate
        chunk.pts = frame.pts
        chunk.time_base = Fraction(1, rate)
        for packet in self.audio.encode(chunk):
            self.container.mux(packet)

    def close(self) -> None:
        for stream in (self.video, self.audio):
            if stream is not None:
                for packet in stream.encode(None):
                    self.container.mux(packet)
        self.container.close()


async def record(
    model: ReactorPipeline | ReactorModel,
    *,
    frames: int,
    out: Path,
    state: dict[str, Any] | None = None,
    fps: float | None = None,
    on_frame: Callable[[int], None] | None = None,
    realtime: bool = True,
) -> HeadlessResult:
    """Run `model` for `frames` video frames through the Runner and write them to `out`.

    `state` values (already checked, e.g. by `parse_sets`) apply before the first step. Raises
    ModelFailedError, leaving no file, when the model fails for good before enough frames.
    """
    if frames < 1:
        raise HeadlessInputError(f"--frames must be at least 1, got {frames}")
    check_output_path(out)
    runner = Runner(model, fps=fps, realtime=realtime)
    video = [t for t in runner.tracks if t.kind == "video"]
    audio = [t for t in runner.tracks if t.kind == "audio"]
    if not video:
        raise HeadlessInputError("this model has no video track to record")
    errors: list[str] = []

    async def send(envelope: dict[str, Any]) -> None:
        data = envelope.get("data", {})
        if envelope.get("scope") == "runtime" and data.get("type") == "error":
            errors.append(str(data.get("data", {}).get("message")))

    # Created like any new file (the umask applies, unlike mkstemp's 0600), renamed when done.
    tmp = out.parent / f".{out.name}.{secrets.token_hex(4)}.part"
    try:
        os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as exc:
        raise HeadlessInputError(
            f"--out {out}: cannot create a file there ({exc.strerror})"
        ) from None
    written = 0
    first_pts: int | None = None
    last_pts = 0
    writer: _Mp4 | None = None
    try:
        writer = _Mp4(tmp, runner.fps, audio[0].sample_rate if audio else None)
        await runner.start_session(send, state=state)
        try:
            async for frame in runner.frames():
                if frame.track == video[0].name:
                    writer.add_video(frame)
                    first_pts = frame.pts if first_pts is None else first_pts
                    last_pts = frame.pts
                    written += 1
                    if on_frame is not None:
                        on_frame(written)
                    if written >= frames:
                        break
                elif audio and frame.track == audio[0].name:
                    writer.add_audio(frame, audio[0].sample_rate or 48000)
        finally:
            await runner.stop_session()
        if written < frames:
            reason = runner.failure.message if runner.failure else "the stream ended"
            raise ModelFailedError(f"model failed after {written} of {frames} frames: {reason}")
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.container.close()
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    rate = runner.pacer.rate or 30.0
    duration = (last_pts - (first_pts or 0)) / PTS_CLOCK + 1.0 / rate
    return HeadlessResult(out, written, duration, writer.size, tuple(errors))


def run_headless(
    model: ReactorPipeline | ReactorModel,
    **kwargs: Any,
) -> HeadlessResult:
    """`record()` from synchronous code (the CLI)."""
    return asyncio.run(record(model, **kwargs))
