"""The Runner without any network: a fake `send` collects what the client would receive."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from typing import Any

import numpy as np
import pytest
from reactor import (
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
from reactor._driver import Driver
from reactor._output import tracks_for_model
from reactor._runner import PRECISE_WAIT, PacedFrame, Runner, _Inbox

pytestmark = pytest.mark.timeout(60)


class Frame(Output):
    main_video: Video


class CounterState(InputState):
    level: int = InputField(default=0, ge=0, le=255)
    gain: float = InputField(default=1.0, ge=0.0, le=10.0)
    label: str = "x"


def frame_of(counter: int, level: int) -> np.ndarray:
    """A 4x4 frame carrying a counter (two bytes) and the state value it was made with."""
    frame = np.zeros((4, 4, 3), np.uint8)
    frame[0, 0, 0] = counter % 256
    frame[0, 0, 1] = counter // 256
    frame[0, 0, 2] = level
    return frame


def counter_of(frame: PacedFrame) -> int:
    return int(frame.data[0, 0, 0]) + 256 * int(frame.data[0, 0, 1])


class Counter(ReactorPipeline):
    """Yields numbered frames forever; each records the level it saw."""

    state: CounterState
    fps = 1000

    def load(self, config: dict[str, Any]) -> None:
        self.made = 0
        self.seen: list[tuple[int, int]] = []
        self.step_delay = config.get("step_delay", 0.0)
        self.threads: set[str] = set()

    def inference(self):
        while True:
            self.threads.add(threading.current_thread().name)
            level = self.state.level
            if self.step_delay:
                time.sleep(self.step_delay)
            # Read twice around the work: an update must never land between the two reads.
            assert self.state.level == level, "state changed in the middle of a step"
            self.seen.append((self.made, level))
            yield Frame(main_video=frame_of(self.made, level))
            self.made += 1


class Recorder:
    """A fake client: the envelopes `send` delivered."""

    def __init__(self) -> None:
        self.envelopes: list[dict[str, Any]] = []

    async def __call__(self, envelope: dict[str, Any]) -> None:
        self.envelopes.append(envelope)

    def errors(self) -> list[dict[str, Any]]:
        return [
            e["data"]["data"]
            for e in self.envelopes
            if e["scope"] == "runtime" and e["data"]["type"] == "error"
        ]


def make(model_cls, config=None, **kwargs) -> Runner:
    model = model_cls()
    model.load(config or {})
    kwargs.setdefault("realtime", False)
    return Runner(model, **kwargs)


async def take(runner: Runner, n: int) -> list[PacedFrame]:
    out: list[PacedFrame] = []
    async for frame in runner.frames():
        out.append(frame)
        if len(out) == n:
            break
    return out


async def test_frames_arrive_in_order_with_indices_and_increasing_pts():
    runner = make(Counter)
    await runner.start_session(Recorder())
    frames = await take(runner, 50)
    await runner.stop_session()
    assert [f.index for f in frames] == list(range(50))
    assert [counter_of(f) for f in frames] == list(range(50))
    assert all(b.pts > a.pts for a, b in itertools.pairwise(frames))
    assert all(f.track == "main_video" and f.kind == "video" for f in frames)
    assert all(f.data.shape == (4, 4, 3) and f.data.dtype == np.uint8 for f in frames)
    assert all(f.produced <= f.due + 1.0 for f in frames)


async def test_generator_runs_on_its_own_thread_not_the_event_loop():
    runner = make(Counter)
    await runner.start_session(Recorder())
    await take(runner, 3)
    await runner.stop_session()
    assert runner.model.threads
    assert threading.current_thread().name not in runner.model.threads


async def test_update_is_seen_by_the_step_after_the_next_yield_and_never_mid_step():
    runner = make(Counter, {"step_delay": 0.002})
    await runner.start_session(Recorder())
    frames = await take(runner, 10)
    steps_done = runner.model.made
    assert await runner.command("set_level", {"level": 200}) == []
    frames += await take(runner, 30)
    await runner.stop_session()
    seen = dict(runner.model.seen)
    first_new = min(step for step, level in seen.items() if level == 200)
    # A step already running when the update came may finish with the old value; the one after
    # the next yield must see the new one. And once seen, it stays.
    assert first_new <= steps_done + 1
    assert all(level == 200 for step, level in seen.items() if step >= first_new)
    # Frames carry what their step saw: one switch, in order.
    levels = [int(f.data[0, 0, 2]) for f in frames]
    switch = levels.index(200)
    assert set(levels[:switch]) == {0}
    assert set(levels[switch:]) == {200}


async def test_rejected_update_changes_nothing_and_says_why():
    runner = make(Counter)
    await runner.start_session(Recorder())
    rejections = await runner.command("set_level", {"level": 999})
    assert [(r.command, r.field, r.value) for r in rejections] == [("set_level", "level", 999)]
    assert "<= 255" in rejections[0].reason
    rejections = await runner.command("set_gain", {"gain": "loud"})
    assert rejections[0].reason.startswith("expected a number")
    rejections = await runner.command("set_nothing", {"nothing": 1})
    assert rejections[0].reason == "unknown command"
    rejections = await runner.command("fly", {})
    assert "unknown command" in rejections[0].reason and "set_level" in rejections[0].reason
    frames = await take(runner, 5)
    await runner.stop_session()
    assert {int(f.data[0, 0, 2]) for f in frames} == {0}
    assert runner.model.state.level == 0


async def test_start_session_resets_state_to_defaults():
    runner = make(Counter)
    await runner.start_session(Recorder())
    await runner.command("set_level", {"level": 7})
    await runner.command("set_label", {"label": "changed"})
    await take(runner, 5)
    await runner.stop_session()
    assert runner.model.state.level == 7
    await runner.start_session(Recorder())
    assert runner.model.state.level == 0
    assert runner.model.state.label == "x"
    frames = await take(runner, 3)
    await runner.stop_session()
    assert frames[0].index == 0
    assert int(frames[0].data[0, 0, 2]) == 0


async def test_second_session_while_one_runs_is_refused_and_stop_is_idempotent():
    runner = make(Counter)
    await runner.start_session(Recorder())
    with pytest.raises(RuntimeError, match="already running"):
        await runner.start_session(Recorder())
    await runner.stop_session()
    await runner.stop_session()
    assert not runner.active


class ShortClip(ReactorPipeline):
    """Returns after three frames: the runtime starts it again, state kept."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.runs = 0

    def inference(self):
        self.runs += 1
        for i in range(3):
            yield frame_of(self.runs * 10 + i, self.state.level)


