"""The rewriter, shape by shape, as before/after pairs: a small pipeline in, the body of
`inference()` out (libcst codemod style). Each case names the shape row of docs/shapes.md."""

from __future__ import annotations

import textwrap

import pytest

from reactorc.analysis import explain_text
from reactorc.rewrite import RewriteError, rewrite


def body_of(source: str, **kw) -> str:
    source = textwrap.dedent(source)
    plan = explain_text(source, "pipe.py", **kw)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    return textwrap.dedent(rewrite(plan, source, "Out").body).strip()


CASES = [
    (
        "append-yields-each-frame-and-recomputes-the-prompt",
        """
        import numpy as np

        class P:
            def __call__(self, prompt: str = "a", scale: float = 1.0, num_frames: int = 4):
                emb = self.encode(prompt)
                frames = []
                for i in range(num_frames):
                    frames.append(self.step(emb, i) * scale)
                return np.stack(frames)
        """,
        """
        pipeline = self.pipeline
        prompt = self.state.prompt
        num_frames = self.state.num_frames
        emb = pipeline.encode(prompt)
        for i in range(num_frames):
            if self.state.prompt != prompt:
                prompt = self.state.prompt
                emb = pipeline.encode(prompt)
            yield Out(main_video=to_video(pipeline.step(emb, i) * self.state.scale))
        """,
    ),
    (
        "preallocated-write-yields-the-written-slice",
        """
        import torch

        class P:
            def run(self, num_frames: int = 4, rate: float = 0.5):
                video = torch.zeros(num_frames, 3, 8, 8)
                for i in range(num_frames):
                    video[i] = self.step(i, rate)
                return video
        """,
        """
        pipeline = self.pipeline
        num_frames = self.state.num_frames
        video = torch.zeros(num_frames, 3, 8, 8)
        for i in range(num_frames):
            video[i] = pipeline.step(i, self.state.rate)
            yield Out(main_video=to_video(video[i : i + 1]))
        """,
    ),
    (
        "cat-growth-yields-the-new-part-through-the-epilogue",
        """
        import torch

        class P:
            def predict(self, num_frames: int = 4):
                video = torch.empty(0, 3, 8, 8)
                for t in range(num_frames):
                    frame = self.step(t)
                    video = torch.cat([video, frame])
                return video.permute(0, 2, 3, 1).mul(255).byte().numpy()
        """,
        """
        pipeline = self.pipeline
        num_frames = self.state.num_frames
        def postprocess(video):
            \"\"\"The original's post-loop steps (line 10), applied to one chunk.\"\"\"
            return video.permute(0, 2, 3, 1).mul(255).byte().numpy()
        for t in range(num_frames):
            frame = pipeline.step(t)
            yield Out(main_video=to_video(postprocess(frame)))
        """,
    ),
    (
        "writer-yields-instead-and-never-opens-the-file",
        """
        import imageio

        class P:
            def render(self, num_frames: int = 4, speed: float = 1.0):
                writer = imageio.get_writer("out.mp4")
                for i in range(num_frames):
                    writer.append_data(self.frame(i * speed))
                writer.close()
        """,
        """
        pipeline = self.pipeline
        num_frames = self.state.num_frames
        for i in range(num_frames):
            yield Out(main_video=to_video(pipeline.frame(i * self.state.speed)))
        """,
    ),
    (
        "tqdm-dropped-decorator-kept-per-step-sequence-read-each-step",
        """
        import numpy as np
        import torch
        from tqdm import tqdm

        class P:
            @torch.no_grad()
            def imagine(self, actions: list[str] | None = None, num_frames: int = 4):
                if actions is None:
                    actions = ["up"] * num_frames
                frames = []
                for i in tqdm(range(num_frames)):
                    frames.append(self.step(actions[i]))
                return np.stack(frames)
        """,
        """
        pipeline = self.pipeline
        actions = None
        num_frames = self.state.num_frames
        if actions is None:
            actions = ["up"] * num_frames
        for i in range(num_frames):
            yield Out(main_video=to_video(pipeline.step((self.state.actions or actions[i]))))
        """,
    ),
]


