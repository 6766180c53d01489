"""The two ways to write a model: `ReactorPipeline` (a generator) and `ReactorModel` (full control).

Same names and meaning as the Reactor platform's model interface: a pipeline declares
`state: MyState` and an `inference()` generator; a model writes its own `async run()` and calls
`emit()` / `send()`. Both may declare `@event` commands and `@connected` / `@disconnected` hooks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from reactor._annotations import resolve_annotation
from reactor._inputs import InputBuffer, InputTrackSpec, MediaInput, buffer_for, declared_inputs
from reactor._state import (
    MISSING,
    FieldInfo,
    InputState,
    Rejection,
    StateField,
    _resolve_field,
    check_value,
)

_EVENT_ATTR = "__reactor_event__"
_CONNECTED_ATTR = "__reactor_connected__"
_DISCONNECTED_ATTR = "__reactor_disconnected__"
_FILE_UPLOADED_ATTR = "__reactor_file_uploaded__"
_RESERVED_NAMES = frozenset(
    {"connected", "disconnected", "ping", "requestSchema", "requestCapabilities", "fileUploaded"}
)


@dataclass(frozen=True)
class EventSpec:
    """An `@event` command as declared: its wire name, description and parameters."""

    name: str
    description: str
    dedupe: bool
    method: str
    params: tuple[StateField, ...] = ()
    required: frozenset[str] = frozenset()
    is_async: bool = False

    def check(self, data: Any) -> tuple[dict[str, Any], list[Rejection]]:
        """Validate a command payload against the handler's parameters."""
        if data is None:
            data = {}
        if not isinstance(data, dict):
            return {}, [Rejection(self.name, None, data, "expected an object of parameters")]
        known = {p.name: p for p in self.params}
        rejections = [
            Rejection(self.name, key, value, f"unknown field; expected one of {sorted(known)}")
            for key, value in data.items()
            if key not in known
        ]
        kwargs: dict[str, Any] = {}
        for param in self.params:
            if param.name not in data:
                if param.name in self.required:
                    rejections.append(Rejection(self.name, param.name, None, "missing value"))
                continue
            stored, reason = check_value(param, data[param.name])
            if reason is not None:
                rejections.append(Rejection(self.name, param.name, data[param.name], reason))
            else:
                kwargs[param.name] = stored
        return (kwargs, []) if not rejections else ({}, rejections)


def event(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str = "",
    dedupe: bool = False,
) -> Any:
    """Mark a method as the handler of a client command named `name` (default: the method name).

    The handler's annotated parameters are the command's payload, checked like state fields
    (`InputField(...)` defaults add constraints). With `dedupe=True` a call whose payload equals
    the previous accepted call of the same command is skipped.
    """

    def mark(fn: Callable[..., Any]) -> Callable[..., Any]:
        wire = name or fn.__name__
        if wire in _RESERVED_NAMES or wire.startswith("set_"):
            raise ValueError(f"@event name {wire!r} is reserved; choose another name")
        setattr(fn, _EVENT_ATTR, (wire, description, dedupe))
        return fn

    if func is not None:
        return mark(func)
    return mark


