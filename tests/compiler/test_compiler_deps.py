"""Dependencies: live vs restart fields, pre-loop statements to recompute, the epilogue,
decode after the loop, reductions across frames, the constructor, kept wrappers."""

from __future__ import annotations

import pytest
from compiler_helpers import codes, plan_of

SEED_LIKE = """
import numpy as np
import torch


class P:
    @torch.no_grad()
    def __call__(self, prompt: str = "a", guidance: float = 7.5, num_frames: int = 8,
                 seed: int = 0, height: int = 64, radius: float = 2.0, unused: int = 1,
                 steps: int = 4):
        cond = self.encode(prompt)
        self.scheduler.set_timesteps(steps)
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(1, 3, height, height, generator=generator)
        poses = spiral(num_frames, radius)
        frames = []
        for pose in poses:
            for t in self.scheduler.timesteps:
                x = self.denoise(x, cond, guidance, t, pose)
            frames.append(x)
        return np.stack(frames)
"""


@pytest.mark.parametrize(
    ("name", "live", "reason"),
    [
        ("prompt", True, "feeds `cond`, recomputed when it changes"),
        ("guidance", True, "read inside the frame loop"),
        ("steps", True, "feeds `self.scheduler`, recomputed when it changes"),
        ("radius", True, "changes what the loop iterates over"),
        ("num_frames", False, "sets how many frames the loop makes"),
        ("seed", False, "seeds random numbers"),
        ("height", False, "sets the initial value of state the loop carries"),
        ("unused", False, "not read by the frame loop"),
    ],
)
def test_live_or_restart_with_reason(name: str, live: bool, reason: str) -> None:
    f = plan_of(SEED_LIKE).state_field(name)
    assert f.live is live
    assert reason in f.reason


def test_pre_loop_statements_list_the_fields_they_depend_on() -> None:
    plan = plan_of(SEED_LIKE)
    by_code = {s.code.split(" =")[0].split("(")[0]: s for s in plan.pre_loop}
    assert by_code["cond"].depends_on == ("prompt",)
    assert by_code["cond"].defines == ("cond",)
    assert by_code["self.scheduler.set_timesteps"].depends_on == ("steps",)
    assert by_code["self.scheduler.set_timesteps"].defines == ("self.scheduler",)
    assert by_code["x"].depends_on == ("height",)
    assert set(by_code["poses"].depends_on) == {"num_frames", "radius"}
    assert by_code["frames"].depends_on == ()
    assert not any(s.code.startswith('"""') for s in plan.pre_loop)


def test_field_read_after_the_loop_is_live() -> None:
    plan = plan_of(
        """
        def run(n: int = 3, gamma: float = 2.2):
            frames = []
            for i in range(n):
                frames.append(draw(i))
            video = stack(frames) ** gamma
            return video
        """
    )
    assert plan.state_field("gamma").live
    assert "post-loop" in plan.state_field("gamma").reason


EPILOGUE = """
import numpy as np
import torch


def generate(n: int = 4):
    latents = torch.zeros(1, 4, n, 8, 8)
    for i in range(n):
        latents[:, :, i] = sample(i)
    video = self.vae.decode(latents)
    video = (video - video.min()) / (video.max() - video.min())
    video = video.permute(0, 2, 3, 4, 1).clamp(0, 1)
    print("done")
    return video.cpu().numpy()
"""


def test_epilogue_roles_and_decode_after_loop() -> None:
    plan = plan_of(EPILOGUE)
    assert plan.decode_after_loop
    roles = [(e.span.start_line, e.role) for e in plan.epilogue]
    assert roles == [
        (10, "decode"),
        (11, "transform"),
        (12, "transform"),
        (13, "other"),
        (14, "return"),
    ]
    assert plan.return_expr == "video.cpu().numpy()"


def test_reduction_across_frames_is_rc301_on_its_line() -> None:
    plan = plan_of(EPILOGUE)
    (d,) = [d for d in plan.diagnostics if d.code == "RC301"]
    assert (d.severity, d.line) == ("warning", 11)
    assert [e.reduces_across_frames for e in plan.epilogue] == [False, True, False, False, False]
    assert plan.ok


