"""Converted models on Reactor's own runtimes, installed from the package index
(scripts/platform-envs.sh builds the environments; .ci/run runs it first):

- `--target reactor-runtime` loads, streams and obeys a live `set_<field>` on reactor-runtime
  2.7.8 and on 3.10.0; `--target reactor-app` does on 3.10.0, with no deprecation warning in
  its log. Each server runs inside a private network namespace holding only `lo`
  (serve_check.py), the client is aiortc (platform_client.py).
- The generated ReactorApp, stepped by hand against reactor-runtime 3.10.0's own classes, is
  frame-exact with the generator form on every convertible fixture.

Without the environments (or without root for `unshare -n`) these tests skip, saying why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from platform_helpers import (
    ROOT,
    build_lo_host,
    convert_both,
    load_config,
    missing_runtime,
    namespace_problem,
    pipelines,
    runtime_python,
    state_changes,
)
from stepping import generator_frames, model_class

from reactorc.analysis import explain
from reactorc.convert import convert

HERE = Path(__file__).resolve().parent

PLATFORM_FIXTURES: dict[str, tuple[str, Any]] = {
    # fixture: a live field and a value for it
    "seed": ("guidance_scale", 2.0),
    "world_model_actions": ("temperature", 4.0),
    "chunked_video_model": ("motion", 3.0),
}
FRAMES_BEFORE = 40
"""Frames taken before the command; the second half measures the codec's noise (the encoder
starts at a low bitrate, so the first frames of a session are blurred)."""
MAX_FRAMES_AFTER = 240
"""How many frames after the command the client waits for the change (see platform_client):
reactor-runtime 2.7.8 has been seen to take 80 and more on a loaded machine."""
NEGATIVE_FRAMES_AFTER = 60
SERVED = [("reactor-runtime", "2.7.8"), ("reactor-runtime", "3.10.0"), ("reactor-app", "3.10.0")]
CASES = [(fx, target, runtime) for target, runtime in SERVED for fx in PLATFORM_FIXTURES]


@pytest.fixture(scope="module")
def lo_host(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lo_host(tmp_path_factory.mktemp("shim"))


def _python_or_skip(runtime: str) -> Path:
    python = runtime_python(runtime)
    if python is None:
        pytest.skip(missing_runtime(runtime))
    return python


def reference_clip(pipeline: Path, tmp: Path) -> Path:
    """One clip at the default state, made in-process by the generator form (the models are
    deterministic: every clip a server streams at that state is this one), as a .npy file."""
    plan = explain(pipeline)
    folder = tmp / "reference"
    convert(plan, pipeline, folder, target="reactor")
    model = model_class(folder)()
    model.load(load_config(pipeline, folder, tmp, with_fixture=False))  # as served
    frames = np.concatenate(generator_frames(model, [], max_outputs=1000, clips=1))
    path = tmp / "reference.npy"
    np.save(path, frames)
    return path


def serve_and_command(
    fixture: str,
    target: str,
    runtime: str,
    field: str,
    value: Any,
    tmp: Path,
    lo_host: Path,
    frames_after: int = MAX_FRAMES_AFTER,
) -> dict[str, Any]:
    """Convert `fixture` for `target`, serve it with `runtime` in a private namespace, stream,
    send `set_<field>`, and return serve_check.py's report."""
    python = _python_or_skip(runtime)
    problem = namespace_problem()
    if problem:
        pytest.skip(problem)
    pipeline = ROOT / "fixtures" / fixture / "pipeline.py"
    folder = tmp / f"{fixture}-{target}"
    convert(explain(pipeline), pipeline, folder, target=target)  # type: ignore[arg-type]
    command = [
        "unshare", "-n", sys.executable, str(HERE / "serve_check.py"),
        "--runtime", runtime, "--python", str(python), "--folder", str(folder),
        "--command", f"set_{field}", "--data", json.dumps({field: value}),
        "--reference", str(reference_clip(pipeline, tmp)),
        "--lo-host", str(lo_host), "--log", str(tmp / "server.log"),
        "--frames-before", str(FRAMES_BEFORE), "--max-frames-after", str(frames_after),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=330, check=False)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    report = json.loads(lines[-1])
    report["log_tail"] = (tmp / "server.log").read_text(errors="replace")[-2000:]
    return report


