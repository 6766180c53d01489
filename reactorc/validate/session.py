"""One validation session: a fresh client session of the wrapper through the runtime's `Runner`
(the driver and the pacer `reactor run` uses), recording every frame with its timings and
every error the model reported, while state changes are sent at chosen frame counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from reactor._runner import Runner

FIRST_FRAME_TIMEOUT = 120.0
"""Seconds to wait for a session's first frame (a cold model may compile kernels first)."""
FRAME_TIMEOUT = 30.0
"""Seconds to wait for each further frame before the session is called stuck."""


@dataclass(frozen=True)
class Change:
    """Send `set_<field>` with `value` once `after` frames have arrived."""

    after: int
    field: str
    value: Any


@dataclass
class SessionRecord:
    """What one session produced: frames (video track), arrival times, errors, failures."""

    frames: list[np.ndarray] = field(default_factory=list)
    received: list[float] = field(default_factory=list)
    due: list[float] = field(default_factory=list)
    produced: list[float] = field(default_factory=list)
    started: float = 0.0
    errors: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    ended_early: str = ""
    """Why the session produced fewer frames than asked ("" when it did not)."""
    sent_at: dict[str, int] = field(default_factory=dict)
    """For each change, the number of frames that had arrived when it was sent."""
    rate: float | None = None
    """The pacer's rate at the end (frames per second), fixed or adapted."""
    fixed_fps: float | None = None
    reanchors: int = 0
    """Times the pacer fell more than one interval behind and started again from the present."""

    @property
    def first_frame_s(self) -> float | None:
        return self.received[0] - self.started if self.received else None

    def stack(self) -> np.ndarray:
        return np.stack(self.frames) if self.frames else np.zeros((0, 0, 0, 3), np.uint8)


async def run_session(
    model: Any,
    count: int,
    *,
    changes: tuple[Change, ...] = (),
    realtime: bool = True,
    queue_frames: int = 8,
    on_frame: Callable[[], None] | None = None,
    track: str | None = None,
    first_frame_timeout: float = FIRST_FRAME_TIMEOUT,
    frame_timeout: float = FRAME_TIMEOUT,
) -> SessionRecord:
    """Collect `count` frames of the first video track (or `track`) from a fresh session."""
    runner = Runner(model, realtime=realtime, queue_frames=queue_frames)
    # A step that is stuck is not waited for longer than a frame would be.
    runner.stop_timeout = min(runner.stop_timeout, frame_timeout)
    video = [t.name for t in runner.tracks if t.kind == "video"]
    name = track or (video[0] if video else "")
    record = SessionRecord(fixed_fps=runner.fps)
    if not name:
        record.ended_early = "the model has no video track"
        return record

    async def send(envelope: dict[str, Any]) -> None:
        data = envelope.get("data", {})
        if data.get("type") == "error":
            message = data.get("data", {}).get("message", "")
            record.errors.append(str(message))

    pending = sorted(changes, key=lambda c: c.after)
    record.started = time.monotonic()
    try:
        await runner.start_session(send)
    except (ValueError, RuntimeError) as exc:
        record.ended_early = f"the session did not start: {exc}"
        return record
    frames = runner.frames().__aiter__()
    try:
        while len(record.frames) < count:
            while pending and pending[0].after <= len(record.frames):
                change = pending.pop(0)
                rejected = await runner.command(f"set_{change.field}", {change.field: change.value})
                record.sent_at[change.field] = len(record.frames)
                record.rejected.extend(r.message() for r in rejected)
            timeout = first_frame_timeout if not record.frames else frame_timeout
            try:
                frame = await asyncio.wait_for(frames.__anext__(), timeout)
            except StopAsyncIteration:
                failure = runner.failure
                record.ended_early = (
                    f"the stream ended after {len(record.frames)} of {count} frames"
                    + (f": {failure.message}" if failure is not None else "")
                )
                break
            except TimeoutError:
                where = f"after frame {len(record.frames) - 1}" if record.frames else "of the start"
                record.ended_early = (
                    f"no frame within {timeout:g} s {where} (the model seems stuck; "
                    "--timeout sets the wait)"
                )
                break
            if frame.track != name:
                continue
            record.frames.append(frame.data)
            record.received.append(time.monotonic())
            record.due.append(frame.due)
            record.produced.append(frame.produced)
            if on_frame is not None:
                on_frame()
    finally:
        record.rate = runner.pacer.rate
        record.reanchors = runner.pacer.reanchors
        with contextlib.suppress(Exception):
            await frames.aclose()
        await runner.stop_session()
    return record


__all__ = ["Change", "SessionRecord", "run_session"]