CASES += [
    (
        "comprehension-inside-an-expression-applies-it-per-frame",
        """
        import torch

        class R:
            def render_all(self, n: int = 4, exposure: float = 1.0):
                cams = list(range(n))
                video = torch.stack([self.render(c, exposure) for c in cams]).permute(0, 2, 3, 1)
                return (video * 255).byte().numpy()
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        def postprocess(video):
            \"\"\"The original's post-loop steps (line 8), applied to one chunk.\"\"\"
            return (video * 255).byte().numpy()
        cams = list(range(n))
        for c in cams:
            yield Out(main_video=to_video(postprocess(torch.stack([pipeline.render(c, self.state.exposure)]).permute(0, 2, 3, 1))))
        """,
    ),
    (
        "returned-comprehension-with-a-filter",
        """
        import numpy as np

        class R:
            def render_all(self, n: int = 4):
                return np.stack([self.render(c) for c in range(n) if c != 2])
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        for c in range(n):
            if not c != 2:
                continue
            yield Out(main_video=to_video(np.stack([pipeline.render(c)])))
        """,
    ),
]

CASES += [
    (
        "an-attribute-accumulator-becomes-postprocess-parameter",
        """
        import numpy as np

        class R:
            def run(self, n: int = 4):
                self.frames = []
                for i in range(n):
                    self.frames.append(self.render(i))
                return np.stack(self.frames)
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        def postprocess(frames):
            \"\"\"The original's post-loop steps (line 9), applied to one chunk.\"\"\"
            return np.stack(frames)
        pipeline.frames = []
        for i in range(n):
            yield Out(main_video=to_video(postprocess([pipeline.render(i)])))
        """,
    ),
    (
        "extend-passes-the-chunk-as-a-list-of-frames",
        """
        import torch

        class R:
            def run(self, n: int = 4):
                frames = []
                for i in range(n):
                    chunk = self.render_chunk(i)
                    frames.extend(chunk)
                return torch.stack(frames).permute(0, 2, 3, 1)
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        def postprocess(frames):
            \"\"\"The original's post-loop steps (line 10), applied to one chunk.\"\"\"
            return torch.stack(frames).permute(0, 2, 3, 1)
        for i in range(n):
            chunk = pipeline.render_chunk(i)
            yield Out(main_video=to_video(postprocess(list(chunk))))
        """,
    ),
]

CASES += [
    (
        "a-with-block-opening-the-writer-is-unwrapped",
        """
        import imageio

        class R:
            def run(self, n: int = 4, gain: float = 1.0):
                with imageio.get_writer("x.mp4") as writer:
                    for i in range(n):
                        writer.append_data(self.frame(i * gain))
                return "x.mp4"
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        for i in range(n):
            yield Out(main_video=to_video(pipeline.frame(i * self.state.gain)))
        """,
    ),
    (
        "a-writer-closed-in-finally-is-kept-so-finally-still-runs",
        """
        import imageio

        class R:
            def run(self, n: int = 4):
                writer = imageio.get_writer("x.mp4")
                try:
                    for i in range(n):
                        writer.append_data(self.frame(i))
                finally:
                    writer.close()
        """,
        """
        pipeline = self.pipeline
        n = self.state.n
        writer = imageio.get_writer("x.mp4")
        try:
            for i in range(n):
                yield Out(main_video=to_video(pipeline.frame(i)))
        finally:
            writer.close()
        """,
    ),
]

