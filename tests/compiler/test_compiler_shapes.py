"""Loop shapes (one table per shape module): which loop is the frame loop and how it reads.

Each case is (source, (symbol, line, kind, frames_per_iteration, sink))."""

from __future__ import annotations

import pytest
from compiler_helpers import codes, loop_summary, plan_of

RANGE_CASES = [
    pytest.param(
        """
        import numpy as np

        class P:
            def __call__(self, n: int = 4):
                frames = []
                for i in range(n):
                    frames.append(np.zeros((2, 2, 3)) + i)
                return np.stack(frames)
        """,
        ("P.__call__", 7, "for-range", 1, "append"),
        id="range-append-stack",
    ),
    pytest.param(
        """
        from tqdm import trange

        def generate(num_frames=8):
            out = []
            for t in trange(num_frames, desc="frames"):
                out.append(render(t))
            return out
        """,
        ("generate", 6, "for-range", 1, "append"),
        id="trange",
    ),
    pytest.param(
        """
        import tqdm

        def generate(num_frames=8):
            video = []
            for t in tqdm.tqdm(range(num_frames)):
                video.append(render(t))
            return video
        """,
        ("generate", 6, "for-range", 1, "append"),
        id="tqdm-module-around-range",
    ),
]

ITER_CASES = [
    pytest.param(
        """
        def render_path(poses, scale: float = 1.0):
            rgbs = []
            for pose in poses:
                rgbs.append(render(pose) * scale)
            return rgbs
        """,
        ("render_path", 4, "for-iter", 1, "append"),
        id="precomputed-iterable",
    ),
    pytest.param(
        """
        from tqdm import tqdm

        def run(actions, gain: float = 1.0):
            frames = []
            for i, a in enumerate(tqdm(actions)):
                frames.append(step(a) * gain)
            return frames
        """,
        ("run", 6, "for-iter", 1, "append"),
        id="enumerate-tqdm",
    ),
]

WHILE_CASES = [
    pytest.param(
        """
        def run(n: int = 10):
            frames = []
            t = 0
            while t < n:
                frames.append(sim(t))
                t += 1
            return frames
        """,
        ("run", 5, "while", 1, "append"),
        id="while-counter",
    ),
]

COMPREHENSION_CASES = [
    pytest.param(
        """
        import numpy as np

        def render_orbit(num_views: int = 12):
            frames = [render(a) for a in np.linspace(0, 360, num_views)]
            return np.stack(frames)
        """,
        ("render_orbit", 5, "comprehension", 1, "append"),
        id="assigned-list-comprehension",
    ),
    pytest.param(
        """
        import numpy as np

        def render_orbit(num_views: int = 12):
            return np.stack([render(a) for a in range(num_views)])
        """,
        ("render_orbit", 5, "comprehension", 1, "append"),
        id="comprehension-inside-stack",
    ),
]

GENERATOR_CASES = [
    pytest.param(
        """
        class Sim:
            def frames(self, feed: float = 0.03):
                u = init()
                while True:
                    u = step(u, feed)
                    yield colour(u)
        """,
        ("Sim.frames", 5, "while", 1, "yield"),
        id="endless-while-yield",
    ),
    pytest.param(
        """
        def stream(n: int = 5):
            for i in range(n):
                yield make(i)
        """,
        ("stream", 3, "for-range", 1, "yield"),
        id="for-yield",
    ),
    pytest.param(
        """
        def once(level: int = 3):
            yield make(level)
            yield make(level + 1)
        """,
        ("once", 2, "generator", 1, "yield"),
        id="yields-without-loop",
    ),
]

STEP_CASES = [
    pytest.param(
        """
        class Env:
            def reset(self):
                self.x = 0

            def step(self, action: int = 0):
                self.x += action
                return self.render(), 0.0, False, {}

            def render(self):
                return draw(self.x)
        """,
        ("Env.step", 6, "step", 1, "return"),
        id="gym-step",
    ),
]

NESTED_CASES = [
    pytest.param(
        """
        def generate(num_frames: int = 4, steps: int = 3):
            frames = []
            for i in range(num_frames):
                latent = noise()
                for t in range(steps):
                    latent = denoise(latent, t)
                frames.append(decode(latent))
            return frames
        """,
        ("generate", 4, "for-range", 1, "append"),
        id="denoising-loop-nested-in-frame-loop",
    ),
    pytest.param(
        """
        import numpy as np

        def render(num_frames: int = 4, tile: int = 8):
            frames = []
            for i in range(num_frames):
                canvas = np.zeros((32, 32, 3))
                for y in range(0, 32, tile):
                    canvas[y : y + tile] = shade(y, i)
                frames.append(canvas)
            return np.stack(frames)
        """,
        ("render", 6, "for-range", 1, "append"),
        id="tile-loop-is-not-the-frame-loop",
    ),
    pytest.param(
        """
        import torch

        def render_path(poses, chunk: int = 64):
            rgbs = []
            for pose in poses:
                out = []
                for k in range(0, 1024, chunk):
                    out.append(render_rays(pose, k))
                rgbs.append(torch.cat(out).reshape(32, 32, 3))
            return rgbs
        """,
        ("render_path", 6, "for-iter", 1, "append"),
        id="ray-chunk-loop-is-not-the-frame-loop",
    ),
]

