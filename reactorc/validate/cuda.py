"""validate's CUDA checks: the pipeline's weights sit on the GPU, its frames come from the GPU,
and `torch.cuda` memory stays flat across clips.

torch is never imported here: the caller passes the module the user's model already imported.
Frames are seen on their way into the wrapper's own `to_video()` (wrapped for the run), which
every generated wrapper calls with what the original made, before any copy to the host.
"""

from __future__ import annotations

import contextlib
from typing import Any

from reactorc.validate.checks import Check

MEMORY_SLACK_BYTES = 4 * 1024 * 1024
"""Growth between the second and the last clip allowed before memory is called not flat
(the allocator's block rounding and a cache warming up move it a little)."""


class CudaProbe:
    """Watches one run on CUDA: devices of the frames handed to `to_video`, memory per clip."""

    def __init__(self, wrapper_module: Any, torch: Any, clip: int) -> None:
        self.module = wrapper_module
        self.torch = torch
        self.clip = max(1, clip)
        self.devices: dict[str, int] = {}
        self.memory: list[int] = []
        self.frames = 0
        self._original = getattr(wrapper_module, "to_video", None)
        if self._original is not None:
            original = self._original

            def to_video(frames: Any, *args: Any, **kwargs: Any) -> Any:
                device = getattr(frames, "device", None)
                kind = getattr(device, "type", None) or "host (numpy)"
                self.devices[kind] = self.devices.get(kind, 0) + 1
                return original(frames, *args, **kwargs)

            wrapper_module.to_video = to_video

    def restore(self) -> None:
        if self._original is not None:
            self.module.to_video = self._original

    def sample(self) -> None:
        """Called per frame: record allocated memory at each clip boundary."""
        self.frames += 1
        if self.torch is not None and self.frames % self.clip == 0:
            with contextlib.suppress(Exception):
                self.memory.append(int(self.torch.cuda.memory_allocated()))

    def checks(self, model: Any) -> list[Any]:

        out = [placement(model, self.torch)]
        if not self.devices:
            out.append(Check("cuda: frames on GPU", "fail", "the wrapper's to_video saw no frame"))
        elif "cuda" in self.devices:
            out.append(
                Check(
                    "cuda: frames on GPU",
                    "pass",
                    f"{self.devices['cuda']} of {sum(self.devices.values())} frame batches "
                    "came from the GPU",
                    {k.replace(" ", "_"): v for k, v in self.devices.items()},
                )
            )
        else:
            kinds = ", ".join(f"{n} from {k}" for k, n in self.devices.items())
            out.append(
                Check(
                    "cuda: frames on GPU",
                    "fail",
                    f"no frame came from the GPU ({kinds}): the pipeline computes on the host",
                )
            )
        out.append(self._memory_check())
        return out

    def _memory_check(self) -> Any:

        name = "cuda: memory flat"
        if len(self.memory) < 3:
            return Check(
                name, "skip", f"only {len(self.memory)} clip(s) ran; 3 are needed to compare"
            )
        mib = [round(m / 2**20, 1) for m in self.memory]
        growth = self.memory[-1] - self.memory[1]
        figures = {"clips": len(self.memory), "first_mib": mib[0], "last_mib": mib[-1]}
        if growth > MEMORY_SLACK_BYTES:
            return Check(
                name,
                "fail",
                f"allocated memory grew by {growth / 2**20:.1f} MiB from clip 2 to clip "
                f"{len(self.memory)} ({' -> '.join(map(str, mib))} MiB): something keeps "
                "tensors across clips",
                figures,
            )
        return Check(
            name, "pass", f"allocated memory per clip: {' -> '.join(map(str, mib))} MiB", figures
        )


def placement(model: Any, torch: Any) -> Any:
    """Where the pipeline object's weights and tensors are (one attribute level down)."""

    name = "cuda: placement"
    if torch is None:
        return Check(name, "skip", "the model does not use torch; it runs on the host")
    pipeline = getattr(model, "pipeline", None)
    if pipeline is None:
        return Check(name, "skip", "the wrapper holds no pipeline object (a plain function)")
    devices: dict[str, list[str]] = {}
    for attr, value in _members(pipeline):
        for kind in _devices_of(value, torch):
            devices.setdefault(kind, []).append(attr)
    if not devices:
        return Check(name, "skip", "the pipeline holds no torch modules or tensors")
    if set(devices) == {"cuda"}:
        return Check(name, "pass", f"weights on the GPU: {', '.join(devices['cuda'][:6])}")
    host = [a for k, attrs in devices.items() if k != "cuda" for a in attrs]
    return Check(
        name,
        "fail",
        f"on the host: {', '.join(host[:6])}; give the pipeline a `device` setting in "
        "config.yml (validate sets it to cuda) or move its modules in its constructor",
    )


def _members(obj: Any) -> list[tuple[str, Any]]:
    try:
        items = list(vars(obj).items())
    except TypeError:
        return []
    return [(k, v) for k, v in items if not k.startswith("__")]


def _devices_of(value: Any, torch: Any) -> set[str]:
    if isinstance(value, torch.nn.Module):
        return {p.device.type for p in list(value.parameters()) + list(value.buffers())}
    if isinstance(value, torch.Tensor):
        return {value.device.type}
    return set()


__all__ = ["CudaProbe", "placement"]
