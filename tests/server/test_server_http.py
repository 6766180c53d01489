"""The HTTP side of protocol v1: sessions, transport routes, errors as JSON, CORS, versions."""

from __future__ import annotations

import json

import pytest
from reactor._options import ServeOptions
from reactor._runner import Runner
from reactor._schema import build_schema
from reactor._server import ReactorServer
from reactor._transport import SettingsError
from server_models import Counter

pytestmark = pytest.mark.timeout(60)

HEADERS = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}


async def start(running, **kwargs):
    async with running.http.post(f"{running.url}start_session", headers=HEADERS, **kwargs) as r:
        return r.status, await r.json()


async def test_start_session_reply_has_every_field_the_published_client_reads(
    counter_server,
) -> None:
    status, body = await start(counter_server, json={})
    assert status == 200
    assert isinstance(body["session_id"], str) and body["session_id"]
    assert body["state"] == "CREATED" and body["cluster"] == "local"
    assert body["model"] == {"name": "fake"}
    assert body["server_info"]["server_version"]
    assert body["selected_transport"] == {"protocol": "webrtc", "version": "1.0"}
    caps = body["capabilities"]
    assert caps["protocol_version"] == "1"
    assert caps["tracks"] == [{"name": "main_video", "kind": "video", "direction": "recvonly"}]
    assert caps["emission_fps"] == 30
    names = [c["name"] for c in caps["commands"]]
    assert "set_level" in names and "poke" in names


async def test_start_session_accepts_no_body_and_extra_args(counter_server) -> None:
    async with counter_server.http.post(f"{counter_server.url}start_session") as r:
        assert r.status == 200
    async with counter_server.http.post(f"{counter_server.url}stop_session") as r:
        assert r.status == 200
    status, _ = await start(counter_server, json={"extra_args": {"seed": 1}})
    assert status == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{oops", "bad_json"),
        (b'{"extra_args": "\xff"}', "bad_json"),
        ("[1]", "bad_request"),
        ('{"extra_args": 3}', "bad_request"),
    ],
)
async def test_start_session_with_a_bad_body_is_400_json(counter_server, body, code) -> None:
    status, reply = await start(counter_server, data=body)
    assert status == 400 and reply["error"] == code and reply["message"]


async def test_a_second_client_gets_409_with_a_reason(counter_server) -> None:
    status, first = await start(counter_server, json={})
    assert status == 200
    status, second = await start(counter_server, json={})
    assert status == 409
    assert second["error"] == "session_busy" and "one client at a time" in second["message"]
    assert second["session_id"] == first["session_id"]


async def test_stop_session_frees_the_slot_and_is_idempotent(counter_server) -> None:
    _, first = await start(counter_server, json={})
    for _ in range(2):
        async with counter_server.http.post(f"{counter_server.url}stop_session") as r:
            assert r.status == 200
            assert (await r.json())["state"] == "CLOSED"
    status, second = await start(counter_server, json={})
    assert status == 200 and second["session_id"] != first["session_id"]


@pytest.mark.parametrize(
    ("data", "headers"),
    [
        ('{"session_id": "%s"}', {"Content-Type": "application/json"}),
        ('{"session_id": "%s"}', {"Content-Type": "text/plain;charset=UTF-8"}),  # a beacon's
    ],
    ids=["json", "beacon"],
)
async def test_stop_session_takes_the_session_id_in_its_body(
    counter_server, data: str, headers: dict[str, str]
) -> None:
    # The viewer names its session (the scale-out ingress needs it); one server just stops it.
    _, first = await start(counter_server, json={})
    url = f"{counter_server.url}stop_session"
    async with counter_server.http.post(url, data=data % first["session_id"], headers=headers) as r:
        assert r.status == 200
        assert await r.json() == {"session_id": first["session_id"], "state": "CLOSED"}
    assert counter_server.server.session is None


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "application/json"}, {"Content-Type": "text/plain;charset=UTF-8"}],
    ids=["json", "beacon"],
)
async def test_stop_session_naming_an_older_session_stops_nothing(
    counter_server, headers: dict[str, str]
) -> None:
    # A stale tab's pagehide beacon names its own, long-ended session: the newer one keeps going.
    url = f"{counter_server.url}stop_session"
    _, stale = await start(counter_server, json={})
    async with counter_server.http.post(url) as r:  # Reactor's JS client: no body
        assert r.status == 200
    _, current = await start(counter_server, json={})
    for named, why in [(stale["session_id"], "had already ended"), ("f00d", "is not known here")]:
        data = json.dumps({"session_id": named})
        async with counter_server.http.post(url, data=data, headers=headers) as r:
            assert r.status == 200
            reply = await r.json()
        assert reply["session_id"] == named and reply["state"] == "CLOSED"
        assert reply["stopped"] is False
        assert why in reply["message"] and "nothing was stopped" in reply["message"]
        assert counter_server.server.session is not None
        assert counter_server.server.session.id == current["session_id"]
    assert [s for s, _ in counter_server.server.ended] == [stale["session_id"]]
    async with counter_server.http.post(url) as r:  # no name: the current session, as before
        assert await r.json() == {"session_id": current["session_id"], "state": "CLOSED"}
    assert counter_server.server.session is None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("{oops", "bad_json"),
        (b'{"session_id": "\xff"}', "bad_json"),
        ("[1]", "bad_request"),
        ('{"session_id": 3}', "bad_request"),
    ],
)
async def test_stop_session_with_a_bad_body_is_400_and_stops_nothing(
    counter_server, body: str | bytes, code: str
) -> None:
    _, current = await start(counter_server, json={})
    async with counter_server.http.post(f"{counter_server.url}stop_session", data=body) as r:
        assert r.status == 400
        reply = await r.json()
    assert reply["error"] == code and "\n" not in reply["message"]
    assert counter_server.server.session.id == current["session_id"]


