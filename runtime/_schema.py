"""A model's client-facing contract as OpenAPI 3.1: commands, state fields, tracks, messages.

Commands travel over the data channel, not HTTP; each is still described as an operation
(`POST /commands/<name>`) so ordinary OpenAPI tooling can read the request bodies.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import sys
import typing
from typing import Any

from reactor._model import ModelMessage, _ModelBase
from reactor._output import TrackSpec, tracks_for_model
from reactor._state import MISSING, StateField

_REJECTION = {
    "type": "object",
    "description": "Why a command was refused; sent back as a runtime-scope error message.",
    "properties": {
        "command": {"type": "string"},
        "field": {"type": ["string", "null"]},
        "value": {},
        "reason": {"type": "string"},
    },
    "required": ["command", "field", "value", "reason"],
}


def _json_value(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


UPLOAD_REFERENCE = "ReactorUploadReference"
_UPLOAD_REFERENCE_SCHEMA = {
    "type": "object",
    "format": "reactor-upload-reference",
    "description": (
        "A file uploaded with POST /sessions/{id}/uploads and PUT; a command names it in its "
        "`uploads` section (keyed by the field) or inline as this object."
    ),
    "properties": {
        "upload_id": {"type": "string"},
        "name": {"type": "string"},
        "mime_type": {"type": "string"},
        "size": {"type": "integer"},
    },
    "required": ["upload_id"],
}


def field_schema(field: StateField) -> dict[str, Any]:
    """JSON Schema for one state field or event parameter, constraints included."""
    info = field.info
    schema: dict[str, Any]
    if field.kind == "upload":
        schema = {"$ref": f"#/components/schemas/{UPLOAD_REFERENCE}"}
        if info.description:
            schema["description"] = info.description
        return schema
    if field.kind in ("literal", "enum"):
        assert field.choices is not None
        types = sorted({"string" if isinstance(c, str) else "integer" for c in field.choices})
        schema = {"type": types[0] if len(types) == 1 else types, "enum": list(field.choices)}
    else:
        schema = {
            "type": {"int": "integer", "float": "number", "str": "string", "bool": "boolean"}.get(
                field.kind, "string"
            )
        }
        if info.choices is not None:
            schema["enum"] = list(info.choices)
    if info.ge is not None:
        schema["minimum"] = info.ge
    if info.le is not None:
        schema["maximum"] = info.le
    if info.min_length is not None:
        schema["minLength"] = info.min_length
    if info.max_length is not None:
        schema["maxLength"] = info.max_length
    if info.default is not MISSING:
        schema["default"] = _json_value(info.default)
    if info.description:
        schema["description"] = info.description
    return schema


def _plain_type_schema(annotation: Any) -> dict[str, Any]:
    simple = {int: "integer", float: "number", str: "string", bool: "boolean"}
    if annotation in simple:
        return {"type": simple[annotation]}
    origin = typing.get_origin(annotation)
    if origin in (list, tuple):
        return {"type": "array"}
    if origin is dict or annotation is dict:
        return {"type": "object"}
    return {}


def message_classes(model_cls: type) -> list[type[ModelMessage]]:
    """`ModelMessage` subclasses defined in the model's module: what it may send."""
    module = sys.modules.get(model_cls.__module__)
    if module is None:
        return []
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, ModelMessage)
        and obj is not ModelMessage
        and obj.__module__ == model_cls.__module__
    ]


def _message_schema(cls: type[ModelMessage]) -> dict[str, Any]:
    try:
        hints = typing.get_type_hints(cls)
    except NameError:
        hints = {}
    props = {
        f.name: _plain_type_schema(hints.get(f.name))
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
    }
    return {
        "type": "object",
        "description": inspect.getdoc(cls) or "",
        "x-message-type": cls.message_type,
        "properties": props,
    }


def _command(name: str, summary: str, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "post": {
            "operationId": name,
            "summary": summary,
            "description": (
                "Sent over the data channel as "
                f'{{"scope": "application", "data": {{"type": "{name}", "data": <body>}}}}.'
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": body}},
            },
            "responses": {
                "200": {"description": "Accepted; applied before the model's next step."},
                "422": {
                    "description": "Rejected; nothing was applied.",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Rejection"}}
                    },
                },
            },
        }
    }


def build_schema(
    model_cls: type[_ModelBase],
    tracks: tuple[TrackSpec, ...] | None = None,
    *,
    name: str | None = None,
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for a model class (what `reactor schema` and `/schema` show)."""
    tracks = tracks if tracks is not None else tracks_for_model(model_cls)
    state_cls = model_cls.state_class()
    fields = state_cls.public_fields() if state_cls is not None else []
    paths: dict[str, Any] = {}
    for field in fields:
        body = {
            "type": "object",
            "properties": {field.name: field_schema(field)},
            "required": [field.name],
            "additionalProperties": False,
        }
        summary = field.description or f"Set {field.name}."
        paths[f"/commands/{field.command}"] = _command(field.command, summary, body)
    for spec in model_cls.events().values():
        body = {
            "type": "object",
            "properties": {p.name: field_schema(p) for p in spec.params},
            "required": sorted(spec.required),
            "additionalProperties": False,
        }
        paths[f"/commands/{spec.name}"] = _command(spec.name, spec.description or spec.name, body)
    schemas: dict[str, Any] = {
        "State": {
            "type": "object",
            "properties": {f.name: field_schema(f) for f in fields},
        },
        "Rejection": _REJECTION,
    }
    params = [p for spec in model_cls.events().values() for p in spec.params]
    if any(f.kind == "upload" for f in [*fields, *params]):
        schemas[UPLOAD_REFERENCE] = _UPLOAD_REFERENCE_SCHEMA
    messages = message_classes(model_cls)
    for cls in messages:
        schemas[cls.__name__] = _message_schema(cls)
    # Directions are the client's, as in the session's capabilities: it receives what the
    # model sends (recvonly) and sends what the model reads (sendonly).
    listed = [
        {
            **{k: v for k, v in dataclasses.asdict(t).items() if v is not None},
            "direction": "recvonly",
        }
        for t in tracks
    ]
    listed += [
        {
            **{k: v for k, v in dataclasses.asdict(t).items() if v is not None},
            "direction": "sendonly",
        }
        for t in model_cls.input_tracks()
    ]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": name or model_cls.__name__,
            "version": "1",
            "description": (inspect.getdoc(model_cls) or "").split("\n\n")[0],
        },
        "paths": paths,
        "components": {"schemas": schemas},
        "x-reactor": {
            "commands": [p["post"]["operationId"] for p in paths.values()],
            "state": [f.name for f in fields],
            "tracks": listed,
            "messages": [cls.message_type for cls in messages],
            "fps": model_cls.fps,
        },
    }
