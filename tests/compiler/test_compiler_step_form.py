"""The step form (`convert --target reactor-app`): how the generator form's body is split into
start_clip / step / finish_clip, which variables move to the clip, and what is refused (RC601:
state the analysis cannot follow, naming the variable; RC602: nothing a step can iterate).

Frame-exactness against the generator form is tested on every fixture in tests/platform."""

from __future__ import annotations

import contextlib
import textwrap
from pathlib import Path
from types import MethodType, SimpleNamespace

import numpy as np
import pytest
from typer.testing import CliRunner

from reactorc.analysis import explain
from reactorc.check import committed_target
from reactorc.cli import app
from reactorc.convert import ConvertError, build_files, convert
from reactorc.render import decode_source, names_for
from reactorc.rewrite import Inference, rewrite
from reactorc.rewrite.app import StepForm, step_form

REPO = Path(__file__).resolve().parents[2]
SEED = REPO / "fixtures" / "seed" / "pipeline.py"


def _form(path: Path) -> StepForm:
    plan = explain(path)
    assert plan.ok
    names = names_for(plan, path, "reactor-app")
    return step_form(rewrite(plan, decode_source(path.read_bytes()), names.output))


def test_the_seeds_carried_variables_are_what_one_iteration_hands_the_next() -> None:
    form = _form(SEED)
    # the prompt (recomputed when it changes), its embeddings, the latent, the range's iterator
    assert form.carried == ("prompt", "cond", "uncond", "x", "iterator")
    assert form.loop_header == "for i in range(num_frames)"
    assert "clip.x = 0.8 * clip.x + 0.2 * torch.tanh(eps)" in form.step
    # made and used within one iteration: locals of step()
    assert "        eps = eps_uncond + state.guidance_scale" in form.step
    assert "clip.eps" not in form.step and "clip.img" not in form.step


def test_restart_fields_are_read_once_per_clip_and_live_fields_per_step() -> None:
    form = _form(SEED)
    assert "num_frames = state.num_frames" in form.start_clip
    assert "seed = state.seed" in form.start_clip
    assert "clip.iterator = iter(range(num_frames))" in form.start_clip
    assert "state.guidance_scale" in form.step
    assert "num_frames" not in form.step and "seed" not in form.step
    assert "self.state" not in form.start_clip + form.step  # generate() reads its input only


def test_the_loaded_pipeline_is_bound_in_each_method_not_carried() -> None:
    form = _form(SEED)
    assert "pipeline" not in form.carried
    assert "        pipeline = self.pipeline" in form.start_clip
    assert "        pipeline = self.pipeline" in form.step