CASES += [
    (
        "a-writer-of-raw-bytes-yields-the-array-they-were-made-from",
        """
        import numpy as np

        class R:
            def run(self, n: int = 4, gain: float = 1.0):
                with open("out.rgb", "wb") as fh:
                    for i in range(n):
                        frame = np.full((8, 8, 3), i * gain)
                        fh.write(frame.tobytes())
        """,
        """
        n = self.state.n
        for i in range(n):
            frame = np.full((8, 8, 3), i * self.state.gain)
            yield Out(main_video=to_video(frame))
        """,
    ),
    (
        "raw-bytes-keep-the-dtype-conversion-made-before-serialising",
        """
        import numpy as np

        class R:
            def run(self, n: int = 4):
                fh = open("out.rgb", "wb")
                for i in range(n):
                    frame = np.full((8, 8, 3), i / n)
                    fh.write((frame * 255).astype(np.uint8).tobytes(order="C"))
                fh.close()
        """,
        """
        n = self.state.n
        for i in range(n):
            frame = np.full((8, 8, 3), i / n)
            yield Out(main_video=to_video((frame * 255).astype(np.uint8)))
        """,
    ),
    (
        "bytes-of-a-frame-yields-the-frame",
        """
        import sys

        import numpy as np

        class R:
            def run(self, n: int = 4):
                for i in range(n):
                    sys.stdout.buffer.write(bytes(np.full((8, 8, 3), i, np.uint8)))
        """,
        """
        n = self.state.n
        for i in range(n):
            yield Out(main_video=to_video(np.full((8, 8, 3), i, np.uint8)))
        """,
    ),
]

CASES += [
    (
        "a-header-written-to-the-unopened-writer-is-not-written-either",
        """
        import numpy as np

        class R:
            def run(self, n: int = 4, out_dir: str = "frames"):
                for i in range(n):
                    frame = np.full((8, 8, 3), i, np.uint8)
                    with open(f"{out_dir}/{i:04d}.ppm", "wb") as fh:
                        fh.write(b"P6 8 8 255\\n")
                        fh.write(frame.tobytes())
                        fh.flush()
        """,
        """
        n = self.state.n
        for i in range(n):
            frame = np.full((8, 8, 3), i, np.uint8)
            yield Out(main_video=to_video(frame))
        """,
    ),
    (
        "a-writer-used-otherwise-is-opened-as-in-the-original",
        """
        import numpy as np

        class R:
            def run(self, n: int = 4):
                with open("out.rgb", "wb") as fh:
                    for i in range(n):
                        frame = np.full((8, 8, 3), i, np.uint8)
                        fh.write(frame.tobytes())
                        print(fh.tell())
        """,
        """
        n = self.state.n
        with open("out.rgb", "wb") as fh:
            for i in range(n):
                frame = np.full((8, 8, 3), i, np.uint8)
                yield Out(main_video=to_video(frame))
                print(fh.tell())
        """,
    ),
]

CASES.append(
    (
        "a-generator-has-every-yield-wrapped-and-live-reads-throughout",
        """
        import numpy as np

        class G:
            def frames(self, speed: float = 1.0):
                x = np.zeros((8, 8, 3))
                yield x
                while True:
                    x = x + speed
                    yield np.clip(x, 0, 1)
        """,
        """
        x = np.zeros((8, 8, 3))
        yield Out(main_video=to_video(x))
        while True:
            x = x + self.state.speed
            yield Out(main_video=to_video(np.clip(x, 0, 1)))
        """,
    )
)

CASES.append(
    (
        "step-api-without-reset-steps-per-frame",
        """
        import numpy as np

        class Env:
            def __init__(self, size=8):
                self.size = size
                self.x = 0

            def step(self, action: int = 0):
                self.x += action
                return self.render(), float(self.x)

            def render(self):
                return np.full((self.size, self.size, 3), self.x % 255, np.uint8)
        """,
        """
        env = self.pipeline
        while True:
            frame, _ = env.step(action=self.state.action)
            yield Out(main_video=to_video(frame))
        """,
    )
)