async def test_generator_that_returns_is_restarted_with_state_kept():
    runner = make(ShortClip)
    await runner.start_session(Recorder())
    frames = await take(runner, 2)
    await runner.command("set_level", {"level": 9})
    frames += await take(runner, 10)
    await runner.stop_session()
    assert [counter_of(f) for f in frames[:6]] == [10, 11, 12, 20, 21, 22]
    assert runner.model.runs >= 4
    assert int(frames[-1].data[0, 0, 2]) == 9
    assert [f.index for f in frames] == list(range(12))


class Flaky(ReactorPipeline):
    """Raises on every second frame of each run."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.runs = 0

    def inference(self):
        self.runs += 1
        yield frame_of(self.runs, self.state.level)
        raise ValueError(f"boom {self.runs}")


async def test_exception_is_reported_and_the_generator_restarted_then_the_session_ends(caplog):
    recorder = Recorder()
    runner = make(Flaky, max_restarts=2)
    await runner.start_session(recorder)
    frames = [f async for f in runner.frames()]  # ends by itself after the last failure
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == [1, 2, 3]
    errors = recorder.errors()
    assert [e["restarts_left"] for e in errors] == [1, 0, 0]
    assert [e.get("fatal", False) for e in errors] == [False, False, True]
    assert all(e["source"] == "model" for e in errors)
    assert "ValueError: boom 1" in errors[0]["message"]
    assert runner.failure is not None and runner.failure.fatal
    assert "Traceback" in caplog.text and "boom 3" in caplog.text


class BadFrames(ReactorPipeline):
    state: CounterState

    def inference(self):
        yield np.zeros((4, 4, 3), np.float32)


async def test_wrong_frame_type_is_reported_naming_track_shape_and_dtype():
    recorder = Recorder()
    runner = make(BadFrames, max_restarts=0)
    await runner.start_session(recorder)
    frames = [f async for f in runner.frames()]
    await runner.stop_session()
    assert frames == []
    (error,) = recorder.errors()
    assert "main_video" in error["message"]
    assert "(4, 4, 3)" in error["message"] and "float32" in error["message"]


class NeverYields(ReactorPipeline):
    state: CounterState

    def inference(self):
        return
        yield


async def test_generator_that_never_yields_is_an_error_not_a_busy_loop():
    recorder = Recorder()
    runner = make(NeverYields, max_restarts=1)
    await runner.start_session(recorder)
    assert [f async for f in runner.frames()] == []
    await runner.stop_session()
    assert len(recorder.errors()) == 2
    assert "without yielding" in recorder.errors()[0]["message"]


async def test_fast_model_is_held_back_and_no_frame_is_dropped():
    runner = make(Counter, queue_frames=4, realtime=True, fps=100)
    await runner.start_session(Recorder())
    frames: list[PacedFrame] = []
    ahead: list[int] = []
    async for frame in runner.frames():
        frames.append(frame)
        # How far the model ran ahead of what has been played out.
        ahead.append(runner.model.made - len(frames))
        if len(frames) == 40:
            break
    reanchors = runner.pacer.reanchors
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == list(range(40))
    # Bounded by the queue (4) plus the step in hand, however fast the model could go.
    assert max(ahead) <= 4 + 1
    # Released no earlier than due: 40 frames at 100 fps take at least 0.39 s; exactly that
    # unless a stall on a loaded machine made the pacer re-anchor (which only adds time).
    span = frames[-1].due - frames[0].due
    assert span >= 0.39 - 1e-6
    if reanchors == 0:
        assert span == pytest.approx(0.39, abs=1e-6)


async def test_frames_are_released_at_their_due_time():
    runner = make(Counter, realtime=True, fps=50)
    await runner.start_session(Recorder())
    released: list[tuple[float, float]] = []
    async for frame in runner.frames():
        released.append((time.monotonic(), frame.due))
        if len(released) == 10:
            break
    await runner.stop_session()
    # Never early: the last stretch is waited on the clock itself, not the loop's ms timer.
    assert all(at >= due for at, due in released)


async def test_waiting_for_a_due_time_ends_even_if_the_clock_stands_still():
    runner = make(Counter, realtime=True, fps=50, clock=lambda: 100.0)
    started = time.monotonic()
    await asyncio.wait_for(runner._until(100.0 + PRECISE_WAIT / 2), timeout=5)
    # The loop's timer was not used (due within the precise window) and the yields gave up.
    assert time.monotonic() - started < 5


async def test_a_model_held_back_by_a_full_buffer_goes_on_once_half_of_it_has_played():
    """One wake-up for several frames, not one per played frame; never more than the buffer."""
    runner = make(Counter, queue_frames=8)
    await runner.start_session(Recorder())
    driver = runner._session.driver
    for _ in range(500):
        if driver.queued_frames == 8:
            break
        await asyncio.sleep(0.01)
    assert driver.queued_frames == 8
    made = runner.model.made
    driver.release(3)
    await asyncio.sleep(0.2)
    assert (runner.model.made, driver.queued_frames) == (made, 5)  # still held back
    driver.release(1)
    for _ in range(500):
        if driver.queued_frames == 8:
            break
        await asyncio.sleep(0.01)
    assert (runner.model.made, driver.queued_frames) == (made + 4, 8)
    await runner.stop_session()


def _count_wakeups(monkeypatch: pytest.MonkeyPatch, loop: asyncio.AbstractEventLoop) -> list:
    calls: list = []
    original = loop.call_soon_threadsafe

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "call_soon_threadsafe", counted)
    return calls


def _put_from_thread(inbox: _Inbox, items: list[int]) -> None:
    thread = threading.Thread(target=lambda: [inbox.put(i) for i in items])
    thread.start()
    thread.join(5)


async def test_yields_wake_the_event_loop_only_when_frames_waits_for_one(monkeypatch):
    loop = asyncio.get_running_loop()
    inbox = _Inbox(loop)
    wakeups = _count_wakeups(monkeypatch, loop)
    _put_from_thread(inbox, [0, 1, 2, 3, 4])  # nobody waiting: just queued
    assert wakeups == []
    assert [await inbox.get() for _ in range(5)] == [0, 1, 2, 3, 4]
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)  # now it waits
    _put_from_thread(inbox, [5, 6, 7])
    assert await asyncio.wait_for(getter, 5) == 5
    assert len(wakeups) == 1
    assert [await inbox.get() for _ in range(2)] == [6, 7]


async def test_an_abandoned_wait_for_a_frame_leaves_nothing_to_wake(monkeypatch):
    loop = asyncio.get_running_loop()
    inbox = _Inbox(loop)
    wakeups = _count_wakeups(monkeypatch, loop)
    getter = asyncio.ensure_future(inbox.get())
    await asyncio.sleep(0)
    getter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await getter
    _put_from_thread(inbox, [1])
    assert wakeups == []
    assert await asyncio.wait_for(inbox.get(), 5) == 1


async def test_stop_wakes_a_generator_blocked_on_a_full_queue():
    runner = make(Counter, queue_frames=2)
    await runner.start_session(Recorder())
    await asyncio.sleep(0.2)  # nobody reads: the generator fills the queue and blocks
    made = runner.model.made
    assert made <= 3
    driver = runner._session.driver
    await asyncio.wait_for(runner.stop_session(), timeout=5)
    assert not driver._thread.is_alive()


class Batches(ReactorPipeline):
    """Yields batches of 4; the runtime splits and spreads them."""

    state: CounterState
    fps = 40

    def load(self, config: dict[str, Any]) -> None:
        self.made = 0

    def inference(self):
        while True:
            batch = np.stack([frame_of(self.made + i, self.state.level) for i in range(4)])
            self.made += 4
            yield batch


async def test_batch_is_split_into_frames_spread_at_the_rate():
    runner = make(Batches, queue_frames=8)
    await runner.start_session(Recorder())
    frames = await take(runner, 12)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == list(range(12))
    dues = [f.due for f in frames]
    gaps = [b - a for a, b in itertools.pairwise(dues)]
    assert gaps[:3] == pytest.approx([1 / 40] * 3)
    assert [f.pts for f in frames[:4]] == [0, 2250, 4500, 6750]


class AsyncCounter(ReactorPipeline):
    state: CounterState

    async def inference(self):
        i = 0
        while True:
            await asyncio.sleep(0)
            yield Frame(main_video=frame_of(i, self.state.level))
            i += 1


async def test_async_generator_is_driven_too():
    runner = make(AsyncCounter)
    await runner.start_session(Recorder())
    frames = await take(runner, 5)
    await runner.command("set_level", {"level": 3})
    frames += await take(runner, 20)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == list(range(25))
    assert int(frames[-1].data[0, 0, 2]) == 3


class Hooked(ReactorPipeline):
    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.log: list[str] = []

    @connected
    def on_connect(self) -> None:
        self.log.append(f"connected level={self.state.level}")

    @disconnected
    async def on_disconnect(self) -> None:
        self.log.append("disconnected")

    @event(name="bump", dedupe=True)
    def bump(self, by: int = InputField(default=1, ge=1, le=5)) -> None:
        self.log.append(f"bump {by} on {threading.current_thread().name}")
        self.state.level += by

    def inference(self):
        while True:
            yield frame_of(0, self.state.level)


async def test_pipeline_hooks_and_events_run_between_steps():
    runner = make(Hooked)
    await runner.start_session(Recorder())
    assert runner.model.log == ["connected level=0"]
    assert await runner.command("bump", {"by": 2}) == []
    assert await runner.command("bump", {"by": 2}) == []  # deduped: same payload again
    assert await runner.command("bump", {"by": 3}) == []
    rejections = await runner.command("bump", {"by": 9})
    assert rejections[0].field == "by"
    frames = await take(runner, 20)
    await runner.stop_session()
    bumps = [entry for entry in runner.model.log if entry.startswith("bump")]
    assert [b.split(" on ")[0] for b in bumps] == ["bump 2", "bump 3"]
    assert all("reactor-driver" in b for b in bumps)
    assert int(frames[-1].data[0, 0, 2]) == 5
    assert runner.model.log[-1] == "disconnected"


class Note(ModelMessage):
    text: str


class Full(ReactorModel):
    """A ReactorModel: emits numbered frames, sends a message, answers events."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.made = 0
        self.log: list[str] = []
        self.fail_once = config.get("fail_once", False)

    @connected
    async def hello(self) -> None:
        self.log.append(f"connected {self.connected.is_set()}")

    @disconnected
    def bye(self) -> None:
        self.log.append("disconnected")

    @event(name="say")
    async def say(self, text: str = InputField(default="hi", max_length=5)) -> None:
        await self.send(Note(text))

    async def run(self) -> None:
        await self.send(Note("started"))
        while self.connected.is_set():
            if self.fail_once and self.made == 3:
                self.fail_once = False
                raise RuntimeError("model hiccup")
            await self.emit(Frame(main_video=frame_of(self.made, self.state.level)))
            self.made += 1