CHUNK_CASES = [
    pytest.param(
        """
        import torch

        def generate(num_chunks: int = 4):
            video = []
            for _ in range(num_chunks):
                chunk = model()
                video.append(chunk)
            return torch.cat(video)
        """,
        ("generate", 6, "for-range", "chunk", "append"),
        id="chunk-appended",
    ),
    pytest.param(
        """
        def generate(num_chunks: int = 4):
            frames = []
            for _ in range(num_chunks):
                frames.extend(model())
            return frames
        """,
        ("generate", 4, "for-range", "chunk", "append"),
        id="extend-is-a-chunk",
    ),
]


# (the appended frame expression, frames per iteration): named like a block of frames means a
# chunk; an operation such as `np.clip` or a word that merely contains one (`clipped`) does not
FRAME_NAME_CASES = [
    ("np.clip(x, 0, 1)", 1),
    ("x.clip(0, 1)", 1),
    ("clip(x, 0, 1)", 1),
    ("torch.clip(x, min=0, max=1)", 1),
    ("tf.clip_by_value(x, 0, 1)", 1),
    ("np.clip(x, 0, 1)[..., ::-1]", 1),
    ("clipped", 1),
    ("eclipse", 1),
    ("blocky(x)", 1),
    ("f(x, batch=2)", 1),
    ('render(x, mode="clip")', 1),
    ("clip_frames", "chunk"),
    ("chunk", "chunk"),
    ("np.clip(chunk, 0, 1)", "chunk"),
    ("latentChunk.float()", "chunk"),
    ("self.clip_buffer", "chunk"),
    ("video_batches[0]", "chunk"),
    ("window", "chunk"),
    ("model.decode_chunk(x)", "chunk"),
]


@pytest.mark.parametrize(
    ("frame", "expected"), FRAME_NAME_CASES, ids=[f for f, _ in FRAME_NAME_CASES]
)
def test_frames_per_iteration_follows_the_names_in_the_frame(frame: str, expected: object) -> None:
    source = f"""
        def generate(n: int = 4, x=None, chunk=None, clip_frames=None, clipped=None, eclipse=None,
                     latentChunk=None, video_batches=None, window=None):
            frames = []
            for _ in range(n):
                frames.append({frame})
            return frames
        """
    assert loop_summary(plan_of(source))[3] == expected


@pytest.mark.parametrize(
    ("source", "expected"),
    RANGE_CASES
    + ITER_CASES
    + WHILE_CASES
    + COMPREHENSION_CASES
    + GENERATOR_CASES
    + STEP_CASES
    + NESTED_CASES
    + CHUNK_CASES,
)
def test_frame_loop_shape(source: str, expected: tuple) -> None:
    plan = plan_of(source)
    assert loop_summary(plan) == expected
    assert plan.ok, codes(plan)


def test_progress_bar_is_dropped_from_the_iterable_with_a_note() -> None:
    plan = plan_of(
        """
        from tqdm import tqdm

        def run(poses, gain: float = 1.0):
            frames = []
            for p in tqdm(poses, desc="render"):
                frames.append(draw(p) * gain)
            return frames
        """
    )
    assert plan.frame_loop.iterable == "poses"
    assert plan.frame_loop.progress_wrapper == "tqdm"
    assert "RC113" in codes(plan)


def test_trange_becomes_range_without_its_keywords() -> None:
    plan = plan_of(
        """
        from tqdm import trange

        def run(n: int = 3):
            frames = []
            for i in trange(n, desc="x", leave=False):
                frames.append(draw(i))
            return frames
        """
    )
    assert plan.frame_loop.iterable == "range(n)"
    assert plan.frame_loop.index_var == "i"


def test_inner_loops_are_listed_on_the_frame_loop() -> None:
    plan = plan_of(NESTED_CASES[0].values[0])
    assert plan.frame_loop.inner_loops == (6,)


def test_while_loop_records_its_condition_and_counter() -> None:
    plan = plan_of(WHILE_CASES[0].values[0])
    assert plan.frame_loop.condition == "t < n"
    assert plan.frame_loop.index_var == "t"


def test_generator_plan_says_it_is_a_generator() -> None:
    plan = plan_of(GENERATOR_CASES[0].values[0])
    assert plan.symbol_kind == "generator"
    assert plan.frame_loop.sink.frame_expr == "colour(u)"


def test_step_api_frame_is_the_first_element_of_the_returned_tuple() -> None:
    plan = plan_of(STEP_CASES[0].values[0])
    assert plan.symbol_kind == "step"
    assert plan.frame_loop.sink.frame_expr == "self.render()"


def test_step_api_names_its_reset_method_when_it_has_one() -> None:
    assert plan_of(STEP_CASES[0].values[0]).reset_method == "reset"
    no_reset = plan_of(
        """
        class World:
            def step(self, action: int = 0):
                return self.render(action)
        """
    )
    assert (no_reset.symbol_kind, no_reset.reset_method) == ("step", "")
