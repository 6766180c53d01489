"""Scale-out on a local Ray instance: two CPU replicas of a small model behind one ingress.

Ray and the application start once for the module (and stop at its end); each test starts
from both replicas free. Clients are aiortc peers on loopback (tests/server/rtc_client.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from reactor._manifest import read_manifest  # noqa: E402
from reactor._options import ServeOptions  # noqa: E402
from reactor.scale import Deployed, ReplicaLoadError, ScaleOptions, deploy  # noqa: E402
from rtc_client import Client  # noqa: E402

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.timeout(180)]

API = {"Reactor-API-Version": "1", "Reactor-API-Accept-Version": "1"}
RESTART_SECONDS = 60
"""Bound on Ray noticing a killed replica, starting a new process and the model loading."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def app(steady_manifest: Path) -> Iterator[Deployed]:
    """A local Ray instance with Serve on a free loopback port and two replicas of
    SteadyCounter; Ray is stopped afterwards whatever happened."""
    port = free_port()
    ray.init(num_cpus=4, include_dashboard=False, logging_level="warning")
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        options = ServeOptions(port=port, ice_hosts=("127.0.0.1",))
        scale = ScaleOptions(replicas=2, health_check_period=1.0, watch_period=0.5, ticket_ttl=3.0)
        yield deploy(read_manifest(steady_manifest), options, scale)
    finally:
        with contextlib.suppress(Exception):
            serve.shutdown()
        ray.shutdown()


@pytest.fixture
async def http(app: Deployed) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as session:
        await wait_health(
            session, app, lambda h: h["free"] == 2 and h["waiting"] == 0, timeout=RESTART_SECONDS
        )
        yield session


async def health(http: aiohttp.ClientSession, app: Deployed) -> dict[str, Any]:
    async with http.get(app.url + "health") as response:
        assert response.status == 200
        return await response.json()


