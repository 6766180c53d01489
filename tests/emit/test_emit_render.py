"""What the generated files say about the conversion: the wording follows what the analysis
found and what the rewrite did, not a fixed text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reactorc.analysis import explain
from reactorc.convert import build_files


def files_for(tmp_path: Path, source: str) -> dict[str, str]:
    """The files `reactorc convert pipe.py -o out` writes for `source`, in memory."""
    path = tmp_path / "pipe.py"
    path.write_text(textwrap.dedent(source))
    plan = explain(path)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    return build_files(plan, path, tmp_path / "out")


CLIPPED = """
    import numpy as np

    def generate(n: int = 4):
        frames = []
        for t in range(n):
            x = np.full((8, 8, 3), t / n)
            frames.append({frame})
        return frames
    """


@pytest.mark.parametrize(
    ("frame", "unit"),
    [("np.clip(x, 0, 1)", "frame"), ("np.clip(clip_frames, 0, 1)", "chunk")],
    ids=["np-clip-is-one-frame", "clip-frames-is-a-chunk"],
)
def test_the_wrapper_says_frame_by_frame_unless_the_frame_is_named_a_chunk(
    tmp_path: Path, frame: str, unit: str
) -> None:
    source = CLIPPED.format(frame=frame)
    if "clip_frames" in frame:
        source = source.replace("x = np.full", "clip_frames = np.full")
    wrapper = files_for(tmp_path, source)["pipe_stream.py"]
    other = "chunk" if unit == "frame" else "frame"
    assert f"One clip, {unit} by {unit};" in wrapper
    assert f"yield each {unit} as it is made" in wrapper
    assert f"{other} by {other}" not in wrapper