def _convert(source: str, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "pipeline.py"
    path.write_text(textwrap.dedent(source).lstrip())
    plan = explain(path)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    return build_files(plan, path, tmp_path / "out", "reactor-app")


GENERATOR_BODY = """\
        pipeline = self.pipeline
        num_frames = self.state.num_frames
        k = 0
        with contextlib.nullcontext():
            total = 0
            while k < num_frames:
                k += 1
                if k == 2:
                    continue
                if k > 6:
                    break
                total += k
                yield Output(main_video=to_video(np.full((1, 2, 2, 3), k * self.state.level, np.uint8)))
            else:
                yield Output(main_video=to_video(np.full((1, 2, 2, 3), 200, np.uint8)))
            pipeline.totals.append(total)
            yield Output(main_video=to_video(np.full((1, 2, 2, 3), total, np.uint8)))
        pipeline.clips += 1
"""
"""A generator form with a `while` loop inside a `with`, `continue`, `break`, an `else:` and
statements after the loop (the shapes the rewrite may hand the step form)."""


def generator_inference(body: str = GENERATOR_BODY) -> Inference:
    return Inference(
        body=body,
        decorators=(),
        globals=(),
        pipeline_var="pipeline",
        is_async=False,
        recomputed=(),
    )


def test_a_while_loop_with_break_continue_else_and_statements_after_it() -> None:
    form = step_form(generator_inference())
    assert form.carried == ("num_frames", "k", "total")
    assert "if not (clip.k < clip.num_frames):" in form.step  # the test decides each step
    # the `with` is entered around the prologue, every iteration, and what follows the loop
    assert all(
        "with contextlib.nullcontext():" in code
        for code in (form.start_clip, form.step, form.finish_clip)
    )
    assert "            return frames\n" in form.step  # continue: this step ends, no frame
    assert form.step.count("self.finish_clip(clip, state, frames)") == 2  # the end, and break
    assert "frames.append(to_video(np.full((1, 2, 2, 3), 200, np.uint8)))" in form.step  # else:
    assert "pipeline.totals.append(clip.total)" in form.finish_clip
    assert "pipeline.clips += 1" in form.finish_clip


def test_a_function_made_before_the_loop_is_made_in_each_step_with_what_it_uses() -> None:
    """It reads the step's state when called (a live field stays live) and the loaded pipeline,
    which the step binds even where the loop itself does not use it."""
    form = step_form(
        generator_inference(
            """\
        pipeline = self.pipeline
        num_frames = self.state.num_frames

        def post(v):
            return v * pipeline.gain * self.state.gamma

        for i in range(num_frames):
            yield Output(main_video=to_video(post(i)))
"""
        )
    )
    assert "post" not in form.carried
    assert form.step.index("pipeline = self.pipeline") < form.step.index("def post(v):")
    assert "return v * pipeline.gain * state.gamma" in form.step
    assert "def post" not in form.start_clip  # only the steps call it


TAIL_BODY = """\
        context = self.arguments.context
        action = 0
        for i in range(len(context)):
            latent = context[i] + action
            if latent >= 0:
                yield Output(main_video=to_video(latent))
            action = self.state.action or i
"""
"""A world model's rollout: the action for the next frame is read after the frame is yielded,
so in the generator form it sees an update applied while that frame was on its way."""


def test_a_tail_after_the_yield_that_reads_the_state_runs_at_the_next_step() -> None:
    form = step_form(generator_inference(TAIL_BODY))
    assert form.loop_header == "for i in range(len(context))"  # the original's, in docstrings
    # the tail waits for the next step (its state), unless this iteration yielded nothing
    resume = form.step.index("if clip.pending:")
    fetch = form.step.index("clip.i = next(clip.frame_iterator)")
    assert resume < fetch
    assert "clip.action = state.action or clip.i" in form.step[resume:fetch]
    assert "clip.pending = True" in form.step
    assert form.step.index("if not clip.pending:") > form.step.index("clip.pending = True")
    # what the tail reads from its iteration is carried to the next step
    assert {"pending", "i", "action", "frame_iterator"} <= set(form.carried)
    assert "latent" not in form.carried  # the tail does not read it: a local of the step
    assert "clip.frame_iterator = iter(range(len(clip.context)))" in form.start_clip


@pytest.mark.parametrize(
    "tail",
    [
        "            action = i  # reads no state: it may run in the step that yielded\n",
        "",  # nothing after the yield
    ],
)
def test_a_tail_that_reads_no_state_stays_in_its_step(tail: str) -> None:
    body = TAIL_BODY.replace("            action = self.state.action or i\n", tail)
    form = step_form(generator_inference(body))
    assert "pending" not in form.step and "frame_iterator" not in form.step
    assert "clip.iterator = iter(range(len(clip.context)))" in form.start_clip


def test_a_yield_in_the_middle_of_a_block_keeps_the_loop_as_it_is() -> None:
    """`if ...: yield x; more()`: what follows the yield inside the block would have to wait
    too; the loop is left as written (the tail runs in the step that yielded)."""
    body = TAIL_BODY.replace(
        "                yield Output(main_video=to_video(latent))\n",
        "                yield Output(main_video=to_video(latent))\n                action += 1\n",
    )
    form = step_form(generator_inference(body))
    assert "pending" not in form.step
    assert "clip.action = state.action or i" in form.step  # i: a local of the step


REFUSED = {
    "nonlocal": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, num_frames: int = 8):
                total = 0

                def bump(step):
                    nonlocal total
                    total += step
                    return total

                frames = []
                for i in range(num_frames):
                    frames.append(np.full((8, 8, 3), bump(i), np.uint8))
                return np.stack(frames)
        """,
        "RC601",
        "`total`",
        6,
    ),
    "with-as": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, path: str = "log.txt", num_frames: int = 8):
                frames = []
                with open(path, "w") as log:
                    for i in range(num_frames):
                        log.write(str(i))
                        frames.append(np.full((8, 8, 3), i, np.uint8))
                return np.stack(frames)
        """,
        "RC601",
        "`log`",
        7,
    ),
    "live-lambda": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, num_frames: int = 8, gain: float = 2.0):
                frames = []
                for i in range(num_frames):
                    if i == 0:
                        shade = lambda v: v * gain
                    frames.append(np.full((8, 8, 3), shade(i), np.uint8))
                return np.stack(frames)
        """,
        "RC601",
        "`shade`",
        9,
    ),
    "locals": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, num_frames: int = 8):
                frames = []
                for i in range(num_frames):
                    scope = locals()
                    frames.append(np.full((8, 8, 3), scope["i"], np.uint8))
                return np.stack(frames)
        """,
        "RC601",
        "`locals()`",
        8,
    ),
    "walrus": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, num_frames: int = 8):
                frames = []
                last = 0
                for i in range(num_frames):
                    frames.append(np.full((8, 8, 3), (last := last + i), np.uint8))
                return np.stack(frames)
        """,
        "RC601",
        "`last`",
        7,
    ),
    "loop-in-try": (
        """
        import numpy as np


        class Pipeline:
            def __call__(self, num_frames: int = 8):
                frames = []
                try:
                    for i in range(num_frames):
                        frames.append(np.full((8, 8, 3), i, np.uint8))
                finally:
                    print("done")
                return np.stack(frames)
        """,
        "RC602",
        "`try`",
        8,
    ),
    "async": (
        """
        import asyncio

        import numpy as np


        class Pipeline:
            async def stream(self, num_frames: int = 8):
                for i in range(num_frames):
                    await asyncio.sleep(0)
                    yield np.full((8, 8, 3), i, np.uint8)
        """,
        "RC602",
        "asynchronous",
        8,
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_loop_that_cannot_be_split_is_refused_naming_why(case: str, tmp_path: Path) -> None:
    source, code, named, line = REFUSED[case]
    with pytest.raises(ConvertError) as raised:
        _convert(source, tmp_path)
    (found,) = raised.value.diagnostics
    assert (found.code, found.line) == (code, line), found.format()
    assert named in found.message
    assert "--target reactor-runtime" in found.hint
    # the other targets take the same pipeline
    path = tmp_path / "pipeline.py"
    assert build_files(explain(path), path, tmp_path / "gen", "reactor-runtime")


def test_the_cli_prints_the_refusal_and_writes_nothing(tmp_path: Path) -> None:
    source, _, _, _ = REFUSED["nonlocal"]
    path = tmp_path / "pipeline.py"
    path.write_text(textwrap.dedent(source).lstrip())
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["convert", str(path), "-o", str(out), "--target", "reactor-app"]
    )
    assert result.exit_code == 2
    assert f"{path}:6:9: RC601 error: `nonlocal total`" in result.output
    assert "Traceback" not in result.output
    assert not out.exists()


def test_the_step_form_folder_names_and_manifest(tmp_path: Path) -> None:
    out = tmp_path / "seed_app"
    convert(explain(SEED), SEED, out, target="reactor-app")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md", "config.yml", "pipeline_app.py", "reactor.yaml", "server.py",
    ]  # fmt: skip
    manifest = (out / "reactor.yaml").read_text()
    assert "  import: pipeline_app:OriginalPipelineApp" in manifest
    assert "  name: original-pipeline" in manifest
    code = (out / "pipeline_app.py").read_text()
    assert "from reactor_runtime import" in code and "ReactorPipeline" not in code
    assert "class OriginalPipelineApp(ReactorApp):" in code
    assert committed_target(out) == "reactor-app"


class _Output:
    def __init__(self, main_video: np.ndarray) -> None:
        self.main_video = main_video


class _Pipeline:
    def __init__(self) -> None:
        self.totals: list[int] = []
        self.clips = 0


def _run_both(num_frames: int, steps: int) -> tuple[list, list, _Pipeline, _Pipeline]:
    """GENERATOR_BODY as a generator and as the step form (its methods executed as the
    template assembles them), each over `steps` outputs with `num_frames`, and their pipelines."""
    namespace = {"np": np, "to_video": lambda a: a, "Output": _Output, "contextlib": contextlib}
    state = SimpleNamespace(num_frames=num_frames, level=3)

    exec("def inference(self):\n" + GENERATOR_BODY, namespace)
    generator_self = SimpleNamespace(pipeline=_Pipeline(), state=state)
    expected: list = []
    while len(expected) < steps:
        expected += [o.main_video for o in namespace["inference"](generator_self)]
    expected = expected[:steps]

    form = step_form(generator_inference())
    s, c, f = form.state_param, form.clip_var, form.frames_var
    clip_class = type("Clip", (), {"__slots__": form.carried})
    namespace["Clip"] = clip_class
    exec(
        f"def start_clip(self, {s}):\n        {c} = Clip()\n{form.start_clip}\n        return {c}\n",
        namespace,
    )
    exec(f"def step(self, {s}):\n{form.step}\n", namespace)
    exec(f"def finish_clip(self, {c}, {s}, {f}):\n{form.finish_clip}\n", namespace)
    app = SimpleNamespace(pipeline=_Pipeline(), clip=None)
    for name in ("start_clip", "step", "finish_clip"):
        setattr(app, name, MethodType(namespace[name], app))
    got: list = []
    for _ in range(4 * steps):
        if len(got) >= steps:
            break
        frames = app.step(state)  # generate(): a clip that ended starts the next in the same step
        if not frames and app.clip is None:
            frames = app.step(state)
        if frames:
            got.append(np.concatenate(frames))
    return expected, got, generator_self.pipeline, app.pipeline


@pytest.mark.parametrize("num_frames", [4, 10], ids=["the-loop-ends", "it-breaks"])
def test_the_split_methods_make_the_generators_frames_and_side_effects(num_frames: int) -> None:
    expected, got, generator_pipeline, app_pipeline = _run_both(num_frames, 12)
    assert len(got) == 12
    # a step's batch holds what one iteration yielded: the loop's last step also holds the
    # frames yielded after the loop, so compare the frames in order
    assert np.array_equal(np.concatenate(got)[: len(expected)], np.concatenate(expected))
    clips = generator_pipeline.clips
    assert clips >= 1 and app_pipeline.totals[:clips] == generator_pipeline.totals[:clips]


def test_check_takes_the_step_form_from_the_folder_and_validate_refuses_it(tmp_path: Path) -> None:
    out = tmp_path / "seed_app"
    convert(explain(SEED), SEED, out, target="reactor-app")
    runner = CliRunner()
    checked = runner.invoke(app, ["check", str(SEED), "-o", str(out)])
    assert checked.exit_code == 0, checked.output
    assert "up to date" in checked.output
    validated = runner.invoke(app, ["validate", str(out)])
    assert validated.exit_code == 2
    assert "is a --target reactor-app folder" in validated.output
    assert "Traceback" not in validated.output
    again = runner.invoke(app, ["check", str(SEED), "-o", str(out), "--validate"])
    assert again.exit_code == 2 and "--target reactor-runtime output" in again.output
