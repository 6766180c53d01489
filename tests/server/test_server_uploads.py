"""File uploads as Reactor's JS client does them: POST a slot, PUT the bytes, announce with
`fileUploaded`, name the file in a command's `uploads` section. Every refusal is an HTTP error
or a data-channel error with its reason; nothing outlives the session."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from input_client import InputClient
from input_models import UploadModel, WithUpload
from reactor._runner import Runner
from server_harness import Running, serving

pytestmark = pytest.mark.timeout(60)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # 10 248 bytes


def client(running: Running) -> InputClient:
    return InputClient(running.url.rstrip("/"), running.http)


async def until(predicate, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def reserve(c: InputClient, body: Any, session_id: str | None = None) -> tuple[int, Any]:
    url = f"{c.base}/sessions/{session_id or c.session_id}/uploads"
    async with c.http.post(url, json=body) as response:
        return response.status, await response.json()


async def put(c: InputClient, url: str, data: bytes, **headers: str) -> tuple[int, str]:
    async with c.http.put(url, data=data, headers=headers) as response:
        return response.status, await response.text()


def runtime_errors(c: InputClient) -> list[dict[str, Any]]:
    return [
        m["data"]["data"]
        for m in c.messages
        if m.get("scope") == "runtime" and m["data"]["type"] == "error"
    ]


async def connected(running: Running) -> InputClient:
    c = client(running)
    await c.start()
    await c.connect()
    await c.wait_frames(1, "main_video")
    return c


async def test_an_uploaded_picture_sets_the_field_through_the_uploads_section() -> None:
    model = WithUpload()
    async with serving(Runner(model)) as running:
        c = await connected(running)
        slot, _ = await c.upload(PNG)
        assert set(slot) == {"presigned_id", "presigned_url", "path"}
        assert all(isinstance(v, str) for v in slot.values())
        assert slot["presigned_url"].startswith(c.base + f"/sessions/{c.session_id}/uploads/")
        assert slot["path"] == f"sessions/{c.session_id}/uploads/{slot['presigned_id']}/picture.png"
        # fileUploaded reached the model's @file_uploaded hook, with the bytes.
        announced = await c.wait_message(lambda m: m["data"]["type"] == "received")
        assert announced["data"]["data"] == {
            "via": "announced",
            "name": "picture.png",
            "mime_type": "image/png",
            "size": len(PNG),
            "head": PNG[:8].hex(),
        }
        # sendCommand("set_image", {image: fileRef}) puts the file in `uploads`.
        reference = {"upload_id": slot["presigned_id"], "name": "x", "mime_type": "x/y", "size": 1}
        c.send_with_uploads("set_image", {}, {"image": reference})
        await until(lambda: model.state.image is not None, what="the image to be set")
        image = model.state.image
        assert (image.name, image.mime_type, image.data) == ("picture.png", "image/png", PNG)
        # ... and the next frames show it (its size is drawn as the counter).
        await until(
            lambda: any(f.counter == len(PNG) for f in c.frames["main_video"]),
            what="a frame drawn with the image",
        )
        # An @event parameter may be a file too, named inline or in `uploads`.
        c.send("application", "stamp", {"file": {"upload_id": slot["presigned_id"]}, "strength": 2})
        stamped = await c.wait_message(lambda m: m["data"]["data"].get("via") == "stamp")
        assert stamped["data"]["data"]["size"] == len(PNG)
        assert model.stamped[0][1] == 2
        assert runtime_errors(c) == []
        await c.close()


async def test_a_command_that_arrives_before_the_bytes_waits_for_them() -> None:
    model = WithUpload()
    async with serving(Runner(model)) as running:
        c = await connected(running)
        status, slot = await reserve(c, {"name": "late.png", "mime_type": "image/png", "size": 4})
        assert status == 201
        c.send_with_uploads("set_image", {}, {"image": {"upload_id": slot["presigned_id"]}})
        await asyncio.sleep(0.3)
        assert model.state.image is None
        assert await put(c, slot["presigned_url"], b"late") == (200, "")
        await until(lambda: model.state.image is not None, what="the late image")
        assert model.state.image.data == b"late"
        await c.close()


async def test_refused_references_come_back_as_errors_naming_the_field() -> None:
    model = WithUpload()
    async with serving(Runner(model), upload_wait=0.3) as running:
        c = await connected(running)
        c.send_with_uploads("set_image", {}, {"image": {"upload_id": "nope"}})
        c.send_with_uploads("set_level", {"level": 3}, {"level": {"upload_id": "nope"}})
        status, slot = await reserve(c, {"name": "a.png", "mime_type": "image/png", "size": 4})
        assert status == 201  # reserved, but its bytes never come
        c.send_with_uploads("set_image", {}, {"image": {"upload_id": slot["presigned_id"]}})
        c.send("application", "set_image", {"image": "a.png"})
        c.send("runtime", "fileUploaded", {"upload_id": "nope"})
        c.send_raw('{"scope": "application", "data": {"type": "set_image", "uploads": [1]}}')
        await until(lambda: len(runtime_errors(c)) >= 6, what="six errors")
        errors = runtime_errors(c)
        assert [(e["command"], e["field"]) for e in errors] == [
            ("set_image", "image"),
            ("set_level", "level"),
            ("set_image", "image"),
            ("set_image", "image"),
            ("fileUploaded", "upload_id"),
            ("set_image", "uploads"),
        ]
        assert "no upload 'nope'" in errors[0]["reason"]
        assert "not a file field" in errors[1]["reason"]
        assert "did not arrive within 0.3 s" in errors[2]["reason"]
        assert "expected an uploaded file" in errors[3]["reason"]
        assert model.state.image is None and model.state.level == 10
        await c.close()


async def test_slot_requests_are_checked_and_refused_with_reasons() -> None:
    options = {"max_upload_bytes": 1000, "max_uploads": 2, "upload_types": ("image/*",)}
    async with serving(Runner(WithUpload()), **options) as running:
        c = await connected(running)
        good = {"name": "a.png", "mime_type": "image/png", "size": 10}
        cases = [
            ({"name": "", "mime_type": "image/png", "size": 1}, 400, "name"),
            ({"name": "a/b.png", "mime_type": "image/png", "size": 1}, 400, "plain file name"),
            ({"name": "a.png", "mime_type": "png", "size": 1}, 400, "mime_type"),
            ({"name": "a.png", "mime_type": "image/png", "size": 0}, 400, "size"),
            ({"name": "a.png", "mime_type": "image/png", "size": True}, 400, "size"),
            ([1, 2], 400, "JSON object"),
            ({**good, "upload_id": "../x"}, 400, "upload_id"),
            ({**good, "size": 1001}, 413, "limit is 1000 bytes"),
            ({**good, "mime_type": "text/plain"}, 415, "image/*"),
        ]
        for body, status, words in cases:
            got, answer = await reserve(c, body)
            assert got == status, (body, answer)
            assert words in answer["message"], (body, answer)
        assert (await reserve(c, {**good, "upload_id": "mine"}))[0] == 201
        status, answer = await reserve(c, {**good, "upload_id": "mine"})
        assert (status, answer["error"]) == (409, "upload_id_taken")
        assert (await reserve(c, good))[0] == 201
        status, answer = await reserve(c, good)
        assert (status, answer["error"]) == (429, "too_many_uploads")
        async with c.http.post(f"{c.base}/sessions/{c.session_id}/uploads", data=b"{") as r:
            assert r.status == 400 and (await r.json())["error"] == "bad_json"
        assert (await reserve(c, good, session_id="unknown"))[0] == 404
        await c.close()


async def test_bytes_are_checked_against_the_slot() -> None:
    async with serving(Runner(WithUpload())) as running:
        c = await connected(running)
        status, slot = await reserve(c, {"name": "a.png", "mime_type": "image/png", "size": 5})
        url = slot["presigned_url"]
        assert await put(c, url, b"abc") == (
            400,
            '{"error": "size_mismatch", "message": "expected 5 bytes, got 3"}',
        )

        async def longer():  # type: ignore[no-untyped-def]
            yield b"abcde"
            yield b"fgh"  # chunked: no Content-Length to check first

        async with c.http.put(url, data=longer()) as response:
            assert response.status == 400
            assert "expected 5 bytes, got more" in (await response.json())["message"]
        assert await put(c, url, b"abcde") == (200, "")
        status, text = await put(c, url, b"abcde")
        assert status == 409 and "already has its bytes" in text
        status, text = await put(c, url.rsplit("/", 1)[0] + "/unknown", b"abcde")
        assert status == 404 and "unknown_upload" in text
        await c.close()


async def test_a_page_on_another_origin_may_put_the_bytes() -> None:
    async with serving(Runner(WithUpload())) as running:
        c = await connected(running)
        status, slot = await reserve(c, {"name": "a.png", "mime_type": "image/png", "size": 2})
        assert status == 201
        origin = {"Origin": "http://127.0.0.1:9"}
        async with c.http.options(
            slot["presigned_url"],
            headers={
                **origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type",
            },
        ) as response:
            assert response.status == 204
            assert "PUT" in response.headers["Access-Control-Allow-Methods"]
            assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
        async with c.http.put(
            slot["presigned_url"], data=b"ok", headers={**origin, "Content-Type": "image/png"}
        ) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == origin["Origin"]
        await c.close()


async def test_nothing_uploaded_outlives_the_session() -> None:
    model = WithUpload()
    async with serving(Runner(model)) as running:
        c = await connected(running)
        slot, _ = await c.upload(PNG)
        status, pending = await reserve(c, {"name": "b.png", "mime_type": "image/png", "size": 3})
        c.send_with_uploads("set_image", {}, {"image": {"upload_id": slot["presigned_id"]}})
        await until(lambda: model.state.image is not None, what="the image to be set")
        await c.close()
        await until(lambda: running.server.session is None, what="the session to end")
        assert running.server.uploads._stores == {}
        assert model.state.image is None
        status, text = await put(c, pending["presigned_url"], b"abc")
        assert status == 410 and "has ended" in text
        status, _ = await reserve(c, {"name": "c.png", "mime_type": "image/png", "size": 3})
        assert status == 410


async def test_a_full_control_model_gets_its_upload_field_set_at_once() -> None:
    model = UploadModel()
    async with serving(Runner(model)) as running:
        c = await connected(running)
        slot, _ = await c.upload(b"abc", name="a.txt", mime_type="text/plain")
        c.send_with_uploads("set_image", {}, {"image": {"upload_id": slot["presigned_id"]}})
        await until(lambda: model.state.image is not None, what="the file to be set")
        assert model.state.image.data == b"abc"
        await c.close()
