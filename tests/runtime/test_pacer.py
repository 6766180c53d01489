"""The pacer's rules, on a fake clock: fixed and adaptive rates, batches, stalls, 90 kHz pts."""

from __future__ import annotations

import itertools

import pytest
from reactor._pacer import (
    JITTER_BUDGET,
    MAX_DRIFT_SECONDS,
    MAX_FPS,
    MIN_FPS,
    PTS_CLOCK,
    PacerState,
    Slot,
    pace,
    start,
)


def head_start(fps: float) -> float:
    return min(JITTER_BUDGET, 0.5 / fps)


def run(
    state: PacerState, batches: list[tuple[float, int, float]]
) -> tuple[PacerState, list[Slot]]:
    """Feed (now, frames, step_time) batches; return the final state and every slot."""
    slots: list[Slot] = []
    for now, frames, step_time in batches:
        state, got = pace(state, now=now, frames=frames, step_time=step_time)
        slots.extend(got)
    return state, slots


@pytest.mark.parametrize(
    ("fps", "batches", "dues", "pts"),
    [
        # fixed 30 fps, one frame per yield, arriving on time
        (
            30,
            [(0.0, 1, 0.01), (0.01, 1, 0.01), (0.05, 1, 0.01)],
            [0, 1 / 30, 2 / 30],
            [0, 3000, 6000],
        ),
        # fixed 10 fps: a batch of 4 is spread at 0.1 s
        (10, [(1.0, 4, 0.01)], [1.0, 1.1, 1.2, 1.3], [0, 9000, 18000, 27000]),
        # fixed rate ignores the step time entirely
        (25, [(0.0, 2, 5.0)], [0.0, 0.04], [0, 3600]),
        # frames arriving early queue up behind earlier ones instead of all at once
        (20, [(0.0, 1, 0), (0.0, 1, 0), (0.0, 1, 0)], [0.0, 0.05, 0.1], [0, 4500, 9000]),
    ],
)
def test_fixed_rate_schedule(fps, batches, dues, pts):
    _, slots = run(start(fps), batches)
    assert [s.due - head_start(fps) for s in slots] == pytest.approx(dues)
    assert [s.pts for s in slots] == pts


@pytest.mark.parametrize(
    ("frames", "step_time", "rate"),
    [
        (1, 0.1, 10.0),  # one frame per 100 ms yield
        (4, 0.1, 40.0),  # a batch of 4 per 100 ms: 40 fps, each frame 25 ms apart
        (1, 0.0, MAX_FPS),  # instant steps are clamped to the top
        (1, 0.001, MAX_FPS),
        (1, 5.0, MIN_FPS),  # a very slow model is clamped to the bottom
    ],
)
def test_adaptive_rate_is_frames_per_yield_over_time_per_yield_clamped(frames, step_time, rate):
    state, slots = pace(start(None), now=0.0, frames=frames, step_time=step_time)
    assert state.rate == pytest.approx(rate)
    if frames > 1:
        gaps = [b.due - a.due for a, b in itertools.pairwise(slots)]
        assert gaps == pytest.approx([1 / rate] * (frames - 1))


def test_adaptive_rate_is_smoothed_not_jumping():
    state, _ = pace(start(None), now=0.0, frames=1, step_time=0.1)  # 10 fps
    state, _ = pace(state, now=0.1, frames=1, step_time=0.05)  # one fast step: 20 fps observed
    assert 10.0 < state.rate < 20.0
    for i in range(40):
        state, _ = pace(state, now=0.2 + i * 0.05, frames=1, step_time=0.05)
    assert state.rate == pytest.approx(20.0, rel=1e-3)


def test_fixed_fps_is_clamped_and_must_be_positive():
    assert start(1000).fixed_fps == MAX_FPS
    with pytest.raises(ValueError):
        start(0)
    with pytest.raises(ValueError):
        pace(start(30), now=0.0, frames=0, step_time=0.1)