async def test_reactor_model_emits_sends_and_answers_events():
    recorder = Recorder()
    runner = make(Full, queue_frames=3)
    await runner.start_session(recorder)
    frames = await take(runner, 5)
    assert runner.model.made - len(frames) <= 3 + 1  # emit() waits while the queue is full
    assert await runner.command("say", {"text": "hey"}) == []
    assert (await runner.command("say", {"text": "too long"}))[0].field == "text"
    assert await runner.command("set_level", {"level": 4}) == []
    frames += await take(runner, 10)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == list(range(15))
    assert int(frames[-1].data[0, 0, 2]) == 4
    apps = [e["data"] for e in recorder.envelopes if e["scope"] == "application"]
    assert {"type": "note", "data": {"text": "started"}} in apps
    assert {"type": "note", "data": {"text": "hey"}} in apps
    assert runner.model.log == ["connected True", "disconnected"]
    assert not runner.model.connected.is_set()


async def test_reactor_model_error_is_reported_and_run_restarted():
    recorder = Recorder()
    runner = make(Full, {"fail_once": True})
    await runner.start_session(recorder)
    frames = await take(runner, 8)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == list(range(8))
    (error,) = recorder.errors()
    assert "RuntimeError: model hiccup" in error["message"]
    assert error["restarts_left"] == 2


