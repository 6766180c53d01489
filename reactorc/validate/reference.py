"""The original pipeline's own frames, for validate's differential check.

The original is built exactly as the wrapper builds it (a second wrapper instance's `load()`
with the same config, so both see the same weights and settings), called once at its default
arguments (the wrapper's default state), and its frames are converted with the wrapper's own
`to_video()`, so both sides are compared as the uint8 RGB frames a client would see.

How the frames are taken from the original follows the plan's sink: the returned value (an
array or tensor, or the one frame array inside a result object, tuple, list or mapping); the
first N items of a generator; `reset()` then N `step()` calls of a step API; or, for a writer,
the `.npy` file or folder of `.npy`/`.ppm` frames it wrote (looked for under the paths named by
its config and by what it returns; it runs in a fresh working folder so relative paths land
there). When none of these applies the check is skipped with the reason, never passed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import io
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from reactorc.plan import LOADED_SOURCES, Plan


class ReferenceUnavailable(Exception):
    """The original's frames cannot be obtained generically; the message says why."""


@dataclass(frozen=True)
class Reference:
    """One clip of the original at its defaults, as the wrapper's `to_video` converts it."""

    frames: np.ndarray
    """(N, H, W, 3) uint8."""
    float_source: bool
    """True when the original gave float frames (rounded to uint8 by `to_video`)."""
    seconds: float
    endless: bool
    """True for a generator or step API: N was chosen by validate, not by the original."""


