"""Every generated wrapper, as its own folder configures it (config.yml, as `reactor run`
loads it), recorded through the runtime's headless path in this process: an mp4 with the
frames asked for. Keys the original requires without a default are left null in config.yml
(the user must set them); the test sets those from the fixture, as a user would, and checks
that leaving them unset is a clear error. (`test_emit_convert_cli.py` runs a few through
`reactor run --headless` in a fresh process.)"""

from __future__ import annotations

import asyncio
import itertools
import re
from pathlib import Path

import av
import pytest
from emit_helpers import GOLDEN, convertible, model_config, wrapper_class
from reactor._headless import record
from reactor._manifest import read_manifest

FIXTURES = convertible()
FRAMES = 6


def _required_keys(config_yml: Path) -> list[str]:
    """The keys config.yml marks required (a `# required: ...` comment above a null); a null
    without it is the original's own default (`default=None`)."""
    lines = config_yml.read_text(encoding="utf-8").splitlines()
    return [
        line.split(":", 1)[0]
        for before, line in itertools.pairwise(lines)
        if before.startswith("# required") and line.endswith(": null")
    ]


@pytest.mark.parametrize("fx", FIXTURES, ids=lambda fx: fx.name)
def test_the_wrapper_records_headless_with_its_own_config(
    fx, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # a pipeline may make folders relative to where it runs
    folder = GOLDEN / fx.name
    manifest = read_manifest(folder)
    model = wrapper_class(folder)()
    config = dict(manifest.config)
    fixture_config = model_config(fx, str(tmp_path))
    required = _required_keys(folder / "config.yml")
    if required:
        with pytest.raises(ValueError, match=re.escape(f"set {', '.join(required)} in config.yml")):
            model.load(config)
        config.update({k: fixture_config[k] for k in required})
    model.load(config)
    out = tmp_path / "clip.mp4"
    result = asyncio.run(
        asyncio.wait_for(record(model, frames=FRAMES, out=out, realtime=False), 120)
    )
    assert result.frames == FRAMES
    assert not result.errors
    with av.open(str(out)) as container:
        decoded = sum(1 for _ in container.decode(video=0))
    assert decoded == FRAMES
