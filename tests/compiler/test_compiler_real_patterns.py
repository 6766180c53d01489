"""Shapes of real research code that used to get a wrong plan, each written the way that code
looks (our own snippets): which loop is the frame loop, or the refusal that says why none is."""

from __future__ import annotations

import textwrap

import pytest
from compiler_helpers import codes, errors, plan_of

PARSE_RANGE_AND_CLICK = """
    import click
    import imageio

    def parse_range(s):
        out = []
        for p in s.split(","):
            out.append(int(p))
        return out

    def gen_interp_video(G, mp4, seeds, psi=1.0, w_frames=60):
        writer = imageio.get_writer(mp4)
        ws = G.mapping(seeds, psi)
        for frame_idx in range(len(seeds) * w_frames):
            img = G.synthesis(interp(ws, frame_idx / w_frames))
            writer.append_data(img)
        writer.close()

    @click.command()
    @click.option("--seeds", type=parse_range)
    def generate_images(seeds, output):
        G = load_network()
        gen_interp_video(G=G, mp4=output, seeds=seeds)
"""


def test_a_parser_helper_never_outranks_the_pipeline_a_click_command_calls() -> None:
    plan = plan_of(PARSE_RANGE_AND_CLICK)
    assert plan.ok and plan.symbol == "gen_interp_video"
    reasons = " ".join(c.reasons[0] for c in plan.candidates if c.chosen)
    assert "helper" not in " ".join(r for c in plan.candidates if c.chosen for r in c.reasons)
    assert reasons


def test_a_loop_collecting_labels_is_ruled_out_when_another_makes_frames() -> None:
    plan = plan_of(
        """
        def generate(G, dataset, n: int = 8):
            labels = [dataset.get_label(i) for i in range(n)]
            frames = []
            for i in range(n):
                frames.append(G.synthesis(labels[i]))
            return frames
        """
    )
    assert plan.frame_loop is not None and plan.frame_loop.line == 5


def test_a_method_only_the_constructor_calls_is_never_the_pipeline() -> None:
    plan = plan_of(
        """
        class Game:
            def __init__(self, ckpt):
                self._init_models(ckpt)

            def _init_models(self, ckpt):
                state = {}
                for k, v in load(ckpt).items():
                    state[k.replace("model.", "")] = v
                self.model = build(state)
        """
    )
    assert not plan.ok and "RC101" in codes(plan)
    assert "only builds the object" in next(
        d.message for d in plan.diagnostics if d.code == "RC101"
    )


def test_frames_that_cross_threads_through_queues_are_refused_naming_the_threads() -> None:
    plan = plan_of(
        """
        import _thread
        from queue import Queue

        read_q, write_q = Queue(100), Queue(100)

        def writer(q):
            while True:
                frame = q.get()
                out.write(frame)

        _thread.start_new_thread(writer, (write_q,))
        while True:
            frame = read_q.get()
            for mid in model.interpolate(prev, frame):
                write_q.put(mid)
        """
    )
    assert errors(plan) == ["RC114"]
    message = next(d.message for d in plan.diagnostics if d.code == "RC114")
    assert "writer" in message and "queue" in message


def test_one_whole_clip_per_iteration_is_refused() -> None:
    plan = plan_of(
        """
        def main(pipeline, prompts, seeds):
            samples = []
            for prompt, seed in zip(prompts, seeds):
                sample = pipeline(prompt, video_length=16, num_inference_steps=25).videos
                samples.append(sample)
            return samples
        """
    )
    assert errors(plan) == ["RC115"]
    assert "whole clip" in next(d.message for d in plan.diagnostics if d.code == "RC115")


def test_clips_that_continue_each_other_are_chunks_not_separate_clips() -> None:
    plan = plan_of(
        """
        def inference_process(pipeline, audio_emb, times: int = 4, clip_length: int = 16):
            tensor_result = []
            for t in range(times):
                if len(tensor_result) == 0:
                    motion = reference_frames()
                else:
                    motion = tensor_result[-1][:, -2:]
                audio = audio_emb[t * clip_length : (t + 1) * clip_length]
                out = pipeline(motion=motion, audio=audio, video_length=clip_length)
                tensor_result.append(out.videos)
            return torch.cat(tensor_result, dim=2)
        """
    )
    assert plan.ok and plan.frame_loop is not None
    assert plan.frame_loop.frames_per_iteration == "chunk"


