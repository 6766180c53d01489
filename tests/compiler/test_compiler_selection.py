"""Refusals (RC101/RC110/RC111/RC116), module scripts (RC102), ranking among candidates (RC103/RC104), and the
--symbol / --loop-line flags that settle it (RC105/RC106)."""

from __future__ import annotations

import pytest
from compiler_helpers import codes, errors, loop_summary, plan_of

MODULE_SCRIPT = """
import numpy as np

frames = []
for i in range(8):
    frames.append(np.zeros((4, 4, 3)) + i)
np.save("clip.npy", np.stack(frames))
"""

REFUSALS = [
    pytest.param(
        """
        def run(n: int = 3):
            frames = []
            for i in range(n):
                prompt = input("next prompt? ")
                frames.append(draw(prompt))
            return frames
        """,
        "RC110",
        5,
        18,
        id="input-in-loop",
    ),
    pytest.param(
        """
        import cv2

        def show(n: int = 3):
            frames = []
            for i in range(n):
                frames.append(draw(i))
                cv2.imshow("w", frames[-1])
                key = cv2.waitKey(0)
        """,
        "RC110",
        9,
        15,
        id="waitkey-0-in-loop",
    ),
    pytest.param(
        """
        import cv2

        def show(n: int = 3):
            for i in range(n):
                cv2.imshow("w", draw(i))
                cv2.waitKey()
        """,
        "RC110",
        7,
        9,
        id="waitkey-no-delay",
    ),
    pytest.param(
        """
        def sample(steps: int = 50):
            x = noise()
            for t in range(steps):
                x = denoise(x, t)
            return decode(x)
        """,
        "RC111",
        4,
        5,
        id="one-shot-clip",
    ),
    pytest.param(
        """
        def add(a: int = 1, b: int = 2):
            return a + b
        """,
        "RC101",
        1,
        1,
        id="no-loop-at-all",
    ),
]


@pytest.mark.parametrize(("source", "code", "line", "col"), REFUSALS)
def test_refused_shapes(source: str, code: str, line: int, col: int) -> None:
    plan = plan_of(source)
    assert not plan.ok
    hit = [d for d in plan.diagnostics if d.code == code]
    assert hit, codes(plan)
    assert (hit[0].severity, hit[0].line, hit[0].col) == ("error", line, col)
    assert hit[0].hint


MAIN_BLOCK_SCRIPT = """
import numpy as np

if __name__ == "__main__":
    video = []
    for t in range(4):
        video.append(np.zeros((4, 4, 3)) + t)
"""


@pytest.mark.parametrize(("source", "line"), [(MODULE_SCRIPT, 5), (MAIN_BLOCK_SCRIPT, 6)])
def test_a_module_script_is_a_plan_of_its_setup_and_loop(source: str, line: int) -> None:
    plan = plan_of(source)
    assert plan.ok, [d.format() for d in plan.diagnostics]
    assert plan.symbol == "<module>" and plan.symbol_kind == "module"
    assert plan.frame_loop is not None and plan.frame_loop.line == line
    note = next(d for d in plan.diagnostics if d.code == "RC102")
    assert note.severity == "note" and "load() runs its setup" in note.message
    assert "def __reactorc_script__(" in plan.lowered_source
    # the laid-out script keeps the file's line numbers
    assert plan.lowered_source.count("\n") == source.count("\n")


def test_a_script_whose_loop_depends_on_changeable_code_outside_main_is_rc116() -> None:
    plan = plan_of(
        """
        import argparse

        parser = argparse.ArgumentParser()
        parser.add_argument("--gain", type=float, default=2.0)
        args = parser.parse_args()
        scaled = [args.gain * k for k in range(3)]

        if __name__ == "__main__":
            frames = []
            for i in range(4):
                frames.append(render(i, scaled))
        """
    )
    assert errors(plan) == ["RC116"]
    assert "outside its __main__ block" in next(d.message for d in plan.diagnostics)


def test_polling_waitkey_is_not_blocking() -> None:
    plan = plan_of(
        """
        import cv2

        def show(n: int = 3):
            for i in range(n):
                cv2.imshow("w", draw(i))
                if cv2.waitKey(1) == ord("q"):
                    break
        """
    )
    assert plan.ok and "RC110" not in codes(plan)


def test_module_driver_is_ignored_when_a_function_has_the_frame_loop() -> None:
    plan = plan_of(
        """
        def generate(n: int = 3):
            frames = []
            for i in range(n):
                frames.append(draw(i))
            return frames

        if __name__ == "__main__":
            for p in ["a", "b"]:
                save(generate())
        """
    )
    assert loop_summary(plan)[:2] == ("generate", 4)


TWO_EQUAL = """
def first(n: int = 3):
    frames = []
    for i in range(n):
        frames.append(draw(i))
    return frames


def second(n: int = 3):
    frames = []
    for i in range(n):
        frames.append(draw(i))
    return frames
"""


