"""Commands over the data channel: accepted ones take effect in the frames, every refused one
is answered with an error naming command, field and reason, and the stream goes on."""

from __future__ import annotations

import asyncio
import json
import statistics

import pytest
from reactor._protocol import MAX_MESSAGE_BYTES
from reactor._runner import Runner
from server_harness import serving
from server_models import Broken, Emitter, Faulty

pytestmark = pytest.mark.timeout(90)


def app(type_: str, data: object) -> str:
    return json.dumps({"scope": "application", "data": {"type": type_, "data": data}})


BAD_MESSAGES = [
    # (what the client sends, command, field, part of the reason)
    ("{not json", None, None, "malformed JSON"),
    (b"\x00\x01\x02", None, None, "binary messages are not accepted"),
    (app("explode", {}), "explode", None, "unknown command"),
    (app("set_nothing", {"nothing": 1}), "set_nothing", None, "unknown command"),
    (app("set_level", {"level": "high"}), "set_level", "level", "expected an integer"),
    (app("set_level", {"level": 300}), "set_level", "level", "must be <= 255"),
    (app("set_level", {"level": -1}), "set_level", "level", "must be >= 0"),
    (app("set_level", {"lvl": 3}), "set_level", "lvl", "unknown field"),
    (app("set_mode", {"mode": "hot"}), "set_mode", "mode", "must be one of"),
    (app("set_mirror", {"mirror": 1}), "set_mirror", "mirror", "expected a boolean"),
    (app("set_label", {"label": "x" * 40}), "set_label", "label", "at most 32"),
    (app("set_label", {"label": "x" * MAX_MESSAGE_BYTES}), None, None, "the limit is 65536 bytes"),
    (app("poke", {"strength": "hard"}), "poke", "strength", "expected an integer"),
    (app("set_level", [1, 2]), "set_level", "data", "must be an object"),
    (
        json.dumps({"scope": "other", "data": {"type": "set_level"}}),
        "set_level",
        "scope",
        "scope must be",
    ),
    (
        json.dumps({"scope": "runtime", "data": {"type": "reboot", "data": {}}}),
        "reboot",
        None,
        "unknown runtime command",
    ),
]


def is_error(message: dict) -> bool:
    return message["scope"] == "runtime" and message["data"]["type"] == "error"