@pytest.mark.parametrize(
    ("statement", "reduces"),
    [
        ("video = video / video.max()", True),
        ("video = video / np.max(video)", True),
        ("video = video - video.mean(axis=0)", True),
        ("video = video - video.mean(dim=(1, 2, 3), keepdim=True)", False),
        ("video = video.clamp(0, 1)", False),
        ("scale = other.max()", False),
    ],
)
def test_which_post_loop_statements_reduce_across_frames(statement: str, reduces: bool) -> None:
    plan = plan_of(
        f"""
        import numpy as np

        def run(n: int = 3):
            frames = []
            for i in range(n):
                frames.append(draw(i))
            video = np.stack(frames)
            {statement}
            return video
        """
    )
    assert ("RC301" in codes(plan)) is reduces


def test_collect_statement_is_marked() -> None:
    plan = plan_of(
        """
        import torch

        def run(n: int = 3):
            video = []
            for i in range(n):
                video.append(draw(i))
            video = torch.cat(video, dim=0)
            return video
        """
    )
    assert [e.role for e in plan.epilogue] == ["collect", "return"]


CONFIG_CLASS = """
class P:
    def __init__(self, config):
        self.config = config
        self.h = config["height"]
        self.w = config.get("width", 64)
        self.mode = config.get("mode")

    def run(self, n: int = 3):
        frames = []
        for i in range(n):
            frames.append(draw(i, self.config["palette"]))
        return frames
"""


def test_config_keys_read_in_the_constructor_and_through_self_config() -> None:
    plan = plan_of(CONFIG_CLASS)
    cons = plan.constructor
    assert (cons.kind, cons.class_name, cons.config_param) == ("config", "P", "config")
    keys = [(k.name, k.default_code, k.has_default) for k in cons.keys]
    assert keys == [
        ("height", "", False),
        ("width", "64", True),
        ("mode", "None", True),
        ("palette", "", False),
    ]
    rc401 = [d for d in plan.diagnostics if d.code == "RC401"]
    assert [d.line for d in rc401] == [5, 12]
    assert "height" in rc401[0].message


def test_keyword_constructor() -> None:
    plan = plan_of(
        """
        class P:
            def __init__(self, size=32, hidden: int = 8, *, seed=0):
                self.size = size

            def run(self, n: int = 3):
                frames = []
                for i in range(n):
                    frames.append(draw(i))
                return frames
        """
    )
    cons = plan.constructor
    assert cons.kind == "kwargs"
    assert [(p.name, p.default_code, p.annotation) for p in cons.params] == [
        ("size", "32", ""),
        ("hidden", "8", "int"),
        ("seed", "0", ""),
    ]


def test_function_pipeline_has_no_constructor() -> None:
    plan = plan_of(
        """
        def run(n: int = 3):
            frames = []
            for i in range(n):
                frames.append(draw(i))
            return frames
        """
    )
    assert (plan.constructor.kind, plan.symbol_kind) == ("none", "function")


def test_no_grad_autocast_and_inference_mode_are_kept() -> None:
    plan = plan_of(
        """
        import torch

        class P:
            @torch.no_grad()
            @staticmethod
            def run(n: int = 3):
                frames = []
                with torch.inference_mode(), torch.autocast("cuda"):
                    for i in range(n):
                        frames.append(draw(i))
                return frames
        """
    )
    assert [(k.kind, k.code) for k in plan.kept] == [
        ("decorator", "torch.no_grad()"),
        ("with", "torch.inference_mode()"),
        ("with", 'torch.autocast("cuda")'),
    ]
    assert [p.name for p in plan.params] == ["n"]


# ---- what is too slow or too coarse to change mid-clip, whatever the loop reads

HEAVY = """
import torch


def main(prompt: str, model_id: str = "org/model", scale: float = 1.0, guidance: float = 1.0,
         input: str = "in.mp4", device: str = "cuda", output_dir: str = "out",
         save_depth: bool = False, ratio: float = None, width: int = 64):
    video = read_video(input)
    height = int(video.shape[1] * scale)
    stream = StreamWrapper(model_id_or_path=model_id, height=height).to(device)
    stream.prepare(prompt=prompt, guidance_scale=guidance)
    cond = stream.encode(prompt).to(device)
    result = torch.zeros(video.shape[0], height, 8, 3)
    for i in range(video.shape[0]):
        if ratio is None:
            ratio = 0.5
        frame = stream(video[i], cond, ratio, width)
        if save_depth:
            save_image(frame, f"{output_dir}/{i}.png")
        result[i] = frame
    result = result * 255
    write_video(f"{output_dir}/out.mp4", result)
    return result
"""


