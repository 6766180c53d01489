"""`load()` on the Reactor platform targets takes config.yml whichever way the runtime passes it:
reactor-runtime 2.x and `reactor run` parsed (a dict), 3.x its path (str or PathLike) or None.
One generated helper, `read_config()`, does it, and `load()` calls it before anything else, so
it holds however the wrapper builds the original."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

import numpy as np
import pytest
from platform_helpers import ROOT
from stepping import app_frames, generator_frames, model_class

from reactorc.analysis import explain
from reactorc.convert import convert

SEED = ROOT / "fixtures" / "seed" / "pipeline.py"
SMALL = "weights_seed: 0\nheight: 16\nwidth: 24\nembed_dim: 16\n"


@pytest.fixture(scope="module", params=["reactor-runtime", "reactor-app"])
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> type:
    out = tmp_path_factory.mktemp(request.param) / "out"
    convert(explain(SEED), SEED, out, target=request.param)
    return model_class(out)


def _frames(instance: object) -> list[np.ndarray]:
    if hasattr(instance, "generate"):
        return app_frames(instance, [], 2)
    return generator_frames(instance, [], 2)


@pytest.mark.parametrize("form", ["dict", "str", "PathLike"])
def test_load_takes_the_config_as_a_dict_or_a_yaml_path(
    model: type, form: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.yml"
    path.write_text(SMALL)
    given = {"dict": {"weights_seed": 0, "height": 16, "width": 24, "embed_dim": 16}}.get(
        form, str(path) if form == "str" else path
    )
    instance = model()
    instance.load(given)
    assert _frames(instance)[0].shape == (1, 16, 24, 3)


def test_load_without_a_config_uses_the_constructors_defaults(model: type) -> None:
    instance = model()
    instance.load(None)
    assert _frames(instance)[0].shape == (1, 64, 64, 3)  # OriginalPipeline's own defaults


def test_an_empty_config_file_is_no_keys(model: type, tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_text("# nothing set\n")
    assert sys.modules[model.__module__].read_config(path) == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- a list\n", "expected a mapping of config keys, got list"),
        (None, "cannot read the config file"),
    ],
)
def test_a_config_file_that_is_not_a_mapping_is_one_clear_error(
    model: type, tmp_path: Path, text: str | None, message: str
) -> None:
    path = tmp_path / "config.yml"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ValueError, match=message):
        model().load(path)


def test_load_reads_the_config_before_anything_else(model: type) -> None:
    body = inspect.getsource(model.load).split('"""')[-1].strip().splitlines()
    assert body[0].strip() == "config = read_config(config)"


def test_the_platform_tests_wait_for_an_environment_build_still_running(tmp_path: Path) -> None:
    """.ci/run builds the environments in the background: a running build (its pid in
    .building) is waited for; a finished or dead one is not."""
    import subprocess
    import time

    from platform_helpers import wait_for_build

    wait_for_build(timeout=5, cache=tmp_path)  # no build: returns at once
    marker = tmp_path / ".building"
    build = subprocess.Popen(["bash", "-c", f"sleep 1.5; rm -f {marker}"])  # as the script does
    marker.write_text(f"{build.pid}\n")
    started = time.monotonic()
    waiter = subprocess.Popen(["sleep", "0"])  # a pid that is gone by the time it is read
    waiter.wait()
    wait_for_build(timeout=30, cache=tmp_path)
    assert 1.0 <= time.monotonic() - started < 20  # it waited for the build, not longer
    assert build.wait(timeout=5) == 0
    marker.write_text(f"{waiter.pid}\n")
    started = time.monotonic()
    wait_for_build(timeout=30, cache=tmp_path)  # a dead build's marker: no wait
    assert time.monotonic() - started < 1.0