def test_first_frame_waits_a_small_head_start():
    _, slots = pace(start(30), now=5.0, frames=1, step_time=0.01)
    assert slots[0].due == pytest.approx(5.0 + JITTER_BUDGET)
    _, slots = pace(start(120), now=5.0, frames=1, step_time=0.01)
    assert slots[0].due == pytest.approx(5.0 + 0.5 / 120)  # never more than half an interval


def test_stall_reanchors_instead_of_bursting():
    state, first = run(start(30), [(0.0, 1, 0.01), (0.03, 1, 0.01)])
    # The model stalls for a second; the next frame is due now, not 29 intervals in the past.
    state, slots = pace(state, now=1.5, frames=3, step_time=0.01)
    assert state.reanchors == 1
    due = 1.5 + JITTER_BUDGET
    assert [s.due for s in slots] == pytest.approx([due, due + 1 / 30, due + 2 / 30])
    # The pts jump by the real gap (a pause on screen), then continue at the rate.
    assert slots[0].pts == first[-1].pts + round((due - first[-1].due) * PTS_CLOCK)
    assert slots[1].pts - slots[0].pts == 3000


def test_small_lateness_within_one_interval_keeps_the_schedule():
    state, first = pace(start(10), now=0.0, frames=1, step_time=0.01)
    state, slots = pace(state, now=0.15, frames=1, step_time=0.01)  # 35 ms late, < 100 ms
    assert state.reanchors == 0
    assert slots[0].due == pytest.approx(first[0].due + 0.1)


@pytest.mark.parametrize(("arrives", "longer"), [("late", True), ("early", False)])
def test_adaptive_playout_drifts_gently_towards_its_head_start(arrives, longer):
    state, _ = pace(start(None), now=0.0, frames=1, step_time=0.02)  # 50 fps
    now = state.next_due + (0.005 if arrives == "late" else -0.018)
    state, slots = pace(state, now=now, frames=2, step_time=0.04)
    gap = slots[1].due - slots[0].due
    if longer:
        assert 0.02 < gap <= 0.02 + MAX_DRIFT_SECONDS + 1e-9
    else:
        assert 0.02 - MAX_DRIFT_SECONDS - 1e-9 <= gap < 0.02


def test_fixed_rate_never_drifts():
    state, first = pace(start(50), now=0.0, frames=1, step_time=0.02)
    state, slots = pace(state, now=first[0].due, frames=2, step_time=0.04)
    assert slots[1].due - slots[0].due == pytest.approx(0.02)


def test_model_slightly_slower_than_its_estimate_never_stalls_playout():
    """A model reporting 30 fps but delivering 0.3 % less: the head start is kept, not drained."""
    state = start(None)
    cycle = 1 / (30 * 0.997)
    late = 0
    for k in range(2000):
        now = k * cycle
        previous_due = state.next_due
        state, _slots = pace(state, now=now, frames=1, step_time=1 / 30)
        if previous_due is not None and now > previous_due:
            late += 1
    assert state.reanchors == 0
    assert late == 0


@pytest.mark.parametrize("fps", [None, 1, 29.97, 30, 60, 120])
def test_pts_strictly_increase_and_dues_never_go_back(fps):
    state = start(fps)
    now = 0.0
    all_slots: list[Slot] = []
    pattern = [(1, 0.02), (4, 0.1), (16, 0.2), (1, 0.0), (2, 3.0), (1, 0.033)]
    for i in range(60):
        frames, step = pattern[i % len(pattern)]
        now += step if i % 7 else step + 2.0  # a stall every 7th yield
        state, slots = pace(state, now=now, frames=frames, step_time=step)
        all_slots.extend(slots)
    pts = [s.pts for s in all_slots]
    dues = [s.due for s in all_slots]
    assert all(b > a for a, b in itertools.pairwise(pts))
    assert all(b >= a for a, b in itertools.pairwise(dues))
    assert len(all_slots) == sum(pattern[i % len(pattern)][0] for i in range(60))


def test_pts_follow_the_rate_at_90khz():
    _, slots = run(start(60), [(i / 60, 1, 0.001) for i in range(120)])
    assert slots[-1].pts == 119 * 1500
    assert slots[-1].due == pytest.approx(119 / 60 + head_start(60))
