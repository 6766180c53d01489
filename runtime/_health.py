"""What `GET /health` says about a served model: ready, loading, busy or stuck, with a reason,
and how its memory moves from clip to clip.

The state is worked out when asked, from facts the server already has (is the model still
loading, is a client streaming, how long has the model's current step been running), so it can
never disagree with what the server does with the next `start_session`.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from reactor._metrics import resident_bytes

Status = Literal["loading", "ready", "busy", "stuck"]

LEAK_BYTES_PER_CLIP = 1024 * 1024
"""Memory growing by more than this per clip, steadily, is reported as a likely leak."""
LEAK_MIN_CLIPS = 6
"""...once measured over at least this many clips."""


@dataclass(frozen=True)
class Health:
    """The model's state for `/health` and for refusing `start_session`."""

    status: Status
    reason: str
    retry_after: float = 1.0
    """What a refused client is told to wait before trying again."""

    @property
    def http_status(self) -> int:
        """503 while no client can be served (loading, stuck); 200 otherwise."""
        return 503 if self.status in ("loading", "stuck") else 200

    @property
    def refuses_sessions(self) -> bool:
        return self.status in ("loading", "stuck")


def assess(
    *,
    loading_for: float | None,
    load_timeout: float | None,
    session: str | None,
    step_age: float | None,
    lingering: bool,
    ended: str | None,
    stuck_after: float,
) -> Health:
    """The state, most serious first: loading, stuck (a step outlived its session's end, or ran
    past `stuck_after`), busy (a client streams), ready.

    `loading_for`: seconds `load()` has run (None once loaded); `step_age`: seconds the model's
    current step has run (None between steps); `lingering`: a step is running with no session;
    `ended`: the last ended session's id.
    """
    if loading_for is not None:
        limit = f"; the limit is {load_timeout:g} s" if load_timeout else ""
        return Health("loading", f"the model is loading ({loading_for:.0f} s so far{limit})", 5.0)
    if lingering:
        age = f" has been running for {step_age:.1f} s and" if step_age is not None else ""
        when = f"session {ended} ended" if ended else "its session ended"
        return Health(
            "stuck",
            f"the model's last step{age} did not return when {when}; a new session can start "
            "once it returns (one that never returns needs the server restarted)",
            2.0,
        )
    if step_age is not None and step_age > stuck_after:
        return Health(
            "stuck",
            f"the model's current step has been running for {step_age:.0f} s, longer than the "
            f"{stuck_after:g} s a step may take; session {session} gets no frames meanwhile",
            5.0,
        )
    if session is not None:
        return Health("busy", f"a client is streaming (session {session}); one at a time")
    return Health("ready", "ready for a client")


# -------------------------------------------------------------------------------------------------
# Memory per clip


def _load_trim() -> Callable[[int], int] | None:
    try:
        import ctypes
        import ctypes.util

        name = ctypes.util.find_library("c")
        libc = ctypes.CDLL(name) if name else None
        return getattr(libc, "malloc_trim", None)
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_trim() if sys.platform.startswith("linux") else None


def collect_session_garbage() -> None:
    """After a session: collect its cyclic garbage now. aiortc's peer, transports and codec
    contexts refer to each other, and a codec's native threads and buffers live as long as
    its context; left to the collector's own schedule they stay for many sessions (RSS and
    threads then climb for the first hundred or so sessions before they level off). Call on
    the event loop's thread: finalizers of asyncio objects may run."""
    gc.collect()


def return_freed_memory() -> bool:
    """Hand the C heap's freed pages back to the system (glibc's malloc_trim), so resident
    memory follows what the server uses rather than the most it ever used (a session's
    buffers come and go through several threads' heaps). The call releases the GIL: run it
    on a worker thread. False where there is no malloc_trim."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


def gpu_bytes() -> int | None:
    """GPU memory the model's torch tensors hold now, if the model uses CUDA through torch.

    torch is looked up, never imported: a model that does not use it costs nothing, and one
    that has not touched CUDA is not made to initialise it.
    """
    torch: Any = sys.modules.get("torch")
    if torch is None:
        return None
    try:
        cuda = torch.cuda
        if not cuda.is_initialized():
            return None
        return int(sum(cuda.memory_allocated(d) for d in range(cuda.device_count())))
    except Exception:
        return None


def _slope(points: list[tuple[int, int]]) -> float:
    """Least-squares growth per clip of (clip, bytes) points."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / var


class ClipMemory:
    """Process memory (and GPU memory, with torch on CUDA) as each clip starts; growth per clip
    over the last `window` clips. The first clip is left out: it pays for warm-up (caches,
    CUDA context, allocator pools), not for a leak."""

    def __init__(
        self,
        window: int = 12,
        *,
        rss: Callable[[], int | None] = resident_bytes,
        gpu: Callable[[], int | None] = gpu_bytes,
    ) -> None:
        self.window = window
        self._rss = rss
        self._gpu = gpu
        self._lock = threading.Lock()
        self.clips = 0
        self._samples: dict[str, deque[tuple[int, int]]] = {
            "rss": deque(maxlen=window),
            "gpu": deque(maxlen=window),
        }

    def clip_started(self) -> None:
        """Called as a clip starts (on the model's thread, for a pipeline)."""
        values = {"rss": self._rss(), "gpu": self._gpu()}
        with self._lock:
            self.clips += 1
            if self.clips == 1:
                return
            for kind, value in values.items():
                if value is not None:
                    self._samples[kind].append((self.clips, value))

    def growth(self, kind: str) -> tuple[float, int] | None:
        """(bytes per clip, clips measured) for "rss" or "gpu"; None with fewer than 3 clips."""
        with self._lock:
            points = list(self._samples[kind])
        if len(points) < 3:
            return None
        return _slope(points), len(points)

    def report(self) -> dict[str, Any]:
        """`/health`'s `memory` part."""
        out: dict[str, Any] = {"clips": self.clips, "rss_bytes": self._rss()}
        for kind in ("rss", "gpu"):
            found = self.growth(kind)
            out[f"{kind}_growth_per_clip_bytes"] = round(found[0]) if found else None
            out[f"{kind}_clips_measured"] = found[1] if found else 0
        gpu = self._gpu()
        if gpu is not None:
            out["gpu_bytes"] = gpu
        return out

    def warnings(self) -> list[str]:
        """A line per kind of memory growing steadily from clip to clip."""
        out = []
        for kind, label in (("rss", "process memory (RSS)"), ("gpu", "GPU memory")):
            found = self.growth(kind)
            if found is None:
                continue
            slope, clips = found
            if clips >= LEAK_MIN_CLIPS and slope > LEAK_BYTES_PER_CLIP:
                out.append(
                    f"{label} grows by {slope / 1e6:.1f} MB per clip over the last {clips} "
                    "clips: the model may keep something from each clip (a leak)"
                )
        return out