def _array_like(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and len(value.shape) >= 2


def _frames_in(value: Any) -> Any:
    """The frame array inside what the original returned or yielded."""
    if _array_like(value):
        return value
    if isinstance(value, list | tuple) and value:
        if all(_array_like(v) for v in value) and len({tuple(v.shape) for v in value}) == 1:
            return value if isinstance(value, list) else list(value)
        for item in value:
            if _array_like(item):
                return item
    candidates: list[Any] = []
    if isinstance(value, Mapping):
        candidates = list(value.values())
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        candidates = [getattr(value, f.name) for f in dataclasses.fields(value)]
    elif hasattr(value, "__dict__"):
        candidates = list(vars(value).values())
    found = [c for c in candidates if _array_like(c) and len(c.shape) >= 3]
    if found:
        return found[0]
    raise ReferenceUnavailable(
        f"the original returned a {type(value).__name__} holding no frame array"
    )


def _convert(to_video: Any, value: Any) -> tuple[np.ndarray, bool]:
    frames = _frames_in(value)
    if isinstance(frames, list):
        is_float = not _is_uint8(frames[0])
        return np.concatenate([to_video(f) for f in frames]), is_float
    return to_video(frames), not _is_uint8(frames)


def _is_uint8(array: Any) -> bool:
    return "uint8" in str(getattr(array, "dtype", ""))


@contextlib.contextmanager
def _in_folder(folder: Path) -> Iterator[None]:
    """Run with `folder` as the working folder and the original's stderr (progress bars) hidden."""
    previous = Path.cwd()
    os.chdir(folder)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        os.chdir(previous)


def call_arguments(plan: Plan, twin: Any, module: ModuleType) -> dict[str, Any]:
    """The keyword arguments the wrapper gives the original at its default state: fields at
    their defaults, inputs as `load()` computed them, defaults as written, converted parameters
    (a prompt list, noise from the seed) built by the wrapper's own statements."""
    state = twin.state if twin is not None else None
    scope: dict[str, Any] = dict(vars(module))
    scope["__wrapper_self__"] = twin
    for f in plan.state:
        scope[f.name] = getattr(state, f.name) if state is not None else f.default
    if plan.setup is not None and twin is not None:
        for name in plan.setup.names:
            scope[name] = getattr(twin.arguments, name)
    kwargs: dict[str, Any] = {}
    for arg in plan.arguments:
        param = next(p for p in plan.params if p.name == arg.param)
        if param.kind in ("var_positional", "var_keyword"):
            continue
        if arg.source == "state" and any(s.param == arg.param for s in plan.per_step):
            continue  # a per-step field at its default follows the original's own sequence
        if arg.source == "state":
            kwargs[arg.param] = scope[arg.field]
        elif arg.source in LOADED_SOURCES:
            kwargs[arg.param] = getattr(twin.arguments, arg.param)
        elif arg.source == "default":
            continue
        elif arg.source in ("seed", "prompt"):
            code = next(p.code for p in plan.pre_loop if p.synthetic and arg.param in p.defines)
            exec(compile(code, "<reactorc wrapper statement>", "exec"), scope)
            kwargs[arg.param] = scope[arg.param]
        else:
            raise ReferenceUnavailable(
                f"{plan.symbol} needs `{arg.param}` and nothing gives it a value"
            )
    return kwargs


def _after_call(plan: Plan, result: Any, module: ModuleType) -> Any:
    """What the driver does to the result before saving it, as the wrapper does per chunk."""
    if not plan.after_call:
        return result
    scope: dict[str, Any] = dict(vars(module))
    scope[plan.result_name] = result
    for st in plan.after_call:
        exec(compile(st.code, "<the driver's statement>", "exec"), scope)
    last = plan.after_call[-1]
    return scope[last.defines[0]] if last.defines else result


@contextlib.contextmanager
def _call_modes(plan: Plan, module: ModuleType) -> Iterator[None]:
    """The grad mode the driver calls the pipeline under (`with torch.no_grad():`)."""
    with contextlib.ExitStack() as stack:
        for k in plan.kept:
            if k.kind == "call":
                stack.enter_context(eval(k.code, dict(vars(module))))
        yield


def run_original(
    plan: Plan,
    wrapper_module: ModuleType,
    model_cls: type,
    config: dict[str, Any],
    frames_wanted: int,
) -> Reference:
    """One clip of the original at its defaults; ReferenceUnavailable when it cannot be taken."""
    to_video = getattr(wrapper_module, "to_video", None)
    load_original = getattr(wrapper_module, "load_original", None)
    if to_video is None or load_original is None:
        raise ReferenceUnavailable(
            "the wrapper has no to_video()/load_original() (not a reactorc wrapper?)"
        )
    kind = plan.frame_loop.sink.kind if plan.frame_loop is not None else ""
    started = time.perf_counter()
    if plan.symbol_kind == "module":
        return _run_script(plan, wrapper_module, config, frames_wanted, started)
    # Built in the current folder (validate runs in the output folder, as `reactor run` does),
    # so relative paths the constructor reads resolve as they do for the wrapper.
    twin = None
    owns_object = bool(plan.class_name) and plan.symbol_kind != "function"
    loads_arguments = plan.setup is not None or any(
        a.source in LOADED_SOURCES for a in plan.arguments
    )
    if owns_object or loads_arguments:
        twin = model_cls()
        with contextlib.redirect_stderr(io.StringIO()):
            twin.load(dict(config))
    if owns_object:
        target = getattr(twin, "pipeline", None)
        if target is None:
            raise ReferenceUnavailable("the wrapper's load() keeps no `pipeline` object")
        call = getattr(target, plan.function_name)
    else:
        target = None
        call = getattr(load_original(), plan.function_name)
    kwargs = call_arguments(plan, twin, load_original())
    # Called in a fresh folder, so what it writes (relative paths) lands there and is read back.
    with tempfile.TemporaryDirectory(prefix="reactorc-validate-") as tmp:
        folder = Path(tmp)
        with _in_folder(folder):
            if plan.symbol_kind == "step":
                options = dict(getattr(twin, "reset_options", None) or {})
                # As the wrapper does: reset() once per episode, when the class has one.
                reset = getattr(target, plan.reset_method, None) if plan.reset_method else None
                if callable(reset):
                    reset(**options)
                parts = [_convert(to_video, _obs(call())) for _ in range(frames_wanted)]
                frames = np.concatenate([p[0] for p in parts])
                return Reference(frames, parts[0][1], time.perf_counter() - started, True)
            wall = time.time()
            with _call_modes(plan, load_original()):
                result = call(**kwargs)
            if inspect.isgenerator(result):
                parts = []
                for item in result:
                    parts.append(_convert(to_video, item))
                    if sum(len(p[0]) for p in parts) >= frames_wanted:
                        break
                result.close()
                if not parts:
                    raise ReferenceUnavailable("the original's generator yielded nothing")
                frames = np.concatenate([p[0] for p in parts])[:frames_wanted]
                return Reference(frames, parts[0][1], time.perf_counter() - started, True)
            if kind == "writer":
                array = _written_frames(folder, config, result, wall)
                frames, is_float = _convert(to_video, array)
                return Reference(frames, is_float, time.perf_counter() - started, False)
            frames, is_float = _convert(to_video, _after_call(plan, result, load_original()))
            return Reference(frames, is_float, time.perf_counter() - started, False)


def _run_script(
    plan: Plan,
    wrapper_module: ModuleType,
    config: dict[str, Any],
    frames_wanted: int,
    started: float,
) -> Reference:
    """A module script is run as its author runs it (`python script.py` with the options that
    config.yml changes), in a fresh folder; the frames it saved are read back."""
    import runpy

    source = Path(wrapper_module.SOURCE)
    defaults = dict(getattr(wrapper_module, "OPTIONS", {}))
    text = source.read_text(encoding="utf-8")
    argv: list[str] = []
    for key, value in config.items():
        if key in defaults and defaults[key] == value:
            continue
        dashed = f"--{key.replace('_', '-')}"
        flag = dashed if f"'{dashed}'" in text or f'"{dashed}"' in text else f"--{key}"
        if isinstance(value, bool):
            if value:
                argv.append(flag)
            continue
        items = value if isinstance(value, list) else [value]
        argv += [flag, *(str(v) for v in items)]
    with tempfile.TemporaryDirectory(prefix="reactorc-validate-") as tmp:
        folder = Path(tmp)
        saved_argv, saved_path = sys.argv, list(sys.path)
        sys.argv = [str(source), *argv]
        sys.path.insert(0, str(source.parent))
        wall = time.time()
        try:
            with _in_folder(folder), contextlib.redirect_stdout(io.StringIO()):
                runpy.run_path(str(source), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise ReferenceUnavailable(f"the script exited with status {exc.code}") from None
        finally:
            sys.argv, sys.path = saved_argv, saved_path
        array = _written_frames(folder, config, None, wall)
        frames, is_float = _convert(wrapper_module.to_video, array)
    return Reference(frames, is_float, time.perf_counter() - started, False)


def _obs(result: Any) -> Any:
    """A step() result's observation: the first item of a (obs, reward, ...) tuple."""
    if isinstance(result, tuple) and result and _array_like(result[0]):
        return result[0]
    return result


def _written_frames(folder: Path, config: dict[str, Any], result: Any, since: float) -> Any:
    """The frames a writer pipeline wrote during the call (modified since `since`, wall-clock
    seconds), read back from disk."""
    names: list[str] = [v for v in config.values() if isinstance(v, str)]
    if isinstance(result, str | os.PathLike):
        names.insert(0, os.fspath(result))
    paths = [folder / n if not Path(n).is_absolute() else Path(n) for n in names]
    paths += sorted(folder.iterdir())
    for path in paths:
        try:
            fresh = path.exists() and path.stat().st_mtime >= since - 1.0
        except OSError:
            continue
        if not fresh:
            continue
        array = _read_frames(path)
        if array is not None:
            return array
    raise ReferenceUnavailable(
        "the original writes its frames with a writer and no .npy file or folder of .npy/.ppm "
        "frames it wrote was found (looked at the paths in its config and what it returns)"
    )


def _read_frames(path: Path) -> np.ndarray | None:
    if path.is_dir():
        files = sorted(path.glob("*.npy")) or sorted(path.glob("*.ppm"))
        frames = [f for f in (_read_frame(p) for p in files) if f is not None]
        return np.stack(frames) if frames and len(frames) == len(files) else None
    return _read_frame(path)


def _read_frame(path: Path) -> np.ndarray | None:
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if path.suffix == ".ppm":
            data = path.read_bytes()
            parts = data.split(maxsplit=4)
            if len(parts) < 5 or parts[0] != b"P6" or int(parts[3]) != 255:
                return None
            width, height = int(parts[1]), int(parts[2])
            pixels = np.frombuffer(parts[4], dtype=np.uint8, count=height * width * 3)
            return pixels.reshape(height, width, 3)
    except (OSError, ValueError):
        return None
    return None


__all__ = ["Reference", "ReferenceUnavailable", "run_original"]