def test_equal_candidates_are_ambiguous_with_a_hint() -> None:
    plan = plan_of(TWO_EQUAL)
    assert errors(plan) == ["RC103"]
    assert plan.frame_loop is None
    d = plan.diagnostics[0]
    assert "first (line 4)" in d.message and "second (line 11)" in d.message
    assert "--symbol first" in d.hint and "--loop-line 4" in d.hint
    assert [c.line for c in plan.candidates] == [4, 11]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"symbol": "second"}, ("second", 11)),
        ({"loop_line": 4}, ("first", 4)),
        ({"symbol": "second", "loop_line": 11}, ("second", 11)),
    ],
)
def test_symbol_and_loop_line_settle_ambiguity(kwargs: dict, expected: tuple) -> None:
    plan = plan_of(TWO_EQUAL, **kwargs)
    assert plan.ok, codes(plan)
    assert loop_summary(plan)[:2] == expected


def test_unknown_symbol_is_rc105_listing_the_known_ones() -> None:
    plan = plan_of(TWO_EQUAL, symbol="Pipeline.run")
    assert codes(plan) == ["RC105"]
    assert "first" in plan.diagnostics[0].hint and "second" in plan.diagnostics[0].hint


def test_loop_line_that_is_no_loop_is_rc106_listing_loop_lines() -> None:
    plan = plan_of(TWO_EQUAL, symbol="first", loop_line=5)
    assert codes(plan) == ["RC106"]
    assert "4" in plan.diagnostics[0].hint and "in first" in plan.diagnostics[0].message


def test_loop_line_can_pick_an_inner_loop() -> None:
    source = """
    def run(n: int = 3, k: int = 2):
        frames = []
        for i in range(n):
            parts = []
            for j in range(k):
                parts.append(piece(i, j))
            frames.append(join(parts))
        return frames
    """
    assert loop_summary(plan_of(source))[1] == 4
    assert loop_summary(plan_of(source, loop_line=6))[1] == 6


RANKED = """
import torch


def posenc(x, n_freqs: int = 4):
    out = [x]
    for k in range(n_freqs):
        out.append(torch.sin(2.0**k * x))
    return torch.cat(out, -1)


class Renderer:
    def render_rays(self, rays):
        return posenc(rays)

    def render_path(self, n_poses: int = 8, radius: float = 3.0):
        poses = spiral(n_poses, radius)
        rgbs = []
        for pose in poses:
            rgbs.append(self.render_rays(pose))
        return torch.stack(rgbs)
"""


def test_clear_winner_is_chosen_with_an_rc104_note_and_reasons() -> None:
    plan = plan_of(RANKED)
    assert loop_summary(plan)[:2] == ("Renderer.render_path", 19)
    assert plan.ok
    note = next(d for d in plan.diagnostics if d.code == "RC104")
    assert note.severity == "note"
    assert "posenc" in note.message and "a helper" in note.message
    chosen, other = plan.candidates
    assert chosen.chosen and not other.chosen and chosen.score > other.score
    assert any("entry point" in r for r in chosen.reasons)
    assert any("values computed from parameter" in r for r in chosen.reasons)


def test_helper_called_per_frame_ranks_below_the_loop_calling_it() -> None:
    plan = plan_of(
        """
        class P:
            def render_image(self, pose, chunk: int = 64):
                out = []
                for k in range(0, 4096, chunk):
                    out.append(self.rays(pose, k))
                return join(out)

            def generate(self, poses):
                frames = []
                for pose in poses:
                    frames.append(self.render_image(pose))
                return frames
        """
    )
    assert loop_summary(plan)[:2] == ("P.generate", 11)
    helper = next(c for c in plan.candidates if c.symbol == "P.render_image")
    assert any("once per frame" in r for r in helper.reasons)


def test_precomputed_iterable_comprehension_is_not_the_frame_loop() -> None:
    plan = plan_of(
        """
        def orbit(num_views: int = 8):
            cameras = [camera(a) for a in range(num_views)]
            frames = [render(c) for c in cameras]
            return frames
        """
    )
    assert loop_summary(plan)[:3] == ("orbit", 4, "comprehension")


def test_loop_in_a_network_forward_ranks_below_the_pipeline() -> None:
    plan = plan_of(
        """
        import torch
        from torch import nn


        class Net(nn.Module):
            def forward(self, x):
                outs = []
                for layer in self.layers:
                    outs.append(layer(x))
                return torch.cat(outs)


        class Sampler:
            def sample(self, steps):
                frames = []
                for t in steps:
                    frames.append(self.net(t))
                return frames
        """
    )
    assert loop_summary(plan)[:2] == ("Sampler.sample", 17)
    net = next(c for c in plan.candidates if c.symbol == "Net.forward")
    assert any("network Net" in r for r in net.reasons)


def test_no_frame_boundary_plan_still_names_the_pipeline() -> None:
    plan = plan_of(
        """
        class Sampler:
            def __call__(self, steps: int = 50):
                x = noise()
                for t in range(steps):
                    x = denoise(x, t)
                return decode(x)
        """
    )
    assert (plan.symbol, plan.symbol_kind, plan.frame_loop) == ("Sampler.__call__", "method", None)
    assert errors(plan) == ["RC111"]
