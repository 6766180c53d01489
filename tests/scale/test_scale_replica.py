"""The model replica on its own, without Ray: it loads the model once, serves the protocol
through `relay()`, refuses calls meant for another process of itself, and reports a model that
failed to load instead of failing (so Serve does not reload it in a loop)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from reactor._options import ServeOptions
from reactor.scale.replica import NOT_THIS_PROCESS, ModelReplica

API = {"Reactor-API-Version": "1", "Host": "example.org", "Connection": "close"}


async def make(manifest: Path) -> ModelReplica:
    """Construct it as Serve does (its `__init__` is async)."""
    replica = ModelReplica.__new__(ModelReplica)
    await replica.__init__(str(manifest), ServeOptions(port=8080, ice_hosts=("127.0.0.1",)))  # type: ignore[misc]
    return replica


@pytest.fixture
async def replica(steady_manifest: Path) -> AsyncIterator[ModelReplica]:
    made = await make(steady_manifest)
    try:
        yield made
    finally:
        await made.close()


async def test_it_serves_the_protocol_through_relay(replica: ModelReplica) -> None:
    status = await replica.status()
    assert status["session"] is None and status["load_error"] is None
    assert status["pid"] > 0 and len(status["instance"]) == 32
    replica.check_health()

    reply = await replica.relay("POST", "/start_session", API, b"{}")
    assert (reply["status"], reply["instance"]) == (200, status["instance"])
    session = json.loads(reply["body"])
    assert session["model"] == {"name": "steady"}
    assert dict(reply["headers"])["Content-Type"].startswith("application/json")
    assert (await replica.status())["session"] == session["session_id"]

    # A second start is the single server's own refusal.
    busy = await replica.relay("POST", "/start_session", API, b"{}")
    assert busy["status"] == 409

    path = f"/sessions/{session['session_id']}"
    gone = await replica.relay("DELETE", path, {}, b"", status["instance"])
    assert gone["status"] == 200
    after = await replica.status()
    assert after["session"] is None
    assert [session["session_id"], "client deleted the session"] in [
        list(e) for e in after["ended"]
    ]


async def test_its_schema_is_titled_with_the_manifest_name_as_the_single_server(
    replica: ModelReplica,
) -> None:
    reply = await replica.relay("GET", "/schema", {"Connection": "close"}, b"")
    assert reply["status"] == 200
    assert json.loads(reply["body"])["info"]["title"] == "steady"


async def test_a_call_meant_for_another_process_is_not_run(replica: ModelReplica) -> None:
    reply = await replica.relay("POST", "/start_session", API, b"{}", "an-earlier-process")
    assert reply == {
        "status": NOT_THIS_PROCESS,
        "headers": [],
        "body": b"",
        "instance": replica.instance,
    }
    assert (await replica.status())["session"] is None


async def test_a_replica_whose_server_stopped_fails_its_health_check(
    steady_manifest: Path,
) -> None:
    replica = await make(steady_manifest)
    replica.check_health()
    # What Serve does when it stops a replica: call __del__ and await what it returns.
    stopping = replica.__del__()
    assert stopping is not None
    await stopping
    with pytest.raises(RuntimeError, match="server stopped"):
        replica.check_health()
    assert replica.__del__() is None  # closed: nothing left for the collector


async def test_a_model_that_fails_to_load_is_reported_not_raised(broken_manifest: Path) -> None:
    replica = await make(broken_manifest)
    status = await replica.status()
    assert status["load_error"] == (
        "BrokenCounter.load() raised FileNotFoundError: weights.safetensors is missing"
    )
    assert status["session"] is None
    replica.check_health()  # stays up, so Serve does not reload it in a loop
    with pytest.raises(RuntimeError, match="no server"):
        await replica.relay("GET", "/health", {}, b"")
    await replica.close()


async def test_a_missing_manifest_is_reported_as_the_load_error(tmp_path: Path) -> None:
    replica = await make(tmp_path / "nowhere" / "reactor.yaml")
    status = await replica.status()
    assert "reactor.yaml" in status["load_error"]
    await replica.close()


async def test_an_upload_slot_points_at_the_address_the_client_used(replica: ModelReplica) -> None:
    """Behind the ingress, the URL to PUT a file's bytes to is the ingress's, not the address
    of the replica's own server on 127.0.0.1."""
    reply = await replica.relay("POST", "/start_session", API, b"{}")
    session = json.loads(reply["body"])["session_id"]
    body = json.dumps({"name": "a.png", "mime_type": "image/png", "size": 3}).encode()
    headers = {**API, "Content-Type": "application/json"}
    slot = await replica.relay("POST", f"/sessions/{session}/uploads", headers, body)
    assert slot["status"] == 201
    url = json.loads(slot["body"])["presigned_url"]
    assert url.startswith(f"http://example.org/sessions/{session}/uploads/"), url
    put = await replica.relay("PUT", url.removeprefix("http://example.org"), {}, b"abc")
    assert put["status"] == 200
