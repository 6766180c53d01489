"""The client's camera and uploads from a real browser: headless Chromium with a fake camera
that plays frames carrying a counter. Reactor's published JS client, unchanged, publishes the
camera (the model echoes it, the page sees its own frames come back) and uploads a PNG with
`uploadFile` that `sendCommand` sets; the viewer page does the same with its buttons."""

from __future__ import annotations

import asyncio
import base64
import fractions
import io
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import pixelcode
import pytest
from aiohttp import web
from input_models import IDLE_VALUE, Echo, Listener, Studio, WithUpload
from reactor._runner import Runner
from server_harness import serving
from test_server_browser import CHROMIUM, CHROMIUM_ARGS, READ_CODE, bundle, need_chromium, poll

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(180)]

CAMERA_VALUE = 100
"""The value drawn into every frame of the fake camera's clip (the model's own show 7)."""


def camera_clip(path: Path, frames: int = 90) -> Path:
    """A y4m clip for Chromium's fake camera: frame n shows counter n and CAMERA_VALUE."""
    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 256, "yuv420p"
        for n in range(frames):
            picture = pixelcode.picture(320, 256, n, CAMERA_VALUE)
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = n, fractions.Fraction(1, 30)
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def png_bytes() -> bytes:
    """A real 48x32 PNG."""
    picture = np.zeros((32, 48, 3), np.uint8)
    picture[:, :, 0] = np.arange(48, dtype=np.uint8)[None, :] * 5
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="image2pipe") as out:
        stream = out.add_stream("png")
        stream.width, stream.height, stream.pix_fmt = 48, 32, "rgb24"
        for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
            out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


@pytest.fixture
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[object]:
    need_chromium()
    from playwright.async_api import async_playwright

    clip = camera_clip(tmp_path_factory.mktemp("camera") / "camera.y4m")
    args = [
        *CHROMIUM_ARGS,
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
    ]
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


