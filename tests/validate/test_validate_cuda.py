"""validate's CUDA checks, exercised on a CPU-only machine: the probe's logic with stand-ins for
torch.cuda, the device decision, and the whole CUDA path wired through a run with CUDA faked
as present (there is no GPU here; scripts/gpu_check.sh runs the real thing)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from validate_helpers import GOLDEN, check

import reactorc.validate.run as validate_module
from reactorc.validate import ValidateOptions, validate
from reactorc.validate.cuda import MEMORY_SLACK_BYTES, CudaProbe, placement


def _fake_torch(allocations: list[int]) -> SimpleNamespace:
    counter = iter(allocations)
    return SimpleNamespace(cuda=SimpleNamespace(memory_allocated=lambda: next(counter)))


def _module() -> SimpleNamespace:
    return SimpleNamespace(to_video=lambda frames: np.zeros((1, 2, 2, 3), np.uint8))


def _tensor_on(kind: str) -> SimpleNamespace:
    return SimpleNamespace(device=SimpleNamespace(type=kind))


def _memory_check(probe: CudaProbe):
    return next(c for c in probe.checks(SimpleNamespace()) if c.name == "cuda: memory flat")


def test_memory_that_grows_every_clip_fails() -> None:
    step = MEMORY_SLACK_BYTES
    probe = CudaProbe(_module(), _fake_torch([100, 100 + step, 100 + 2 * step, 100 + 3 * step]), 2)
    for _ in range(8):
        probe.sample()
    got = _memory_check(probe)
    assert got.status == "fail"
    assert "grew by" in got.detail and got.figures["clips"] == 4


def test_memory_that_settles_after_the_first_clip_passes() -> None:
    probe = CudaProbe(_module(), _fake_torch([10 * 2**20, 50 * 2**20, 50 * 2**20, 50 * 2**20]), 3)
    for _ in range(12):
        probe.sample()
    assert _memory_check(probe).status == "pass"


def test_memory_is_not_judged_on_fewer_than_three_clips() -> None:
    probe = CudaProbe(_module(), _fake_torch([1, 2]), 4)
    for _ in range(8):
        probe.sample()
    assert _memory_check(probe).status == "skip"


def test_frames_on_the_gpu_are_seen_on_their_way_into_to_video() -> None:
    module = _module()
    probe = CudaProbe(module, _fake_torch([]), 16)
    module.to_video(_tensor_on("cuda"))
    module.to_video(_tensor_on("cuda"))
    module.to_video(np.zeros((2, 2, 3), np.uint8))
    probe.restore()
    frames = next(c for c in probe.checks(SimpleNamespace()) if c.name == "cuda: frames on GPU")
    assert frames.status == "pass"
    assert frames.detail.startswith("2 of 3 frame batches came from the GPU")
    module.to_video(_tensor_on("cuda"))  # restored: no longer counted
    assert probe.devices == {"cuda": 2, "host (numpy)": 1}


def test_frames_made_on_the_host_fail_the_gpu_frames_check() -> None:
    module = _module()
    probe = CudaProbe(module, _fake_torch([]), 16)
    module.to_video(np.zeros((2, 2, 3), np.uint8))
    got = next(c for c in probe.checks(SimpleNamespace()) if c.name == "cuda: frames on GPU")
    assert got.status == "fail" and "computes on the host" in got.detail


def test_placement_names_the_modules_left_on_the_host() -> None:
    torch = pytest.importorskip("torch")
    pipeline = SimpleNamespace(encoder=torch.nn.Linear(2, 2), scale=torch.ones(1), name="x")
    got = placement(SimpleNamespace(pipeline=pipeline), torch)
    assert got.status == "fail"
    assert "on the host: encoder, scale" in got.detail and "device" in got.detail


def test_placement_is_skipped_without_torch_or_without_weights() -> None:
    assert placement(SimpleNamespace(pipeline=object()), None).status == "skip"
    torch = pytest.importorskip("torch")
    plain = SimpleNamespace(pipeline=SimpleNamespace(size=3))
    assert placement(plain, torch).status == "skip"


def test_device_cuda_without_cuda_is_a_failed_check_and_the_rest_runs_on_the_host() -> None:
    report = validate(GOLDEN / "seed", ValidateOptions(device="cuda", frames=4))
    assert report.device == "cpu"
    assert check(report, "cuda").status == "fail"
    assert "sees no CUDA device" in check(report, "cuda").detail
    assert check(report, "equivalence").status == "pass"


def test_device_cuda_on_a_numpy_pipeline_is_skipped_not_failed() -> None:
    report = validate(GOLDEN / "double_pendulum_while", ValidateOptions(device="cuda", frames=4))
    assert check(report, "cuda").status == "skip"
    assert report.ok


def test_the_cuda_path_runs_end_to_end_with_cuda_faked_present(monkeypatch) -> None:
    torch = pytest.importorskip("torch")
    monkeypatch.setattr(validate_module, "_cuda_available", lambda torch: True)
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda *a, **k: 0)
    report = validate(GOLDEN / "seed", ValidateOptions(device="auto", frames=4))
    assert report.device == "cuda"
    # The seed builds its nets on the host and hands numpy frames to to_video: both reported.
    assert check(report, "cuda: placement").status == "fail"
    assert "text_encoder" in check(report, "cuda: placement").detail
    assert check(report, "cuda: frames on GPU").status == "fail"
    memory = check(report, "cuda: memory flat")
    assert memory.status == "pass" and memory.figures["clips"] >= 3
