"""`Runner`: one model instance serving one client session at a time, without any network.

The server and headless mode both drive it: `start_session(send)`, iterate `frames()` for paced
frames, pass client commands to `command()`, `stop_session()`. For a `ReactorPipeline` it runs
the generator through the `Driver`; for a `ReactorModel` it runs `run()` as a task and takes
frames from `emit()`. Model errors go to the client through `send` as runtime-scope errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from reactor._driver import Driver, ModelFailure, Produced, model_failure, video_frames
from reactor._inputs import InputBuffer, InputTrackSpec, UploadedFile
from reactor._model import ReactorModel, ReactorPipeline
from reactor._output import TrackSpec, split_output, tracks_for_model
from reactor._pacer import PacerState, pace, start
from reactor._schema import build_schema
from reactor._state import Rejection, check_update

__all__ = ["PacedFrame", "Runner", "TrackSpec", "error_envelope"]

log = logging.getLogger("reactor.runner")

Send = Callable[[dict[str, Any]], Awaitable[None]]

PRECISE_WAIT = 0.0015
"""Seconds before a frame is due that `frames()` stops sleeping on the loop's millisecond timer
and waits the rest in short yields to the loop (only when realtime)."""


@dataclass(frozen=True)
class PacedFrame:
    """One frame of one track, released at its due time, with its presentation time."""

    track: str
    kind: Literal["video", "audio"]
    data: np.ndarray
    pts: int
    index: int
    due: float
    produced: float


@dataclass(frozen=True)
class _End:
    failure: ModelFailure | None = None


class _Inbox:
    """What `frames()` plays next, put from the driver's thread or the event loop.

    The loop is woken only when `frames()` is waiting for an item: while it is busy playing
    earlier ones, the driver's yields just queue up, with no wake-up (a self-pipe write and a
    GIL hand-over) per yield.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._items: deque[Produced | _End] = deque()
        self._lock = threading.Lock()
        self._waiter: asyncio.Future[None] | None = None

    def put(self, item: Produced | _End) -> None:
        """Queue `item`; from the loop's thread (no wake-up needed) or the driver's."""
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            self._loop.call_soon_threadsafe(_wake, waiter)

    def put_nowait(self, item: Produced | _End) -> None:
        """Queue `item` from the loop's own thread."""
        with self._lock:
            self._items.append(item)
            waiter, self._waiter = self._waiter, None
        if waiter is not None:
            _wake(waiter)

    async def get(self) -> Produced | _End:
        """The next item, waiting for one."""
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                waiter = self._waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                with self._lock:
                    if self._waiter is waiter:
                        self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def error_envelope(message: str, *, source: str = "model", **extra: Any) -> dict[str, Any]:
    """A runtime-scope error message for the client."""
    return {
        "scope": "runtime",
        "data": {"type": "error", "data": {"source": source, "message": message, **extra}},
    }


class _Session:
    """What belongs to one client session; a late callback from an old session finds it closed."""

    def __init__(self, send: Send, loop: asyncio.AbstractEventLoop) -> None:
        self.send = send
        self.loop = loop
        self.items = _Inbox(loop)
        self.open = True
        self.driver: Driver | None = None
        self.task: asyncio.Task[None] | None = None
        self.queued = 0
        self.room = asyncio.Condition()
        self.last_event: dict[str, dict[str, Any]] = {}
        self.failure: ModelFailure | None = None
        self.emitted = 0
        self.step_started = 0.0
        self.indices: dict[str, int] = {}
        self.audio_samples: dict[str, int] = {}
        self.audio_due: float | None = None
        self.last_send: asyncio.Future[None] | None = None
        self.unlisten: list[Callable[[], None]] = []


