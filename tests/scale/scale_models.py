"""Models the scale-out tests serve through Ray Serve replicas (copied next to a reactor.yaml
with tests/server's models, since replicas import them by the manifest like a user's model)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from server_models import Counter

LOADS = Path(__file__).with_name("loads.log")
"""Each `load()` appends its process id here, so tests can count loads per replica."""


class SteadyCounter(Counter):
    """The server tests' Counter at 15 fps: enough frames to see, light on two cores."""

    fps = 15

    def load(self, config: dict[str, Any]) -> None:
        with LOADS.open("a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\n")


class BrokenCounter(Counter):
    """A model whose `load()` fails, as one with missing weights would."""

    def load(self, config: dict[str, Any]) -> None:
        raise FileNotFoundError("weights.safetensors is missing")
