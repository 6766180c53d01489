"""Pacing figures for the runtime core: prints one JSON document, asserts nothing.

For synthetic models making 512x512 frames at 10, 30, 80 and 200 frames/s in batches of 1, 4
and 16, run through the real Runner (driver + pacer, adaptive rate):
- achieved playout rate against the target (the model's rate, clamped to the pacer's range);
- frame-interval error p50/p99 (|interval between two released frames - 1/rate|);
- how many played frames after a state update the first frame showing it comes, and how many
  generator steps after the update the first step that sees it runs.
Plus: a fixed 30 fps run, and driver+pacer throughput with pacing off as a ratio of the bare
generator's (target >= 0.97): for the same synthetic models (10/30/80/200 frames/s, batches
1/4/16), and as stress figures for models doing no work at all or 2 ms of work per frame (with
no work, every frame costs the runtime one copy of the model's 512x512 batch, which the bare
loop does not make: a model may reuse its buffer, so a queued frame must be the runtime's own).
The load average is printed before and after, as the figures depend on it.

    python benchmarks/pacing.py [--seconds 3] [--fixed-seconds 10] [--throughput-seconds 1.5]
                                [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import statistics
import time
from typing import Any

import numpy as np
from reactor import InputField, InputState, Output, ReactorPipeline, Video
from reactor._pacer import MAX_FPS, MIN_FPS
from reactor._runner import Runner

SIZE = 512


class Frames(Output):
    main_video: Video


class BenchState(InputState):
    marker: int = InputField(default=0, ge=0, le=255)


class Synthetic(ReactorPipeline):
    """Makes `batch` frames every `batch / rate` seconds (sleeping, as a GPU-bound step does),
    on its own clock: the time the runtime takes between two yields is not added to a step."""

    state: BenchState

    def load(self, config: dict[str, Any]) -> None:
        self.rate = float(config["rate"])
        self.batch = int(config["batch"])
        self.work = config.get("work", "sleep")
        self.base = np.zeros((self.batch, SIZE, SIZE, 3), np.uint8)
        self.steps: list[tuple[float, int]] = []  # (start time, marker seen)

    def inference(self):
        step_time = self.batch / self.rate
        finished: float | None = None
        while True:
            start = time.monotonic()
            marker = self.state.marker
            self.steps.append((start, marker))
            batch = self.base.copy()
            batch[:, 0, 0, 0] = marker
            if self.work == "sleep":
                # A steady model: one yield every step_time, whatever the time between yields
                # cost (unless it was held back longer than a step).
                resume = finished is not None and start - finished < step_time
                finished = (finished if resume else start) + step_time
                remaining = finished - time.monotonic()
                if remaining > 0:
                    time.sleep(remaining)
            yield Frames(main_video=batch)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def _send(_: dict[str, Any]) -> None:
    return None


async def paced_run(
    rate: float, batch: int, seconds: float, fps: float | None = None, updates: int = 0
) -> dict[str, Any]:
    """Play a synthetic model for `seconds`; measure release times and update latency."""
    model = Synthetic()
    model.load({"rate": rate, "batch": batch})
    runner = Runner(model, fps=fps, queue_frames=max(8, 2 * batch))
    target = fps if fps is not None else min(MAX_FPS, max(MIN_FPS, rate))
    await runner.start_session(_send)
    released: list[float] = []
    markers: list[int] = []
    update_at: list[tuple[int, int, int]] = []  # (frame index, marker, steps so far)
    n_frames = int(seconds * target)
    warmup = max(2 * batch, int(target // 2))
    every = max(1, (n_frames - warmup) // (updates + 1)) if updates else 0
    next_marker = 1
    async for frame in runner.frames():
        released.append(time.monotonic())
        markers.append(int(frame.data[0, 0, 0]))
        i = len(released) - 1
        if updates and i >= warmup and (i - warmup) % every == every - 1 and next_marker <= updates:
            await runner.command("set_marker", {"marker": next_marker})
            update_at.append((i, next_marker, len(model.steps)))
            next_marker += 1
        if len(released) >= n_frames + warmup:
            break
    await runner.stop_session()
    playout = released[warmup:]
    intervals = [b - a for a, b in itertools.pairwise(playout)]
    ideal = 1.0 / (runner.pacer.rate or target)
    errors_ms = [abs(x - ideal) * 1000 for x in intervals]
    frames_after: list[int] = []
    steps_after: list[int] = []
    for index, marker, steps in update_at:
        shown = next((j for j in range(index + 1, len(markers)) if markers[j] == marker), None)
        if shown is not None:
            frames_after.append(shown - index)
        seen = next((k for k, (_, m) in enumerate(model.steps) if m == marker), None)
        if seen is not None:
            steps_after.append(seen - steps + 1)
    achieved = (len(playout) - 1) / (playout[-1] - playout[0]) if len(playout) > 1 else 0.0
    return {
        "model_fps": rate,
        "batch": batch,
        "target_fps": round(target, 3),
        "paced_fps": round(runner.pacer.rate or 0.0, 3),
        "achieved_fps": round(achieved, 3),
        "rate_error_pct": round(100 * (achieved - target) / target, 3),
        "frames": len(playout),
        "interval_error_ms_p50": round(percentile(errors_ms, 50), 3),
        "interval_error_ms_p99": round(percentile(errors_ms, 99), 3),
        "reanchors": runner.pacer.reanchors,
        "update_frames_after_p50": percentile([float(x) for x in frames_after], 50),
        "update_frames_after_max": max(frames_after) if frames_after else None,
        "update_steps_after_max": max(steps_after) if steps_after else None,
        "updates_measured": len(frames_after),
    }


def _fast_model(batch: int, work_ms: float) -> Synthetic:
    """No work at all (pure runtime overhead), or `work_ms` of sleeping per frame."""
    model = Synthetic()
    if work_ms > 0:
        model.load({"rate": 1000.0 / work_ms, "batch": batch})
    else:
        model.load({"rate": 1e9, "batch": batch, "work": "none"})
    return model


def _rate_model(batch: int, rate: float) -> Synthetic:
    """The synthetic model making `rate` frames per second in batches of `batch`."""
    model = Synthetic()
    model.load({"rate": rate, "batch": batch})
    return model


def bare_throughput(frames: int, batch: int, work_ms: float, rate: float | None = None) -> float:
    """Frames per second of the generator alone, iterated in a plain loop."""
    model = _fast_model(batch, work_ms) if rate is None else _rate_model(batch, rate)
    gen = model.inference()
    start = time.perf_counter()
    made = 0
    while made < frames:
        out = next(gen)
        made += out.main_video.shape[0]
    return made / (time.perf_counter() - start)


async def driven_throughput(
    frames: int, batch: int, work_ms: float, rate: float | None = None
) -> float:
    """Frames per second through driver + pacer with pacing off (released as soon as made)."""
    model = _fast_model(batch, work_ms) if rate is None else _rate_model(batch, rate)
    runner = Runner(model, realtime=False, queue_frames=max(8, 2 * batch))
    await runner.start_session(_send)
    start = time.perf_counter()
    made = 0
    async for _ in runner.frames():
        made += 1
        if made >= frames:
            break
    elapsed = time.perf_counter() - start
    await runner.stop_session()
    return made / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per rate/batch run")
    parser.add_argument("--fixed-seconds", type=float, default=10.0, help="fixed 30 fps run")
    parser.add_argument(
        "--throughput-seconds", type=float, default=1.5, help="per synthetic throughput run"
    )
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    args = parser.parse_args()
    seconds = 0.5 if args.quick else args.seconds
    fixed_seconds = 1.0 if args.quick else args.fixed_seconds
    throughput_seconds = 0.3 if args.quick else args.throughput_seconds
    load_before = _load()

    grid = []
    for rate in (10, 30, 80, 200):
        for batch in (1, 4, 16):
            # at least two batches per run, and a few updates to time
            run_seconds = max(seconds, 2.5 * batch / min(rate, MAX_FPS))
            grid.append(await paced_run(rate, batch, run_seconds, updates=3))

    # A model able to make 45 frames/s, played at a fixed 30: what the pacer itself achieves.
    fixed = await paced_run(45, 1, fixed_seconds, fps=30, updates=5)

    synthetic_throughput = []
    for rate in (10, 30, 80, 200):
        for batch in (1, 4, 16):
            # whole batches, at least two of them, about `throughput_seconds` long
            n = batch * max(2, math.ceil(throughput_seconds * rate / batch))
            bare = bare_throughput(n, batch, 0.0, rate=rate)
            driven = await driven_throughput(n, batch, 0.0, rate=rate)
            ratio = round(driven / bare, 3)
            synthetic_throughput.append(
                {
                    "model_fps": rate,
                    "batch": batch,
                    "frames": n,
                    "bare_fps": round(bare, 2),
                    "driven_fps": round(driven, 2),
                    "ratio": ratio,
                    "meets_target": ratio >= 0.97,
                }
            )

    throughput = []
    for work_ms in (0.0, 2.0):
        for batch in (1, 4, 16):
            n = 200 if args.quick else (1500 if work_ms == 0 else 500)
            # Whole batches: the bare loop counts a batch when it comes, so stopping the driven
            # count inside the last batch would charge it that batch's time for part of it.
            n = batch * math.ceil(n / batch)
            bare = statistics.median(bare_throughput(n, batch, work_ms) for _ in range(3))
            driven = statistics.median(
                [await driven_throughput(n, batch, work_ms) for _ in range(3)]
            )
            throughput.append(
                {
                    "model_work_ms_per_frame": work_ms,
                    "batch": batch,
                    "bare_fps": round(bare, 1),
                    "driven_fps": round(driven, 1),
                    "ratio": round(driven / bare, 3),
                }
            )

    print(
        json.dumps(
            {
                "machine": {
                    "python": platform.python_version(),
                    "cpus": _cpus(),
                    "load_average_before": load_before,
                    "load_average_after": _load(),
                },
                "frame": [SIZE, SIZE, 3],
                "adaptive": grid,
                "fixed_30fps": fixed,
                "throughput_pacing_off_synthetic": synthetic_throughput,
                "throughput_pacing_off": throughput,
            },
            indent=2,
        )
    )


def _cpus() -> int | None:
    return os.cpu_count()


def _load() -> list[float]:
    """1, 5 and 15 minute load averages."""
    return [round(x, 2) for x in os.getloadavg()]


if __name__ == "__main__":
    asyncio.run(main())