def test_a_loop_that_saves_a_whole_video_each_iteration_is_refused() -> None:
    plan = plan_of(
        """
        import imageio

        def sample_all(model, prompts):
            for i, prompt in enumerate(prompts):
                frames = model.sample(prompt)
                imageio.mimsave(f"{i}.mp4", frames)
        """
    )
    assert errors(plan) == ["RC115"]


def test_a_decode_helper_called_after_the_callers_denoising_loop_is_refused() -> None:
    plan = plan_of(
        """
        class Editor:
            def decode_latents(self, latents, batch_size=8):
                imgs = []
                for i in range(0, len(latents), batch_size):
                    imgs.append(self.vae.decode(latents[i : i + batch_size]).sample)
                return torch.cat(imgs)

            def edit_video(self, x):
                for t in self.scheduler.timesteps:
                    x = self.denoise_all_frames(x, t)
                return self.decode_latents(x)
        """
    )
    assert errors(plan) == ["RC111"]
    message = next(d.message for d in plan.diagnostics if d.code == "RC111")
    assert "Editor.edit_video makes the whole clip" in message


def test_frames_written_in_an_inner_loop_make_the_outer_loop_a_chunk_loop() -> None:
    plan = plan_of(
        """
        import cv2

        def main(model, batches, out):
            for i, (mels, frames, boxes) in enumerate(batches):
                pred = model(mels, frames)
                pred = pred.cpu().numpy() * 255.0
                for p, f, c in zip(pred, frames, boxes):
                    y1, y2, x1, x2 = c
                    f[y1:y2, x1:x2] = cv2.resize(p.astype("uint8"), (x2 - x1, y2 - y1))
                    out.write(f)
        """
    )
    assert plan.ok and plan.frame_loop is not None
    assert (plan.frame_loop.line, plan.frame_loop.frames_per_iteration) == (5, "chunk")
    assert plan.frame_loop.sink.call == "out.write"


def test_the_generation_loop_wins_over_the_decode_loop_of_what_it_collected() -> None:
    plan = plan_of(
        """
        def generate_rollout(unet, vae, actions, context):
            all_latents = []
            for i in range(len(actions)):
                z = next_latent(unet, context, actions[i])
                all_latents.append(z)
                context = torch.cat([context[1:], z])
            all_images = []
            for latent in all_latents[4:]:
                all_images.append(decode_and_postprocess(vae, latent))
            return all_images
        """
    )
    assert plan.ok and plan.frame_loop is not None and plan.frame_loop.line == 4
    assert plan.decode_after_loop


def test_a_token_loop_inside_step_does_not_hide_the_step_api() -> None:
    plan = plan_of(
        """
        class WorldModelEnv:
            def reset(self):
                self.tokens = []

            def step(self, action):
                seq = []
                for k in range(1 + self.tokens_per_obs):
                    seq.append(self.sample_token(action, k))
                obs = self.decode(seq)
                return obs, 0.0, False, None
        """
    )
    assert plan.ok and plan.frame_loop is not None and plan.frame_loop.kind == "step"


def test_a_data_loader_with_a_batch_size_is_a_chunk_per_iteration() -> None:
    plan = plan_of(
        """
        from torch.utils.data import DataLoader

        def convert_video(model, source, writer, seq_chunk: int = 12):
            reader = DataLoader(source, batch_size=seq_chunk)
            for src in reader:
                fgr = model(src)
                writer.write(fgr[0])
        """
    )
    assert plan.ok and plan.frame_loop is not None
    assert plan.frame_loop.frames_per_iteration == "chunk"


def test_a_web_ui_generator_is_never_the_frame_loop() -> None:
    plan = plan_of(
        """
        import gradio as gr

        def process(prompt):
            while True:
                flag, data = stream.next()
                yield gr.update(value=data), gr.update(visible=True)

        def render(model, n: int = 8):
            frames = []
            for i in range(n):
                frames.append(model.render(i))
            return frames
        """
    )
    assert plan.ok and plan.symbol == "render"


