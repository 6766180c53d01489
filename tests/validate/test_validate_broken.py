"""`reactorc validate` on deliberately broken wrappers: each fails the check it breaks, with the
reason, and never crashes. The seed is converted into a temporary folder and one line of its
wrapper is changed per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from validate_helpers import SEED, check, convert_into, edit_wrapper

from reactorc.validate import ValidateOptions, validate

YIELD = "main_video=to_video(img.to(torch.uint8).numpy())"
STEP = "x = 0.8 * x + 0.2 * torch.tanh(eps)"
GUIDED = "eps = eps_uncond + self.state.guidance_scale * (eps_cond - eps_uncond)"


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    return convert_into(tmp_path / "seed_stream")


def _run(folder: Path, **options):
    options.setdefault("frames", 8)
    return validate(folder, ValidateOptions(device="cpu", **options))


def _failed(report) -> list[str]:
    return [c.name for c in report.checks if c.status == "fail"]


def test_the_unbroken_seed_passes_with_values_validate_picks_itself(seed) -> None:
    report = _run(seed)
    assert report.ok, [(c.name, c.detail) for c in report.checks if c.status == "fail"]
    names = [c.name for c in report.checks]
    assert names == [
        "import",
        "load",
        "first frame",
        "frame format",
        "equivalence",
        "live: prompt",
        "live: guidance_scale",
        "restart: num_frames",
        "restart: seed",
        "pacing",
    ]


def test_an_import_error_fails_the_import_check(seed) -> None:
    edit_wrapper(seed, "import numpy\n", "import numpy\nimport no_such_module_for_validate\n")
    report = _run(seed)
    assert _failed(report) == ["import"]
    detail = check(report, "import").detail
    assert "ModuleNotFoundError" in detail and "no_such_module_for_validate" in detail
    assert len(report.checks) == 1  # nothing else can run without the module


def test_load_raising_fails_the_load_check(seed) -> None:
    edit_wrapper(
        seed,
        "self.pipeline = OriginalPipeline(config)",
        'raise RuntimeError("weights file not found")',
    )
    report = _run(seed)
    assert _failed(report) == ["load"]
    assert "RuntimeError: weights file not found" in check(report, "load").detail


def test_inference_raising_fails_the_first_frame_with_the_models_message(seed) -> None:
    edit_wrapper(seed, "pipeline = self.pipeline\n", 'raise ValueError("boom in inference")\n')
    report = _run(seed)
    assert "first frame" in _failed(report)
    assert "boom in inference" in check(report, "first frame").detail


def test_a_wrong_frame_type_fails_with_the_runtimes_reason(seed) -> None:
    edit_wrapper(seed, YIELD, 'main_video="not a frame"')
    report = _run(seed)
    assert not report.ok
    detail = check(report, "first frame").detail
    assert "main_video" in detail  # the runtime's TypeError names the track


def test_frames_that_change_size_fail_the_format_check(seed) -> None:
    edit_wrapper(seed, YIELD, YIELD + "[:, : 64 - (i % 2)]")
    report = _run(seed)
    fmt = check(report, "frame format")
    assert fmt.status == "fail"
    assert "frame 1 is 64x63, frame 0 was 64x64" in fmt.detail


def test_a_live_field_the_wrapper_ignores_fails_its_live_check(seed) -> None:
    edit_wrapper(seed, GUIDED, GUIDED.replace("self.state.guidance_scale", "7.5"))
    report = _run(seed)
    assert _failed(report) == ["live: guidance_scale"]
    assert "changed none of the" in check(report, "live: guidance_scale").detail


def test_a_restart_field_applied_mid_clip_fails_its_restart_check(seed) -> None:
    edit_wrapper(seed, GUIDED, GUIDED + " + 0.05 * self.state.seed")
    report = _run(seed)
    assert _failed(report) == ["restart: seed"]
    assert "of the clip in progress" in check(report, "restart: seed").detail


def test_output_that_differs_from_the_original_fails_equivalence(seed) -> None:
    edit_wrapper(seed, STEP, STEP.replace("0.8 * x", "0.81 * x"))
    report = _run(seed)
    assert _failed(report) == ["equivalence"]
    eq = check(report, "equivalence")
    assert "differs from the original's by up to" in eq.detail
    assert eq.figures["max_diff"] > eq.figures["tolerance"] == 0


def test_a_stated_tolerance_lets_a_small_difference_pass(seed) -> None:
    edit_wrapper(seed, STEP, STEP.replace("0.8 * x", "0.8001 * x"))
    strict = check(_run(seed), "equivalence")
    assert strict.status == "fail"
    loose = check(_run(seed, tolerance=strict.figures["max_diff"]), "equivalence")
    assert loose.status == "pass"


@pytest.mark.slow
def test_a_model_slower_than_its_fixed_fps_fails_pacing(seed) -> None:
    edit_wrapper(
        seed,
        "    state: OriginalPipelineState\n",
        "    state: OriginalPipelineState\n    fps = 100\n",
    )
    edit_wrapper(seed, STEP, STEP + "\n            __import__('time').sleep(0.03)")
    report = _run(seed)
    pacing = check(report, "pacing")
    assert pacing.status == "fail"
    assert pacing.figures["target_fps"] == 100.0
    assert pacing.figures["achieved_fps"] < 40
    assert "slower than its fps" in pacing.detail


def test_a_missing_original_fails_the_import_with_its_path(seed, tmp_path) -> None:
    edit_wrapper(seed, 'seed/pipeline.py"', 'seed/no_such_pipeline.py"')
    report = _run(seed)
    assert _failed(report) == ["import"]
    assert "the original pipeline is missing" in check(report, "import").detail


def test_progress_is_reported_per_session_frame_by_frame(seed) -> None:
    seen: list[tuple[str, int, int]] = []
    report = validate(
        seed,
        ValidateOptions(device="cpu", frames=8),
        progress=lambda phase, done, total: seen.append((phase, done, total)),
    )
    assert report.ok
    phases = list(dict.fromkeys(p for p, _, _ in seen))
    assert phases == [
        "importing the wrapper",
        "loading the model",
        "running the original",
        "default state",
        "live prompt",
        "live guidance_scale",
        "restart num_frames",
        "restart seed",
    ]
    baseline = [(d, t) for p, d, t in seen if p == "default state"]
    assert baseline[0] == (0, baseline[0][1]) and baseline[-1][0] == baseline[-1][1] >= 16


def test_a_reactor_runtime_target_output_validates(tmp_path) -> None:
    from validate_helpers import SEED, explain

    from reactorc.convert import build_files
    from reactorc.write import write_output

    folder = tmp_path / "rr"
    write_output(folder, build_files(explain(SEED), SEED, folder, "reactor-runtime"))
    report = validate(folder, ValidateOptions(device="cpu", frames=4))
    assert report.ok, [(c.name, c.detail) for c in report.checks if c.status == "fail"]
    assert report.model == "pipeline_stream:OriginalPipelineStream"


@pytest.mark.slow
def test_a_model_that_never_yields_fails_the_first_frame_within_the_timeout(seed) -> None:
    edit_wrapper(seed, "pipeline = self.pipeline\n", "__import__('time').sleep(60)\n")
    report = _run(seed, timeout=1.0)
    assert _failed(report) == ["first frame"]
    assert "no frame within 1 s of the start" in check(report, "first frame").detail


RAW_WRITER = """
import numpy as np


