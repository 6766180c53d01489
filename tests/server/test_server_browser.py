"""Real browsers against the server: the viewer page in headless Chromium (frames play, a
slider changes what is drawn, server errors are shown), and Reactor's published JavaScript
client, @reactor-team/js-sdk 2.9.x from npm, unchanged, bundled into a page with esbuild."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from reactor._runner import Runner
from reactor._server import ReactorServer
from server_harness import serving
from server_models import Counter, WithSound

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

CHROMIUM = Path("/usr/lib/chromium/chromium")
JS = Path(__file__).parent.parent / "js"
ESBUILD = JS / "node_modules" / ".bin" / "esbuild"
SDK = JS / "node_modules" / "@reactor-team" / "js-sdk" / "package.json"

# Loopback WebRTC needs both of the last two flags (see PROTOCOL.md); headless Chromium blocks
# unmuted autoplay otherwise.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]

READ_CODE = """(id) => {
  const video = document.getElementById(id);
  if (!video || video.videoWidth < 256 || video.readyState < 2) return null;
  const canvas = document.createElement("canvas");
  canvas.width = video.videoWidth; canvas.height = video.videoHeight;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(video, 0, 0);
  const read = (row, bits) => {
    let n = 0;
    for (let i = 0; i < bits; i++) {
      const px = ctx.getImageData(i * 16 + 4, row * 16 + 4, 8, 8).data;
      let sum = 0;
      for (let p = 0; p < px.length; p += 4) sum += (px[p] + px[p + 1] + px[p + 2]) / 3;
      n = (n << 1) | (sum / (px.length / 4) > 127 ? 1 : 0);
    }
    return n;
  };
  return { counter: read(0, 16), value: read(1, 8) };
}"""


def need_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip(
            f"Debian's chromium is not installed ({CHROMIUM} is missing); "
            "`apt-get install chromium` or `scripts/install.sh --test` as root installs it"
        )


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


async def poll(page, expression: str, arg=None, timeout: float = 20.0):
    """Evaluate `expression` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = await page.evaluate(expression, arg)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        await asyncio.sleep(0.1)


async def wait_for_value(page, video_id: str, value: int, timeout: float = 20.0) -> dict:
    return await poll(
        page,
        f"([id, v]) => {{ const c = ({READ_CODE})(id); return c && c.value === v ? c : null; }}",
        [video_id, value],
        timeout,
    )


async def test_viewer_plays_frames_and_its_slider_changes_the_picture(browser, monkeypatch) -> None:
    stops: list[str] = []  # the body of each POST /stop_session the server gets
    stop_session = ReactorServer._stop_session

    async def recording_stop(self, request: web.Request) -> web.StreamResponse:
        stops.append(await request.text())
        return await stop_session(self, request)

    monkeypatch.setattr(ReactorServer, "_stop_session", recording_stop)
    async with serving(Runner(Counter())) as running:
        page = await browser.new_page(viewport={"width": 1100, "height": 720})
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(running.url + "?autoconnect")
        await poll(page, "() => window.reactorViewer.status === 'streaming'")
        first_session = running.server.session.id
        # One control per state field, of the kind its schema asks for.
        kinds = await page.evaluate(
            """() => Object.fromEntries([...document.querySelectorAll('#controls [id^=field-]')]
                 .map(e => [e.name, e.tagName === 'SELECT' ? 'select' : e.type]))"""
        )
        assert kinds == {"level": "range", "label": "text", "mode": "select", "mirror": "checkbox"}
        assert await page.get_attribute("#field-level", "min") == "0"
        assert await page.get_attribute("#field-level", "max") == "255"
        options = await page.eval_on_selector_all(
            "#field-mode option", "os => os.map(o => o.value)"
        )
        assert options == ["warm", "cool"]
        assert await page.is_visible("#event-poke")
        # Frames play: the counter drawn into them advances.
        first = await wait_for_value(page, "track-main_video", 10)
        await poll(
            page,
            f"(c0) => {{ const c = ({READ_CODE})('track-main_video'); return c && c.counter > c0 + 10; }}",
            first["counter"],
        )
        # Moving the slider changes what the model draws.
        await page.eval_on_selector(
            "#field-level",
            "e => { e.value = 200; e.dispatchEvent(new Event('input', { bubbles: true })); }",
        )
        await wait_for_value(page, "track-main_video", 200)
        assert running.runner.model.state.level == 200
        # A refused value comes back as an error the page shows.
        await page.fill("#field-label", "x" * 40)
        await page.press("#field-label", "Enter")
        shown = await poll(page, "() => document.querySelector('#errors li')?.textContent")
        assert "set_label.label" in shown and "at most 32" in shown
        # Live figures.
        await poll(page, "() => window.reactorViewer.fps > 5 && window.reactorViewer.latencyMs > 0")
        assert float(await page.text_content("#fps")) > 5
        assert float(await page.text_content("#latency")) > 0
        await poll(page, "() => window.reactorViewer.messages.some(m => m.includes('hello'))")
        shot = os.environ.get("REACTOR_VIEWER_SCREENSHOT")
        if shot:
            await page.screenshot(path=shot)
        assert problems == []
        # Disconnecting stops the session on the server.
        await page.click("#connect")
        await poll(page, "() => window.reactorViewer.status === 'disconnected'")
        for _ in range(100):
            if running.server.session is None:
                break
            await asyncio.sleep(0.05)
        assert running.server.session is None
        assert running.runner.model.log == ["connected", "disconnected"]
        # It names the session it stops (several run behind `reactor run --replicas N`).
        assert [json.loads(b) for b in stops] == [{"session_id": first_session}]
        # Connecting again starts a new session from the default state, and the page shows it.
        await page.click("#connect")
        await poll(page, "() => window.reactorViewer.status === 'streaming'")
        assert await page.input_value("#field-level") == "10"
        await wait_for_value(page, "track-main_video", 10)
        # Leaving the page stops that session too, by a beacon that names it.
        second_session = running.server.session.id
        await page.goto("about:blank")
        for _ in range(100):
            if running.server.session is None:
                break
            await asyncio.sleep(0.05)
        assert running.server.session is None
        assert (second_session, "client stopped the session") in running.server.ended
        assert [json.loads(b) for b in stops[1:]] == [{"session_id": second_session}]


