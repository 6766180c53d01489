"""The plan details the emitter relies on, for the research fixtures (beyond their goldens,
which tests/fixtures checks through the CLI): what is recomputed, kept, carried, decoded."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactorc.analysis import explain
from reactorc.plan import Plan

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def plan(name: str) -> Plan:
    return explain(FIXTURES / name / "pipeline.py")


def needs(*names: str):
    missing = [n for n in names if not (FIXTURES / n / "pipeline.py").exists()]
    return pytest.mark.skipif(bool(missing), reason=f"fixture not present: {missing}")


@needs("seed")
def test_seed_recomputes_the_prompt_encoding_only() -> None:
    p = plan("seed")
    recomputed = [s for s in p.pre_loop if set(s.depends_on) & {"prompt", "guidance_scale"}]
    assert [s.code for s in recomputed] == ["cond, uncond = self.encode_prompt(prompt)"]
    assert [k.code for k in p.kept] == ["torch.no_grad()"]
    assert p.return_expr == "np.stack(frames)"
    assert p.frame_loop.sink.frame_expr == "img.to(torch.uint8).numpy()"
    assert p.constructor.kind == "config"
    assert {k.name for k in p.constructor.keys} >= {"height", "width"}


@needs("nerf_render_path")
def test_nerf_ray_chunk_loop_is_inner_and_poses_are_rebuilt() -> None:
    p = plan("nerf_render_path")
    loop = p.frame_loop
    assert loop.iterable == "poses" and loop.progress_wrapper == "tqdm"
    assert len(loop.inner_loops) == 1 and loop.inner_loops[0] > loop.line
    poses = next(s for s in p.pre_loop if s.defines == ("poses",))
    assert set(poses.depends_on) == {"n_poses", "radius"}
    assert p.state_field("radius").ge == 0.0  # `if radius <= 0: raise`


@needs("latent_video_slices")
def test_latent_slices_are_decoded_per_chunk() -> None:
    p = plan("latent_video_slices")
    sink = p.frame_loop.sink
    assert (sink.kind, sink.target, sink.frame_expr) == ("slice-write", "latents", "x")
    assert sink.index_expr.startswith(":, :, start")
    roles = [e.role for e in p.epilogue]
    assert "decode" in roles and roles[-1] == "return"
    assert not any(e.reduces_across_frames for e in p.epilogue)


@needs("video_superres_autocast")
def test_superres_keeps_inference_mode_and_autocast_and_not_the_array() -> None:
    p = plan("video_superres_autocast")
    assert [k.code.split("(")[0] for k in p.kept] == ["torch.inference_mode", "torch.autocast"]
    assert [n.param.name for n in p.non_state] == ["lr_video"]
    assert p.per_step == ()


@needs("world_model_actions")
def test_world_model_actions_become_a_per_step_field() -> None:
    p = plan("world_model_actions")
    (seq,) = p.per_step
    assert (seq.param, seq.index_expr, seq.element_type) == ("actions", "i", "str")
    assert p.state_field("actions").per_step


@needs("gym_pixel_racer")
def test_gym_step_returns_the_observation_as_the_frame() -> None:
    p = plan("gym_pixel_racer")
    assert (p.symbol_kind, p.frame_loop.kind, p.frame_loop.sink.kind) == ("step", "step", "return")
    assert p.frame_loop.sink.frame_expr == "self.render()"
    assert all(f.live for f in p.state)


@needs("smoke_sim_save_frames")
def test_smoke_saves_frames_and_polls_its_preview_window() -> None:
    p = plan("smoke_sim_save_frames")
    assert p.ok
    assert (p.frame_loop.sink.call, p.frame_loop.sink.frame_expr) == ("save_image", "frame")


@needs("reaction_diffusion_generator")
def test_endless_generator_is_wrapped_directly() -> None:
    p = plan("reaction_diffusion_generator")
    assert p.symbol_kind == "generator"
    assert (p.frame_loop.kind, p.frame_loop.condition) == ("while", "True")


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("refused_module_script", "RC102"),
        ("refused_interactive_prompt", "RC110"),
        ("refused_waitkey_viewer", "RC110"),
        ("refused_one_shot_clip", "RC111"),
    ],
)
def test_refused_fixtures_have_one_error_with_a_hint(name: str, code: str) -> None:
    if not (FIXTURES / name / "pipeline.py").exists():
        pytest.skip(f"fixture not present: {name}")
    p = plan(name)
    errors = [d for d in p.diagnostics if d.severity == "error"]
    assert [d.code for d in errors] == [code]
    assert errors[0].hint and errors[0].path.endswith("pipeline.py")


def test_every_fixture_is_analysed_without_an_internal_problem() -> None:
    for pipeline in sorted(FIXTURES.glob("*/pipeline.py")):
        p = explain(pipeline)
        assert p.source_sha256, pipeline
        assert not any(d.code in ("RC003", "RC005", "RC900") for d in p.diagnostics), pipeline
        assert p.ok or any(d.severity == "error" for d in p.diagnostics), pipeline
