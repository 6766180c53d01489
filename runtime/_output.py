"""What a model yields: `Output` with `Video`/`Audio` tracks, and turning it into numpy frames.

Each field of an `Output` subclass is a track named after the field. Yielded values may be numpy
arrays or torch tensors on any device; torch is never imported here, a tensor is recognised by
its type's module and copied to host memory only when one arrives.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from reactor._annotations import resolve_annotation


class Video:
    """A video track: uint8 RGB frames, `(H, W, 3)` or a batch `(N, H, W, 3)`."""


class Audio:
    """An audio track: int16 samples `(channels, samples)`; subclass to change `sample_rate`.

    On an input track (`MediaInput`) the model receives mono `(1, M)` samples at `sample_rate`,
    whatever the client sent."""

    sample_rate: ClassVar[int] = 48000
    buffer_seconds: ClassVar[float | None] = None
    """Input tracks only: hold this many seconds of audio (None: 128 frames, however long)."""


@dataclass(frozen=True)
class TrackSpec:
    """One output track of a model, as the server and headless mode see it."""

    name: str
    kind: Literal["video", "audio"]
    sample_rate: int | None = None


class Output:
    """Base for what `inference()` yields or `emit()` takes: one field per track.

    Subclasses become dataclasses whose fields all default to None, so an output may carry a
    frame for some of its tracks only.
    """

    _tracks: ClassVar[tuple[TrackSpec, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = cls.__qualname__
        own = inspect.get_annotations(cls)
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise TypeError(f"{owner}: cannot resolve a track's type ({exc})") from None
        tracks = list(getattr(cls, "_tracks", ()))
        for name in own:
            annotation = hints[name]
            if typing.get_origin(annotation) is ClassVar:
                continue
            if isinstance(annotation, type) and issubclass(annotation, Video):
                tracks.append(TrackSpec(name, "video"))
            elif isinstance(annotation, type) and issubclass(annotation, Audio):
                tracks.append(TrackSpec(name, "audio", annotation.sample_rate))
            else:
                raise TypeError(
                    f"{owner}.{name}: an Output field must be typed Video or Audio, "
                    f"got {annotation!r}"
                )
            setattr(cls, name, dataclasses.field(default=None))
        cls._tracks = tuple(tracks)
        dataclass(cls)

    @classmethod
    def tracks(cls) -> tuple[TrackSpec, ...]:
        """The tracks this output class carries, in declaration order."""
        return cls._tracks


def _describe(value: Any) -> str:
    shape = getattr(value, "shape", None)
    dtype = getattr(value, "dtype", None)
    if shape is None:
        return f"a {type(value).__name__}"
    return f"shape {tuple(shape)} dtype {dtype}"


def _is_torch_tensor(value: Any) -> bool:
    """True for a torch tensor, decided without importing torch."""
    module = type(value).__module__ or ""
    return (module == "torch" or module.startswith("torch.")) and hasattr(value, "detach")


def to_host_array(value: Any) -> Any:
    """A numpy view of a numpy array or a torch tensor (copied off its device); else `value`."""
    return _host(value)[0]


def _host(value: Any) -> tuple[Any, bool]:
    """(host array or `value`, whether that array is a fresh copy nobody else holds)."""
    if _is_torch_tensor(value):
        fresh = getattr(getattr(value, "device", None), "type", "cpu") != "cpu"
        return value.detach().cpu().numpy(), fresh
    return value, False


def _owned(array: np.ndarray, fresh: bool) -> np.ndarray:
    """A C-contiguous array the runtime alone holds: a model often reuses one buffer for every
    frame, and a queued frame must not change. A tensor just copied off a GPU already is one."""
    if fresh and array.flags.c_contiguous:
        return array
    return np.array(array, order="C", copy=True)


def video_batch(track: str, value: Any) -> np.ndarray:
    """A yielded video value as a C-contiguous uint8 `(N, H, W, 3)` batch, or a TypeError."""
    array, fresh = _host(value)
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"track '{track}': expected a uint8 (H, W, 3) or (N, H, W, 3) numpy array or torch "
            f"tensor, got {_describe(value)}"
        )
    ok_shape = array.ndim in (3, 4) and array.shape[-1] == 3 and 0 not in array.shape
    if array.dtype != np.uint8 or not ok_shape:
        raise TypeError(
            f"track '{track}': expected uint8 frames of shape (H, W, 3) or (N, H, W, 3), "
            f"got {_describe(array)}"
        )
    if array.ndim == 3:
        array = array[np.newaxis]
    return _owned(array, fresh)


def audio_chunk(track: str, value: Any) -> np.ndarray:
    """A yielded audio value as a C-contiguous int16 `(channels, samples)` array, or a TypeError."""
    array, fresh = _host(value)
    if not isinstance(array, np.ndarray):
        raise TypeError(
            f"track '{track}': expected an int16 (channels, samples) numpy array or torch tensor, "
            f"got {_describe(value)}"
        )
    if array.dtype != np.int16 or array.ndim != 2 or 0 in array.shape:
        raise TypeError(
            f"track '{track}': expected int16 audio of shape (channels, samples), "
            f"got {_describe(array)}"
        )
    return _owned(array, fresh)


def split_output(tracks: tuple[TrackSpec, ...], value: Any) -> dict[str, np.ndarray]:
    """Turn one yielded value into {track: frames}: video `(N,H,W,3)`, audio `(C,S)`.

    A bare array/tensor is accepted when the model has exactly one video track.
    """
    if not isinstance(value, Output):
        videos = [t for t in tracks if t.kind == "video"]
        if len(videos) == 1:
            return {videos[0].name: video_batch(videos[0].name, value)}
        names = ", ".join(t.name for t in tracks)
        raise TypeError(
            f"expected an Output with tracks ({names}), got {_describe(value)}; a bare array "
            "is only accepted when the model has exactly one video track"
        )
    known = {t.name: t for t in tracks}
    out: dict[str, np.ndarray] = {}
    for spec in type(value).tracks():
        item = getattr(value, spec.name)
        if item is None:
            continue
        target = known.get(spec.name)
        if target is None:
            raise TypeError(
                f"{type(value).__name__}.{spec.name} is not one of the model's tracks "
                f"({', '.join(known)})"
            )
        if target.kind == "video":
            out[spec.name] = video_batch(spec.name, item)
        else:
            out[spec.name] = audio_chunk(spec.name, item)
    return out


def tracks_for_model(model_cls: type) -> tuple[TrackSpec, ...]:
    """The tracks a model class streams.

    An annotation `output: MyOutput` on the model names them; otherwise every `Output`
    subclass defined in the model's module counts (Reactor's behaviour: outputs are declared,
    not returned); with none, the model has one video track, `main_video`.
    """
    declared = resolve_annotation(model_cls, "output")
    if isinstance(declared, type) and issubclass(declared, Output):
        return declared.tracks()
    module = sys.modules.get(model_cls.__module__)
    found: dict[str, TrackSpec] = {}
    if module is not None:
        for obj in vars(module).values():
            if (
                isinstance(obj, type)
                and issubclass(obj, Output)
                and obj is not Output
                and obj.__module__ == model_cls.__module__
            ):
                for spec in obj.tracks():
                    previous = found.setdefault(spec.name, spec)
                    if previous != spec:
                        raise TypeError(
                            f"track '{spec.name}' is declared as {previous.kind} and as "
                            f"{spec.kind}; give the model an `output: MyOutput` annotation"
                        )
    if found:
        return tuple(found.values())
    return (TrackSpec("main_video", "video"),)