def test_a_loop_that_only_reads_input_frames_is_not_the_frame_loop() -> None:
    plan = plan_of(
        """
        import cv2

        def extract_frames(path, save_dir):
            cap = cv2.VideoCapture(path)
            for i in range(100):
                ok, frame = cap.read()
                cv2.imwrite(f"{save_dir}/{i}.jpg", frame)

        def lipsync(model, frames, mels):
            out = []
            for f, m in zip(frames, mels):
                out.append(model(f, m))
            return out
        """
    )
    assert plan.ok and plan.symbol == "lipsync"


# ---- scripts written as functions: the options namespace is the state

MAIN_PARSES = """
    import argparse
    import torch

    def parse_args():
        parser = argparse.ArgumentParser()
        parser.add_argument("--checkpoint_dir", type=str, required=True)
        parser.add_argument("--window_size", type=int, default=16)
        parser.add_argument("--temperature", type=float, default=0.0, help="sampling temperature")
        parser.add_argument("--frames", type=int, default=8)
        return parser.parse_args()

    @torch.no_grad()
    def main():
        args = parse_args()
        model = Model.from_pretrained(args.checkpoint_dir)
        frames = []
        for t in range(args.frames):
            frames.append(model.generate(t, temperature=args.temperature))
        save(frames, args.window_size)

    if __name__ == "__main__":
        main()
"""


def test_a_main_that_parses_its_own_options_is_a_script_whose_options_are_fields() -> None:
    plan = plan_of(MAIN_PARSES)
    assert plan.ok and plan.symbol == "main" and plan.symbol_kind == "module"
    assert "RC102" in codes(plan)
    temperature = plan.state_field("temperature")
    assert temperature.live and temperature.default == 0.0
    assert temperature.description == "sampling temperature"  # the option's help
    # the option `--frames` and the list `frames` cannot share a name: the field is renamed
    assert not plan.state_field("args_frames").live
    assert plan.setup is not None and plan.setup.statements[0] == "args = __reactorc_options__"
    assert any("from_pretrained" in s for s in plan.setup.statements)
    assert "checkpoint_dir" in {k.name for k in plan.setup.config}
    # an option read after the loop, only to save, is a field that never applies mid-clip
    assert {f.name for f in plan.state} == {"temperature", "args_frames", "window_size"}
    assert not plan.state_field("window_size").live
    assert plan.lowered_source.count("def __reactorc_script__(") == 1
    assert "def main(" not in plan.lowered_source
    assert "@torch.no_grad()" in plan.lowered_source  # grad modes stay


PARAM_NAMESPACE = """
    import argparse
    from omegaconf import OmegaConf

    def inference_process(args):
        config = OmegaConf.load(args.config)
        config = OmegaConf.merge(config, vars(args))
        scale = [config.pose_weight, config.lip_weight]
        out = []
        for t in range(config.n_clips):
            out.append(pipe(t, motion_scale=scale))
        return out

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--config", default="default.yaml")
        parser.add_argument("--pose_weight", type=float, default=1.0)
        parser.add_argument("--lip_weight", type=float, default=1.0)
        command_line_args = parser.parse_args()
        inference_process(command_line_args)
"""


def test_a_function_given_the_parsed_options_reads_them_through_a_merged_config() -> None:
    plan = plan_of(PARAM_NAMESPACE)
    assert plan.ok and plan.symbol == "inference_process" and plan.symbol_kind == "module"
    assert plan.state_field("pose_weight").live and plan.state_field("lip_weight").live
    assert "feeds `scale`" in plan.state_field("pose_weight").reason
    assert plan.setup is not None
    assert plan.setup.statements[:3] == (
        "args = __reactorc_options__",
        "config = OmegaConf.load(args.config)",
        "config = OmegaConf.merge(config, vars(args))",
    )


def test_a_one_parameter_function_not_given_parsed_options_stays_a_function() -> None:
    plan = plan_of(PARAM_NAMESPACE.replace("inference_process(command_line_args)", "pass"))
    assert plan.symbol_kind == "function"
    annotated = PARAM_NAMESPACE.replace(
        "def inference_process(args):", "def inference_process(args: argparse.Namespace):"
    ).replace("inference_process(command_line_args)", "pass")
    assert plan_of(annotated).symbol_kind == "module"  # the annotation says it is the options