async def test_every_refused_command_is_answered_and_the_stream_goes_on(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        await client.wait_frames(5, "main_video")
        delays = []
        for raw, command, field, reason in BAD_MESSAGES:
            seen = len(client.messages)
            sent = client.send_raw(raw)
            error = await client.wait_message(
                lambda m, seen=seen: is_error(m) and client.messages.index(m) >= seen
            )
            delays.append(client.message_times[client.messages.index(error)] - sent)
            data = error["data"]["data"]
            assert data["source"] == "command"
            assert (data["command"], data["field"]) == (command, field), data
            assert reason in data["reason"], data
            assert data["message"] and reason in data["message"]
        # The stream went on through all of it, and the state is untouched.
        before = len(client.frames["main_video"])
        await client.wait_frames(before + 10, "main_video")
        assert all(f.value == 10 for f in client.frames["main_video"])
        counters = [f.counter for f in client.frames["main_video"]]
        assert counters == sorted(counters)
        # Answered at once: within 100 ms typically, and never slowly.
        assert statistics.median(delays) < 0.1, delays
        assert max(delays) < 1.0, delays
    finally:
        await client.close()


async def test_an_accepted_update_shows_in_the_following_frames(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        await client.wait_frames(3, "main_video")
        client.send("application", "set_level", {"level": 200})
        for _ in range(60):
            await client.wait_frames(len(client.frames["main_video"]) + 1, "main_video")
            if client.frames["main_video"][-1].value == 200:
                break
        values = [f.value for f in client.frames["main_video"]]
        first = values.index(200)
        assert set(values[:first]) == {10} and set(values[first:]) == {200}
        await client.wait_frames(len(values) + 5, "main_video")
        assert {f.value for f in client.frames["main_video"][first:]} == {200}
        assert not [m for m in client.messages if is_error(m)]
    finally:
        await client.close()


async def test_model_messages_events_and_dedupe_reach_the_client(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        hello = await client.wait_message(lambda m: m["data"]["type"] == "hello")
        assert hello == {"scope": "application", "data": {"type": "hello", "data": {"level": 10}}}
        client.send("application", "poke", {"strength": 2})
        client.send("application", "poke", {"strength": 2})  # same again: deduplicated
        client.send("application", "poke", {"strength": 3})
        first = await client.wait_message(lambda m: m["data"].get("data") == {"times": 1})
        second = await client.wait_message(lambda m: m["data"].get("data") == {"times": 2})
        assert first["scope"] == second["scope"] == "application"
        client.send("runtime", "ping", {"t": 1})
        pong = await client.wait_message(lambda m: m["data"]["type"] == "pong")
        assert pong == {"scope": "runtime", "data": {"type": "pong", "data": {"t": 1}}}
        assert len([m for m in client.messages if m["data"].get("data", {}).get("times")]) == 2
        assert counter_server.runner.model.pokes == 2
    finally:
        await client.close()


async def test_schema_and_capabilities_on_request(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect()
    try:
        client.send("runtime", "requestSchema", {})
        schema = await client.wait_message(lambda m: m["data"]["type"] == "modelSchema")
        assert schema["scope"] == "runtime"
        assert schema["data"]["data"] == counter_server.runner.schema
        client.send("runtime", "requestCapabilities", {})
        caps = await client.wait_message(lambda m: m["data"]["type"] == "modelCapabilities")
        names = {c["name"] for c in caps["data"]["data"]["commands"]}
        assert names == {"set_level", "set_label", "set_mode", "set_mirror", "poke"}
    finally:
        await client.close()


async def test_a_reactor_model_streams_and_answers_its_events() -> None:
    model = Emitter()
    async with serving(Runner(model)) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            await client.wait_frames(5, "main_video")
            client.send("application", "set_level", {"level": 42})
            client.send("application", "echo", {"text": "hi"})
            echo = await client.wait_message(lambda m: m["data"]["type"] == "echo")
            assert echo["data"]["data"] == {"text": "hi"}
            client.send("application", "echo", {})
            error = await client.wait_message(is_error)
            assert error["data"]["data"]["command"] == "echo"
            assert error["data"]["data"]["field"] == "text"
            for _ in range(100):
                if client.frames["main_video"][-1].value == 42:
                    break
                await client.wait_frames(len(client.frames["main_video"]) + 1, "main_video")
            assert client.frames["main_video"][-1].value == 42
        finally:
            await client.close()
        assert model.log == ["disconnected"]


async def test_a_model_error_reaches_the_client_and_the_stream_goes_on() -> None:
    Faulty.failed = False
    async with serving(Runner(Faulty())) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            error = await client.wait_message(
                lambda m: is_error(m) and m["data"]["data"].get("source") == "model"
            )
            assert "the model tripped" in error["data"]["data"]["message"]
            assert error["data"]["data"]["restarts_left"] >= 0
            before = len(client.frames.get("main_video", []))
            await client.wait_frames(before + 10, "main_video")
            assert running.server.session is not None
        finally:
            await client.close()


async def test_a_model_that_fails_for_good_ends_the_session() -> None:
    async with serving(Runner(Broken(), max_restarts=1)) as running:
        client = running.client()
        await client.start()
        await client.connect()
        try:
            fatal = await client.wait_message(
                lambda m: is_error(m) and m["data"]["data"].get("fatal"), timeout=10
            )
            assert "always fails" in fatal["data"]["data"]["message"]
            for _ in range(100):
                if running.server.session is None:
                    break
                await asyncio.sleep(0.05)
            assert running.server.session is None
            assert "model failed" in running.server.ended[-1][1]
            # The next client gets a fresh start.
            status, _ = await client.transport("GET", "ice_servers")
            assert status == 410
        finally:
            await client.close(stop=False)


async def test_only_the_data_channel_labelled_data_carries_commands(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    await client.connect(extra_channels=("chat",))
    try:
        await client.wait_frames(3, "main_video")
        extra = client.extra["chat"]
        for _ in range(100):  # the server closes a channel it does not use
            if extra.readyState == "closed":
                break
            await asyncio.sleep(0.05)
        assert extra.readyState == "closed"
        client.send("application", "set_level", {"level": 99})
        for _ in range(100):
            if client.frames["main_video"][-1].value == 99:
                break
            await client.wait_frames(len(client.frames["main_video"]) + 1, "main_video")
        assert client.frames["main_video"][-1].value == 99
    finally:
        await client.close()
