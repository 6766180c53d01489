"""`reactorc validate` passes on the converted output of every convertible fixture: the wrapper
loads, streams one stable frame format, equals the original at the default state (the one
fixture marked `equivalent: false` is reported as a warning, not passed), every curated live
field changes the frames that follow and every restart field waits for the next clip."""

from __future__ import annotations

import pytest
from validate_helpers import GOLDEN, check, convertible, fixture_changes, fixture_config

from reactorc.validate import ValidateOptions, validate

HEAVY = {
    "neural_ca_preallocated",
    "world_model_actions",
    "gan_latent_walk",
    "seed",
    "chunked_video_model",
    "latent_video_slices",
    "nerf_render_path",
}
FIXTURES = [
    pytest.param(fx, id=fx.name, marks=[pytest.mark.slow] if fx.name in HEAVY else [])
    for fx in convertible()
]


@pytest.mark.parametrize("fx", FIXTURES)
def test_validate_passes_on_the_fixtures_converted_output(fx, tmp_path) -> None:
    options = ValidateOptions(
        device="cpu",
        frames=8,
        changes=fixture_changes(fx),
        config_path=fixture_config(fx, tmp_path),
    )
    report = validate(GOLDEN / fx.name, options)
    failed = [(c.name, c.detail) for c in report.checks if c.status == "fail"]
    assert report.ok, failed
    for name in ("import", "load", "first frame", "frame format", "pacing"):
        assert check(report, name).status == "pass", check(report, name)
    equivalence = check(report, "equivalence")
    if fx.equivalent:
        assert equivalence.status == "pass", equivalence
    else:  # reported as not equivalent (RC301), never silently passed
        assert equivalence.status == "warn", equivalence
        assert "RC301" in equivalence.detail
        assert equivalence.figures["max_diff"] > 0
    for field in fx.live_changes:
        assert check(report, f"live: {field}").status == "pass", check(report, f"live: {field}")
    for field in fx.restart_changes:
        got = check(report, f"restart: {field}")
        assert got.status == "pass", got
    assert report.device == "cpu"
