"""Models that misbehave the ways real ones do: a `load()` that never returns, a step that
blocks forever, clips that each leave memory behind. Served by `reactor run` in the fault
tests; each draws its frame counter like the Counter model (see pixelcode)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pixelcode
from server_models import Counter, Picture

FOREVER = threading.Event()
"""Never set: waiting on it is a step that never returns (and holds no lock)."""


class HangingLoad(Counter):
    """Its load() never returns, as one stuck on a network drive or a dead GPU would."""

    def load(self, config: dict) -> None:
        FOREVER.wait()


class SlowLoad(Counter):
    """Loads in `load_seconds` (config), then serves like Counter."""

    def load(self, config: dict) -> None:
        time.sleep(float(config.get("load_seconds", 2.0)))


class BlockingStep(Counter):
    """Streams `frames_before_block` (config) frames, then its next step blocks forever."""

    output: Picture

    def load(self, config: dict) -> None:
        self.frames_before_block = int(config.get("frames_before_block", 10))

    def inference(self):  # type: ignore[no-untyped-def]
        index = 0
        while True:
            if index == self.frames_before_block:
                FOREVER.wait()
            yield pixelcode.picture(pixelcode.BLOCK * 16, 64, index, self.state.level)
            index += 1


LEAKED: list[np.ndarray] = []


class LeakyClips(Counter):
    """Each clip (a run of inference(): three frames) keeps `leak_mb` MB (config) for good."""

    def load(self, config: dict) -> None:
        self.leak = int(float(config.get("leak_mb", 4)) * 1_000_000)

    def inference(self):  # type: ignore[no-untyped-def]
        if self.leak:
            LEAKED.append(np.ones(self.leak, dtype=np.uint8))  # touched: resident at once
        for index in range(3):
            yield pixelcode.picture(pixelcode.BLOCK * 16, 64, index, self.state.level)
