"""Shapes of real research code that used to get a wrong plan, each written the way that code
looks (our own snippets): which loop is the frame loop, or the refusal that says why none is."""

from __future__ import annotations

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