async def test_send_and_emit_outside_a_session_are_clear_errors():
    model = Full()
    model.load({})
    Runner(model)
    with pytest.raises(RuntimeError, match="session"):
        await model.emit(Frame(main_video=frame_of(0, 0)))
    with pytest.raises(RuntimeError, match="session"):
        await model.send(Note("x"))


def test_runner_describes_tracks_and_schema():
    runner = make(Counter)
    assert [(t.name, t.kind) for t in runner.tracks] == [("main_video", "video")]
    assert runner.schema["openapi"] == "3.1.0"
    assert runner.schema["x-reactor"]["commands"] == ["set_level", "set_gain", "set_label"]
    assert runner.schema["info"]["title"] == "Counter"
    model = Counter()
    model.load({})
    assert Runner(model, name="counter-demo").schema["info"]["title"] == "counter-demo"


def test_runner_refuses_what_is_not_a_model():
    with pytest.raises(TypeError, match="ReactorPipeline or ReactorModel"):
        Runner(object())  # type: ignore[arg-type]


class SlowAsync(ReactorPipeline):
    """An async generator that awaits for a long time between frames."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.closed = False

    async def inference(self):
        try:
            yield frame_of(0, 0)
            await asyncio.sleep(60)
            yield frame_of(1, 0)
        finally:
            self.closed = True


async def test_stop_cancels_an_async_generator_that_is_awaiting():
    runner = make(SlowAsync)
    await runner.start_session(Recorder())
    assert len(await take(runner, 1)) == 1
    await asyncio.sleep(0.05)
    started = time.monotonic()
    await asyncio.wait_for(runner.stop_session(), timeout=5)
    assert time.monotonic() - started < 3
    assert runner.model.closed


class EmitsOnEvent(ReactorModel):
    """run() returns at once; frames come from an event handler."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.runs = 0

    async def run(self) -> None:
        self.runs += 1

    @event(name="shoot")
    async def shoot(self, n: int = InputField(default=1, ge=1, le=5)) -> None:
        for i in range(n):
            await self.emit(frame_of(i, 0))


