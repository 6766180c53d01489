"""An OpenCV script: `cap = cv2.VideoCapture(path)`, `ok, frame = cap.read()` in a `while` loop,
the writer opened lazily at the first frame (`if writer is None: writer = cv2.VideoWriter(...)`).
Its wrapper reopens the capture every clip, reads the client's camera where the script reads
the capture (in BGR, as OpenCV reads), streams the frames as RGB and never opens the writer.

cv2 is not a dependency: a stand-in module beside the pipeline (a capture of counter-coded BGR
frames, a writer that records that it was opened) keeps the test on the pattern."""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from emit_helpers import wrapper_class
from reactor import InputBuffer, InputFrame

from reactorc.analysis import explain
from reactorc.convert import build_files

FAKE_CV2 = '''
import numpy as np

CAP_PROP_FPS = 5
opened_writers = []


def VideoWriter_fourcc(*chars):
    return 0


class VideoCapture:
    """Four 6x8 BGR frames: blue = 10 * index, green 100, red 200."""

    def __init__(self, path):
        self.path = path
        self.index = 0

    def isOpened(self):
        return True

    def get(self, prop):
        return 30.0

    def read(self):
        if self.index >= 4:
            return False, None
        frame = np.zeros((6, 8, 3), np.uint8)
        frame[..., 0] = 10 * self.index
        frame[..., 1] = 100
        frame[..., 2] = 200
        self.index += 1
        return True, frame

    def release(self):
        pass


class VideoWriter:
    def __init__(self, path, fourcc, fps, size):
        opened_writers.append(path)

    def write(self, frame):
        pass

    def release(self):
        pass
'''

SCRIPT = '''
"""Brighten a video with OpenCV."""

import argparse

import cv2
import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--input", default="input.mp4")
    parser.add_argument("--output", default="out.mp4")
    parser.add_argument("--gain", type=float, default=1.0)
    args = parser.parse_args()
    cap = cv2.VideoCapture(args.input)
    fps = cap.get(cv2.CAP_PROP_FPS)
    writer = None
    while cap.isOpened():
        ok, frame = cap.read()
        if not ok:
            break
        out = np.clip(frame.astype(np.float32) * args.gain, 0, 255).astype(np.uint8)
        if writer is None:
            h, w = out.shape[:2]
            writer = cv2.VideoWriter(args.output, cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        writer.write(out)
    cap.release()
    writer.release()


if __name__ == "__main__":
    main()
'''


@pytest.fixture
def converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "cv2.py").write_text(textwrap.dedent(FAKE_CV2))
    path = tmp_path / "brighten.py"
    path.write_text(textwrap.dedent(SCRIPT).lstrip())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cv2", raising=False)
    plan = explain(path)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    out = tmp_path / "out"
    out.mkdir()
    for name, text in build_files(plan, path, out, "reactor").items():
        (out / name).write_text(text)
    cls = wrapper_class(out)
    model = cls()
    model.load({"input": "input.mp4", "output": "out.mp4", "gain": 1.0})
    yield plan, out, cls, model, importlib.import_module("cv2")
    sys.modules.pop(cls.__module__, None)


def _clip(model) -> list[np.ndarray]:
    return [o.main_video for o in model.inference()]


def test_the_capture_read_is_the_camera_read_and_the_writer_sink_is_bgr(converted) -> None:
    plan, out, *_ = converted
    camera = plan.frame_loop.camera
    assert (camera.kind, camera.clip, camera.expr) == ("read", "cap", "frame")
    text = (out / "brighten_stream.py").read_text()
    assert "frame = self.camera_frame(frame, bgr=True)" in text
    assert "to_video(out, bgr=True)" in text
    assert "VideoWriter(" not in text.split("def inference", 1)[1]  # the writer is never opened


def test_each_clip_reopens_the_capture_and_streams_its_frames_as_rgb(converted) -> None:
    _, _, _, model, cv2 = converted
    first, second = _clip(model), _clip(model)
    assert len(first) == len(second) == 4  # a capture consumed by one clip is opened again
    for index, frame in enumerate(first):
        assert frame.shape == (1, 6, 8, 3)
        # RGB on the wire: red 200, green 100, blue 10 * index (the capture's BGR reversed)
        assert frame[0, 0, 0].tolist() == [200, 100, 10 * index]
    assert cv2.opened_writers == []  # nothing was written to disk


def test_a_live_option_changes_the_next_frame(converted) -> None:
    _, _, _, model, _ = converted
    frames = model.inference()
    assert next(frames).main_video[0, 0, 0].tolist() == [200, 100, 0]
    model.state.gain = 0.5
    assert next(frames).main_video[0, 0, 0].tolist() == [100, 50, 5]
    frames.close()


def test_the_clients_camera_replaces_the_capture_in_bgr_and_comes_back_as_sent(
    converted,
) -> None:
    _, _, cls, model, _ = converted
    module = sys.modules[cls.__module__]
    buffer = InputBuffer("camera")
    model.media = module.CameraInput(camera=buffer)
    sent = np.zeros((12, 16, 3), np.uint8)
    sent[..., 0], sent[..., 1], sent[..., 2] = 30, 60, 90  # RGB from the browser
    buffer.push(InputFrame(sent))
    frames = _clip(model)
    assert len(frames) == 4  # the capture still paces the clip
    for frame in frames:
        assert frame.shape == (1, 6, 8, 3)  # resized to the capture's frame size
        assert frame[0, 0, 0].tolist() == [30, 60, 90]  # BGR for the script, RGB on the wire
