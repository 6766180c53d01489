"""What a client sends the model: camera and microphone tracks (`MediaInput`) and files
(`UploadedFile`).

The names and meaning are those of the Reactor platform's model interface, so a model written
for one runtime runs on the other: a model declares `media: CameraInput` where
`class CameraInput(MediaInput): camera: Video`, and reads `self.media.camera`, a bounded,
thread-safe buffer of `InputFrame`s that the server fills from the client's track. A sync
generator polls it with `try_read()`; an async one may `await read()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import threading
import time
import typing
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any, ClassVar, Literal

import numpy as np
from reactor._annotations import resolve_annotation
from reactor._output import Audio, Video

DEFAULT_BUFFER_FRAMES = 128
"""Frames an input track holds before the oldest is dropped (Reactor's default)."""
QUIET_SECONDS = 1.0
"""An input track counts as `publishing` until this long passes without a frame: a camera
delivers several frames a second, so a longer silence means the client stopped sending."""


@dataclass(frozen=True, eq=False)
class InputFrame:
    """One frame a client sent: `data` is `(H, W, 3)` uint8 RGB for video, `(1, M)` int16 mono
    samples for audio; `pts` is its presentation time in seconds on the sender's clock (None
    when the transport had none)."""

    data: np.ndarray
    pts: float | None = None
    metadata: bytes | None = None
    capture_time_us: int | None = None


@dataclass(frozen=True)
class UploadedFile:
    """A file a client uploaded, as the model gets it: its name, declared type and bytes."""

    name: str
    mime_type: str
    data: bytes

    @property
    def size(self) -> int:
        """The file's length in bytes."""
        return len(self.data)

    def __repr__(self) -> str:  # never print megabytes of bytes in a log line
        return f"UploadedFile(name={self.name!r}, mime_type={self.mime_type!r}, size={self.size})"


class ReadMode(Enum):
    """Which frames a read returns: the newest (dropping older ones) or the oldest, in order."""

    FIFO = auto()
    LATEST = auto()


class BufferClosed(Exception):
    """A read on an input track whose session has ended."""


@dataclass(frozen=True)
class InputTrackSpec:
    """One inbound track as declared: a `MediaInput` field typed `Video` or `Audio`."""

    name: str
    kind: Literal["video", "audio"]
    sample_rate: int | None = None
    """Audio only: the rate the model receives samples at (the track's `sample_rate`)."""
    buffer_seconds: float | None = None
    """Audio only: bound the buffer by seconds of audio instead of frames."""


class InputBuffer:
    """One inbound track: a bounded, thread-safe buffer of the client's frames.

    The server pushes decoded frames from the event loop; the model reads them from its own
    thread (`try_read`) or event loop (`await read`). When full, the oldest frame is dropped, so
    a model that reads the newest frame never sees a stale backlog. A session's end closes the
    buffer (reads raise `BufferClosed`); the next session reopens it empty.
    """

    def __init__(
        self,
        name: str,
        kind: Literal["video", "audio"] = "video",
        maxlen: int = DEFAULT_BUFFER_FRAMES,
        *,
        max_samples: int | None = None,
        max_frames: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`maxlen` bounds the frames held; an audio track may instead bound its samples
        (`max_samples`, with at most `max_frames` frames whatever their length)."""
        if maxlen < 1:
            raise ValueError("an input buffer holds at least one frame")
        self.name = name
        self.kind = kind
        self._lock = threading.Lock()
        self._frames: deque[InputFrame] = deque()
        self._maxlen = maxlen
        self._max_samples = max_samples
        self._max_frames = max_frames if max_frames is not None else (max_samples or maxlen)
        self._samples = 0
        self._clock = clock
        self._closed = False
        self._received = 0
        self._dropped = 0
        self._last_push: float | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._listeners: list[Callable[[], None]] = []

    # -- what the model calls ---------------------------------------------------------------

    async def read(
        self,
        n: int = 1,
        timeout: float | None = None,
        mode: ReadMode = ReadMode.LATEST,
    ) -> list[InputFrame]:
        """`n` frames, waiting for them to arrive (at most `timeout` seconds: TimeoutError).

        LATEST returns the newest `n` and drops the rest; FIFO the oldest `n`, in order.
        Raises BufferClosed when the session ends first, ValueError when `n` is more than the
        buffer can hold.
        """
        self._check_count(n)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            with self._lock:
                if len(self._frames) >= n:
                    return self._take(n, mode)
                if self._closed:
                    raise BufferClosed(f"input track '{self.name}' closed: the session ended")
                waiter = loop.create_future()
                self._waiters.append((loop, waiter))
            try:
                if deadline is None:
                    await waiter
                else:
                    left = deadline - loop.time()
                    if left <= 0:
                        raise TimeoutError(
                            f"no {n} frame(s) on input track '{self.name}' within {timeout} s"
                        )
                    try:
                        await asyncio.wait_for(waiter, left)
                    except TimeoutError:
                        raise TimeoutError(
                            f"no {n} frame(s) on input track '{self.name}' within {timeout} s"
                        ) from None
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, waiter))

    def try_read(self, n: int = 1, mode: ReadMode = ReadMode.LATEST) -> list[InputFrame] | None:
        """`n` frames now, or None when fewer are buffered (nothing is taken then); never
        blocks, so a sync generator can call it each step. Raises BufferClosed once the session
        has ended."""
        self._check_count(n)
        with self._lock:
            if self._closed:
                raise BufferClosed(f"input track '{self.name}' closed: the session ended")
            if len(self._frames) < n:
                return None
            return self._take(n, mode)

    @property
    def available(self) -> int:
        """Frames buffered right now."""
        with self._lock:
            return len(self._frames)

    @property
    def closed(self) -> bool:
        """True once the session has ended (until the next one starts)."""
        with self._lock:
            return self._closed

    @property
    def total_received(self) -> int:
        """Frames that arrived this session (read or not)."""
        with self._lock:
            return self._received

    @property
    def dropped(self) -> int:
        """Frames this session that the bound dropped unread (the model read too slowly)."""
        with self._lock:
            return self._dropped

    @property
    def publishing(self) -> bool:
        """True while a client sends this track: a frame came within `QUIET_SECONDS` and its
        track has not ended. False before the first frame, so a model can fall back to
        something of its own (a clip, a test card) without blocking."""
        with self._lock:
            return (
                not self._closed
                and self._last_push is not None
                and self._clock() - self._last_push < QUIET_SECONDS
            )

    def clear(self) -> None:
        """Drop every buffered frame (the track stays open)."""
        with self._lock:
            self._frames.clear()
            self._samples = 0

    # -- what the runtime calls -------------------------------------------------------------

    def push(self, frame: InputFrame) -> int:
        """Add a frame from the client and wake whoever waits for one; how many older frames
        the bound dropped to make room. Dropped at once while the buffer is closed."""
        with self._lock:
            if self._closed:
                return 0
            self._frames.append(frame)
            self._received += 1
            self._last_push = self._clock()
            if self._max_samples is not None:
                self._samples += _samples_in(frame)
            evicted = 0
            while len(self._frames) > 1 and self._over_bound():
                gone = self._frames.popleft()
                if self._max_samples is not None:
                    self._samples -= _samples_in(gone)
                evicted += 1
            self._dropped += evicted
            waiters, self._waiters = self._waiters, []
            listeners = list(self._listeners)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                loop.call_soon_threadsafe(_wake, waiter)
        for listener in listeners:
            listener()
        return evicted

    def ended(self) -> None:
        """The client's track ended (unpublished, replaced, peer gone): not `publishing` any
        more; frames already buffered stay readable."""
        with self._lock:
            self._last_push = None

    def close(self) -> None:
        """End of session: wake every reader, which raises BufferClosed."""
        with self._lock:
            self._closed = True
            waiters, self._waiters = self._waiters, []
            listeners = list(self._listeners)
        for loop, waiter in waiters:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, waiter)
        for listener in listeners:
            listener()

    def reset(self) -> None:
        """Start of session: open and empty, counters at zero (nothing of the last client)."""
        with self._lock:
            self._closed = False
            self._frames.clear()
            self._samples = 0
            self._received = 0
            self._dropped = 0
            self._last_push = None

    def listen(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the pushing thread) after each frame and at close; returns
        the function that stops it. The driver uses it to wake a generator waiting for input."""
        with self._lock:
            self._listeners.append(callback)

        def stop() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return stop

    # -- internals --------------------------------------------------------------------------

    def _check_count(self, n: int) -> None:
        bound = self._maxlen if self._max_samples is None else self._max_frames
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if n > bound:
            raise ValueError(
                f"asked for {n} frames but input track '{self.name}' holds at most {bound}"
            )

    def _take(self, n: int, mode: ReadMode) -> list[InputFrame]:
        """Take `n` frames; the caller holds the lock."""
        if mode is ReadMode.LATEST:
            taken = list(self._frames)[len(self._frames) - n :]
            self._frames.clear()
            self._samples = 0
            return taken
        taken = [self._frames.popleft() for _ in range(n)]
        if self._max_samples is not None:
            self._samples -= sum(_samples_in(f) for f in taken)
        return taken

    def _over_bound(self) -> bool:
        if self._max_samples is not None:
            return self._samples > self._max_samples or len(self._frames) > self._max_frames
        return len(self._frames) > self._maxlen

    def __repr__(self) -> str:
        return f"InputBuffer({self.name!r}, {self.kind}, available={self.available})"


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _samples_in(frame: InputFrame) -> int:
    return int(frame.data.shape[-1]) if frame.data.ndim else 0


class MediaInput:
    """Base for a model's inbound tracks: each field typed `Video` or `Audio` is a track the
    client may send, named after the field.

    A model declares a handle, `media: CameraInput`; the runtime binds one `InputBuffer` per
    track to it, read as `self.media.camera`.
    """

    _tracks: ClassVar[tuple[InputTrackSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = cls.__qualname__
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise TypeError(f"{owner}: cannot resolve a track's type ({exc})") from None
        tracks: dict[str, InputTrackSpec] = {t.name: t for t in getattr(cls, "_tracks", ())}
        for name in inspect.get_annotations(cls):
            annotation = hints[name]
            if typing.get_origin(annotation) is ClassVar:
                continue
            if isinstance(annotation, type) and issubclass(annotation, Video):
                tracks[name] = InputTrackSpec(name, "video")
            elif isinstance(annotation, type) and issubclass(annotation, Audio):
                tracks[name] = InputTrackSpec(
                    name,
                    "audio",
                    _sample_rate(owner, name, annotation.sample_rate),
                    _buffer_seconds(owner, name, annotation.buffer_seconds),
                )
            else:
                raise TypeError(
                    f"{owner}.{name}: a MediaInput field must be typed Video or Audio, "
                    f"got {annotation!r}"
                )
        cls._tracks = tuple(tracks.values())

    def __init__(self, **buffers: InputBuffer) -> None:
        """Bind one buffer per declared track (the runtime does this for the model)."""
        for name, buffer in buffers.items():
            setattr(self, name, buffer)

    @classmethod
    def tracks(cls) -> tuple[InputTrackSpec, ...]:
        """The inbound tracks this class declares, in declaration order."""
        return cls._tracks


def _sample_rate(owner: str, name: str, rate: Any) -> int:
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 192_000:
        raise TypeError(f"{owner}.{name}: sample_rate must be an integer in 8000..192000 Hz")
    return rate


def _buffer_seconds(owner: str, name: str, value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise TypeError(f"{owner}.{name}: buffer_seconds must be a positive number of seconds")
    return float(value)


def buffer_for(spec: InputTrackSpec) -> InputBuffer:
    """The buffer one declared track gets: 128 frames, or `buffer_seconds` of audio (then at
    most one frame per millisecond of it)."""
    if spec.kind == "audio" and spec.buffer_seconds is not None and spec.sample_rate:
        return InputBuffer(
            spec.name,
            "audio",
            max_samples=math.ceil(spec.sample_rate * spec.buffer_seconds),
            max_frames=math.ceil(spec.buffer_seconds * 1000),
        )
    return InputBuffer(spec.name, spec.kind)


def declared_inputs(model_cls: type) -> tuple[str, type[MediaInput]] | None:
    """The model's `MediaInput` handle, `(attribute, class)`, or None when it reads no input.

    An annotation whose type is a `MediaInput` subclass (`media: CameraInput`) is the handle;
    two of them are an error (one handle holds all of a model's inbound tracks).
    """
    found: list[tuple[str, type[MediaInput]]] = []
    seen: set[str] = set()
    for klass in model_cls.__mro__:
        for attr in inspect.get_annotations(klass):
            if attr in seen or attr in ("state", "output"):
                continue
            seen.add(attr)
            try:
                annotation = resolve_annotation(model_cls, attr)
            except TypeError:
                continue  # an annotation of the model's own that does not resolve: not ours
            if (
                isinstance(annotation, type)
                and issubclass(annotation, MediaInput)
                and annotation is not MediaInput
            ):
                found.append((attr, annotation))
    if len(found) > 1:
        names = ", ".join(f"{a}: {c.__name__}" for a, c in found)
        raise TypeError(
            f"{model_cls.__qualname__} declares {len(found)} MediaInput handles ({names}); "
            "declare every inbound track on one MediaInput class"
        )
    return found[0] if found else None