async def test_reactor_model_whose_run_returns_keeps_its_session():
    recorder = Recorder()
    runner = make(EmitsOnEvent)
    await runner.start_session(recorder)
    await asyncio.sleep(0.05)
    assert runner.active
    assert await runner.command("shoot", {"n": 3}) == []
    frames = await take(runner, 3)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == [0, 1, 2]
    assert runner.model.runs == 1
    assert recorder.errors() == []


class Sluggish(ReactorPipeline):
    """Its second step takes 1 s; records how many steps ever ran at once."""

    state: CounterState

    def load(self, config: dict[str, Any]) -> None:
        self.running = 0
        self.most = 0
        self.lock = threading.Lock()

    def inference(self):
        i = 0
        while True:
            with self.lock:
                self.running += 1
                self.most = max(self.most, self.running)
            if i == 1:
                time.sleep(1.0)
            with self.lock:
                self.running -= 1
            yield frame_of(i, 0)
            i += 1


async def test_a_step_that_outlives_stop_is_waited_for_before_the_next_session():
    runner = make(Sluggish)
    runner.stop_timeout = 0.1
    await runner.start_session(Recorder())
    await take(runner, 1)
    await asyncio.sleep(0.1)  # the second step is now sleeping
    await asyncio.wait_for(runner.stop_session(), timeout=5)
    await runner.start_session(Recorder())
    frames = await take(runner, 3)
    await runner.stop_session()
    assert [counter_of(f) for f in frames] == [0, 1, 2]
    assert runner.model.most == 1


