"""examples/webcam as a user tries it: `reactor run` serves it, a client's camera comes back
filtered, upload limits set on the command line are enforced; headless, `--set picture=...`
filters a local picture."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
from input_client import InputClient, StampedCamera
from test_server_browser_inputs import png_bytes

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webcam" / "reactor.yaml"
CLI = "import sys; from reactor.cli import main; main(sys.argv[1:])"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def reactor_cli(*args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CLI,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_reactor_run_serves_the_webcam_filter_with_upload_limits() -> None:
    proc = await reactor_cli(
        "run", "--manifest", str(EXAMPLE), "--port", str(free_port()), "--ice-host", "127.0.0.1",
        "--max-upload-mb", "0.01", "--upload-type", "image/*",
    )  # fmt: skip
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()  # type: ignore[union-attr]
        match = re.search(r"Serving webcam at (http://\S+/)", line)
        assert match, line
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
            c = InputClient(match.group(1).rstrip("/"), http)
            body = await c.start()
            names = [(t["name"], t["direction"]) for t in body["capabilities"]["tracks"]]
            assert names == [("main_video", "recvonly"), ("camera", "sendonly")]
            url = f"{c.base}/sessions/{c.session_id}/uploads"
            big = {"name": "big.png", "mime_type": "image/png", "size": 20_000}
            async with http.post(url, json=big) as response:
                assert response.status == 413
                assert "--max-upload-mb" in (await response.json())["message"]
            text = {"name": "notes.txt", "mime_type": "text/plain", "size": 10}
            async with http.post(url, json=text) as response:
                assert response.status == 415
            await c.connect()
            c.send("application", "set_effect", {"effect": "none"})
            camera = StampedCamera(fps=30, value=100)
            c.publish("camera", camera)
            for _ in range(300):
                if len([f for f in c.frames.get("main_video", []) if f.value == 100]) >= 30:
                    break
                await asyncio.sleep(0.05)
            echoed = [f.counter for f in c.frames["main_video"] if f.value == 100]
            assert len(echoed) >= 30 and echoed == sorted(echoed)
            # The filter is live: inverted frames carry the inverted value.
            c.send("application", "set_effect", {"effect": "invert"})
            for _ in range(200):
                if any(f.value == 255 - 100 for f in c.frames["main_video"]):
                    break
                await asyncio.sleep(0.05)
            assert any(f.value == 155 for f in c.frames["main_video"])
            await c.close()
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--max-upload-mb", "0", "--max-upload-mb must be positive"),
        ("--upload-type", "pictures", "--upload-type 'pictures': expected a content type"),
    ],
)
async def test_bad_upload_options_are_one_line_and_status_2(
    flag: str, value: str, message: str
) -> None:
    proc = await reactor_cli("run", "--manifest", str(EXAMPLE), flag, value)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 2
    lines = err.decode().strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {message}"), lines


async def test_headless_filters_a_local_picture_set_on_the_command_line(tmp_path: Path) -> None:
    picture = tmp_path / "dot.png"
    picture.write_bytes(png_bytes())
    out = tmp_path / "inverted.mp4"
    proc = await reactor_cli(
        "run", "--manifest", str(EXAMPLE), "--headless", "--frames", "5", "--out", str(out),
        "--set", f"picture={picture}", "--set", "effect=invert",
    )  # fmt: skip
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    with av.open(str(out)) as clip:
        first = next(clip.decode(video=0)).to_ndarray(format="rgb24")
    assert first.shape == (32, 48, 3)  # the picture's own size, not the test card's
    # png_bytes' red channel ramps 0..235 left to right; inverted, it falls.
    red = first[16, :, 0].astype(int)
    assert red[2] > 200 and red[-3] < 60, red
    assert abs(int(np.median(first[:, :, 2])) - 255) < 20
