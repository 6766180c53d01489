"""`reactorc validate`: run a converted wrapper for real and check it before anyone deploys it.

The wrapper is imported and loaded with its config, then run in fresh sessions through the
runtime's `Runner` (the driver and pacer `reactor run` uses). Each check is a `Check` value with
a status and a reason; a broken wrapper (an import error, `load()` or `inference()` raising,
frames of the wrong type) is a failed check, never a crash. The checks, in order:

- import / load: the wrapper imports and `load(config)` returns (times measured);
- first frame: a session yields a frame (time from session start);
- frame format: every frame has one shape, (H, W, 3) uint8, and the model reported no error;
- equivalence: the first clip at the default state equals the original's own clip at its
  defaults (exact for uint8 originals; 1 level of 255 for float ones, which `to_video` rounds;
  `--tolerance` overrides); a plan that warns the wrapper cannot match (RC301) is a warning;
- live: <field>: changed mid-run to another valid value, the frames that follow change;
- restart: <field>: changed mid-clip, the clip in progress is untouched and a later one changes;
- pacing: achieved frame rate against the target, interval error p50/p99;
- cuda: placement / frames on GPU / memory (only on CUDA);
- stream (with --stream): the same model served by `reactor run`'s server to a loopback WebRTC
  client: delivered fps and update latency measured at the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from reactorc.validate.checks import (
    DEVICES,
    Check,
    Progress,
    Report,
    Status,
    ValidateOptions,
)
from reactorc.validate.output import (
    ConvertedOutput,
    UsageError,
    WrapperImportError,
    load_wrapper,
    read_output,
)
from reactorc.validate.session import Change, SessionRecord, run_session

NON_EQUIVALENT_CODES = ("RC301",)
"""Plan diagnostics that say the wrapper's frames cannot equal the original's."""
MIN_RATE_SHARE = 0.8
"""Pacing fails when fewer than this share of the target's frames per second arrive."""
MAX_P50_INTERVALS = 1.0
"""Pacing fails when the median interval error exceeds this many frame intervals."""


def _no_progress(phase: str, done: int, total: int) -> None:
    return None


def validate(folder: Path, options: ValidateOptions, progress: Progress = _no_progress) -> Report:
    """Run every check on the converted `folder`; UsageError for bad usage (exit 2)."""
    if options.frames < 2:
        raise UsageError(f"--frames {options.frames}: pass at least 2")
    if not options.timeout > 0:
        raise UsageError(f"--timeout {options.timeout}: pass a number of seconds above 0")
    if options.device not in DEVICES:
        raise UsageError(f"--device must be one of {', '.join(DEVICES)}, got {options.device!r}")
    started = time.perf_counter()
    output = read_output(folder, options.config_path)
    run = _Validation(output, options, progress)
    previous = Path.cwd()
    os.chdir(output.folder)  # as `cd out && reactor run`: relative config paths resolve there
    try:
        checks = run.run()
    finally:
        os.chdir(previous)
    return Report(
        folder=str(folder),
        model=output.model_ref,
        source=str(output.source),
        symbol=output.symbol,
        device=run.device,
        checks=tuple(checks),
        seconds=time.perf_counter() - started,
    )


def _model_torch(*modules: Any) -> Any:
    """torch, when the wrapper or its original imported it (reactorc never imports it itself,
    and torch imported by something else in this process does not count)."""
    for module in modules:
        for value in vars(module).values() if module is not None else ():
            name = getattr(value, "__name__", None)
            if isinstance(name, str) and (name == "torch" or name.startswith("torch.")):
                return sys.modules.get("torch")
    return None


def _cuda_available(torch: Any) -> bool:
    try:
        return bool(torch is not None and torch.cuda.is_available())
    except Exception:
        return False