async def wait_health(
    http: aiohttp.ClientSession, app: Deployed, predicate: Any, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = await health(http, app)
        if predicate(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"/health never matched in {timeout} s: {body}")
        await asyncio.sleep(0.25)


async def start(http: aiohttp.ClientSession, ticket: str | None = None) -> tuple[int, Any, Any]:
    headers = dict(API, **({"Reactor-Queue-Ticket": ticket} if ticket else {}))
    async with http.post(base_url(http) + "start_session", json={}, headers=headers) as response:
        return response.status, await response.json(), response.headers


_BASE: dict[int, str] = {}


def base_url(http: aiohttp.ClientSession) -> str:
    return _BASE[id(http)]


@pytest.fixture(autouse=True)
def _remember_base(app: Deployed, http: aiohttp.ClientSession) -> Iterator[None]:
    _BASE[id(http)] = app.url
    yield
    _BASE.pop(id(http), None)


def loads(manifest: Path) -> list[int]:
    """Process ids of every model load in this model folder (scale_models.LOADS)."""
    log = manifest.with_name("loads.log")
    return [int(line) for line in log.read_text().split()] if log.exists() else []


async def stop(http: aiohttp.ClientSession, session_id: str) -> int:
    async with http.post(base_url(http) + "stop_session", json={"session_id": session_id}) as r:
        return r.status


@contextlib.asynccontextmanager
async def streaming(http: aiohttp.ClientSession, app: Deployed) -> AsyncIterator[Client]:
    """A connected client that pings like the published one; stopped and closed after."""
    client = Client(app.url.rstrip("/"), http)
    await client.start()
    pinger: asyncio.Task[None] | None = None
    try:
        await client.connect()
        pinger = asyncio.ensure_future(keep_alive(client))
        yield client
    finally:
        if pinger is not None:
            pinger.cancel()
        with contextlib.suppress(Exception):
            await stop(http, client.session_id)
        await client.close(stop=False)


async def keep_alive(client: Client) -> None:
    while True:
        with contextlib.suppress(Exception):
            client.send("runtime", "ping", {})
        await asyncio.sleep(2)


async def wait_value(client: Client, value: int, timeout: float = 10.0) -> int:
    """Wait for a frame showing `value`; returns how many frames had arrived before it."""
    deadline = time.monotonic() + timeout
    while True:
        frames = client.frames["main_video"]
        for i, frame in enumerate(frames):
            if frame.value == value:
                return i
        if time.monotonic() > deadline:
            raise AssertionError(f"no frame with value {value}; last {frames[-3:]}")
        await asyncio.sleep(0.05)


async def test_two_clients_stream_side_by_side_with_independent_state(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    async with streaming(http, app) as a, streaming(http, app) as b:
        assert a.session["replica"] != b.session["replica"]
        now = await health(http, app)
        assert (now["replicas"], now["in_use"], now["free"]) == (2, 2, 0)
        await a.wait_frames(10)
        await b.wait_frames(10)
        # Each stream is its own model instance from a fresh start.
        assert a.frames["main_video"][0].counter < 15 and b.frames["main_video"][0].counter < 15

        a.send("application", "set_level", {"level": 200})
        b.send("application", "set_level", {"level": 50})
        await wait_value(a, 200)
        await wait_value(b, 50)
        seen_by_b = len(b.frames["main_video"])
        seen_by_a = len(a.frames["main_video"])
        await b.wait_frames(seen_by_b + 10)
        await a.wait_frames(seen_by_a + 10)
        assert all(f.value != 200 for f in b.frames["main_video"])
        assert all(f.value != 50 for f in a.frames["main_video"])
        assert {f.value for f in a.frames["main_video"][seen_by_a:]} == {200}
        assert {f.value for f in b.frames["main_video"][seen_by_b:]} == {50}
    after = await wait_health(http, app, lambda h: h["free"] == 2, timeout=10)
    assert after["in_use"] == 0


async def test_a_third_client_gets_409_with_its_place_in_line(
    app: Deployed, http: aiohttp.ClientSession, steady_manifest: Path
) -> None:
    first_status, first, _ = await start(http)
    second_status, second, _ = await start(http)
    assert (first_status, second_status) == (200, 200)
    try:
        status, third, headers = await start(http)
        assert status == 409
        assert third["error"] == "all_replicas_busy"
        assert "all 2 replicas are streaming" in third["message"]
        assert (third["replicas"], third["in_use"], third["ahead"]) == (2, 2, 0)
        assert int(headers["Retry-After"]) >= 1
        status, fourth, _ = await start(http)
        assert (status, fourth["ahead"]) == (409, 1)

        # Several sessions run here: an unnamed stop_session must not guess.
        async with http.post(app.url + "stop_session") as response:
            assert response.status == 400
            assert (await response.json())["error"] == "which_session"

        assert await stop(http, first["session_id"]) == 200
        status, body, _ = await start(http, fourth["ticket"])
        assert (status, body["ahead"]) == (409, 1)  # the third came first
        status, third_session, _ = await start(http, third["ticket"])
        assert status == 200
        assert third_session["replica"] == first["replica"]
        status, body, _ = await start(http, fourth["ticket"])
        assert (status, body["ahead"]) == (409, 0)
        await stop(http, third_session["session_id"])
        # Sessions come and go; each replica loaded the model once.
        pids = [r["pid"] for r in (await health(http, app))["replica_states"]]
        assert [loads(steady_manifest).count(pid) for pid in pids] == [1, 1]
    finally:
        await stop(http, first["session_id"])
        await stop(http, second["session_id"])


async def test_a_killed_replica_ends_its_session_the_other_goes_on_and_it_comes_back(
    app: Deployed, http: aiohttp.ClientSession, steady_manifest: Path
) -> None:
    async with streaming(http, app) as doomed, streaming(http, app) as survivor:
        await doomed.wait_frames(5)
        await survivor.wait_frames(5)
        replica = doomed.session["replica"]
        before = await health(http, app)
        (victim,) = [r for r in before["replica_states"] if r["name"] == replica]
        os.kill(victim["pid"], signal.SIGKILL)

        # The killed session's next call tells its client why it ended.
        deadline = time.monotonic() + 30
        while True:
            status, body = await doomed.transport("GET", "sdp_params")
            if status == 410 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        assert status == 410, body
        assert body["error"] == "session_ended"
        assert f"the replica serving it ({replica})" in body["message"]
        frozen = len(doomed.frames["main_video"])

        # The other session streams on and still takes commands.
        streamed = len(survivor.frames["main_video"])
        survivor.send("application", "set_level", {"level": 77})
        await wait_value(survivor, 77)
        await survivor.wait_frames(streamed + 15)
        assert len(doomed.frames["main_video"]) == frozen

        # Ray replaces the process; a new session can start on it and streams.
        back = await wait_health(
            http,
            app,
            lambda h: any(
                r["name"] == replica and r["state"] == "free" and r["pid"] != victim["pid"]
                for r in h["replica_states"]
            ),
            timeout=RESTART_SECONDS,
        )
        (revived,) = [r for r in back["replica_states"] if r["name"] == replica]
        assert revived["restarts"] >= 1
        assert loads(steady_manifest).count(revived["pid"]) == 1  # the new process loaded it
        async with streaming(http, app) as newcomer:
            assert newcomer.session["replica"] == replica
            await newcomer.wait_frames(5)
            assert newcomer.frames["main_video"][0].counter < 15


async def test_a_model_that_fails_to_load_is_reported_at_start(
    app: Deployed, broken_manifest: Path
) -> None:
    options = ServeOptions(port=0, ice_hosts=("127.0.0.1",))
    scale = ScaleOptions(replicas=1, app_name="broken", route_prefix="/broken")
    with pytest.raises(ReplicaLoadError) as failure:
        await asyncio.to_thread(deploy, read_manifest(broken_manifest), options, scale)
    message = str(failure.value)
    assert message.startswith("replica-0 could not load the model: ")
    assert (
        "BrokenCounter.load() raised FileNotFoundError: weights.safetensors is missing" in message
    )
    assert "broken" not in serve.status().applications


async def test_the_other_protocol_routes_work_through_the_ingress(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    origin = {"Origin": "http://localhost:5173"}
    async with http.get(app.url + "schema", headers=origin) as response:
        assert response.status == 200
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
        assert "/commands/set_level" in (await response.json())["paths"]
    async with http.get(app.url) as response:
        assert response.status == 200 and response.content_type == "text/html"
    preflight = {
        **origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,reactor-api-version",
    }
    async with http.options(app.url + "start_session", headers=preflight) as response:
        assert response.status == 204
        allowed = response.headers["Access-Control-Allow-Headers"].lower()
        assert "reactor-api-version" in allowed and "content-type" in allowed

    status, session, _ = await start(http)
    assert status == 200
    client = Client(app.url.rstrip("/"), http, session=session)
    try:
        assert await client.transport("GET", "ice_servers") == (200, {"ice_servers": []})
        # An unknown route of a running session is a 404 that ends nothing.
        async with http.get(app.url + f"sessions/{client.session_id}/nothing") as response:
            assert response.status == 404
        assert (await health(http, app))["in_use"] == 1
        status, body = await client.transport("GET", "sdp_params")
        assert (status, body) == (202, {"status": "pending"})
        status, body = await client.transport("GET", "ice_servers", session_id="f" * 32)
        assert (status, body["error"]) == (404, "unknown_session")
        # A bad request is the replica's own answer, relayed.
        status, body = await client.transport("POST", "sdp_params", {"sdp_offer": 5})
        assert (status, body["error"]) == (400, "bad_offer")
        async with http.delete(app.url + f"sessions/{client.session_id}") as response:
            assert response.status == 200
        status, body = await client.transport("GET", "sdp_params")
        assert status == 410
        assert body["message"].endswith("has ended: client deleted the session")
        assert (await health(http, app))["in_use"] == 0
    finally:
        await stop(http, client.session_id)


@pytest.mark.browser
async def test_two_viewer_pages_in_chromium_stream_side_by_side(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    """The viewer page, served through the ingress, in two tabs of a real browser: each plays
    its own replica's stream and its slider changes only its own picture."""
    from test_server_browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        READ_CODE,
        need_chromium,
        poll,
        wait_for_value,
    )

    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            pages = [await browser.new_page() for _ in range(2)]
            for page in pages:
                await page.goto(app.url + "?autoconnect")
                await poll(page, "() => window.reactorViewer.status === 'streaming'")
            now = await health(http, app)
            assert (now["in_use"], now["free"]) == (2, 0)
            await page_sets_level(pages[0], 200)
            await wait_for_value(pages[0], "track-main_video", 200)
            other = await wait_for_value(pages[1], "track-main_video", 10)
            await poll(
                pages[1],
                f"(c0) => {{ const c = ({READ_CODE})('track-main_video');"
                " return c && c.value === 10 && c.counter > c0 + 15; }",
                other["counter"],
            )
            # Disconnecting one tab frees its replica (its peer closes); the other streams on.
            await pages[0].click("#connect")
            await wait_health(http, app, lambda h: h["in_use"] == 1, timeout=30)
            assert await pages[1].evaluate("() => window.reactorViewer.status") == "streaming"
        finally:
            await browser.close()


async def page_sets_level(page: Any, level: int) -> None:
    await page.eval_on_selector(
        "#field-level",
        f"e => {{ e.value = {level}; e.dispatchEvent(new Event('input', {{ bubbles: true }})); }}",
    )


async def test_stop_session_takes_the_session_id_from_body_query_or_header(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    async with http.post(app.url + "stop_session") as response:
        assert (response.status, await response.json()) == (
            200,
            {"session_id": None, "state": "CLOSED"},
        )
    ids = []
    for _ in range(2):
        status, body, _ = await start(http)
        assert status == 200
        ids.append(body["session_id"])
    async with http.post(app.url + f"stop_session?session_id={ids[0]}") as response:
        assert (await response.json()) == {"session_id": ids[0], "state": "CLOSED"}
    async with http.post(app.url + "stop_session", headers={"Reactor-Session-Id": ids[1]}) as r:
        assert (await r.json()) == {"session_id": ids[1], "state": "CLOSED"}
    assert (await health(http, app))["in_use"] == 0
    # Stopping an ended session again is harmless; an unknown one is a 404.
    assert await stop(http, ids[0]) == 200
    assert await stop(http, "f" * 32) == 404
    # One session and no name: that one, as a single server does; a malformed body (as the
    # single server) is a 400 that stops nothing.
    status, body, _ = await start(http)
    for bad in (b"{not json", b"[1, 2]", b'"text"'):
        async with http.post(app.url + "stop_session", data=bad) as response:
            assert response.status == 400
            assert (await response.json())["error"] == "bad_request"
    assert (await health(http, app))["in_use"] == 1
    async with http.post(app.url + "stop_session") as response:
        assert (await response.json())["session_id"] == body["session_id"]
    assert (await health(http, app))["in_use"] == 0


@pytest.mark.browser
@pytest.mark.npm
async def test_reactors_published_js_client_through_the_ingress(
    app: Deployed, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """@reactor-team/js-sdk 2.9.x, unchanged, in two tabs: each gets its own replica and its
    own state. Its stop_session names no session, so with two running the ingress does not
    guess; the session still ends when the client closes its peer connection."""
    from aiohttp import web
    from test_server_browser import (
        CHROMIUM,
        CHROMIUM_ARGS,
        bundle,
        need_chromium,
        poll,
        wait_for_value,
    )

    need_chromium()
    from playwright.async_api import async_playwright

    site = web.Application()
    site.router.add_static("/", bundle(tmp_path))
    site_runner = web.AppRunner(site, access_log=None)
    await site_runner.setup()
    page_site = web.TCPSite(site_runner, "127.0.0.1", 0)
    await page_site.start()
    page_url = f"http://127.0.0.1:{page_site._server.sockets[0].getsockname()[1]}/harness.html"  # type: ignore[union-attr]
    try:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                pages = [await browser.new_page() for _ in range(2)]
                for page in pages:
                    await page.goto(page_url)
                    await page.evaluate(
                        "([u, m]) => window.harness.connect(u, m)", [app.url.rstrip("/"), "steady"]
                    )
                    await poll(page, "() => window.harness.state.status === 'ready'")
                assert (await health(http, app))["in_use"] == 2
                await pages[0].evaluate("() => window.harness.send('set_level', { level: 200 })")
                await pages[1].evaluate("() => window.harness.send('set_level', { level: 60 })")
                await wait_for_value(pages[0], "track-main_video", 200)
                await wait_for_value(pages[1], "track-main_video", 60)
                for page in pages:
                    assert await page.evaluate("() => window.harness.state.errors") == []
                disconnected = await pages[0].evaluate("() => window.harness.disconnect()")
                assert disconnected == "disconnected"
                await wait_health(http, app, lambda h: h["in_use"] == 1, timeout=30)
                await wait_for_value(pages[1], "track-main_video", 60)
                assert await pages[1].evaluate("() => window.harness.state.status") == "ready"
            finally:
                await browser.close()
    finally:
        await site_runner.cleanup()


async def test_twenty_simultaneous_starts_on_two_replicas_exactly_two_win(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    answers = await asyncio.gather(*(start(http) for _ in range(20)))
    won = [body for status, body, _ in answers if status == 200]
    refused = [body for status, body, _ in answers if status == 409]
    try:
        assert len(won) == 2 and len(refused) == 18, [status for status, _, _ in answers]
        assert {body["replica"] for body in won} == {"replica-0", "replica-1"}
        assert all(body["error"] == "all_replicas_busy" and body["message"] for body in refused)
    finally:
        for body in won:
            await stop(http, body["session_id"])
    await wait_health(http, app, lambda h: h["free"] == 2, timeout=10)


async def test_a_client_that_vanishes_frees_its_replica_within_the_ping_timeout(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    """A client killed mid-stream (SIGKILL: no stop_session, no DTLS close) through the ingress:
    its replica drops it at the ping timeout and the ingress sees the replica free again."""
    helper = await asyncio.create_subprocess_exec(
        sys.executable, str(Path(__file__).parents[1] / "server" / "vanishing_client.py"),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        request = {"url": app.url.rstrip("/"), "point": "mid_stream", "frames": 10}
        helper.stdin.write((json.dumps(request) + "\n").encode())
        await helper.stdin.drain()
        line = (await asyncio.wait_for(helper.stdout.readline(), 60)).decode().split()
        pid, session_id = int(line[0]), line[1]
        assert not session_id.startswith("error"), line
        busy = await health(http, app)
        assert busy["in_use"] == 1
        os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        freed = await wait_health(http, app, lambda h: h["free"] == 2, timeout=60)
        took = time.monotonic() - killed
    finally:
        helper.kill()
        await helper.wait()
    assert freed["in_use"] == 0
    ping_timeout = ServeOptions().ping_timeout
    assert took <= ping_timeout + 5, took  # the replica's watchdog, then the ingress's watch
    # Its next call learns why it ended.
    url = f"{app.url}sessions/{session_id}/transport/webrtc/ice_servers"
    async with http.get(url, headers={"Reactor-WebRTC-Version": "1.0"}) as response:
        assert response.status == 410
        assert "no ping" in (await response.json())["message"]


async def test_metrics_through_the_ingress_label_each_replica(
    app: Deployed, http: aiohttp.ClientSession
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    async with streaming(http, app) as client:
        await client.wait_frames(3)
        async with http.get(app.url + "metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = await response.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    active = {s.labels["replica"]: s.value for s in families["reactor_session_active"].samples}
    assert sorted(active) == ["replica-0", "replica-1"] and sum(active.values()) == 1
    replicas = {s.labels["state"]: s.value for s in families["reactor_replicas"].samples}
    assert replicas["busy"] + replicas["free"] == 2
    started = families["reactor_sessions_started"].samples
    assert {s.labels["replica"] for s in started} == {"replica-0", "replica-1"}


async def test_run_with_ray_address_joins_a_running_cluster_and_leaves_it_running(
    app: Deployed, http: aiohttp.ClientSession, steady_manifest: Path
) -> None:
    """`reactor run --replicas 1 --ray-address ADDR` against this module's Ray instance. While
    this module's application (also named `reactor`) runs, it refuses to replace it; once that
    is gone, it serves where the cluster's Serve already listens and on SIGINT removes only its
    own application. (It removes this module's application, so it runs last.)"""
    address = ray.get_runtime_context().gcs_address
    args = ["--manifest", str(steady_manifest), "--replicas", "1", "--ray-address", address]
    args += ["--port", "8080", "--ice-host", "127.0.0.1"]

    refused = await run_reactor(*args)
    assert await asyncio.wait_for(refused.wait(), 60) == 2
    assert refused.stderr is not None
    said = (await refused.stderr.read()).decode()
    assert (
        f"error: an application named 'reactor' already runs on the Ray cluster at {address}"
        in said
    )
    assert (await health(http, app))["replicas"] == 2  # untouched

    serve.delete("reactor")
    proc = await run_reactor(*args)
    assert proc.stdout is not None and proc.stderr is not None
    errors = asyncio.ensure_future(proc.stderr.read())
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 90)).decode()
        assert f"Serving steady with 1 replica(s), one CPU each, at {app.url}" in line, line
        now = await health(http, app)
        assert (now["replicas"], now["free"]) == (1, 1)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, (await errors).decode()[-3000:]
        assert "reactor" not in serve.status().applications
        assert ray.is_initialized() and ray.cluster_resources().get("CPU") == 4
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        errors.cancel()


async def run_reactor(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import sys; from reactor.cli import main; main(sys.argv[1:])",
        "run", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
