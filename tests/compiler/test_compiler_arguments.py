"""Where each parameter's value comes from: its default, the file's own driver, an --entry
script, its role (a prompt list, noise from a seed), reactorc.yaml / --arg; what is missing is a
warning with a stanza to fill, and convert stops on it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from compiler_helpers import codes, plan_of

from reactorc.analysis import explain
from reactorc.convert import ConvertError, build_files


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source))
    return path


SEED_DOCUMENT = """
    import numpy as np

    class OriginalPipeline:
        def __init__(self, config):
            self.net = load_checkpoint(config["path"])

        def inference(self, prompt, num_frames=100):
            frames = []
            for step in range(num_frames):
                frame = self.net.forward(prompt=prompt, step=step)
                frames.append(frame)
            return np.stack(frames)
    """


def test_the_seed_documents_untyped_prompt_is_a_live_str_field_starting_empty() -> None:
    plan = plan_of(SEED_DOCUMENT)
    assert plan.ok
    prompt = plan.state_field("prompt")
    assert (prompt.type, prompt.live, prompt.has_default, prompt.source) == (
        "str",
        True,
        False,
        "neutral",
    )
    note = next(d for d in plan.diagnostics if d.code == "RC207")
    assert "passed as `prompt=`" in note.message and "edit" not in note.hint
    arg = plan.argument("prompt")
    assert arg is not None and (arg.role, arg.source, arg.field) == ("live", "state", "prompt")


@pytest.mark.parametrize(
    ("signature", "use", "type_", "how"),
    [
        ("text", "self.encode(text.strip())", "str", "string method"),
        ("n", "frames.extend(range(n))", "int", "counts with it"),
        ("mode", "1 if mode == 'fast' else 2", "str", "compared with the text"),
        ("guidance_scale", "guidance_scale", "float", "named `guidance_scale`"),
        ("num_inference_steps", "num_inference_steps", "int", "named"),
        ("negative_prompt", "negative_prompt", "str", "named"),
    ],
)
def test_an_untyped_parameter_gets_its_type_from_its_use_or_name(
    signature: str, use: str, type_: str, how: str
) -> None:
    plan = plan_of(
        f"""
        class P:
            def __call__(self, {signature}):
                frames = []
                for i in range(4):
                    frames.append(self.draw(i, {use}))
                return frames
        """
    )
    field = plan.state_field(signature)
    assert field.type == type_
    assert how in next(d.message for d in plan.diagnostics if d.code == "RC207")


def test_an_untyped_parameter_used_as_an_object_stays_an_input() -> None:
    plan = plan_of(
        """
        def render(prompt, n: int = 4):
            frames = []
            for i in range(n):
                frames.append(prompt.render(i))
            return frames
        """
    )
    assert [f.name for f in plan.state] == ["n"]


DRIVER = """
    import argparse
    import torch

    def orbit(i):
        return torch.eye(4) * i

    def render_path(render_poses, hwf, chunk, exposure=1.0, savedir=None):
        frames = []
        for c2w in render_poses:
            frames.append(draw(c2w, hwf, chunk) * exposure)
        return frames

    def config_parser():
        parser = argparse.ArgumentParser()
        parser.add_argument("--chunk", type=int, default=1024, help="rays at once")
        parser.add_argument("--n_poses", type=int, default=40)
        parser.add_argument("--ckpt", type=str, required=True)
        parser.add_argument("--H", type=int, required=True)
        return parser

    def train(args):
        model = load(args.ckpt)
        hwf = [args.H, 48, 50.0]
        render_poses = torch.stack([orbit(i) for i in range(args.n_poses)], 0)
        print("rendering")
        with torch.no_grad():
            render_path(render_poses, hwf, args.chunk)

    if __name__ == "__main__":
        parser = config_parser()
        args = parser.parse_args()
        train(args)
    """


def test_a_drivers_statements_become_load_and_its_options_config_keys() -> None:
    plan = plan_of(DRIVER.replace("load(", "torch.load("))
    assert plan.ok and plan.setup is not None
    sources = {a.param: (a.role, a.source, a.code) for a in plan.arguments}
    assert sources["render_poses"] == ("live", "driver", "render_poses")
    assert sources["hwf"] == ("input", "driver", "hwf")
    assert sources["chunk"] == ("input", "driver", "args.chunk")
    assert sources["savedir"] == ("input", "default", "None")
    assert sources["exposure"][:2] == ("live", "state")
    statements = plan.setup.statements
    # the options come from config.yml, the caller's own parameter is bound from the main block,
    # and nothing that only prints is kept
    assert statements[0] == "args = __reactorc_options__"
    assert "args = args" in statements
    assert any(s.startswith("render_poses = torch.stack(") for s in statements)
    assert not any("print" in s for s in statements)
    assert plan.setup.namespace == "args"
    keys = {k.name: k for k in plan.setup.config}
    assert keys["chunk"].default_code == "1024" and keys["chunk"].has_default
    assert not keys["H"].has_default  # required=True: load() names it when unset
    assert "ckpt" not in keys  # only what the arguments need: the model is not passed
    assert "train()" in plan.setup.origin and "`__main__` block" in plan.setup.origin
    assert [k.code for k in plan.kept if k.kind == "call"] == ["torch.no_grad()"]
    assert "RC504" in codes(plan)


def test_an_untyped_parameter_the_driver_fills_from_a_typed_option_is_a_field() -> None:
    source = (
        DRIVER.replace("load(", "torch.load(")
        .replace(
            "render_path(render_poses, hwf, args.chunk)",
            "render_path(render_poses, hwf, args.chunk, shade=args.shade)",
        )
        .replace(
            'parser.add_argument("--n_poses", type=int, default=40)',
            'parser.add_argument("--n_poses", type=int, default=40)\n'
            '        parser.add_argument("--shade", type=float, default=1.5, help="how dark")',
        )
        .replace("exposure=1.0, savedir=None):", "exposure=1.0, savedir=None, shade=None):")
        .replace("* exposure)", "* exposure * shade)")
    )
    plan = plan_of(source)
    shade = plan.state_field("shade")
    assert (shade.type, shade.live) == ("float", True)
    assert any(d.code == "RC207" and "`--shade` option" in d.message for d in plan.diagnostics)
    # a setting of how the work is split stays a config key even though its option is typed
    assert "chunk" not in {f.name for f in plan.state}


def test_a_field_without_a_default_takes_what_the_driver_passes() -> None:
    plan = plan_of(
        """
        import argparse

        def generate(prompt, steps):
            frames = []
            for i in range(steps):
                frames.append(draw(prompt, i))
            return frames

        if __name__ == "__main__":
            parser = argparse.ArgumentParser()
            parser.add_argument("--prompt", default="a lighthouse at dusk", help="the scene")
            args = parser.parse_args()
            generate(args.prompt, 12)
        """
    )
    prompt, steps = plan.state_field("prompt"), plan.state_field("steps")
    assert (prompt.default, prompt.source, prompt.description) == (
        "a lighthouse at dusk",
        "driver",
        "the scene",
    )
    assert (steps.default, steps.source) == (12, "call-site")


def test_a_method_calling_the_pipeline_is_its_driver_with_self_the_pipeline() -> None:
    plan = plan_of(
        """
        class Renderer:
            def __init__(self, config):
                self.poses = make_poses(config.get("n", 8))

            def render_path(self, render_poses, exposure: float = 1.0):
                frames = []
                for c2w in render_poses:
                    frames.append(self.draw(c2w) * exposure)
                return frames

            def render_video(self):
                path = self.poses[::2]
                return self.render_path(path)
        """
    )
    arg = plan.argument("render_poses")
    assert arg is not None and (arg.source, arg.code) == ("driver", "path")
    assert plan.setup is not None and plan.setup.statements == ("path = self.poses[::2]",)


NOISE_PIPELINE = """
    import torch

    class CausalPipeline:
        def inference(self, noise: torch.Tensor, text_prompts: list[str]):
            cond = self.encode(text_prompts)
            out = torch.zeros_like(noise)
            for b in range(noise.shape[1]):
                out[:, b] = self.step(noise[:, b], cond)
            return out
    """


def test_noise_and_a_prompt_list_become_seed_and_prompt_fields_built_as_the_driver_builds_them(
    tmp_path: Path,
) -> None:
    pipeline = write(tmp_path, "pipeline.py", NOISE_PIPELINE)
    entry = write(
        tmp_path,
        "generate.py",
        """
        import argparse
        import torch
        from pipeline import CausalPipeline

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--prompt", default="a fox")
            parser.add_argument("--seed", type=int, default=5)
            args = parser.parse_args()
            torch.manual_seed(args.seed)
            pipe = CausalPipeline()
            noise = torch.randn([1, 21, 16], device="cpu", dtype=torch.float32)
            video = pipe.inference(noise=noise, text_prompts=[args.prompt] * 2)
            video = video[0].permute(0, 2, 1)
            torch.save(video, "out.pt")

        if __name__ == "__main__":
            main()
        """,
    )
    plan = explain(pipeline, entry=entry)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    seed, prompt = plan.state_field("seed"), plan.state_field("prompt")
    assert (seed.param, seed.default, seed.live) == ("noise", 5, False)
    assert (prompt.param, prompt.default, prompt.live) == ("text_prompts", "a fox", True)
    synthetic = [p.code for p in plan.pre_loop if p.synthetic]
    assert synthetic == [
        'noise = torch.randn([1, 21, 16], device="cpu", dtype=torch.float32, '
        'generator=torch.Generator(device="cpu").manual_seed(seed))',
        "text_prompts = [prompt] * 2",
    ]
    assert plan.setup is not None and plan.setup.path == str(entry)
    assert plan.setup.pipeline_expr == "pipe"
    # what the driver does to the result before saving it runs per chunk; the save does not
    assert [s.code for s in plan.after_call] == ["video = video[0].permute(0, 2, 1)"]
    assert plan.result_name == "video"
    assert {d.code for d in plan.diagnostics} >= {"RC208", "RC504"}


def test_an_entry_script_that_never_calls_the_pipeline_is_rc502(tmp_path: Path) -> None:
    pipeline = write(tmp_path, "pipeline.py", NOISE_PIPELINE)
    entry = write(tmp_path, "generate.py", "print('hello')\n")
    plan = explain(pipeline, entry=entry)
    assert "RC502" in codes(plan) and not plan.ok


def test_a_generator_parameter_is_seeded_from_the_seed_field() -> None:
    plan = plan_of(
        """
        import torch

        def sample(generator: torch.Generator, steps: int = 4):
            frames = []
            for i in range(steps):
                frames.append(torch.rand(3, 8, 8, generator=generator))
            return frames
        """
    )
    assert [p.code for p in plan.pre_loop if p.synthetic] == [
        "generator = torch.Generator().manual_seed(seed)"
    ]
    assert plan.state_field("seed").live is False


def test_a_missing_argument_is_a_warning_with_a_stanza_and_convert_stops_on_it(
    tmp_path: Path,
) -> None:
    source = write(
        tmp_path,
        "pipeline.py",
        """
        import torch

        def animate(source: torch.Tensor, strength: float = 1.0):
            frames = []
            for t in range(16):
                frames.append(warp(source, t) * strength)
            return frames
        """,
    )
    plan = explain(source)
    assert plan.ok  # the plan is right; only the value is missing
    d = next(d for d in plan.diagnostics if d.code == "RC501")
    assert d.severity == "warning"
    assert "pipeline.py:\n" in d.hint and "arguments:" in d.hint and "source:" in d.hint
    with pytest.raises(ConvertError) as info:
        build_files(plan, source, tmp_path / "out")
    assert "no value for `source`" in info.value.message
    assert [x.code for x in info.value.diagnostics] == ["RC501"]


def test_reactorc_yaml_and_arg_fill_what_is_missing_and_arg_wins(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "pipeline.py",
        """
        def animate(source, strength: float = 1.0):
            frames = []
            for t in range(16):
                frames.append(warp(source, t) * strength)
            return frames
        """,
    )
    (tmp_path / "reactorc.yaml").write_text(
        "pipeline.py:\n"
        "  arguments:\n"
        "    source: load_image('face.png')\n"
        "  fields:\n"
        "    strength: float\n"
        "  setup: |\n"
        "    from helpers import load_image\n"
    )
    plan = explain(source)
    arg = plan.argument("source")
    assert arg is not None and (arg.source, arg.code) == ("sidecar", "load_image('face.png')")
    assert plan.setup is not None and plan.setup.statements == ("from helpers import load_image",)
    plan = explain(source, arguments={"source": "load_image('other.png')"})
    assert plan.argument("source").code == "load_image('other.png')"  # type: ignore[union-attr]


def test_reactorc_yaml_can_declare_a_field_the_code_does_not_type(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        "pipeline.py",
        """
        def animate(intensity=None, n: int = 4):
            frames = []
            for t in range(n):
                frames.append(draw(t, intensity))
            return frames
        """,
    )
    (tmp_path / "reactorc.yaml").write_text("pipeline.py:\n  fields:\n    intensity: float\n")
    field = explain(source).state_field("intensity")
    assert (field.type, field.live) == ("float", True)


@pytest.mark.parametrize(
    ("sidecar", "problem"),
    [
        ("pipeline.py: [\n", "not valid YAML"),
        ("- a\n- b\n", "must map pipeline file names"),
        ("pipeline.py:\n  arguments:\n    source: 'torch.randn(1,'\n", "not a Python expression"),
        ("pipeline.py:\n  fields:\n    x: tensor\n", "type must be one of"),
        ("pipeline.py:\n  colour: red\n", "unknown key(s) colour"),
        ("pipeline.py:\n  entry: nowhere.py\n", "no such file"),
        ("pipeline.py:\n  setup: 'import ('\n", "setup is not valid Python"),
    ],
)
def test_a_bad_reactorc_yaml_is_rc010_naming_the_problem(
    tmp_path: Path, sidecar: str, problem: str
) -> None:
    source = write(
        tmp_path, "pipeline.py", "def f(n: int = 2):\n    return [g(i) for i in range(n)]\n"
    )
    (tmp_path / "reactorc.yaml").write_text(sidecar)
    plan = explain(source)
    assert not plan.ok
    (d,) = plan.diagnostics
    assert d.code == "RC010" and problem in d.message, d.message


def test_a_sidecar_for_another_file_is_ignored(tmp_path: Path) -> None:
    source = write(
        tmp_path, "pipeline.py", "def f(n: int = 2):\n    return [g(i) for i in range(n)]\n"
    )
    (tmp_path / "reactorc.yaml").write_text("other.py:\n  arguments:\n    x: 1\n")
    assert explain(source).ok


def test_a_driver_argument_built_from_unknown_names_is_rc503_and_missing() -> None:
    plan = plan_of(
        """
        def render(poses, exposure: float = 1.0):
            frames = []
            for c2w in poses:
                frames.append(draw(c2w) * exposure)
            return frames

        def main():
            render(load_poses_from(SCENE))
        """
    )
    d = next(d for d in plan.diagnostics if d.code == "RC503")
    assert "SCENE" in d.message and "load_poses_from" in d.message
    assert plan.argument("poses").source == "missing"  # type: ignore[union-attr]


def test_arg_flags_are_checked_before_analysis() -> None:
    from reactorc.analysis.hints import parse_arg_flags

    assert parse_arg_flags(["noise=torch.randn(1, 4)"]) == ({"noise": "torch.randn(1, 4)"}, [])
    _, problems = parse_arg_flags(["noise"])
    assert problems and "expected NAME=EXPR" in problems[0]
    _, problems = parse_arg_flags(["x=1 +"])
    assert problems and "not a Python expression" in problems[0]
