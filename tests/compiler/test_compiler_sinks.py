"""Sinks (one table per sink module): where a frame leaves one iteration.

Each case is (source, (kind, frame_expr, target, frames_per_iteration))."""

from __future__ import annotations

import pytest
from compiler_helpers import codes, plan_of


def sink_summary(source: str) -> tuple:
    plan = plan_of(source)
    assert plan.frame_loop is not None, [d.format() for d in plan.diagnostics]
    s = plan.frame_loop.sink
    return (s.kind, s.frame_expr, s.target, plan.frame_loop.frames_per_iteration)


APPEND_CASES = [
    pytest.param(
        """
        def run(n: int = 3):
            frames = []
            for i in range(n):
                frames.append(draw(i))
            return frames
        """,
        ("append", "draw(i)", "frames", 1),
        id="append",
    ),
    pytest.param(
        """
        def run(n: int = 3):
            frames = []
            for i in range(n):
                frames += [draw(i)]
            return frames
        """,
        ("append", "draw(i)", "frames", 1),
        id="plus-equals-list",
    ),
    pytest.param(
        """
        class P:
            def run(self, n: int = 3):
                self.frames = []
                for i in range(n):
                    self.frames.append(draw(i))
                return self.frames
        """,
        ("append", "draw(i)", "self.frames", 1),
        id="append-to-attribute",
    ),
    pytest.param(
        """
        def run(n: int = 3):
            frames = []
            cache = []
            for i in range(n):
                x = step(cache)
                cache.append(x)
                cache = cache[-4:]
                frames.append(draw(x))
            return frames
        """,
        ("append", "draw(x)", "frames", 1),
        id="kv-cache-read-back-is-not-the-sink",
    ),
]

INDEX_CASES = [
    pytest.param(
        """
        import torch

        def run(n: int = 3):
            video = torch.zeros(n, 3, 8, 8)
            for i in range(n):
                video[i] = draw(i)
            return video
        """,
        ("index-write", "draw(i)", "video", 1),
        id="index-write",
    ),
    pytest.param(
        """
        import torch

        def run(n: int = 8, chunk: int = 4):
            latents = torch.zeros(1, 4, n, 8, 8)
            for start in range(0, n, chunk):
                x = sample(start)
                latents[:, :, start : start + chunk] = x
            return latents
        """,
        ("slice-write", "x", "latents", "chunk"),
        id="slice-write-is-a-chunk",
    ),
    pytest.param(
        """
        import torch

        def run(n: int = 8):
            video = torch.zeros(n, 3, 8, 8)
            for i in range(n):
                s = i * 2
                video[s] = draw(i)
            return video
        """,
        ("index-write", "draw(i)", "video", 1),
        id="index-derived-from-counter",
    ),
]

CAT_CASES = [
    pytest.param(
        """
        import torch

        def run(n: int = 3):
            video = torch.empty(0, 3, 8, 8)
            for t in range(n):
                frame = draw(t)
                video = torch.cat([video, frame], dim=0)
            return video
        """,
        ("cat", "frame", "video", 1),
        id="cat-growth",
    ),
    pytest.param(
        """
        import numpy as np

        def run(n: int = 3):
            video = np.zeros((0, 8, 8, 3))
            for t in range(n):
                video = np.concatenate((video, draw(t)[None]))
            return video
        """,
        ("cat", "draw(t)[None]", "video", 1),
        id="concatenate-one-frame",
    ),
    pytest.param(
        """
        import torch

        def run(n: int = 3):
            video = torch.empty(0, 3, 8, 8)
            for t in range(n):
                clip = model(t)
                video = torch.cat([video, clip])
            return video
        """,
        ("cat", "clip", "video", "chunk"),
        id="cat-a-clip-is-a-chunk",
    ),
]

