"""Watching a model that may hang: a `load()` that never returns, a step that never ends.

Python cannot stop a thread, so neither is killed: `load()` runs on a daemon thread of its own
and `reactor run` gives up on it after `load_timeout` (exit 1, with the reason), and a stuck
step is reported (`/health`, the client) and keeps new clients out with a 503 and the reason
instead of letting them wait on it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

from reactor._output import tracks_for_model
from reactor._schema import build_schema


class LoadTimeout(Exception):
    """The model's `load()` ran past the limit; the message says how long and which option."""


class ModelLoader:
    """Runs `load` (the model's constructor and `load()`) on a daemon thread and waits for it
    with a deadline; meanwhile the server answers `/health` with "loading"."""

    def __init__(
        self,
        load: Callable[[], Any],
        timeout: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self.timeout = timeout
        self._clock = clock
        self._started: float | None = None
        self._done = threading.Event()
        self._result: Any = None
        self._error: BaseException | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        self._started = self._clock()
        threading.Thread(target=self._run, name="reactor-load", daemon=True).start()

    def _run(self) -> None:
        try:
            self._result = self._load()
        except BaseException as exc:
            self._error = exc
        with self._lock:
            self._done.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_settle, future)

    @property
    def loading(self) -> bool:
        return self._started is not None and not self._done.is_set()

    def elapsed(self) -> float:
        return 0.0 if self._started is None else self._clock() - self._started

    async def wait(self) -> Any:
        """The loaded model; raises what `load` raised, or `LoadTimeout` at the deadline."""
        if self._started is None:
            self.start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        with self._lock:
            if self._done.is_set():
                future.set_result(None)
            else:
                self._waiters.append((loop, future))
        left = None if self.timeout is None else max(0.0, self.timeout - self.elapsed())
        try:
            await asyncio.wait_for(future, left)
        except TimeoutError:
            raise LoadTimeout(
                f"the model did not finish loading within {self.timeout:g} s (its load() is "
                "still running); --load-timeout sets how long loading may take"
            ) from None
        if self._error is not None:
            raise self._error
        return self._result


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class LoadingRunner:
    """What the server drives while the model loads: the model class's tracks, schema and rate
    (so `/schema` answers), and no sessions."""

    def __init__(self, model_class: type, *, fps: float | None, name: str | None) -> None:
        self.tracks = list(tracks_for_model(model_class))
        self.schema: dict[str, Any] = build_schema(model_class, tuple(self.tracks), name=name)
        self.fps = fps if fps is not None else getattr(model_class, "fps", None)

    async def start_session(self, send: Any, **_: Any) -> None:
        raise RuntimeError("the model is still loading")

    async def stop_session(self) -> None:
        return None

    async def frames(self) -> Any:  # pragma: no cover - never reached: no session starts
        raise RuntimeError("the model is still loading")
        yield

    async def command(self, name: str, data: dict[str, Any]) -> list[Any]:
        return []


class StepWatch:
    """Tells the server once when the model's current step runs past `stuck_after` seconds
    (and again for a later step that does)."""

    def __init__(self, stuck_after: float) -> None:
        self.stuck_after = stuck_after
        self._reported = False

    def overdue(self, step_age: float | None) -> bool:
        """True the first time a step's age passes the limit."""
        if step_age is None or step_age <= self.stuck_after:
            self._reported = False
            return False
        if self._reported:
            return False
        self._reported = True
        return True