async def test_unknown_and_ended_sessions_get_json_errors(counter_server) -> None:
    client = counter_server.client()
    status, body = await client.transport("GET", "ice_servers", session_id="nope")
    assert status == 404 and body["error"] == "unknown_session"
    await client.start()
    await client.close()
    status, body = await client.transport("GET", "sdp_params")
    assert status == 410 and body["error"] == "session_ended"
    async with counter_server.http.get(f"{counter_server.url}sessions/nope") as r:
        assert r.status == 404 and (await r.json())["error"] == "unknown_session"


async def test_ice_servers_is_empty_by_default(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    assert await client.transport("GET", "ice_servers") == (200, {"ice_servers": []})


@pytest.mark.parametrize(
    ("body", "part"),
    [
        ({"sdp_offer": "hello"}, "SDP offer"),
        ({"sdp_offer": "v=0\r\nnonsense\r\n"}, "line 2 of the SDP offer is not an SDP line"),
        ({"sdp_offer": "v=0\r\nm=application 9 x\r\n"}, "no o= line"),
        ({"track_mapping": []}, "sdp_offer"),
        ({"sdp_offer": 3}, "sdp_offer"),
    ],
)
async def test_bad_sdp_gets_400_json(counter_server, body, part) -> None:
    client = counter_server.client()
    await client.start()
    status, reply = await client.transport("POST", "sdp_params", body)
    assert (
        status == 400
        and reply["error"] in ("bad_offer", "bad_request")
        and part in reply["message"]
    )
    # The session survives a bad offer: a good one still connects.
    await client.connect()
    await client.wait_frames(3)
    await client.close()


async def test_sdp_answer_is_ready_for_the_first_poll(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    assert (await client.transport("GET", "sdp_params"))[0] == 202  # nothing offered yet
    await client.connect()  # asserts 202 for the POST and 200 for the very first GET
    await client.close()


async def test_track_mapping_naming_an_unknown_track_is_400(counter_server) -> None:
    from aiortc import RTCConfiguration, RTCPeerConnection

    client = counter_server.client()
    await client.start()
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("data")
    transceiver = pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    offer = pc.localDescription.sdp
    for mapping, part in [
        (
            [{"mid": transceiver.mid, "name": "nope", "kind": "video"}],
            "this model has ['main_video']",
        ),
        ([{"mid": "77", "name": "main_video", "kind": "video"}], "mid '77'"),
        ([{"mid": transceiver.mid, "name": "main_video", "kind": "audio"}], "it is video"),
        (["x"], "must be objects"),
    ]:
        status, reply = await client.transport(
            "POST", "sdp_params", {"sdp_offer": offer, "track_mapping": mapping}
        )
        assert status == 400 and part in reply["message"], reply
    await pc.close()


async def test_versions_too_old_or_too_new_are_426_and_501(counter_server) -> None:
    url = f"{counter_server.url}start_session"
    for version, status in [("0", 426), ("2", 501), ("one", 400)]:
        async with counter_server.http.post(url, headers={"Reactor-API-Version": version}) as r:
            assert r.status == status
            assert (await r.json())["message"]
    client = counter_server.client()
    await client.start()
    base = f"{counter_server.url}sessions/{client.session_id}/transport/webrtc/ice_servers"
    for version, status in [("0.9", 426), ("2.0", 501), ("1.3", 200)]:
        async with counter_server.http.get(base, headers={"Reactor-WebRTC-Version": version}) as r:
            assert r.status == status


async def test_cors_preflight_allows_the_clients_headers(counter_server) -> None:
    headers = {
        "Origin": "http://127.0.0.1:5173",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,reactor-api-version,reactor-webrtc-version,reactor-api-accept-version",
    }
    async with counter_server.http.options(
        f"{counter_server.url}start_session", headers=headers
    ) as r:
        assert r.status == 204
        assert r.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5173"
        allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        assert {
            "authorization",
            "content-type",
            "reactor-api-version",
            "reactor-webrtc-version",
        } <= allowed
        assert "POST" in r.headers["Access-Control-Allow-Methods"]
        assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    async with counter_server.http.post(
        f"{counter_server.url}start_session", headers={"Origin": "http://x.test"}
    ) as r:
        assert r.headers["Access-Control-Allow-Origin"] == "http://x.test"
    async with counter_server.http.post(
        f"{counter_server.url}start_session", headers={"Origin": "http://x.test"}
    ) as r:
        assert r.status == 409 and r.headers["Access-Control-Allow-Origin"] == "http://x.test"


async def test_health_schema_and_viewer(counter_server) -> None:
    async with counter_server.http.get(f"{counter_server.url}health") as r:
        assert r.status == 200 and (await r.json())["status"] == "ready"
    async with counter_server.http.get(f"{counter_server.url}schema") as r:
        schema = await r.json()
    assert schema == build_schema(Counter)
    assert schema["openapi"].startswith("3.1")
    async with counter_server.http.get(counter_server.url) as r:
        assert r.status == 200 and r.content_type == "text/html"
        assert "viewer.js" in await r.text()
    async with counter_server.http.get(f"{counter_server.url}viewer/viewer.js") as r:
        assert r.status == 200 and r.content_type == "text/javascript"
    for bad in ["viewer/..%2F_server.py", "viewer/.hidden.js", "viewer/nothing.js", "nowhere"]:
        async with counter_server.http.get(f"{counter_server.url}{bad}") as r:
            assert r.status == 404 and (await r.json())["error"] == "not_found", bad


def test_malformed_turn_and_stun_options_are_refused_with_a_hint() -> None:
    runner = Runner(Counter())
    with pytest.raises(SettingsError, match="USER:PASSWORD@HOST"):
        ReactorServer(runner, ServeOptions(turn=("turn.example.org",)))
    with pytest.raises(SettingsError, match="HOST"):
        ReactorServer(runner, ServeOptions(stun=("stun:",)))
    with pytest.raises(SettingsError, match="--ice-host 'localhost': expected an IP address"):
        ReactorServer(runner, ServeOptions(ice_hosts=("localhost",)))


async def test_configured_stun_and_turn_are_offered_to_the_client() -> None:
    from server_harness import serving

    async with serving(
        Runner(Counter()),
        stun=("stun.example.org:3478",),
        turn=("turn:al:pw@turn.example.org:3478",),
    ) as running:
        client = running.client()
        await client.start()
        status, body = await client.transport("GET", "ice_servers")
    assert status == 200
    assert body["ice_servers"] == [
        {"uris": ["stun:stun.example.org:3478"]},
        {
            "uris": ["turn:turn.example.org:3478"],
            "credentials": {"username": "al", "password": "pw"},
        },
    ]


async def test_port_in_use_is_a_clear_error(counter_server) -> None:
    from reactor._server import run_server

    port = int(counter_server.url.rsplit(":", 1)[1].strip("/"))
    server = ReactorServer(Runner(Counter()), ServeOptions(port=port))
    with pytest.raises(SettingsError, match=f"cannot listen on 127.0.0.1:{port}"):
        await run_server(server)


async def test_trickled_candidates_are_added_or_refused_with_a_reason(counter_server) -> None:
    client = counter_server.client()
    await client.start()
    candidate = {
        "candidate": "candidate:1 1 udp 2130706431 127.0.0.1 50000 typ host",
        "sdpMid": "0",
        "sdpMLineIndex": 0,
    }
    status, body = await client.transport("POST", "ice_candidates", candidate)
    assert status == 409 and body["error"] == "no_offer"
    await client.connect()
    try:
        status, body = await client.transport("POST", "ice_candidates", candidate)
        assert (status, body) == (200, {"added": 1})
        status, body = await client.transport(
            "POST", "ice_candidates", {"candidates": [candidate, {"candidate": ""}]}
        )
        assert (status, body) == (200, {"added": 1})
        for bad, part in [
            ({"candidate": "nonsense"}, "not an ICE candidate"),
            ([3], "must be an object"),
        ]:
            status, body = await client.transport("POST", "ice_candidates", bad)
            assert status == 400 and part in body["message"], body
        await client.wait_frames(3)  # the stream is unaffected
    finally:
        await client.close()