async def camera_echoes(page, video_id: str, count: int = 20, timeout: float = 30.0) -> list[int]:  # type: ignore[no-untyped-def]
    """Counters of `count` distinct camera frames (CAMERA_VALUE) read back from the page's
    video of the model's track."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while len(seen) < count:
        code = await page.evaluate(f"(id) => ({READ_CODE})(id)", video_id)
        if code and code["value"] == CAMERA_VALUE and (not seen or code["counter"] != seen[-1]):
            seen.append(code["counter"])
        if time.monotonic() > deadline:
            raise AssertionError(f"only {len(seen)} echoed camera frames in {timeout} s: {seen}")
        await asyncio.sleep(0.03)
    return seen


async def page_site(site: Path) -> tuple[web.AppRunner, str]:
    """The harness page, served from another origin than the model (as an app's would be)."""
    app = web.Application()
    app.router.add_static("/", site)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    port = tcp._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/harness.html"


@pytest.mark.npm
async def test_the_js_client_publishes_the_camera_and_sees_its_own_frames_come_back(
    browser, tmp_path: Path
) -> None:
    site_runner, page_url = await page_site(bundle(tmp_path))
    model = Echo()
    try:
        async with serving(Runner(model)) as running:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(page_url)
            api = running.url.rstrip("/")
            await page.evaluate("([u, m]) => window.harness.connect(u, m)", [api, "echo"])
            await poll(page, "() => window.harness.state.status === 'ready'")
            caps = await page.evaluate("() => window.harness.state.capabilities.tracks")
            assert {"name": "camera", "kind": "video", "direction": "sendonly"} in caps
            # Before the camera: the model's own frames.
            await poll(
                page,
                f"() => {{ const c = ({READ_CODE})('track-main_video'); return c && c.value === {IDLE_VALUE}; }}",
            )
            size = await page.evaluate("() => window.harness.publishCamera('camera')")
            assert size == {"width": 320, "height": 256}
            seen = await camera_echoes(page, "track-main_video")
            # The page's own frames, in the order it sent them (the clip loops at 90).
            steps = [(b - a) % 90 for a, b in itertools.pairwise(seen)]
            assert all(0 < s < 30 for s in steps), seen
            assert model.read >= 20 and running.runner.inputs["camera"].publishing
            await page.evaluate("() => window.harness.unpublish('camera')")
            await poll(
                page,
                f"() => {{ const c = ({READ_CODE})('track-main_video'); return c && c.value === {IDLE_VALUE}; }}",
                timeout=15,
            )
            assert problems == []
            assert await page.evaluate("() => window.harness.state.errors") == []
            await page.evaluate("() => window.harness.disconnect()")
    finally:
        await site_runner.cleanup()


@pytest.mark.npm
async def test_the_js_client_uploads_a_png_and_sets_it_with_send_command(
    browser, tmp_path: Path
) -> None:
    site_runner, page_url = await page_site(bundle(tmp_path))
    model = WithUpload()
    png = png_bytes()
    try:
        async with serving(Runner(model)) as running:
            page = await browser.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(page_url)
            api = running.url.rstrip("/")
            await page.evaluate("([u, m]) => window.harness.connect(u, m)", [api, "upload"])
            await poll(page, "() => window.harness.state.status === 'ready'")
            ref = await page.evaluate(
                "([b, n, t]) => window.harness.upload(b, n, t)",
                [base64.b64encode(png).decode(), "dot.png", "image/png"],
            )
            assert ref["size"] == len(png) and ref["mimeType"] == "image/png"
            # fileUploaded reached the model's @file_uploaded hook...
            announced = await poll(
                page,
                "() => window.harness.state.messages.find(m => m.type === 'received')",
            )
            assert announced["data"]["via"] == "announced" and announced["data"]["size"] == len(png)
            # ... and sendCommand with the FileRef sets the upload field.
            await page.evaluate("() => window.harness.sendFile('set_image', 'image', 'dot.png')")
            for _ in range(100):
                if model.state.image is not None:
                    break
                await asyncio.sleep(0.05)
            assert model.state.image is not None
            assert (model.state.image.name, model.state.image.data) == ("dot.png", png)
            await poll(
                page,
                f"() => {{ const c = ({READ_CODE})('track-main_video'); return c && c.counter === {len(png) % 65536}; }}",
            )
            assert problems == []
            assert await page.evaluate("() => window.harness.state.errors") == []
            await page.evaluate("() => window.harness.disconnect()")
    finally:
        await site_runner.cleanup()


async def test_the_viewer_sends_the_camera_and_a_picked_file(browser, tmp_path: Path) -> None:
    model = Studio()
    picture = tmp_path / "dot.png"
    picture.write_bytes(png_bytes())
    async with serving(Runner(model)) as running:
        page = await browser.new_page(viewport={"width": 1100, "height": 720})
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        await page.goto(running.url + "?autoconnect")
        await poll(page, "() => window.reactorViewer.status === 'streaming'")
        # A camera button for the camera track, a file picker for the upload field.
        assert await page.get_attribute("#field-image", "type") == "file"
        await poll(page, "() => !document.getElementById('input-camera').disabled")
        await page.click("#input-camera")
        await poll(page, "() => window.reactorViewer.sending.camera === true")
        # The preview shows what is sent; the model's track shows it come back.
        await poll(page, "() => document.getElementById('preview-camera').videoWidth === 320")
        await camera_echoes(page, "track-main_video", count=10)
        await page.set_input_files("#field-image", str(picture))
        for _ in range(100):
            if model.state.image is not None:
                break
            await asyncio.sleep(0.05)
        assert model.state.image is not None and model.state.image.data == picture.read_bytes()
        # Stopping the camera: the model goes back to its own frames.
        await page.click("#input-camera")
        await poll(
            page,
            f"() => {{ const c = ({READ_CODE})('track-main_video'); return c && c.value === {IDLE_VALUE}; }}",
            timeout=15,
        )
        assert await page.evaluate("() => window.reactorViewer.errors") == []
        assert problems == []
        await page.click("#connect")
        await poll(page, "() => window.reactorViewer.status === 'disconnected'")


async def test_the_viewer_sends_the_microphone(browser) -> None:
    model = Listener()
    async with serving(Runner(model)) as running:
        page = await browser.new_page()
        await page.goto(running.url + "?autoconnect")
        await poll(page, "() => window.reactorViewer.status === 'streaming'")
        assert await page.text_content("#input-mic") == "Start microphone"
        await poll(page, "() => !document.getElementById('input-mic').disabled")
        await page.click("#input-mic")
        await poll(page, "() => window.reactorViewer.sending.mic === true")
        for _ in range(200):
            if model.samples >= 16_000:
                break
            await asyncio.sleep(0.05)
        assert model.samples >= 16_000  # a second of Chromium's fake microphone, at 16 kHz
        assert model.shapes == {(1, "int16")} and model.peak > 0
        await page.click("#connect")
        await poll(page, "() => window.reactorViewer.status === 'disconnected'")