class NotAGenerator(ReactorPipeline):
    state: CounterState

    def inference(self):
        return [frame_of(0, 0)]


async def test_inference_that_is_not_a_generator_is_reported():
    recorder = Recorder()
    runner = make(NotAGenerator, max_restarts=0)
    await runner.start_session(recorder)
    assert [f async for f in runner.frames()] == []
    await runner.stop_session()
    (error,) = recorder.errors()
    assert "must be a generator" in error["message"]
    assert error["fatal"] is True


@pytest.mark.parametrize(
    ("step", "deviation", "fps", "batch", "lead"),
    [
        (0.0125, 0.0, 80, 1, 1),  # a steady step of one interval: the frame in hand covers it
        (0.0125, 0.001, 80, 1, 2),  # uneven steps keep more in hand
        (0.030, 0.0, 80, 1, 3),
        (0.5, 0.0, 30, 16, 15),  # a batch model: the frames of one step, from a 32-frame buffer
        (2.0, 0.0, 30, 1, 8),  # never more than the buffer
    ],
)
def test_the_next_step_starts_when_the_queued_frames_cover_it_and_no_sooner(
    step, deviation, fps, batch, lead
):
    driver = Driver(Counter(), tracks_for_model(Counter), lambda item: None, queue_frames=8)
    driver._largest_batch = batch
    assert driver._lead_frames() == max(8, 2 * batch)  # no playout rate yet: fill the buffer
    driver._step_time, driver._step_dev = step, deviation
    driver.set_playout_rate(fps)
    assert driver._lead_frames() == lead