class Runner:
    """Runs one model for one client at a time and paces what it produces."""

    stop_timeout: float = 10.0
    """Seconds `stop_session()` waits for a model step in progress before going on without it."""

    def __init__(
        self,
        model: ReactorPipeline | ReactorModel,
        *,
        fps: float | None = None,
        max_restarts: int = 3,
        queue_frames: int = 8,
        realtime: bool = True,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        """`fps` overrides the model's own; `realtime=False` releases frames as soon as made;
        `name` (the manifest's) titles the schema, as `reactor schema` does."""
        if not isinstance(model, ReactorPipeline | ReactorModel):
            raise TypeError(
                f"Runner takes a ReactorPipeline or ReactorModel, got {type(model).__name__}"
            )
        self.model = model
        self.fps = fps if fps is not None else type(model).fps
        self.max_restarts = max_restarts
        self.queue_frames = queue_frames
        self.realtime = realtime
        self._clock = clock
        tracks = tracks_for_model(type(model))
        self.tracks: list[TrackSpec] = list(tracks)
        self.schema: dict[str, Any] = build_schema(type(model), tracks, name=name)
        self._session: _Session | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self.pacer: PacerState = start(self.fps)
        self.inputs: dict[str, InputBuffer] = dict(model._input_buffers)
        """The model's inbound tracks by name: the server pushes the client's frames here."""
        self.input_tracks: list[InputTrackSpec] = list(type(model).input_tracks())
        clash = {t.name for t in self.tracks} & {t.name for t in self.input_tracks}
        if clash:
            raise TypeError(
                f"{type(model).__name__}: {', '.join(sorted(clash))} is both a track the model "
                "sends (Output) and one it reads (MediaInput); give them different names"
            )

    @property
    def active(self) -> bool:
        """True while a session is running."""
        return self._session is not None and self._session.open

    @property
    def failure(self) -> ModelFailure | None:
        """The failure that ended the last session, if one did."""
        return self._session.failure if self._session is not None else None

    # -- sessions ---------------------------------------------------------------------------

    async def start_session(self, send: Send, *, state: dict[str, Any] | None = None) -> None:
        """Reset the state to its defaults, run @connected hooks, start producing frames.

        `state` sets fields before the first step (headless `--set`); a value that fails its
        checks raises ValueError and no session starts.
        """
        if self.active:
            raise RuntimeError("a session is already running; stop it before starting another")
        previous = self._session.driver if self._session is not None else None
        if previous is not None and previous.alive:
            # The last session's model step outlived its stop: never run two steps at once.
            await asyncio.to_thread(previous.join, 30.0)
            if previous.alive:
                raise RuntimeError("the previous session's model step is still running")
        initial: dict[str, Any] = {}
        state_cls = type(self.model).state_class()
        for key, value in (state or {}).items():
            if state_cls is None:
                raise ValueError(f"this model has no state; cannot set {key!r}")
            values, rejections = check_update(state_cls, f"set_{key}", {key: value})
            if rejections:
                raise ValueError(rejections[0].message())
            initial.update(values)
        for buffer in self.inputs.values():
            buffer.reset()  # open and empty: nothing of the last client's frames
        session = _Session(send, asyncio.get_running_loop())
        session.indices = {t.name: 0 for t in self.tracks}
        session.audio_samples = {t.name: 0 for t in self.tracks if t.kind == "audio"}
        self._session = session
        self.pacer = start(self.fps)
        model = self.model
        if state_cls is not None:
            model.state = state_cls(**initial)

        async def send_from_model(envelope: dict[str, Any]) -> None:
            if session.open:
                await session.send(envelope)

        model._send_fn = send_from_model
        if isinstance(model, ReactorModel):
            model._emit_fn = lambda output: self._emit(session, output)
            model.connected.set()
        for hook in type(model)._on_connected:
            await self._call_hook(hook, session)
        if isinstance(model, ReactorPipeline):
            session.driver = Driver(
                model,
                tuple(self.tracks),
                lambda item: self._from_driver(session, item),
                max_restarts=self.max_restarts,
                queue_frames=self.queue_frames,
                clock=self._clock,
            )
            # A generator resting after a None yield (no frame yet) steps as a frame arrives.
            session.unlisten = [b.listen(session.driver.nudge) for b in self.inputs.values()]
            session.driver.start()
        else:
            session.task = asyncio.create_task(self._run_model(session))

    async def stop_session(self) -> None:
        """Stop producing, run @disconnected hooks; safe to call twice."""
        session = self._session
        if session is None or not session.open:
            return
        session.open = False
        model = self.model
        for buffer in self.inputs.values():
            buffer.close()  # a model waiting on read() wakes with BufferClosed
        for unlisten in session.unlisten:
            unlisten()
        if session.driver is not None:
            stopped = await asyncio.to_thread(session.driver.stop, self.stop_timeout)
            if not stopped:
                log.warning(
                    "the model's step did not finish within %.0f s of the session ending; "
                    "the next session waits for it",
                    self.stop_timeout,
                )
        if session.task is not None:
            session.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await session.task
        if isinstance(model, ReactorModel):
            model.connected.clear()
            model._emit_fn = None
        async with session.room:
            session.room.notify_all()
        for hook in type(model)._on_disconnected:
            await self._call_hook(hook, session, report=False)
        model._send_fn = None
        state_cls = type(model).state_class()
        if state_cls is not None and model.state is not None:
            for field in state_cls.public_fields():
                if field.kind == "upload":  # the client's files do not outlive its session
                    setattr(model.state, field.name, None)
        session.items.put_nowait(_End(session.failure))
        if self._sending:
            await asyncio.wait(set(self._sending), timeout=5)

    async def _call_hook(self, name: str, session: _Session, *, report: bool = True) -> None:
        try:
            result = getattr(self.model, name)()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.exception("@%s hook %s() raised", "connected" if report else "disconnected", name)
            if report:
                await self._send_error(session, f"{name}() raised {type(exc).__name__}: {exc}")

    async def _send_error(self, session: _Session, message: str, **extra: Any) -> None:
        """Send an error now (from the event loop, while the session is open)."""
        if session.open:
            await self._deliver_error(session, error_envelope(message, **extra))

    @staticmethod
    async def _deliver_error(session: _Session, envelope: dict[str, Any]) -> None:
        try:
            await session.send(envelope)
        except Exception:
            log.exception("could not send an error to the client")

    def _send_soon(self, session: _Session, message: str, **extra: Any) -> None:
        """Queue an error for the client; errors go out in the order they happened."""
        if not session.open:
            return
        envelope = error_envelope(message, **extra)
        previous = session.last_send

        async def deliver() -> None:
            if previous is not None:
                with contextlib.suppress(Exception):
                    await previous
            await self._deliver_error(session, envelope)

        task = asyncio.ensure_future(deliver())
        session.last_send = task
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    # -- frames ---------------------------------------------------------------------------

    def _from_driver(self, session: _Session, item: Produced | ModelFailure | None) -> None:
        """Called on the driver's thread; hands the item to the event loop.

        Frames go straight into the session's inbox (one wake-up at most, none while frames()
        is busy); the end and failures go through the loop, which records the failure first.
        Either way they stay in the driver's order: a frame is queued before anything the
        driver reports after it.
        """
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            if isinstance(item, Produced):
                session.items.put(item)
            else:
                session.loop.call_soon_threadsafe(self._on_item, session, item)

    def _on_item(self, session: _Session, item: Produced | ModelFailure | None) -> None:
        if item is None:
            session.items.put_nowait(_End(session.failure))
        elif isinstance(item, ModelFailure):
            self._failed(session, item)
        else:
            session.items.put_nowait(item)

    def _failed(self, session: _Session, failure: ModelFailure) -> None:
        extra: dict[str, Any] = {"restarts_left": failure.restarts_left}
        if failure.fatal:
            extra["fatal"] = True
            session.failure = failure
        self._send_soon(session, failure.message, **extra)
        if failure.fatal:
            session.items.put_nowait(_End(failure))

    async def frames(self) -> AsyncIterator[PacedFrame]:
        """The session's frames in order, each released at its due time; ends with the session."""
        session = self._session
        if session is None:
            raise RuntimeError("frames() needs a session; call start_session() first")
        indices = session.indices
        audio_samples = session.audio_samples
        sample_rates = {t.name: t.sample_rate or 48000 for t in self.tracks if t.kind == "audio"}
        while True:
            item = await session.items.get()
            if isinstance(item, _End):
                return
            now = self._clock()
            n = item.frames
            slots = ()
            if n:
                self.pacer, slots = pace(self.pacer, now=now, frames=n, step_time=item.step_time)
                if self.realtime and session.driver is not None and self.pacer.rate is not None:
                    session.driver.set_playout_rate(self.pacer.rate)
            for i in range(max(n, 1)):
                if n:
                    due, pts = slots[i].due, slots[i].pts
                else:
                    due = max(now, session.audio_due if session.audio_due is not None else now)
                    pts = 0
                if self.realtime:
                    await self._until(due)
                for track, data in item.tracks.items():
                    kind = "video" if data.ndim == 4 else "audio"
                    if kind == "video":
                        if i >= data.shape[0]:
                            continue
                        frame = PacedFrame(
                            track, "video", data[i], pts, indices[track], due, item.produced
                        )
                    else:
                        if i != 0:
                            continue
                        frame = PacedFrame(
                            track,
                            "audio",
                            data,
                            audio_samples[track],
                            indices[track],
                            due,
                            item.produced,
                        )
                        audio_samples[track] += data.shape[1]
                        if not n:
                            session.audio_due = due + data.shape[1] / sample_rates[track]
                    indices[track] += 1
                    yield frame
                if session.driver is not None:
                    session.driver.release(1)
                else:
                    await self._release(session, 1)

    async def _until(self, due: float) -> None:
        """Wait until `due` on the runner's clock, to within a few tenths of a millisecond.

        The event loop's timers wake up to a millisecond late (epoll counts whole ms), which is
        a visible share of a frame interval; so the loop's timer is set `PRECISE_WAIT` early and
        the rest is waited yielding to the loop's other work (sending, encoding hand-offs) in
        between, for at most `PRECISE_WAIT` per frame.
        """
        delay = due - self._clock()
        if delay > PRECISE_WAIT:
            await asyncio.sleep(delay - PRECISE_WAIT)
        give_up = time.monotonic() + PRECISE_WAIT  # a clock that stands still cannot hang us
        while self._clock() < due and time.monotonic() < give_up:
            await asyncio.sleep(0)

    async def _release(self, session: _Session, frames: int) -> None:
        """A `ReactorModel`'s frames have played: an `emit()` waiting for room may go on."""
        async with session.room:
            session.queued = max(0, session.queued - frames)
            session.room.notify_all()

    # -- ReactorModel -----------------------------------------------------------------------

    async def _emit(self, session: _Session, output: Any) -> None:
        started = session.step_started
        tracks = split_output(tuple(self.tracks), output)
        if not tracks:
            return
        frames = video_frames(tracks)
        now = self._clock()
        item = Produced(tracks, frames, now, now - started, 0)
        async with session.room:
            while (
                session.open
                and session.queued > 0
                and session.queued + max(frames, 1) > self.queue_frames
            ):
                await session.room.wait()
            if not session.open:
                raise RuntimeError("emit() after the session ended")
            session.queued += max(frames, 1)
        session.items.put_nowait(item)
        session.emitted += 1
        session.step_started = self._clock()

    async def _run_model(self, session: _Session) -> None:
        """Run `run()` for the session; restart it after an exception, up to `max_restarts`.

        A `run()` that returns is done: the session stays open (events, `emit()` from handlers)
        until the client leaves. Full control means the model decides when to stop producing.
        """
        model = self.model
        assert isinstance(model, ReactorModel)
        restarts = 0
        while session.open:
            session.emitted = 0
            session.step_started = self._clock()
            try:
                await model.run()
                log.info("%s.run() returned; the session stays open", type(model).__name__)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not session.open:
                    return
                message = f"{type(model).__name__}.run() raised {type(exc).__name__}: {exc}"
                failure = model_failure(message, exc, self.max_restarts - restarts)
                self._failed(session, failure)
                if failure.fatal:
                    return
                restarts += 1

    # -- commands ---------------------------------------------------------------------------

    async def command(self, name: str, data: dict[str, Any]) -> list[Rejection]:
        """Apply a `set_<field>` or `@event` command; returns the rejections ([] = accepted).

        For a pipeline, accepted updates are applied on the generator's thread before its next
        step, all pending ones together; for a ReactorModel, at once.
        """
        model = self.model
        session = self._session if self.active else None
        driver = session.driver if session is not None else None
        if name.startswith("set_"):
            state_cls = type(model).state_class()
            if state_cls is None:
                return [Rejection(name, None, data, "unknown command; this model has no state")]
            values, rejections = check_update(state_cls, name, data)
            if rejections:
                return rejections

            def apply() -> None:
                for key, value in values.items():
                    setattr(model.state, key, value)

            if driver is not None:
                driver.between_steps(apply)
            else:
                apply()
            return []
        spec = type(model).events().get(name)
        if spec is None:
            known = [f.command for f in (type(model).state_class() or _NoState).public_fields()]
            known += list(type(model).events())
            return [Rejection(name, None, data, f"unknown command; known commands: {known}")]
        kwargs, rejections = spec.check(data)
        if rejections:
            return rejections
        if session is not None and spec.dedupe:
            if session.last_event.get(name) == kwargs:
                return []
            session.last_event[name] = kwargs
        handler = getattr(model, spec.method)
        if driver is not None and session is not None:
            loop = session.loop

            def call() -> None:
                try:
                    result = handler(**kwargs)
                    if inspect.isawaitable(result):
                        asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()
                except Exception as exc:
                    log.exception("@event %s raised", name)
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(
                            self._send_soon,
                            session,
                            f"{name} raised {type(exc).__name__}: {exc}",
                        )

            driver.between_steps(call)
            return []
        try:
            result = handler(**kwargs)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            log.exception("@event %s raised", name)
            if session is not None:
                await self._send_error(session, f"{name} raised {type(exc).__name__}: {exc}")
        return []

    async def file_uploaded(self, file: UploadedFile) -> None:
        """The client announced an uploaded file: run the model's `@file_uploaded` hooks with
        it (for a pipeline on its thread between two steps, like an event); errors go to the
        client."""
        session = self._session if self.active else None
        if session is None:
            return
        model = self.model
        for name in type(model)._on_file_uploaded:
            handler = getattr(model, name)
            if session.driver is not None:
                session.driver.between_steps(self._threaded_call(session, name, handler, file))
                continue
            try:
                result = handler(uploaded_file=file)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                log.exception("@file_uploaded %s() raised", name)
                await self._send_error(session, f"{name}() raised {type(exc).__name__}: {exc}")

    def _threaded_call(
        self, session: _Session, name: str, handler: Callable[..., Any], file: UploadedFile
    ) -> Callable[[], None]:
        loop = session.loop

        def call() -> None:
            try:
                result = handler(uploaded_file=file)
                if inspect.isawaitable(result):
                    asyncio.run_coroutine_threadsafe(_awaited(result), loop).result()
            except Exception as exc:
                log.exception("@file_uploaded %s() raised", name)
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(
                        self._send_soon, session, f"{name}() raised {type(exc).__name__}: {exc}"
                    )

        return call


class _NoState:
    @staticmethod
    def public_fields() -> list[Any]:
        return []


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