# ---- a script's setup and its recomputed statements stay consistent

ORASIS = """
    import torch

    total_frames = 8
    offset = 2
    device = "cpu"
    model = load_model("ckpt.pt").to(device)
    video = read_video("clip.mp4")
    video = video[offset:offset + total_frames]
    n_prompt = 1
    x = video[:n_prompt]
    scale = 0.5
    x = x * scale
    betas = schedule(100).to(device)
    alphas = 1.0 - betas
    frames = []
    for i in range(total_frames):
        x = model(x, alphas)
        frames.append(x)
    save(frames)
"""


def test_a_constant_computed_from_script_values_is_script_code() -> None:
    from reactorc.analysis._cst import Ctx
    from reactorc.analysis.index import build_index
    from reactorc.parse import parse_text

    source = parse_text(textwrap.dedent(ORASIS), "s.py").source
    assert source is not None
    index = build_index(Ctx.of(source))
    script = {line.strip() for s in index.script for line in Ctx.of(source).code(s).splitlines()}
    assert "alphas = 1.0 - betas" in script  # betas is computed: so is alphas
    assert "B = 1" not in script and "offset = 2" not in script


def test_constants_between_the_def_and_the_loop_stay_module_level() -> None:
    plan = plan_of(ORASIS)
    assert plan.ok and plan.symbol == "<module>"
    lowered = plan.lowered_source.splitlines()
    original = textwrap.dedent(ORASIS).splitlines()
    # every line above keeps its number; constants inside the function's lines move below
    assert len(lowered) > len(original)
    tail = lowered[len(original) :]
    assert "n_prompt = 1" in tail and "scale = 0.5" in tail
    assert not any(
        line.strip() in ("n_prompt = 1", "scale = 0.5") for line in lowered[: len(original)]
    )
    # the constants are fields: parameters of the function, never shadowed inside it
    assert {"n_prompt", "scale"} <= {f.name for f in plan.state}
    assert plan.state_field("scale").live is False  # the initial value of carried `x`
    assert plan.setup is not None
    assert "alphas = 1.0 - betas" in plan.setup.statements


def test_a_setup_statement_reading_a_recomputed_value_pulls_it_into_the_setup() -> None:
    plan = plan_of(
        """
        import argparse

        def main():
            parser = argparse.ArgumentParser()
            parser.add_argument("--window", type=int, default=16)
            parser.add_argument("--temperature", type=float, default=1.0)
            args = parser.parse_args()
            data = Dataset(window=args.window)
            model = Model.from_pretrained("ckpt", tokens=data.vocab)
            example = data[0].to("cuda")
            frames = []
            for t in range(args.window):
                frames.append(model.step(example, t, args.temperature))
            save(frames)

        if __name__ == "__main__":
            main()
        """
    )
    assert plan.ok and plan.setup is not None
    statements = plan.setup.statements
    # the model is loaded once, from the dataset an option sizes: the dataset is built there too
    assert any(s.startswith("data = Dataset(") for s in statements)
    assert any(s.startswith("model = Model.from_pretrained(") for s in statements)
    # a move of a value the function recomputes is recomputed with it
    assert not any(s.startswith("example = ") for s in statements)
    assert plan.state_field("temperature").live


def test_a_move_of_a_recomputed_value_is_recomputed_with_it() -> None:
    plan = plan_of(
        """
        import argparse
        import numpy as np
        import torch

        parser = argparse.ArgumentParser()
        parser.add_argument("--radius", type=float, default=2.0)
        parser.add_argument("--n", type=int, default=8)
        args = parser.parse_args()
        device = "cuda:0"
        grid = Grid.load("ckpt.npz", device=device)
        c2ws = np.stack([orbit(a, args.radius) for a in np.linspace(0, 360, args.n)])
        c2ws = torch.from_numpy(c2ws).to(device=device)
        frames = []
        for c2w in c2ws:
            frames.append(grid.render(c2w))
        save(frames)
        """
    )
    assert plan.ok
    assert plan.state_field("radius").live  # the orbit and its move to the device recompute
    assert plan.setup is not None
    assert not any("from_numpy" in s for s in plan.setup.statements)


