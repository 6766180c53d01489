"""Shared by the emitter tests: convert fixtures, load their wrappers, run them in-process.

Wrappers run through the runtime's Runner (the code path `reactor run` and headless mode
drive), with `realtime=False` so frames come as fast as the model makes them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reactor._manifest import read_manifest  # noqa: E402
from reactor._runner import Runner  # noqa: E402

from fixtures._reference import (  # noqa: E402
    Fixture,
    _fill_tmp,
    fixture_dirs,
    load_fixture,
    run_reference,
)
from reactorc.analysis import explain  # noqa: E402
from reactorc.convert import build_files  # noqa: E402


def convertible() -> list[Fixture]:
    """Every fixture that is not a refused shape, by name."""
    out = []
    for d in fixture_dirs():
        fx = load_fixture(d)
        if not fx.refused:
            out.append(fx)
    return out


def golden_files(fx: Fixture) -> dict[str, str]:
    """The files `reactorc convert` makes for `fx` with `-o tests/golden/<name>`."""
    out_dir = GOLDEN / fx.name
    rel_source = Path("fixtures") / fx.name / "pipeline.py"
    plan = explain(ROOT / rel_source)
    return build_files(plan, ROOT / rel_source, out_dir)


def model_config(fx: Fixture, tmp: str) -> dict[str, Any]:
    """What the fixture builds its pipeline with, as the wrapper's load() config."""
    construct = _fill_tmp(dict(fx.construct or {}), tmp)
    config = dict(construct.get("config", construct.get("kwargs", {})))
    if fx.output is not None and fx.output.via == "step" and fx.reset is not None:
        config["reset"] = dict(fx.reset)
    return config


def wrapper_class(folder: Path) -> type:
    """The model class a generated folder's reactor.yaml names, its module imported by path
    under a name unique to the folder (every wrapper module is called `pipeline_stream`)."""
    manifest = read_manifest(folder)
    module_name, _, class_name = manifest.model_ref.partition(":")
    unique = f"_emit_{folder.name}_{module_name}"
    module = sys.modules.get(unique)
    if module is None:
        spec = importlib.util.spec_from_file_location(unique, folder / f"{module_name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[unique] = module
        spec.loader.exec_module(module)
    return getattr(module, class_name)


@contextmanager
def wrapper_model(folder: Path, fx: Fixture) -> Iterator[Any]:
    """The wrapper in `folder`, loaded with the fixture's own construction arguments."""
    cls = wrapper_class(folder)
    with tempfile.TemporaryDirectory(prefix=f"emit-{fx.name}-") as tmp:
        model = cls()
        model.load(model_config(fx, tmp))
        yield model


def clip_length(fx: Fixture, reference: np.ndarray) -> int:
    return int(reference.shape[0])


async def _collect(
    model: Any, count: int, commands: list[tuple[int, str, Any]], queue_frames: int
) -> np.ndarray:
    runner = Runner(model, realtime=False, queue_frames=queue_frames)
    errors: list[dict] = []

    async def send(envelope: dict) -> None:
        if envelope.get("data", {}).get("type") == "error":
            errors.append(envelope)

    frames: list[np.ndarray] = []
    pending = sorted(commands, key=lambda c: c[0])
    await runner.start_session(send)
    try:
        async for frame in runner.frames():
            if frame.track != "main_video":
                continue
            frames.append(frame.data)
            while pending and pending[0][0] <= len(frames) - 1:
                _, field, value = pending.pop(0)
                rejected = await runner.command(f"set_{field}", {field: value})
                assert not rejected, rejected
            if len(frames) >= count:
                break
    finally:
        await runner.stop_session()
    assert not errors, errors
    assert len(frames) == count, f"the stream ended after {len(frames)} of {count} frames"
    return np.stack(frames)


def collect(
    model: Any,
    count: int,
    commands: list[tuple[int, str, Any]] | None = None,
    queue_frames: int = 1,
) -> np.ndarray:
    """`count` frames `(N, H, W, 3)` from a fresh session; `(after_frame, field, value)`
    commands are sent once that many frames have arrived."""
    return asyncio.run(
        asyncio.wait_for(_collect(model, count, list(commands or []), queue_frames), 120)
    )


def as_video(model: Any, frames: np.ndarray) -> np.ndarray:
    """The original's frames converted the way the wrapper converts its own (its to_video)."""
    module = sys.modules[type(model).__module__]
    return module.to_video(frames)


def reference(fx: Fixture, **overrides: Any) -> np.ndarray:
    return run_reference(fx.directory, **overrides)


def wire_value(fx: Fixture, field: str, value: Any) -> Any:
    """A fixture's change as a client sends it: a per-step list becomes its first element."""
    if isinstance(value, list):
        return value[0]
    return value