# generation then decode, from an offset; what only fed a dropped save; original f-strings
CASES += [
    (
        "decode-loop-from-an-offset-counts-from-the-clips-start",
        """
        from models import World

        CONTEXT = 2

        def rollout(model, n: int = 6):
            latents = []
            for i in range(n):
                latents.append(model.step(i))
            frames = []
            for z in latents[CONTEXT:]:
                frames.append(model.decode(z))
            return frames

        if __name__ == "__main__":
            rollout(World())
        """,
        """
        model = self.arguments.model
        n = self.state.n
        def postprocess(latents, emitted):
            \"\"\"The original's post-loop steps (lines 10-13), applied to one chunk.\"\"\"
            frames = []
            for z in latents[max((CONTEXT) - emitted, 0):]:
                frames.append(model.decode(z))
            return frames
        emitted = 0
        for i in range(n):
            part = [model.step(i)]
            chunk = postprocess(part, emitted)
            emitted += len(part)
            if len(chunk):
                yield Out(main_video=to_video(chunk))
        """,
    ),
    (
        "a-store-that-only-fed-a-dropped-save-goes-its-call-stays",
        """
        import imageio
        import numpy as np

        def render(reader, n: int = 4):
            fps = reader.get_meta_data()["fps"]
            frames, scores = [], []
            for i in range(n):
                if i == 0: t0 = clock()
                frames.append(reader.get_data(i))
            imageio.mimwrite("out.mp4", np.stack(frames), fps=fps)

        if __name__ == "__main__":
            render(imageio.get_reader("in.mp4"))
        """,
        """
        reader = self.arguments.reader
        n = self.state.n
        reader.get_meta_data()["fps"]
        for i in range(n):
            if i == 0: clock()
            yield Out(main_video=to_video(reader.get_data(i)))
        """,
    ),
    (
        "f-strings-without-placeholders-become-plain-strings",
        """
        def run(n: int = 3):
            frames = []
            for i in range(n):
                log(f"step")
                frames.append(draw(i, f"{i}"))
            return frames
        """,
        """
        n = self.state.n
        for i in range(n):
            log("step")
            yield Out(main_video=to_video(draw(i, f"{i}")))
        """,
    ),
]


@pytest.mark.parametrize(("name", "before", "after"), CASES, ids=[c[0] for c in CASES])
def test_rewrite(name: str, before: str, after: str) -> None:
    assert body_of(before) == textwrap.dedent(after).strip()


def test_imports_are_gathered_once_and_module_helpers_come_from_the_original() -> None:
    source = textwrap.dedent(
        """
        import numpy as np
        import torch

        SCALE = 2

        def helper(x):
            return x * SCALE

        class P:
            @torch.no_grad()
            def __call__(self, n: int = 3):
                frames = []
                for i in range(n):
                    frames.append(helper(np.ones((4, 4, 3))) * i)
                return np.stack(frames)
        """
    )
    plan = explain_text(source, "pipe.py")
    result = rewrite(plan, source, "Out")
    assert result.decorators == ("torch.no_grad()",)
    assert {(g.name, g.import_code) for g in result.globals} == {
        ("helper", ""),
        ("np", "import numpy as np"),
        ("torch", "import torch"),
    }


@pytest.mark.parametrize(
    "write",
    [
        'fh.write(b"RGB" + frame.tobytes())',
        "fh.write(frame.tobytes()[::2])",
        "fh.write(zlib.compress(frame.tobytes()))",
        "buf = frame.tobytes()\n" + " " * 20 + "fh.write(buf)",
    ],
    ids=["joined-to-a-header", "sliced", "compressed", "bound-to-a-name-first"],
)
def test_bytes_no_frame_can_be_read_back_from_are_refused_naming_the_line(write: str) -> None:
    source = textwrap.dedent(
        f"""
        import zlib

        import numpy as np

        class R:
            def run(self, n: int = 4):
                fh = open("out.bin", "wb")
                for i in range(n):
                    frame = np.full((8, 8, 3), i, np.uint8)
                    {write}
        """
    )
    plan = explain_text(source, "pipe.py")
    assert plan.ok, [d.format() for d in plan.diagnostics]
    line = plan.frame_loop.sink.span.start_line
    with pytest.raises(RewriteError, match=rf"^line {line}: `fh\.write\(.*\)` writes bytes "):
        rewrite(plan, source, "Out")