WRITER_CASES = [
    pytest.param(
        """
        import cv2

        def run(n: int = 3):
            writer = cv2.VideoWriter("out.mp4", 0, 24, (8, 8))
            for t in range(n):
                writer.write(draw(t))
            writer.release()
        """,
        ("writer", "draw(t)", "writer", 1),
        id="video-writer",
    ),
    pytest.param(
        """
        import cv2

        def run(n: int = 3):
            for t in range(n):
                img = draw(t)
                cv2.imwrite(f"frame_{t:04d}.png", img)
        """,
        ("writer", "img", "cv2", 1),
        id="imwrite-path-first",
    ),
    pytest.param(
        """
        from torchvision.utils import save_image

        def run(n: int = 3):
            for t in range(n):
                save_image(draw(t), f"{t}.png")
        """,
        ("writer", "draw(t)", "torchvision.utils.save_image", 1),
        id="save-image-frame-first",
    ),
    pytest.param(
        """
        import imageio

        def run(n: int = 3):
            w = imageio.get_writer("a.mp4")
            for t in range(n):
                w.append_data(draw(t))
            w.close()
        """,
        ("writer", "draw(t)", "w", 1),
        id="imageio-append-data",
    ),
    pytest.param(
        """
        import matplotlib.pyplot as plt

        def run(n: int = 3):
            for t in range(n):
                plt.imshow(draw(t))
                plt.pause(0.01)
        """,
        ("writer", "draw(t)", "plt", 1),
        id="matplotlib-imshow-frame-first",
    ),
    pytest.param(
        """
        from PIL import Image

        def run(n: int = 3):
            for t in range(n):
                Image.fromarray(draw(t)).save(f"{t}.png")
        """,
        ("writer", "draw(t)", "Image.fromarray", 1),
        id="pil-save",
    ),
    pytest.param(
        """
        import numpy as np

        def run(n: int = 3):
            for t in range(n):
                frame = draw(t)
                h, w = frame.shape[:2]
                with open(f"{t:04d}.ppm", "wb") as fh:
                    fh.write(f"P6 {w} {h} 255\\n".encode())
                    fh.write(frame.tobytes())
        """,
        ("writer", "frame.tobytes()", "fh", 1),
        id="ppm-header-encoded-text-is-not-the-frame",
    ),
    pytest.param(
        """
        def run(n: int = 3, fh=None):
            for t in range(n):
                fh.write("frame {}".format(t).encode("ascii", errors="strict"))
                fh.write(draw(t).tobytes())
        """,
        ("writer", "draw(t).tobytes()", "fh", 1),
        id="encode-with-an-encoding-is-text",
    ),
    pytest.param(
        """
        import struct

        def run(n: int = 3, fh=None):
            for t in range(n):
                frame = draw(t)
                fh.write(struct.pack("<II", *frame.shape[:2]))
                fh.write(frame.tobytes())
        """,
        ("writer", "frame.tobytes()", "fh", 1),
        id="struct-pack-header-is-not-the-frame",
    ),
    pytest.param(
        """
        from struct import pack

        def run(n: int = 3, fh=None):
            for t in range(n):
                fh.write(pack("<I", t))
                fh.write(draw(t).tobytes())
        """,
        ("writer", "draw(t).tobytes()", "fh", 1),
        id="struct-pack-imported-by-name-is-not-the-frame",
    ),
    pytest.param(
        """
        def run(n: int = 3, fh=None, codec=None):
            for t in range(n):
                fh.write(codec.encode(draw(t)))
        """,
        ("writer", "codec.encode(draw(t))", "fh", 1),
        id="an-encoder-given-a-frame-is-still-the-frame",
    ),
]


@pytest.mark.parametrize(
    ("source", "expected"), APPEND_CASES + INDEX_CASES + CAT_CASES + WRITER_CASES
)
def test_sink(source: str, expected: tuple) -> None:
    assert sink_summary(source) == expected


def test_log_writes_are_not_frames() -> None:
    plan = plan_of(
        """
        def run(n: int = 3, log=None):
            for t in range(n):
                log.write(f"step {t}")
                x = step(t)
            return x
        """
    )
    assert plan.frame_loop is None
    assert codes(plan) == ["RC111"]


def test_list_created_inside_the_loop_is_not_a_sink_of_that_loop() -> None:
    plan = plan_of(
        """
        def run(n: int = 3):
            last = None
            for t in range(n):
                parts = []
                parts.append(step(t))
                last = parts
            return last
        """
    )
    assert plan.frame_loop is None
    assert codes(plan) == ["RC111"]


def test_guarded_preview_is_not_preferred_over_the_saved_frame() -> None:
    plan = plan_of(
        """
        import cv2

        def run(n: int = 3, preview: bool = False):
            for t in range(n):
                frame = draw(t)
                cv2.imwrite(f"{t}.png", frame)
                if preview:
                    cv2.imshow("w", frame[..., ::-1])
                    cv2.waitKey(1)
        """
    )
    assert plan.ok
    assert (plan.frame_loop.sink.call, plan.frame_loop.sink.frame_expr) == ("cv2.imwrite", "frame")
