"""Models the scale-out tests serve through Ray Serve replicas (copied next to a reactor.yaml
with tests/server's models, since replicas import them by the manifest like a user's model)."""

from __future__ import annotations

from typing import Any

from server_models import Counter


class SteadyCounter(Counter):
    """The server tests' Counter at 15 fps: enough frames to see, light on two cores."""

    fps = 15


class BrokenCounter(Counter):
    """A model whose `load()` fails, as one with missing weights would."""

    def load(self, config: dict[str, Any]) -> None:
        raise FileNotFoundError("weights.safetensors is missing")
