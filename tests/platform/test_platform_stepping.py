"""The step form (`--target reactor-app`) is the generator form split into a state machine, and
must make exactly the same frames: for every fixture the analysis accepts (found at test time,
so fixtures added later are covered), the generated ReactorApp stepped by hand (stepping.py)
yields the frames the generator form yields, under the fixture's own state changes, across a
clip boundary. The runtime's classes here are this project's; test_platform_runtimes.py does
the same against reactor-runtime 3.10 itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from platform_helpers import (
    ROOT,
    convert_both,
    load_config,
    pipelines,
    state_changes,
)
from stepping import app_frames, compare, model_class

from reactorc.analysis import explain
from reactorc.convert import ConvertError


@pytest.mark.parametrize("pipeline", pipelines(), ids=lambda p: p.parent.name)
def test_the_stepped_app_yields_exactly_the_generator_forms_frames(
    pipeline: Path, tmp_path: Path
) -> None:
    plan = explain(pipeline)
    if not plan.ok:
        codes = ", ".join(sorted({d.code for d in plan.diagnostics if d.severity == "error"}))
        pytest.skip(f"the analysis refuses {pipeline.parent.name} ({codes})")
    try:
        generator, app = convert_both(plan, pipeline, tmp_path, "reactor")
    except ConvertError as exc:
        found = "; ".join(d.format() for d in exc.diagnostics)
        pytest.fail(f"{exc.message}: {found}")
    changes = state_changes(pipeline, plan)
    result = compare(generator, app, load_config(pipeline, app, tmp_path), changes)
    assert result["outputs"] >= 3, result  # enough steps for the changes to land mid-run
    assert result["equal"], result


SEED = ROOT / "fixtures" / "seed" / "pipeline.py"
CHUNKED = ROOT / "fixtures" / "chunked_video_model" / "pipeline.py"


def _app(pipeline: Path, tmp: Path) -> object:
    plan = explain(pipeline)
    _, folder = convert_both(plan, pipeline, tmp, "reactor")
    app = model_class(folder)()
    app.load(load_config(pipeline, folder, tmp))
    return app


def test_a_live_field_applies_from_the_next_step(tmp_path: Path) -> None:
    app = _app(SEED, tmp_path)
    base = app_frames(app, [], 8)
    changed = app_frames(app, [(3, "guidance_scale", 2.0)], 8)
    for i in range(3):
        assert np.array_equal(base[i], changed[i])
    assert all(not np.array_equal(base[i], changed[i]) for i in range(3, 8))


def test_a_restart_field_applies_when_the_next_clip_starts(tmp_path: Path) -> None:
    app = _app(SEED, tmp_path)
    default = app_frames(app, [], 16)  # one clip: num_frames is 16
    restart = [(0, "num_frames", 4), (0, "seed", 1)]
    other = app_frames(app, restart, 4)  # a clip started with the new values
    assert not np.array_equal(other[0], default[0])
    sent = app_frames(app, [(2, name, value) for _, name, value in restart], 16 + 4 + 1)
    assert all(np.array_equal(a, b) for a, b in zip(default, sent[:16], strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(other, sent[16:20], strict=True))
    assert np.array_equal(sent[20], other[0])  # the new clip was 4 frames long


def test_a_new_session_starts_a_new_clip(tmp_path: Path) -> None:
    app = _app(SEED, tmp_path)
    first = app_frames(app, [], 5)
    again = app_frames(app, [], 2)  # app_frames starts a session: the clip is dropped
    assert np.array_equal(first[0], again[0])
    assert not np.array_equal(first[4], again[1])


def test_a_chunk_per_iteration_is_returned_as_one_batch(tmp_path: Path) -> None:
    app = _app(CHUNKED, tmp_path)
    outputs = app_frames(app, [], 3)
    assert [o.shape for o in outputs] == [(4, 32, 32, 3)] * 3


CONTROL = """
import numpy as np


class Control:
    def __call__(self, num_frames: int = 12, level: int = 3):
        frames = []
        acc = 0
        k = 0
        while k < num_frames:
            k += 1
            if k % 3 == 0:
                continue
            acc += level
            if acc > 20:
                break
            frames.append(np.full((4, 4, 3), acc, np.uint8))
        return np.stack(frames)
"""

NESTED = """
import numpy as np
import torch


class Nested:
    def __call__(self, num_frames: int = 5, level: int = 3):
        frames = []
        total = 0
        with torch.no_grad():
            base = torch.zeros(4, 4, 3)
            for i in range(num_frames):
                for _ in range(2):
                    total += 1
                if i == 0:
                    shade = np.full((4, 4, 3), 7, np.uint8)
                base = base + level
                frames.append(base.numpy().astype(np.uint8) + shade + total)
        return np.stack(frames)
"""


@pytest.mark.parametrize(
    ("name", "source", "changes"),
    [
        ("control", CONTROL, [(2, "level", 5)]),
        ("nested", NESTED, [(1, "num_frames", 3), (2, "level", 9)]),
    ],
)
def test_loop_control_nested_with_and_conditional_bindings_step_exactly(
    name: str, source: str, changes: list, tmp_path: Path
) -> None:
    """`continue` ends a step without a frame, `break` ends the clip, a `with` around the loop
    is entered around every step, a variable bound in one iteration and read in later ones
    (`shade`) and one only updated in an inner loop (`total`) are carried."""
    pipeline = tmp_path / f"{name}.py"
    pipeline.write_text(source)
    plan = explain(pipeline)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    generator, app = convert_both(plan, pipeline, tmp_path, "reactor")
    result = compare(generator, app, {}, changes)
    assert result["equal"], result
    assert result["outputs"] >= 4, result
