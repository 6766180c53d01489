"""Data-channel envelopes of the Reactor protocol, version 1: reading what a client sends and
writing what goes back.

Every client message is either a `Command` to act on or a `CommandError` to answer; nothing a
client sends raises. Replies use the same envelope the client uses:
`{"scope": "application"|"runtime", "data": {"type": ..., "data": {...}}}`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

MAX_MESSAGE_BYTES = 64 * 1024
"""The largest data-channel message a client may send; larger ones are refused, not parsed."""

Scope = Literal["application", "runtime"]
SCOPES: tuple[Scope, ...] = ("application", "runtime")

RUNTIME_COMMANDS = ("ping", "requestSchema", "requestCapabilities", "fileUploaded")
"""Runtime-scope commands the server answers itself (the model never sees them)."""


@dataclass(frozen=True)
class Command:
    """A well-formed client message: which scope, which command, its arguments."""

    scope: Scope
    name: str
    data: dict[str, Any] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Files the command names, by parameter: `{param: {"upload_id": ..., ...}}`."""


@dataclass(frozen=True)
class CommandError:
    """A refused client message: the command and field it concerned (when known) and why."""

    command: str | None
    field: str | None
    reason: str
    value: Any = None

    def message(self) -> str:
        """One line for a person, in the same shape as a refused state update."""
        where = self.command or "message"
        if self.field:
            where = f"{where}.{self.field}"
        return f"{where} rejected: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "field": self.field,
            "value": _json_safe(self.value),
            "reason": self.reason,
        }


def _json_safe(value: Any) -> Any:
    """A value that can go back to the client as JSON (anything odd becomes its repr)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_message(raw: str | bytes) -> Command | CommandError:
    """Read one data-channel message; anything malformed becomes a `CommandError`."""
    if isinstance(raw, bytes | bytearray | memoryview):
        return CommandError(
            None,
            None,
            f"binary messages are not accepted ({len(raw)} bytes); send JSON text "
            '{"scope": ..., "data": {"type": ..., "data": {...}}}',
        )
    size = len(raw.encode("utf-8", errors="replace"))
    if size > MAX_MESSAGE_BYTES:
        return CommandError(
            None, None, f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes"
        )
    try:
        message = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        reason = getattr(exc, "msg", "too deeply nested")
        return CommandError(None, None, f"malformed JSON ({reason}): {_short(raw)!r}")
    if not isinstance(message, dict):
        return CommandError(
            None, None, f"expected a JSON object envelope, got {type(message).__name__}"
        )
    scope = message.get("scope")
    inner = message.get("data")
    command = inner.get("type") if isinstance(inner, dict) else None
    command_name = command if isinstance(command, str) and command else None
    if scope not in SCOPES:
        return CommandError(
            command_name,
            "scope",
            f"scope must be 'application' or 'runtime', got {_short(json.dumps(scope))}",
            scope,
        )
    if not isinstance(inner, dict):
        return CommandError(None, "data", 'data must be an object {"type": ..., "data": {...}}')
    if command_name is None:
        return CommandError(None, "type", "data.type must be a non-empty string naming a command")
    arguments = inner.get("data", {})
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return CommandError(
            command_name,
            "data",
            f"the arguments (data.data) must be an object, got {type(arguments).__name__}",
            arguments,
        )
    uploads = inner.get("uploads") or {}
    if not isinstance(uploads, dict) or not all(
        isinstance(ref, dict) and isinstance(ref.get("upload_id"), str) and ref["upload_id"]
        for ref in uploads.values()
    ):
        return CommandError(
            command_name,
            "uploads",
            'uploads must map each file parameter to {"upload_id": ...} (from the upload route)',
            uploads,
        )
    return Command(scope, command_name, arguments, uploads)


def preflight_headers(asked: str, private_network: bool) -> dict[str, str]:
    """The CORS preflight answer of the single server and the scale-out ingress alike: the
    published client sends Authorization, Content-Type and Reactor-* headers from another
    origin. `asked` is Access-Control-Request-Headers; `private_network` is whether the
    browser asked Access-Control-Request-Private-Network."""
    allowed = ["Authorization", "Content-Type"]
    for name in (h.strip() for h in asked.split(",")):
        if name and name.lower().startswith("reactor-") and name not in allowed:
            allowed.append(name)
    for name in ("Reactor-API-Version", "Reactor-API-Accept-Version", "Reactor-WebRTC-Version"):
        if name.lower() not in (a.lower() for a in allowed):
            allowed.append(name)
    headers = {
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE, OPTIONS",
        "Access-Control-Allow-Headers": ", ".join(allowed),
        "Access-Control-Max-Age": "600",
    }
    if private_network:
        headers["Access-Control-Allow-Private-Network"] = "true"
    return headers


def envelope(scope: Scope, type_: str, data: Any) -> str:
    """One server-to-client message as JSON text."""
    return json.dumps({"scope": scope, "data": {"type": type_, "data": data}}, default=repr)


def error_data(refusal: Any) -> dict[str, Any]:
    """The body of a runtime `error` message for a refused command (`CommandError` or
    `reactor.Rejection`): command, field, value, reason and a one-line message."""
    data = {"source": "command", **refusal.to_dict()}
    data["value"] = _json_safe(data.get("value"))
    data["message"] = refusal.message()
    return data


def capability_commands(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The command list of protocol capabilities (`{name, description, schema}`), read from the
    model's OpenAPI schema so both always agree."""
    commands = []
    for name, spec in _schema_commands(schema).items():
        params = {}
        body = spec.get("properties", {}) if isinstance(spec, dict) else {}
        required = set(spec.get("required", [])) if isinstance(spec, dict) else set()
        for param, param_schema in body.items():
            entry = dict(param_schema) if isinstance(param_schema, dict) else {}
            entry["required"] = param in required
            params[param] = entry
        commands.append(
            {
                "name": name,
                "description": str(spec.get("description", "")) if isinstance(spec, dict) else "",
                "schema": params,
            }
        )
    return commands


def _schema_commands(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`{command name: JSON Schema of its arguments}` from the model's OpenAPI document, where
    each command is described as `POST /commands/{name}` (see `reactor._schema`)."""
    found: dict[str, dict[str, Any]] = {}
    for path, item in (schema.get("paths") or {}).items():
        if not isinstance(item, dict) or not str(path).startswith("/commands/"):
            continue
        post = item.get("post") or {}
        body = (
            post.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        )
        spec = _resolve(schema, body) if isinstance(body, dict) else {}
        summary = post.get("summary")
        if summary and "description" not in spec:
            spec = {**spec, "description": summary}
        found[str(path)[len("/commands/") :]] = spec
    return found


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Follow one local `$ref` (`#/components/schemas/X`)."""
    ref = spec.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return spec
    node: Any = schema
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}