class RawWriter:
    def __init__(self, path):
        self.fh = open(path, "wb")

    def write(self, frame):
        self.fh.write(frame.tobytes())

    def close(self):
        self.fh.close()


class Recorder:
    def __init__(self, out_path="clip.raw"):
        self.out_path = out_path

    def record(self, num_frames: int = 6, level: int = 10):
        writer = RawWriter(self.out_path)
        for i in range(num_frames):
            writer.write(np.full((8, 8, 3), level + 3 * i, np.uint8))
        writer.close()
"""


def test_frames_written_in_an_unknown_format_skip_equivalence_with_the_reason(tmp_path) -> None:
    source = tmp_path / "recorder.py"
    source.write_text(RAW_WRITER, encoding="utf-8")
    folder = convert_into(tmp_path / "out", source)
    report = _run(folder)
    assert report.ok
    eq = check(report, "equivalence")
    assert eq.status == "skip"
    assert "no .npy file or folder of .npy/.ppm frames it wrote was found" in eq.detail
    restart = check(report, "restart: num_frames")
    assert restart.status == "skip" and "clip length is unknown" in restart.detail
    assert check(report, "live: level").status == "pass"


def test_an_original_that_no_longer_converts_skips_equivalence_naming_why(tmp_path) -> None:
    source = tmp_path / "pipeline.py"
    source.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    folder = convert_into(tmp_path / "out", source)
    source.write_text(source.read_text().replace("def __call__(", "def generate("))
    report = _run(folder)
    eq = check(report, "equivalence")
    assert eq.status == "skip"
    assert "pipeline.py no longer converts (RC105)" in eq.detail


TINTED = """
import numpy as np


class Tinted:
    def __init__(self, weights="weights.npy"):
        self.level = int(np.load(weights)[0])

    def render(self, num_frames: int = 4, gain: int = 1):
        frames = []
        for i in range(num_frames):
            frames.append(np.full((8, 8, 3), (self.level + gain * i) % 256, np.uint8))
        return np.stack(frames)
"""


def test_relative_paths_in_the_config_resolve_in_the_output_folder(tmp_path, monkeypatch) -> None:
    import numpy as np

    source = tmp_path / "tinted.py"
    source.write_text(TINTED, encoding="utf-8")
    folder = convert_into(tmp_path / "out", source)
    np.save(folder / "weights.npy", np.array([40]))  # beside reactor.yaml, as `reactor run` sees it
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    report = _run(folder)
    assert report.ok, [(c.name, c.detail) for c in report.checks if c.status == "fail"]
    assert check(report, "equivalence").status == "pass"
    assert list(elsewhere.iterdir()) == []
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith("_")) == [
        "README.md",
        "config.yml",
        "reactor.yaml",
        "server.py",
        "tinted_stream.py",
        "weights.npy",
    ]


WALKER = """
import numpy as np


class Walker:
    def __init__(self, size=8):
        self.size = size
        self.x = 0

    def step(self, action: int = 1):
        self.x = (self.x + action) % self.size
        frame = np.zeros((self.size, self.size, 3), np.uint8)
        frame[:, self.x] = 255
        return frame, 0.0, False, False, {}
"""


def test_a_step_api_without_reset_is_compared_step_by_step(tmp_path) -> None:
    source = tmp_path / "walker.py"
    source.write_text(WALKER, encoding="utf-8")
    report = _run(convert_into(tmp_path / "out", source))
    eq = check(report, "equivalence")
    assert eq.status == "pass", eq
    assert eq.detail == "the first 8 frames equal the original's exactly"
    # Without reset() the environment carries on from where the last session left it.
    assert check(report, "live: action").status == "warn"
    assert "not deterministic" in check(report, "live: action").detail