def test_a_size_computed_from_an_option_with_int_is_not_parser_code() -> None:
    plan = plan_of(
        """
        import argparse

        import cv2
        import torch

        PATHS = ["a.jpg", "b.jpg"]

        if __name__ == "__main__":
            parser = argparse.ArgumentParser()
            parser.add_argument("--mouth", type=int, default=64)
            opt = parser.parse_args()
            resize_w = int(opt.mouth + opt.mouth // 4)
            refs = [cv2.resize(cv2.imread(p), (resize_w, resize_w)) for p in PATHS]
            model = torch.load("dinet.pt")
            frames = []
            for t in range(10):
                frames.append(model(refs, t))
            save(frames)
        """
    )
    assert plan.ok and plan.setup is not None
    assert any(s.startswith("resize_w = int(") for s in plan.setup.statements)


def test_the_call_whose_result_is_used_alone_is_the_driver_not_half_of_a_joined_clip() -> None:
    plan = plan_of(
        """
        import argparse

        from io_utils import read_inputs

        def animate(source, driving, relative=True):
            out = []
            for i in range(len(driving)):
                out.append(warp(source, driving[i], relative))
            return out

        if __name__ == "__main__":
            parser = argparse.ArgumentParser()
            parser.add_argument("--best", action="store_true")
            opt = parser.parse_args()
            source, driving = read_inputs()
            if opt.best:
                forward = animate(source, driving[3:])
                backward = animate(source, driving[:3][::-1])
                out = backward[::-1] + forward[1:]
            else:
                out = animate(source, driving)
            save(out)
        """
    )
    assert plan.ok
    assert plan.argument("driving").code == "driving"  # the else branch's call, not driving[3:]
    assert not plan.after_call


def test_logging_in_the_setup_is_not_kept_to_build_an_argument() -> None:
    plan = plan_of(
        """
        from nets import Net, get_logger

        def render(model, n: int = 4):
            frames = []
            for i in range(n):
                frames.append(model(i))
            return frames

        if __name__ == "__main__":
            logger = get_logger()
            model = Net()
            logger.info(f"built the model")
            print("ready")
            render(model)
        """
    )
    assert plan.setup is not None
    assert plan.setup.statements == ("model = Net()",)


# ---- an input clip read frame by frame: the client's camera goes there


def test_a_clip_read_from_a_file_and_indexed_per_frame_is_the_camera_read() -> None:
    plan = plan_of(
        """
        from torchvision.io import read_video

        def main(input: str, prompt: str = "a cat", strength: float = 0.4):
            footage = read_video(input)[0] / 255
            out = []
            for i in range(footage.shape[0]):
                out.append(stream(footage[i].permute(2, 0, 1), prompt, strength))
            return out
        """
    )
    assert plan.ok and plan.frame_loop is not None
    cam = plan.frame_loop.camera
    assert cam is not None and (cam.kind, cam.clip, cam.expr) == ("index", "footage", "footage[i]")


def test_a_loop_over_a_clip_by_name_reads_each_element_from_the_camera() -> None:
    plan = plan_of(
        """
        def stylise(model, video, strength: float = 0.5):
            out = []
            for t, frame in enumerate(video):
                out.append(model(frame, strength))
            return out
        """
    )
    assert plan.frame_loop is not None
    cam = plan.frame_loop.camera
    assert cam is not None and (cam.kind, cam.clip, cam.expr) == ("iter", "video", "frame")


@pytest.mark.parametrize(
    "source",
    [
        # actions and camera poses are sequences a client steers, not footage
        "def roll(model, actions, n: int = 4):\n    out = []\n    for i in range(n):\n"
        "        out.append(model(actions[i]))\n    return out\n",
        "def render(model, poses):\n    out = []\n    for pose in poses:\n"
        "        out.append(model(pose))\n    return out\n",
        # several frames an iteration: one camera frame cannot stand for a chunk
        "def run(model, video):\n    out = []\n    for chunk in video:\n"
        "        out.extend(model(chunk))\n    return out\n",
    ],
    ids=["actions", "poses", "chunks"],
)
def test_sequences_that_are_not_footage_are_not_read_from_the_camera(source: str) -> None:
    plan = plan_of(source)
    assert plan.frame_loop is not None and plan.frame_loop.camera is None


