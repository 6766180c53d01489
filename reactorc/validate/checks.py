"""The values validation produces and takes: a `Check` per thing checked, the `Report` of a
run, and the `ValidateOptions` that steer it. Every module of the stage imports these; they
import nothing of it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Check:
    """One validation check: what was checked, its outcome, why, and the figures measured."""

    name: str
    status: Status
    detail: str
    figures: Mapping[str, float | int | str] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "figures": dict(self.figures),
        }


@dataclass(frozen=True)
class Report:
    """Every check run on one converted folder; `ok` unless a check failed."""

    folder: str
    model: str
    source: str
    symbol: str
    device: str
    checks: tuple[Check, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        return not any(c.status == "fail" for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "model": self.model,
            "source": self.source,
            "symbol": self.symbol,
            "device": self.device,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "checks": [c.to_json() for c in self.checks],
        }


@dataclass(frozen=True)
class ValidateOptions:
    """How to validate: the device, how many frames per session, the streaming check, and
    values to use for fields (`field=value` text, as `reactor run --set` takes it)."""

    device: Device = "auto"
    frames: int = 24
    stream: bool = False
    changes: tuple[str, ...] = ()
    config_path: Path | None = None
    tolerance: int | None = None
    """Largest allowed difference per pixel channel (0-255) in the equivalence check."""
    timeout: float = 120.0
    """Seconds to wait for a frame (the first one of a session included) before the model is
    called stuck."""


Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): called as frames arrive (total 0: a step without frames)."""
