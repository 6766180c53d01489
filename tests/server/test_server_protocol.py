"""Reading client messages and writing replies (`reactor._protocol`), without a network."""

from __future__ import annotations

import json

import pytest
from reactor._protocol import (
    MAX_MESSAGE_BYTES,
    Command,
    CommandError,
    capability_commands,
    envelope,
    error_data,
    parse_message,
)
from reactor._runner import Runner
from reactor._state import Rejection
from server_models import Counter


def wire(scope: object, type_: object, data: object) -> str:
    return json.dumps({"scope": scope, "data": {"type": type_, "data": data}})


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            wire("application", "set_level", {"level": 3}),
            Command("application", "set_level", {"level": 3}),
        ),
        (wire("runtime", "ping", {}), Command("runtime", "ping", {})),
        (wire("runtime", "ping", None), Command("runtime", "ping", {})),
        (
            json.dumps({"scope": "runtime", "data": {"type": "ping"}}),
            Command("runtime", "ping", {}),
        ),
    ],
)
def test_well_formed_messages_become_commands(raw: str, expected: Command) -> None:
    assert parse_message(raw) == expected


@pytest.mark.parametrize(
    ("raw", "command", "field", "reason_part"),
    [
        ("{not json", None, None, "malformed JSON"),
        (b"\x00\x01binary", None, None, "binary messages are not accepted"),
        ("[1, 2]", None, None, "expected a JSON object envelope, got list"),
        (
            wire("app", "set_level", {}),
            "set_level",
            "scope",
            "scope must be 'application' or 'runtime'",
        ),
        (json.dumps({"scope": "application"}), None, "data", "data must be an object"),
        (
            json.dumps({"scope": "application", "data": {"data": {}}}),
            None,
            "type",
            "data.type must be",
        ),
        (wire("application", "", {}), None, "type", "data.type must be"),
        (wire("application", "set_level", [1]), "set_level", "data", "must be an object, got list"),
        ("x" * (MAX_MESSAGE_BYTES + 1), None, None, f"the limit is {MAX_MESSAGE_BYTES} bytes"),
        ("[" * 10_000 + "]" * 10_000, None, None, "malformed JSON"),
    ],
)
def test_malformed_messages_become_errors_naming_what_was_wrong(
    raw: str | bytes, command: str | None, field: str | None, reason_part: str
) -> None:
    result = parse_message(raw)
    assert isinstance(result, CommandError), result
    assert result.command == command
    assert result.field == field
    assert reason_part in result.reason


def test_message_size_is_counted_in_utf8_bytes() -> None:
    # 30 000 three-byte characters: under the limit in characters, over it in bytes.
    raw = wire("application", "set_label", {"label": "€" * 30_000})
    result = parse_message(raw)
    assert isinstance(result, CommandError) and "bytes; the limit is" in result.reason


def test_error_data_names_command_field_value_and_reason() -> None:
    data = error_data(Rejection("set_level", "level", 300, "must be <= 255"))
    assert data == {
        "source": "command",
        "command": "set_level",
        "field": "level",
        "value": 300,
        "reason": "must be <= 255",
        "message": "set_level.level = 300 rejected: must be <= 255",
    }
    data = error_data(CommandError(None, None, "malformed JSON (x)", float("nan")))
    assert data["value"] == "nan" and data["message"] == "message rejected: malformed JSON (x)"
    json.dumps(data, allow_nan=False)


def test_envelope_is_the_clients_shape() -> None:
    assert json.loads(envelope("runtime", "pong", {"t": 1})) == {
        "scope": "runtime",
        "data": {"type": "pong", "data": {"t": 1}},
    }


def test_capability_commands_follow_the_models_schema() -> None:
    commands = {c["name"]: c for c in capability_commands(Runner(Counter()).schema)}
    assert set(commands) == {"set_level", "set_label", "set_mode", "set_mirror", "poke"}
    level = commands["set_level"]["schema"]["level"]
    assert level["type"] == "integer" and level["minimum"] == 0 and level["maximum"] == 255
    assert level["required"] is True
    assert commands["set_mode"]["schema"]["mode"]["enum"] == ["warm", "cool"]
    assert commands["poke"]["schema"]["strength"]["required"] is False
    assert commands["set_level"]["description"] == "Value drawn into each frame"
