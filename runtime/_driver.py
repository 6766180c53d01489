"""Runs a pipeline's `inference()` generator on its own thread and hands its frames on.

GPU calls and slow steps never block the event loop. Frames go into a bounded buffer: when it
is full the generator waits (backpressure), so nothing is ever dropped. Pending state updates
and event calls run on this thread between two yields, all at once, so one step of the model
sees one consistent state. When the generator returns it starts again with the state kept;
when it raises, the error is logged with its traceback, reported, and the generator restarted
up to `max_restarts` times.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from reactor._inputs import BufferClosed
from reactor._model import ReactorPipeline
from reactor._output import TrackSpec, split_output

log = logging.getLogger("reactor.driver")

IDLE_WAIT = 0.01
"""Seconds the generator rests after yielding None (a turn with nothing to show, e.g. no input
frame yet) unless something wakes it sooner: an input frame, a state update, the stop."""


@dataclass(frozen=True)
class Produced:
    """One yield of the model: its frames per track, when it came and how long it took."""

    tracks: dict[str, np.ndarray]
    frames: int
    """Video frames in this yield (the batch size); 0 for an audio-only yield."""
    produced: float
    step_time: float
    run: int
    """Which run of the generator made it (0, then 1 after the first restart, ...)."""


@dataclass(frozen=True)
class ModelFailure:
    """The generator raised: what to tell the client, and whether the session must end."""

    message: str
    traceback: str
    restarts_left: int
    fatal: bool


def model_failure(message: str, exc: BaseException, restarts_left: int) -> ModelFailure:
    """Log a model's exception with its traceback; the failure to report (fatal with no restart
    left). The Driver's generator and a ReactorModel's `run()` are reported alike."""
    fatal = restarts_left <= 0
    text = "".join(traceback.format_exception(exc))
    log.error(
        "%s (%s)\n%s",
        message,
        "session ends" if fatal else f"restarting, {restarts_left - 1} restarts left",
        text,
    )
    return ModelFailure(message, text, max(restarts_left - 1, 0), fatal)


def video_frames(tracks: dict[str, np.ndarray]) -> int:
    """Video frames in one yield (its largest video batch); 0 for an audio-only yield."""
    return max((a.shape[0] for a in tracks.values() if a.ndim == 4), default=0)


class _EmptyRunError(RuntimeError):
    pass


class _Nudge:
    """Wakes a generator resting after a None yield, on its worker thread or, for an async
    generator, in the event loop it runs in."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._async: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None

    def set(self) -> None:
        self._event.set()
        waiter = self._async
        if waiter is not None:
            with contextlib.suppress(RuntimeError):  # that loop has closed
                waiter[0].call_soon_threadsafe(waiter[1].set)

    def clear(self) -> None:
        self._event.clear()
        if self._async is not None:
            self._async[1].clear()

    def wait(self, timeout: float) -> None:
        self._event.wait(timeout)

    async def wait_async(self, timeout: float) -> None:
        if self._async is None or self._async[0] is not asyncio.get_running_loop():
            self._async = (asyncio.get_running_loop(), asyncio.Event())
            if self._event.is_set():
                self._async[1].set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._async[1].wait(), timeout)


