"""validate's own run of the original (built like the wrapper builds it, called at its defaults,
frames taken generically by the plan's sink) gives the same frames as the fixtures' reference
runner (`fixtures/_reference.run_reference`, driven by each fixture.yaml), for every
convertible fixture: returned arrays, result objects, generators, step APIs and writers."""

from __future__ import annotations

import pytest
import yaml
from validate_helpers import GOLDEN, convertible, fixture_config

from fixtures._reference import run_reference
from reactorc.analysis import explain
from reactorc.validate.output import load_wrapper, read_output
from reactorc.validate.reference import run_original

FIXTURES = [pytest.param(fx, id=fx.name) for fx in convertible()]


@pytest.mark.parametrize("fx", FIXTURES)
def test_the_original_run_by_validate_matches_the_fixture_reference(fx, tmp_path) -> None:
    config_path = fixture_config(fx, tmp_path)
    output = read_output(GOLDEN / fx.name, config_path)
    module, cls = load_wrapper(output)
    plan = explain(output.source, symbol=output.symbol)
    expected = module.to_video(run_reference(fx.directory))
    config = yaml.safe_load(config_path.read_text())
    got = run_original(plan, module, cls, config, frames_wanted=len(expected))
    assert got.endless == (fx.output.via in ("yield", "step"))
    assert got.float_source == (fx.output.dtype == "float32")
    assert got.frames.shape == expected.shape
    assert (got.frames == expected).all()
