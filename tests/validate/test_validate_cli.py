"""The `reactorc validate` command: the table, --json, exit statuses (0 passed, 1 a check
failed, 2 bad usage with one line and no traceback), and --stream through the real server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from validate_helpers import GOLDEN, ROOT, check, convert_into, edit_wrapper

from reactorc.validate import ValidateOptions, validate


def _reactorc(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactorc.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
    )


@pytest.mark.slow
def test_json_lists_every_check_and_exit_0_when_all_pass() -> None:
    done = _reactorc("validate", str(GOLDEN / "seed"), "--json", "--frames", "8")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["device"] == "cpu"  # torch here has no CUDA
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["equivalence"]["status"] == "pass"
    assert by_name["equivalence"]["figures"]["max_diff"] == 0
    assert {"achieved_fps", "target_fps", "interval_error_p50_ms", "interval_error_p99_ms"} <= set(
        by_name["pacing"]["figures"]
    )
    assert by_name["load"]["figures"]["seconds"] >= 0
    assert by_name["first frame"]["figures"]["seconds"] > 0
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_table_names_the_failed_check_and_exit_is_1(tmp_path) -> None:
    folder = convert_into(tmp_path / "out")
    edit_wrapper(folder, "self.pipeline = OriginalPipeline(config)", 'raise OSError("no weights")')
    done = _reactorc("validate", str(folder))
    assert done.returncode == 1
    assert "load" in done.stdout and "OSError: no weights" in done.stdout
    assert "FAILED: load" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["validate", "no/such/folder"], "no such folder"),
        (["validate", "examples/hello"], "not written by reactorc convert"),
        (["validate", "fixtures/seed"], "no reactor.yaml"),
        (["validate", "tests/golden/seed", "--device", "tpu"], "--device must be one of"),
        (["validate", "tests/golden/seed", "--frames", "1"], "--frames 1: pass at least 2"),
        (["validate", "tests/golden/seed", "--change", "nope=1"], "--change nope: unknown field"),
        (["validate", "tests/golden/seed", "--change", "guidance_scale=high"], "expected a number"),
        (["validate", "tests/golden/seed", "--change", "seed=0"], "that is the default"),
        (["validate", "tests/golden/seed", "--config", "no/such.yml"], "--config no/such.yml"),
        (["validate", "tests/golden/seed", "--timeout", "0"], "--timeout 0.0: pass a number"),
    ],
)
def test_bad_usage_exits_2_with_one_line(args: list[str], message: str) -> None:
    done = _reactorc(*args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_a_config_that_is_not_a_mapping_is_bad_usage(tmp_path) -> None:
    bad = tmp_path / "config.yml"
    bad.write_text("- a list\n- not a mapping\n", encoding="utf-8")
    done = _reactorc("validate", "tests/golden/seed", "--config", str(bad))
    assert done.returncode == 2
    assert "expected a mapping" in done.stderr


def test_a_config_key_left_empty_fails_load_with_the_pipelines_error() -> None:
    # The golden's config.yml leaves `size` empty (the constructor has no default for it).
    report = validate(GOLDEN / "video_stylization_img2img", ValidateOptions(device="cpu"))
    assert [c.name for c in report.checks if c.status == "fail"] == ["load"]
    assert "load() raised" in check(report, "load").detail


@pytest.mark.slow
def test_stream_measures_delivery_and_update_latency_at_a_loopback_client() -> None:
    report = validate(GOLDEN / "seed", ValidateOptions(device="cpu", frames=8, stream=True))
    stream = check(report, "stream")
    assert stream.status == "pass", stream
    assert stream.figures["frames_received"] >= 30
    assert stream.figures["delivered_fps"] > 0
    assert 0 < stream.figures["first_frame_s"] < 30
    latency = check(report, "stream: update latency")
    assert latency.status == "pass", latency
    assert latency.figures["update_latency_ms"] > 0
    assert report.ok


@pytest.mark.slow
def test_stream_reports_a_model_error_as_a_failed_stream_check(tmp_path) -> None:
    folder = convert_into(tmp_path / "out")
    # The first clip is fine; the model raises from its second clip on (the counter lives on
    # the model, so the streaming session, which comes last, fails from its first clip).
    edit_wrapper(
        folder,
        "pipeline = self.pipeline\n",
        "pipeline = self.pipeline\n        self.clips = getattr(self, 'clips', 0) + 1\n"
        "        if self.clips > 1:\n            raise RuntimeError('second clip broke')\n",
    )
    report = validate(
        folder,
        ValidateOptions(device="cpu", frames=8, stream=True, changes=("num_frames=4",)),
    )
    assert not report.ok
    assert "second clip broke" in check(report, "frame format").detail
    assert check(report, "pacing").status == "skip"  # not judged on a stream that broke
    stream = check(report, "stream")
    assert stream.status == "fail" and "second clip broke" in stream.detail


def test_validate_never_imports_torch_for_a_numpy_pipeline() -> None:
    code = (
        "import sys; from pathlib import Path; "
        "from reactorc.validate import validate, ValidateOptions; "
        "r = validate(Path('tests/golden/double_pendulum_while'), ValidateOptions(frames=4)); "
        "print(r.ok, 'torch' in sys.modules, r.device)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.stdout.split() == ["True", "False", "cpu"], done.stderr
