"""The OpenAPI 3.1 document a model publishes: commands with request bodies, state, tracks, messages."""

from __future__ import annotations

import enum
from typing import Literal

from reactor import (
    Audio,
    InputField,
    InputState,
    ModelMessage,
    Output,
    ReactorModel,
    Video,
    event,
)
from reactor._schema import build_schema


class Weather(enum.Enum):
    SUN = "sun"
    RAIN = "rain"


class WorldState(InputState):
    prompt: str = InputField(default="a meadow", min_length=1, max_length=80, description="Scene")
    speed: float = InputField(default=1.0, ge=0.0, le=4.0)
    weather: Weather = Weather.SUN
    camera: Literal[0, 1, 2] = 0
    paused: bool = False
    _tick: int = 0


class WorldOutput(Output):
    main_video: Video
    ambience: Audio


class Score(ModelMessage):
    """Points so far."""

    points: int
    label: str


class World(ReactorModel):
    """A small world the client can steer.

    Longer description that stays out of the title block.
    """

    state: WorldState
    fps = 24

    @event(name="jump", description="Jump up")
    def jump(self, height: float = InputField(default=1.0, ge=0.5, le=3.0)) -> None:
        pass

    @event(name="teleport")
    def teleport(self, x: int, y: int = 0) -> None:
        pass

    async def run(self) -> None:
        pass


DOC = build_schema(World, name="world")


def body(command: str) -> dict:
    post = DOC["paths"][f"/commands/{command}"]["post"]
    assert post["operationId"] == command
    return post["requestBody"]["content"]["application/json"]["schema"]


def test_document_is_openapi_3_1_with_title_and_summary():
    assert DOC["openapi"] == "3.1.0"
    assert DOC["info"]["title"] == "world"
    assert DOC["info"]["description"] == "A small world the client can steer."


def test_every_public_field_is_a_set_command_with_its_constraints():
    assert body("set_prompt")["properties"]["prompt"] == {
        "type": "string",
        "minLength": 1,
        "maxLength": 80,
        "default": "a meadow",
        "description": "Scene",
    }
    assert body("set_speed")["properties"]["speed"] == {
        "type": "number",
        "minimum": 0.0,
        "maximum": 4.0,
        "default": 1.0,
    }
    assert body("set_weather")["properties"]["weather"] == {
        "type": "string",
        "enum": ["sun", "rain"],
        "default": "sun",
    }
    assert body("set_camera")["properties"]["camera"] == {
        "type": "integer",
        "enum": [0, 1, 2],
        "default": 0,
    }
    assert body("set_paused")["properties"]["paused"] == {"type": "boolean", "default": False}
    assert "/commands/set__tick" not in DOC["paths"]
    assert "_tick" not in DOC["components"]["schemas"]["State"]["properties"]


def test_events_are_commands_with_their_parameters():
    jump = body("jump")
    assert jump["properties"]["height"]["minimum"] == 0.5
    assert jump["required"] == []
    assert DOC["paths"]["/commands/jump"]["post"]["summary"] == "Jump up"
    assert body("teleport")["required"] == ["x"]


def test_rejections_are_described():
    responses = DOC["paths"]["/commands/set_speed"]["post"]["responses"]
    assert responses["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Rejection"
    }
    assert DOC["components"]["schemas"]["Rejection"]["required"] == [
        "command",
        "field",
        "value",
        "reason",
    ]


def test_tracks_messages_and_rate_are_listed():
    extra = DOC["x-reactor"]
    assert extra["tracks"] == [
        {"name": "main_video", "kind": "video", "direction": "recvonly"},
        {"name": "ambience", "kind": "audio", "sample_rate": 48000, "direction": "recvonly"},
    ]
    assert extra["messages"] == ["score"]
    assert extra["fps"] == 24
    assert extra["state"] == ["prompt", "speed", "weather", "camera", "paused"]
    assert extra["commands"] == [
        "set_prompt",
        "set_speed",
        "set_weather",
        "set_camera",
        "set_paused",
        "jump",
        "teleport",
    ]
    score = DOC["components"]["schemas"]["Score"]
    assert score["x-message-type"] == "score"
    assert score["properties"] == {"points": {"type": "integer"}, "label": {"type": "string"}}