@pytest.mark.parametrize(
    ("name", "live", "reason"),
    [
        ("prompt", True, "feeds `cond`"),
        ("guidance", True, "feeds `cond`"),  # through prepare(): a cheap call on the model
        ("model_id", False, "loads the model `stream`: applies at restart"),
        ("scale", False, "loads the model `stream`"),
        ("input", False, "reads the file behind `video`: applies at restart"),
        ("device", False, "loads the model `stream`"),  # `.to(device)` moves it
        ("output_dir", False, "not read by the frame loop"),  # only to save
        ("save_depth", False, "not read by the frame loop"),
        ("ratio", True, "read inside the frame loop"),
        ("width", False, "sets the frame size: applies at restart"),
    ],
)
def test_model_loads_file_reads_and_saves_do_not_make_a_field_live(
    name: str, live: bool, reason: str
) -> None:
    f = plan_of(HEAVY).state_field(name)
    assert (f.live, reason in f.reason) == (live, True), f.reason


def test_a_path_a_device_or_a_frame_size_read_in_the_loop_applies_at_restart() -> None:
    plan = plan_of(
        """
        def render(views, save_path: str = "out", device: str = "cpu", height: int = 32,
                   gain: float = 1.0):
            frames = []
            for v in views:
                frames.append(draw(v, save_path, device, height) * gain)
            return frames
        """
    )
    reasons = {f.name: (f.live, f.reason) for f in plan.state}
    assert reasons["save_path"] == (False, "a path: applies at restart")
    assert reasons["device"] == (False, "chooses where the model runs: applies at restart")
    assert reasons["height"] == (False, "sets the frame size: applies at restart")
    assert reasons["gain"][0] is True


def test_an_in_place_change_to_a_loaded_model_applies_at_restart() -> None:
    plan = plan_of(
        """
        def render(grid, poses, nofg: bool = False, radius: float = 1.0, shift: float = 0.0):
            if nofg:
                grid.density_data.data[:] = 0.0
            poses = poses * radius
            poses[:, 3] += shift
            frames = []
            for p in poses:
                frames.append(grid.render(p))
            return frames
        """
    )
    assert not plan.state_field("nofg").live
    assert "changes the loaded `grid` in place" in plan.state_field("nofg").reason
    # writing items of an array (not attributes of an object) is a cheap recompute
    assert plan.state_field("radius").live and plan.state_field("shift").live


def test_a_processor_built_in_a_with_block_is_a_model_load() -> None:
    plan = plan_of(
        """
        def run(source, ratio: float = 1.2, weight: float = 1.0, model_path: str = "m.onnx"):
            with ImageProcessor(source.shape, model_path) as proc:
                face = proc.preprocess(source, ratio)
            frames = []
            for t in range(8):
                frames.append(draw(face, t) * weight)
            return frames
        """
    )
    assert not plan.state_field("ratio").live
    assert "loads the model `face`" in plan.state_field("ratio").reason
    assert plan.state_field("weight").live


def test_a_field_guarding_the_sink_is_live_one_guarding_a_save_is_not() -> None:
    plan = plan_of(
        """
        def run(n: int = 4, mirror: bool = False, dump: bool = False):
            frames = []
            for i in range(n):
                x = draw(i)
                if dump:
                    save(x)
                if mirror:
                    x = x[:, ::-1]
                frames.append(x)
            return frames
        """
    )
    assert plan.state_field("mirror").live
    assert not plan.state_field("dump").live


def test_the_accumulators_initial_size_is_not_a_post_loop_field() -> None:
    plan = plan_of(
        """
        import torch

        def run(n: int = 4, rows: int = 8, gain: float = 2.0):
            out = torch.zeros(n, rows)
            for i in range(n):
                out[i] = draw(i)
            out = out * gain
            return out
        """
    )
    assert plan.state_field("gain").live and "post-loop" in plan.state_field("gain").reason
    assert not plan.state_field("rows").live