def _stalled_on_2x(runtime: str, report: dict[str, Any]) -> bool:
    """Frames stopped coming from a reactor-runtime 2.x server (the client timed out)."""
    return runtime.startswith("2.") and "stuck in" in str(report.get("error", ""))


@pytest.mark.timeout(600)
@pytest.mark.parametrize(
    ("fixture", "target", "runtime"),
    CASES,
    ids=[f"{target}-on-{runtime}-{fx}" for fx, target, runtime in CASES],
)
def test_the_converted_model_loads_streams_and_obeys_a_live_command(
    fixture: str, target: str, runtime: str, tmp_path: Path, lo_host: Path
) -> None:
    field, value = PLATFORM_FIXTURES[fixture]
    report = serve_and_command(fixture, target, runtime, field, value, tmp_path, lo_host)
    if _stalled_on_2x(runtime, report):
        # reactor-runtime 2.7.8 now and then stops sending frames mid-stream on loopback (about
        # one run in five under pytest here, none in twenty outside it; its log shows nothing
        # before our client gives up): serve once more; a second stall fails the test
        again = tmp_path / "again"
        again.mkdir()
        report = serve_and_command(fixture, target, runtime, field, value, again, lo_host)
        report["served_twice"] = True
    assert "error" not in report, report
    assert report["frames_before"] == FRAMES_BEFORE
    # before the command every frame is close to one of the default clip's (the codec's noise);
    # once it has applied, a run of frames far from all of them comes
    assert report["latency_frames"] is not None, report
    assert report["changed"] > report["threshold"], report
    assert report["log_errors"] == [], report
    if target == "reactor-app":
        assert report["deprecations"] == [], report["deprecations"]


@pytest.mark.timeout(360)
def test_a_command_that_changes_nothing_is_told_apart(tmp_path: Path, lo_host: Path) -> None:
    """The check above can fail: setting a field to the value it has leaves every frame one
    of the default clip's."""
    field, _ = PLATFORM_FIXTURES["seed"]
    report = serve_and_command(
        "seed", "reactor-app", "3.10.0", field, 7.5, tmp_path, lo_host, NEGATIVE_FRAMES_AFTER
    )
    assert "error" not in report, report
    assert report["frames_after"] == NEGATIVE_FRAMES_AFTER
    assert report["latency_frames"] is None, report


@pytest.mark.timeout(400)
def test_the_stepped_app_is_frame_exact_on_reactor_runtime_3_10(tmp_path: Path) -> None:
    """stepping.py under reactor-runtime 3.10.0: its ReactorApp, InputState and Output, the
    generator form as its (deprecated) ReactorPipeline; every fixture the analysis accepts."""
    python = _python_or_skip("3.10.0")
    jobs = []
    for pipeline in pipelines():
        plan = explain(pipeline)
        if not plan.ok:
            continue
        work = tmp_path / pipeline.parent.name
        generator, app = convert_both(plan, pipeline, work, "reactor-runtime")
        jobs.append(
            {
                "name": pipeline.parent.name,
                "generator": str(generator),
                "app": str(app),
                "config": load_config(pipeline, app, work),
                "changes": state_changes(pipeline, plan),
            }
        )
    assert len(jobs) >= 3
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    done = subprocess.run(
        [str(python), "-W", "ignore::DeprecationWarning", str(HERE / "stepping.py"),
         "--jobs", str(tmp_path / "jobs.json")],
        capture_output=True, text=True, timeout=380, check=False,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    results = json.loads(lines[-1])
    assert [r["name"] for r in results] == [j["name"] for j in jobs]
    unequal = [r for r in results if not r["equal"] or r["outputs"] < 3]
    assert unequal == [], unequal