def test_a_capture_read_in_a_while_loop_is_the_camera_read_in_bgr() -> None:
    plan = plan_of(
        """
        import cv2

        def cartoon(path: str, strength: float = 0.5):
            cap = cv2.VideoCapture(path)
            out = []
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                out.append(edges(frame) * strength)
            return out
        """
    )
    assert plan.ok and plan.frame_loop is not None
    cam = plan.frame_loop.camera
    assert cam is not None and (cam.kind, cam.clip, cam.expr) == ("read", "cap", "frame")
    assert plan.to_json()["frame_loop"]["camera"] == {
        "kind": "read",
        "clip": "cap",
        "expr": "frame",
    }


GAN_GENERATOR = """
    def load_checkpoints(path):
        return build(path), build(path)

    def animate(source, driving, generator, kp_detector, relative: bool = True):
        out = []
        for i in range(len(driving)):
            out.append(generator(source, kp_detector(driving[i]), relative))
        return out

    if __name__ == "__main__":
        generator, kp_detector = load_checkpoints("vox.pth")
        animate(read("a.png"), read("b.mp4"), generator, kp_detector)
"""


def test_a_parameter_called_generator_that_is_a_network_comes_from_the_driver() -> None:
    """Named like a random generator, but called (`generator(source, ...)`): a GAN's
    generator the driver loads, not a generator a `seed` field could draw."""
    plan = plan_of(GAN_GENERATOR)
    assert plan.ok
    assert "seed" not in {f.name for f in plan.state}
    generator = next(a for a in plan.arguments if a.param == "generator")
    assert generator.source == "driver"


def test_a_random_generator_passed_on_as_a_keyword_is_drawn_from_a_seed_field() -> None:
    plan = plan_of(
        """
        def sample(model, generator, steps: int = 8):
            out = []
            x = model.init(generator=generator)
            for t in range(steps):
                x = model.denoise(x, t)
                out.append(x)
            return out
        """
    )
    assert "seed" in {f.name for f in plan.state}
    assert not any(f.name == "seed" and f.live for f in plan.state)


def test_a_decorated_function_between_a_scripts_setup_and_loop_moves_out_whole() -> None:
    """Its decorators go with it (they are lines above the `def`): the laid-out script parses."""
    plan = plan_of(
        """
        import functools
        import numpy as np

        size = 8
        frames = []

        @functools.lru_cache(maxsize=None)
        def palette(n):
            return np.arange(n)

        for i in range(4):
            frames.append(np.zeros((size, size, 3)) + palette(4)[i])
        np.save("clip.npy", np.stack(frames))
        """
    )
    assert plan.ok, [d.format() for d in plan.diagnostics]
    moved = plan.lowered_source.split("# moved out of the script's function (reactorc)\n", 1)
    assert len(moved) == 2
    assert "@functools.lru_cache(maxsize=None)\ndef palette(n):" in moved[1]


PORTRAIT_DRIVER = """
    import argparse
    import imageio
    import torch

    def animate(source, driving, model, strength: float = 1.0):
        out = []
        for i in range(len(driving)):
            out.append(model(source, driving[i]) * strength)
        return out

    if __name__ == "__main__":
        parser = argparse.ArgumentParser()
        parser.add_argument("--source", default="face.png")
        parser.add_argument("--frames", default="frames/")
        parser.add_argument("--ckpt", default="model.pth")
        opt = parser.parse_args()
        model = torch.load(opt.ckpt)
        logo = imageio.imread("logo.png")
        faces = [imageio.imread(f) for f in sorted_files(opt.frames)]
        source = imageio.imread(opt.source)[..., :3]
        animate(source, faces, model)
"""


def test_a_picture_the_driver_reads_once_is_a_file_input_and_nothing_else_is() -> None:
    """The source portrait is; a checkpoint (`torch.load`), a folder of frames read in a
    comprehension, and a picture that never reaches the stream (`logo`) are not."""
    plan = plan_of(PORTRAIT_DRIVER)
    assert plan.ok and plan.symbol == "animate"
    (fi,) = plan.file_inputs
    assert (fi.field, fi.kind, fi.call, fi.path, fi.names) == (
        "source",
        "image",
        "imageio.imread",
        "opt.source",
        ("source",),
    )
