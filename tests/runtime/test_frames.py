"""Yielded values become per-track numpy frames; anything else is a TypeError naming what came."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from reactor import Audio, Output, Video
from reactor._output import TrackSpec, audio_chunk, split_output, video_batch


class Pair(Output):
    left: Video
    right: Video
    sound: Audio


PAIR_TRACKS = Pair.tracks()
ONE_VIDEO = (TrackSpec("main_video", "video"),)


def test_single_frame_becomes_a_batch_of_one():
    frame = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    batch = video_batch("main_video", frame)
    assert batch.shape == (1, 4, 5, 3)
    assert np.array_equal(batch[0], frame)


def test_batch_is_kept_and_made_contiguous():
    frames = np.zeros((3, 8, 6, 3), np.uint8)[:, :, ::2]
    batch = video_batch("v", frames)
    assert batch.shape == (3, 8, 3, 3)
    assert batch.flags.c_contiguous


def test_torch_tensor_is_accepted_and_copied_to_host():
    tensor = torch.full((2, 4, 4, 3), 7, dtype=torch.uint8)
    batch = video_batch("v", tensor)
    assert isinstance(batch, np.ndarray)
    assert batch.shape == (2, 4, 4, 3)
    assert int(batch[1, 3, 3, 2]) == 7


def test_torch_tensor_with_grad_history_is_detached():
    tensor = torch.zeros((4, 4, 3), requires_grad=True).to(torch.uint8)
    assert video_batch("v", tensor).shape == (1, 4, 4, 3)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.zeros((4, 4, 3), np.float32), "shape (4, 4, 3) dtype float32"),
        (np.zeros((4, 4), np.uint8), "shape (4, 4) dtype uint8"),
        (np.zeros((4, 4, 4), np.uint8), "shape (4, 4, 4) dtype uint8"),
        (np.zeros((1, 2, 4, 4, 3), np.uint8), "shape (1, 2, 4, 4, 3)"),
        (np.zeros((0, 4, 4, 3), np.uint8), "shape (0, 4, 4, 3)"),
        (torch.zeros((3, 4, 4)), "shape (3, 4, 4) dtype float32"),
        ([[1, 2, 3]], "a list"),
        ("frame", "a str"),
    ],
)
def test_wrong_frame_is_a_type_error_naming_track_shape_and_dtype(value, expected):
    with pytest.raises(TypeError) as info:
        video_batch("main_video", value)
    assert "track 'main_video'" in str(info.value)
    assert expected in str(info.value)


def test_audio_is_int16_channels_by_samples():
    chunk = audio_chunk("sound", np.zeros((2, 480), np.int16))
    assert chunk.shape == (2, 480)
    with pytest.raises(TypeError, match=r"track 'sound'.*shape \(480,\) dtype int16"):
        audio_chunk("sound", np.zeros(480, np.int16))
    with pytest.raises(TypeError, match="dtype float32"):
        audio_chunk("sound", np.zeros((1, 480), np.float32))


def test_output_splits_into_tracks_and_skips_missing_ones():
    out = Pair(left=np.zeros((2, 2, 3), np.uint8), sound=np.zeros((1, 10), np.int16))
    tracks = split_output(PAIR_TRACKS, out)
    assert set(tracks) == {"left", "sound"}
    assert tracks["left"].shape == (1, 2, 2, 3)


def test_bare_array_is_accepted_only_for_a_single_video_track():
    frame = np.zeros((2, 2, 3), np.uint8)
    assert split_output(ONE_VIDEO, frame)["main_video"].shape == (1, 2, 2, 3)
    with pytest.raises(TypeError, match="exactly one video track"):
        split_output(PAIR_TRACKS, frame)


def test_output_with_a_track_the_model_does_not_have_is_refused():
    class Other(Output):
        extra: Video

    with pytest.raises(TypeError, match="not one of the model's tracks"):
        split_output(ONE_VIDEO, Other(extra=np.zeros((2, 2, 3), np.uint8)))


def test_frames_are_copied_so_a_reused_buffer_cannot_change_a_queued_frame():
    buffer = np.zeros((2, 2, 3), np.uint8)
    tensor = torch.zeros((2, 2, 3), dtype=torch.uint8)
    first = video_batch("v", buffer)
    first_t = video_batch("v", tensor)
    buffer[:] = 9
    tensor[:] = 9
    assert int(first.max()) == 0
    assert int(first_t.max()) == 0


class FakeDeviceTensor:
    """Stands in for a CUDA tensor: its module is torch's, its device is not the CPU."""

    __module__ = "torch"

    def __init__(self, array: np.ndarray) -> None:
        self.array = array
        self.device = type("Device", (), {"type": "cuda"})()
        self.copied = 0

    def detach(self) -> FakeDeviceTensor:
        return self

    def cpu(self) -> FakeDeviceTensor:
        self.copied += 1
        self.host = FakeDeviceTensor(self.array.copy())
        return self.host

    def numpy(self) -> np.ndarray:
        return self.array


def test_tensor_on_a_device_is_brought_to_host_once_without_a_second_copy():
    tensor = FakeDeviceTensor(np.full((2, 4, 4, 3), 5, np.uint8))
    batch = video_batch("v", tensor)
    assert tensor.copied == 1
    assert int(batch.max()) == 5
    assert np.shares_memory(batch, tensor.host.array)  # the host copy is used as is
    assert not np.shares_memory(batch, tensor.array)
