"""Live state a client may change: `InputState`, `InputField`, and the checks on every update.

A state class is a dataclass whose public fields each become a `set_<field>` command. Every
value a client sends is checked here (type, bounds, choices, lengths) before the model sees it;
what fails comes back as a `Rejection` value, never an exception.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import math
import mimetypes
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from reactor._inputs import UploadedFile


class _Missing:
    def __repr__(self) -> str:
        return "<no default>"


MISSING: Any = _Missing()
"""Marks an `InputField` declared without a default (an error: live state needs one)."""


@dataclass(frozen=True)
class FieldInfo:
    """What `InputField(...)` declares: a default and the constraints every update must meet."""

    default: Any = MISSING
    description: str | None = None
    ge: int | float | None = None
    le: int | float | None = None
    min_length: int | None = None
    max_length: int | None = None
    choices: tuple[Any, ...] | None = None


def InputField(
    default: Any = MISSING,
    *,
    description: str | None = None,
    ge: int | float | None = None,
    le: int | float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    choices: list[Any] | tuple[Any, ...] | None = None,
) -> Any:
    """Declare a state field's default and the constraints a client's update must meet."""
    return FieldInfo(
        default=default,
        description=description,
        ge=ge,
        le=le,
        min_length=min_length,
        max_length=max_length,
        choices=tuple(choices) if choices is not None else None,
    )


@dataclass(frozen=True)
class Rejection:
    """A refused command: which command, which field, the value sent, and why."""

    command: str
    field: str | None
    value: Any
    reason: str

    def message(self) -> str:
        """One line for a person: what was refused and why."""
        where = f"{self.command}.{self.field}" if self.field else self.command
        return f"{where} = {self.value!r} rejected: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form sent to the client inside an error envelope."""
        value = self.value
        if not isinstance(value, str | int | float | bool | type(None) | list | dict) or (
            isinstance(value, float) and not math.isfinite(value)
        ):
            value = repr(value)  # JSON has no NaN/Infinity; a browser's JSON.parse would fail
        return {
            "command": self.command,
            "field": self.field,
            "value": value,
            "reason": self.reason,
        }


Kind = Literal["int", "float", "str", "bool", "literal", "enum", "upload", "any"]


@dataclass(frozen=True)
class StateField:
    """One field of a state class, resolved: its kind, constraints and default."""

    name: str
    kind: Kind
    annotation: Any
    info: FieldInfo
    choices: tuple[Any, ...] | None
    """Allowed wire values (Literal args, Enum values, or `InputField(choices=...)`)."""
    enum_type: type[enum.Enum] | None = None

    @property
    def private(self) -> bool:
        return self.name.startswith("_")

    @property
    def default(self) -> Any:
        return self.info.default

    @property
    def command(self) -> str:
        return f"set_{self.name}"

    @property
    def description(self) -> str | None:
        return self.info.description


_PLAIN_KINDS: dict[Any, Kind] = {int: "int", float: "float", str: "str", bool: "bool"}
_MUTABLE = (list, dict, set, bytearray)


def _same_value(a: Any, b: Any) -> bool:
    """Equality that does not let True stand for 1 or 1 for 1.0 in a choice list."""
    return type(a) is type(b) and a == b


def _describe_type(value: Any) -> str:
    return type(value).__name__