class Driver:
    """Drives one pipeline instance's generator on a worker thread for one session."""

    def __init__(
        self,
        model: ReactorPipeline,
        tracks: tuple[TrackSpec, ...],
        deliver: Callable[[Produced | ModelFailure | None], None],
        *,
        max_restarts: int = 3,
        queue_frames: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`deliver` is called on the worker thread with each item (None once, when finished)."""
        if queue_frames < 1:
            raise ValueError("queue_frames must be at least 1")
        self._model = model
        self._tracks = tracks
        self._deliver = deliver
        self._max_restarts = max_restarts
        self._capacity = queue_frames
        self._clock = clock
        self._cond = threading.Condition()
        self._queued = 0
        self._wake_at = -1
        """While the worker waits: the queued count at or below which it can go on (else -1), so
        `release()` wakes it only when it has something to do, not for every played frame."""
        self._waiting_for_lead = False
        self._stopping = False
        self._pending: deque[Callable[[], None]] = deque()
        self._pending_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._playout_rate: float | None = None
        self._step_time: float | None = None
        self._step_dev = 0.0
        """Smoothed seconds of model time per yield."""
        self._largest_batch = 1
        self._cycle_start: float | None = None
        self._async_step: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._nudge = _Nudge()
        self.restarts = 0
        self.steps = 0

    # -- called from the session's side ---------------------------------------------------

    def start(self) -> None:
        """Start the worker thread."""
        self._thread = threading.Thread(
            target=self._main, name=f"reactor-driver-{type(self._model).__name__}", daemon=True
        )
        self._thread.start()

    def between_steps(self, action: Callable[[], None]) -> None:
        """Run `action` on the worker thread before the generator's next step."""
        with self._pending_lock:
            self._pending.append(action)
        self._nudge.set()

    def nudge(self) -> None:
        """Something the model may be waiting for happened (an input frame arrived): a
        generator resting after a None yield steps again now. Safe from any thread."""
        self._nudge.set()

    def release(self, frames: int) -> None:
        """The consumer has played out `frames` frames: make room for more."""
        with self._cond:
            self._queued = max(0, self._queued - frames)
            if self._queued <= self._wake_at:
                self._cond.notify()

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop the generator and join the thread; False if a model step outlived `timeout`."""
        self._nudge.set()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            if self._async_step is not None:
                # An async generator awaiting something (a sleep, a socket) is cancelled there.
                loop, task = self._async_step
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def alive(self) -> bool:
        """True while the worker thread runs (a model step can outlive `stop()`'s timeout)."""
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout: float) -> None:
        """Wait for the worker thread to end."""
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def queued_frames(self) -> int:
        with self._cond:
            return self._queued

    # -- the worker thread -----------------------------------------------------------------

    def _apply_pending(self) -> None:
        with self._pending_lock:
            actions = list(self._pending)
            self._pending.clear()
        for action in actions:
            action()

    def set_playout_rate(self, fps: float) -> None:
        """The pacer's current rate; lets the generator start a step just in time."""
        with self._cond:
            self._playout_rate = fps
            if self._waiting_for_lead and self._queued <= self._lead_frames():
                self._cond.notify()

    def _lead_frames(self) -> int:
        """Frames worth keeping queued: enough to cover the next step, and no more.

        Fewer queued frames means a state update reaches the screen sooner; enough of them
        means playout never runs dry while the model works on its next step.
        """
        capacity = self._room()
        if self._playout_rate is None or self._step_time is None:
            return capacity
        # Like TCP's retransmission timer: the mean step plus twice its typical deviation, so a
        # model (or machine) with uneven steps keeps more in hand and a steady one less. No
        # extra frame on top: the worker is woken as a frame is released, when the next queued
        # one is still a whole interval from due, which is margin enough; one more frame would
        # be one more interval of update latency.
        expected = self._step_time + 2.0 * self._step_dev
        return max(1, min(capacity, math.ceil(expected * self._playout_rate)))

    def _room(self) -> int:
        """Frames the buffer holds: `queue_frames`, or two of the largest batch if that is more.

        Two batches let the model make the next batch while the last one plays.
        """
        return max(self._capacity, 2 * self._largest_batch)

    def _wait_for_room(self, frames: int) -> bool:
        """Block while the buffer is full; an oversize batch waits for an empty buffer.

        A model held back here is faster than playout: it goes on once half the buffer has
        played (or the batch fits, if that takes more), so it makes several frames per wake-up
        instead of trading the GIL with the event loop for every frame.
        """
        with self._cond:
            while not self._stopping and self._queued > 0 and self._queued + frames > self._room():
                room = self._room()
                self._wake_at = max(0, min(room - frames, room // 2))
                self._cond.wait()
            self._wake_at = -1
            if self._stopping:
                return False
            self._queued += max(frames, 1)
            return True

    def _wait_for_lead(self) -> bool:
        """Before the next step: wait until the queue is down to what that step needs."""
        with self._cond:
            while not self._stopping and self._queued > (lead := self._lead_frames()):
                self._wake_at = lead
                self._waiting_for_lead = True
                self._cond.wait()
            self._wake_at = -1
            self._waiting_for_lead = False
            return not self._stopping

    def _emit(self, value: Any, started: float, run: int) -> bool:
        produced = self._clock()
        tracks = split_output(self._tracks, value)
        if not tracks:
            return True
        frames = video_frames(tracks)
        # Time per yield as the pacer should see it: everything since the last wait ended (the
        # step, the copy of its frames, the bookkeeping), but not the waits themselves.
        busy_since = self._cycle_start if self._cycle_start is not None else started
        item = Produced(tracks, frames, produced, self._clock() - busy_since, run)
        step = item.step_time
        with self._cond:
            self._largest_batch = max(self._largest_batch, frames)
            if self._step_time is not None:
                self._step_dev = 0.75 * self._step_dev + 0.25 * abs(step - self._step_time)
            self._step_time = (
                step if self._step_time is None else 0.7 * self._step_time + 0.3 * step
            )
        if not self._wait_for_room(frames):
            return False
        self._deliver(item)
        ok = self._wait_for_lead()
        self._cycle_start = self._clock()
        return ok

    def _run_sync(self, gen: Any, run: int) -> int:
        yielded = 0
        try:
            while not self._stopping:
                self._apply_pending()
                started = self._clock()
                self._nudge.clear()  # a frame arriving during the step wakes the rest after it
                try:
                    value = next(gen)
                except StopIteration:
                    return yielded
                self.steps += 1
                if value is None:
                    self._nudge.wait(IDLE_WAIT)
                    continue
                yielded += 1
                if not self._emit(value, started, run):
                    return yielded
            return yielded
        finally:
            gen.close()

    def _run_async(self, agen: Any, run: int) -> int:
        async def drive() -> int:
            with self._cond:
                self._async_step = (asyncio.get_running_loop(), asyncio.current_task())
                if self._stopping:
                    await agen.aclose()
                    return 0
            yielded = 0
            try:
                while not self._stopping:
                    self._apply_pending()
                    started = self._clock()
                    self._nudge.clear()
                    try:
                        value = await agen.__anext__()
                    except StopAsyncIteration:
                        return yielded
                    self.steps += 1
                    if value is None:
                        await self._nudge.wait_async(IDLE_WAIT)
                        continue
                    yielded += 1
                    if not self._emit(value, started, run):
                        return yielded
                return yielded
            finally:
                await agen.aclose()

        try:
            return asyncio.run(drive())
        except asyncio.CancelledError:
            if self._stopping:
                return 0
            raise
        finally:
            with self._cond:
                self._async_step = None

    def _start_generator(self) -> Any:
        gen = self._model.inference()
        if not (inspect.isgenerator(gen) or inspect.isasyncgen(gen)):
            raise TypeError(
                f"{type(self._model).__name__}.inference() must be a generator (use yield), "
                f"got {type(gen).__name__}"
            )
        return gen

    def _main(self) -> None:
        run = 0
        try:
            while not self._stopping:
                try:
                    gen = self._start_generator()
                    if inspect.isasyncgen(gen):
                        yielded = self._run_async(gen, run)
                    else:
                        yielded = self._run_sync(gen, run)
                    if yielded == 0 and not self._stopping:
                        raise _EmptyRunError(
                            "inference() returned without yielding a frame; it must yield "
                            "at least one frame per run"
                        )
                except BufferClosed:
                    # The session is ending: its input tracks close before the driver stops.
                    self._wait_for_stop()
                    break
                except Exception as exc:
                    if self._stopping:
                        break
                    if not self._report(exc):
                        return
                run += 1
        finally:
            # Updates accepted before the stop still land, so the state the session ends with
            # is the one the client was told it has.
            try:
                self._apply_pending()
            finally:
                self._deliver(None)

    def _wait_for_stop(self) -> None:
        with self._cond:
            while not self._stopping:
                self._cond.wait()

    def _report(self, exc: BaseException) -> bool:
        """Log and report a model failure; True when the generator may start again."""
        name = type(self._model).__name__
        if isinstance(exc, _EmptyRunError):
            message = f"{name}.{exc}"
        else:
            message = f"{name}.inference() raised {type(exc).__name__}: {exc}"
        failure = model_failure(message, exc, self._max_restarts - self.restarts)
        self._deliver(failure)
        if failure.fatal:
            return False
        self.restarts += 1
        return True
