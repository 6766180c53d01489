"""Pacing: when each produced frame is played out, and its 90 kHz presentation time.

A pure function over a small frozen state, driven by a monotonic clock the caller passes in, so
the rules are unit-tested with a fake clock. Rules: a fixed rate when the model (or the user)
sets `fps`; otherwise the rate adapts to the model (frames per yield / time per yield, smoothed,
clamped, and nudged by at most 5 % / 0.5 ms to keep a small head start); the N frames of a batch are
spread evenly; playout starts a little (at most 15 ms) after the first frame arrives, to absorb
the model's jitter; when it falls behind by more than one interval it re-anchors at the present
instead of bursting to catch up; pts never go backwards.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

PTS_CLOCK = 90_000
"""RTP/MPEG video clock: ticks per second of a frame's presentation time."""

MIN_FPS = 1.0
MAX_FPS = 120.0
SMOOTHING = 0.3
"""Weight of the newest rate observation in the moving average (EWMA)."""
JITTER_BUDGET = 0.015
"""Seconds of head start playout keeps (at most half an interval) so a model's jitter does not
show as uneven frame intervals; the price is that much more latency on the first frame."""
DRIFT_GAIN = 0.05
MAX_DRIFT = 0.05
MAX_DRIFT_SECONDS = 0.0005
"""An adaptive pacer plays up to 5 % (and at most 0.5 ms per frame) slower or faster than its
estimate to keep batches arriving about `JITTER_BUDGET` ahead of their due time, so a small error
in the estimate neither drains the head start (late, uneven frames) nor builds a backlog."""


@dataclass(frozen=True)
class Slot:
    """When one frame is due (monotonic seconds) and its presentation time (90 kHz ticks)."""

    due: float
    pts: int


@dataclass(frozen=True)
class PacerState:
    """Where playout stands: the next frame's due time and pts, and the current rate."""

    fixed_fps: float | None = None
    rate: float | None = None
    """Frames per second in use; None before the first batch of an adaptive pacer."""
    next_due: float | None = None
    next_pts: int = 0
    last_due: float | None = None
    last_pts: int = -1
    reanchors: int = 0


def clamp_fps(fps: float) -> float:
    """Keep a rate within what a player can show and a pacer can schedule."""
    return min(MAX_FPS, max(MIN_FPS, fps))


def start(fps: float | None = None) -> PacerState:
    """A fresh pacer: fixed at `fps` when given, otherwise adaptive."""
    if fps is not None and not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    return PacerState(fixed_fps=clamp_fps(fps) if fps is not None else None)


def observe_rate(state: PacerState, frames: int, step_time: float) -> float:
    """The rate to use for a batch of `frames` that took `step_time` seconds to make."""
    if state.fixed_fps is not None:
        return state.fixed_fps
    observed = MAX_FPS if step_time <= 0 else clamp_fps(frames / step_time)
    if state.rate is None:
        return observed
    return clamp_fps(SMOOTHING * observed + (1.0 - SMOOTHING) * state.rate)


def pace(
    state: PacerState, *, now: float, frames: int, step_time: float
) -> tuple[PacerState, tuple[Slot, ...]]:
    """Schedule a batch of `frames` that became available at `now`.

    `step_time` is how long the model took to produce the batch (used only when adaptive).
    Returns the new state and one `Slot` per frame, due times non-decreasing and pts strictly
    increasing across calls.
    """
    if frames < 1:
        raise ValueError(f"a batch has at least one frame, got {frames}")
    rate = observe_rate(state, frames, step_time)
    interval = 1.0 / rate
    reanchors = state.reanchors
    budget = min(JITTER_BUDGET, 0.5 * interval)
    if state.fixed_fps is None and state.next_due is not None and budget > 0:
        slack = state.next_due - now  # how early this batch came
        limit = min(MAX_DRIFT, MAX_DRIFT_SECONDS * rate)
        drift = max(-limit, min(limit, DRIFT_GAIN * (slack - budget) / budget))
        # Early (slack above budget): a little shorter intervals; late: a little longer.
        interval = min(1.0 / MIN_FPS, max(1.0 / MAX_FPS, interval * (1.0 - drift)))
    if state.next_due is None or state.last_due is None:
        due, pts = now + budget, state.next_pts
    elif now - state.next_due > interval:
        # Behind by more than one interval (a stall): start again from now. The pts jump by the
        # real gap so a player shows a pause instead of a sped-up catch-up.
        due = now + budget
        pts = state.last_pts + max(1, round((due - state.last_due) * PTS_CLOCK))
        reanchors += 1
    else:
        due, pts = state.next_due, state.next_pts
    slots: list[Slot] = []
    step_ticks = interval * PTS_CLOCK
    base_due, base_pts = due, pts
    last_pts = state.last_pts
    for i in range(frames):
        slot_pts = max(last_pts + 1, base_pts + round(i * step_ticks))
        slots.append(Slot(due=base_due + i * interval, pts=slot_pts))
        last_pts = slot_pts
    last = slots[-1]
    new_state = replace(
        state,
        rate=rate,
        next_due=last.due + interval,
        next_pts=max(last.pts + 1, base_pts + round(frames * step_ticks)),
        last_due=last.due,
        last_pts=last.pts,
        reanchors=reanchors,
    )
    return new_state, tuple(slots)