def check_value(field: StateField, value: Any) -> tuple[Any, str | None]:
    """Check one value for `field`; returns (value to store, None) or (None, reason)."""
    kind = field.kind
    if kind == "bool":
        if not isinstance(value, bool):
            return None, f"expected a boolean (true/false), got {_describe_type(value)}"
    elif kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            return None, f"expected an integer, got {_describe_type(value)}"
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None, f"expected a number, got {_describe_type(value)}"
        value = float(value)
        if not math.isfinite(value):
            return None, "expected a finite number"
    elif kind == "str":
        if not isinstance(value, str):
            return None, f"expected a string, got {_describe_type(value)}"
    elif kind == "upload":
        if value is None or isinstance(value, UploadedFile):
            return value, None
        return None, (
            "expected an uploaded file: upload it (POST /sessions/{id}/uploads, then PUT its "
            "bytes) and name its upload_id in the command's uploads section"
        )
    elif kind == "literal":
        assert field.choices is not None
        if not any(_same_value(value, c) for c in field.choices):
            return None, f"must be one of {list(field.choices)!r}"
    elif kind == "enum":
        assert field.enum_type is not None and field.choices is not None
        if isinstance(value, field.enum_type):
            return value, None
        for member in field.enum_type:
            if _same_value(member.value, value):
                value = member
                break
        else:
            return None, f"must be one of {list(field.choices)!r}"
        return value, None

    info = field.info
    if (
        info.choices is not None
        and kind not in ("literal", "enum")
        and not any(_same_value(value, c) or (kind == "float" and value == c) for c in info.choices)
    ):
        return None, f"must be one of {list(info.choices)!r}"
    if info.ge is not None and value < info.ge:
        return None, f"must be >= {info.ge}"
    if info.le is not None and value > info.le:
        return None, f"must be <= {info.le}"
    if info.min_length is not None and len(value) < info.min_length:
        return None, f"must be at least {info.min_length} characters long"
    if info.max_length is not None and len(value) > info.max_length:
        return None, f"must be at most {info.max_length} characters long"
    return value, None


def is_upload_type(annotation: Any) -> bool:
    """True for `UploadedFile` and `UploadedFile | None` (`Optional[UploadedFile]`)."""
    if annotation is UploadedFile:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args == [UploadedFile]
    return False


def _resolve_field(owner: str, name: str, annotation: Any, info: FieldInfo) -> StateField:
    """Turn one annotated declaration into a `StateField`, or fail with a TypeError."""
    origin = typing.get_origin(annotation)
    if is_upload_type(annotation):
        if info.default is not MISSING and info.default is not None:
            raise TypeError(f"{owner}.{name}: an UploadedFile field's default can only be None")
        field = StateField(name, "upload", annotation, info, None)
    elif annotation in _PLAIN_KINDS:
        kind = _PLAIN_KINDS[annotation]
        field = StateField(name, kind, annotation, info, info.choices)
    elif origin is Literal:
        args = typing.get_args(annotation)
        if not args or not all(isinstance(a, str | int) for a in args):
            raise TypeError(f"{owner}.{name}: Literal choices must be strings or integers")
        field = StateField(name, "literal", annotation, info, tuple(args))
    elif isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        values = tuple(m.value for m in annotation)
        if not all(isinstance(v, str | int) for v in values):
            raise TypeError(f"{owner}.{name}: Enum values must be strings or integers")
        field = StateField(name, "enum", annotation, info, values, enum_type=annotation)
    else:
        if name.startswith("_"):
            # Private fields are the model's own bookkeeping: any type, never sent by clients.
            return StateField(name, "any", annotation, info, None)
        raise TypeError(
            f"{owner}.{name}: unsupported state type {annotation!r}; "
            "use int, float, str, bool, a Literal[...], an Enum or UploadedFile"
        )
    if field.kind == "upload" and info.choices is not None:
        raise TypeError(f"{owner}.{name}: choices= does not apply to an UploadedFile field")
    for bound in ("ge", "le"):
        if getattr(info, bound) is not None and field.kind not in ("int", "float"):
            raise TypeError(f"{owner}.{name}: {bound}= only applies to int and float fields")
    for bound in ("min_length", "max_length"):
        if getattr(info, bound) is not None and field.kind != "str":
            raise TypeError(f"{owner}.{name}: {bound}= only applies to str fields")
    return field