class _Validation:
    """The checks of one run, in order; each step appends Check values."""

    def __init__(self, output: ConvertedOutput, options: ValidateOptions, progress: Progress):
        self.output = output
        self.options = options
        self.progress = progress
        self.checks: list[Check] = []
        self.device = options.device if options.device != "auto" else "cpu"
        self.config = dict(output.config)
        self.plan: Any = None
        self.plan_problem = ""
        self.module: Any = None
        self.cls: Any = None
        self.model: Any = None
        self.torch: Any = None

    def add(self, name: str, status: Status, detail: str, **figures: float | int | str) -> None:
        self.checks.append(Check(name, status, detail, figures))

    # -- steps --------------------------------------------------------------------------------

    def run(self) -> list[Check]:
        self._analyse()
        if not self._import():
            return self.checks
        changes = self._parse_changes()
        self._choose_device()
        if not self._load():
            return self.checks
        from reactorc.validate.reference import ReferenceUnavailable, run_original

        reference = None
        reference_problem = ""
        endless = False
        self.progress("running the original", 0, 0)
        try:
            if self.plan is None:
                raise ReferenceUnavailable(self.plan_problem)
            reference = run_original(
                self.plan, self.module, self.cls, self.config, self.options.frames
            )
            endless = reference.endless
        except ReferenceUnavailable as exc:
            reference_problem = f"skip:{exc}"
        except (Exception, SystemExit) as exc:
            reference_problem = f"fail:the original raised {type(exc).__name__}: {_line(exc)}"
        clip = len(reference.frames) if reference is not None and not endless else None
        fields = self._fields()
        restart = [f for f in fields if not self._live(f.name)]
        live = [f for f in fields if self._live(f.name)]
        count = max(self.options.frames, clip or 0)
        if restart and clip:
            count = max(count, clip + clip // 2 + 2)
        cuda = self.device == "cuda"
        if cuda and clip:
            count = max(count, min(clip * 4, 240))
        cuda_probe = None
        if cuda:
            from reactorc.validate.cuda import CudaProbe

            cuda_probe = CudaProbe(self.module, self.torch, clip or 16)
        baseline = self._session(
            "default state",
            count,
            realtime=True,
            on_frame=cuda_probe.sample if cuda_probe else None,
        )
        if cuda_probe is not None:
            cuda_probe.restore()
        self._first_frame(baseline)
        if not baseline.frames:
            return self.checks
        if not self._format(baseline):
            for name in ("equivalence", *(f"live: {f.name}" for f in live)):
                self.add(name, "skip", "frames have no stable format to compare")
            for name in (f"restart: {f.name}" for f in restart):
                self.add(name, "skip", "frames have no stable format to compare")
        else:
            self._equivalence(baseline, reference, reference_problem)
            for f in live:
                self._live_check(f, baseline, changes)
            for f in restart:
                self._restart_check(f, baseline, clip, changes, endless)
        self._pacing(baseline)
        if cuda_probe is not None:
            self.checks.extend(cuda_probe.checks(self.model))
        if self.options.stream:
            self._stream(live, changes)
        return self.checks

    def _analyse(self) -> None:
        from reactorc.analysis import explain

        source = self.output.source
        if not source.is_file():  # the wrapper's import names the missing file
            self.plan_problem = f"the original {source} is missing"
            return
        try:
            plan = explain(source, symbol=self.output.symbol)
        except Exception as exc:
            self.plan_problem = f"analysing the original failed: {type(exc).__name__}: {exc}"
            return
        if plan.ok:
            self.plan = plan
        else:
            codes = ", ".join(d.code for d in plan.diagnostics if d.severity == "error")
            self.plan_problem = (
                f"{source.name} no longer converts ({codes}), so how to call it is unknown; "
                "run reactorc check"
            )

    def _import(self) -> bool:
        self.progress("importing the wrapper", 0, 0)
        t0 = time.perf_counter()
        try:
            self.module, self.cls = load_wrapper(self.output)
        except WrapperImportError as exc:
            self.add("import", "fail", str(exc))
            return False
        self.add(
            "import",
            "pass",
            f"{self.output.wrapper_path.name} imports",
            seconds=round(time.perf_counter() - t0, 3),
        )
        return True

    def _parse_changes(self) -> dict[str, Any]:
        from reactor._state import check_value, parse_text

        state_cls = self.cls.state_class()
        fields = {f.name: f for f in state_cls.public_fields()} if state_cls is not None else {}
        out: dict[str, Any] = {}
        for item in self.options.changes:
            name, sep, text = item.partition("=")
            name = name.strip()
            if not sep or not name:
                raise UsageError(f"--change {item!r}: expected field=value")
            f = fields.get(name)
            if f is None:
                raise UsageError(
                    f"--change {name}: unknown field; the state fields are: "
                    f"{', '.join(fields) or 'none'}"
                )
            try:
                value = parse_text(f, text)
            except ValueError as exc:
                raise UsageError(f"--change {name}: {exc}") from None
            stored, reason = check_value(f, value)
            if reason is not None:
                raise UsageError(f"--change {name}={text}: {reason}")
            if f.kind == "enum":
                stored = stored.value
            if stored == f.default:
                raise UsageError(f"--change {name}={text}: that is the default; pass another value")
            out[name] = stored
        return out

    def _choose_device(self) -> None:
        """cuda when asked (or, for auto, when the model's own torch has CUDA); the device is
        given to the pipeline through its `device` config key when its constructor reads one."""
        wanted = self.options.device
        original = None
        load_original = getattr(self.module, "load_original", None)
        if load_original is not None:
            with contextlib.suppress(Exception):
                original = load_original()
        torch = self.torch = _model_torch(self.module, original)
        if wanted == "auto":
            self.device = "cuda" if _cuda_available(torch) else "cpu"
        elif wanted == "cuda" and torch is None:
            self.device = "cpu"
            self.add(
                "cuda",
                "skip",
                "the model does not use torch, so nothing of it can run on the GPU; "
                "it was validated on the host",
            )
        elif wanted == "cuda" and not _cuda_available(torch):
            self.device = "cpu"
            self.add(
                "cuda",
                "fail",
                f"--device cuda, but torch {getattr(torch, '__version__', '?')} sees no CUDA "
                "device (torch.cuda.is_available() is False); the checks below ran on the host",
            )
        else:
            self.device = wanted
        if "device" in self.config or self._constructor_reads("device"):
            self.config["device"] = self.device

    def _constructor_reads(self, key: str) -> bool:
        if self.plan is None:
            return False
        cons = self.plan.constructor
        return any(k.name == key for k in cons.keys) or any(p.name == key for p in cons.params)

    def _load(self) -> bool:
        self.progress("loading the model", 0, 0)
        t0 = time.perf_counter()
        try:
            model = self.cls()
            model.load(dict(self.config))
        except (Exception, SystemExit) as exc:
            self.add(
                "load",
                "fail",
                f"{self.cls.__name__}.load() raised {type(exc).__name__}: {_line(exc)}",
            )
            return False
        self.model = model
        self.add(
            "load",
            "pass",
            f"{self.cls.__name__}.load(config) returned",
            seconds=round(time.perf_counter() - t0, 3),
        )
        return True

    def _session(
        self,
        phase: str,
        count: int,
        *,
        changes: tuple[Change, ...] = (),
        realtime: bool = False,
        on_frame: Callable[[], None] | None = None,
    ) -> SessionRecord:
        done = 0

        def tick() -> None:
            nonlocal done
            done += 1
            self.progress(phase, done, count)
            if on_frame is not None:
                on_frame()

        self.progress(phase, 0, count)
        return asyncio.run(
            run_session(
                self.model,
                count,
                changes=changes,
                realtime=realtime,
                queue_frames=8 if realtime else 1,
                on_frame=tick,
                first_frame_timeout=self.options.timeout,
                frame_timeout=self.options.timeout,
            )
        )

    # -- checks -------------------------------------------------------------------------------

    def _first_frame(self, rec: SessionRecord) -> None:
        if not rec.frames:
            if rec.errors:
                why = f"the model failed before its first frame: {rec.errors[0]}"
            else:
                why = rec.ended_early or "no frame arrived"
            self.add("first frame", "fail", why)
            return
        self.add(
            "first frame",
            "pass",
            f"first frame {rec.first_frame_s * 1000:.0f} ms after the session started",
            seconds=round(rec.first_frame_s or 0.0, 4),
        )

    def _format(self, rec: SessionRecord) -> bool:
        first = rec.frames[0]
        if rec.errors:
            self.add("frame format", "fail", f"the model reported an error: {rec.errors[0]}")
            return False
        if rec.ended_early:
            self.add("frame format", "fail", rec.ended_early)
            return False
        for i, frame in enumerate(rec.frames):
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                self.add(
                    "frame format",
                    "fail",
                    f"frame {i} is {frame.dtype} {tuple(frame.shape)}, not (H, W, 3) uint8",
                )
                return False
            if frame.shape != first.shape:
                self.add(
                    "frame format",
                    "fail",
                    f"frame {i} is {_size(frame)}, frame 0 was {_size(first)}: "
                    "frames must keep one size",
                )
                return False
        self.add(
            "frame format",
            "pass",
            f"{len(rec.frames)} frames, all {_size(first)} RGB uint8",
            width=int(first.shape[1]),
            height=int(first.shape[0]),
            frames=len(rec.frames),
        )
        return True

    def _equivalence(self, rec: SessionRecord, reference: Any, problem: str) -> None:
        name = "equivalence"
        if reference is None:
            status, _, why = problem.partition(":")
            self.add(name, "skip" if status == "skip" else "fail", why)
            return
        expected = reference.frames
        got = np.stack(rec.frames[: len(expected)])
        if len(got) < len(expected):
            self.add(
                name, "fail", f"the wrapper gave {len(got)} frames, the clip has {len(expected)}"
            )
            return
        if got.shape != expected.shape:
            self.add(
                name,
                "fail",
                f"the wrapper's frames are {_size(got[0])}, the original's {_size(expected[0])}",
            )
            return
        diff = np.abs(got.astype(np.int16) - expected.astype(np.int16))
        worst = int(diff.max()) if diff.size else 0
        tolerance = self.options.tolerance
        if tolerance is None:
            tolerance = 1 if reference.float_source else 0
        figures: dict[str, Any] = {
            "frames": len(expected),
            "max_diff": worst,
            "tolerance": tolerance,
            "original_s": round(reference.seconds, 3),
        }
        warned = self._non_equivalent()
        if warned:
            self.checks.append(
                Check(
                    name,
                    "warn",
                    f"not equivalent by design ({warned}); max difference {worst} over "
                    f"{len(expected)} frames",
                    figures,
                )
            )
            return
        what = "clip" if not reference.endless else f"first {len(expected)} frames"
        if worst > tolerance:
            bad = int(np.argmax(diff.reshape(len(diff), -1).max(axis=1) > tolerance))
            self.checks.append(
                Check(
                    name,
                    "fail",
                    f"frame {bad} differs from the original's by up to {worst} (allowed "
                    f"{tolerance}) at the default state",
                    figures,
                )
            )
            return
        exact = "exactly" if worst == 0 else f"within {worst} of 255"
        self.checks.append(
            Check(
                name,
                "pass",
                f"the {what} {'equals' if what == 'clip' else 'equal'} the original's {exact}",
                figures,
            )
        )

    def _non_equivalent(self) -> str:
        if self.plan is None:
            return ""
        for d in self.plan.diagnostics:
            if d.code in NON_EQUIVALENT_CODES:
                return f"{d.code}: {d.message}"
        return ""

    def _fields(self) -> list[Any]:
        state_cls = self.cls.state_class()
        return list(state_cls.public_fields()) if state_cls is not None else []

    def _live(self, name: str) -> bool:
        if self.plan is None:
            return True
        for f in self.plan.state:
            if f.name == name:
                return bool(f.live)
        return True

    def _per_step(self, name: str) -> bool:
        if self.plan is None:
            return False
        return any(f.name == name and f.per_step for f in self.plan.state)

    def _value_for(self, f: Any, live: bool, changes: dict[str, Any]) -> tuple[Any, str]:
        if f.name in changes:
            return changes[f.name], ""
        if self._per_step(f.name) and f.kind == "str" and not f.choices:
            return None, (
                f"{f.name} takes one element of the original's per-step sequence and reactorc "
                f"cannot tell a valid one; pass --change {f.name}=VALUE"
            )
        return pick_value(f, live), ""

    def _live_check(self, f: Any, baseline: SessionRecord, changes: dict[str, Any]) -> None:
        self._change_check("live", f, baseline, changes, None)

    def _restart_check(
        self,
        f: Any,
        baseline: SessionRecord,
        clip: int | None,
        changes: dict[str, Any],
        endless: bool,
    ) -> None:
        name = f"restart: {f.name}"
        if clip is None:
            why = (
                "the original never ends a clip (a generator or step API), so a restart field "
                "applies only when the model restarts"
                if endless
                else "the clip length is unknown: the original's own clip could not be taken "
                "(see equivalence)"
            )
            self.add(name, "skip", why)
            return
        self._change_check("restart", f, baseline, changes, clip)

    def _change_check(
        self,
        kind: str,
        f: Any,
        baseline: SessionRecord,
        changes: dict[str, Any],
        clip: int | None,
    ) -> None:
        """One session that sets `f` at step 1 (a live field, or a restart field with `clip`),
        compared with the baseline."""
        name = f"{kind}: {f.name}"
        value, why = self._value_for(f, kind == "live", changes)
        if why:
            self.add(name, "skip", why)
            return
        rec = self._session(
            f"{kind} {f.name}", len(baseline.frames), changes=(Change(1, f.name, value),)
        )
        self._compare_after_change(name, f.name, value, rec, baseline, clip)

    def _compare_after_change(
        self,
        name: str,
        field_name: str,
        value: Any,
        rec: SessionRecord,
        baseline: SessionRecord,
        clip: int | None,
    ) -> None:
        shown = f"{field_name}={value!r}"
        if rec.rejected:
            self.add(name, "fail", f"{shown} was rejected: {rec.rejected[0]}")
            return
        if rec.errors:
            self.add(name, "fail", f"after {shown} the model reported: {rec.errors[0]}")
            return
        if rec.ended_early:
            self.add(name, "fail", f"after {shown}: {rec.ended_early}")
            return
        got = rec.frames
        base = baseline.frames[: len(got)]
        sent = rec.sent_at.get(field_name, 1)
        if not _all_equal(got[:sent], base[:sent]):
            self.add(
                name,
                "warn",
                f"frames before {shown} already differ from the default run: the pipeline is "
                "not deterministic, so the change cannot be attributed",
            )
            return
        if clip is not None:
            if not _all_equal(got[:clip], base[:clip]):
                first = _first_difference(got[:clip], base[:clip])
                self.add(
                    name,
                    "fail",
                    f"{shown} changed frame {first} of the clip in progress; a restart field "
                    f"must wait for the next clip (frame {clip})",
                )
                return
            if _all_equal(got[clip:], base[clip:]):
                self.add(
                    name,
                    "fail",
                    f"{shown} changed nothing in the next clip (frames {clip}-{len(got) - 1})",
                )
                return
            first = _first_difference(got, base)
            self.add(
                name,
                "pass",
                f"{shown} left the clip in progress alone and changed the next (from frame "
                f"{first})",
                first_changed=first,
            )
            return
        if _all_equal(got[sent:], base[sent:]):
            self.add(
                name,
                "fail",
                f"{shown} sent after frame {sent - 1} changed none of the "
                f"{len(got) - sent} frames that followed",
            )
            return
        first = _first_difference(got, base)
        self.add(
            name,
            "pass",
            f"{shown} sent after frame {sent - 1} changed frames from frame {first}",
            frames_until_change=first - sent,
        )

    def _pacing(self, rec: SessionRecord) -> None:
        """Achieved rate at the receiver against the target: the model's fixed fps, or for an
        adaptive pacer the rate it scheduled (its due times); interval error = how far each
        interval between two released frames is from the scheduled one."""
        name = "pacing"
        if rec.errors or rec.ended_early:
            self.add(name, "skip", "the session did not run normally (see the checks above)")
            return
        if len(rec.received) < 3:
            self.add(name, "skip", "too few frames to measure pacing")
            return
        received = np.array(rec.received)
        due = np.array(rec.due)
        span = received[-1] - received[0]
        achieved = (len(received) - 1) / span if span > 0 else math.inf
        scheduled_span = due[-1] - due[0]
        if rec.fixed_fps:
            target = float(rec.fixed_fps)
        elif scheduled_span > 0:
            target = (len(due) - 1) / scheduled_span
        else:
            target = 0.0
        errors = np.abs(np.diff(received) - np.diff(due)) * 1000.0
        p50 = float(np.percentile(errors, 50))
        p99 = float(np.percentile(errors, 99))
        mode = "fixed" if rec.fixed_fps else "adaptive"
        figures: dict[str, Any] = {
            "achieved_fps": round(achieved, 2),
            "target_fps": round(target, 2),
            "interval_error_p50_ms": round(p50, 2),
            "interval_error_p99_ms": round(p99, 2),
            "reanchors": rec.reanchors,
            "mode": mode,
        }
        if not target:
            self.checks.append(Check(name, "skip", "the pacer scheduled no rate", figures))
            return
        text = (
            f"{achieved:.1f} fps of {target:.1f} ({mode}), interval error "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms"
        )
        if achieved < MIN_RATE_SHARE * target:
            why = (
                "the model is slower than its fps"
                if rec.fixed_fps
                else "frames were released later than scheduled"
            )
            self.checks.append(
                Check(
                    name,
                    "fail",
                    f"{text}: below {MIN_RATE_SHARE:.0%} of the target ({why})",
                    figures,
                )
            )
            return
        if p50 > MAX_P50_INTERVALS * 1000.0 / target:
            self.checks.append(
                Check(name, "fail", f"{text}: frames are released unevenly", figures)
            )
            return
        self.checks.append(Check(name, "pass", text, figures))

    def _stream(self, live: list[Any], changes: dict[str, Any]) -> None:
        from reactorc.validate.stream import probe_stream

        update = None
        for f in live:
            value, why = self._value_for(f, True, changes)
            if not why:
                update = (f.name, value)
                break
        self.progress("stream", 0, self.options.frames)
        self.checks.extend(
            asyncio.run(
                probe_stream(self.model, frames=max(self.options.frames, 30), update=update)
            )
        )


def pick_value(f: Any, live: bool) -> Any:
    """Another valid value for a runtime StateField: the far bound of a bounded number, double
    an unbounded one, the next choice, the other boolean, the reversed text. Restart counts
    are halved, so the next clip is short and soon over."""
    default = f.default
    kind = f.kind
    info = f.info
    if f.choices:  # wire values (an Enum field's default is its member)
        current = getattr(default, "value", default)
        return next((c for c in f.choices if not _same(c, current)), current)
    if kind == "bool":
        return not default
    if kind == "int":
        value = default // 2 if not live and default >= 2 else default + 1
        if info.le is not None and value > info.le:
            value = default - 1
        if info.ge is not None and value < info.ge:
            value = int(info.ge) if info.ge != default else default + 1
        return value
    if kind == "float":
        ge, le = info.ge, info.le
        if ge is not None and le is not None:
            return float(ge) if abs(default - ge) >= abs(le - default) else float(le)
        value = default * 2.0 if default else 1.0
        if le is not None and value > le:
            value = float(le) if le != default else default / 2.0
        if ge is not None and value < ge:
            value = float(ge)
        return value
    if kind == "str":
        text = str(default)
        flipped = text[::-1]
        value = flipped if flipped != text else (text + " (changed)" if text else "changed")
        if info.max_length is not None and len(value) > info.max_length:
            value = value[: info.max_length]
        return value
    return default


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _all_equal(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    """Same number of frames, each of the same shape and values."""
    return len(a) == len(b) and all(
        x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b, strict=True)
    )


def _first_difference(a: list[np.ndarray], b: list[np.ndarray]) -> int:
    n = min(len(a), len(b))
    for i in range(n):
        if a[i].shape != b[i].shape or not np.array_equal(a[i], b[i]):
            return i
    return n


def _size(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}x{frame.shape[0]}" if frame.ndim >= 2 else str(frame.shape)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


__all__ = [
    "DEVICES",
    "Check",
    "Report",
    "UsageError",
    "ValidateOptions",
    "pick_value",
    "validate",
]
