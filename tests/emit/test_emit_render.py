"""What the generated files say about the conversion: the wording follows what the analysis
found and what the rewrite did, not a fixed text."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from reactorc.analysis import explain, explain_text
from reactorc.convert import build_files
from reactorc.rewrite import rewrite


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


NOT_OPENED = "Frames are streamed instead of written; the original's writer is not opened."
STILL_OPENED = "but the original's writer `{}` is still opened, as the original opens it"

# (source, Inference.writer, the README's note, the code that opens the writer in the original
# function or None): a removed writer's opening is gone from the wrapper, a kept one's is there
WRITER_CASES = [
    pytest.param(
        """
        import cv2

        def render(n: int = 3, path: str = "out.mp4"):
            writer = cv2.VideoWriter(path, 0, 24, (8, 8))
            for t in range(n):
                writer.write(draw(t))
            writer.release()
        """,
        "removed",
        NOT_OPENED,
        "cv2.VideoWriter(",
        id="opened-before-the-loop-is-removed-and-not-reopened-when-its-path-changes",
    ),
    pytest.param(
        """
        def render(n: int = 3):
            for t in range(n):
                with open(f"{t}.ppm", "wb") as fh:
                    fh.write(f"P6 8 8 255\\n".encode())
                    fh.write(draw(t).tobytes())
        """,
        "removed",
        NOT_OPENED,
        "open(",
        id="a-with-block-writing-a-header-and-the-frame-is-removed",
    ),
    pytest.param(
        """
        import cv2

        def render(n: int = 3, path: str = "out.mp4"):
            writer = cv2.VideoWriter(path, 0, 24, (8, 8))
            try:
                for t in range(n):
                    writer.write(draw(t))
            finally:
                writer.release()
        """,
        "kept",
        STILL_OPENED.format("writer"),
        "cv2.VideoWriter(",
        id="closed-in-finally-is-kept",
    ),
    pytest.param(
        """
        def render(n: int = 3):
            with open("out.rgb", "wb") as fh:
                for t in range(n):
                    fh.write(draw(t).tobytes())
                    print(fh.tell())
        """,
        "kept",
        STILL_OPENED.format("fh"),
        "open(",
        id="a-with-block-using-the-file-otherwise-is-kept",
    ),
    pytest.param(
        """
        import cv2

        class R:
            def __init__(self, path="out.mp4"):
                self.writer = cv2.VideoWriter(path, 0, 24, (8, 8))

            def render(self, n: int = 3):
                for t in range(n):
                    self.writer.write(draw(t))
        """,
        "kept",
        STILL_OPENED.format("self.writer"),
        None,
        id="opened-by-the-constructor-is-kept",
    ),
    pytest.param(
        """
        import cv2

        def render(n: int = 3):
            for t in range(n):
                cv2.imwrite(f"{t}.png", draw(t))
        """,
        "none",
        "Frames are streamed instead of written: the wrapper yields what went to `cv2.imwrite`.",
        None,
        id="a-function-that-writes-opens-no-writer",
    ),
]


@pytest.mark.parametrize(("source", "fate", "note", "opening"), WRITER_CASES)
def test_the_readme_says_whether_the_writer_is_still_opened(
    tmp_path: Path, source: str, fate: str, note: str, opening: str | None
) -> None:
    source = textwrap.dedent(source) + "\n\ndef draw(t):\n    return t\n"
    plan = explain_text(source, "pipe.py")
    assert rewrite(plan, source, "Out").writer == fate
    files = files_for(tmp_path, source)
    notes = [line for line in files["README.md"].splitlines() if "streamed instead" in line]
    assert len(notes) == 1 and note in notes[0]
    if opening is not None:
        assert (opening in files["pipe_stream.py"]) is (fate == "kept")


def test_the_readme_names_when_a_field_applies_with_the_words_explain_uses(
    tmp_path: Path,
) -> None:
    seed = Path(__file__).resolve().parents[2] / "fixtures" / "seed" / "pipeline.py"
    plan = explain(seed)
    readme = build_files(plan, seed, tmp_path / "out")["README.md"]
    rows = {
        line.split("|")[1].strip(" `"): line.split("|")[5].strip()
        for line in readme.splitlines()
        if line.startswith("| `")
    }
    assert rows == {f.name: f.liveness for f in plan.state}
    assert set(rows.values()) == {"live", "restart"}
    assert "next clip |" not in readme