def bundle(out: Path) -> Path:
    """Bundle the harness with the published client, as PROTOCOL.md says a page needs it."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed; the JS client test needs node and npm")
    if not (SDK.exists() and ESBUILD.exists()):
        pytest.skip(
            "tests/js has no node_modules; run `npm install` in tests/js "
            "(scripts/install.sh --test does it)"
        )
    subprocess.run(
        [
            str(ESBUILD),
            "harness.js",
            "--bundle",
            "--format=iife",
            "--platform=browser",
            '--define:process.env.NODE_ENV="production"',
            f"--outfile={out / 'harness.bundle.js'}",
            "--log-level=warning",
        ],
        cwd=JS,
        check=True,
        timeout=60,
    )
    shutil.copy(JS / "harness.html", out / "harness.html")
    return out


@pytest.mark.npm
async def test_reactors_published_js_client_connects_and_its_command_takes_effect(
    browser, tmp_path: Path
) -> None:
    version = __import__("json").loads(SDK.read_text())["version"] if SDK.exists() else ""
    site = bundle(tmp_path)
    assert version.startswith("2.9."), version
    # The page comes from another origin, as an app using the client would.
    app = web.Application()
    app.router.add_static("/", site)
    page_runner = web.AppRunner(app, access_log=None)
    await page_runner.setup()
    page_site = web.TCPSite(page_runner, "127.0.0.1", 0)
    await page_site.start()
    page_url = f"http://127.0.0.1:{page_site._server.sockets[0].getsockname()[1]}/harness.html"
    try:
        async with serving(Runner(Counter())) as running:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(page_url)
            api = running.url.rstrip("/")
            await page.evaluate("([u, m]) => window.harness.connect(u, m)", [api, "counter"])
            await poll(page, "() => window.harness.state.status === 'ready'")
            state = await page.evaluate("() => window.harness.state")
            assert state["tracks"] == [{"name": "main_video", "kind": "video"}]
            assert [t["name"] for t in state["capabilities"]["tracks"]] == ["main_video"]
            await wait_for_value(page, "track-main_video", 10)
            # The model's @connected message reached the client as an application message.
            await poll(page, "() => window.harness.state.messages.some(m => m.type === 'hello')")
            # A command sent with the client's own sendCommand takes effect in the frames.
            await page.evaluate("() => window.harness.send('set_level', { level: 200 })")
            await wait_for_value(page, "track-main_video", 200)
            # A refused command comes back as a runtimeMessage naming command, field, reason.
            await page.evaluate("() => window.harness.send('set_level', { level: 999 })")
            error = await poll(
                page,
                "() => window.harness.state.runtimeMessages.find(m => m.type === 'error')",
            )
            assert error["data"]["command"] == "set_level"
            assert error["data"]["field"] == "level" and "<= 255" in error["data"]["reason"]
            # The client's own ping reaches the server (it pings every 5 s) and is answered.
            await poll(
                page,
                "() => window.harness.state.runtimeMessages.some(m => m.type === 'pong')",
                timeout=12,
            )
            assert problems == []
            assert await page.evaluate("() => window.harness.state.errors") == []
            assert await page.evaluate("() => window.harness.disconnect()") == "disconnected"
            for _ in range(100):
                if running.server.session is None:
                    break
                await asyncio.sleep(0.05)
            assert running.server.session is None  # the client's POST /stop_session
            assert "client stopped" in running.server.ended[-1][1]
    finally:
        await page_runner.cleanup()


async def test_viewer_plays_an_audio_track_next_to_the_video(browser) -> None:
    async with serving(Runner(WithSound())) as running:
        page = await browser.new_page()
        await page.goto(running.url + "?autoconnect")
        await poll(page, "() => window.reactorViewer.status === 'streaming'")
        await wait_for_value(page, "track-main_video", 10)
        kind = await page.evaluate("() => document.getElementById('track-sound').tagName")
        assert kind == "AUDIO"
        # The audio element is playing the track: its clock advances.
        await poll(page, "() => document.getElementById('track-sound').currentTime > 0.5")
        await page.click("#connect")
        await poll(page, "() => window.reactorViewer.status === 'disconnected'")