class InputState:
    """Base for a model's live state: a dataclass whose public fields clients may set.

    Subclasses are turned into dataclasses when defined; each field needs a default (plain or
    `InputField(default=...)`), and a default that breaks its own constraints is a TypeError
    right there. Fields whose names start with `_` are private: no command, not in the schema.
    """

    _fields: ClassVar[dict[str, StateField]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        owner = cls.__qualname__
        own = inspect.get_annotations(cls)
        try:
            hints = typing.get_type_hints(cls)
        except NameError as exc:
            raise TypeError(f"{owner}: cannot resolve a field's type ({exc})") from None
        fields: dict[str, StateField] = dict(getattr(cls, "_fields", {}))
        for name in own:
            annotation = hints[name]
            if typing.get_origin(annotation) is ClassVar:
                continue
            declared = cls.__dict__.get(name, MISSING)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(default=declared)
            if info.default is MISSING and is_upload_type(annotation):
                # An upload slot starts empty; the client fills it with set_<field>.
                info = dataclasses.replace(info, default=None)
            if info.default is MISSING:
                raise TypeError(
                    f"{owner}.{name}: a state field needs a default, "
                    f"e.g. {name}: ... = InputField(default=...)"
                )
            if isinstance(info.default, _MUTABLE):
                raise TypeError(f"{owner}.{name}: a default must not be a mutable container")
            field = _resolve_field(owner, name, annotation, info)
            if not field.private:
                stored, reason = check_value(field, info.default)
                if reason is not None:
                    raise TypeError(f"{owner}.{name}: default {info.default!r} {reason}")
                if stored is not info.default:
                    info = dataclasses.replace(info, default=stored)
                    field = dataclasses.replace(field, info=info)
            fields[name] = field
            setattr(cls, name, dataclasses.field(default=info.default))
        cls._fields = fields
        dataclass(cls)

    @classmethod
    def public_fields(cls) -> list[StateField]:
        """The fields clients may set, in declaration order."""
        return [f for f in cls._fields.values() if not f.private]

    def as_dict(self) -> dict[str, Any]:
        """The public values in JSON-friendly form (enum members as their values, an uploaded
        file as its name, type and size)."""
        out: dict[str, Any] = {}
        for f in self.public_fields():
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, UploadedFile):
                value = {"name": value.name, "mime_type": value.mime_type, "size": value.size}
            out[f.name] = value
        return out


def check_update(
    state_cls: type[InputState], command: str, data: Any
) -> tuple[dict[str, Any], list[Rejection]]:
    """Validate a `set_<field>` command's payload; returns (values to apply, rejections).

    A command is applied all-or-nothing: when anything is rejected, nothing is applied.
    """
    field_name = command.removeprefix("set_")
    field = state_cls._fields.get(field_name)
    if field is None or field.private or not command.startswith("set_"):
        return {}, [Rejection(command, None, data, "unknown command")]
    if not isinstance(data, dict):
        return {}, [Rejection(command, field_name, data, "expected an object like {field: value}")]
    rejections = [
        Rejection(command, key, value, f"unknown field; {command} takes only '{field_name}'")
        for key, value in data.items()
        if key != field_name
    ]
    if field_name not in data:
        rejections.append(Rejection(command, field_name, None, "missing value"))
        return {}, rejections
    stored, reason = check_value(field, data[field_name])
    if reason is not None:
        rejections.append(Rejection(command, field_name, data[field_name], reason))
    if rejections:
        return {}, rejections
    return {field_name: stored}, []


def parse_text(field: StateField, text: str) -> Any:
    """Read a command-line value (`--set field=value`) as the field's type; ValueError if not."""
    kind = field.kind
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered in ("true", "1", "yes", "on"):
            return True
        if lowered in ("false", "0", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if kind == "float":
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if kind == "upload":
        return read_upload(text)
    if kind in ("literal", "enum"):
        assert field.choices is not None
        for choice in field.choices:
            if str(choice) == text:
                return choice
        raise ValueError(f"must be one of {list(field.choices)!r}, got {text!r}")
    return text


def read_upload(path: str) -> UploadedFile:
    """A local file as an `UploadedFile` (headless `--set image=photo.png`); ValueError if it
    cannot be read."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path!r}: {exc.strerror or exc}") from None
    mime, _ = mimetypes.guess_type(file.name)
    return UploadedFile(file.name, mime or "application/octet-stream", data)
