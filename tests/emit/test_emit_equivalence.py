"""Every convertible fixture's generated wrapper, run through the runtime's Runner, against the
original pipeline: one clip at the default state equals the original's frames; each live field
changed mid-clip changes the frames that follow within that clip; a restart field changed
mid-clip leaves that clip alone and shapes the next one.

Tolerance: integer (uint8) originals must match exactly. Float originals are compared after
the wrapper's own conversion (`to_video`: FLOAT_RANGE 0..1 -> 0..255, rounded) is applied to
the original's floats, within 1 level of 255: the fixtures' float tolerance (<= 1e-5) can move
a value across a rounding boundary, never further.
"""

from __future__ import annotations

import numpy as np
import pytest
from emit_helpers import (
    GOLDEN,
    as_video,
    collect,
    convertible,
    reference,
    wire_value,
    wrapper_model,
)

FIXTURES = convertible()
LIVE = [(fx, f, v) for fx in FIXTURES for f, v in fx.live_changes.items()]
RESTART = [(fx, f, v) for fx in FIXTURES for f, v in fx.restart_changes.items()]


def _tolerance(fx) -> int:
    return 0 if fx.output is not None and fx.output.dtype == "uint8" else 1


def _max_diff(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape, f"{a.shape} != {b.shape}"
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_one_clip_at_default_state_equals_the_original(fx) -> None:
    original = reference(fx)
    with wrapper_model(GOLDEN / fx.name, fx) as model:
        frames = collect(model, original.shape[0], queue_frames=8)
        expected = as_video(model, original)
    diff = _max_diff(frames, expected)
    if not fx.equivalent:  # a post-loop step reduces over the whole clip (RC301)
        assert diff > _tolerance(fx)
        return
    assert diff <= _tolerance(fx)


@pytest.mark.parametrize(
    ("fx", "field", "value"), LIVE, ids=[f"{fx.name}-{f}" for fx, f, _ in LIVE]
)
def test_a_live_field_changed_mid_clip_changes_the_following_frames(fx, field, value) -> None:
    length = reference(fx).shape[0]
    with wrapper_model(GOLDEN / fx.name, fx) as model:
        baseline = collect(model, length)
        changed = collect(model, length, [(1, field, wire_value(fx, field, value))])
    assert np.array_equal(changed[:2], baseline[:2])  # sent after frame 1: frames 0-1 were made
    assert not np.array_equal(changed[2:], baseline[2:]), f"{field} changed nothing in the clip"


@pytest.mark.parametrize(
    ("fx", "field", "value"), RESTART, ids=[f"{fx.name}-{f}" for fx, f, _ in RESTART]
)
def test_a_restart_field_applies_at_the_next_clip(fx, field, value) -> None:
    first = reference(fx)
    second = reference(fx, **{field: value})
    with wrapper_model(GOLDEN / fx.name, fx) as model:
        frames = collect(model, len(first) + len(second), [(1, field, value)])
        expected = np.concatenate([as_video(model, first), as_video(model, second)])
    tolerance = _tolerance(fx) if fx.equivalent else 255
    assert _max_diff(frames[: len(first)], expected[: len(first)]) <= tolerance
    assert _max_diff(frames[len(first) :], expected[len(first) :]) <= tolerance
