"""A wrapper whose original reads an input clip frame by frame reads the client's camera there
instead: shaped like the clip's own frame, the clip's frame while no client sends one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from emit_helpers import GOLDEN, wrapper_class
from reactor import InputBuffer, InputFrame

FOLDER = GOLDEN / "video_stylization_img2img"
CONFIG = {"seed": 0, "size": 32}


def _module(folder=FOLDER):
    import sys

    return sys.modules[wrapper_class(folder).__module__]


def _frames(model, count: int) -> list[np.ndarray]:
    gen = model.inference()
    out = [next(gen).main_video for _ in range(count)]
    gen.close()
    return out


def test_the_wrapper_declares_a_camera_track_where_the_clip_was_read() -> None:
    module = _module()
    assert [t.name for t in module.CameraInput.tracks()] == ["camera"]
    assert "frame = self.camera_frame(frame)" in (FOLDER / "pipeline_stream.py").read_text()


def test_without_a_camera_the_clip_plays_and_with_one_its_frames_are_used() -> None:
    cls = wrapper_class(FOLDER)
    module = _module()
    model = cls()
    model.load(dict(CONFIG))
    clip_only = _frames(model, 3)  # headless: no media bound at all
    buffer = InputBuffer("camera")
    model.media = module.CameraInput(camera=buffer)
    assert np.array_equal(np.stack(_frames(model, 3)), np.stack(clip_only))  # not sending yet
    buffer.push(InputFrame(np.full((48, 64, 3), 230, np.uint8)))
    with_camera = _frames(model, 3)
    assert with_camera[0].shape == clip_only[0].shape  # resized to the clip's frame size
    assert not np.array_equal(with_camera[0], clip_only[0])
    # no new frame: the last one stands for it, the clip does not come back mid-stream
    assert not np.array_equal(with_camera[2], clip_only[2])


@pytest.mark.parametrize(
    ("ref", "check"),
    [
        (torch.zeros(3, 8, 8) - 1.0, lambda out: out.shape == (3, 8, 8) and out.max() == 1.0),
        (torch.zeros(1, 3, 4, 6), lambda out: out.shape == (1, 3, 4, 6) and out.max() == 1.0),
        (np.zeros((8, 8, 3), np.uint8), lambda out: out.dtype == np.uint8 and out.max() == 255),
        (np.zeros((5, 7, 3), np.float32) + 200, lambda out: out.max() == 255.0),
    ],
    ids=["chw-minus-one-to-one", "batch-of-one", "hwc-uint8", "float-0-255"],
)
def test_like_matches_the_clips_layout_dtype_range_and_size(ref, check) -> None:
    like = _module().like
    image = np.full((16, 16, 3), 255, np.uint8)
    out = like(image, ref)
    assert type(out) is type(ref)
    assert out.dtype == ref.dtype
    assert check(out)


def test_like_keeps_the_clips_frame_when_it_holds_several() -> None:
    like = _module().like
    ref = torch.zeros(4, 3, 8, 8)
    assert like(np.zeros((8, 8, 3), np.uint8), ref) is ref