def connected(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method to run each time a client session starts (after the state is reset)."""
    setattr(func, _CONNECTED_ATTR, True)
    return func


def disconnected(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method to run each time a client session ends."""
    setattr(func, _DISCONNECTED_ATTR, True)
    return func


def file_uploaded(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a method to run when the client announces an uploaded file (the `fileUploaded`
    message its `uploadFile()` sends); it takes one parameter, `uploaded_file`."""
    params = [p for p in inspect.signature(func).parameters if p != "self"]
    if params != ["uploaded_file"]:
        raise TypeError(
            f"@file_uploaded {func.__qualname__}() must take exactly one parameter named "
            f"'uploaded_file', got {params}"
        )
    setattr(func, _FILE_UPLOADED_ATTR, True)
    return func


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class ModelMessage:
    """Base for typed messages a model sends to its client (`await self.send(msg)`).

    Subclasses become dataclasses; the wire type is `message_type` or the class name in
    snake_case, the payload the fields.
    """

    message_type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("message_type"):
            cls.message_type = _snake(cls.__name__)
        dataclass(cls)

    def to_envelope(self) -> dict[str, Any]:
        """The application-scope envelope the client receives."""
        payload = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {"scope": "application", "data": {"type": self.message_type, "data": payload}}


def _event_spec(owner: str, fn: Callable[..., Any], mark: tuple[str, str, bool]) -> EventSpec:
    wire, description, dedupe = mark
    try:
        hints = typing.get_type_hints(fn)
    except NameError as exc:
        raise TypeError(f"{owner}.{fn.__name__}: cannot resolve a parameter type ({exc})") from None
    params: list[StateField] = []
    required: set[str] = set()
    for pname, param in inspect.signature(fn).parameters.items():
        if pname == "self":
            continue
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{owner}.{fn.__name__}: *args/**kwargs cannot be command fields")
        if pname not in hints:
            raise TypeError(f"{owner}.{fn.__name__}: parameter '{pname}' needs a type annotation")
        default = param.default
        info = default if isinstance(default, FieldInfo) else FieldInfo(default=MISSING)
        if default is not param.empty and not isinstance(default, FieldInfo):
            info = FieldInfo(default=default)
        field = _resolve_field(f"{owner}.{fn.__name__}", pname, hints[pname], info)
        if info.default is MISSING:
            required.add(pname)
        else:
            _, reason = check_value(field, info.default)
            if reason is not None:
                raise TypeError(
                    f"{owner}.{fn.__name__}: default of '{pname}' {info.default!r} {reason}"
                )
        params.append(field)
    return EventSpec(
        name=wire,
        description=description or (inspect.getdoc(fn) or "").split("\n")[0],
        dedupe=dedupe,
        method=fn.__name__,
        params=tuple(params),
        required=frozenset(required),
        is_async=inspect.iscoroutinefunction(fn),
    )


class _ModelBase:
    """What pipelines and models share: state class, events, hooks, and the session bindings."""

    fps: ClassVar[float | None] = None
    _events: ClassVar[dict[str, EventSpec]] = {}
    _on_connected: ClassVar[tuple[str, ...]] = ()
    _on_disconnected: ClassVar[tuple[str, ...]] = ()
    _on_file_uploaded: ClassVar[tuple[str, ...]] = ()
    _state_class: ClassVar[type[InputState] | None] = None
    _media_input: ClassVar[tuple[str, type[MediaInput]] | None] = None

    state: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = cls.__qualname__
        events: dict[str, EventSpec] = {}
        hooks_on: list[str] = []
        hooks_off: list[str] = []
        hooks_upload: list[str] = []
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                mark = getattr(value, _EVENT_ATTR, None)
                if mark is not None and callable(value):
                    spec = _event_spec(owner, value, mark)
                    events = {k: v for k, v in events.items() if v.method != attr}
                    events[spec.name] = spec
                if getattr(value, _CONNECTED_ATTR, False) and attr not in hooks_on:
                    hooks_on.append(attr)
                if getattr(value, _DISCONNECTED_ATTR, False) and attr not in hooks_off:
                    hooks_off.append(attr)
                if getattr(value, _FILE_UPLOADED_ATTR, False) and attr not in hooks_upload:
                    hooks_upload.append(attr)
        cls._events = events
        cls._on_connected = tuple(hooks_on)
        cls._on_disconnected = tuple(hooks_off)
        cls._on_file_uploaded = tuple(hooks_upload)
        cls._state_class = _declared_state(cls)
        cls._media_input = declared_inputs(cls)
        fps = cls.__dict__.get("fps")
        if fps is not None and (
            isinstance(fps, bool) or not isinstance(fps, int | float) or not fps > 0
        ):
            raise TypeError(f"{owner}.fps must be a positive number, got {fps!r}")

    def __init__(self) -> None:
        self._emit_fn: Callable[[Any], Awaitable[None]] | None = None
        self._send_fn: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        state_cls = type(self)._state_class
        self.state = state_cls() if state_cls is not None else None
        self._input_buffers: dict[str, InputBuffer] = {}
        handle = type(self)._media_input
        if handle is not None:
            attr, input_cls = handle
            self._input_buffers = {t.name: buffer_for(t) for t in input_cls.tracks()}
            setattr(self, attr, input_cls(**self._input_buffers))

    def load(self, config: dict[str, Any]) -> None:
        """Runs once before any client: load weights, warm up. `config` is config.yml."""

    async def send(self, message: ModelMessage | dict[str, Any]) -> None:
        """Send a message to the connected client (application scope)."""
        if self._send_fn is None:
            raise RuntimeError("send() needs a connected client session")
        if isinstance(message, ModelMessage):
            envelope = message.to_envelope()
        elif isinstance(message, dict):
            envelope = {"scope": "application", "data": message}
        else:
            raise TypeError(f"send() takes a ModelMessage or a dict, got {type(message).__name__}")
        await self._send_fn(envelope)

    @classmethod
    def state_class(cls) -> type[InputState] | None:
        """The declared `state: MyState` class, or None."""
        return cls._state_class

    @classmethod
    def input_tracks(cls) -> tuple[InputTrackSpec, ...]:
        """The tracks the model reads from its client (its `MediaInput` handle's), in order."""
        handle = cls._media_input
        return handle[1].tracks() if handle is not None else ()

    @classmethod
    def events(cls) -> dict[str, EventSpec]:
        """The model's `@event` commands by wire name."""
        return dict(cls._events)


def _declared_state(cls: type) -> type[InputState] | None:
    annotation = resolve_annotation(cls, "state")
    if annotation is None or annotation is Any:
        return None
    if not (isinstance(annotation, type) and issubclass(annotation, InputState)):
        raise TypeError(
            f"{cls.__qualname__}.state must be annotated with an InputState subclass, "
            f"got {annotation!r}"
        )
    return annotation


class ReactorPipeline(_ModelBase):
    """A model written as a generator: declare `state: MyState`, implement `inference()`.

    `inference()` (sync or async generator) yields `Output`s, or a bare frame array when the
    model has exactly one video track; a batch `(N, H, W, 3)` is spread over its interval. The
    runtime runs it on its own thread, applies state updates between two yields, and starts it
    again (state kept) when it returns. Set the class attribute `fps` for a fixed rate.
    """

    def inference(self) -> Any:
        """Yield frames; override as a generator (`def` or `async def`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement inference()")


class ReactorModel(_ModelBase):
    """A model with full control: `async run()` produces frames with `await self.emit(...)`.

    `self.connected` is set while a client session is live. `run()` starts with each session
    and is cancelled when it ends.
    """

    def __init__(self) -> None:
        super().__init__()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        """Produce frames for the session; override."""
        raise NotImplementedError(f"{type(self).__name__} must implement run()")

    async def emit(self, output: Any) -> None:
        """Hand one output (or batch) to the stream; waits while the stream is full."""
        if self._emit_fn is None:
            raise RuntimeError("emit() needs a connected client session")
        await self._emit_fn(output)
